"""DICOM Part 10 to an 8-bit RGB image, rendered the DICOM way with pydicom's own functions.

One frame (the middle one unless asked) goes through the display pipeline of PS3.3 C.11:
the modality LUT (``apply_modality_lut``: rescale slope/intercept or a Modality LUT), then the
VOI (``apply_voi_lut``: the first VOI LUT or window centre/width; a configured window per
modality when the header has none, else the frame's own range), MONOCHROME1 inverted;
colour images leave the decoder as RGB (YBR converted, planar configuration undone) and
palette colour goes through ``apply_color_lut``. Compressed transfer syntaxes decode where a
pydicom decoding plugin is installed (the pylibjpeg family: JPEG, JPEG-LS, JPEG 2000, HTJ2K,
RLE); anything else is refused naming the transfer syntax.

Nothing of the header leaves this module except the modality (a code from a fixed set, see
``normalize_modality``), the frame count and the chosen frame. Refusals are ``DicomError``
subclasses whose messages name only the transfer syntax, the SOP class or sizes, never a header
value of the patient or study. pydicom's own validation warnings (which can quote a value) are
silenced while reading.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    get_decoder,
    pixel_array,
)
from pydicom.uid import UID

PREAMBLE_LEN = 128
MAGIC = b"DICM"

MODALITIES: tuple[str, ...] = ("CT", "MR", "CR", "DX", "US", "MG", "PT", "NM", "XA")
"""The modality label's known values (DESIGN.md section 4); everything else is other/unknown."""
OTHER_MODALITY = "other"
UNKNOWN_MODALITY = "unknown"
MODALITY_LABELS: tuple[str, ...] = (*MODALITIES, OTHER_MODALITY, UNKNOWN_MODALITY)

PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

logging.getLogger("pydicom").setLevel(logging.ERROR)  # its warnings can quote header values


@dataclass(frozen=True)
class Window:
    """A VOI window in modality units (after rescale), e.g. CT soft tissue 40 / 400 HU."""

    center: float
    width: float


DEFAULT_WINDOWS: dict[str, Window] = {"CT": Window(40.0, 400.0)}
"""Used when a frame's header has neither a VOI LUT nor a window (CT: soft-tissue window)."""


class DicomError(ValueError):
    """A DICOM upload that cannot be rendered; the message is safe to show and to log."""


class DicomCorrupt(DicomError):
    """Not readable as DICOM, or truncated: the client should re-export the file (400)."""


class DicomNoPixelData(DicomError):
    """A valid DICOM object without an image (plan, structured report, waveform) (422)."""


class DicomUnsupportedSyntax(DicomError):
    """Pixel data in a transfer syntax no installed decoder reads (415)."""

    def __init__(self, message: str, transfer_syntax: str) -> None:
        super().__init__(message)
        self.transfer_syntax = transfer_syntax


class DicomFrameOutOfRange(DicomError):
    """The requested frame does not exist (422)."""


class DicomTooLarge(DicomError):
    """The frame declares more pixels than allowed (413)."""


@dataclass(frozen=True)
class RenderedDicom:
    image: Image.Image
    modality: str
    """One of ``MODALITY_LABELS``."""
    frames: int
    frame: int


def is_part10(data: bytes) -> bool:
    """A DICOM Part 10 file: 128-byte preamble, then ``DICM``."""
    return data[PREAMBLE_LEN : PREAMBLE_LEN + len(MAGIC)] == MAGIC


def is_raw_dataset(data: bytes) -> bool:
    """A bare DICOM data set (no preamble, no file meta), as some gateways and older archives
    write it: it opens with an element of the Identifying group (0008), little or big endian,
    whose explicit VR or implicit 4-byte length follows."""
    if len(data) < 8 or data[:2] not in (b"\x08\x00", b"\x00\x08"):
        return False
    vr = data[4:6]
    explicit = vr.isalpha() and vr.isupper()
    little = data[:2] == b"\x08\x00"
    implicit_length = int.from_bytes(data[4:8], "little" if little else "big")
    return explicit or implicit_length < len(data)


def is_dicom(data: bytes) -> bool:
    """DICOM the service reads: a Part 10 file or a bare data set."""
    return is_part10(data) or is_raw_dataset(data)


def is_dicom_file(path: str) -> bool:
    with open(path, "rb") as fh:
        return is_dicom(fh.read(PREAMBLE_LEN + len(MAGIC)))


def normalize_modality(value: object) -> str:
    """A header's or a client's modality as a low-cardinality label."""
    if value is None:
        return UNKNOWN_MODALITY
    text = str(value).strip().upper()
    if not text:
        return UNKNOWN_MODALITY
    if text in MODALITIES:
        return text
    if text.lower() in (OTHER_MODALITY, UNKNOWN_MODALITY):
        return text.lower()
    return OTHER_MODALITY


_NATIVE_SYNTAX: dict[tuple[bool | None, bool | None], UID] = {
    (True, True): pydicom.uid.ImplicitVRLittleEndian,
    (False, True): pydicom.uid.ExplicitVRLittleEndian,
    (False, False): pydicom.uid.ExplicitVRBigEndian,
}
"""(implicit VR, little endian) as pydicom detects them -> the native transfer syntax."""


def read_dataset(data: bytes) -> Dataset:
    """The data set of a Part 10 file, or of a bare data set with the transfer syntax its
    encoding implies (pydicom guesses implicit/explicit VR and endianness; a bare data set can
    only hold native pixel data)."""
    try:
        if is_part10(data):
            return pydicom.dcmread(io.BytesIO(data))
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        syntax = _NATIVE_SYNTAX.get(ds.original_encoding)
        if syntax is not None:
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = syntax
        return ds
    except (InvalidDicomError, EOFError) as exc:
        raise DicomCorrupt(
            f"the DICOM file is truncated or not valid DICOM Part 10 ({type(exc).__name__}); "
            "export it again from the PACS or viewer"
        ) from None
    except Exception as exc:  # pydicom raises many types on damaged input
        raise DicomCorrupt(
            f"the DICOM file could not be read ({type(exc).__name__}); it may be truncated or "
            "corrupt — export it again"
        ) from None


def _sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    if not uid:
        return "an object of unknown SOP class"
    name = UID(str(uid)).name
    return name if name and name != str(uid) else f"SOP class {uid}"


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(uid)) if uid else pydicom.uid.ExplicitVRLittleEndian


def _check_decodable(ds: Dataset) -> None:
    syntax = _transfer_syntax(ds)
    label = f"{syntax.name} ({syntax})" if syntax.name != str(syntax) else str(syntax)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise DicomUnsupportedSyntax(
            f"pixel data in the transfer syntax {label} cannot be decoded here; re-export the "
            "study uncompressed or as JPEG, JPEG-LS, JPEG 2000 or RLE",
            str(syntax),
        ) from None
    if not decoder.is_available:
        raise DicomUnsupportedSyntax(
            f"no decoder for the transfer syntax {label} is installed; re-export the study "
            "uncompressed",
            str(syntax),
        )


def _frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def _check_size(ds: Dataset, max_pixels: int | None) -> None:
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows < 1 or columns < 1:
        raise DicomCorrupt("the DICOM image declares no rows or columns")
    if max_pixels is not None and rows * columns > max_pixels:
        raise DicomTooLarge(
            f"the DICOM frame declares {columns}x{rows} pixels; the limit is {max_pixels} "
            "pixels — downscale it before sending"
        )


def _decode_frame(ds: Dataset, index: int) -> np.ndarray:
    try:
        return pixel_array(ds, index=index)
    except Exception as exc:
        raise DicomCorrupt(
            f"the DICOM pixel data could not be decoded ({type(exc).__name__}); the file may "
            "be truncated or corrupt, or use an encoding variant the installed decoders do not "
            "read — export it again, uncompressed if it persists"
        ) from None


def _to_uint8(arr: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of ``[low, high]`` onto ``[0, 255]``."""
    values = np.asarray(arr, dtype=np.float64)
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values - low) / (high - low) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _voi_output_range(ds: Dataset) -> tuple[float, float]:
    """The range a VOI transform maps onto: a window's output range (probed with -inf, +inf
    through pydicom's own ``apply_windowing``) or the VOI LUT's entry range."""
    if ds.get("VOILUTSequence"):
        descriptor = ds.VOILUTSequence[0].get("LUTDescriptor")
        if descriptor is not None:
            return 0.0, float(2 ** int(descriptor[2]) - 1)
    with np.errstate(all="ignore"):
        probe = apply_voi_lut(np.array([-np.inf, np.inf]), ds)
    return float(probe[0]), float(probe[1])


def _clip_to_voi_lut(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """Inputs beyond a VOI LUT map to its first / last entry (PS3.3 C.11.2.1.1); clipping first
    keeps pydicom's 8-bit index array from wrapping around on inputs above 255."""
    lut = ds.get("VOILUTSequence")
    descriptor = lut[0].get("LUTDescriptor") if lut else None
    if descriptor is None:
        return values
    entries = int(descriptor[0]) or 2**16
    first = int(descriptor[1])
    return np.clip(values, first, first + entries - 1)


def _has_voi(ds: Dataset) -> bool:
    lut = ds.get("VOILUTSequence")
    if lut and lut[0].get("LUTDescriptor") is not None and lut[0].get("LUTData") is not None:
        return True
    return ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None


def _render_monochrome(
    ds: Dataset, arr: np.ndarray, modality: str, windows: Mapping[str, Window]
) -> np.ndarray:
    values = apply_modality_lut(arr, ds)
    default = windows.get(modality)
    if not _has_voi(ds) and default is not None:
        ds.WindowCenter, ds.WindowWidth = default.center, default.width
        ds.VOILUTFunction = "LINEAR"
    if _has_voi(ds):
        with np.errstate(all="ignore"):
            low, high = _voi_output_range(ds)
            values = apply_voi_lut(_clip_to_voi_lut(values, ds), ds, index=0)
    else:
        low, high = float(np.min(values)), float(np.max(values))
    gray = _to_uint8(values, low, high)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        gray = 255 - gray
    return np.stack([gray] * 3, axis=-1)


def _render_colour(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        top = 255.0 if rgb.dtype == np.uint8 else 65535.0
        return _to_uint8(rgb, 0.0, top)
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8)
    return _to_uint8(arr, 0.0, float(2**bits - 1))


def render_dicom(
    data: bytes,
    *,
    frame: int | None = None,
    max_pixels: int | None = None,
    windows: Mapping[str, Window] = DEFAULT_WINDOWS,
) -> RenderedDicom:
    """The frame ``frame`` (default: the middle one) of a DICOM Part 10 file as an RGB image.

    Raises a ``DicomError`` subclass for anything that cannot be rendered.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _render(data, frame=frame, max_pixels=max_pixels, windows=windows)


def _render(
    data: bytes, *, frame: int | None, max_pixels: int | None, windows: Mapping[str, Window]
) -> RenderedDicom:
    ds = read_dataset(data)
    if len(ds) == 0:
        raise DicomCorrupt(
            "the DICOM file has a Part 10 header but no readable data set; it may be truncated "
            "or corrupt — export it again"
        )
    if not any(keyword in ds for keyword in PIXEL_DATA_KEYWORDS):
        raise DicomNoPixelData(
            f"the DICOM object is {_sop_class_name(ds)}, which has no pixel data; send an "
            "image object (CT, MR, radiograph, ...)"
        )
    if "PixelData" not in ds:
        raise DicomNoPixelData(
            "the DICOM object holds float pixel data (e.g. a parametric map), which is not "
            "supported; send an image object"
        )
    _check_decodable(ds)
    _check_size(ds, max_pixels)
    frames = _frame_count(ds)
    index = frames // 2 if frame is None else frame
    if not 0 <= index < frames:
        raise DicomFrameOutOfRange(
            f"frame {frame} was requested; the object has {frames} frame(s), numbered 0 to "
            f"{frames - 1}"
        )
    modality = normalize_modality(ds.get("Modality"))
    arr = _decode_frame(ds, index)
    try:
        if arr.ndim == 2 and ds.get("PhotometricInterpretation") != "PALETTE COLOR":
            rgb = _render_monochrome(ds, arr, modality, windows)
        elif arr.ndim in (2, 3):
            rgb = _render_colour(ds, arr)
        else:
            raise ValueError(f"unexpected pixel array of {arr.ndim} dimensions")
    except DicomError:
        raise
    except Exception as exc:
        raise DicomCorrupt(
            f"the DICOM image could not be rendered ({type(exc).__name__}): its pixel module "
            "(photometric interpretation, LUTs, window) is inconsistent"
        ) from None
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise DicomCorrupt("the DICOM image has an unsupported number of samples per pixel")
    return RenderedDicom(
        image=Image.fromarray(np.ascontiguousarray(rgb), mode="RGB"),
        modality=modality,
        frames=frames,
        frame=index,
    )
