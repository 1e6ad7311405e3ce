"""Fused Sobel + magnitude/phase strips give the reference executor's bits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgrad import Pipeline, ops
from imgrad._fusion import SobelThen, exact_magnitude, fusable
from imgrad.execute import _Plan, _run_steps, _touch, run_fused, run_reference
from imgrad.magphase import _magnitude

#: Every value a 3x3 Sobel of uint8 can take.
SOBEL_RANGE = np.arange(-1020, 1021, dtype=np.float32)


def every_pair(scale: float = 1.0):
    gx, gy = np.meshgrid(SOBEL_RANGE * scale, SOBEL_RANGE * scale)
    return np.ascontiguousarray(gx), np.ascontiguousarray(gy)


def misaligned(array: np.ndarray, offset: int) -> np.ndarray:
    """A copy of `array` starting `offset` float32 elements past an aligned address."""
    buffer = np.empty(array.size + 32, np.float32)
    start = (-buffer.ctypes.data // 4) % 16 + offset
    view = buffer[start : start + array.size].reshape(array.shape)
    view[...] = array
    return view


@pytest.mark.parametrize("scale", [1.0, 0.125])  # plain and normalize=True
def test_exact_magnitude_is_correctly_rounded_for_every_sobel_value(scale):
    """The claim the fusion rests on: for these exact values, exact_magnitude is the
    correctly rounded magnitude at any memory alignment, and cv2.phase never rounds
    an angle up to a full turn."""
    gx, gy = every_pair(scale)
    expected = _magnitude(gx, gy, "l2")
    np.testing.assert_array_equal(
        expected, np.sqrt(gx.astype(np.float64) ** 2 + gy**2, dtype=np.float64).astype(np.float32)
    )
    for offset in (0, 1, 3, 7, 8):
        x, y = misaligned(gx, offset), misaligned(gy, offset)
        np.testing.assert_array_equal(exact_magnitude(x, y, misaligned(gx, offset + 1)), expected)
        for degrees in (False, True):
            angle = cv2.phase(x, y, angleInDegrees=degrees)
            np.testing.assert_array_equal(angle, cv2.phase(gx, gy, angleInDegrees=degrees))
            # so the fused stage needs no fold back from a full turn to 0
            assert angle.max() < (360 if degrees else np.float32(2 * np.pi))


@st.composite
def fusable_cases(draw):
    sobel = ops.Sobel(
        normalize=draw(st.booleans()),
        border=draw(st.sampled_from(["reflect101", "reflect", "replicate"])),
        channels=draw(st.sampled_from(["separate", "max"])),
    )
    kind = draw(st.sampled_from([ops.Magnitude, ops.Phase, ops.Polar]))
    values = {}
    if kind is not ops.Phase:
        values["norm"] = draw(st.sampled_from(["l2", "l1", "max"]))
    if kind is not ops.Magnitude:
        values["degrees"] = draw(st.booleans())
        values["convention"] = draw(st.sampled_from(["image", "math"]))
        values["wrap"] = draw(st.sampled_from(["full", "signed", "half"]))
        values["precise"] = draw(st.booleans())
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 23))
    shape = (height, width) if channels is None else (height, width, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    image = rng.integers(0, 255, shape, dtype=np.uint8, endpoint=True)
    return Pipeline([sobel, kind(**values)]), image


@settings(max_examples=300, deadline=None, derandomize=True)
@given(fusable_cases(), st.integers(1, 12), st.integers(1, 3))
def test_fused_sobel_then_polar_equals_reference(case, rows, workers):
    pipe, image = case
    reference = run_reference(pipe, image)
    fused = run_fused(pipe, image, rows=rows, workers=workers)
    for name, plane in reference.items():
        assert fused[name].dtype == plane.dtype and fused[name].shape == plane.shape
        np.testing.assert_array_equal(fused[name], plane, err_msg=f"{pipe} plane {name}")


def plan_of(pipe: Pipeline, image: np.ndarray) -> _Plan:
    seen: list = []
    _run_steps(pipe, image[:4, :4], seen)
    return _Plan(pipe, seen, rows=8, width=image.shape[1])


@pytest.mark.parametrize(
    ("text", "fused"),
    [
        ("sobel | polar", True),
        ("gray | sobel normalize=true | magnitude norm=l1", True),
        ("sobel border=replicate | phase wrap=half", True),
        ("sobel | magnitude | scale method=range low=0 high=500", True),  # into a buffer
        ("gray | sobel | polar | colorize max=300 -> color,phase", True),
        ("sobel ksize=5 | polar", False),  # not exact in int16 with this kernel
        ("scharr | polar", False),
        ("sobel border=constant | polar", False),
        ("sobel | polar -> gx,magnitude", False),  # gx is returned: made in full
        ("sobel | magnitude | phase", False),  # gx, gy read twice
    ],
)
def test_which_pairs_fuse(text, fused, astronaut):
    pipe = Pipeline.parse(text)
    stages = plan_of(pipe, astronaut).stages
    assert any(isinstance(stage.kernel, SobelThen) for stage in stages) is fused
    reference = run_reference(pipe, astronaut)
    result = run_fused(pipe, astronaut, rows=16, workers=2)
    for name in reference:
        np.testing.assert_array_equal(result[name], reference[name])


def test_fusable_needs_uint8_and_separate_channels():
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert fusable(ops.Sobel(), ops.Polar(), rgb)
    assert not fusable(ops.Sobel(channels="max"), ops.Polar(), rgb)
    assert not fusable(ops.Sobel(), ops.Polar(), rgb.astype(np.uint16))
    assert not fusable(ops.Sobel(), ops.Scale(), rgb)


def test_touching_output_pages_changes_no_byte():
    """The page-faulting thread races the computing ones: it must never write."""
    rng = np.random.default_rng(3)
    planes = {
        "a": rng.standard_normal((700, 3001)).astype(np.float32),
        "b": rng.integers(0, 255, (700, 3001, 3), dtype=np.uint8),
    }
    before = {name: plane.copy() for name, plane in planes.items()}
    _touch(planes, [(top, min(top + 64, 700)) for top in range(0, 700, 64)])
    for name, plane in planes.items():
        np.testing.assert_array_equal(plane, before[name])
