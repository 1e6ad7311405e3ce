"""gray and gaussian against the BT.601 definition and scipy.ndimage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image

import imgrad

from .strategies import SCIPY_MODES


def luma(rgb):
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_gray_uint8_is_bt601_luma_to_one_level(astronaut):
    out = imgrad.gray(astronaut)
    assert out.shape == astronaut.shape[:2] and out.dtype == np.uint8
    diff = np.abs(out.astype(np.float64) - luma(astronaut))
    # Rounded to the nearest level; OpenCV's fixed-point weights may round the
    # other way within 0.003 of a tie.
    assert diff.max() <= 0.5 + 3e-3
    assert np.mean(diff > 0.5) < 1e-3
    pil = np.asarray(Image.fromarray(astronaut).convert("L"))  # Pillow: same BT.601 weights
    assert np.abs(out.astype(int) - pil.astype(int)).max() <= 1


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_gray_other_dtypes(dtype, astronaut):
    image = astronaut.astype(dtype) * (257 if dtype == np.uint16 else 1)
    out = imgrad.gray(image)
    assert out.dtype == dtype
    tolerance = 0.5 + 1e-2 if dtype == np.uint16 else 1e-3
    assert np.abs(out.astype(np.float64) - luma(image)).max() <= tolerance


def test_gray_and_gaussian_of_int16(astronaut):
    # Signed input over the whole int16 range: luma rounded to int16, smoothing in float32.
    image = (astronaut.astype(np.int32) * 257 - 32768).astype(np.int16)
    out = imgrad.gray(image)
    assert out.dtype == np.int16
    assert np.abs(out.astype(np.float64) - luma(image)).max() <= 0.5 + 1e-2
    smooth = imgrad.gaussian(out, 1.5, border="constant", cval=-1000.0)
    assert smooth.dtype == np.float32
    ref = ndi.gaussian_filter(out.astype(np.float64), 1.5, mode="constant", cval=-1000.0, radius=6)
    np.testing.assert_allclose(smooth, ref, rtol=1e-5, atol=0.05)


def test_gray_alpha_dropped_and_single_channel_unchanged(astronaut, camera):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(imgrad.gray(rgba), imgrad.gray(astronaut))
    assert imgrad.gray(camera) is camera
    np.testing.assert_array_equal(imgrad.gray(camera[..., None]), camera)
    np.testing.assert_array_equal(imgrad.gray(np.dstack([camera, camera * 0])), camera)
    with pytest.raises(ValueError, match=r"1 \(gray\), 2 \(gray\+alpha\), 3 \(RGB\).*Got 5"):
        imgrad.gray(np.zeros((6, 6, 5), np.uint8))


@pytest.mark.parametrize("sigma", [0.6, 1.0, 1.5, 3.2])
@pytest.mark.parametrize("border", list(SCIPY_MODES))
def test_gaussian_equals_scipy(sigma, border, camera):
    image = camera[:120, :97]
    out = imgrad.gaussian(image, sigma, border=border, cval=11.0)
    assert out.dtype == np.float32
    ref = ndi.gaussian_filter(
        image.astype(np.float64),
        sigma,
        mode=SCIPY_MODES[border],
        cval=11.0,
        radius=math.ceil(4 * sigma),
    )
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-3)


def test_gaussian_ksize_float64_and_channels(astronaut):
    image = astronaut[:50, :60].astype(np.float64)
    out = imgrad.gaussian(image, 2.0, ksize=5)
    assert out.dtype == np.float64 and out.shape == image.shape
    for c in range(3):
        ref = ndi.gaussian_filter(image[..., c], 2.0, mode="mirror", radius=2)
        np.testing.assert_allclose(out[..., c], ref, rtol=1e-12, atol=1e-9)


def test_gaussian_keeps_fractions(camera):
    """Nothing is rounded before differentiating: a float32 result of uint8 input."""
    out = imgrad.gaussian(camera, 1.0)
    assert np.any(out != np.round(out))


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"sigma": 0}, ValueError, ["'sigma'", "> 0", "Got 0"]),
        ({"sigma": -1.0}, ValueError, ["'sigma'"]),
        ({"sigma": "1"}, TypeError, ["'sigma'", "'1'"]),
        ({"sigma": 1.0, "ksize": 4}, ValueError, ["'ksize'", "odd", "Got 4"]),
        ({"sigma": 1.0, "border": "mirror"}, ValueError, ["'border'", "'mirror'"]),
    ],
)
def test_gaussian_bad_parameters(kwargs, exc, words, camera):
    with pytest.raises(exc) as info:
        imgrad.gaussian(camera, **kwargs)
    assert all(w in str(info.value) for w in words)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
@pytest.mark.parametrize("sigma", [0.7, 1.3, 2.0, 5.0])
def test_gaussian_keeps_a_flat_image_exactly_flat(dtype, sigma):
    value = {"uint8": 137, "uint16": 40001}.get(dtype, 0.1234567)
    for width in (1, 7, 64, 127, 129, 257):
        image = np.full((9, width), value, dtype=dtype)
        for border in ("reflect101", "reflect", "replicate", "constant", "wrap"):
            cval = float(image.flat[0]) if border == "constant" else 0.0
            out = imgrad.gaussian(image, sigma, border=border, cval=cval)
            if dtype == "float64":  # no wider type to sum in: within a few ulps
                np.testing.assert_array_max_ulp(out, image, maxulp=4)
            else:
                assert np.all(out == out.dtype.type(image.flat[0])), (width, border)


def test_smoothed_flat_image_has_zero_gradient_and_phase():
    image = np.full((120, 161, 3), 137, np.uint8)
    planes = imgrad.Pipeline.parse("gray | gaussian sigma=1.3 | sobel | polar degrees=true")(image)
    assert not np.any(planes["magnitude"]) and not np.any(planes["phase"])
