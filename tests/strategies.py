"""Hypothesis strategies drawn from the steps' own parameter declarations."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from imgrad import ops
from imgrad._params import (
    Bool,
    Choice,
    Float,
    Footprint,
    Int,
    OptionalFloat,
    OptionalInt,
    PlaneName,
    PlaneNames,
    Size,
)

#: imgrad border name -> scipy.ndimage mode of the same meaning.
SCIPY_MODES = {
    "reflect101": "mirror",
    "reflect": "reflect",
    "replicate": "nearest",
    "constant": "constant",
    "wrap": "wrap",
}

# What each step needs before it, so any step can be tried alone.
PREREQUISITE = {
    "magnitude": ["sobel"],
    "phase": ["sobel"],
    "polar": ["sobel"],
    "scale": ["sobel"],
    "colorize": ["sobel", "polar"],
}
# Parameters that must agree with an earlier step (colorize reads polar's phase as written).
FIXED = {"colorize": ("degrees", "wrap", "convention")}


def value_strategy(param):
    """Valid values of a parameter, drawn from its own declared rule."""
    if isinstance(param, Choice):
        return st.sampled_from(param.choices)
    if isinstance(param, Bool):
        return st.booleans()
    if isinstance(param, (OptionalInt, Int)):
        high = min(param.high or 41, 41)
        ints = st.integers(param.low or 0, high)
        if param.odd:
            ints = ints.map(lambda v: v | 1).filter(lambda v: v <= high)
        return st.none() | ints if isinstance(param, OptionalInt) else ints
    if isinstance(param, (OptionalFloat, Float)):
        low = (param.low or 0.0) + (0.1 if param.strict else 0.0)
        high = min(param.high if param.high is not None else 8.0, 8.0)
        floats = st.floats(low, high, allow_nan=False).map(lambda v: round(v, 3))
        return st.none() | floats if isinstance(param, OptionalFloat) else floats
    if isinstance(param, Size):
        odd = st.integers(0, 4).map(lambda v: 2 * v + 1)
        return odd | st.tuples(odd, odd)
    if isinstance(param, Footprint):
        arrays = st.lists(
            st.lists(st.sampled_from([0, 1]), min_size=3, max_size=3), min_size=1, max_size=3
        ).filter(lambda a: any(map(any, a)))
        return st.sampled_from(["rect", "ellipse", "cross"]) | arrays.map(np.array)
    raise AssertionError(f"no strategy for {param!r}")


@st.composite
def step_and_values(draw):
    name = draw(st.sampled_from(sorted(ops.STEPS)))
    cls = ops.STEPS[name]
    values = {}
    for param in cls.params:
        if isinstance(param, (PlaneName, PlaneNames)) or param.name in ("low", "high"):
            continue
        if param.name in FIXED.get(name, ()):
            continue
        if draw(st.booleans()):
            values[param.name] = draw(value_strategy(param))
    if name == "scale" and values.get("method") == "range":
        values.update(low=0.0, high=draw(st.floats(0.5, 100).map(lambda v: round(v, 2))))
    return name, values


@st.composite
def pipelines(draw, extra_outputs: bool = False):
    """One to three random steps, each with what it needs before it; with
    `extra_outputs`, up to two more planes among the outputs."""
    from imgrad import Pipeline

    steps = []
    for _ in range(draw(st.integers(1, 3))):
        name, values = draw(step_and_values())
        steps += [ops.make_step(before) for before in PREREQUISITE.get(name, [])]
        steps.append(ops.make_step(name, **values))
    pipe = Pipeline(steps)
    if not extra_outputs:
        return pipe
    extra = draw(st.lists(st.sampled_from(list(pipe.planes)), max_size=2, unique=True))
    return pipe.with_outputs(list(dict.fromkeys([*pipe.outputs, *extra])))


DTYPES = [np.uint8, np.uint16, np.int16, np.float32, np.float64]


@st.composite
def images(draw):
    """A small random image of any supported dtype, 2-D or with 1, 3 or 4 channels."""
    dtype = draw(st.sampled_from(DTYPES))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 23))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if dtype in (np.uint8, np.uint16, np.int16):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return (rng.standard_normal(shape) * 50).astype(dtype)
