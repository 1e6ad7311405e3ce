"""Magnitude and phase against NumPy definitions and OpenCV."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import imgrad
from imgrad.magphase import phase_range

OPTIONS = list(itertools.product(["image", "math"], ["full", "signed", "half"], [False, True]))


@pytest.fixture(scope="module")
def planes(camera):
    g = imgrad.sobel(camera[::2, ::2])
    gx, gy = g.gx.copy(), g.gy.copy()
    # Exact zeros and axis-aligned directions, including signed zeros.
    gx[0, :8] = [0, 0, -0.0, 0, 1, -1, 0, 0]
    gy[0, :8] = [0, -0.0, 0, 1, 0, 0, -1, -0.0]
    return gx, gy


def reference(gx, gy, convention):
    """float64 definition: atan2(gy, gx) (image) or atan2(-gy, gx) (math)."""
    gx, gy = gx.astype(np.float64), gy.astype(np.float64)
    return np.arctan2(-gy if convention == "math" else gy, gx)


def angular_error(got_rad, ref_rad, period):
    return np.abs((got_rad - ref_rad + period / 2) % period - period / 2)


def in_range(p, degrees, wrap):
    low, high = phase_range(degrees=degrees, wrap=wrap)
    low, high = p.dtype.type(low), p.dtype.type(high)
    if wrap == "signed":
        return bool(np.all((p > low) & (p <= high)))
    return bool(np.all((p >= low) & (p < high)))


# --- magnitude ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_magnitude_norms(dtype, planes):
    gx, gy = (p.astype(dtype) for p in planes)
    fx, fy = gx.astype(np.float64), gy.astype(np.float64)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(imgrad.magnitude(gx, gy), np.hypot(fx, fy), rtol=rtol)
    np.testing.assert_array_equal(imgrad.magnitude(gx, gy, norm="l1"), np.abs(gx) + np.abs(gy))
    np.testing.assert_array_equal(
        imgrad.magnitude(gx, gy, norm="max"), np.maximum(np.abs(gx), np.abs(gy))
    )
    for norm in ("l2", "l1", "max"):
        assert imgrad.magnitude(gx, gy, norm=norm).dtype == dtype


def test_magnitude_of_integer_and_multichannel_planes():
    gx = np.array([[3, 0], [5, 8]], np.uint8)
    gy = np.array([[4, 0], [12, 15]], np.uint16)
    m = imgrad.magnitude(gx, gy)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, [[5, 0], [13, 17]])
    stack = np.stack([gx, gx], axis=-1).astype(np.float32)
    assert imgrad.magnitude(stack, stack).shape == (2, 2, 2)


# --- phase ----------------------------------------------------------------------------


@pytest.mark.parametrize(("convention", "wrap", "degrees"), OPTIONS)
@pytest.mark.parametrize("precise", [False, True])
def test_phase_accuracy_and_range(convention, wrap, degrees, precise, planes):
    gx, gy = planes
    p = imgrad.phase(gx, gy, degrees=degrees, convention=convention, wrap=wrap, precise=precise)
    assert p.dtype == np.float32 and p.shape == gx.shape
    assert in_range(p, degrees, wrap)
    got = np.radians(p.astype(np.float64)) if degrees else p.astype(np.float64)
    period = np.pi if wrap == "half" else 2 * np.pi
    zero = (gx == 0) & (gy == 0)
    error = angular_error(got, reference(gx, gy, convention), period)
    assert error[~zero].max() <= (1e-6 if precise else 2e-4)
    # arctan2(+-0, -0) is +-pi in NumPy; imgrad defines the phase of a zero gradient as 0.
    assert zero.sum() >= 3
    np.testing.assert_array_equal(p[zero], 0)


def test_image_convention_is_cv2_phase(planes):
    gx, gy = planes
    p = imgrad.phase(gx, gy)
    ref = cv2.phase(gx, gy)
    ref[ref >= np.float32(2 * np.pi)] = 0  # imgrad's range is half-open
    np.testing.assert_array_equal(p, ref)
    np.testing.assert_array_equal(
        imgrad.phase(gx, gy, degrees=True) % 360, cv2.phase(gx, gy, angleInDegrees=True) % 360
    )


def test_axis_directions_in_both_conventions():
    # right, down, left, up in image coordinates (y down)
    gx = np.array([[1.0, 0.0, -1.0, 0.0]])
    gy = np.array([[0.0, 1.0, 0.0, -1.0]])
    img = imgrad.phase(gx, gy, degrees=True, precise=True)
    math = imgrad.phase(gx, gy, degrees=True, precise=True, convention="math")
    signed = imgrad.phase(gx, gy, degrees=True, precise=True, convention="math", wrap="signed")
    half = imgrad.phase(gx, gy, degrees=True, precise=True, wrap="half")
    np.testing.assert_array_equal(img, [[0, 90, 180, 270]])
    np.testing.assert_array_equal(math, [[0, 270, 180, 90]])
    np.testing.assert_array_equal(signed, [[0, -90, 180, 90]])
    np.testing.assert_array_equal(half, [[0, 90, 0, 90]])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    arrays(np.float32, (6, 7), elements=st.floats(-1e4, 1e4, width=32)),
    arrays(np.float32, (6, 7), elements=st.floats(-1e4, 1e4, width=32)),
)
def test_half_wrap_ignores_polarity(gx, gy):
    a = imgrad.phase(gx, gy, wrap="half", precise=True).astype(np.float64)
    b = imgrad.phase(-gx, -gy, wrap="half", precise=True).astype(np.float64)
    assert angular_error(a, b, np.pi).max() <= 1e-6


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    arrays(np.float64, (5, 5), elements=st.floats(-1e6, 1e6)),
    arrays(np.float64, (5, 5), elements=st.floats(-1e6, 1e6)),
)
def test_float64_phase_matches_arctan2(gx, gy):
    for convention, wrap, degrees in OPTIONS:
        p = imgrad.phase(gx, gy, convention=convention, wrap=wrap, degrees=degrees, precise=True)
        assert p.dtype == np.float64 and in_range(p, degrees, wrap)
        got = np.radians(p) if degrees else p
        period = np.pi if wrap == "half" else 2 * np.pi
        ok = (gx != 0) | (gy != 0)
        assert angular_error(got, reference(gx, gy, convention), period)[ok].max(initial=0) < 1e-12


# --- polar ----------------------------------------------------------------------------


@pytest.mark.parametrize(("convention", "wrap", "degrees"), OPTIONS)
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_polar_equals_magnitude_and_phase(convention, wrap, degrees, norm, planes):
    gx, gy = planes
    kw = {"convention": convention, "wrap": wrap, "degrees": degrees}
    m, p = imgrad.polar(gx, gy, norm=norm, **kw)
    np.testing.assert_allclose(m, imgrad.magnitude(gx, gy, norm=norm), rtol=2e-7)
    np.testing.assert_array_equal(p, imgrad.phase(gx, gy, **kw))
    assert isinstance(imgrad.polar(gx, gy), imgrad.Polar)


def test_l2_magnitude_is_the_rounded_numpy_definition(planes):
    gx, gy = planes
    m, p = imgrad.polar(gx, gy)
    np.testing.assert_array_equal(m, np.sqrt(gx * gx + gy * gy))
    ref_p = cv2.phase(gx, gy)
    ref_p[ref_p >= np.float32(2 * np.pi)] = 0
    np.testing.assert_array_equal(p, ref_p)


def test_results_do_not_depend_on_memory_alignment(planes):
    """The same values at other addresses give the same bits (tiles, strips, workers)."""
    gx, gy = planes

    def at(a, offset):
        buf = np.empty(a.size + 16, a.dtype)
        view = buf[offset : offset + a.size].reshape(a.shape)
        view[:] = a
        return view

    m, p = imgrad.polar(gx, gy)
    for ox, oy in [(0, 1), (1, 0), (3, 5), (2, 7)]:
        m2, p2 = imgrad.polar(at(gx, ox), at(gy, oy))
        np.testing.assert_array_equal(m2, m)
        np.testing.assert_array_equal(p2, p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_phase_bits_do_not_depend_on_array_size(dtype):
    """OpenCV computes the last few elements of an array in scalar code that rounds
    some angles differently; a pixel must get the same bits alone, in a strip
    or in the whole image."""
    rng = np.random.default_rng(5)
    gx = rng.integers(-1020, 1021, (37, 53)).astype(dtype)
    gy = rng.integers(-1020, 1021, (37, 53)).astype(dtype)
    whole = imgrad.phase(gx, gy)
    m, p = imgrad.polar(gx, gy, degrees=True)
    for r in range(gx.shape[0]):
        row = slice(r, r + 1)
        np.testing.assert_array_equal(imgrad.phase(gx[row], gy[row]), whole[row])
        for c in range(0, gx.shape[1], 7):
            cell = (slice(r, r + 1), slice(c, c + 1))
            np.testing.assert_array_equal(imgrad.phase(gx[cell], gy[cell]), whole[cell])
            single = imgrad.polar(gx[cell], gy[cell], degrees=True)
            np.testing.assert_array_equal(single.phase, p[cell])
            np.testing.assert_array_equal(single.magnitude, m[cell])


# --- exceptions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "exc", "words"),
    [
        (lambda a, b: imgrad.magnitude(a, b, norm="l3"), ValueError, ["'norm'", "'l1'", "'l3'"]),
        (lambda a, b: imgrad.phase(a, b, wrap="twice"), ValueError, ["'wrap'", "'half'"]),
        (
            lambda a, b: imgrad.phase(a, b, convention="y-up"),
            ValueError,
            ["'convention'", "'image'", "'math'", "'y-up'"],
        ),
        (lambda a, b: imgrad.phase(a, b, degrees=1), TypeError, ["'degrees'", "Got 1"]),
        (lambda a, b: imgrad.polar(a, b[:-1]), ValueError, ["'gx'", "'gy'", "same shape"]),
        (lambda a, b: imgrad.magnitude(a, [1, 2]), TypeError, ["'gy'", "NumPy array"]),
        (lambda a, b: imgrad.phase(a.astype(np.int64), b), TypeError, ["'gx'", "int64"]),
    ],
)
def test_bad_arguments(call, exc, words, planes):
    with pytest.raises(exc) as info:
        call(*planes)
    for word in words:
        assert word in str(info.value)


def test_inputs_are_not_modified(planes):
    gx, gy = (p.copy() for p in planes)
    for convention, wrap, degrees in OPTIONS:
        imgrad.polar(gx, gy, convention=convention, wrap=wrap, degrees=degrees, norm="max")
    np.testing.assert_array_equal(gx, planes[0])
    np.testing.assert_array_equal(gy, planes[1])


# --- edge values: every result inside the documented interval ------------------------


def _edge_values(dtype):
    info = np.finfo(dtype)
    magnitudes = [0.0, info.smallest_subnormal, info.tiny, 1e-300, 1e-45, 1e-13, 1e-6, 1.0]
    magnitudes += [1e6, 1e30, float(info.max) / 4, float(info.max)]
    values = sorted({dtype(s * m) for m in magnitudes for s in (1, -1)} | {dtype(-0.0)})
    gx, gy = np.meshgrid(np.array(values, dtype), np.array(values, dtype))
    return np.ascontiguousarray(gx), np.ascontiguousarray(gy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("convention", "wrap", "degrees"), OPTIONS)
@pytest.mark.parametrize("precise", [False, True])
def test_phase_stays_inside_its_interval_on_edge_values(dtype, convention, wrap, degrees, precise):
    gx, gy = _edge_values(dtype)
    with np.errstate(over="ignore", under="ignore"):
        angle = imgrad.phase(
            gx, gy, convention=convention, wrap=wrap, degrees=degrees, precise=precise
        )
    low, high = (dtype(v) for v in phase_range(degrees=degrees, wrap=wrap))
    assert angle.dtype == dtype
    if wrap == "signed":
        assert np.all((angle > low) & (angle <= high))
    else:
        assert np.all((angle >= low) & (angle < high))
    assert np.all(angle[(gx == 0) & (gy == 0)] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("convention", ["image", "math"])
def test_angles_just_off_the_x_axis_stay_non_negative(dtype, convention):
    gx = np.array([[1000.0, 1000.0, 1.0, 1e-30]], dtype)
    gy = np.array([[-1e-6, 1e-6, -1e-9, -1e-40]], dtype)
    for wrap in ("full", "half"):
        angle = imgrad.phase(gx, gy, convention=convention, wrap=wrap)
        assert np.all(angle >= 0), angle


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 1e-9, 1e-12, 1e-13, 1e-20, 1e-38])
def test_fast_phase_keeps_its_bound_on_tiny_gradients(dtype, scale):
    turns = np.linspace(0, 1, 721, endpoint=False)
    gx = (np.cos(2 * np.pi * turns) * scale).astype(dtype)[np.newaxis]
    gy = (np.sin(2 * np.pi * turns) * scale).astype(dtype)[np.newaxis]
    fast = imgrad.phase(gx, gy).astype(np.float64)
    exact = np.mod(np.arctan2(gy.astype(np.float64), gx.astype(np.float64)), 2 * np.pi)
    error = np.abs(np.angle(np.exp(1j * (fast - exact))))
    assert error.max() < 2e-4, error.max()
