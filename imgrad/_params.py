"""Parameter definitions: the one source of names, allowed values and documentation.

Each operator module defines its parameters once, as ``Param`` objects next to
the function that uses them. The function checks its arguments with them; the
pipeline steps, the text parser, ``imgrad ops``, the command-line shortcuts and
error messages all read the same objects.
"""

from __future__ import annotations

import json
import keyword
import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from imgrad._validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    fail,
    float_rule,
    int_rule,
)

__all__ = [
    "MISSING",
    "Bool",
    "Choice",
    "Float",
    "Footprint",
    "Int",
    "OptionalFloat",
    "OptionalInt",
    "Param",
    "PlaneName",
    "PlaneNames",
    "Size",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Marks a parameter whose default comes from its function's signature.
MISSING: Any = _Missing()

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class Param(ABC):
    """A named parameter with its rule.

    Parameters
    ----------
    name : str
        The keyword used in Python, in the text form and on the command line.
    doc : str
        One sentence for ``imgrad ops`` and the CLI help.
    default : object, optional
        Only for parameters that no operator function defines (step-only
        parameters such as ``name``); otherwise the function's default is used.
    """

    def __init__(self, name: str, doc: str, *, default: Any = MISSING) -> None:
        self.name = name
        self.doc = doc
        self.default = default

    @property
    @abstractmethod
    def allowed(self) -> str:
        """Human description of the allowed values."""

    @abstractmethod
    def check(self, value: Any, where: str) -> Any:
        """Return the value, normalised, or raise ValueError/TypeError naming `where`."""

    def parse(self, text: str, where: str = "the pipeline") -> Any:
        """Value from its text form (``ksize=5``), checked."""
        return self.check(text, where)

    def format(self, value: Any) -> str:
        """Text form of a value; ``parse(format(v)) == v``."""
        return str(value)

    def to_plain(self, value: Any) -> Any:
        """Value as plain YAML/JSON data."""
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Choice(Param):
    def __init__(self, name: str, choices: Sequence[str], doc: str, **kw: Any) -> None:
        super().__init__(name, doc, **kw)
        self.choices = tuple(choices)

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def check(self, value: Any, where: str) -> str:
        return check_choice(value, self.choices, param=self.name, where=where)


class Int(Param):
    def __init__(
        self,
        name: str,
        doc: str,
        *,
        low: int | None = None,
        high: int | None = None,
        odd: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(name, doc, **kw)
        self.low, self.high, self.odd = low, high, odd

    @property
    def allowed(self) -> str:
        return int_rule(self.low, self.high, self.odd)

    def check(self, value: Any, where: str) -> int:
        return check_int(
            value, param=self.name, where=where, low=self.low, high=self.high, odd=self.odd
        )

    def parse(self, text: str, where: str = "the pipeline") -> int:
        return self.check(_to_int(text, self, where), where)


class Float(Param):
    def __init__(
        self,
        name: str,
        doc: str,
        *,
        low: float | None = None,
        strict: bool = False,
        high: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(name, doc, **kw)
        self.low, self.strict, self.high = low, strict, high

    @property
    def allowed(self) -> str:
        return float_rule(self.low, not self.strict, high=self.high)

    def check(self, value: Any, where: str) -> float:
        return check_float(
            value,
            param=self.name,
            where=where,
            low=self.low,
            low_inclusive=not self.strict,
            high=self.high,
        )

    def parse(self, text: str, where: str = "the pipeline") -> float:
        return self.check(_to_float(text, self, where), where)

    def format(self, value: float) -> str:
        return repr(float(value))


class OptionalFloat(Float):
    """A number, or None (``none`` in text) meaning "not set"."""

    @property
    def allowed(self) -> str:
        return super().allowed + " or none"

    def check(self, value: Any, where: str) -> float | None:
        return None if value is None else super().check(value, where)

    def parse(self, text: str, where: str = "the pipeline") -> float | None:
        if text.strip().lower() in ("none", "null"):
            return None
        return super().parse(text, where)

    def format(self, value: float | None) -> str:
        return "none" if value is None else super().format(value)


class OptionalInt(Int):
    """An integer, or None (``none`` in text) meaning "automatic"."""

    @property
    def allowed(self) -> str:
        return super().allowed + " or none"

    def check(self, value: Any, where: str) -> int | None:
        return None if value is None else super().check(value, where)

    def parse(self, text: str, where: str = "the pipeline") -> int | None:
        if text.strip().lower() in ("none", "null"):
            return None
        return super().parse(text, where)

    def format(self, value: int | None) -> str:
        return "none" if value is None else str(value)


class Bool(Param):
    @property
    def allowed(self) -> str:
        return "true or false"

    def check(self, value: Any, where: str) -> bool:
        return check_bool(value, param=self.name, where=where)

    def parse(self, text: str, where: str = "the pipeline") -> bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise fail(self.name, where, "true or false", text)

    def format(self, value: bool) -> str:
        return "true" if value else "false"


class Size(Param):
    """An odd size: one integer, or (width, height)."""

    @property
    def allowed(self) -> str:
        return "an odd integer >= 1, or width,height of two odd integers"

    def check(self, value: Any, where: str) -> int | tuple[int, int]:
        if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str):
            items = list(value)
            if len(items) != 2:
                raise fail(self.name, where, self.allowed, value)
            w, h = (self._one(v, value, where) for v in items)
            return w if w == h else (w, h)
        return self._one(value, value, where)

    def _one(self, v: Any, whole: Any, where: str) -> int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise fail(self.name, where, self.allowed, whole, TypeError)
        if v < 1 or v % 2 == 0:
            raise fail(self.name, where, self.allowed, whole)
        return int(v)

    def parse(self, text: str, where: str = "the pipeline") -> int | tuple[int, int]:
        parts = text.strip().strip("[]()").replace("x", ",").split(",")
        return self.check(
            [_to_int(p, self, where) for p in parts]
            if len(parts) > 1
            else _to_int(parts[0], self, where),
            where,
        )

    def format(self, value: int | tuple[int, int]) -> str:
        return str(value) if isinstance(value, int) else f"{value[0]},{value[1]}"

    def to_plain(self, value: Any) -> Any:
        return value if isinstance(value, int) else list(value)


class Footprint(Param):
    """A footprint shape name, or a 2-D array of 0/1."""

    def __init__(self, name: str, shapes: Sequence[str], doc: str, **kw: Any) -> None:
        super().__init__(name, doc, **kw)
        self.shapes = tuple(shapes)

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.shapes) + ", or a 2-D array of 0/1"

    def check(self, value: Any, where: str) -> str | np.ndarray:
        if isinstance(value, str):
            return check_choice(value, self.shapes, param=self.name, where=where)
        if isinstance(value, (list, tuple)):
            try:
                value = np.array(value)
            except ValueError:  # ragged nesting
                raise fail(self.name, where, self.allowed, value) from None
        if not isinstance(value, np.ndarray):
            raise fail(self.name, where, self.allowed, value, TypeError)
        if value.ndim != 2 or value.size == 0 or value.dtype.kind not in "biuf":
            raise fail(self.name, where, self.allowed, value)
        if not np.isin(value, (0, 1)).all():
            raise fail(self.name, where, self.allowed + " (only 0 and 1)", value)
        if not value.any():
            raise fail(self.name, where, "a footprint with at least one 1", value)
        out = value.astype(np.uint8)
        out.flags.writeable = False
        return out

    def parse(self, text: str, where: str = "the pipeline") -> str | np.ndarray:
        text = text.strip()
        if text.startswith("["):
            try:
                return self.check(json.loads(text), where)
            except json.JSONDecodeError:
                raise fail(self.name, where, self.allowed, text) from None
        return self.check(text, where)

    def format(self, value: str | np.ndarray) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value.tolist(), separators=(",", ":"))

    def to_plain(self, value: Any) -> Any:
        return value if isinstance(value, str) else value.tolist()


class PlaneName(Param):
    """The name of a plane (an identifier), or None for the step's default."""

    @property
    def allowed(self) -> str:
        return "a plane name (letters, digits, underscore; not starting with a digit)"

    def check(self, value: Any, where: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
            raise fail(self.name, where, self.allowed, value)
        return value

    def format(self, value: str | None) -> str:
        return "none" if value is None else value

    def parse(self, text: str, where: str = "the pipeline") -> str | None:
        return None if text in ("none", "null") else self.check(text, where)


class PlaneNames(Param):
    """One or more plane names (comma-separated in text), or None for the default."""

    @property
    def allowed(self) -> str:
        return "plane names separated by commas"

    def check(self, value: Any, where: str) -> tuple[str, ...] | None:
        if value is None:
            return None
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise fail(self.name, where, self.allowed, value)
        single = PlaneName(self.name, self.doc)
        return tuple(single.check(v.strip() if isinstance(v, str) else v, where) for v in items)

    def parse(self, text: str, where: str = "the pipeline") -> tuple[str, ...] | None:
        return None if text in ("none", "null") else self.check(text, where)

    def format(self, value: tuple[str, ...] | None) -> str:
        return "none" if value is None else ",".join(value)

    def to_plain(self, value: Any) -> Any:
        return None if value is None else list(value)


def _to_int(text: str, param: Param, where: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise fail(param.name, where, param.allowed, text) from None


def _to_float(text: str, param: Param, where: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise fail(param.name, where, param.allowed, text) from None
