"""What a DICOM upload that ``audits.data.dicom`` refuses for having no pixel data really is.

pydicom reads a preamble, ``DICM`` and garbage as a data set of a few nonsense elements, so
rendering calls it an object without pixel data (422, "unknown SOP class"). Every real DICOM
object names its SOP class (a type 1 attribute), so a data set that names none is not a DICOM
object but a corrupt file (400). Called only on that refusal path.
"""

from __future__ import annotations

import io
import warnings

import pydicom
from pydicom.dataset import Dataset


def _read(data: bytes) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception:  # pydicom raises many types on damaged input; rendering reports them
        return None


def names_no_sop_class(data: bytes) -> bool:
    """Whether the data set identifies no SOP class (neither in it nor in its file meta)."""
    ds = _read(data)
    if ds is None:
        return True
    meta = getattr(ds, "file_meta", None)
    in_meta = meta.get("MediaStorageSOPClassUID") if meta is not None else None
    return not (ds.get("SOPClassUID") or in_meta)
