"""Sampling, the shuffle pool, image ids and the counterfactual builders."""

from __future__ import annotations

import uuid

import pytest

from audits.science.conditions.image_removal import BLANK_RGB, blank_like, seeded_derangement
from service.engine.shuffle_pool import ShufflePool
from service.http.imaging import ImageLimits, decode_image, decode_upload
from service.identity import image_id, pixels_id, sample_decision
from tests.support.dicom import shipped_bytes, with_patient
from tests.support.images import encode, noise_image, png_bytes


def test_sampling_is_deterministic_per_request_id() -> None:
    ids = [uuid.uuid4().hex for _ in range(200)]
    assert [sample_decision(i, 0.3) for i in ids] == [sample_decision(i, 0.3) for i in ids]


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.5, 0.9])
def test_sampled_share_is_within_two_points_of_the_rate(rate: float) -> None:
    ids = [f"req-{n}" for n in range(10_000)]
    share = sum(sample_decision(i, rate) for i in ids) / len(ids)
    assert abs(share - rate) <= 0.02


def test_rate_bounds() -> None:
    assert not any(sample_decision(f"r{n}", 0.0) for n in range(500))
    assert all(sample_decision(f"r{n}", 1.0) for n in range(500))


def test_blank_has_the_real_images_size_and_is_uniform_gray() -> None:
    image = noise_image(0, (123, 45))
    blank = blank_like(image)
    assert blank.size == (123, 45)
    assert blank.mode == "RGB"
    assert set(blank.getdata()) == {BLANK_RGB}


def test_shuffle_pool_never_returns_the_requests_own_image() -> None:
    pool = ShufflePool(capacity=8, seed=1)
    assert pool.draw("a") is None
    pool.add("a", noise_image(1))
    assert pool.draw("a") is None, "only the request's own image: shuffled must be skipped"
    pool.add("b", noise_image(2))
    for _ in range(50):
        drawn = pool.draw("a")
        assert drawn is not None and drawn[0] == "b"


def test_shuffle_pool_is_bounded() -> None:
    pool = ShufflePool(capacity=3)
    for index in range(10):
        pool.add(f"id{index}", noise_image(index, (8, 8)))
    assert len(pool) == 3
    drawn = {pool.draw("none")[0] for _ in range(60)}  # type: ignore[index]
    assert drawn <= {"id7", "id8", "id9"}


PIXEL_LIMIT = 2_250_000  # GROUNDING_MAX_IMAGE_PIXELS of this test


@pytest.fixture(scope="module")
def upload_at_the_pixel_limit() -> bytes:
    from PIL import Image

    side = int(PIXEL_LIMIT**0.5)
    return encode(Image.linear_gradient("L").resize((side, side)).convert("RGB"))


@pytest.mark.parametrize("model_pixels", [3136, None])
def test_a_hundred_uploads_at_the_pixel_limit_stay_within_the_pool_budget(
    upload_at_the_pixel_limit: bytes, model_pixels: int | None
) -> None:
    budget = 24 * 1024 * 1024
    pool = ShufflePool(256, max_bytes=budget, max_pixels=model_pixels)
    limits = ImageLimits(max_bytes=20 * 1024 * 1024, max_pixels=PIXEL_LIMIT)
    for index in range(100):
        pool.add(f"id{index}", decode_image(upload_at_the_pixel_limit, limits))
        assert pool.nbytes <= budget
    kept = [pool.draw(f"id{i}") for i in range(3)]
    sizes = {image.size for _, image in kept if image is not None}
    if model_pixels is None:  # the model's size unknown: the byte budget bounds the pool
        assert 2 <= len(pool) <= budget // (PIXEL_LIMIT * 4)
    else:  # kept at the size the model consumes, so all hundred fit
        assert len(pool) == 100
        assert all(w * h <= model_pixels for w, h in sizes)


def test_image_id_is_keyed() -> None:
    data = png_bytes(5)
    assert image_id(data, "secret-a") == image_id(data, "secret-a")
    assert image_id(data, "secret-a") != image_id(data, "secret-b")
    import hashlib

    assert image_id(data, "secret-a") != hashlib.sha256(data).hexdigest()


def test_derangement_never_pairs_an_item_with_its_own_or_an_identical_image() -> None:
    keys = ["x", "y", "z", "x", "w", "y"]
    partners = seeded_derangement(keys, seed=7)
    assert all(keys[i] != keys[p] for i, p in enumerate(partners))
    assert partners == seeded_derangement(keys, seed=7)
    with pytest.raises(ValueError):
        seeded_derangement(["same", "same"], seed=0)


def test_image_ids_key_on_decoded_pixels_so_edited_dicom_headers_share_one_id() -> None:
    """The same pixels under edited patient headers (or re-encoded as PNG) get one id, so the
    shuffle pool never hands a request its own pixels back."""
    limits = ImageLimits(max_bytes=5_000_000, max_pixels=5_000_000)
    original = decode_upload(shipped_bytes("CT_small.dcm"), limits)
    edited = decode_upload(with_patient(shipped_bytes("CT_small.dcm")), limits)
    as_png = decode_upload(encode(original.image), limits)
    ids = {pixels_id(d.image, "secret-a") for d in (original, edited, as_png)}
    assert len(ids) == 1
    other = decode_upload(shipped_bytes("MR_small.dcm"), limits)
    assert pixels_id(other.image, "secret-a") not in ids
    assert pixels_id(original.image, "secret-b") not in ids
    pool = ShufflePool(capacity=4, seed=0)
    pool.add(pixels_id(original.image, "secret-a"), original.image)
    assert pool.draw(exclude_id=pixels_id(edited.image, "secret-a")) is None
