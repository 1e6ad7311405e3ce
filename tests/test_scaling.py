"""scale against plain NumPy definitions."""

from __future__ import annotations

import numpy as np
import pytest

import imgrad


def test_minmax_definition(camera):
    image = imgrad.sobel(camera).gx
    out = imgrad.scale(image)
    lo, hi = float(image.min()), float(image.max())
    expected = np.rint((image.astype(np.float64) - lo) * (255 / (hi - lo)))
    assert out.dtype == np.uint8
    assert np.abs(out.astype(int) - expected).max() <= 1  # float32 arithmetic
    assert out.min() == 0 and out.max() == 255


def test_clip_and_range_definitions():
    image = np.array([[-5.0, 0.4, 0.6, 254.5, 300.0]], np.float32)
    np.testing.assert_array_equal(imgrad.scale(image, method="clip"), [[0, 0, 1, 254, 255]])
    values = np.array([[0.0, 90.0, 180.0, 360.0, 400.0, -1.0]])
    out = imgrad.scale(values, method="range", low=0, high=360, dtype="uint16")
    expected = np.clip(np.rint(values / 360 * 65535), 0, 65535)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.uint16


def test_constant_nan_and_integer_inputs():
    np.testing.assert_array_equal(imgrad.scale(np.full((2, 2), 3.0)), 0)
    out = imgrad.scale(np.array([[np.nan, 0.0, 1.0]]))
    np.testing.assert_array_equal(out, [[0, 0, 255]])
    np.testing.assert_array_equal(imgrad.scale(np.array([[10, 20]], np.uint8)), [[0, 255]])


def test_int16_planes_scale_to_8_and_16_bits():
    image = np.array([[-32768, -1000, 0, 1000, 32767]], np.int16)
    f = image.astype(np.float64)
    np.testing.assert_array_equal(
        imgrad.scale(image), np.rint((f + 32768) / 65535 * 255).astype(np.uint8)
    )
    np.testing.assert_array_equal(imgrad.scale(image, dtype="uint16"), f + 32768)
    np.testing.assert_array_equal(imgrad.scale(image, method="clip"), [[0, 0, 0, 255, 255]])
    hounsfield = imgrad.scale(image, method="range", low=-1000, high=1000, dtype="uint16")
    np.testing.assert_array_equal(hounsfield, [[0, 0, 32768, 65535, 65535]])


def test_input_not_modified(camera):
    image = camera.astype(np.float32)
    before = image.copy()
    imgrad.scale(image, method="range", low=10, high=20)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"method": "log"}, ["'method'", "'minmax'", "'log'"]),
        ({"dtype": "uint32"}, ["'dtype'", "'uint16'", "'uint32'"]),
        ({"method": "range", "low": 1.0}, ["'low' and 'high'", "method='range'"]),
        ({"method": "range", "low": 5, "high": 5}, ["low < high"]),
        ({"low": 0, "high": 1}, ["only used with method='range'"]),
    ],
)
def test_bad_parameters(kwargs, words):
    with pytest.raises(ValueError) as info:
        imgrad.scale(np.zeros((2, 2)), **kwargs)
    assert all(w in str(info.value) for w in words)


@pytest.mark.parametrize("method", ["minmax", "clip", "range"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_scaling_a_plane_in_place_gives_the_same_bits(method, dtype):
    """The batch runner scales planes it owns in place (scale_owned)."""
    from imgrad.scaling import scale_owned

    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        image = rng.integers(info.min, info.max, (40, 30), endpoint=True).astype(dtype)
    else:
        image = (rng.standard_normal((40, 30)) * 80).astype(dtype)
        image[3, 4], image[5, 6] = np.nan, np.inf
    limits = {"low": -20.0, "high": 90.0} if method == "range" else {}
    for bits in ("uint8", "uint16"):
        for finite in (False, True):
            plane = np.nan_to_num(image) if finite else image.copy()
            reference = imgrad.scale(plane, method=method, dtype=bits, **limits)
            owned = scale_owned(plane.copy(), method, bits, limits.get("low"), limits.get("high"))
            assert owned.dtype == np.dtype(bits)
            np.testing.assert_array_equal(owned, reference)
