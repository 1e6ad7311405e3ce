"""Tests for imgrad.morphology: smoke, exceptions, shape and dtype, numerical correctness.

The references are independent of imgrad: a plain NumPy definition of grey
dilation and erosion, scipy.ndimage, OpenCV (the classic recipe
``cv2.morphologyEx(img, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))``) and
scikit-image's footprints.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from skimage.morphology import diamond

import imgrad
from imgrad import _morph_strips, morphology

SAMPLES = Path(__file__).parent.parent / "samples"
DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
KINDS = ("basic", "internal", "external")
BORDERS = ("ignore", "reflect101", "reflect", "replicate", "constant", "wrap")
# imgrad's border names (OpenCV's meaning) -> np.pad modes.
NP_PAD = {"reflect101": "reflect", "reflect": "symmetric", "replicate": "edge", "wrap": "wrap"}
# imgrad's border names -> scipy.ndimage modes.
NDI_MODE = {
    "reflect101": "mirror",
    "reflect": "reflect",
    "replicate": "nearest",
    "wrap": "wrap",
    "constant": "constant",
}
CV_SHAPES = {"rect": cv2.MORPH_RECT, "ellipse": cv2.MORPH_ELLIPSE, "cross": cv2.MORPH_CROSS}


# --- the NumPy reference ---------------------------------------------------------------------


def _never_wins(dtype, op):
    """A value that max (op=np.maximum) or min (np.minimum) never picks: border "ignore"."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.min if op is np.maximum else info.max
    return -np.inf if op is np.maximum else np.inf


def ref_morph(image, fp, op, border="ignore", cval=0.0, iterations=1):
    """Grey dilation (op=np.maximum) or erosion (np.minimum) by definition.

    The output pixel (y, x) takes the max/min of image[y + i - ay, x + j - ax] over the
    footprint's non-zero (i, j), anchor (ay, ax) = (h // 2, w // 2) as OpenCV's default
    (the footprint is not reflected, as in OpenCV). Applied `iterations` times, the border
    made up again each time.
    """
    fp = np.asarray(fp).astype(bool)
    (h, w), (height, width) = fp.shape, image.shape[:2]
    ay, ax = h // 2, w // 2
    widths = [(ay, h - 1 - ay), (ax, w - 1 - ax)] + [(0, 0)] * (image.ndim - 2)
    out = image
    for _ in range(iterations):
        if border == "ignore":
            padded = np.pad(out, widths, constant_values=_never_wins(out.dtype, op))
        elif border == "constant":
            padded = np.pad(out, widths, constant_values=cval)
        else:
            padded = np.pad(out, widths, mode=NP_PAD[border])
        windows = [
            padded[i : i + height, j : j + width] for i, j in zip(*np.nonzero(fp), strict=True)
        ]
        out = op.reduce(windows)
    return out


def gradient_dtype(dtype):
    """The dtype of a gradient: the image's, but uint16 for int16 (differences of int16
    range over 0..65535)."""
    return np.dtype(np.uint16 if dtype == np.int16 else dtype)


def clipped_difference(a, b):
    """a - b, clipped at 0 (and at the integer maximum), in a gradient's dtype."""
    if np.issubdtype(a.dtype, np.integer):
        diff = a.astype(np.int64) - b.astype(np.int64)
        dtype = gradient_dtype(a.dtype)
        return np.clip(diff, 0, np.iinfo(dtype).max).astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # -inf - x where nothing took part
        return np.maximum(np.subtract(a, b), 0)


def opencv_gradients(image, dilated, eroded):
    """The three gradients from OpenCV's dilation and erosion, clipped at 0."""
    return {
        "basic": clipped_difference(dilated, eroded),
        "internal": clipped_difference(image, eroded),
        "external": clipped_difference(dilated, image),
    }


def ref_gradient(image, kind, fp, **kw):
    if kind == "basic":
        return clipped_difference(
            ref_morph(image, fp, np.maximum, **kw), ref_morph(image, fp, np.minimum, **kw)
        )
    if kind == "internal":
        return clipped_difference(image, ref_morph(image, fp, np.minimum, **kw))
    return clipped_difference(ref_morph(image, fp, np.maximum, **kw), image)


def random_image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype) * 50


def read_sample(name):
    with Image.open(SAMPLES / name) as im:
        return np.asarray(im).copy()


# --- smoke -----------------------------------------------------------------------------------


def test_smoke_defaults_on_a_sample_photo():
    image = read_sample("camera.png")
    out = imgrad.morph_gradient(image)
    assert out.shape == image.shape
    assert out.dtype == np.uint8
    assert 0 < out.mean() < 255


def test_bright_pixel_spreads_to_the_footprint():
    image = np.zeros((7, 9), np.uint8)
    image[3, 4] = 200
    external = imgrad.morph_gradient(image, "external", footprint="cross", size=5)
    expected = cv2.getStructuringElement(cv2.MORPH_CROSS, (5, 5)) * 200
    expected[2, 2] = 0  # the pixel itself: dilation - image = 0
    np.testing.assert_array_equal(external[1:6, 2:7], expected)
    assert external.sum() == expected.sum()  # nothing outside the footprint


# --- the seed recipe -------------------------------------------------------------------------


def _recipe_inputs():
    for name in ("camera.png", "coins.png", "astronaut.png", "chelsea.png", "rocket.jpg"):
        image = read_sample(name)
        yield f"{name}-uint8", image
        yield f"{name}-uint16", image.astype(np.uint16) * 257 + np.uint16(3)
        yield f"{name}-float32", image.astype(np.float32) / 255
    yield "coffee.png-float64", read_sample("coffee.png").astype(np.float64) / 255 - 0.5


RECIPE_INPUTS = dict(_recipe_inputs())


@pytest.mark.parametrize("name", sorted(RECIPE_INPUTS))
def test_defaults_reproduce_the_opencv_recipe_exactly(name):
    image = RECIPE_INPUTS[name]
    expected = cv2.morphologyEx(image, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    got = imgrad.morph_gradient(image)
    assert got.dtype == image.dtype
    np.testing.assert_array_equal(got, expected)  # borders included


# --- footprints -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(CV_SHAPES))
@pytest.mark.parametrize("size", [1, 3, 5, 7, 11, (3, 5), (5, 3), (7, 3), (1, 5), (9, 1)])
def test_named_footprints_equal_opencv_structuring_elements(shape, size):
    width, height = (size, size) if isinstance(size, int) else size
    expected = cv2.getStructuringElement(CV_SHAPES[shape], (width, height))
    got = imgrad.footprint(shape, size)
    assert got.dtype == np.uint8
    assert got.shape == (height, width)  # size is (width, height): width counts columns
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9, 15])
def test_diamond_equals_skimage_diamond(size):
    got = imgrad.footprint("diamond", size)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, diamond(size // 2))


NAMED_FOOTPRINTS = [
    *((shape, size) for shape in sorted(CV_SHAPES) for size in (3, 5, (7, 3), (3, 7))),
    ("diamond", 3),
    ("diamond", 5),  # a diamond is square
]


@pytest.mark.parametrize(("shape", "size"), NAMED_FOOTPRINTS)
@pytest.mark.parametrize("kind", KINDS)
def test_named_footprint_gradient_equals_reference(shape, size, kind):
    width, height = (size, size) if isinstance(size, int) else size
    fp = (
        diamond(width // 2)
        if shape == "diamond"
        else cv2.getStructuringElement(CV_SHAPES[shape], (width, height))
    )
    image = random_image((19, 23), np.uint8, seed=width * 10 + height)
    got = imgrad.morph_gradient(image, kind, footprint=shape, size=size)
    np.testing.assert_array_equal(got, ref_gradient(image, kind, fp))


def test_size_is_width_then_height():
    # A horizontal segment of width 5 spreads a dot along the row (x), not the column.
    image = np.zeros((9, 9), np.uint8)
    image[4, 4] = 100
    out = imgrad.morph_gradient(image, "external", footprint="rect", size=(5, 1))
    expected = np.zeros_like(image)
    expected[4, 2:7] = 100
    expected[4, 4] = 0
    np.testing.assert_array_equal(out, expected)


FOOTPRINT_ARRAYS = {
    "2x2": np.ones((2, 2), np.uint8),
    "4x2-bool": np.array([[1, 0], [1, 1], [0, 1], [1, 0]], bool),
    "2x3": np.array([[0, 1, 1], [1, 0, 1]], np.uint8),
    "1x4": np.array([[1, 1, 0, 1]], np.int64),
    "3x3-L": np.array([[1, 0, 0], [1, 0, 0], [1, 1, 1]], np.uint8),
    "5x5-ring": (
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)) - np.pad([[1]], 2).astype(np.uint8)
    ),
    "6x1-float": np.array([[1.0], [0.0], [1.0], [1.0], [0.0], [1.0]]),
}


@pytest.mark.parametrize("name", sorted(FOOTPRINT_ARRAYS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_footprint_arrays_equal_opencv_dilate_and_erode(name, dtype):
    fp = FOOTPRINT_ARRAYS[name]
    image = random_image((15, 12), dtype, seed=len(name))
    kernel = fp.astype(np.uint8)
    dilated, eroded = cv2.dilate(image, kernel), cv2.erode(image, kernel)
    # Differences clipped at 0: with a footprint that misses its centre, dilation can be
    # below the image and erosion above it.
    expected = opencv_gradients(image, dilated, eroded)
    for kind in KINDS:
        got = imgrad.morph_gradient(image, kind, footprint=fp)
        np.testing.assert_array_equal(got, expected[kind], err_msg=kind)
        np.testing.assert_array_equal(got, ref_gradient(image, kind, fp), err_msg=kind)


@pytest.mark.parametrize("name", ["3x3-L", "2x2", "2x3"])
@pytest.mark.parametrize("border", ["ignore", "replicate"])
def test_footprint_arrays_are_used_as_opencv_does_not_reflected(name, border):
    # The convention of the docstring: out[y, x] = max (min) of image[y + i - h // 2,
    # x + j - w // 2] over the footprint's (i, j); even sizes too.
    fp = FOOTPRINT_ARRAYS[name]
    h, w = fp.shape
    image = random_image((19, 23), np.uint8, seed=23)
    cv_kw = {} if border == "ignore" else {"borderType": cv2.BORDER_REPLICATE}
    dilated, eroded = cv2.dilate(image, fp, **cv_kw), cv2.erode(image, fp, **cv_kw)
    np.testing.assert_array_equal(morphology.dilate(image, fp, 1, border), dilated)
    np.testing.assert_array_equal(morphology.erode(image, fp, 1, border), eroded)
    for kind in KINDS:
        np.testing.assert_array_equal(
            imgrad.morph_gradient(image, kind, footprint=fp, border=border),
            opencv_gradients(image, dilated, eroded)[kind],
        )
    if border == "ignore":  # a bright pixel spreads where the footprint, anchored, reads it
        dot = np.zeros((7, 7), np.uint8)
        dot[3, 3] = 9
        spread = np.zeros_like(dot)
        for i, j in zip(*np.nonzero(fp), strict=True):
            spread[3 - i + h // 2, 3 - j + w // 2] = 9
        np.testing.assert_array_equal(morphology.dilate(dot, fp), spread)
        return
    # scipy.ndimage reflects the footprint for dilation (and, for even sizes, anchors the
    # reflected one at ((h - 1) // 2, (w - 1) // 2)); its erosion is the same as here.
    mode = {"footprint": fp.astype(bool), "mode": "nearest"}
    np.testing.assert_array_equal(ndi.grey_erosion(image, **mode), eroded)
    reflected = np.ascontiguousarray(fp[::-1, ::-1])
    if h % 2 and w % 2:
        np.testing.assert_array_equal(
            ndi.grey_dilation(image, **mode), morphology.dilate(image, reflected, 1, border)
        )
    else:
        assert not np.array_equal(ndi.grey_dilation(image, **mode), dilated)
    np.testing.assert_array_equal(
        ndi.grey_dilation(image, **mode),
        cv2.dilate(image, reflected, anchor=((w - 1) // 2, (h - 1) // 2), **cv_kw),
    )


def test_footprint_array_ignores_size_and_is_returned_as_uint8():
    fp = np.array([[True, False], [True, True]])
    got = imgrad.footprint(fp)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, fp.astype(np.uint8))
    image = random_image((8, 8), np.uint8)
    np.testing.assert_array_equal(
        imgrad.morph_gradient(image, footprint=fp, size=7),
        ref_gradient(image, "basic", fp),
    )


# --- dtypes, channels, borders, iterations ----------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("border", BORDERS)
def test_every_dtype_kind_and_border_equals_reference(dtype, kind, border):
    image = random_image((17, 14), dtype, seed=3)
    cval = 7.0 if np.issubdtype(dtype, np.integer) else 0.5
    fp = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 3))
    got = imgrad.morph_gradient(
        image, kind, footprint="ellipse", size=(5, 3), border=border, cval=cval
    )
    assert got.dtype == gradient_dtype(image.dtype)
    assert got.shape == image.shape
    np.testing.assert_array_equal(got, ref_gradient(image, kind, fp, border=border, cval=cval))


@pytest.mark.parametrize("border", sorted(NDI_MODE))
def test_int16_gradients_are_uint16_exact_and_never_saturated(border):
    # A CT scan: differences of int16 range over 0..65535, which int16 cannot hold.
    image = random_image((41, 37), np.int16, seed=21)
    image[0, :3] = [-32768, 32767, -32768]  # the whole range inside one footprint
    fp = diamond(2).astype(bool)
    mode = {"mode": NDI_MODE[border], "cval": -1000.0}
    dilated = ndi.grey_dilation(image, footprint=fp, **mode).astype(np.int32)
    eroded = ndi.grey_erosion(image, footprint=fp, **mode).astype(np.int32)
    expected = {
        "basic": dilated - eroded,
        "internal": image.astype(np.int32) - eroded,
        "external": dilated - image.astype(np.int32),
    }
    kw = {"footprint": "diamond", "size": 5, "border": border, "cval": -1000.0}
    for kind in KINDS:
        got = imgrad.morph_gradient(image, kind, **kw)
        assert got.dtype == np.uint16, kind
        np.testing.assert_array_equal(got.astype(np.int32), expected[kind], err_msg=kind)
    assert imgrad.morph_gradient(image, **kw).max() == 65535
    # Dilation and erosion themselves are exact in int16.
    fp = fp.astype(np.uint8)
    for helper, reference in ((morphology.dilate, dilated), (morphology.erode, eroded)):
        result = helper(image, fp, 1, border, -1000.0)
        assert result.dtype == np.int16
        np.testing.assert_array_equal(result, reference)


def test_int16_gradients_write_into_uint16_buffers_and_pipelines():
    image = random_image((300, 64, 3), np.int16, seed=22)
    buffer = np.empty(image.shape, np.uint16)
    assert imgrad.morph_gradient(image, "internal", out=buffer) is buffer
    with pytest.raises(ValueError, match="dtype uint16"):
        imgrad.morph_gradient(image, out=np.empty(image.shape, np.int16))
    pipe = imgrad.Pipeline.parse("morph kind=external footprint=ellipse size=7 | sobel")
    from imgrad.execute import run_fused, run_reference

    fused, reference = run_fused(pipe, image, rows=16, workers=2), run_reference(pipe, image)
    for name in reference:
        np.testing.assert_array_equal(fused[name], reference[name])
    planes = imgrad.Pipeline.parse("morph").map(np.stack([image[:40], image[40:80]]))
    assert planes["morph"].dtype == np.uint16
    np.testing.assert_array_equal(planes["morph"][1], imgrad.morph_gradient(image[40:80]))


@pytest.mark.parametrize("border", sorted(NDI_MODE))
@pytest.mark.parametrize("dtype", DTYPES)
def test_dilation_and_erosion_equal_scipy_for_symmetric_footprints(border, dtype):
    # scipy.ndimage reflects the footprint for dilation; symmetric footprints make that moot.
    image = random_image((16, 21), dtype, seed=5)
    cval = 9.0
    fp = diamond(2).astype(bool)
    mode = {"mode": NDI_MODE[border], "cval": cval}
    dilated = ndi.grey_dilation(image, footprint=fp, **mode)
    eroded = ndi.grey_erosion(image, footprint=fp, **mode)
    kw = {"footprint": "diamond", "size": 5, "border": border, "cval": cval}
    np.testing.assert_array_equal(
        imgrad.morph_gradient(image, "basic", **kw), clipped_difference(dilated, eroded)
    )
    np.testing.assert_array_equal(
        imgrad.morph_gradient(image, "internal", **kw), clipped_difference(image, eroded)
    )
    np.testing.assert_array_equal(
        imgrad.morph_gradient(image, "external", **kw), clipped_difference(dilated, image)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_ignore_equals_scipy_with_a_neutral_constant(dtype):
    # "ignore": outside pixels take no part, as padding with a value that never wins.
    image = random_image((11, 13), dtype, seed=6)
    fp = np.ones((3, 5), bool)
    dilated = ndi.grey_dilation(
        image, footprint=fp, mode="constant", cval=_never_wins(dtype, np.maximum)
    )
    eroded = ndi.grey_erosion(
        image, footprint=fp, mode="constant", cval=_never_wins(dtype, np.minimum)
    )
    got = imgrad.morph_gradient(image, footprint="rect", size=(5, 3))
    np.testing.assert_array_equal(got, clipped_difference(dilated, eroded))


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_channels_are_processed_independently(channels, dtype):
    image = random_image((10, 9, channels), dtype, seed=channels)
    for kind, border in [("basic", "ignore"), ("internal", "reflect"), ("external", "wrap")]:
        kw = {"footprint": "cross", "size": 3, "border": border}
        got = imgrad.morph_gradient(image, kind, **kw)
        assert got.shape == image.shape
        assert got.dtype == gradient_dtype(image.dtype)
        fp = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
        np.testing.assert_array_equal(got, ref_gradient(image, kind, fp, border=border))
        for c in range(channels):
            plane = np.ascontiguousarray(image[..., c])
            np.testing.assert_array_equal(got[..., c], imgrad.morph_gradient(plane, kind, **kw))


@pytest.mark.parametrize("iterations", [1, 2, 3])
@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("shape", ["rect", "cross"])
def test_iterations_apply_dilation_and_erosion_n_times(iterations, border, shape):
    image = random_image((20, 17), np.uint8, seed=iterations)
    fp = cv2.getStructuringElement(CV_SHAPES[shape], (3, 3))
    for kind in KINDS:
        got = imgrad.morph_gradient(
            image, kind, footprint=shape, iterations=iterations, border=border, cval=40.0
        )
        expected = ref_gradient(image, kind, fp, border=border, cval=40.0, iterations=iterations)
        np.testing.assert_array_equal(got, expected, err_msg=kind)


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_iterations_with_ignore_equal_opencv(iterations):
    image = random_image((20, 17, 3), np.uint16, seed=iterations)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    expected = cv2.morphologyEx(image, cv2.MORPH_GRADIENT, kernel, iterations=iterations)
    got = imgrad.morph_gradient(image, footprint="ellipse", size=5, iterations=iterations)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (2, 2), (3, 2)])
@pytest.mark.parametrize("border", BORDERS)
def test_images_smaller_than_the_footprint(shape, border):
    image = random_image(shape, np.float32, seed=sum(shape))
    fp = np.ones((5, 7), np.uint8)
    for kind in KINDS:
        got = imgrad.morph_gradient(image, kind, footprint="rect", size=(7, 5), border=border)
        np.testing.assert_array_equal(
            got, ref_gradient(image, kind, fp, border=border), err_msg=kind
        )


# --- input handling ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_is_not_modified(dtype):
    image = random_image((12, 10, 3), dtype, seed=8)
    before = image.copy()
    for kind in KINDS:
        imgrad.morph_gradient(image, kind, iterations=2, border="wrap")
    np.testing.assert_array_equal(image, before)


def test_read_only_input_works():
    image = random_image((12, 10), np.uint8, seed=9)
    image.flags.writeable = False
    np.testing.assert_array_equal(
        imgrad.morph_gradient(image), ref_gradient(image, "basic", np.ones((3, 3)))
    )


def test_non_contiguous_views_work():
    base = random_image((30, 40, 4), np.float32, seed=10)
    for view in (base[::2, ::-3], base[..., 1:3], np.asfortranarray(base[..., 0])):
        got = imgrad.morph_gradient(view, "internal")
        np.testing.assert_array_equal(got, ref_gradient(view, "internal", np.ones((3, 3))))


# --- properties -----------------------------------------------------------------------------

images = st.sampled_from([np.uint8, np.uint16, np.int16]).flatmap(
    lambda dtype: arrays(dtype, st.tuples(st.integers(1, 12), st.integers(1, 12)))
)
centred_footprints = st.sampled_from(["rect", "ellipse", "cross", "diamond"])
sizes = st.sampled_from([1, 3, 5])
borders = st.sampled_from(BORDERS)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


@PROPERTY_SETTINGS
@given(
    image=images,
    shape=centred_footprints,
    size=sizes,
    border=borders,
    iterations=st.integers(1, 3),
)
def test_basic_is_internal_plus_external(image, shape, size, border, iterations):
    # With the centre in the footprint, erosion <= image <= dilation: nothing is clipped and
    # the two halves add up exactly.
    kw = {
        "footprint": shape,
        "size": size,
        "border": border,
        "iterations": iterations,
        "cval": 0.0,
    }
    basic = imgrad.morph_gradient(image, "basic", **kw).astype(np.int64)
    internal = imgrad.morph_gradient(image, "internal", **kw).astype(np.int64)
    external = imgrad.morph_gradient(image, "external", **kw).astype(np.int64)
    np.testing.assert_array_equal(basic, internal + external)
    assert (internal <= image.astype(np.int64) - np.iinfo(image.dtype).min).all()
    assert (external <= np.iinfo(image.dtype).max - image.astype(np.int64)).all()


@PROPERTY_SETTINGS
@given(
    image=arrays(
        np.uint8,
        st.tuples(st.integers(1, 10), st.integers(1, 10)),
        elements=st.sampled_from([0, 255]),
    ),
    kind=st.sampled_from(KINDS),
    shape=centred_footprints,
    border=borders,
)
def test_uint8_extremes_never_wrap(image, kind, shape, border):
    got = imgrad.morph_gradient(image, kind, footprint=shape, size=3, border=border, cval=255)
    fp = diamond(1) if shape == "diamond" else cv2.getStructuringElement(CV_SHAPES[shape], (3, 3))
    np.testing.assert_array_equal(got, ref_gradient(image, kind, fp, border=border, cval=255))
    assert set(np.unique(got)) <= {0, 255}


@PROPERTY_SETTINGS
@given(
    image=arrays(
        np.float32,
        st.tuples(st.integers(1, 10), st.integers(1, 10)),
        elements=st.floats(-1e6, 1e6, width=32),
    ),
    kind=st.sampled_from(KINDS),
    fp=arrays(
        np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 4)), elements=st.integers(0, 1)
    ).filter(lambda a: a.any()),
    border=borders,
)
def test_float_results_are_never_negative_with_any_footprint(image, kind, fp, border):
    got = imgrad.morph_gradient(image, kind, footprint=fp, border=border)
    assert got.dtype == np.float32
    assert (got >= 0).all()
    np.testing.assert_array_equal(got, ref_gradient(image, kind, fp, border=border))


# --- footprints without their centre -----------------------------------------------------------

# Such a footprint does not compare a pixel with itself: the dilation may be below the pixel
# and the erosion above it. Internal and external gradients are then clipped at 0: never
# negative and, for unsigned integers, never wrapped around to large values. Where no pixel
# of the footprint falls inside the image (border "ignore"), nothing takes part and the
# gradient is 0.
OFF_CENTRE = np.array([[1, 0, 0], [0, 0, 0], [0, 0, 1]], np.uint8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("border", BORDERS)
def test_footprint_without_centre_clips_at_zero(dtype, border):
    image = random_image((9, 11), dtype, seed=11)
    for kind in KINDS:
        got = imgrad.morph_gradient(image, kind, footprint=OFF_CENTRE, border=border)
        expected = ref_gradient(image, kind, OFF_CENTRE, border=border)
        np.testing.assert_array_equal(got, expected, err_msg=kind)
        assert (got >= 0).all()
    # Some pixels really are clipped: the test exercises what it documents.
    eroded = ref_morph(image, OFF_CENTRE, np.minimum, border=border)
    assert (eroded > image).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_footprint_reaching_only_outside_gives_zero_without_warnings(dtype, kind):
    # The only offset is one column to the left: the first column sees nothing inside.
    fp = np.array([[1, 0, 0]], np.uint8)
    image = random_image((4, 5), dtype, seed=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = imgrad.morph_gradient(image, kind, footprint=fp)
    np.testing.assert_array_equal(got[:, 0], np.zeros(4, dtype))
    np.testing.assert_array_equal(got, ref_gradient(image, kind, fp))


# --- exceptions -----------------------------------------------------------------------------

IMAGE = np.zeros((5, 5), np.uint8)

BAD_ARGUMENTS = [
    # (keyword arguments, exception, pieces the message must contain)
    ({"kind": "middle"}, ValueError, ["'kind'", "'middle'", "basic", "internal", "external"]),
    ({"kind": None}, ValueError, ["'kind'", "None", "basic"]),
    ({"footprint": "star"}, ValueError, ["'footprint'", "'star'", "rect", "ellipse", "diamond"]),
    ({"size": 4}, ValueError, ["'size'", "4", "odd"]),
    ({"size": (3, 4)}, ValueError, ["'size'", "(3, 4)", "odd"]),
    ({"size": (3, 5, 7)}, ValueError, ["'size'", "(3, 5, 7)", "width"]),
    ({"size": 0}, ValueError, ["'size'", "0", "odd"]),
    ({"size": -3}, ValueError, ["'size'", "-3", "odd"]),
    ({"size": 3.0}, TypeError, ["'size'", "3.0", "odd"]),
    ({"footprint": "diamond", "size": (3, 5)}, ValueError, ["'size'", "(3, 5)", "diamond"]),
    ({"iterations": 0}, ValueError, ["'iterations'", "0", "1"]),
    ({"iterations": 1.5}, TypeError, ["'iterations'", "1.5", "integer"]),
    ({"border": "mirror"}, ValueError, ["'border'", "'mirror'", "ignore", "reflect101"]),
    ({"cval": "zero"}, TypeError, ["'cval'", "'zero'", "number"]),
    ({"cval": float("nan")}, ValueError, ["'cval'", "nan", "finite"]),
    (
        {"footprint": np.zeros((3, 3), np.uint8)},
        ValueError,
        ["'footprint'", "shape (3, 3)", "at least one"],
    ),
    (
        {"footprint": np.ones((3, 3, 3), np.uint8)},
        ValueError,
        ["'footprint'", "shape (3, 3, 3)", "2-D"],
    ),
    ({"footprint": np.full((3, 3), 2)}, ValueError, ["'footprint'", "shape (3, 3)", "0/1"]),
    ({"footprint": np.ones((0, 3))}, ValueError, ["'footprint'", "shape (0, 3)", "2-D"]),
    ({"footprint": 3}, TypeError, ["'footprint'", "3", "rect"]),
]


def _argument_id(kwargs):
    def describe(v):
        if isinstance(v, np.ndarray):
            return f"array{v.shape}" + (f"-max{v.max()}" if v.size else "")
        return repr(v)

    return ",".join(f"{k}={describe(v)}" for k, v in kwargs.items())


@pytest.mark.parametrize(
    ("kwargs", "error", "pieces"),
    [pytest.param(*case, id=_argument_id(case[0])) for case in BAD_ARGUMENTS],
)
def test_bad_parameters_raise_with_a_helpful_message(kwargs, error, pieces):
    with pytest.raises(error) as info:
        imgrad.morph_gradient(IMAGE, **kwargs)
    message = str(info.value)
    assert "morph_gradient" in message
    for piece in pieces:
        assert piece in message


BAD_IMAGES = [
    (np.zeros((2, 3, 4, 1), np.uint8), ValueError, ["'image'", "4-D", "(2, 3, 4, 1)", "2-D"]),
    (np.zeros(5, np.uint8), ValueError, ["'image'", "1-D", "2-D"]),
    (np.zeros((0, 4), np.uint8), ValueError, ["'image'", "(0, 4)", "empty"]),
    (np.zeros((3, 3), np.int32), TypeError, ["'image'", "int32", "uint8", "float64"]),
    (np.zeros((3, 3), bool), TypeError, ["'image'", "bool", "uint8"]),
    (np.zeros((3, 3), np.complex128), TypeError, ["'image'", "complex128", "uint8"]),
    (np.zeros((3, 3), np.float16), TypeError, ["'image'", "float16", "float32"]),
    ([[1, 2], [3, 4]], TypeError, ["'image'", "[[1, 2], [3, 4]]", "NumPy array"]),
]


def _image_id(image):
    if isinstance(image, np.ndarray):
        return f"{image.dtype}{image.shape}"
    return type(image).__name__


@pytest.mark.parametrize(
    ("image", "error", "pieces"),
    [pytest.param(*case, id=_image_id(case[0])) for case in BAD_IMAGES],
)
def test_bad_images_raise_with_a_helpful_message(image, error, pieces):
    with pytest.raises(error) as info:
        imgrad.morph_gradient(image)
    message = str(info.value)
    assert "morph_gradient" in message
    for piece in pieces:
        assert piece in message


@pytest.mark.parametrize(
    ("args", "error", "pieces"),
    [
        pytest.param(("star", 3), ValueError, ["'footprint'", "'star'", "cross"], id="star"),
        pytest.param(("rect", 2), ValueError, ["'size'", "2", "odd"], id="even-size"),
        pytest.param(
            ("diamond", (5, 3)), ValueError, ["'size'", "(5, 3)", "diamond"], id="flat-diamond"
        ),
        pytest.param(
            (np.zeros((2, 2)),), ValueError, ["'footprint'", "at least one"], id="all-zero"
        ),
    ],
)
def test_footprint_function_rejects_bad_arguments(args, error, pieces):
    with pytest.raises(error) as info:
        imgrad.footprint(*args)
    message = str(info.value)
    assert "footprint" in message
    for piece in pieces:
        assert piece in message


# --- strips, threads and chords ------------------------------------------------------------
#
# The image is processed in strips of rows on several threads, each strip's dilation and
# erosion by OpenCV or by an exact chord decomposition. The internal entry point takes the
# method, the rows per strip and the thread count, so that these tests can force many strips,
# odd remainders and every method on small images. The references are OpenCV itself, called
# directly, and the NumPy definition above.

CV_BORDER = {
    "reflect101": cv2.BORDER_REFLECT_101,
    "reflect": cv2.BORDER_REFLECT,
    "replicate": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
}
OPERATIONS = ("dilate", "erode", *KINDS)
METHODS = ("opencv", "chords")
DBL_MAX = float(np.finfo(np.float64).max)


def cv_morph(image, fp, operation, border="ignore", cval=0.0, iterations=1):
    """cv2.dilate or cv2.erode with imgrad's border names, `iterations` times (the border made
    up each time), channel by channel beyond four channels."""
    if image.ndim == 3 and image.shape[2] > 4:
        planes = [np.ascontiguousarray(image[..., c]) for c in range(image.shape[2])]
        return np.stack(
            [cv_morph(p, fp, operation, border, cval, iterations) for p in planes], axis=-1
        )
    op = cv2.dilate if operation == "dilate" else cv2.erode
    kernel = np.asarray(fp, np.uint8)
    (h, w), (height, width) = kernel.shape, image.shape[:2]
    out = image
    for _ in range(iterations):
        if border == "ignore":  # OpenCV's default border
            result = op(out, kernel)
        elif border == "wrap":  # OpenCV's morphology has no wrap: pad explicitly
            top, left = h // 2, w // 2
            padded = cv2.copyMakeBorder(out, top, h - 1 - top, left, w - 1 - left, cv2.BORDER_WRAP)
            result = op(padded, kernel)[top : top + height, left : left + width]
        else:
            result = op(out, kernel, borderType=CV_BORDER[border], borderValue=(cval,) * 4)
        out = result.reshape(image.shape)
    return out


def cv_gradient(image, kind, fp, **kw):
    """The gradients from OpenCV's dilation and erosion, clipped at 0."""
    if kind == "basic":
        return clipped_difference(
            cv_morph(image, fp, "dilate", **kw), cv_morph(image, fp, "erode", **kw)
        )
    if kind == "internal":
        return clipped_difference(image, cv_morph(image, fp, "erode", **kw))
    return clipped_difference(cv_morph(image, fp, "dilate", **kw), image)


def cv_reference(image, operation, fp, **kw):
    if operation in ("dilate", "erode"):
        return cv_morph(image, fp, operation, **kw)
    return cv_gradient(image, operation, fp, **kw)


def strips(
    image, fp, operation, *, method, rows, workers, border="ignore", cval=0.0, iterations=1
):
    return morphology._morphology(
        image, fp, operation, iterations, border, cval, method=method, rows=rows, workers=workers
    )


def covered_by_chords(fp):
    """The pixels the chords of `fp` cover, checking each step on the way.

    A build must join its source and the source shifted by (dx, dy) without a gap; a take
    must lie within the footprint.
    """
    fp = np.asarray(fp).astype(bool)
    chords = _morph_strips._chords_of(fp.shape, fp.astype(np.uint8).tobytes())
    tables = {0: (1, 1)}  # buffer -> (width, height) of the running maximum it holds
    covered = np.zeros_like(fp)
    for step in chords.steps:
        if step[0] == _morph_strips._BUILD:
            _, target, source, width, height, dx, dy = step
            source_width, source_height = tables[source]
            assert (dx == 0) != (dy == 0)
            assert dx <= source_width and dy <= source_height  # no gap
            assert (width, height) == (source_width + dx, source_height + dy)
            tables[target] = (width, height)
        else:
            _, source, row, x0 = step
            width, height = tables[source]
            assert fp[row : row + height, x0 : x0 + width].all()
            assert row + height <= fp.shape[0] and x0 + width <= fp.shape[1]
            covered[row : row + height, x0 : x0 + width] = True
    return covered


NAMED = {
    **{
        f"{shape}{size}": imgrad.footprint(shape, size)
        for shape in morphology.SHAPES
        for size in (1, 3, 15, 31)
    },
    "ellipse(31,9)": imgrad.footprint("ellipse", (31, 9)),
    "cross(5,21)": imgrad.footprint("cross", (5, 21)),
    **FOOTPRINT_ARRAYS,
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_chords_cover_named_footprints_exactly(name):
    fp = np.asarray(NAMED[name]).astype(bool)
    np.testing.assert_array_equal(covered_by_chords(fp), fp)


footprint_arrays = arrays(
    np.uint8, st.tuples(st.integers(1, 15), st.integers(1, 15)), elements=st.integers(0, 1)
).filter(lambda a: a.any())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(fp=footprint_arrays)
def test_chords_cover_any_footprint_exactly(fp):
    np.testing.assert_array_equal(covered_by_chords(fp), fp.astype(bool))


@pytest.mark.parametrize("size", [15, 31, 61])
def test_chord_steps_grow_with_height_not_area(size):
    for shape in ("ellipse", "diamond"):
        fp = imgrad.footprint(shape, size)
        chords = _morph_strips._chords_of(fp.shape, fp.tobytes())
        assert fp.sum() >= size * size // 2  # the area OpenCV's cost grows with
        assert chords.builds + chords.takes <= 2 * size
    # A band of identical rows takes the running maximum over its height once.
    rect = imgrad.footprint("rect", size)
    chords = _morph_strips._chords_of(rect.shape, rect.tobytes())
    assert (chords.builds, chords.takes) == (2 * int(np.ceil(np.log2(size))), 1)


@st.composite
def strip_cases(draw):
    """An image, a footprint of 0/1 (any shape: non-convex, even-sized, without its centre),
    and how to cut the work."""
    dtype = draw(st.sampled_from(DTYPES))
    channels = draw(st.sampled_from([None, 1, 3, 4, 5]))
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    shape = (height, width) if channels is None else (height, width, channels)
    image = random_image(shape, dtype, seed=draw(st.integers(0, 2**16)))
    integer = np.issubdtype(dtype, np.integer)
    return {
        "image": image,
        "fp": draw(footprint_arrays),
        "operation": draw(st.sampled_from(OPERATIONS)),
        "method": draw(st.sampled_from(METHODS)),
        "rows": draw(st.integers(1, 12)),
        "workers": draw(st.integers(1, 3)),
        "border": draw(st.sampled_from(BORDERS)),
        "cval": float(draw(st.integers(0, 255)))
        if integer
        else draw(st.sampled_from([0.0, -2.5, 40.25])),
        "iterations": draw(st.integers(1, 3)),
    }


@settings(max_examples=400, deadline=None, derandomize=True)
@given(case=strip_cases())
def test_strips_equal_opencv_and_the_definition(case):
    image, fp, operation = case["image"], case["fp"], case["operation"]
    kw = {k: case[k] for k in ("border", "cval", "iterations")}
    got = strips(
        image,
        fp,
        operation,
        method=case["method"],
        rows=case["rows"],
        workers=case["workers"],
        **kw,
    )
    dtype = image.dtype if operation in ("dilate", "erode") else gradient_dtype(image.dtype)
    assert got.shape == image.shape and got.dtype == dtype
    np.testing.assert_array_equal(got, cv_reference(image, operation, fp, **kw))
    if operation in KINDS:
        np.testing.assert_array_equal(got, ref_gradient(image, operation, fp, **kw))
    else:
        op = np.maximum if operation == "dilate" else np.minimum
        expected = ref_morph(image, fp, op, **kw)
        if image.dtype.kind == "f":  # where nothing takes part, OpenCV gives -+FLT_MAX, not inf
            expected = np.nan_to_num(
                expected, posinf=np.finfo(image.dtype).max, neginf=np.finfo(image.dtype).min
            )
        np.testing.assert_array_equal(got, expected)


def _photo_planes():
    gray = read_sample("camera.png")[150:211, 200:273]
    rgb = read_sample("astronaut.png")[40:93, 180:247]
    for name, image in (("gray", gray), ("rgb", rgb)):
        yield f"{name}-uint8", image
        yield f"{name}-uint16", image.astype(np.uint16) * 257
        yield f"{name}-int16", (image.astype(np.int32) * 257 - 32768).astype(np.int16)
        yield f"{name}-float32", image.astype(np.float32) / 255
        yield f"{name}-float64", image.astype(np.float64) / 255 - 0.5


PHOTO_PLANES = dict(_photo_planes())
PHOTO_FOOTPRINTS = {
    "ellipse15": imgrad.footprint("ellipse", 15),
    "diamond(9)": imgrad.footprint("diamond", 9),
    "cross(5,11)": imgrad.footprint("cross", (5, 11)),
    "rect(9,5)": imgrad.footprint("rect", (9, 5)),
    "ring15": FOOTPRINT_ARRAYS["5x5-ring"].repeat(3, axis=0).repeat(3, axis=1),
    "random6x8": (np.random.default_rng(4).random((6, 8)) < 0.5).astype(np.uint8),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("name", sorted(PHOTO_PLANES))
def test_strips_on_photos_equal_opencv_for_every_border(name, border, method):
    image = PHOTO_PLANES[name]
    cval = 0.25 if image.dtype.kind == "f" else 100.0
    for fp_name, fp in PHOTO_FOOTPRINTS.items():
        kw = {"border": border, "cval": cval}
        for kind in KINDS:
            got = strips(image, fp, kind, method=method, rows=7, workers=3, **kw)
            np.testing.assert_array_equal(got, cv_gradient(image, kind, fp, **kw), err_msg=fp_name)
        got = strips(image, fp, "basic", method=method, rows=5, workers=2, iterations=2, **kw)
        expected = ref_gradient(image, "basic", fp, iterations=2, **kw)
        np.testing.assert_array_equal(got, expected, err_msg=fp_name)


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("rows", [1, 2, 3, 16, 1000, None])
@pytest.mark.parametrize("method", METHODS)
def test_result_does_not_depend_on_strips_or_threads(method, rows, workers):
    image = read_sample("coins.png")[:83, :101]
    fp = imgrad.footprint("ellipse", (9, 13))  # even strips of odd footprints, and the reverse
    for kind in KINDS:
        got = strips(image, fp, kind, method=method, rows=rows, workers=workers, border="reflect")
        np.testing.assert_array_equal(got, cv_gradient(image, kind, fp, border="reflect"))


@pytest.mark.parametrize("cval", [-5.0, 7.5, 7.6, 300.0, 70000.0, 1e300, -1e300, DBL_MAX])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_constant_border_values_are_converted_as_opencv_does(method, dtype, cval):
    # OpenCV rounds and saturates the border value to the dtype, and takes DBL_MAX, its marker
    # of the default border, as "ignore".
    image = random_image((23, 19, 3), dtype, seed=13)
    fp = imgrad.footprint("diamond", 7)
    for operation in OPERATIONS:
        got = strips(
            image, fp, operation, method=method, rows=4, workers=2, border="constant", cval=cval
        )
        expected = cv_reference(image, operation, fp, border="constant", cval=cval)
        np.testing.assert_array_equal(got, expected, err_msg=operation)


# --- the public function on large footprints ----------------------------------------------------


@pytest.fixture
def two_threads():
    """OpenCV's thread count (which the morphology follows) as on a 2-core machine."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    yield
    cv2.setNumThreads(before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ["ellipse", "diamond", "cross"])
def test_large_footprints_on_a_photo_take_chords_and_equal_opencv(shape, dtype, two_threads):
    camera = read_sample("camera.png")
    image = camera.astype(dtype) * (257 if dtype == np.uint16 else 1)
    if dtype == np.int16:
        image = (camera.astype(np.int32) * 257 - 32768).astype(np.int16)
    fp = imgrad.footprint(shape, 61 if shape == "cross" else 31)
    # What this test is about: the public function takes the chord path here.
    assert _morph_strips._use_chords(fp, image, 2)
    eroded, dilated = cv2.erode(image, fp), cv2.dilate(image, fp)
    expected = clipped_difference(dilated, eroded)  # MORPH_GRADIENT, in uint16 for int16
    got = imgrad.morph_gradient(image, footprint=fp)
    np.testing.assert_array_equal(got, expected)
    if dtype != np.int16:
        np.testing.assert_array_equal(got, cv2.morphologyEx(image, cv2.MORPH_GRADIENT, fp))
    np.testing.assert_array_equal(
        imgrad.morph_gradient(image, "internal", footprint=fp), clipped_difference(image, eroded)
    )
    buffer = np.empty(image.shape, gradient_dtype(image.dtype))
    got = imgrad.morph_gradient(
        image, "external", footprint=shape, size=fp.shape[::-1], out=buffer
    )
    assert got is buffer
    np.testing.assert_array_equal(buffer, clipped_difference(dilated, image))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", KINDS)
def test_out_may_be_the_image_itself(kind, method):
    image = read_sample("astronaut.png")[:150, :120].copy()
    fp = imgrad.footprint("ellipse", 15)
    expected = cv_gradient(image, kind, fp, border="wrap")
    morphology._morphology(
        image, fp, kind, 1, "wrap", 0.0, image, method=method, rows=9, workers=3
    )
    np.testing.assert_array_equal(image, expected)


def test_dilate_and_erode_helpers_equal_opencv():
    image = read_sample("chelsea.png")[:200, :300]
    for fp in (imgrad.footprint("ellipse", 31), imgrad.footprint("cross", 3)):
        for iterations in (1, 2):
            np.testing.assert_array_equal(
                morphology.dilate(image, fp, iterations, "replicate"),
                cv_morph(image, fp, "dilate", "replicate", iterations=iterations),
            )
            np.testing.assert_array_equal(
                morphology.erode(image, fp, iterations, "replicate"),
                cv_morph(image, fp, "erode", "replicate", iterations=iterations),
            )


# --- NaN, infinities and signed zeros -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [3, 31])
def test_images_with_nan_give_what_opencv_gives(dtype, size):
    # What NaN gives depends on OpenCV's order of comparisons (it mostly does not spread): an
    # image holding NaN is processed whole by OpenCV, as before.
    rng = np.random.default_rng(14)
    image = (rng.standard_normal((240, 320)) * 10).astype(dtype)
    image[rng.random(image.shape) < 0.01] = np.nan
    fp = imgrad.footprint("ellipse", size)
    dilated, eroded = cv2.dilate(image, fp), cv2.erode(image, fp)
    expected = opencv_gradients(image, dilated, eroded)
    for kind in KINDS:
        got = imgrad.morph_gradient(image, kind, footprint=fp)
        np.testing.assert_array_equal(got, expected[kind], err_msg=kind)
    # The chords, left alone, would not give OpenCV's result: the fallback matters.
    chords = _morph_strips._pass(
        "dilate", image, image, image, fp, "chords", "ignore", 0.0, 16, 2, False
    )
    assert not np.array_equal(chords, dilated, equal_nan=True)


def _covered(image, fp):
    """Per pixel, the image values its footprint covers (inside the image, NaN aside) as
    a masked stack, and whether a NaN is among them."""
    fp = np.asarray(fp).astype(bool)
    (h, w), (height, width) = fp.shape, image.shape
    widths = [(h // 2, h - 1 - h // 2), (w // 2, w - 1 - w // 2)]
    values = np.pad(image, widths)
    inside = np.pad(np.ones(image.shape, bool), widths)
    offsets = list(zip(*np.nonzero(fp), strict=True))
    windows = np.stack([values[i : i + height, j : j + width] for i, j in offsets])
    taken = np.stack([inside[i : i + height, j : j + width] for i, j in offsets])
    nan = np.isnan(windows) & taken
    return np.ma.masked_array(windows, ~taken | nan), nan.any(axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fp_name", ["rect3", "ellipse5", "ellipse31", "3x3-L", "2x2", "1x4"])
def test_nan_follows_opencv_and_neither_spreads_nor_is_skipped(dtype, fp_name):
    # What the docstring of morph_gradient says of NaN, checked.
    named = {"rect3": ("rect", 3), "ellipse5": ("ellipse", 5), "ellipse31": ("ellipse", 31)}
    fp = imgrad.footprint(*named[fp_name]) if fp_name in named else FOOTPRINT_ARRAYS[fp_name]
    rng = np.random.default_rng(24)
    image = (rng.standard_normal((90, 110)) * 10).astype(dtype)
    image[rng.random(image.shape) < 0.01] = np.nan
    covered, near_nan = _covered(image, fp)
    for kind, op in (("external", cv2.dilate), ("internal", cv2.erode)):
        result = op(image, np.asarray(fp, np.uint8))
        got = imgrad.morph_gradient(image, kind, footprint=fp)
        np.testing.assert_array_equal(got, opencv_gradients(image, result, result)[kind])
        assert np.isnan(got[np.isnan(image)]).all()  # the image itself is subtracted
        low, high = np.ma.min(covered, axis=0), np.ma.max(covered, axis=0)
        # Exact where the footprint covers no NaN.
        exact = high if op is cv2.dilate else low
        np.testing.assert_array_equal(result[~near_nan], exact[~near_nan])
        # Where it covers one: NaN at a few pixels, not over the footprint ...
        nan_out = np.isnan(result)
        assert nan_out.sum() <= 2 * np.isnan(image).sum()
        assert nan_out.sum() < near_nan.sum() / 2 or fp.sum() < 4
        # ... elsewhere one of the values the footprint covers, or at the image's edge the
        # value OpenCV puts outside (the lowest float for a dilation, the highest for an
        # erosion).
        finite = near_nan & ~nan_out
        outside = np.finfo(dtype).min if op is cv2.dilate else np.finfo(dtype).max
        edge = result == outside
        r = morphology.reach(np.asarray(fp))
        assert not edge[r : image.shape[0] - r, r : image.shape[1] - r].any()
        finite &= ~edge
        assert np.isin(result[finite], image[~np.isnan(image)]).all()
        assert (low[finite] <= result[finite]).all() and (result[finite] <= high[finite]).all()


@pytest.mark.parametrize("method", METHODS)
def test_infinities_and_signed_zeros(method):
    image = read_sample("camera.png")[:90, :110].astype(np.float32) - 128
    image[::7, ::5] = -0.0
    image[10, 10], image[60, 70] = np.inf, -np.inf
    fp = imgrad.footprint("ellipse", 11)
    got = strips(image, fp, "basic", method=method, rows=6, workers=3)
    np.testing.assert_array_equal(got, cv_gradient(image, "basic", fp))
    np.testing.assert_array_equal(got, ref_gradient(image, "basic", fp))
    assert not np.signbit(got).any()  # never -0.0
    # image - erosion is -inf - -inf = NaN at the pixel -inf, dilation - image inf - inf at
    # the pixel inf: NumPy warns, in the calling thread or not, unless the caller said not to.
    for kind, nan_at in (("internal", (60, 70)), ("external", (10, 10))):
        with pytest.warns(RuntimeWarning, match="invalid value"):
            strips(image, fp, kind, method=method, rows=6, workers=3)
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("error")
            got = strips(image, fp, kind, method=method, rows=6, workers=3)
            expected = cv_gradient(image, kind, fp)
        np.testing.assert_array_equal(got, expected)
        assert np.isnan(got[nan_at]) and np.isnan(got).sum() == 1
        assert not np.signbit(got[~np.isnan(got)]).any()
