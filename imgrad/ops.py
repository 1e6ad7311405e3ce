"""Pipeline steps: thin class twins of the operator functions.

Each step declares its parameters (the very ``Param`` objects its function
checks with), the planes it reads and writes, and its halo: how many pixels
around an output pixel it reads, so a tiled executor can run it. A step's
constructor only checks and stores its arguments; its work is the operator
function.

Planes
------
A pipeline carries named planes; the input is ``image``.

==================  =========================  ===============================
step                reads                      writes
==================  =========================  ===============================
gray, gaussian      ``input`` (image)          ``name`` (image): replaces it
sobel, scharr, ...  ``input`` (image)          ``gx``, ``gy``; with name=P:
                                               ``P_gx``, ``P_gy``
magnitude, phase    ``gx``, ``gy``; with       ``magnitude`` / ``phase``, or
                    input=P: ``P_gx``, ``P_gy`` ``P_magnitude`` / ``P_phase``;
                                               name= renames
polar               as magnitude               both, prefixed by name= (or
                                               by input=)
morph               ``input`` (image)          ``name`` (morph)
scale               ``input`` (the planes the  the same planes, as integers
                    previous step wrote)
==================  =========================  ===============================
"""

from __future__ import annotations

import difflib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from imgrad import derivatives, filters, magphase, morphology, scaling, visualize
from imgrad._params import MISSING, Param, PlaneName, PlaneNames
from imgrad.errors import PipelineError

__all__ = [
    "STEPS",
    "Central",
    "Colorize",
    "Farid",
    "Gaussian",
    "Gray",
    "Intermediate",
    "Magnitude",
    "Morph",
    "Phase",
    "Polar",
    "Prewitt",
    "Roberts",
    "Scale",
    "Scharr",
    "Sobel",
    "Step",
    "available_ops",
    "make_step",
]

IMAGE = "image"

# Step-only parameters (not passed to the operator function).
INPUT = PlaneName("input", "plane to read", default=None)
NAME = PlaneName("name", "name of the plane written", default=None)
PREFIX_INPUT = PlaneName(
    "input", "prefix P of the gradient planes read (P_gx, P_gy)", default=None
)
PREFIX_NAME = PlaneName("name", "prefix P of the planes written (P_gx, P_gy)", default=None)
_STEP_ONLY = ("input", "name")


class Step(ABC):
    """Base class: stores checked parameters; subclasses declare planes and halo.

    Subclasses set ``name`` (text name), ``summary``, ``params`` and usually
    ``function``; defaults come from the function's signature, so they are
    written once.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    function: ClassVar[Callable[..., Any] | None] = None
    defaults: ClassVar[dict[str, Any]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        function = cls.__dict__.get("function")
        if function is not None and not isinstance(function, staticmethod):
            cls.function = staticmethod(function)  # a plain function, not a method
        if "params" not in cls.__dict__:
            return
        signature = inspect.signature(cls.function) if cls.function else None
        cls.defaults = {}
        for p in cls.params:
            if p.default is not MISSING:
                cls.defaults[p.name] = p.default
            else:
                cls.defaults[p.name] = signature.parameters[p.name].default

    def __init__(self, **values: Any) -> None:
        by_name = {p.name: p for p in self.params}
        for key in values:
            if key not in by_name:
                raise PipelineError(
                    _unknown(f"parameter {key!r} for step {self.name!r}", key, list(by_name))
                )
        checked = {}
        for p in self.params:
            value = values.get(p.name, self.defaults[p.name])
            try:
                checked[p.name] = p.check(value, f"step {self.name!r}")
            except (ValueError, TypeError) as exc:
                raise PipelineError(str(exc)) from None
        self.values: Mapping[str, Any] = checked
        self._validate()

    @classmethod
    def from_text(cls, pairs: Sequence[tuple[str, str]]) -> Step:
        """Build from ``key=value`` pairs of the text form."""
        by_name = {p.name: p for p in cls.params}
        values = {}
        for key, text in pairs:
            if key not in by_name:
                raise PipelineError(
                    _unknown(f"parameter {key!r} for step {cls.name!r}", key, list(by_name))
                )
            try:
                values[key] = by_name[key].parse(text, f"step {cls.name!r}")
            except (ValueError, TypeError) as exc:
                raise PipelineError(str(exc)) from None
        return cls(**values)

    # --- hooks for subclasses
    def _validate(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Cross-parameter checks (none by default)."""

    def check_inputs(self, producers: Mapping[str, Step]) -> None:  # noqa: B027 - optional hook
        """Check the steps that wrote the planes read (raise PipelineError)."""

    def reads(self, previous: tuple[str, ...]) -> tuple[str, ...]:
        """Planes read, given the planes the previous step wrote."""
        return (self.values["input"] or IMAGE,)

    @abstractmethod
    def writes(self, previous: tuple[str, ...]) -> tuple[str, ...]:
        """Planes written, given the planes the previous step wrote."""

    def halo(self) -> int:
        """Pixels read around each output pixel."""
        return 0

    def compute(
        self, *planes: np.ndarray, out: tuple[np.ndarray, ...] | None = None
    ) -> tuple[np.ndarray, ...]:
        """The work: the operator function on the planes read.

        `out`, if given, holds one array per plane written, to write into.
        """
        out_plane = None if out is None else out[0]
        return (self.function(*planes, **self.operator_values(), out=out_plane),)

    #: True for operators that already run in cache-sized strips on threads
    #: themselves (morphology); a pipeline of only such steps and pointwise ones
    #: runs on whole planes.
    strips_itself: ClassVar[bool] = False

    @property
    def wraps(self) -> bool:
        """True when the step reads across the opposite edge of the image
        (a neighbourhood with ``border=wrap``)."""
        return self.values.get("border") == "wrap" and self.halo() > 0

    @property
    def needs_statistics(self) -> bool:
        """True when the result depends on statistics of the whole image
        (``scale method=minmax``, ``colorize`` without ``max``)."""
        return False

    @property
    def needs_whole_image(self) -> bool:
        """True when a pixel's result may depend on pixels beyond the halo:
        the step :attr:`wraps` or :attr:`needs_statistics`. Such steps cannot be
        cut into independent tiles."""
        return self.wraps or self.needs_statistics

    # --- common behaviour
    def operator_values(self) -> dict[str, Any]:
        """Parameter values passed to the operator function."""
        return {k: v for k, v in self.values.items() if k not in _STEP_ONLY}

    def changed_values(self) -> dict[str, Any]:
        """Parameters whose value differs from the default."""
        return {
            k: v
            for k, v in self.values.items()
            if not _same(v, self.defaults[k]) and not self._irrelevant(k)
        }

    def _irrelevant(self, key: str) -> bool:
        return False

    def to_text(self) -> str:
        """Text form, e.g. ``sobel ksize=5``; only non-default parameters."""
        by_name = {p.name: p for p in self.params}
        parts = [self.name] + [
            f"{k}={by_name[k].format(v)}" for k, v in self.changed_values().items()
        ]
        return " ".join(parts)

    def to_plain(self) -> str | dict[str, dict[str, Any]]:
        """YAML/JSON form: ``"gray"`` or ``{"sobel": {"ksize": 5}}``."""
        by_name = {p.name: p for p in self.params}
        changed = {k: by_name[k].to_plain(v) for k, v in self.changed_values().items()}
        return {self.name: changed} if changed else self.name

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            _same(self.values[k], other.values[k]) for k in self.values if not self._irrelevant(k)
        )

    __hash__ = None  # type: ignore[assignment]  # values may be arrays

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.changed_values().items())
        return f"{type(self).__name__}({args})"

    def __reduce__(self):
        return _rebuild, (type(self), dict(self.values))


def _rebuild(cls: type[Step], values: dict[str, Any]) -> Step:
    return cls(**values)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    return bool(a == b)


def _unknown(what: str, key: str, choices: list[str]) -> str:
    starting = [c for c in choices if c.startswith(key)]
    close = starting[:1] if len(starting) == 1 else difflib.get_close_matches(key, choices, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown {what}.{hint} Allowed: {', '.join(choices)}."


# --- image transforms --------------------------------------------------------


class _ImageTransform(Step):
    def writes(self, previous):
        return (self.values["name"] or IMAGE,)


class Gray(_ImageTransform):
    name = "gray"
    summary = "BT.601 luma of RGB(A) input (alpha dropped); no-op on single-channel input"
    function = filters.gray
    params = (INPUT, NAME)


class Gaussian(_ImageTransform):
    name = "gaussian"
    summary = "Gaussian smoothing to float32, support ceil(4 sigma) unless ksize is given"
    function = filters.gaussian
    params = (filters.SIGMA, filters.KSIZE, filters.BORDER, filters.CVAL, INPUT, NAME)

    def halo(self) -> int:
        return filters.gaussian_ksize(self.values["sigma"], self.values["ksize"]) // 2


# --- derivatives -------------------------------------------------------------

_DERIVATIVE_OPTIONS = (
    derivatives.NORMALIZE,
    derivatives.BORDER,
    derivatives.CVAL,
    derivatives.CHANNELS,
    INPUT,
    PREFIX_NAME,
)


class _Derivative(Step):
    radius: ClassVar[int] = 1

    def writes(self, previous):
        return _prefixed(self.values["name"], ("gx", "gy"))

    def halo(self) -> int:
        return self.radius

    def compute(self, image, out=None):
        return tuple(self.function(image, **self.operator_values(), out=out))


class Sobel(_Derivative):
    name = "sobel"
    summary = "Sobel derivatives gx, gy (equal to cv2.Sobel)"
    function = derivatives.sobel
    params = (derivatives.KSIZE, *_DERIVATIVE_OPTIONS)

    def halo(self) -> int:
        return max(1, self.values["ksize"] // 2)


class Scharr(_Derivative):
    name = "scharr"
    summary = "Scharr 3x3 derivatives gx, gy (equal to cv2.Scharr)"
    function = derivatives.scharr
    params = _DERIVATIVE_OPTIONS


class Prewitt(_Derivative):
    name = "prewitt"
    summary = "Prewitt 3x3 derivatives gx, gy"
    function = derivatives.prewitt
    params = _DERIVATIVE_OPTIONS


class Central(_Derivative):
    name = "central"
    summary = "central differences (I[x+1] - I[x-1]) / 2"
    function = derivatives.central
    params = _DERIVATIVE_OPTIONS


class Intermediate(_Derivative):
    name = "intermediate"
    summary = "forward differences I[x+1] - I[x]"
    function = derivatives.intermediate
    params = _DERIVATIVE_OPTIONS


class Roberts(_Derivative):
    name = "roberts"
    summary = "Roberts cross: the two diagonal differences (as gx, gy)"
    function = derivatives.roberts
    params = _DERIVATIVE_OPTIONS


class Farid(_Derivative):
    name = "farid"
    summary = "Farid-Simoncelli 5x5 derivatives gx, gy"
    function = derivatives.farid
    params = _DERIVATIVE_OPTIONS
    radius = 2


def _prefixed(prefix: str | None, names: tuple[str, ...]) -> tuple[str, ...]:
    return names if prefix is None else tuple(f"{prefix}_{n}" for n in names)


# --- polar -------------------------------------------------------------------

_ANGLE_OPTIONS = (magphase.DEGREES, magphase.CONVENTION, magphase.WRAP, magphase.PRECISE)
GRADIENT_INPUT = PlaneName(
    "input", "prefix P of the gradient planes read: P_gx, P_gy (default gx, gy)", default=None
)


class _FromGradient(Step):
    plane: ClassVar[str]

    def reads(self, previous):
        return _prefixed(self.values["input"], ("gx", "gy"))

    def writes(self, previous):
        return (self.values["name"] or _prefixed(self.values["input"], (self.plane,))[0],)


class Magnitude(_FromGradient):
    name = "magnitude"
    summary = "gradient magnitude (norm l2, l1 or max)"
    function = magphase.magnitude
    params = (magphase.NORM, GRADIENT_INPUT, NAME)
    plane = "magnitude"


class Phase(_FromGradient):
    name = "phase"
    summary = "gradient direction, with explicit convention, wrap and units"
    function = magphase.phase
    params = (*_ANGLE_OPTIONS, GRADIENT_INPUT, NAME)
    plane = "phase"


class Polar(_FromGradient):
    name = "polar"
    summary = "magnitude and phase in one pass"
    function = magphase.polar
    params = (
        magphase.NORM,
        *_ANGLE_OPTIONS,
        GRADIENT_INPUT,
        PlaneName(
            "name",
            "prefix P of the planes written: P_magnitude, P_phase (default: the input prefix)",
            default=None,
        ),
    )

    def writes(self, previous):
        return _prefixed(self.values["name"] or self.values["input"], ("magnitude", "phase"))

    def compute(self, gx, gy, out=None):
        return tuple(self.function(gx, gy, **self.operator_values(), out=out))


# --- morphology --------------------------------------------------------------


class Morph(Step):
    name = "morph"
    summary = "morphological gradient: basic, internal or external, any footprint"
    function = morphology.morph_gradient
    strips_itself = True
    params = (
        morphology.KIND,
        morphology.FOOTPRINT,
        morphology.SIZE,
        morphology.ITERATIONS,
        morphology.BORDER,
        morphology.CVAL,
        INPUT,
        PlaneName("name", "name of the plane written", default="morph"),
    )

    def _validate(self) -> None:
        try:
            self._footprint = morphology.footprint(self.values["footprint"], self.values["size"])
        except (ValueError, TypeError) as exc:
            raise PipelineError(str(exc).replace("of footprint", "of step 'morph'")) from None

    def writes(self, previous):
        return (self.values["name"],)

    def halo(self) -> int:
        return morphology.reach(self._footprint, self.values["iterations"])

    def _irrelevant(self, key: str) -> bool:
        return key == "size" and isinstance(self.values["footprint"], np.ndarray)


# --- scaling -----------------------------------------------------------------


class Scale(Step):
    name = "scale"
    summary = "planes to uint8/uint16: per-image min-max, clip, or a fixed range low..high"
    function = scaling.scale
    params = (
        scaling.METHOD,
        scaling.DTYPE,
        scaling.LOW,
        scaling.HIGH,
        PlaneNames(
            "input", "planes to scale (default: those the previous step wrote)", default=None
        ),
    )

    def _validate(self) -> None:
        v = self.values
        try:
            scaling.check_range(v["method"], v["low"], v["high"], "step 'scale'")
        except ValueError as exc:
            raise PipelineError(str(exc)) from None

    @property
    def needs_statistics(self) -> bool:
        return self.values["method"] == "minmax"

    def reads(self, previous):
        return self.values["input"] or previous

    def writes(self, previous):
        return self.reads(previous)

    def compute(self, *planes, out=None):
        outs = out if out is not None else (None,) * len(planes)
        return tuple(
            self.function(p, **self.operator_values(), out=o)
            for p, o in zip(planes, outs, strict=True)
        )


# --- pictures ----------------------------------------------------------------


class Colorize(Step):
    name = "colorize"
    summary = "direction colour map: hue = direction, brightness = magnitude (RGB uint8)"
    function = visualize.colorize
    params = (
        *visualize.COLORIZE_PARAMS,
        PlaneName("input", "prefix P of the planes read: P_magnitude, P_phase", default=None),
        PlaneName("name", "name of the plane written", default="color"),
    )

    def reads(self, previous):
        return _prefixed(self.values["input"], ("magnitude", "phase"))

    def writes(self, previous):
        return (self.values["name"],)

    def check_inputs(self, producers: Mapping[str, Step]) -> None:
        """The phase options must describe the phase plane as its step wrote it."""
        phase_step = producers.get(self.reads(())[1])
        if phase_step is None:
            return
        for option in ("degrees", "wrap", "convention"):
            written = phase_step.values.get(option)
            if written is not None and written != self.values[option]:
                text = magphase.DEGREES.format(written) if option == "degrees" else written
                raise PipelineError(
                    f"Step 'colorize' reads a phase that step {phase_step.name!r} wrote with "
                    f"{option}={text}; give colorize {option}={text} too."
                )

    @property
    def needs_statistics(self) -> bool:
        return self.values["max"] is None  # the brightness percentile is a whole-image statistic


#: Every step by its text name, in the order ``imgrad ops`` lists them.
STEPS: dict[str, type[Step]] = {
    cls.name: cls
    for cls in (
        Gray,
        Gaussian,
        Sobel,
        Scharr,
        Prewitt,
        Central,
        Intermediate,
        Roberts,
        Farid,
        Magnitude,
        Phase,
        Polar,
        Morph,
        Scale,
        Colorize,
    )
}


def make_step(step: str, /, **values: Any) -> Step:
    """A step by text name: ``make_step("sobel", ksize=5)``."""
    if step not in STEPS:
        raise PipelineError(_unknown(f"step {step!r}", str(step), list(STEPS)))
    return STEPS[step](**values)


def available_ops() -> list[dict[str, Any]]:
    """Every step with its parameters, defaults and allowed values.

    Returns
    -------
    list of dict
        ``{"name", "summary", "params": [{"name", "default", "allowed", "doc"}]}``.

    Examples
    --------
    >>> import imgrad
    >>> ops = {op["name"]: op for op in imgrad.available_ops()}
    >>> [p["name"] for p in ops["sobel"]["params"]][:2]
    ['ksize', 'normalize']
    >>> ops["sobel"]["params"][0]["default"]
    3
    """
    return [
        {
            "name": cls.name,
            "summary": cls.summary,
            "params": [
                {
                    "name": p.name,
                    "default": p.to_plain(cls.defaults[p.name]),
                    "allowed": p.allowed,
                    "doc": p.doc,
                }
                for p in cls.params
            ],
        }
        for cls in STEPS.values()
    ]
