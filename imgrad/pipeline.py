"""The pipeline: a checked chain of steps, as Python objects, text or YAML.

The same pipeline is written three ways::

    Pipeline([ops.Gray(), ops.Gaussian(sigma=1.0), ops.Sobel(), ops.Polar()])
    Pipeline.parse("gray | gaussian sigma=1 | sobel | polar")
    Pipeline.from_yaml("steps: [gray, {gaussian: {sigma: 1}}, sobel, polar]")

The text form is ``step key=value ... | step ...``, optionally followed by
``-> plane,plane`` to choose the planes returned. Everything is checked when
the pipeline is built: unknown steps or parameters, bad values, a trailing
``|``, and steps whose input planes no earlier step writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imgrad.errors import PipelineError
from imgrad.ops import IMAGE, STEPS, Step, _unknown, make_step

__all__ = ["Pipeline"]

_YAML_KEYS = ("steps", "outputs")
#: Informational keys a YAML file may carry (written by ``imgrad run``); ignored here.
_YAML_INFO_KEYS = ("imgrad", "output", "conventions", "description")


class Pipeline:
    """A chain of steps over named planes.

    Parameters
    ----------
    steps : sequence of Step, str or dict, or str
        Step objects (``imgrad.ops.Sobel(ksize=5)``), step texts
        (``"sobel ksize=5"``), dicts (``{"sobel": {"ksize": 5}}``), or one
        pipeline text (``"sobel | polar"``).
    outputs : sequence of str or str, optional
        Planes returned by a call (a comma-separated string is accepted);
        by default those written by the last step.

    Raises
    ------
    PipelineError
        Naming the step, the parameter, the bad value and what is allowed.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> pipe = imgrad.Pipeline.parse("gray | sobel ksize=5 | polar degrees=true")
    >>> pipe.outputs
    ('magnitude', 'phase')
    >>> str(pipe)
    'gray | sobel ksize=5 | polar degrees=true'
    >>> out = pipe(np.zeros((16, 16, 3), np.uint8))
    >>> out["magnitude"].shape, out["magnitude"].dtype
    ((16, 16), dtype('float32'))
    """

    def __init__(
        self,
        steps: Sequence[Step | str | Mapping[str, Any]] | str,
        outputs: Sequence[str] | str | None = None,
    ) -> None:
        if isinstance(steps, str):
            parsed = _parse_text(steps)
            steps, outputs = parsed[0], outputs if outputs is not None else parsed[1]
        if isinstance(steps, Step) or not isinstance(steps, Sequence):
            raise PipelineError(
                "The 'steps' parameter of Pipeline must be a list of steps or a pipeline text. "
                f"Got {type(steps).__name__} instead."
            )
        self.steps: tuple[Step, ...] = tuple(_as_step(s, i) for i, s in enumerate(steps, 1))
        if not self.steps:
            raise PipelineError(
                f"A pipeline needs at least one step. Available steps: {', '.join(STEPS)}."
            )
        self.routes, available = _plan(self.steps)
        self.outputs: tuple[str, ...] = _check_outputs(outputs, self.routes[-1][1], available)
        self.halo: int = sum(step.halo() for step in self.steps)
        self._last_use = _last_uses(self.routes, self.outputs)
        self._last_writer = {
            name: i for i, (_, writes) in enumerate(self.routes) for name in writes
        }

    # --- construction from text and data ---------------------------------
    @classmethod
    def parse(cls, text: str, outputs: Sequence[str] | str | None = None) -> Pipeline:
        """Pipeline from its text form, e.g. ``"gray | sobel ksize=3 | polar"``.

        A trailing ``-> a,b`` clause selects the planes returned; `outputs`
        overrides it.

        Examples
        --------
        >>> import imgrad
        >>> imgrad.Pipeline.parse("sobel | polar -> magnitude").outputs
        ('magnitude',)
        """
        if not isinstance(text, str):
            raise PipelineError(
                f"The 'text' parameter of Pipeline.parse must be a string. Got "
                f"{type(text).__name__} instead."
            )
        return cls(text, outputs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Sequence[Any] | str) -> Pipeline:
        """Pipeline from plain data: ``{"steps": [...], "outputs": [...]}``.

        A bare list of steps, or a text string, is accepted too.
        """
        if isinstance(data, str):
            return cls.parse(data)
        if isinstance(data, Sequence):
            return cls(data)
        if not isinstance(data, Mapping):
            raise PipelineError(
                "A pipeline description must be a mapping with 'steps' (and optionally "
                f"'outputs'), a list of steps or a pipeline text. Got {type(data).__name__}."
            )
        for key in data:
            if key not in _YAML_KEYS + _YAML_INFO_KEYS:
                raise PipelineError(
                    _unknown(
                        f"key {key!r} in the pipeline description", str(key), list(_YAML_KEYS)
                    )
                )
        if "steps" not in data:
            raise PipelineError("The pipeline description has no 'steps'.")
        steps = data["steps"]
        if isinstance(steps, str):
            return cls(steps, data.get("outputs"))
        if not isinstance(steps, list):
            raise PipelineError(
                "'steps' must be a list of steps or a pipeline text. "
                f"Got {type(steps).__name__} instead."
            )
        return cls(steps, data.get("outputs"))

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> Pipeline:
        """Pipeline from a YAML file path or YAML text (loaded safely).

        Tags that would construct Python objects are refused with a
        PipelineError; nothing in the file is ever executed.

        Examples
        --------
        >>> import imgrad
        >>> text = "steps:\\n  - gray\\n  - sobel: {ksize: 5}\\n  - magnitude\\n"
        >>> str(imgrad.Pipeline.from_yaml(text))
        'gray | sobel ksize=5 | magnitude'
        """
        import yaml

        text = _yaml_source(source)
        try:
            data = yaml.safe_load(text)
        except yaml.constructor.ConstructorError as exc:
            raise PipelineError(
                f"Pipeline YAML may hold only plain data; the tag {exc.problem.split()[-1]} "
                f"({' '.join(str(exc.problem_mark).split())}) is not allowed and was not run."
            ) from None
        except yaml.YAMLError as exc:
            raise PipelineError(f"Invalid pipeline YAML: {' '.join(str(exc).split())}") from None
        return cls.from_dict(data)

    # --- serialisation ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data (``steps`` and, when not the default, ``outputs``)."""
        data: dict[str, Any] = {"steps": [step.to_plain() for step in self.steps]}
        if self.outputs != self.routes[-1][1]:
            data["outputs"] = list(self.outputs)
        return data

    def to_yaml(self) -> str:
        """YAML text that :meth:`from_yaml` reads back to an equal pipeline."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def with_outputs(self, outputs: Sequence[str] | str | None) -> Pipeline:
        """The same steps returning other planes."""
        return Pipeline(self.steps, outputs)

    def __str__(self) -> str:
        text = " | ".join(step.to_text() for step in self.steps)
        if self.outputs != self.routes[-1][1]:
            text += " -> " + ",".join(self.outputs)
        return text

    def __repr__(self) -> str:
        return f"Pipeline.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self.steps == other.steps and self.outputs == other.outputs

    __hash__ = None  # type: ignore[assignment]

    # --- planes ------------------------------------------------------------
    @property
    def planes(self) -> tuple[str, ...]:
        """Every plane the pipeline can return, in order of creation."""
        names = [IMAGE]
        for _, writes in self.routes:
            names += [n for n in writes if n not in names]
        return tuple(names)

    @property
    def needs_whole_image(self) -> bool:
        """True if a pixel may depend on more than the halo around it.

        That is, a step needs whole-image statistics (``scale method=minmax``)
        or reads across the image with ``border=wrap``; such a pipeline runs on
        whole planes rather than tiles.
        """
        return any(step.needs_whole_image for step in self.steps)

    # --- running -----------------------------------------------------------
    def __call__(self, image: np.ndarray, *, workers: int | None = None) -> dict[str, np.ndarray]:
        """Run on one image; returns ``{plane name: array}`` for :attr:`outputs`.

        The image is processed strip by strip on `workers` threads (default:
        the CPUs available; pass 1 when images are already processed in
        parallel). The result does not depend on `workers`.
        """
        from imgrad.execute import run_fused

        return run_fused(self, image, workers=workers)

    def map(
        self, images: np.ndarray | Iterable[np.ndarray]
    ) -> dict[str, np.ndarray] | Iterator[dict[str, np.ndarray]]:
        """Run over many images.

        Parameters
        ----------
        images : ndarray of shape (N, H, W[, C]), or an iterable of images

        Returns
        -------
        dict or iterator of dict
            For an array stack: one dict of stacked planes, each (N, ...).
            For an iterable: an iterator yielding one dict per image, lazily,
            so a generator of images streams in bounded memory.

        Examples
        --------
        >>> import numpy as np, imgrad
        >>> stack = np.zeros((4, 8, 8), np.uint8)
        >>> imgrad.Pipeline.parse("sobel | magnitude").map(stack)["magnitude"].shape
        (4, 8, 8)
        """
        if isinstance(images, np.ndarray):
            if images.ndim not in (3, 4):
                raise ValueError(
                    "The 'images' parameter of Pipeline.map must be a stack (N, H, W) or "
                    f"(N, H, W, C), or an iterable of images. Got shape {images.shape} instead."
                )
            if len(images) == 0:
                raise ValueError(
                    "The 'images' parameter of Pipeline.map must hold at least one image. "
                    f"Got an empty stack of shape {images.shape} instead."
                )
            return _map_stack(self, images)
        return (self(image) for image in images)


# --- helpers -------------------------------------------------------------------


def _map_stack(pipeline: Pipeline, images: np.ndarray) -> dict[str, np.ndarray]:
    """Run on each image of a stack: small images a group at a time (see
    :mod:`imgrad._stack`), others one by one, writing the results straight
    into stacks allocated once (the first image gives their shapes and dtypes)."""
    from imgrad._stack import run_stack
    from imgrad._validation import check_image
    from imgrad.execute import _one_strip_at_most, run_fused

    if _one_strip_at_most(check_image(images[0], where="the pipeline")):
        stacked = run_stack(pipeline, images)
        if stacked is not None:
            return stacked
    first = pipeline(images[0])
    stacks = {name: np.empty((len(images), *p.shape), p.dtype) for name, p in first.items()}
    for name, plane in first.items():
        stacks[name][0] = plane
    del first
    for index in range(1, len(images)):
        run_fused(pipeline, images[index], out={n: s[index] for n, s in stacks.items()})
    return stacks


def _as_step(item: Any, position: int) -> Step:
    try:
        if isinstance(item, Step):
            return item
        if isinstance(item, str):
            steps, outputs = _parse_text(item)
            if len(steps) != 1 or outputs is not None:
                raise PipelineError(f"expected one step, got the pipeline text {item!r}")
            return steps[0]
        if isinstance(item, Mapping) and len(item) == 1:
            ((name, values),) = item.items()
            if values is None:
                values = {}
            if not isinstance(name, str) or not isinstance(values, Mapping):
                raise PipelineError(
                    f"a step mapping must be {{name: {{parameter: value}}}}; got {item!r}"
                )
            return make_step(name, **{str(k): v for k, v in values.items()})
        raise PipelineError(
            "a step must be a Step object, a step text such as 'sobel ksize=5', or a mapping "
            f"such as {{'sobel': {{'ksize': 5}}}}; got {item!r}"
        )
    except PipelineError as exc:
        raise PipelineError(f"Step {position}: {exc}") from None


def _plan(steps: tuple[Step, ...]):
    """Planes each step reads and writes; checks every read plane exists."""
    available = [IMAGE]
    previous: tuple[str, ...] = (IMAGE,)
    producers: dict[str, Step] = {}
    routes = []
    for position, step in enumerate(steps, 1):
        reads = step.reads(previous)
        missing = [p for p in reads if p not in available]
        if missing:
            raise PipelineError(_missing_message(position, step, missing, available))
        try:
            step.check_inputs({name: producers[name] for name in reads if name in producers})
        except PipelineError as exc:
            raise PipelineError(f"Step {position}: {exc}") from None
        writes = step.writes(previous)
        producers.update(dict.fromkeys(writes, step))
        routes.append((reads, writes))
        available += [p for p in writes if p not in available]
        previous = writes
    return tuple(routes), tuple(available)


def _missing_message(position: int, step: Step, missing: list[str], available: list[str]) -> str:
    planes = ", ".join(repr(p) for p in missing)
    hint = ""
    if any(p.endswith(("gx", "gy")) for p in missing):
        hint = " Add a derivative step (sobel, scharr, prewitt, ...) before it."
    return (
        f"Step {position} ({step.name}) reads plane(s) {planes}, which no earlier step writes."
        f"{hint} Planes available there: {', '.join(available)}."
    )


def _check_outputs(outputs, default, available) -> tuple[str, ...]:
    if outputs is None:
        return default
    if isinstance(outputs, str):
        outputs = [o.strip() for o in outputs.split(",") if o.strip()]
    if (
        not isinstance(outputs, Sequence)
        or not outputs
        or not all(isinstance(o, str) for o in outputs)
    ):
        raise PipelineError(
            "The 'outputs' parameter of Pipeline must be a non-empty list of plane names. "
            f"Got {outputs!r} instead."
        )
    for name in outputs:
        if name not in available:
            raise PipelineError(
                _unknown(f"output plane {name!r}: no step writes it", name, list(available))
            )
    if len(set(outputs)) != len(outputs):
        raise PipelineError(f"The 'outputs' parameter lists a plane twice: {list(outputs)!r}.")
    return tuple(outputs)


def _last_uses(routes, outputs) -> dict[str, int]:
    """Index of the last step reading each plane (planes returned are kept to the end)."""
    last: dict[str, int] = {}
    for index, (reads, _) in enumerate(routes):
        for name in reads:
            last[name] = index
    for name in outputs:
        last[name] = len(routes)
    return last


def _yaml_source(source: str | os.PathLike[str]) -> str:
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))
    ):
        path = Path(source)
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PipelineError(
                f"Cannot read pipeline file {str(path)!r}: {exc.strerror or exc}"
            ) from None
    if not isinstance(source, str):
        raise PipelineError(
            "The 'source' parameter of Pipeline.from_yaml must be a path or YAML text. "
            f"Got {type(source).__name__} instead."
        )
    return source


# --- the text form -------------------------------------------------------------


def _parse_text(text: str) -> tuple[list[Step], list[str] | None]:
    body, outputs = _split_outputs(text)
    chunks = _split_top(body, "|")
    if len(chunks) == 1 and not chunks[0].strip():
        raise PipelineError(
            f"The pipeline text is empty. Write steps separated by '|', e.g. "
            f"'gray | sobel | polar'. Available steps: {', '.join(STEPS)}."
        )
    steps = []
    for position, chunk in enumerate(chunks, 1):
        tokens = _split_top(chunk.strip(), None)
        if not tokens or not tokens[0]:
            where = (
                "trailing '|'"
                if position == len(chunks)
                else ("leading '|'" if position == 1 else "'| |' with nothing between")
            )
            raise PipelineError(
                f"Step {position} of {text.strip()!r} is empty ({where}). "
                "Write steps separated by '|', e.g. 'gray | sobel | polar'."
            )
        name, *pairs = tokens
        try:
            if name not in STEPS:
                raise PipelineError(_unknown(f"step {name!r}", name, list(STEPS)))
            steps.append(STEPS[name].from_text(_pairs(pairs, name)))
        except PipelineError as exc:
            raise PipelineError(f"Step {position}: {exc}") from None
    return steps, outputs


def _pairs(tokens: list[str], step: str) -> list[tuple[str, str]]:
    pairs, seen = [], set()
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            raise PipelineError(
                f"Parameter {token!r} of step {step!r} must be written key=value, e.g. ksize=5."
            )
        if key in seen:
            raise PipelineError(f"Parameter {key!r} of step {step!r} is given twice.")
        seen.add(key)
        pairs.append((key, value.strip("'\"")))
    return pairs


def _split_outputs(text: str) -> tuple[str, list[str] | None]:
    parts = _split_top(text, "->")
    if len(parts) == 1:
        return text, None
    if len(parts) > 2:
        raise PipelineError("The pipeline text has more than one '->' outputs clause.")
    names = [n.strip() for n in parts[1].split(",") if n.strip()]
    if not names:
        raise PipelineError("The '->' clause of the pipeline text names no plane.")
    return parts[0], names


def _split_top(text: str, sep: str | None) -> list[str]:
    """Split on `sep` (whitespace if None) outside brackets and quotes."""
    parts, current, depth, quote, i = [], [], 0, "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch in "[(":
            depth += 1
            current.append(ch)
        elif ch in "])":
            depth -= 1
            current.append(ch)
        elif depth == 0 and sep is None and ch.isspace():
            if current:
                parts.append("".join(current))
                current = []
        elif depth == 0 and sep is not None and text.startswith(sep, i):
            parts.append("".join(current))
            current = []
            i += len(sep)
            continue
        else:
            current.append(ch)
        i += 1
    if sep is not None or current:
        parts.append("".join(current))
    return parts
