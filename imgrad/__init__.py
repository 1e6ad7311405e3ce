"""imgrad: image gradients, from one array to a Dask cluster.

Operators (Sobel-family derivatives, magnitude and phase, morphological
gradients) are plain functions on NumPy arrays; :class:`Pipeline` chains them
and runs the same chain on an array, a stack, a folder or a dataset.

``import imgrad`` is light: OpenCV and the operator modules load on first use,
Dask only with ``import imgrad.dask``.

Examples
--------
>>> import numpy as np, imgrad
>>> image = np.tile(np.arange(8, dtype=np.uint8) * 10, (8, 1))
>>> g = imgrad.sobel(image, normalize=True)
>>> float(g.gx[4, 4]), float(g.gy[4, 4])
(10.0, 0.0)
>>> out = imgrad.Pipeline.parse("sobel | polar degrees=true")(image)
>>> sorted(out)
['magnitude', 'phase']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imgrad._version import __version__
from imgrad.errors import ImageReadError, ImageWriteError, PipelineError

# Public name -> module that defines it; loaded on first attribute access (PEP 562).
_LAZY = {
    "Gradient": "imgrad.derivatives",
    "sobel": "imgrad.derivatives",
    "scharr": "imgrad.derivatives",
    "prewitt": "imgrad.derivatives",
    "central": "imgrad.derivatives",
    "intermediate": "imgrad.derivatives",
    "roberts": "imgrad.derivatives",
    "farid": "imgrad.derivatives",
    "gradient": "imgrad.derivatives",
    "Polar": "imgrad.magphase",
    "magnitude": "imgrad.magphase",
    "phase": "imgrad.magphase",
    "polar": "imgrad.magphase",
    "morph_gradient": "imgrad.morphology",
    "footprint": "imgrad.morphology",
    "gray": "imgrad.filters",
    "gaussian": "imgrad.filters",
    "scale": "imgrad.scaling",
    "Pipeline": "imgrad.pipeline",
    "available_ops": "imgrad.ops",
    "colorize": "imgrad.visualize",
    "preview": "imgrad.visualize",
    "read": "imgrad.io",
    "write": "imgrad.io",
    "probe": "imgrad.io",
}
_SUBMODULES = {"ops", "io", "batch", "cli", "dask", "tiled", "visualize", "execute", "pipeline"}

__all__ = ["ImageReadError", "ImageWriteError", "PipelineError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"imgrad.{name}")
    raise AttributeError(f"module 'imgrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from imgrad.derivatives import (
        Gradient,
        central,
        farid,
        gradient,
        intermediate,
        prewitt,
        roberts,
        scharr,
        sobel,
    )
    from imgrad.filters import gaussian, gray
    from imgrad.io import probe, read, write
    from imgrad.magphase import Polar, magnitude, phase, polar
    from imgrad.morphology import footprint, morph_gradient
    from imgrad.ops import available_ops
    from imgrad.pipeline import Pipeline
    from imgrad.scaling import scale
    from imgrad.visualize import colorize, preview
