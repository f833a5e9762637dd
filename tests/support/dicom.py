"""Real DICOM files for tests: the ones pydicom ships, and ones written here with pydicom for
cases those lack (MONOCHROME1, windowing, signed 16-bit, an unsupported transfer syntax).

Every written file carries the patient name and id below, so PHI tests can look for them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

PHI_NAME = "Zzyzx^Quillfeather"
PHI_ID = "PHI-7731-QX"
SHIPPED_PHI = ("CompressedSamples^CT1", "1CT1", "CompressedSamples^MR1", "4MR1")
"""Patient names and ids inside pydicom's CT_small.dcm and MR_small.dcm."""
MPEG2 = UID("1.2.840.10008.1.2.4.100")
CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")


def shipped(name: str) -> Path:
    """A file from pydicom's own test data, present in the wheel (never downloaded)."""
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom does not ship {name} offline")
    return Path(str(path))


def shipped_bytes(name: str) -> bytes:
    return shipped(name).read_bytes()


def bare_data_set(name: str) -> bytes:
    """A shipped file written again as a bare data set: no preamble, no ``DICM``, no file
    meta, in the encoding of its transfer syntax (as some gateways and older archives store it)."""
    ds = pydicom.dcmread(io.BytesIO(shipped_bytes(name)))
    syntax = ds.file_meta.TransferSyntaxUID
    out = DicomBytesIO()
    out.is_implicit_VR, out.is_little_endian = syntax.is_implicit_VR, syntax.is_little_endian
    write_dataset(out, ds)
    return out.getvalue()


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def with_patient(data: bytes, name: str = PHI_NAME, patient_id: str = PHI_ID) -> bytes:
    """The same file with other patient details in its header (pixels untouched)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19500101"
    ds.InstitutionName = "Saint Quillfeather Hospital"
    return to_bytes(ds)


def grayscale(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    modality: str = "CT",
    window: tuple[list[float], list[float]] | None = None,
    rescale: tuple[float, float] | None = None,
    voi_lut: tuple[list[int], list[int]] | None = None,
    frames: int = 1,
) -> bytes:
    """A single- or multi-frame grayscale image, signed if ``pixels`` is signed."""
    signed = np.issubdtype(pixels.dtype, np.signedinteger)
    bits = pixels.dtype.itemsize * 8
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PHI_NAME
    ds.PatientID = PHI_ID
    ds.Modality = modality
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    rows, columns = pixels.shape[-2:]
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.RescaleType = "HU"
    if voi_lut is not None:
        descriptor, data = voi_lut
        item = Dataset()
        item.add_new(0x00283002, "US", descriptor)  # LUT Descriptor
        item.add_new(0x00283006, "US", data)  # LUT Data
        ds.VOILUTSequence = [item]
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return to_bytes(ds)


def unsupported_syntax() -> bytes:
    """CT pixels encapsulated under MPEG-2 video, a syntax no installed decoder reads."""
    ds = pydicom.dcmread(io.BytesIO(grayscale(np.zeros((8, 8), dtype=np.uint16))))
    ds.file_meta.TransferSyntaxUID = MPEG2
    ds.PixelData = encapsulate([b"\x00" * 32])
    ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
