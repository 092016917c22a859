"""Small DICOM objects written for tests, independently of the readers under test: a CT series (pydicom), an
RTSTRUCT with given contours (pydicom), a DICOM SEG of given masks (highdicom)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


@dataclass(frozen=True)
class CtSeries:
    """A written series: its folder, files in slice order, and the UIDs a mask refers to."""

    folder: Path
    files: list[Path]
    frame_of_reference_uid: str
    series_instance_uid: str
    study_instance_uid: str


def save(dataset: pydicom.Dataset, path: Path) -> Path:
    """Write a dataset as a DICOM file in the transfer syntax its file meta names, with pydicom 3 or 2.x (Slicer
    5.6–5.10 ship 2.4)."""
    if int(pydicom.__version__.split(".")[0]) >= 3:
        dataset.save_as(path, enforce_file_format=True)
    else:
        dataset.is_little_endian = True
        dataset.is_implicit_VR = dataset.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        dataset.save_as(path, write_like_original=False)
    return path


def _file_dataset(sop_class: str, sop_instance: str) -> pydicom.Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.preamble = b"\0" * 128
    dataset.SOPClassUID, dataset.SOPInstanceUID = sop_class, sop_instance
    for keyword, value in (("PatientName", "Test^Phantom"), ("PatientID", "P1"), ("PatientBirthDate", ""),
                           ("PatientSex", "O"), ("StudyDate", "20240101"), ("StudyTime", "120000"),
                           ("ReferringPhysicianName", ""), ("AccessionNumber", ""), ("StudyID", "1")):
        setattr(dataset, keyword, value)
    return dataset


def write_ct_series(
    folder: Path, values: np.ndarray, spacing=(0.8, 0.8, 2.0), origin=(-12.0, -10.0, 40.0),
    frame_of_reference_uid: str | None = None,
) -> CtSeries:
    """An axial CT series of ``values`` (z, y, x) in HU: one file per slice, slice k at origin z + k · spacing z."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = {"frame": frame_of_reference_uid or generate_uid(), "series": generate_uid(), "study": generate_uid()}
    files = []
    for k, plane in enumerate(values.astype(np.int16)):
        dataset = _file_dataset(CT_STORAGE, generate_uid())
        dataset.Modality, dataset.SeriesNumber, dataset.InstanceNumber = "CT", 1, k + 1
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = uids["study"], uids["series"]
        dataset.FrameOfReferenceUID = uids["frame"]
        dataset.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[2]]
        dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        dataset.PixelSpacing = [spacing[1], spacing[0]]
        dataset.SliceThickness = spacing[2]
        dataset.Rows, dataset.Columns = plane.shape
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 1
        dataset.RescaleIntercept, dataset.RescaleSlope = 0, 1
        dataset.PixelData = plane.tobytes()
        path = folder / f"ct_{k:03d}.dcm"
        files.append(save(dataset, path))
    return CtSeries(folder, files, uids["frame"], uids["series"], uids["study"])


def write_rtstruct(
    path: Path, ct: CtSeries, rois: dict[str, list[np.ndarray]], geometric_type: str = "CLOSED_PLANAR",
    frame_of_reference_uid: str | None = None,
) -> Path:
    """An RTSTRUCT with one ROI per name, each contour an ``(N, 3)`` array of patient coordinates (mm)."""
    dataset = _file_dataset(RTSTRUCT_STORAGE, generate_uid())
    dataset.Modality, dataset.SeriesInstanceUID, dataset.StudyInstanceUID = "RTSTRUCT", generate_uid(), ct.study_instance_uid
    dataset.StructureSetLabel, dataset.StructureSetDate, dataset.StructureSetTime = "test", "20240101", "120000"
    frame_uid = frame_of_reference_uid or ct.frame_of_reference_uid
    series = pydicom.Dataset()
    series.SeriesInstanceUID = ct.series_instance_uid
    study = pydicom.Dataset()
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = "1.2.840.10008.3.1.2.3.1", ct.study_instance_uid
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = pydicom.Dataset()
    frame.FrameOfReferenceUID = frame_uid
    frame.RTReferencedStudySequence = Sequence([study])
    dataset.ReferencedFrameOfReferenceSequence = Sequence([frame])
    structure_items, contour_items = [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = pydicom.Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, frame_uid
        roi.ROIGenerationAlgorithm = "MANUAL"
        structure_items.append(roi)
        roi_contour = pydicom.Dataset()
        roi_contour.ReferencedROINumber, roi_contour.ROIDisplayColor = number, [255, 0, 0]
        roi_contour.ContourSequence = Sequence([_contour(points, geometric_type) for points in contours])
        contour_items.append(roi_contour)
    dataset.StructureSetROISequence = Sequence(structure_items)
    dataset.ROIContourSequence = Sequence(contour_items)
    return save(dataset, path)


def _contour(points: np.ndarray, geometric_type: str) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.ContourGeometricType = geometric_type
    item.NumberOfContourPoints = len(points)
    item.ContourData = [f"{v:.6g}" for v in np.asarray(points, dtype=float).ravel()]
    return item


def square(centre_x: float, centre_y: float, half: float, z: float) -> np.ndarray:
    """A closed square contour (four corners) in the plane z, in patient mm."""
    return np.array([[centre_x - half, centre_y - half, z], [centre_x + half, centre_y - half, z],
                     [centre_x + half, centre_y + half, z], [centre_x - half, centre_y + half, z]])


def write_seg(path: Path, ct: CtSeries, masks: dict[str, np.ndarray], segmentation_type: str = "BINARY") -> Path:
    """A DICOM SEG (highdicom) with one segment per name, each a (z, y, x) mask on the CT series' grid."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = [pydicom.dcmread(file) for file in ct.files]
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=name, segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number, name in enumerate(masks, start=1)
    ]
    stacked = np.stack(list(masks.values()), axis=-1)
    pixels = stacked.astype(np.float32) if segmentation_type == "FRACTIONAL" else stacked.astype(bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=pixels, segmentation_type=segmentation_type,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=50,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test", manufacturer_model_name="test",
            software_versions="0", device_serial_number="0",
        )
        seg.save_as(path)
    return path
