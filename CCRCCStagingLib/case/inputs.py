"""Which cases a batch holds: a manifest (CSV) or a folder of cases, as they come from PACS or a research archive.

A manifest is the CSV ``extract`` reads (``case_id, image, mask, [label|segment], [batch]``; paths relative to its
folder); T stage, split and follow-up may be there and are not needed. A folder is read by one of three naming
rules, tried in this order (the README's "Many cases at once" shows them):

1. ``images/<case>.<ext>`` with ``masks/<case>.<ext>`` (or ``labels/``) — what ``phantoms`` and nnU-Net-style
   archives write;
2. one subfolder per case, ``<case>/``, holding the CT — a file or DICOM series folder named ``image``, ``ct`` or
   ``ct_image`` — and the mask — a file or folder named ``mask``, ``ct_mask``, ``seg``, ``segmentation`` or
   ``rtstruct`` (a Slicer ``.seg.nrrd``, a labelmap, a DICOM SEG or RTSTRUCT); names are matched without their
   extension and case;
3. pairs in the folder itself: ``<case>_image.<ext>`` (or ``_ct``) with ``<case>_mask.<ext>`` (or ``_seg``).

A folder is untrusted: nothing it links to outside itself is used (such entries are listed as skipped, with the
reason), and at most :data:`MAX_CASES` cases and :data:`MAX_ENTRIES` directory entries are looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import InputFileError, ManifestError
from .file_checks import stays_inside

MAX_CASES = 100_000
MAX_ENTRIES = 1_000_000
#: Extensions taken off a name before it is matched (longest first: ``.seg.nrrd`` before ``.nrrd``).
EXTENSIONS = (".seg.nrrd", ".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd", ".dcm")
IMAGE_NAMES = ("image", "ct", "ct_image")
MASK_NAMES = ("mask", "ct_mask", "seg", "segmentation", "rtstruct")
_PAIR = re.compile(r"^(?P<case>.+?)_(?P<role>image|ct|mask|seg)$", re.IGNORECASE)
#: A case id becomes a folder name: letters, digits and ``._-`` only, not starting with a dot.
SAFE_CASE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class CaseInput:
    """One case of a batch: where its CT and mask are, and how the tumour is picked in the mask."""

    case_id: str
    image: Path
    mask: Path
    label: int | None = None
    segment: str | None = None
    #: Scanner or centre (for a ComBat-harmonised model).
    batch: str | None = None


@dataclass
class BatchInputs:
    """The cases found, and what was left out with the reason (shown to the user, never silently dropped)."""

    cases: list[CaseInput]
    skipped: list[str] = field(default_factory=list)
    #: The case ids found so far, case-folded (ids differing only in letter case would share an output folder).
    folded_ids: set[str] = field(default_factory=set, repr=False)


def read_case_table(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """A manifest as text cells, with the checks every manifest gets: the ``required`` columns, one non-empty, unique
    ``case_id`` per row (surrounding spaces do not make another case)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ManifestError(f"The manifest {path} is empty; give it a header line ({','.join(required)}) and "
                            "one line per case.") from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ManifestError(f"Cannot read the manifest {path}: {error}") from error
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise ManifestError(f"The manifest {path} lacks the column(s) {missing}; it needs {list(required)}.")
    table["case_id"] = table["case_id"].str.strip()
    if (table["case_id"] == "").any():
        raise ManifestError(f"The manifest {path} has a row without case_id; give every case an id.")
    duplicated = sorted(set(table["case_id"][table["case_id"].duplicated()]))
    if duplicated:
        raise ManifestError(f"The manifest {path} repeats case_id {duplicated}; each case needs its own id.")
    if len(table) > MAX_CASES:
        raise ManifestError(f"The manifest {path} lists {len(table):,} cases, more than {MAX_CASES:,}; split it.")
    return table


def cell(row: pd.Series, column: str) -> str | None:
    """A manifest cell without surrounding spaces, ``None`` when empty or absent."""
    value = str(row.get(column, "")).strip()
    return value or None


def read_batch_manifest(path: Path) -> BatchInputs:
    """The cases of a manifest (``case_id, image, mask``, optional ``label``/``segment``/``batch``)."""
    table = read_case_table(path, ("case_id", "image", "mask"))
    cases = []
    for index, row in table.iterrows():
        if not SAFE_CASE_ID.match(row["case_id"]):
            raise ManifestError(
                f"manifest line {index + 2}: case_id {row['case_id']!r} names the case's output folder; use letters, "
                "digits, '.', '_' or '-' only."
            )
        try:
            label = int(cell(row, "label")) if cell(row, "label") else None
        except ValueError:
            raise ManifestError(
                f"manifest line {index + 2} (case {row['case_id']}): label must be a whole number, got {cell(row, 'label')}."
            ) from None
        cases.append(CaseInput(row["case_id"], path.parent / row["image"].strip(), path.parent / row["mask"].strip(),
                               label, cell(row, "segment"), cell(row, "batch")))
    folded: dict[str, str] = {}
    for case in cases:
        other = folded.setdefault(case.case_id.casefold(), case.case_id)
        if other != case.case_id:
            raise ManifestError(
                f"The manifest {path} has case_id {other!r} and {case.case_id!r}, which differ only in letter case: on "
                "Windows and macOS they would share one output folder. Give each case an id of its own."
            )
    return BatchInputs(cases)


def find_batch_inputs(source: Path) -> BatchInputs:
    """The cases of ``source``: a manifest file or a folder of cases (by the module's naming rules)."""
    if source.is_file():
        return read_batch_manifest(source)
    if source.exists() and not source.is_dir():
        raise InputFileError(f"{source} is not a regular file or folder (a pipe, device or socket); give a manifest "
                             "(CSV) file or a folder of cases.")
    if not source.is_dir():
        raise InputFileError(f"{source} does not exist; give a manifest (CSV) or a folder of cases.")
    found = _images_and_masks(source) or _case_folders(source) or _pairs(source)
    if not found.cases:
        raise InputFileError(
            f"No case found in {source}: name them images/<case> + masks/<case>, <case>/image + <case>/mask, or "
            "<case>_image + <case>_mask (see the README), or give a manifest."
            + (f" Skipped: {'; '.join(found.skipped[:3])}." if found.skipped else "")
        )
    return found


def case_id_from_path(path: Path) -> str:
    """A case identifier from a file or folder name, without image extensions."""
    name = Path(path).name
    for extension in EXTENSIONS:
        if name.lower().endswith(extension):
            return name[: -len(extension)]
    return name


def _entries(folder: Path, root: Path, skipped: list[str]) -> list[Path]:
    """The entries of ``folder`` that stay inside ``root`` (links out of it are skipped, with the reason)."""
    entries = []
    for count, entry in enumerate(sorted(folder.iterdir())):
        if count >= MAX_ENTRIES:
            skipped.append(f"{folder}: more than {MAX_ENTRIES:,} entries, the rest not looked at")
            break
        if entry.name.startswith("."):
            continue
        if entry.is_symlink() and not stays_inside(root, entry):  # a link loop stays inside: nothing opens it
            skipped.append(f"{_printable(entry.name)}: a link out of {root}, not followed")
            continue
        entries.append(entry)
    return entries


def _printable(name: str) -> str:
    """A file name as shown in a reason: control characters (a newline starting a fake ``error:`` line, a terminal
    escape) as '?'."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", name)


def _add(found: BatchInputs, case_id: str, image: Path, mask: Path) -> None:
    if not SAFE_CASE_ID.match(case_id):
        found.skipped.append(f"{case_id!r}: a case id must be letters, digits, '.', '_' or '-' (rename it)")
    elif case_id.casefold() in found.folded_ids:
        found.skipped.append(f"{case_id}: differs from another case only in letter case, which would share its output "
                             "folder on Windows and macOS (rename it)")
    elif len(found.cases) >= MAX_CASES:
        found.skipped.append(f"{case_id}: more than {MAX_CASES:,} cases, the rest left out")
    else:
        found.cases.append(CaseInput(case_id, image, mask))
        found.folded_ids.add(case_id.casefold())


def _images_and_masks(root: Path) -> BatchInputs | None:
    """Rule 1: ``images/<case>`` with ``masks/<case>`` (or ``labels/<case>``)."""
    skipped: list[str] = []
    folders = {entry.name.lower(): entry for entry in _entries(root, root, skipped) if entry.is_dir()}
    masks_folder = folders.get("masks") or folders.get("labels")
    if "images" not in folders or masks_folder is None:
        return None
    found = BatchInputs([], skipped)
    masks = {case_id_from_path(entry): entry for entry in _entries(masks_folder, root, skipped)}
    for image in _entries(folders["images"], root, skipped):
        case_id = case_id_from_path(image)
        if case_id in masks:
            _add(found, case_id, image, masks[case_id])
        else:
            found.skipped.append(f"{_printable(image.name)}: no mask of the same name in {masks_folder.name}/")
    return found


def _case_folders(root: Path) -> BatchInputs | None:
    """Rule 2: one subfolder per case, with an ``image``/``ct`` entry and a ``mask``/``seg``/``rtstruct`` entry."""
    found = BatchInputs([], [])
    for folder in (entry for entry in _entries(root, root, found.skipped) if entry.is_dir()):
        by_name: dict[str, list[Path]] = {}
        for entry in _entries(folder, root, found.skipped):
            by_name.setdefault(case_id_from_path(entry).lower(), []).append(entry)
        images = [e for name in IMAGE_NAMES for e in by_name.get(name, [])]
        masks = [e for name in MASK_NAMES for e in by_name.get(name, [])]
        if len(images) == 1 and len(masks) == 1:
            _add(found, folder.name, images[0], masks[0])
        elif images or masks:
            found.skipped.append(f"{_printable(folder.name)}/: needs exactly one CT (image, ct) and one mask (mask, "
                                 f"seg, rtstruct), found {len(images)} and {len(masks)}")
    return found if found.cases else None


def _pairs(root: Path) -> BatchInputs:
    """Rule 3: ``<case>_image`` (or ``_ct``) with ``<case>_mask`` (or ``_seg``) side by side."""
    found = BatchInputs([], [])
    roles: dict[str, dict[str, Path]] = {}
    for entry in _entries(root, root, found.skipped):
        match = _PAIR.match(case_id_from_path(entry))
        if match:
            role = "image" if match["role"].lower() in ("image", "ct") else "mask"
            roles.setdefault(match["case"], {})[role] = entry
    for case_id, pair in sorted(roles.items()):
        if set(pair) == {"image", "mask"}:
            _add(found, case_id, pair["image"], pair["mask"])
        else:
            found.skipped.append(f"{case_id}: has no {'mask' if 'image' in pair else 'image'} beside it")
    return found
