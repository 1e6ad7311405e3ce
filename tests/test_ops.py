"""Contracts every step honours: declared parameters, halo, purity, pickling."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
from hypothesis import given, settings

import imgrad
from imgrad import Pipeline, ops

from .strategies import PREREQUISITE, step_and_values

ALL_STEPS = sorted(ops.STEPS)


def pipeline_for(name: str, **values) -> Pipeline:
    """The step alone, after what it needs."""
    return Pipeline([*PREREQUISITE.get(name, []), ops.make_step(name, **values)])


@pytest.mark.parametrize("name", ALL_STEPS)
def test_defaults_are_the_functions_defaults(name):
    cls = ops.STEPS[name]
    signature = inspect.signature(cls.function)
    for param in cls.params:
        if param.name in signature.parameters:
            assert cls.defaults[param.name] == signature.parameters[param.name].default
        else:
            assert param.name in ("input", "name")  # the step's own plane routing


@pytest.mark.parametrize("name", ALL_STEPS)
def test_available_ops_describes_every_parameter(name):
    ops_by_name = {op["name"]: op for op in imgrad.available_ops()}
    entry = ops_by_name[name]
    cls = ops.STEPS[name]
    assert entry["summary"] == cls.summary
    assert [p["name"] for p in entry["params"]] == [p.name for p in cls.params]
    for described, param in zip(entry["params"], cls.params, strict=True):
        assert described["allowed"] and described["doc"]
        default = cls.defaults[param.name]
        if default is not None and not isinstance(default, np.ndarray):
            # the default itself passes the parameter's own rule
            assert param.check(default, name) == default


@pytest.mark.parametrize("name", ALL_STEPS)
def test_step_is_pure_keeps_dtype_policy_and_pickles(name, astronaut):
    pipe = pipeline_for(name)
    image = astronaut[:64, :80].copy()
    before = image.copy()
    out = pipe(image)
    np.testing.assert_array_equal(image, before)  # input untouched
    again = pickle.loads(pickle.dumps(pipe))
    for plane, value in again(image).items():
        np.testing.assert_array_equal(value, out[plane])
        assert value.dtype == out[plane].dtype
    for plane, value in out.items():
        assert value.dtype in (np.uint8, np.uint16, np.float32, np.float64), plane
        assert not np.shares_memory(value, image)


@pytest.mark.parametrize("name", ALL_STEPS)
def test_batched_equals_unbatched(name, astronaut, camera):
    pipe = pipeline_for(name)
    gray = imgrad.gray(astronaut)
    stack = np.stack([gray, camera, gray[::-1]])
    batched = pipe.map(stack)
    for i, image in enumerate(stack):
        for plane, value in pipe(image).items():
            np.testing.assert_array_equal(batched[plane][i], value)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(step_and_values())
def test_halo_bounds_the_reach_of_every_step(drawn):
    """A change to one pixel changes no output farther away than the pipeline's halo."""
    name, values = drawn
    pipe = pipeline_for(name, **values)
    if pipe.needs_whole_image:  # wraps or rescales globally: no locality to check
        return
    size = 2 * pipe.halo + 21
    rng = np.random.default_rng(1)
    image = rng.integers(0, 200, (size, size, 3), dtype=np.uint8)
    poked = image.copy()
    centre = size // 2
    poked[centre, centre] += 50
    a, b = pipe(image), pipe(poked)
    for plane in a:
        changed = np.argwhere(np.any((a[plane] != b[plane]).reshape(size, size, -1), axis=-1))
        if changed.size:
            reach = np.abs(changed - centre).max()
            assert reach <= pipe.halo, f"{pipe}: plane {plane} changed {reach} px away"


@pytest.mark.parametrize(
    ("text", "wraps", "statistics"),
    [
        ("sobel", False, False),
        ("sobel border=wrap", True, False),
        ("gaussian sigma=1 border=wrap | sobel", True, False),
        ("sobel | magnitude | scale method=minmax", False, True),
        ("sobel | magnitude | scale method=range low=0 high=100", False, False),
        ("sobel | polar | colorize", False, True),
        ("sobel | polar | colorize max=100", False, False),
    ],
)
def test_whole_image_steps_say_why(text, wraps, statistics):
    """A step reaching beyond its halo says whether it wraps or needs statistics,
    and it shows: brightening the left columns changes the rightmost one."""
    pipe = Pipeline.parse(text)
    assert any(step.wraps for step in pipe.steps) == wraps
    assert any(step.needs_statistics for step in pipe.steps) == statistics
    assert pipe.needs_whole_image == (wraps or statistics)
    rng = np.random.default_rng(0)
    image = (np.linspace(0, 100, 48) + rng.integers(0, 20, (32, 48))).astype(np.uint8)
    poked = image.copy()
    poked[:, :8] = 255
    a, b = pipe(image), pipe(poked)
    last_column_changed = any(not np.array_equal(a[k][:, -1], b[k][:, -1]) for k in a)
    assert last_column_changed == pipe.needs_whole_image


def test_step_reprs_and_text():
    step = ops.Sobel(ksize=5, normalize=True)
    assert repr(step) == "Sobel(ksize=5, normalize=True)"
    assert step.to_text() == "sobel ksize=5 normalize=true"
    assert step.to_plain() == {"sobel": {"ksize": 5, "normalize": True}}
    assert ops.Gray().to_plain() == "gray"
    assert ops.Sobel(ksize=5) == ops.Sobel(ksize=5) != ops.Sobel()
    assert ops.Morph(footprint=np.ones((3, 3))) == ops.Morph(footprint=np.ones((3, 3)))
    assert ops.Morph(footprint=np.ones((3, 3)), size=5) == ops.Morph(footprint=np.ones((3, 3)))
