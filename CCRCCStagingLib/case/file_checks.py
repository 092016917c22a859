"""Verify an image file before trusting it: what its header claims, and that the data it claims are there.

A file may be broken (a copy cut short, an export gone wrong) or hostile (a 452-byte header claiming 2048 × 2048 ×
512 voxels). Nothing is allocated for the pixels until the header has been checked against the limits and the
payload's length against the header:

- the path is a regular file (FIFOs, devices and sockets are refused: reading them can block or never end);
- the header (read alone, without the pixels) describes a 3-D scalar volume with finite, positive spacing, a finite
  origin and an orthonormal direction, and at most :attr:`ReadLimits.max_voxels` voxels;
- the payload holds the bytes the header promises: for raw data the file is long enough; for gzip data the stream is
  decompressed once, without keeping it, to its end (a truncated stream is refused, never zero-filled), and a
  stream that would have to grow more than :attr:`ReadLimits.max_expansion` times is refused before it is expanded.

Formats whose payload layout is not known here (DICOM is checked slice by slice elsewhere) get the header checks.
"""

from __future__ import annotations

import gzip
import os
import stat
import struct
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import ImageFormatError, InputFileError, SettingsError

#: A direction matrix is accepted as orthonormal when D·Dᵀ differs from the identity by less than this.
ORTHONORMAL_TOLERANCE = 1e-3


#: The default voxel budget: 1024 × 1024 × 2000, the largest real CTs.
DEFAULT_MAX_VOXELS = 1024 * 1024 * 2000
#: Pixel bytes per compressed byte: real CTs compress 2–4× (measured on IBSI's and TotalSegmentator's CTs), masks up
#: to ~800× (KiTS19); a file claiming far more is a decompression bomb or a damaged header.
CT_MAX_EXPANSION = 50.0
MASK_MAX_EXPANSION = 5000.0
#: A mask may hold at most this many times the CT's voxels (a mask drawn on a finer grid), and at least this many.
MASK_VOXELS_PER_CT_VOXEL = 4
MASK_MIN_VOXEL_BUDGET = 64**3


#: A deflated DICOM file (transfer syntax 1.2.840.10008.1.2.1.99) of a CT series may inflate to this many bytes, or
#: :data:`CT_MAX_EXPANSION` times its size when that is more: GDCM and pydicom inflate a data set whole, in memory.
DICOM_MIN_INFLATED_BUDGET = 64 << 20
_DEFLATED_UID = b"1.2.840.10008.1.2.1.99"


def deflated_dicom_exceeds(path: str | Path, limit: int) -> bool:
    """True when ``path`` is a DICOM file of the deflated transfer syntax whose data set inflates to more than
    ``limit`` bytes; counted in chunks that are not kept (any other file, or a stream zlib cannot read: False — its
    reader says what is wrong)."""
    with open(path, "rb") as handle:
        head = handle.read(144)
        # The preamble, DICM, then (0002,0000) UL 4: the length of the file meta information that follows.
        if len(head) < 144 or head[128:132] != b"DICM" or head[132:140] != b"\x02\x00\x00\x00UL\x04\x00":
            return False
        meta_length = struct.unpack("<I", head[140:144])[0]
        if meta_length > 1 << 16 or _DEFLATED_UID not in handle.read(meta_length):
            return False
        inflater, inflated = zlib.decompressobj(-zlib.MAX_WBITS), 0
        try:
            while (chunk := handle.read(1 << 20)) or inflater.unconsumed_tail:
                inflated += len(inflater.decompress(inflater.unconsumed_tail + chunk, 1 << 24))
                if inflated > limit:
                    return True
                if inflater.eof:
                    return False
        except zlib.error:
            return False
    return False


@dataclass(frozen=True)
class ReadLimits:
    """What an input file may claim before its pixels are read."""

    max_voxels: int = DEFAULT_MAX_VOXELS
    #: The largest ratio of pixel bytes to file bytes for gzip payloads.
    max_expansion: float = CT_MAX_EXPANSION

    def __post_init__(self) -> None:
        if not (isinstance(self.max_voxels, int) and self.max_voxels > 0):
            raise SettingsError(f"The voxel budget must be a positive whole number, not {self.max_voxels!r}.")
        if not (np.isfinite(self.max_expansion) and self.max_expansion >= 1):
            raise SettingsError(f"The expansion limit must be a finite number ≥ 1, not {self.max_expansion!r}.")

    def for_mask(self, ct: sitk.Image) -> ReadLimits:
        """The limits of the CT's mask: masks compress far better, and are bounded by the CT they belong to."""
        ct_voxels = int(np.prod(ct.GetSize(), dtype=np.int64))
        budget = min(self.max_voxels, max(MASK_VOXELS_PER_CT_VOXEL * ct_voxels, MASK_MIN_VOXEL_BUDGET))
        return ReadLimits(max_voxels=int(budget), max_expansion=MASK_MAX_EXPANSION)


@dataclass(frozen=True)
class Header:
    """What an image file's header says (nothing of the pixels is read)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    pixel_id: int
    components: int

    @property
    def voxels(self) -> int:
        return int(np.prod(self.size, dtype=np.int64))

    @property
    def payload_bytes(self) -> int:
        """Bytes of pixel data the header promises."""
        return self.voxels * self.components * _BYTES_PER_COMPONENT.get(self.pixel_id, 1)


_BYTES_PER_COMPONENT = {
    sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2, sitk.sitkUInt32: 4,
    sitk.sitkInt32: 4, sitk.sitkUInt64: 8, sitk.sitkInt64: 8, sitk.sitkFloat32: 4, sitk.sitkFloat64: 8,
    sitk.sitkVectorUInt8: 1, sitk.sitkVectorInt8: 1, sitk.sitkVectorUInt16: 2, sitk.sitkVectorInt16: 2,
    sitk.sitkVectorUInt32: 4, sitk.sitkVectorInt32: 4, sitk.sitkVectorFloat32: 4, sitk.sitkVectorFloat64: 8,
}


def require_regular_file(path: Path, what: str) -> None:
    """Refuse a missing path, a folder where a file is needed, and anything that is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputFileError(f"The {what} file {path} does not exist.") from None
    except OSError as error:
        raise InputFileError(f"The {what} file {path} cannot be opened ({error.strerror}).") from None
    if stat.S_ISDIR(mode):
        raise InputFileError(f"The {what} {path} is a folder; give an image file (a CT may be a DICOM series folder).")
    if not stat.S_ISREG(mode):
        raise InputFileError(
            f"The {what} {path} is not a regular file (a pipe, device or socket); give an image file on disk."
        )


def stays_inside(folder: Path, path: Path) -> bool:
    """True when ``path``, every link followed, lies inside ``folder`` (its own links followed too): an entry of a
    folder the user handed over must not lead a reader elsewhere (``/proc``, another patient's files)."""
    root = os.path.realpath(folder)
    target = os.path.realpath(path)
    return os.path.commonpath([root, target]) == root


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """ITK's and VNL's C++ code print diagnostics of damaged headers straight to the process's stderr (file
    descriptor 2); while a file is read they go nowhere, and what matters reaches the user as this project's own
    sentence (ITK's errors arrive as exceptions)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    warnings = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(warnings)
        os.dup2(saved, 2)
        os.close(saved)


def read_header(path: Path, what: str) -> Header:
    """The header of an image file, read without its pixels (a NIfTI header is checked byte by byte first: ITK's
    reader can spin forever on a degenerate orientation)."""
    if path.name.lower().endswith((".nii", ".nii.gz")):
        _precheck_nifti(path, what)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with native_stderr_silenced():
            reader.ReadImageInformation()
    except RuntimeError as error:
        raise unreadable(path, what, error) from None
    return Header(
        size=tuple(int(n) for n in reader.GetSize()),
        spacing=tuple(float(s) for s in reader.GetSpacing()),
        origin=tuple(float(o) for o in reader.GetOrigin()),
        direction=tuple(float(d) for d in reader.GetDirection()),
        pixel_id=int(reader.GetPixelID()),
        components=int(reader.GetNumberOfComponents()),
    )


def unreadable(path: Path, what: str, error: RuntimeError) -> InputFileError:
    """The sentence for a file ITK cannot read (its last line of explanation kept)."""
    reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reason"
    return InputFileError(
        f"The {what} file {path} cannot be read as an image ({reason}); is it truncated or of another format?"
    )


def check_header(header: Header, path: Path, what: str, limits: ReadLimits) -> None:
    """Refuse geometry no scanner writes (NaN origin, zero spacing, a skewed direction) and volumes over budget."""
    if len(header.size) == 3 and any(n < 1 for n in header.size):
        raise ImageFormatError(f"The {what} {path} has an empty dimension ({header.size}); export it again.")
    if not all(np.isfinite(header.spacing)) or any(s <= 0 for s in header.spacing):
        raise ImageFormatError(
            f"The {what} {path} has an invalid voxel spacing {header.spacing}: every spacing must be a positive number."
        )
    if not all(np.isfinite(header.origin)):
        raise ImageFormatError(f"The {what} {path} has an invalid origin {header.origin}; export it again.")
    _check_direction(header, path, what)
    if header.voxels > limits.max_voxels:
        raise ImageFormatError(
            f"The {what} {path} claims {' × '.join(map(str, header.size))} voxels, more than the {limits.max_voxels:,} "
            "allowed; a mask may hold at most four times its CT's voxels, and a CT that really is larger needs a "
            "higher limit (--max-voxels)."
        )


def _check_direction(header: Header, path: Path, what: str) -> None:
    n = len(header.size)
    direction = np.array(header.direction, dtype=float)
    if direction.size != n * n or not np.all(np.isfinite(direction)):
        raise ImageFormatError(f"The {what} {path} has an invalid orientation (direction matrix); export it again.")
    matrix = direction.reshape(n, n)
    if np.abs(matrix @ matrix.T - np.eye(n)).max() > ORTHONORMAL_TOLERANCE:
        raise ImageFormatError(
            f"The {what} {path} has a skewed orientation (its direction matrix is not orthonormal), which no scanner "
            "writes: the header is damaged; export the image again."
        )


def check_payload(path: Path, header: Header, what: str, limits: ReadLimits) -> None:
    """The payload holds every byte the header promises (known formats: NRRD, NIfTI, MetaImage)."""
    layout = _payload_layout(path)
    if layout is None:
        return
    offset, compressed = layout
    size = path.stat().st_size
    promised = header.payload_bytes
    if not compressed:
        if size - offset < promised:
            raise InputFileError(
                f"The {what} file {path} is truncated: its header promises {promised:,} bytes of voxels, the file "
                f"holds {max(size - offset, 0):,}. Copy or export it again."
            )
        return
    if promised > limits.max_expansion * max(size - offset, 1):
        raise InputFileError(
            f"The {what} file {path} ({size:,} bytes) claims {promised:,} bytes of voxels, an expansion no image "
            "compresses to; the header is damaged or the file is not what it claims."
        )
    found = _gzip_length(path, offset, promised, what)
    if found < promised:
        raise InputFileError(
            f"The {what} file {path} is truncated: its header promises {promised:,} bytes of voxels, the compressed "
            f"data hold {found:,}. Copy or export it again."
        )


def _payload_layout(path: Path) -> tuple[int, bool] | None:
    """(offset of the pixel data or of the gzip stream holding it, whether it is gzip) for the formats known here."""
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return 0, True
    if name.endswith(".nii"):
        return _nifti_offset(path), False
    if name.endswith((".nrrd", ".seg.nrrd")):
        return _nrrd_layout(path)
    if name.endswith(".mha"):
        return _metaimage_layout(path)
    return None


def _precheck_nifti(path: Path, what: str) -> None:
    """The NIfTI-1 header's geometry fields, before ITK reads them: dimensions, voxel sizes, qform and sform must be
    finite and non-degenerate (ITK's orientation code can loop without end on others)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            header = handle.read(348)
    except (OSError, EOFError, zlib.error):
        raise InputFileError(f"The {what} file {path} is truncated or damaged; copy or export it again.") from None
    order = next((o for o in ("<", ">") if len(header) == 348 and struct.unpack(f"{o}i", header[:4])[0] == 348), None)
    if order is None:
        return  # not NIfTI-1 (NIfTI-2 or damaged): ITK's reader says so
    dims = struct.unpack(f"{order}8h", header[40:56])
    pixdim = struct.unpack(f"{order}8f", header[76:108])
    qform_code, sform_code = struct.unpack(f"{order}2h", header[252:256])
    quatern = struct.unpack(f"{order}6f", header[256:280])
    srow = np.array(struct.unpack(f"{order}12f", header[280:328]), dtype=float).reshape(3, 4)
    rank = max(1, min(int(dims[0]), 7))
    geometry_ok = (
        all(n >= 1 for n in dims[1 : rank + 1]) and all(np.isfinite(pixdim[1 : rank + 1]))
        and all(p > 0 for p in pixdim[1 : min(rank, 3) + 1])
        and (qform_code <= 0 or all(np.isfinite(quatern)))
        and (sform_code <= 0 or (np.all(np.isfinite(srow)) and abs(np.linalg.det(srow[:, :3])) > 1e-12))
    )
    if not geometry_ok:
        raise ImageFormatError(
            f"The {what} {path} has an invalid geometry in its NIfTI header (voxel size, origin or orientation not "
            "finite, zero or degenerate); export the image again."
        )


def _nifti_offset(path: Path) -> int:
    with path.open("rb") as handle:
        header = handle.read(348)
    if len(header) < 348:
        return 348
    for order in ("<", ">"):
        if struct.unpack(f"{order}i", header[:4])[0] == 348:
            return max(int(struct.unpack(f"{order}f", header[108:112])[0]), 348)
    return 348


def _text_header(path: Path, end_marker: bytes, limit: int = 1 << 16) -> tuple[bytes, int] | None:
    """The text header (up to ``limit`` bytes) and the offset where the data begin, or None when not found."""
    with path.open("rb") as handle:
        head = handle.read(limit)
    index = head.find(end_marker)
    return (head[:index], index + len(end_marker)) if index >= 0 else None


def _nrrd_layout(path: Path) -> tuple[int, bool] | None:
    found = _text_header(path, b"\n\n")
    if found is None:
        return None
    text, offset = found
    fields = dict(
        line.split(":", 1) for line in text.decode("latin-1").splitlines()[1:] if ":" in line and not line.startswith("#")
    )
    fields = {key.strip().lower(): value.strip().lower() for key, value in fields.items()}
    if "data file" in fields or "datafile" in fields or int(fields.get("line skip", "0") or 0):
        return None  # detached or skipped data: left to the reader
    encoding = fields.get("encoding", "raw")
    if encoding == "raw":
        return offset, False
    if encoding in ("gzip", "gz"):
        return offset, True
    return None


def _metaimage_layout(path: Path) -> tuple[int, bool] | None:
    found = _text_header(path, b"ElementDataFile = LOCAL\n")
    if found is None:
        return None
    text, offset = found
    compressed = b"CompressedData = True" in text
    return (offset, True) if compressed else (offset, False)


def _gzip_length(path: Path, offset: int, needed: int, what: str) -> int:
    """Decompressed length of the gzip (or zlib) stream from ``offset``, counted without keeping it; a stream cut
    short is refused. Reading stops once ``needed`` bytes were seen and the stream ends."""
    with path.open("rb") as raw:
        raw.seek(offset)
        magic = raw.read(2)
        raw.seek(offset)
        stream = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else _ZlibReader(raw)
        total = 0
        try:
            while chunk := stream.read(1 << 22):
                total += len(chunk)
        except (EOFError, OSError, zlib.error) as error:
            raise InputFileError(
                f"The {what} file {path} is truncated or damaged ({error}); copy or export it again."
            ) from None
    return total


class _ZlibReader:
    """A zlib stream read like a file (MetaImage's compressed data are zlib, not gzip)."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self._inflater = zlib.decompressobj()
        self._done = False

    def read(self, size: int) -> bytes:
        while not self._done:
            data = self._raw.read(1 << 20)
            if not data:
                if not self._inflater.eof:
                    raise EOFError("the compressed data end early")
                self._done = True
                break
            out = self._inflater.decompress(data, size)
            if self._inflater.unconsumed_tail:
                self._raw.seek(-len(self._inflater.unconsumed_tail), os.SEEK_CUR)
            if out:
                return out
            if self._inflater.eof:
                self._done = True
        return b""
