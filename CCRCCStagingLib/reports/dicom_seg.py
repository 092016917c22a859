"""DICOM Segmentation (SEG) export of an analysis' regions, referencing the CT series they were computed on.

``export_dicom_seg(result_dir)`` re-reads the DICOM series the analysis used (``inputs.image`` of
``result.json``, chosen as ``analyze`` chose it: the largest series of the folder), checks that it still has the
analysed geometry, resamples ``regions.nrrd`` (the 1 mm box) onto the CT grid with nearest neighbour and writes
one binary SEG instance (highdicom) with one segment per region, in the project's palette (core.palette):

========================  ===============================================  =================================
segment                   segmented property category                      segmented property type
========================  ===============================================  =================================
"Habitat 1" … "Habitat K"  SCT 49755003 "Morphologically Abnormal Structure"  SCT 108369006 "Neoplasm"
"Peritumoral 3 mm"         SCT 85756007 "Tissue"                              SCT 87784001 "Soft tissue"
========================  ===============================================  =================================

(categories from DICOM CID 7150, types from CID 7151; anatomic region SCT 64033007 "Kidney" for all). No
standard code names a peritumoral ring, so the shell is coded as the tissue it is (soft tissue around the
tumour) and named by its label, description and tracking id. Algorithm type AUTOMATIC; algorithm families (CID
7162) DCM 123107 "Cluster Analysis" (GMM habitats) and DCM 123104 "Morphological Operations" (the shell), with the
package version and the habitat count / margin as parameters.

De-identified series sometimes have emptied UIDs. Missing SOP Class / SOP Instance UIDs are taken from each
file's meta header (the same instance); missing Study / Series / Frame of Reference UIDs are replaced by stand-in
UIDs derived from the series, with a warning: the SEG is then valid and loads with the CT files, but a PACS
cannot link it to the original study.

The file is written under a temporary name, read back and checked (segment count and labels, frame of
reference, pixel spacing, orientation, rows × columns, every frame's position against its source slice, and the
voxel count of every segment) before it replaces ``out_path``.

highdicom and pydicom are imported only when exporting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import GeometryError, InputFileError, OutputError
from ..core.files import DICOM_SEG_FILE, REGIONS_FILE, atomic_path
from ..core.palette import PERITUMORAL_COLOUR, habitat_colour
from ..core.schema import CaseResult, Geometry, read_case_result

if TYPE_CHECKING:
    from ..case.loading import LoadedImage

SERIES_NUMBER = 9901
SERIES_DESCRIPTION = "CCRCCStaging habitats and peritumoral shell"
#: DICOM CS value (upper case, ≤ 16 characters).
CONTENT_LABEL = "CCRCC_REGIONS"
#: Geometry of the series must match what the analysis recorded to this tolerance (mm).
GEOMETRY_TOLERANCE_MM = 1e-3

# (value, scheme, meaning) of the codes above.
CATEGORY_HABITAT = ("49755003", "SCT", "Morphologically Abnormal Structure")
TYPE_HABITAT = ("108369006", "SCT", "Neoplasm")
CATEGORY_PERI = ("85756007", "SCT", "Tissue")
TYPE_PERI = ("87784001", "SCT", "Soft tissue")
ANATOMIC_REGION = ("64033007", "SCT", "Kidney")
FAMILY_HABITAT = ("123107", "DCM", "Cluster Analysis")
FAMILY_PERI = ("123104", "DCM", "Morphological Operations")


@dataclass(frozen=True)
class DicomSegExport:
    """What ``export_dicom_seg`` wrote: the file, its segment labels (segment number = position + 1) and warnings."""

    path: Path
    segments: list[str]
    warnings: list[str] = field(default_factory=list)


def export_dicom_seg(result_dir: Path, out_path: Path | None = None, series_dir: Path | None = None) -> DicomSegExport:
    """Write the regions of the analysis folder ``result_dir`` as a DICOM SEG referencing its CT series.

    ``out_path`` defaults to ``result_dir / "regions.seg.dcm"``. ``series_dir`` overrides the series folder
    recorded in ``result.json`` (for an analysis folder moved to another machine). Raises
    :class:`InputFileError` when the CT did not come from DICOM or the series is gone, :class:`GeometryError`
    when the series no longer matches the analysis, :class:`OutputError` when the file cannot be written or
    does not read back as written.
    """
    hd, pydicom = _dicom_libraries()
    result_dir = Path(result_dir)
    out_path = Path(out_path) if out_path is not None else result_dir / DICOM_SEG_FILE
    result = read_case_result(result_dir)
    loaded = _analysed_series(result, series_dir)
    warnings: list[str] = []
    labelmap, kept = _segment_labelmap(_labels_on_ct(result_dir, loaded.image), _segments(result), warnings)
    sources = _source_datasets(pydicom, loaded.dicom_files, loaded.path, warnings)
    seg = _segmentation(hd, sources, labelmap, kept, result.software.get("ccrcc-staging", "unknown"))
    expected = {number: int((labelmap == number).sum()) for number in range(1, len(kept) + 1)}
    _write_checked(hd, seg, out_path, sources, [segment.name for segment in kept], expected)
    return DicomSegExport(out_path, [segment.name for segment in kept], warnings)


def _dicom_libraries():
    try:
        import highdicom as hd
        import pydicom
    except ImportError as error:
        raise OutputError(
            "DICOM SEG export needs the highdicom package (pip install 'highdicom>=0.22,<1'); it is in 3D Slicer "
            "from 5.12."
        ) from error
    import numpy as np

    # highdicom < 0.23 uses np.float_, gone in numpy 2, and 0.23+ needs pydicom 3: 3D Slicer 5.10 (numpy 2.0, pydicom
    # 2.4) can have neither. Refused with a sentence rather than failing halfway through the export.
    if int(np.__version__.split(".")[0]) >= 2 and tuple(int(part) for part in hd.__version__.split(".")[:2]) < (0, 23):
        raise OutputError(
            f"DICOM SEG export with numpy {np.__version__} needs highdicom 0.23 or later (which needs pydicom 3); "
            f"this Python has highdicom {hd.__version__} and pydicom {pydicom.__version__}."
        )
    return hd, pydicom


def _analysed_series(result: CaseResult, series_dir: Path | None) -> LoadedImage:
    """The DICOM series the analysis read (or the one given), checked to still have the analysed geometry."""
    from ..case.dicom_series import FINGERPRINT
    from ..case.loading import read_image

    inputs = result.inputs
    if not inputs.is_dicom:
        raise InputFileError(
            f"DICOM SEG export needs a CT read from a DICOM series, but this analysis read the image file "
            f"{Path(inputs.image or '?').name}. Analyse the DICOM series folder instead "
            "(ccrcc-staging analyze SERIES_FOLDER MASK …); the regions of this analysis are in regions.nrrd."
        )
    folder = Path(series_dir) if series_dir is not None else Path(inputs.image)
    if not folder.is_dir():
        raise InputFileError(
            f"The DICOM series folder {folder} recorded by the analysis is not there (paths are relative to where "
            "the analysis ran); give the folder with series_dir / --series."
        )
    loaded = read_image(folder)
    if loaded.kind != "dicom" or not loaded.dicom_files:
        raise InputFileError(f"{folder} holds no DICOM series; give the folder of the CT series that was analysed.")
    for key in ("SeriesInstanceUID", FINGERPRINT):  # the content digest also when the series has no UIDs
        analysed, found = inputs.dicom.get(key), loaded.dicom_tags.get(key)
        if analysed and found != analysed:
            raise InputFileError(
                f"{folder} now holds another DICOM series than the one analysed (its {key} differs); put the analysed "
                "series back there, or analyse this one."
            )
    _check_geometry(loaded.image, inputs.image_geometry, folder)
    return loaded


def _labels_on_ct(result_dir: Path, ct):
    """``regions.nrrd`` resampled onto the CT grid (nearest neighbour) as (slices, rows, columns), slice k being
    the series' file k."""
    import SimpleITK as sitk

    regions_path = result_dir / REGIONS_FILE
    if not regions_path.is_file():
        raise InputFileError(f"{regions_path} is missing; run 'ccrcc-staging analyze' again.")
    regions = sitk.ReadImage(str(regions_path))
    on_ct = sitk.Resample(regions, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(on_ct)


def _check_geometry(ct, recorded: Geometry | None, folder: Path) -> None:
    if recorded is None:
        return
    size_ok = list(ct.GetSize()) == list(recorded.size)
    close = all(
        len(expected) == len(actual) and all(abs(a - b) <= GEOMETRY_TOLERANCE_MM for a, b in zip(actual, expected))
        for expected, actual in ((recorded.spacing, ct.GetSpacing()), (recorded.origin, ct.GetOrigin()),
                                 (recorded.direction, ct.GetDirection()))
    )
    if not (size_ok and close):
        raise GeometryError(
            f"The DICOM series in {folder} is not the one analysed (size {list(ct.GetSize())} vs "
            f"{list(recorded.size)}, or another spacing, origin or orientation); give the analysed series."
        )


@dataclass(frozen=True)
class _Segment:
    """One region as a SEG segment: its label text, its value in regions.nrrd, its colour and coding."""

    name: str
    label: int
    colour: str
    category: tuple[str, str, str]
    type: tuple[str, str, str]
    family: tuple[str, str, str]
    description: str
    algorithm: str
    parameters: dict[str, str]


def _segments(result: CaseResult) -> list[_Segment]:
    """Every region, habitats first, in the project's palette."""
    k, margin = result.habitats_k, result.margin_mm
    segments = []
    for number, label in result.habitat_labels:
        detail = " (most enhancing)" if number == 1 else (" (least enhancing)" if number == k else "")
        segments.append(_Segment(
            f"Habitat {number}", label, habitat_colour(number), CATEGORY_HABITAT, TYPE_HABITAT, FAMILY_HABITAT,
            f"GMM habitat {number} of {k}{detail} of the tumour", "CCRCCStaging GMM habitats", {"habitats_k": str(k)},
        ))
    segments.append(_Segment(
        f"Peritumoral {margin:g} mm", result.peri_label, PERITUMORAL_COLOUR, CATEGORY_PERI, TYPE_PERI, FAMILY_PERI,
        f"Peritumoral shell: the {margin:g} mm ring outside the tumour boundary", "CCRCCStaging peritumoral shell",
        {"margin_mm": f"{margin:g}"},
    ))
    return segments


def _segment_labelmap(labels, segments: list[_Segment], warnings: list[str]):
    """The labels renumbered 1…n over the segments that have a voxel on the CT grid, and those segments."""
    import numpy as np

    labelmap = np.zeros(labels.shape, dtype=np.uint8)
    kept: list[_Segment] = []
    for segment in segments:
        inside = labels == segment.label
        if not inside.any():
            warnings.append(
                f"{segment.name} has no voxel on the CT grid (too thin after resampling); it is left out of the SEG."
            )
            continue
        kept.append(segment)
        labelmap[inside] = len(kept)
    if not kept:
        raise OutputError("No region has a voxel on the CT grid; there is nothing to export as DICOM SEG.")
    return labelmap, kept


def _segmentation(hd, sources: list, labelmap, segments: list[_Segment], version: str):
    """The binary SEG instance of ``labelmap`` (segment n = ``segments[n - 1]``) over the source slices."""
    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=labelmap,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment_description(hd, n, segment, version) for n, segment in enumerate(segments, 1)],
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="CCRCCStaging",
        manufacturer_model_name="CCRCCStaging",
        software_versions=str(version),
        device_serial_number="0",
        content_description="GMM habitats + peritumoral shell; research use only",
        content_label=CONTENT_LABEL,
        series_description=SERIES_DESCRIPTION,
    )


def _code(hd, code: tuple[str, str, str]):
    return hd.sr.CodedConcept(value=code[0], scheme_designator=code[1], meaning=code[2])


def _segment_description(hd, number: int, segment: _Segment, version: str):
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=segment.name,
        segmented_property_category=_code(hd, segment.category),
        segmented_property_type=_code(hd, segment.type),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=segment.algorithm, family=_code(hd, segment.family), version=str(version),
            parameters=segment.parameters,
        ),
        tracking_uid=hd.UID(),
        tracking_id=segment.name,
        anatomic_regions=[_code(hd, ANATOMIC_REGION)],
    )
    description.SegmentDescription = segment.description
    description.RecommendedDisplayCIELabValue = dicom_cielab(segment.colour)
    return description


def dicom_cielab(colour: str) -> list[int]:
    """``#rrggbb`` (sRGB) as a DICOM Recommended Display CIELab Value: L*, a*, b* (D65) scaled to 0…65535."""
    rgb = [int(colour.lstrip("#")[i : i + 2], 16) / 255.0 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    matrix = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041))
    white = (0.95047, 1.0, 1.08883)
    xyz = [sum(m * c for m, c in zip(row, linear)) / w for row, w in zip(matrix, white)]

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = (f(t) for t in xyz)
    lab = (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    return [
        round(min(max(lab[0], 0.0), 100.0) * 65535 / 100),
        round((min(max(lab[1], -128.0), 127.0) + 128) * 65535 / 255),
        round((min(max(lab[2], -128.0), 127.0) + 128) * 65535 / 255),
    ]


def _source_datasets(pydicom, files: list[str], folder: Path, warnings: list[str]) -> list:
    """The series' headers in slice order, with emptied UIDs filled in (see the module notes)."""
    from pydicom.uid import generate_uid

    datasets = []
    try:
        for path in files:
            datasets.append(pydicom.dcmread(path, stop_before_pixels=True))
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise InputFileError(f"A file of the DICOM series in {folder} cannot be read: {error}.") from error
    missing_instance = 0
    for dataset in datasets:
        meta = getattr(dataset, "file_meta", None)
        if not str(dataset.get("SOPClassUID", "") or ""):
            dataset.SOPClassUID = str(getattr(meta, "MediaStorageSOPClassUID", "") or "1.2.840.10008.5.1.4.1.1.2")
        if not str(dataset.get("SOPInstanceUID", "") or ""):
            uid = str(getattr(meta, "MediaStorageSOPInstanceUID", "") or "")
            if not uid:
                missing_instance += 1
                where = [str(Path(dataset.filename).name), str(dataset.get("ImagePositionPatient"))]
                uid = generate_uid(entropy_srcs=where)
            dataset.SOPInstanceUID = uid
    stand_ins = []
    seed = [str(datasets[0].get("FrameOfReferenceUID", "") or ""), *(str(d.SOPInstanceUID) for d in datasets[:3])]
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        values = {str(d.get(keyword, "") or "") for d in datasets}
        if values == {""} or "" in values:
            uid = next((v for v in values if v), None) or generate_uid(entropy_srcs=[keyword, *seed])
            for dataset in datasets:
                if not str(dataset.get(keyword, "") or ""):
                    setattr(dataset, keyword, uid)
            stand_ins.append(keyword)
    if stand_ins or missing_instance:
        missing = stand_ins + ([f"SOPInstanceUID of {missing_instance} files"] if missing_instance else [])
        warnings.append(
            f"The DICOM series lacks {', '.join(missing)} (de-identified without new UIDs?); the SEG references "
            "stand-in UIDs derived from the series, so a PACS cannot link it to the original study. Export the CT "
            "from PACS with its UIDs to keep the link."
        )
    return datasets


def _write_checked(hd, seg, out_path: Path, sources: list, labels: list[str], expected: dict[int, int]) -> None:
    """Save the SEG under a temporary name, read it back, and only then give it its final name."""
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_path) as temporary:
            seg.save_as(temporary)
            problems = check_seg(hd, temporary, sources, labels, expected)
            if problems:
                raise OutputError(
                    f"The DICOM SEG did not read back as written ({'; '.join(problems)}); nothing was saved."
                )
    except OSError as error:
        raise OutputError(f"Cannot write {out_path}: {error.strerror}.") from error


def check_seg(hd, path: Path, sources: list, labels: list[str], expected: dict[int, int]) -> list[str]:
    """Read a SEG back and compare it with its source slices and the segments written; return the problems."""
    import numpy as np

    seg = hd.seg.segread(str(path))
    problems = []
    numbers = list(seg.get_segment_numbers())
    if numbers != list(range(1, len(labels) + 1)):
        problems.append(f"segments {numbers}, expected 1…{len(labels)}")
    found = [seg.get_segment_description(n).segment_label for n in numbers]
    if found != labels:
        problems.append(f"segment labels {found}, expected {labels}")
    first = sources[0]
    if seg.FrameOfReferenceUID != first.FrameOfReferenceUID:
        problems.append("frame of reference differs from the CT")
    if (seg.Rows, seg.Columns) != (first.Rows, first.Columns):
        problems.append(f"{seg.Rows} × {seg.Columns} pixels, CT has {first.Rows} × {first.Columns}")
    shared = seg.SharedFunctionalGroupsSequence[0]
    spacing = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
    if not np.allclose(spacing, [float(v) for v in first.PixelSpacing], atol=1e-4):
        problems.append(f"pixel spacing {spacing}, CT has {list(first.PixelSpacing)}")
    orientation = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    if not np.allclose(orientation, [float(v) for v in first.ImageOrientationPatient], atol=1e-4):
        problems.append("orientation differs from the CT")
    positions = {str(s.SOPInstanceUID): [float(v) for v in s.ImagePositionPatient] for s in sources}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = str(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        position = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        if uid not in positions or not np.allclose(position, positions[uid], atol=1e-3):
            problems.append(f"a frame's position {position} does not match its source slice")
            break
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[str(s.SOPInstanceUID) for s in sources],
        combine_segments=True,
        assert_missing_frames_are_empty=True,
    )
    if pixels.shape != (len(sources), first.Rows, first.Columns):
        problems.append(f"pixel array {pixels.shape}, expected {(len(sources), first.Rows, first.Columns)}")
    else:
        counts = {number: int((pixels == number).sum()) for number in expected}
        if counts != expected:
            problems.append(f"voxels per segment {counts}, expected {expected}")
    return problems
