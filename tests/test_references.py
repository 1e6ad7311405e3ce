"""imgrad against reference data from real peer tools.

``tests/references/`` holds results of GNU Octave's image package
(``imgradientxy``, ``imgradient``) and of ImageMagick 6 (``-morphology EdgeIn``,
``EdgeOut``, ``Edge``) computed on crops of the photos in ``samples/``;
``tests/references/make_references.sh`` regenerates them and
``tests/references/README.md`` records the tool versions, the commands and the
conventions. The "live" tests at the end run the real ImageMagick on random
images and skip only when no ImageMagick is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imgrad

REFERENCES = Path(__file__).parent / "references"
SAMPLES = Path(__file__).parent.parent / "samples"
GRAY_CROPS = ("camera", "coins")
# name -> (sample file, first row, first column, height, width); see make_references.sh.
CROPS = {
    "camera": ("camera.png", 64, 184, 96, 128),
    "coins": ("coins.png", 24, 32, 96, 128),
    "astronaut": ("astronaut.png", 96, 176, 64, 80),
}
DERIVATIVES = ("sobel", "prewitt", "central", "intermediate")
# Float64 results computed by a different summation order: equal up to rounding.
RTOL, ATOL = 1e-6, 1e-9
# ImageMagick kernel -> imgrad footprint and size (Square:r and Diamond:r reach r pixels).
KERNELS = {
    "Square:1": ("rect", 3),
    "Square:2": ("rect", 5),
    "Diamond:1": ("diamond", 3),
    "Diamond:2": ("diamond", 5),
}
KINDS = {"EdgeIn": "internal", "EdgeOut": "external", "Edge": "basic"}


def read_png(path: Path) -> np.ndarray:
    """Pixels of a PNG as stored (8-bit gray -> (H, W), RGB -> (H, W, 3), 16-bit -> uint16)."""
    with Image.open(path) as im:
        return np.asarray(im).copy()


def crop(name: str) -> np.ndarray:
    return read_png(REFERENCES / f"{name}_crop.png")


@pytest.fixture(scope="module")
def octave():
    with np.load(REFERENCES / "octave.npz") as data:
        return dict(data)


def as_octave_input(name: str) -> np.ndarray:
    """The crop as Octave's ``im2double`` sees it: float64 in [0, 1]."""
    return crop(name).astype(np.float64) / 255


# --- the reference files themselves ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CROPS))
def test_crops_are_pixels_of_the_samples(name):
    sample, row, col, height, width = CROPS[name]
    expected = read_png(SAMPLES / sample)[row : row + height, col : col + width]
    got = crop(name)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_imagemagick_outputs_are_8_bit_and_keep_the_colour_type():
    files = sorted((REFERENCES / "imagemagick").glob("*.png"))
    assert len(files) == len(CROPS) * len(KINDS) * len(KERNELS)
    for path in files:
        with Image.open(path) as im:
            expected = "RGB" if path.name.startswith("astronaut") else "L"
            assert im.mode == expected, path.name


def _correlate_zero_padded(image, kernel, anchor):
    """Plain correlation, zero outside the image; `anchor` is the kernel's (row, col) origin."""
    height, width = image.shape
    (kh, kw), (ay, ax) = kernel.shape, anchor
    padded = np.pad(image, [(ay, kh - 1 - ay), (ax, kw - 1 - ax)])
    out = np.zeros_like(image)
    for i, j in np.ndindex(kernel.shape):
        out += kernel[i, j] * padded[i : i + height, j : j + width]
    return out


# Octave's kernels in correlation form with x along columns: a ramp increasing to the right
# gives a positive gx and one increasing downwards a positive gy (README.md, "Conventions").
OCTAVE_X_KERNELS = {
    "sobel": (np.outer([1, 2, 1], [-1, 0, 1]).astype(float), (1, 1)),
    "prewitt": (np.outer([1, 1, 1], [-1, 0, 1]).astype(float), (1, 1)),
    "central": (np.array([[-0.5, 0.0, 0.5]]), (0, 1)),
    "intermediate": (np.array([[-1.0, 1.0]]), (0, 0)),
}


@pytest.mark.parametrize("name", GRAY_CROPS)
@pytest.mark.parametrize("method", DERIVATIVES)
def test_octave_reference_follows_the_documented_conventions(octave, name, method):
    # Pins what README.md states (kernel scale, gy pointing down, zero padding), so that a
    # regenerated reference with other conventions is noticed here and not in imgrad's tests.
    image = as_octave_input(name)
    kernel, (ay, ax) = OCTAVE_X_KERNELS[method]
    gx = _correlate_zero_padded(image, kernel, (ay, ax))
    gy = _correlate_zero_padded(image, kernel.T, (ax, ay))
    np.testing.assert_allclose(octave[f"{name}_{method}_gx"], gx, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(octave[f"{name}_{method}_gy"], gy, rtol=RTOL, atol=ATOL)


# --- Octave: derivatives -------------------------------------------------------------------


@pytest.mark.parametrize("name", GRAY_CROPS)
@pytest.mark.parametrize("method", DERIVATIVES)
def test_derivatives_equal_octave_imgradientxy_on_the_whole_image(octave, name, method):
    # Octave 7's imgradientxy is conv2(I, kernel, "same"): zero padding, which is imgrad's
    # border="constant" with cval=0. With it the two agree on every pixel, borders included.
    g = getattr(imgrad, method)(as_octave_input(name), border="constant", cval=0.0)
    assert g.gx.dtype == g.gy.dtype == np.float64
    np.testing.assert_allclose(g.gx, octave[f"{name}_{method}_gx"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(g.gy, octave[f"{name}_{method}_gy"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", GRAY_CROPS)
@pytest.mark.parametrize("method", DERIVATIVES)
@pytest.mark.parametrize("border", ["reflect101", "reflect", "replicate", "wrap"])
def test_derivatives_equal_octave_imgradientxy_in_the_interior(octave, name, method, border):
    # Every kernel reaches one pixel, so only the outermost rows and columns depend on how the
    # border is made up (Octave: zeros). Inside that frame all border modes must agree.
    g = getattr(imgrad, method)(as_octave_input(name), border=border)
    inner = (slice(1, -1), slice(1, -1))
    gx, gy = octave[f"{name}_{method}_gx"], octave[f"{name}_{method}_gy"]
    np.testing.assert_allclose(g.gx[inner], gx[inner], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(g.gy[inner], gy[inner], rtol=RTOL, atol=ATOL)
    # The frame really differs from Octave's zero padding for these borders: the comparison
    # above is restricted for a reason, not by habit.
    assert not np.allclose(g.gx, gx, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", GRAY_CROPS)
@pytest.mark.parametrize("method", DERIVATIVES)
def test_derivatives_of_uint8_are_255_times_octave_on_double(octave, name, method):
    # Octave works on im2double(I) = I / 255; imgrad on the uint8 image gives float32 values
    # 255 times larger (the kernels are not normalised by default).
    g = getattr(imgrad, method)(crop(name), border="constant")
    assert g.gx.dtype == g.gy.dtype == np.float32
    np.testing.assert_allclose(g.gx, 255 * octave[f"{name}_{method}_gx"], rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(g.gy, 255 * octave[f"{name}_{method}_gy"], rtol=1e-6, atol=1e-4)


# --- Octave: magnitude and direction -------------------------------------------------------


@pytest.mark.parametrize("name", GRAY_CROPS)
@pytest.mark.parametrize("method", ["sobel", "prewitt"])
def test_magnitude_equals_octave_imgradient(octave, name, method):
    g = getattr(imgrad, method)(as_octave_input(name), border="constant")
    mag = imgrad.magnitude(g.gx, g.gy)
    assert mag.dtype == np.float64
    np.testing.assert_allclose(mag, octave[f"{name}_{method}_Gmag"], rtol=RTOL, atol=ATOL)


def _angle_difference(a, b):
    """Signed difference of two angles in degrees, folded into [-180, 180)."""
    return (np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0


@pytest.mark.parametrize("name", GRAY_CROPS)
@pytest.mark.parametrize("method", ["sobel", "prewitt"])
@pytest.mark.parametrize(
    ("precise", "atol"),
    # The fast path promises an error under 2e-4 rad; the precise one is float64 arctan2.
    [(True, 1e-9), (False, float(np.degrees(2e-4)))],
)
def test_phase_math_signed_degrees_equals_octave_imgradient(octave, name, method, precise, atol):
    g = getattr(imgrad, method)(as_octave_input(name), border="constant")
    angle = imgrad.phase(
        g.gx, g.gy, convention="math", wrap="signed", degrees=True, precise=precise
    )
    assert angle.dtype == np.float64
    assert angle.min() > -180.0
    assert angle.max() <= 180.0
    # Octave's Gdir is atan2d(-gy, gx) in [-180, 180]: +180 and -180 both occur (the sign of a
    # zero gy decides), hence the comparison modulo 360. Where gx and gy are zero up to
    # rounding (flat areas, |g| ~ 1e-16) the direction is rounding noise in both tools; the
    # smallest real gradient of an 8-bit image is 1/255 (central differences: 1/510).
    gdir, gmag = octave[f"{name}_{method}_Gdir"], octave[f"{name}_{method}_Gmag"]
    defined = gmag > 1e-3
    assert defined.mean() > 0.5  # the comparison covers most of the crop
    np.testing.assert_allclose(_angle_difference(angle, gdir)[defined], 0.0, atol=atol)


# --- ImageMagick: morphological edges, stored references -----------------------------------

# imgrad's default border "ignore" lets no outside pixel take part. ImageMagick's default
# virtual-pixel method "edge" replicates the nearest border pixel instead. For a square or a
# diamond centred on the pixel the two agree: a replicated pixel's value is that of a border
# pixel whose offset is no longer along either axis than the outside position's, so it lies in
# the footprint too and the max/min already includes it. Hence exact agreement everywhere.


@pytest.mark.parametrize("name", sorted(CROPS))
@pytest.mark.parametrize("method", sorted(KINDS))
@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("border", ["ignore", "replicate"])
def test_morph_gradient_equals_imagemagick_morphology(name, method, kernel, border):
    image = crop(name)
    shape, size = KERNELS[kernel]
    stored = REFERENCES / "imagemagick" / f"{name}_{method}_{kernel.replace(':', '')}.png"
    expected = read_png(stored)
    got = imgrad.morph_gradient(image, KINDS[method], footprint=shape, size=size, border=border)
    assert got.dtype == np.uint8
    assert got.shape == image.shape  # colour: RGB in, RGB out, channel by channel
    np.testing.assert_array_equal(got, expected)


# --- ImageMagick: live runs on random images --------------------------------------------------


def find_imagemagick() -> str | None:
    """The first ImageMagick convert command on PATH; stand-ins of other make are refused."""
    for name in ("magick", "convert-im6.q16", "convert"):
        path = shutil.which(name)
        if path is None:
            continue
        try:
            result = subprocess.run(
                [path, "-version"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.startswith("Version: ImageMagick"):
            return path
    return None


@pytest.fixture(scope="module")
def imagemagick():
    path = find_imagemagick()
    if path is None:
        pytest.skip("ImageMagick not found (looked for magick, convert-im6.q16 and convert)")
    return path


def run_imagemagick(convert: str, image: np.ndarray, method: str, kernel: str, tmp: Path):
    """`image` through ``convert -morphology METHOD KERNEL``, same PNG colour type and depth."""
    source, target = tmp / "in.png", tmp / f"{method}_{kernel.replace(':', '_')}.png"
    Image.fromarray(image).save(source)
    bits = 8 * image.dtype.itemsize
    colour_type = "2" if image.ndim == 3 else "0"
    subprocess.run(
        [
            convert,
            str(source),
            "-morphology",
            method,
            kernel,
            "-strip",
            "-depth",
            str(bits),
            "-define",
            f"png:bit-depth={bits}",
            "-define",
            f"png:color-type={colour_type}",
            str(target),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return read_png(target)


LIVE_IMAGES = [
    # (shape, dtype): tiny and one-pixel-wide images, odd and even sizes, colour, 16 bits
    ((1, 1), np.uint8),
    ((1, 9), np.uint8),
    ((9, 1), np.uint8),
    ((2, 3), np.uint8),
    ((6, 5), np.uint8),
    ((23, 31), np.uint8),
    ((7, 10, 3), np.uint8),
    ((13, 11), np.uint16),
]
LIVE_KERNELS = {
    **KERNELS,
    # Rectangle:WxH is W columns by H rows: imgrad's size=(width, height).
    "Rectangle:5x3": ("rect", (5, 3)),
    "Rectangle:3x5": ("rect", (3, 5)),
    "Rectangle:7x1": ("rect", (7, 1)),
    # Plus:r is a cross with arms of r pixels, as cv2.MORPH_CROSS of size 2r+1.
    "Plus:1": ("cross", 3),
    "Plus:2": ("cross", 5),
}


def _random_image(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    image = rng.integers(0, top, size=shape, endpoint=True, dtype=dtype)
    image.flat[0], image.flat[-1] = 0, top  # both extremes present
    return image


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [pytest.param(s, d, id="x".join(map(str, s)) + f"-{np.dtype(d)}") for s, d in LIVE_IMAGES],
)
def test_morph_gradient_equals_live_imagemagick(imagemagick, tmp_path, shape, dtype):
    image = _random_image(shape, dtype, seed=sum(shape))
    for kernel, (shape_name, size) in LIVE_KERNELS.items():
        for method, kind in KINDS.items():
            expected = run_imagemagick(imagemagick, image, method, kernel, tmp_path)
            got = imgrad.morph_gradient(image, kind, footprint=shape_name, size=size)
            assert got.dtype == image.dtype
            np.testing.assert_array_equal(got, expected, err_msg=f"{method} {kernel}")


def test_live_imagemagick_input_survives_a_round_trip(imagemagick, tmp_path):
    # A do-nothing run returns the pixels unchanged: no gamma, colourspace or depth change
    # sneaks into the live comparison above.
    for shape, dtype in LIVE_IMAGES:
        image = _random_image(shape, dtype, seed=1)
        same = run_imagemagick(imagemagick, image, "Dilate", "Unity", tmp_path)
        np.testing.assert_array_equal(same, image)
