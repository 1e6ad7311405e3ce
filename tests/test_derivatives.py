"""Derivative operators against OpenCV, scipy.ndimage, scikit-image and NumPy definitions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from skimage import filters as skf

import imgrad
from imgrad.derivatives import FARID_DIFF, FARID_SMOOTH, METHODS

from .strategies import SCIPY_MODES

DTYPES = ["uint8", "uint16", "int16", "float32", "float64"]
CV_BORDERS = {
    "reflect101": cv2.BORDER_REFLECT_101,
    "reflect": cv2.BORDER_REFLECT,
    "replicate": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
}
ALL_BORDERS = list(SCIPY_MODES)


def expected_dtype(image):
    return np.float64 if image.dtype == np.float64 else np.float32


def correlate_2d(image, kernel_2d, border, cval=0.0):
    """Independent reference: scipy.ndimage.correlate in float64, channel by channel."""
    image = image.astype(np.float64)
    mode = SCIPY_MODES[border]
    if image.ndim == 2:
        return ndi.correlate(image, kernel_2d, mode=mode, cval=cval)
    return np.stack(
        [
            ndi.correlate(image[..., c], kernel_2d, mode=mode, cval=cval)
            for c in range(image.shape[2])
        ],
        axis=-1,
    )


# --- smoke, shape and dtype ---------------------------------------------------------


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize(
    "key", ["gray-uint8", "gray-uint16", "rgb-int16", "rgb-float32", "rgb-float64"]
)
def test_shape_dtype_and_input_untouched(method, key, photos):
    image = photos[key]
    before = image.copy()
    g = imgrad.gradient(image, method)
    assert isinstance(g, imgrad.Gradient)
    assert g.gx.shape == g.gy.shape == image.shape
    assert g.gx.dtype == g.gy.dtype == expected_dtype(image)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_any_channel_count_is_processed_per_channel(channels, astronaut):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (33, 41, channels), dtype=np.uint8)
    for border in ALL_BORDERS:
        g = imgrad.sobel(image, border=border, cval=9.0)
        assert g.gx.shape == image.shape
        for c in range(channels):
            single = imgrad.sobel(image[..., c], border=border, cval=9.0)
            np.testing.assert_array_equal(g.gx[..., c], single.gx)
            np.testing.assert_array_equal(g.gy[..., c], single.gy)


def test_non_contiguous_and_read_only_inputs(camera):
    strided = camera[::2, ::3]
    expected = cv2.Sobel(np.ascontiguousarray(strided), cv2.CV_32F, 1, 0)
    np.testing.assert_array_equal(imgrad.sobel(strided).gx, expected)
    frozen = camera.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(imgrad.sobel(frozen).gy, cv2.Sobel(camera, cv2.CV_32F, 0, 1))


# --- numerical correctness: OpenCV ---------------------------------------------------


# Where the result is not exact, it may differ from OpenCV's by as many roundings of
# the sum of the absolute terms |K| * |image| as the kernels have taps (2 ksize): the
# two add the same terms in other orders (OpenCV 5.1 changes its float32 order with
# the image width; imgrad sums kernels from ksize 5 on as differences, so that a flat
# image gives exactly 0). The classic bound of a sum of n terms is n/2 roundings.


def is_exact(image, kernel_x, kernel_y):
    """Integer input whose every partial sum fits the float32 mantissa: any order of
    summation gives the same, exact result."""
    if image.dtype.kind not in "ui":
        return False
    top = float(np.iinfo(image.dtype).max) - min(float(np.iinfo(image.dtype).min), 0.0)
    return top * np.abs(kernel_x).sum() * np.abs(kernel_y).sum() < 2**24


def assert_equals_opencv(actual, expected, image, kernel_x, kernel_y, border):
    """Bit for bit where the result is exact (and for float64 3x3 kernels, which both
    sum in the same order); elsewhere within the bound above."""
    small = max(np.size(kernel_x), np.size(kernel_y)) <= 3
    if is_exact(image, kernel_x, kernel_y) or (image.dtype == np.float64 and small):
        np.testing.assert_array_equal(actual, expected)
        return
    assert actual.dtype == expected.dtype
    terms = cv2.sepFilter2D(
        np.abs(image).astype(np.float64),
        cv2.CV_64F,
        np.abs(np.ravel(kernel_x)),
        np.abs(np.ravel(kernel_y)),
        borderType=CV_BORDERS[border],
    ).reshape(image.shape)
    error = np.abs(actual.astype(np.float64) - expected)
    taps = np.size(kernel_x) + np.size(kernel_y)
    bound = taps * np.finfo(actual.dtype).eps * terms
    assert np.all(error <= bound), float(np.max(error / np.maximum(bound, 1e-300)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ksize", [1, 3, 5, 7, 15, 31])
@pytest.mark.parametrize("border", list(CV_BORDERS))
def test_sobel_equals_cv2_sobel(dtype, ksize, border, photos):
    for kind in ("gray", "rgb"):
        image = photos[f"{kind}-{dtype}"]
        depth = cv2.CV_64F if dtype == "float64" else cv2.CV_32F
        g = imgrad.sobel(image, ksize, border=border)
        for (dx, dy), plane in zip(((1, 0), (0, 1)), g, strict=True):
            ref = cv2.Sobel(image, depth, dx, dy, ksize=ksize, borderType=CV_BORDERS[border])
            kx, ky = cv2.getDerivKernels(dx, dy, ksize, ktype=cv2.CV_64F)
            assert_equals_opencv(plane, ref, image, kx, ky, border)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("border", list(CV_BORDERS))
def test_scharr_equals_cv2_scharr(dtype, border, photos):
    for kind in ("gray", "rgb"):
        image = photos[f"{kind}-{dtype}"]
        depth = cv2.CV_64F if dtype == "float64" else cv2.CV_32F
        g = imgrad.scharr(image, border=border)
        for (dx, dy), plane in zip(((1, 0), (0, 1)), g, strict=True):
            ref = cv2.Scharr(image, depth, dx, dy, borderType=CV_BORDERS[border])
            kx, ky = cv2.getDerivKernels(dx, dy, -1, ktype=cv2.CV_64F)  # -1: Scharr
            assert_equals_opencv(plane, ref, image, kx, ky, border)


def test_uint8_ksize7_is_exact_in_float32(photos):
    image = photos["rgb-uint8"]
    g = imgrad.sobel(image, 7)
    exact = cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=7)  # integers, exact in float64
    np.testing.assert_array_equal(g.gx.astype(np.float64), exact)


def test_no_overflow_on_extreme_uint16():
    image = np.zeros((20, 20), np.uint16)
    image[:, 10:] = 65535
    g = imgrad.sobel(image, 7)
    exact = cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=7)
    assert exact.max() == 65535 * (1 + 4 + 5) * 64  # a step edge: far beyond uint16
    np.testing.assert_allclose(g.gx, exact, rtol=1e-7)


# --- numerical correctness: scipy.ndimage with every border ----------------------------


def separable_kernel(diff, smooth):
    return np.outer(smooth, diff), np.outer(diff, smooth)  # (gx kernel, gy kernel)


KERNELS = {
    "sobel": ([-1, 0, 1], [1, 2, 1]),
    "scharr": ([-1, 0, 1], [3, 10, 3]),
    "prewitt": ([-1, 0, 1], [1, 1, 1]),
    "central": ([-0.5, 0, 0.5], [1]),
    "intermediate": ([0, -1, 1], [1]),
    "farid": (FARID_DIFF, FARID_SMOOTH),
}


@pytest.mark.parametrize("method", list(KERNELS))
@pytest.mark.parametrize("border", ALL_BORDERS)
@pytest.mark.parametrize("cval", [0.0, 37.5])
def test_every_border_equals_scipy_correlate(method, border, cval, photos):
    image = photos["rgb-uint8"]
    diff, smooth = (np.asarray(k, dtype=np.float64) for k in KERNELS[method])
    kx, ky = separable_kernel(diff, smooth)
    g = getattr(imgrad, method)(image, border=border, cval=cval)
    np.testing.assert_allclose(g.gx, correlate_2d(image, kx, border, cval), rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(g.gy, correlate_2d(image, ky, border, cval), rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("method", list(KERNELS))
@pytest.mark.parametrize("border", ALL_BORDERS)
def test_int16_equals_scipy_correlate(method, border, photos):
    # Signed input over the whole int16 range (CT numbers, signed sensors), in float32:
    # within a few roundings of the sum of the absolute terms.
    image, cval = photos["rgb-int16"], -1000.0
    diff, smooth = (np.asarray(k, dtype=np.float64) for k in KERNELS[method])
    g = getattr(imgrad, method)(image, border=border, cval=cval)
    for plane, kernel in zip(g, separable_kernel(diff, smooth), strict=True):
        assert plane.dtype == np.float32
        expected = correlate_2d(image, kernel, border, cval)
        terms = correlate_2d(np.abs(image.astype(np.float64)), np.abs(kernel), border, -cval)
        bound = (diff.size + smooth.size) * np.finfo(np.float32).eps * terms
        assert np.all(np.abs(plane - expected) <= bound)


def test_sobel_wrap_equals_periodic_definition():
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (16, 23), dtype=np.uint8)
    g = imgrad.sobel(image, border="wrap")
    f = image.astype(np.float64)
    # Periodic Sobel from NumPy shifts: gx = smooth_y * (I[x+1] - I[x-1]).
    dx = np.roll(f, -1, axis=1) - np.roll(f, 1, axis=1)
    gx = np.roll(dx, 1, axis=0) + 2 * dx + np.roll(dx, -1, axis=0)
    np.testing.assert_array_equal(g.gx, gx)


def test_prewitt_equals_scipy_prewitt_in_the_interior(camera):
    f = camera.astype(np.float64)
    g = imgrad.prewitt(camera)
    np.testing.assert_allclose(g.gx[1:-1, 1:-1], ndi.prewitt(f, axis=1)[1:-1, 1:-1], atol=1e-4)
    np.testing.assert_allclose(g.gy[1:-1, 1:-1], ndi.prewitt(f, axis=0)[1:-1, 1:-1], atol=1e-4)
    # scipy's own default border ("reflect") matches border="reflect" everywhere
    np.testing.assert_allclose(
        imgrad.prewitt(camera, border="reflect").gx, ndi.prewitt(f, axis=1), atol=1e-4
    )


def test_central_and_intermediate_numpy_definitions(camera):
    f = camera.astype(np.float64)
    c = imgrad.central(f)
    np.testing.assert_array_equal(c.gx[:, 1:-1], (f[:, 2:] - f[:, :-2]) / 2)
    np.testing.assert_array_equal(c.gy[1:-1, :], (f[2:, :] - f[:-2, :]) / 2)
    i = imgrad.intermediate(f, border="replicate")
    np.testing.assert_array_equal(i.gx[:, :-1], f[:, 1:] - f[:, :-1])
    np.testing.assert_array_equal(i.gx[:, -1], 0)  # MATLAB's convention at the last column
    np.testing.assert_array_equal(i.gy[:-1, :], f[1:, :] - f[:-1, :])


def test_roberts_and_farid_equal_scikit_image(camera):
    f = camera.astype(np.float64)  # scikit-image keeps float input unscaled
    r = imgrad.roberts(f, border="reflect")  # scipy.ndimage.convolve's default border
    np.testing.assert_allclose(r.gx, skf.roberts_pos_diag(f), atol=1e-9)
    np.testing.assert_allclose(r.gy, skf.roberts_neg_diag(f), atol=1e-9)
    d = imgrad.farid(f, border="reflect")
    np.testing.assert_allclose(d.gx, skf.farid_v(f), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(d.gy, skf.farid_h(f), rtol=1e-12, atol=1e-9)


# --- kernel scale ---------------------------------------------------------------------


def ramp(slope, axis, shape=(41, 43)):
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    return slope * (xx if axis == "x" else yy)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("slope", [0.5, 3.0])
def test_normalize_gives_the_slope(method, slope):
    for axis in ("x", "y"):
        g = imgrad.gradient(ramp(slope, axis), method, normalize=True)
        m = imgrad.magnitude(g.gx, g.gy)
        np.testing.assert_allclose(m[8:-8, 8:-8], slope, rtol=1e-9)


@pytest.mark.parametrize("ksize", [1, 3, 5, 7, 9, 31])
def test_sobel_normalize_any_ksize(ksize):
    g = imgrad.sobel(ramp(2.0, "x", (80, 80)), ksize, normalize=True)
    np.testing.assert_allclose(g.gx[20:-20, 20:-20], 2.0, rtol=1e-9)
    np.testing.assert_allclose(g.gy[20:-20, 20:-20], 0.0, atol=1e-9)


def test_documented_gain_table():
    """The README's table: unnormalized responses to a ramp of slope 1, and the peers'."""
    r = ramp(1.0, "x")
    inner = (slice(5, -5), slice(5, -5))
    gains = {m: float(np.median(imgrad.gradient(r, m).gx[inner])) for m in KERNELS}
    assert gains == pytest.approx(
        {
            "sobel": 8,
            "scharr": 32,
            "prewitt": 6,
            "central": 1,
            "intermediate": 1,
            "farid": 0.9917970287521,
        },
        rel=1e-9,
    )
    assert float(np.median(cv2.Sobel(r, cv2.CV_64F, 1, 0)[inner])) == 8
    assert float(np.median(ndi.sobel(r, axis=1)[inner])) == 8
    assert float(np.median(skf.sobel_v(r)[inner])) == pytest.approx(2)
    rob = imgrad.roberts(r)
    assert float(np.median(rob.gx[inner])) == pytest.approx(1)  # one step along x per diagonal


def test_derivative_sign_convention():
    """gx > 0 for brightness increasing to the right; gy > 0 increasing downwards."""
    for method in METHODS:
        if method == "roberts":
            continue
        gx = imgrad.gradient(ramp(1.0, "x"), method).gx[10, 10]
        gy = imgrad.gradient(ramp(1.0, "y"), method).gy[10, 10]
        assert gx > 0 and gy > 0, method


# --- channels="max" -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["sobel", "scharr", "roberts"])
def test_channels_max_keeps_the_strongest_channel(method, photos):
    image = photos["rgb-float32"]
    per_channel = imgrad.gradient(image, method)
    g = imgrad.gradient(image, method, channels="max")
    assert g.gx.shape == image.shape[:2]
    energy = per_channel.gx.astype(np.float64) ** 2 + per_channel.gy.astype(np.float64) ** 2
    h, w = image.shape[:2]
    for y, x in np.ndindex(h, w):  # plain definition, pixel by pixel on a small crop
        if y % 7 or x % 5:
            continue
        best = int(np.argmax(energy[y, x]))
        assert g.gx[y, x] == per_channel.gx[y, x, best]
        assert g.gy[y, x] == per_channel.gy[y, x, best]
    assert np.all(g.gx**2 + g.gy**2 >= (energy.max(axis=2) * (1 - 1e-6)).astype(np.float32))


def test_channels_max_is_a_no_op_for_gray(camera):
    a, b = imgrad.sobel(camera), imgrad.sobel(camera, channels="max")
    np.testing.assert_array_equal(a.gx, b.gx)


# --- exceptions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"ksize": 4}, ValueError, ["'ksize'", "sobel", "odd integer from 1 to 31", "Got 4"]),
        ({"ksize": 33}, ValueError, ["'ksize'", "Got 33"]),
        ({"ksize": 0}, ValueError, ["'ksize'", "Got 0"]),
        ({"ksize": 2.5}, TypeError, ["'ksize'", "Got 2.5"]),
        ({"ksize": True}, TypeError, ["'ksize'", "Got True"]),
        ({"border": "mirror"}, ValueError, ["'border'", "'reflect101'", "'wrap'", "'mirror'"]),
        ({"channels": "min"}, ValueError, ["'channels'", "'separate'", "'max'", "'min'"]),
        ({"normalize": "yes"}, TypeError, ["'normalize'", "True or False", "'yes'"]),
        ({"cval": "a"}, TypeError, ["'cval'", "'a'"]),
        ({"cval": float("nan")}, ValueError, ["'cval'", "nan"]),
    ],
)
def test_bad_parameters_name_parameter_value_and_allowed(kwargs, exc, words, camera):
    with pytest.raises(exc) as info:
        imgrad.sobel(camera, **kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("image", "exc", "words"),
    [
        (np.zeros((2, 3, 4, 5), np.uint8), ValueError, ["2-D", "4-D", "(2, 3, 4, 5)"]),
        (np.zeros(5, np.uint8), ValueError, ["1-D"]),
        (
            np.zeros((4, 4), np.int32),
            TypeError,
            ["int32", "uint8, uint16, int16, float32, float64"],
        ),
        (np.zeros((4, 4), bool), TypeError, ["bool"]),
        (np.zeros((4, 4), np.complex64), TypeError, ["complex64"]),
        (np.zeros((4, 4), np.float16), TypeError, ["float16"]),
        ([[1, 2], [3, 4]], TypeError, ["'image'", "NumPy array", "[[1, 2], [3, 4]]"]),
        ("photo.png", TypeError, ["'image'", "'photo.png'"]),
        (np.zeros((0, 4), np.uint8), ValueError, ["empty", "(0, 4)"]),
    ],
)
@pytest.mark.parametrize("method", ["sobel", "roberts"])
def test_bad_images(image, exc, words, method):
    with pytest.raises(exc) as info:
        imgrad.gradient(image, method)
    for word in words:
        assert word in str(info.value)


def test_gradient_dispatch(camera):
    for name, function in METHODS.items():
        a, b = imgrad.gradient(camera, name, normalize=True), function(camera, normalize=True)
        np.testing.assert_array_equal(a.gx, b.gx)
    np.testing.assert_array_equal(imgrad.gradient(camera, ksize=5).gx, imgrad.sobel(camera, 5).gx)
    with pytest.raises(ValueError, match=r"'method' parameter of gradient must be one of .*"):
        imgrad.gradient(camera, "canny")
    with pytest.raises(TypeError, match="ksize"):
        imgrad.gradient(camera, "scharr", ksize=5)


@pytest.mark.parametrize("border", ["reflect101", "replicate"])
@pytest.mark.parametrize("normalize", [False, True])
def test_one_channel_uint8_sobel_fast_path_equals_cv2(border, normalize, camera):
    """The 3x3 uint8 case runs through cv2.spatialGradient; values are cv2.Sobel's."""
    scale = 0.125 if normalize else 1.0
    ref_x = cv2.Sobel(camera, cv2.CV_32F, 1, 0, scale=scale, borderType=CV_BORDERS[border])
    ref_y = cv2.Sobel(camera, cv2.CV_32F, 0, 1, scale=scale, borderType=CV_BORDERS[border])
    for image in (camera, camera[..., None]):
        g = imgrad.sobel(image, border=border, normalize=normalize)
        assert g.gx.shape == image.shape and g.gx.dtype == np.float32
        np.testing.assert_array_equal(g.gx.reshape(camera.shape), ref_x)
        np.testing.assert_array_equal(g.gy.reshape(camera.shape), ref_y)
    g = imgrad.sobel(camera[..., None], border=border, channels="max")
    assert g.gx.shape == camera.shape
    np.testing.assert_array_equal(g.gx, imgrad.sobel(camera, border=border).gx)


# --- flat images: zero gradient, exactly ------------------------------------------------

FLAT_VALUES = {
    "uint8": 137,
    "uint16": 40001,
    "int16": -12345,
    "float32": 0.1234567,
    "float64": 0.1234567,
}
METHOD_SIZES = [("sobel", k) for k in (1, 3, 5, 7, 15, 31)] + [
    (m, None) for m in ("scharr", "prewitt", "central", "intermediate", "roberts", "farid")
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("method", "ksize"), METHOD_SIZES)
@pytest.mark.parametrize("normalize", [False, True])
def test_flat_image_has_exactly_zero_gradient(dtype, method, ksize, normalize):
    value = FLAT_VALUES[dtype]
    params = {} if ksize is None else {"ksize": ksize}
    for shape in ((37, 53), (29, 67, 3)):
        image = np.full(shape, value, dtype=dtype)
        for border in ALL_BORDERS:
            cval = float(image.flat[0]) if border == "constant" else 0.0
            g = imgrad.gradient(
                image, method, border=border, cval=cval, normalize=normalize, **params
            )
            assert not np.any(g.gx) and not np.any(g.gy), (shape, border)
            _, phase = imgrad.polar(g.gx, g.gy)
            assert not np.any(phase)


@pytest.mark.parametrize(("method", "ksize"), METHOD_SIZES)
def test_a_constant_added_changes_no_derivative(method, ksize, photos):
    params = {} if ksize is None else {"ksize": ksize}
    image = photos["gray-uint8"].astype(np.float64)  # integers: adding 1000 is exact
    for border in ("reflect101", "replicate", "wrap"):
        g = imgrad.gradient(image, method, border=border, **params)
        shifted = imgrad.gradient(image + 1000, method, border=border, **params)
        if (method == "sobel" and ksize >= 15) or method == "farid":  # inexact weights or sums
            np.testing.assert_allclose(shifted.gx, g.gx, rtol=0, atol=1e-9 * np.abs(g.gx).max())
        else:
            np.testing.assert_array_equal(shifted.gx, g.gx)
            np.testing.assert_array_equal(shifted.gy, g.gy)
        flat_region = np.zeros((40, 40), np.float64)
        flat_region[:, 20:] = 7.0  # a step: both halves flat
        g = imgrad.gradient(flat_region, method, border=border, **params)
        radius = 16 if ksize is None else ksize // 2 + 1
        assert not np.any(g.gx[:, radius : 20 - radius]) and not np.any(
            g.gx[:, 20 + radius : -radius]
        )
