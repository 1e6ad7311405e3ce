"""Canny edges against cv2.Canny, on photographs and on a disc."""

from __future__ import annotations

import doctest
import importlib

import cv2
import numpy as np
import pytest

from imgrad.features import canny

canny_module = importlib.import_module("imgrad.features.canny")

#: Thresholds giving comparable edge maps of a photo for each aperture (the
#: larger Sobel kernels have larger gains).
THRESHOLDS = {3: (50.0, 150.0), 5: (400.0, 1200.0), 7: (3000.0, 9000.0)}
APERTURES = (3, 5, 7)


@pytest.fixture(scope="module")
def photos(samples_dir, camera, astronaut):
    coins = cv2.imread(str(samples_dir / "coins.png"), cv2.IMREAD_GRAYSCALE)
    rocket = cv2.cvtColor(cv2.imread(str(samples_dir / "rocket.jpg")), cv2.COLOR_BGR2RGB)
    # Crops of odd sizes, grey and colour.
    return {
        "camera": camera[20:331, 11:420],
        "coins": coins,
        "astronaut": astronaut[50:301, 40:333],
        "rocket": rocket[:301, 100:501],
    }


def disc(size=129, radius=40.0, value=200, dtype=np.uint8) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2
    inside = (yy - centre) ** 2 + (xx - centre) ** 2 <= radius**2
    return (inside * value).astype(dtype)


# --- numerical correctness ------------------------------------------------------------------


@pytest.mark.parametrize("aperture", APERTURES)
@pytest.mark.parametrize("l2", [False, True])
def test_uint8_equals_opencv_bit_for_bit(photos, aperture, l2):
    low, high = THRESHOLDS[aperture]
    for name, image in photos.items():
        for scale in (0.5, 1.0, 1.7):
            expected = cv2.Canny(image, low * scale, high * scale, None, aperture, l2)
            got = canny(image, low * scale, high * scale, aperture=aperture, l2=l2)
            assert got.dtype == np.uint8 and got.shape == image.shape[:2]
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} x{scale}")


@pytest.mark.parametrize("aperture", [3, 5])
@pytest.mark.parametrize("l2", [False, True])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_other_dtypes_holding_uint8_values_equal_opencv(photos, aperture, l2, dtype):
    """The NumPy algorithm (uint16, float) is OpenCV's: the same edges, bit for bit,
    on images that hold uint8 values, with thresholds in the image's units."""
    low, high = THRESHOLDS[aperture]
    for name, image in photos.items():
        expected = cv2.Canny(image, low, high, None, aperture, l2)
        scale = 257 if dtype == np.uint16 else 1
        scaled = image.astype(dtype) * scale
        got = canny(scaled, low * scale, high * scale, aperture=aperture, l2=l2)
        np.testing.assert_array_equal(got, expected, err_msg=name)


@pytest.mark.parametrize("l2", [False, True])
def test_aperture_7_of_other_dtypes_is_opencvs_but_for_its_rounding(photos, l2):
    """OpenCV rounds its 7x7 derivatives divided by 16; exact derivatives move a few pixels."""
    low, high = THRESHOLDS[7]
    for name, image in photos.items():
        expected = cv2.Canny(image, low, high, None, 7, l2)
        got = canny(image.astype(np.float32), low, high, aperture=7, l2=l2)
        differ = np.count_nonzero(got != expected)
        assert differ <= 0.02 * np.count_nonzero(expected), name


def test_float_images_in_0_1_take_thresholds_divided_by_255(photos):
    """The same edges but where dividing by 255 rounds two equal magnitudes apart."""
    for name, image in photos.items():
        expected = cv2.Canny(image, 60, 140, L2gradient=True)
        for dtype in (np.float32, np.float64):
            got = canny(image.astype(dtype) / 255, 60 / 255, 140 / 255)
            differ = np.count_nonzero(got != expected)
            assert differ <= 0.002 * np.count_nonzero(expected), (name, dtype)


def test_a_disc_gives_a_closed_circle():
    for dtype, value in ((np.uint8, 200), (np.uint16, 50000), (np.float32, 0.8)):
        image = disc(value=value, dtype=dtype)
        scale = value / 200
        edges = canny(image, 100 * scale, 300 * scale)
        on = np.argwhere(edges == 255)
        radii = np.hypot(*(on - 64).T)
        assert 38 <= radii.min() and radii.max() <= 41, dtype
        # Closed: the rest of the image splits into exactly two 4-connected parts.
        count, _ = cv2.connectedComponents((edges == 0).view(np.uint8), connectivity=4)
        assert count - 1 == 2, dtype
        # Thin: never a full 2x2 square of edge pixels.
        square = edges[:-1, :-1] & edges[1:, :-1] & edges[:-1, 1:] & edges[1:, 1:]
        assert not square.any(), dtype


def test_flat_and_constant_images_have_no_edges():
    for dtype in (np.uint8, np.uint16, np.float32, np.float64):
        assert not canny(np.full((20, 30), 9, dtype), 0, 0).any()


def test_colour_uses_the_strongest_channel(photos):
    image = photos["astronaut"]
    for dtype in (np.uint16, np.float64):
        got = canny(image.astype(dtype), 50, 150, l2=False)
        np.testing.assert_array_equal(got, cv2.Canny(image, 50, 150))
    only_red = image.copy()
    only_red[..., 1:] = 0
    np.testing.assert_array_equal(
        canny(only_red, 50, 150), canny(np.ascontiguousarray(image[..., 0]), 50, 150)
    )


def test_one_channel_equals_gray(photos):
    image = photos["coins"]
    for dtype in (np.uint8, np.float32):
        x = image.astype(dtype)
        np.testing.assert_array_equal(canny(x[..., None], 40, 120), canny(x, 40, 120))


def test_input_is_never_modified_and_views_work(photos):
    for image in (photos["camera"], photos["rocket"], photos["camera"].astype(np.float32)):
        frozen = image.copy()
        frozen.flags.writeable = False
        canny(frozen, 50, 150)
        np.testing.assert_array_equal(frozen, image)
        view = image[::2, ::-1]
        np.testing.assert_array_equal(canny(view, 50, 150), canny(view.copy(), 50, 150))


# --- exceptions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "words"),
    [
        ((150, 50), {}, ValueError, r"'low' parameter of canny must be a number <= high \(50\)"),
        ((-1, 50), {}, ValueError, "'low' parameter of canny must be a number >= 0"),
        ((0, -1), {}, ValueError, "'high' parameter of canny must be a number >= 0"),
        ((0, float("inf")), {}, ValueError, "'high' parameter of canny"),
        (("1", 50), {}, TypeError, "'low' parameter of canny"),
        ((10, 50), {"aperture": 4}, ValueError, "'aperture' parameter of canny"),
        ((10, 50), {"aperture": 9}, ValueError, "'aperture' parameter of canny"),
        ((10, 50), {"aperture": 1}, ValueError, "'aperture' parameter of canny"),
        ((10, 50), {"aperture": 3.0}, TypeError, "'aperture' parameter of canny"),
        ((10, 50), {"l2": 1}, TypeError, "'l2' parameter of canny"),
    ],
)
def test_bad_parameters_are_named(args, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        canny(disc(), *args, **kwargs)


def test_bad_images_are_named():
    with pytest.raises(TypeError, match="'image' parameter of canny"):
        canny(np.zeros((9, 9), np.int32), 1, 2)
    with pytest.raises(ValueError, match="'image' parameter of canny"):
        canny(np.zeros((2, 9, 9, 1), np.uint8), 1, 2)


def test_docstring_examples_run():
    result = doctest.testmod(
        canny_module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, report=False
    )
    assert result.failed == 0 and result.attempted >= 2
