"""DICOM rendering on pydicom's own test files and on files written here with pydicom."""

from __future__ import annotations

import numpy as np
import pytest

from audits.data.dicom import (
    DicomCorrupt,
    DicomError,
    DicomFrameOutOfRange,
    DicomNoPixelData,
    DicomTooLarge,
    DicomUnsupportedSyntax,
    Window,
    is_dicom,
    normalize_modality,
    render_dicom,
)
from tests.support.dicom import (
    PHI_ID,
    PHI_NAME,
    SHIPPED_PHI,
    bare_data_set,
    grayscale,
    shipped_bytes,
    unsupported_syntax,
    with_patient,
)


def _gray(data: bytes, **kwargs: object) -> np.ndarray:
    rendered = render_dicom(data, **kwargs)  # type: ignore[arg-type]
    pixels = np.asarray(rendered.image)
    assert pixels.dtype == np.uint8 and pixels.shape[-1] == 3
    return pixels[..., 0].astype(int)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_expb.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ],
)
def test_every_encoding_of_one_mr_renders_the_same_pixels(name: str) -> None:
    """RLE, big-endian, implicit VR, JPEG 2000 and JPEG-LS lossless of the same signed 16-bit MR
    decode (pylibjpeg plugins) and render identically to the uncompressed file."""
    reference = np.asarray(render_dicom(shipped_bytes("MR_small.dcm")).image)
    assert np.array_equal(np.asarray(render_dicom(shipped_bytes(name)).image), reference)
    assert reference.std() > 10


def test_ct_without_a_window_gets_the_configured_ct_window_in_hounsfield_units() -> None:
    rendered = render_dicom(shipped_bytes("CT_small.dcm"))
    assert rendered.modality == "CT" and rendered.frames == 1
    import pydicom

    ds = pydicom.dcmread(__import__("io").BytesIO(shipped_bytes("CT_small.dcm")))
    hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    gray = np.asarray(rendered.image)[..., 0].astype(int)
    assert np.all(gray[hu <= 40 - 200] == 0)
    assert np.all(gray[hu > 40 + 200] == 255)
    inside = (hu > -150) & (hu < 230)
    expected = ((hu[inside] - 39.5) / 399 + 0.5) * 255
    assert np.max(np.abs(gray[inside] - expected)) <= 1
    other = _gray(shipped_bytes("CT_small.dcm"), windows={"CT": Window(400, 1800)})
    assert not np.array_equal(other, gray)


def test_the_first_of_several_windows_is_used_and_monochrome1_is_inverted() -> None:
    pixels = np.array([[-1000, 0, 40, 240, 1000]] * 4, dtype=np.int16)
    window = ([40.0, 500.0], [400.0, 2000.0])
    mono2 = _gray(grayscale(pixels, window=window))
    assert mono2[0].tolist() == [0, 102, 128, 255, 255]
    mono1 = _gray(grayscale(pixels, window=window, photometric="MONOCHROME1"))
    assert np.array_equal(mono1, 255 - mono2)


def test_signed_16_bit_with_rescale_is_windowed_after_the_modality_lut() -> None:
    hu = np.array([[-1000, 0, 40, 240, 1000]] * 4, dtype=np.int16)
    stored = (hu + 1024).astype(np.int16)  # signed storage with an intercept
    rendered = _gray(grayscale(stored, rescale=(1.0, -1024.0), window=([40.0], [400.0])))
    assert rendered[0].tolist() == [0, 102, 128, 255, 255]


def test_without_window_or_configured_default_the_frame_range_is_used() -> None:
    pixels = np.array([[-500, 0, 500]] * 3, dtype=np.int16)
    assert _gray(grayscale(pixels, modality="MR"))[0].tolist() == [0, 128, 255]


def test_voi_lut_sequence_beats_the_window_and_clips_beyond_its_last_entry() -> None:
    """An 8-bit VOI LUT with inputs above 255 (pydicom's own index array would wrap)."""
    pixels = np.array([[0, 10, 100, 255, 300]] * 4, dtype=np.uint16)
    lut = ([256, 0, 8], [255 - x for x in range(256)])
    rendered = _gray(grayscale(pixels, voi_lut=lut, window=([100.0], [10.0])))
    assert rendered[0].tolist() == [255, 245, 155, 0, 0]


@pytest.mark.parametrize(
    ("name", "modality"),
    [
        ("examples_rgb_color.dcm", "US"),
        ("examples_ybr_color.dcm", "US"),  # YBR_FULL_422, JPEG baseline, 30 frames
        ("SC_rgb_rle_16bit.dcm", "other"),
        ("SC_rgb_dcmtk_+eb+cy+np.dcm", "other"),
        ("examples_palette.dcm", "US"),
    ],
)
def test_colour_images_stay_in_colour(name: str, modality: str) -> None:
    rendered = render_dicom(shipped_bytes(name))
    pixels = np.asarray(rendered.image).astype(int)
    assert rendered.modality == modality
    assert np.abs(pixels[..., 0] - pixels[..., 1]).max() > 30


def test_rgb_8_16_and_32_bit_and_planar_ybr_agree() -> None:
    eight = np.asarray(render_dicom(shipped_bytes("SC_rgb_rle.dcm")).image).astype(int)
    for name in ("SC_rgb_rle_16bit.dcm", "SC_rgb_rle_32bit.dcm", "SC_rgb_dcmtk_+eb+cr.dcm"):
        other = np.asarray(render_dicom(shipped_bytes(name)).image).astype(int)
        assert np.abs(other - eight).max() <= 1, name
    ybr = np.asarray(render_dicom(shipped_bytes("SC_ybr_full_422_uncompressed.dcm")).image)
    assert np.abs(ybr.astype(int) - eight).mean() < 3


def test_multi_frame_middle_by_default_and_a_chosen_frame() -> None:
    data = shipped_bytes("SC_rgb_rle_2frame.dcm")
    default = render_dicom(data)
    assert (default.frames, default.frame) == (2, 1)
    first = render_dicom(data, frame=0)
    assert first.frame == 0
    assert not np.array_equal(np.asarray(first.image), np.asarray(default.image))
    dose = render_dicom(shipped_bytes("rtdose.dcm"))  # 32-bit unsigned, 15 frames
    assert (dose.frames, dose.frame) == (15, 7)
    with pytest.raises(DicomFrameOutOfRange, match="2 frame"):
        render_dicom(data, frame=2)


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (shipped_bytes("MR_truncated.dcm"), DicomCorrupt, "truncated"),
        (b"\x00" * 128 + b"DICM" + b"\xff" * 40, DicomCorrupt, "export it again"),
        (shipped_bytes("rtplan.dcm"), DicomNoPixelData, "RT Plan Storage"),
        (shipped_bytes("test-SR.dcm"), DicomNoPixelData, "SR Storage"),
        (shipped_bytes("waveform_ecg.dcm"), DicomNoPixelData, "Waveform"),
        (unsupported_syntax(), DicomUnsupportedSyntax, "MPEG2"),
    ],
    ids=["truncated", "garbage", "rt-plan", "structured-report", "waveform", "mpeg2"],
)
def test_refusals_are_typed_and_say_what_to_do(
    data: bytes, error: type[DicomError], words: str
) -> None:
    with pytest.raises(error) as caught:
        render_dicom(data)
    message = str(caught.value)
    assert words in message
    for secret in (*SHIPPED_PHI, "Last^First", "id00001", "Test^S R", "642341"):
        assert secret not in message


def test_a_frame_with_too_many_pixels_is_refused_before_decoding() -> None:
    with pytest.raises(DicomTooLarge, match="128x128"):
        render_dicom(shipped_bytes("CT_small.dcm"), max_pixels=100 * 100)


def test_edited_patient_headers_do_not_change_the_pixels() -> None:
    original = shipped_bytes("CT_small.dcm")
    edited = with_patient(original)
    assert PHI_NAME.encode() in edited and PHI_ID.encode() in edited
    assert np.array_equal(
        np.asarray(render_dicom(original).image), np.asarray(render_dicom(edited).image)
    )


def test_part10_sniffing_and_modality_labels() -> None:
    assert is_dicom(shipped_bytes("CT_small.dcm"))
    assert not is_dicom(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    assert [normalize_modality(v) for v in ("ct", " MR ", "OT", "", None, "other")] == [
        "CT",
        "MR",
        "other",
        "unknown",
        "unknown",
        "other",
    ]


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm"]
)
def test_a_bare_data_set_renders_like_its_part10_file(name: str) -> None:
    bare = bare_data_set(name)
    assert b"DICM" not in bare[:132] and is_dicom(bare)
    rendered, reference = render_dicom(bare), render_dicom(shipped_bytes(name))
    assert rendered.modality == reference.modality
    assert np.array_equal(np.asarray(rendered.image), np.asarray(reference.image))


def test_a_bare_data_set_without_pixels_is_refused_as_such() -> None:
    with pytest.raises(DicomNoPixelData, match="RT Ion Plan Storage, which has no pixel data"):
        render_dicom(shipped_bytes("ExplVR_LitEndNoMeta.dcm"))
