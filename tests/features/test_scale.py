"""gaussian_gradient and its kernels against scipy.ndimage (float64 reference).

Tolerances, as measured (SciPy 1.17, OpenCV 5.1, x86-64 AVX2): the error of
each output pixel, divided by the machine epsilon of the output type times the
"envelope" ``|w| * |I|`` (the correlation of the absolute image with the
absolute kernels: the natural scale of rounding in a sum of products), is at
most 2.7 for gy and 4.9 for gx (computed from differences, see
imgrad.features.scale), float32 and float64 alike, on the photos below. The
tests allow 8: float32 within 8 eps of the envelope, float64 within
8 * 2.2e-16 = 1.8e-15 of it (far inside the 1e-12 asked of it).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.ndimage as ndi
from scipy.ndimage._filters import _gaussian_kernel1d

import imgrad
import imgrad.features as F
from imgrad.features.scale import difference_factor

from ..strategies import SCIPY_MODES

DTYPES = ["uint8", "uint16", "float32", "float64"]
ULPS = 8


def envelope(image, sigma, truncate, axis, mode, cval=0.0):
    """abs(image) correlated with abs(derivative) along `axis`, abs(smoothing) across."""
    r = F.gaussian_radius(sigma, truncate)
    smooth = np.abs(F.gaussian_kernel(sigma, 0, r))
    diff = np.abs(F.gaussian_kernel(sigma, 1, r))
    a = np.abs(image.astype(np.float64))
    along_rows, along_cols = (smooth, diff) if axis == 1 else (diff, smooth)
    a = ndi.correlate1d(a, along_rows, axis=0, mode=mode, cval=abs(cval))
    return ndi.correlate1d(a, along_cols, axis=1, mode=mode, cval=abs(cval))


def scipy_gradient(image, sigma, mode, truncate=4.0, cval=0.0):
    f64 = image.astype(np.float64)
    kw = dict(mode=mode, truncate=truncate, cval=cval)
    return (
        ndi.gaussian_filter(f64, sigma, order=(0, 1), **kw),
        ndi.gaussian_filter(f64, sigma, order=(1, 0), **kw),
    )


def assert_within_envelope(ours, ref, env, dtype):
    eps = np.finfo(np.dtype(dtype)).eps
    err = np.abs(ours.astype(np.float64) - ref)
    worst = float((err / (eps * env + 1e-300)).max())
    assert worst <= ULPS, f"{worst:.2f} eps of the envelope"


# --- kernels ---------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.3, 0.5, 1.0, 2.5, 7.0])
@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_kernels_are_scipys_bit_for_bit(sigma, order):
    for truncate in (2.0, 4.0, 6.5):
        radius = F.gaussian_radius(sigma, truncate)
        expected = _gaussian_kernel1d(sigma, order, radius)[::-1]
        np.testing.assert_array_equal(F.gaussian_kernel(sigma, order, radius), expected)


def test_radius_is_scipys_rounding():
    assert [F.gaussian_radius(s) for s in (0.1, 0.124, 0.125, 1.0, 2.0)] == [0, 0, 1, 4, 8]
    assert F.gaussian_radius(1.0, truncate=2.4) == 2


@pytest.mark.parametrize("sigma", [0.6, 1.0, 2.0, 5.0])
def test_difference_factor_recomposes_the_derivative_kernel(sigma):
    diff = F.gaussian_kernel(sigma, 1)
    h = difference_factor(diff)
    assert len(h) == len(diff) - 2 and np.array_equal(h, h[::-1])
    np.testing.assert_allclose(np.convolve(h, [-1.0, 0.0, 1.0]), diff, rtol=0, atol=1e-17)


# --- numerical correctness -----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("border", list(SCIPY_MODES))
@pytest.mark.parametrize("sigma", [0.6, 1.0, 2.0, 3.7])
def test_equals_scipy_on_a_photo(photos, dtype, border, sigma):
    image = photos[f"gray-{dtype}"]
    mode = SCIPY_MODES[border]
    g = F.gaussian_gradient(image, sigma, border=border)
    out_dtype = np.float64 if dtype == "float64" else np.float32
    assert g.gx.dtype == out_dtype and g.gy.dtype == out_dtype
    assert g.gx.shape == image.shape
    for axis, ours, ref in zip((1, 0), g, scipy_gradient(image, sigma, mode), strict=True):
        assert_within_envelope(ours, ref, envelope(image, sigma, 4.0, axis, mode), out_dtype)


@pytest.mark.parametrize("truncate", [1.5, 3.0, 8.0, 30.0])
def test_truncate_is_scipys(camera, truncate):
    image = camera[200:280, 100:190].astype(np.float64)
    g = F.gaussian_gradient(image, 1.3, truncate=truncate, border="reflect")
    for axis, ours, ref in zip(
        (1, 0), g, scipy_gradient(image, 1.3, "reflect", truncate), strict=True
    ):
        assert_within_envelope(ours, ref, envelope(image, 1.3, truncate, axis, "reflect"), "f8")


def test_constant_border_with_cval(camera):
    """gx equals SciPy's everywhere; SciPy pads its second (x) pass of gy with cval
    again, so gy agrees except within the radius of the left and right edges."""
    image = camera[:70, :90].astype(np.float64)
    sigma, cval, r = 1.5, 40.0, F.gaussian_radius(1.5)
    g = F.gaussian_gradient(image, sigma, border="constant", cval=cval)
    ref_x, ref_y = scipy_gradient(image, sigma, "constant", cval=cval)
    assert_within_envelope(g.gx, ref_x, envelope(image, sigma, 4, 1, "constant", cval), "f8")
    env_y = envelope(image, sigma, 4, 0, "constant", cval)
    assert_within_envelope(g.gy[:, r:-r], ref_y[:, r:-r], env_y[:, r:-r], "f8")
    # The surround really is cval: same as padding by hand and cropping.
    padded = np.pad(image, 2 * r, constant_values=cval)
    whole = F.gaussian_gradient(padded, sigma, border="replicate")
    np.testing.assert_allclose(g.gy, whole.gy[2 * r : -2 * r, 2 * r : -2 * r], atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_colour_channels_separately(photos, dtype):
    image = photos[f"rgb-{dtype}"]
    g = F.gaussian_gradient(image, 1.2)
    assert g.gx.shape == image.shape
    # OpenCV's interleaved-channel loops round differently from its one-channel loops,
    # so each channel is checked against SciPy, not against a one-channel call.
    for c in range(3):
        plane = image[..., c]
        refs = scipy_gradient(plane, 1.2, "mirror")
        for axis, ours, ref in zip((1, 0), (g.gx[..., c], g.gy[..., c]), refs, strict=True):
            env = envelope(plane, 1.2, 4.0, axis, "mirror")
            assert_within_envelope(ours, ref, env, g.gx.dtype)


def test_more_than_four_channels(photos):
    image = np.dstack([photos["rgb-float32"], photos["rgb-float32"][..., :2]])
    g = F.gaussian_gradient(image, 1.0, border="wrap")
    one = F.gaussian_gradient(np.ascontiguousarray(image[..., 4]), 1.0, border="wrap")
    np.testing.assert_array_equal(g.gx[..., 4], one.gx)  # filtered one channel at a time


def test_channels_max_is_the_strongest_channel(photos):
    image = photos["rgb-uint8"]
    sep = F.gaussian_gradient(image, 1.5)
    best = F.gaussian_gradient(image, 1.5, channels="max")
    assert best.gx.shape == image.shape[:2]
    energy = sep.gx**2 + sep.gy**2
    index = energy.argmax(axis=2)[..., None]
    np.testing.assert_array_equal(best.gx, np.take_along_axis(sep.gx, index, 2)[..., 0])
    np.testing.assert_array_equal(best.gy, np.take_along_axis(sep.gy, index, 2)[..., 0])


def test_ramp_has_the_kernel_gain_and_normalize_removes_it():
    ramp = np.tile(np.arange(40, dtype=np.float64) * 0.5, (30, 1))
    for sigma in (0.5, 1.0, 2.0):
        r = F.gaussian_radius(sigma)
        x = np.arange(-r, r + 1)
        smooth = F.gaussian_kernel(sigma, 0, r)
        expected_gain = float(np.sum(x * x * smooth)) / sigma**2
        plain = F.gaussian_gradient(ramp, sigma).gx[15, 20]
        assert plain == pytest.approx(0.5 * expected_gain, rel=1e-12)
        unit = F.gaussian_gradient(ramp, sigma, normalize=True)
        np.testing.assert_allclose(unit.gx[10:20, 12:28], 0.5, rtol=1e-12)
        transposed = F.gaussian_gradient(np.ascontiguousarray(ramp.T), sigma, normalize=True)
        np.testing.assert_allclose(transposed.gy[12:28, 10:20], 0.5, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("border", list(SCIPY_MODES))
def test_flat_image_gives_exactly_zero(dtype, border):
    for value in (1, 7, 200, 0.7372549, 1 / 3, 54321):
        if np.dtype(dtype).kind == "u" and (value != int(value) or value > np.iinfo(dtype).max):
            continue
        for shape in ((23, 41), (64, 300), (5, 3, 3)):
            flat = np.full(shape, value, dtype)
            for sigma in (0.6, 2.0, 6.0):
                g = F.gaussian_gradient(flat, sigma, border=border, cval=value)
                assert not g.gx.any() and not g.gy.any(), (value, shape, sigma)


def test_locally_flat_regions_give_exactly_zero(camera):
    """A saturated patch: zero wherever the kernel sees only the patch."""
    image = camera[:200, :300].astype(np.float32) / 255
    image[40:120, 60:200] = 0.73
    g = F.gaussian_gradient(image, 2.0)
    r = F.gaussian_radius(2.0)
    inner = (slice(40 + r, 120 - r), slice(60 + r, 200 - r))
    assert not g.gx[inner].any() and not g.gy[inner].any()


def test_narrow_and_tiny_images(camera):
    """Kernels wider than the image: SciPy reflects again and again, so does OpenCV."""
    for shape in ((1, 1), (1, 7), (9, 2), (3, 40), (40, 5)):
        image = camera[: shape[0], : shape[1]].astype(np.float64)
        for border in ("reflect", "replicate", "wrap", "constant"):
            mode = SCIPY_MODES[border]
            g = F.gaussian_gradient(image, 2.0, border=border)
            for ours, ref in zip(g, scipy_gradient(image, 2.0, mode), strict=True):
                np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-13 * image.max())


def test_tiny_sigma_has_a_zero_derivative_as_scipy():
    image = np.arange(12.0).reshape(3, 4)
    g = F.gaussian_gradient(image, 0.1)
    assert not g.gx.any() and not g.gy.any()
    assert not ndi.gaussian_filter(image, 0.1, order=(0, 1)).any()


def test_threads_do_not_change_the_bits(photos, monkeypatch):
    import cv2

    image = np.tile(photos["gray-float32"], (4, 4))  # large enough for two threads
    both = F.structure_tensor(image, 1.0, 2.0)
    monkeypatch.setattr(cv2, "getNumThreads", lambda: 1)
    one = F.structure_tensor(image, 1.0, 2.0)
    for a, b in zip(both, one, strict=True):
        np.testing.assert_array_equal(a, b)


# --- contract --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_not_modified_and_out_is_used(photos, dtype):
    image = photos[f"rgb-{dtype}"]
    before = image.copy()
    ref = F.gaussian_gradient(image, 1.0)
    out = (np.empty_like(ref.gx), np.empty_like(ref.gy))
    got = F.gaussian_gradient(image, 1.0, out=out)
    assert got.gx is out[0] and got.gy is out[1]
    np.testing.assert_array_equal(got.gx, ref.gx)
    np.testing.assert_array_equal(got.gy, ref.gy)
    np.testing.assert_array_equal(image, before)
    best = F.gaussian_gradient(image, 1.0, channels="max")
    out2 = (np.empty_like(best.gx), np.empty_like(best.gy))
    np.testing.assert_array_equal(
        F.gaussian_gradient(image, 1.0, channels="max", out=out2).gx, best.gx
    )


def test_non_contiguous_input(photos):
    image = photos["gray-uint8"]
    view = image[::2, ::-1]
    np.testing.assert_array_equal(
        F.gaussian_gradient(view, 1.0).gx, F.gaussian_gradient(view.copy(), 1.0).gx
    )


def test_result_pickles(photos):
    g = F.gaussian_gradient(photos["gray-uint8"], 1.0)
    again = pickle.loads(pickle.dumps(g))
    assert type(again) is imgrad.Gradient
    np.testing.assert_array_equal(again.gx, g.gx)


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"sigma": 0}, ValueError, r"'sigma' parameter of gaussian_gradient must be a number > 0"),
        ({"sigma": "2"}, TypeError, r"'sigma' parameter of gaussian_gradient"),
        ({"sigma": 5000.0}, ValueError, r"'sigma' .* kernel radius .* at most 16384 px"),
        ({"truncate": -1.0}, ValueError, r"'truncate' parameter of gaussian_gradient"),
        ({"border": "mirror"}, ValueError, r"'border' parameter .* one of \{'reflect101'"),
        ({"channels": "sum"}, ValueError, r"'channels' parameter .* one of \{'separate', 'max'\}"),
        ({"normalize": 1}, TypeError, r"'normalize' parameter .* True or False"),
        ({"out": np.zeros(3)}, TypeError, r"'out' parameter .* tuple \(gx, gy\)"),
        (
            {"out": (np.zeros((2, 2), np.float32),) * 2},
            ValueError,
            r"'out' parameter .* shape \(5, 6\) and dtype float32",
        ),
    ],
)
def test_errors_name_the_parameter(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        F.gaussian_gradient(np.zeros((5, 6), np.uint8), **kwargs)


def test_image_errors():
    with pytest.raises(TypeError, match=r"'image' parameter of gaussian_gradient must have dtype"):
        F.gaussian_gradient(np.zeros((4, 4), np.int32))
    with pytest.raises(ValueError, match=r"'image' parameter of gaussian_gradient must be 2-D"):
        F.gaussian_gradient(np.zeros(4))
