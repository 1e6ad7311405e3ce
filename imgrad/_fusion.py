"""Fused strip kernels: two pipeline steps run as one, for the strip executor.

The strip executor (:mod:`imgrad.execute`) runs a pipeline step by step on
bands of rows. For the most common pipeline — a 3x3 Sobel of an 8-bit image
followed by ``magnitude``, ``phase`` or ``polar`` — it can do better, with the
same bits:

- A 3x3 Sobel of uint8 is an exact integer, ``|g| <= 4 * 255``. OpenCV
  computes it in int16 (``cv2.spatialGradient`` does both derivatives in one
  pass), and the float32 planes the reference path produces are these
  integers converted.
- For such integers, ``gx² + gy² < 2**24`` is exact in float32 whatever the
  order of operations (fused multiply-add or not), so any correctly rounded
  square root gives the reference magnitude's bits: three OpenCV passes
  (:func:`exact_magnitude`). Neither ``cv2.magnitude`` nor
  ``cv2.cartToPolar``'s magnitude is used: they are not correctly rounded on
  every OpenCV version (``cartToPolar``'s is on 5.x, not on 4.8). The tests
  check the claim on every pair of values, at every memory alignment.

The fused kernel also computes only the rows the strip needs, so its
results go straight into the output arrays: the derivative planes exist
only as a few cache-sized rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from imgrad import ops
from imgrad._border import cv_border
from imgrad._scratch import scratch
from imgrad.magphase import _magnitude, _phase, finish_angle, opencv_angle

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SobelThen", "exact_magnitude", "fusable"]

#: Borders for which OpenCV's int16 Sobel and the reference agree (no padding).
_BORDERS = ("reflect101", "reflect", "replicate")
#: Scratch slots (distinct from those the operator kernels use).
_DX, _DY, _FX, _FY = 10, 11, 12, 13


def fusable(derivative: ops.Step, then: ops.Step, image: np.ndarray) -> bool:
    """True if `derivative` then `then`, on an `image` like this one, can run fused.

    Examples
    --------
    >>> import numpy as np
    >>> from imgrad import ops
    >>> u8, f32 = np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.float32)
    >>> fusable(ops.Sobel(), ops.Polar(), u8), fusable(ops.Sobel(), ops.Polar(), f32)
    (True, False)
    """
    return (
        type(derivative) is ops.Sobel
        and derivative.values["ksize"] == 3
        and derivative.values["border"] in _BORDERS
        and isinstance(then, (ops.Magnitude, ops.Phase, ops.Polar))
        and image.dtype == np.uint8
        and (image.ndim == 2 or derivative.values["channels"] == "separate")
        and (image.ndim == 2 or image.shape[2] <= 4)
    )


def exact_magnitude(gx: np.ndarray, gy: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``sqrt(gx² + gy²)`` into `out` for planes of exact values whose squares
    and their sums are exact in float32 (as a 3x3 Sobel of uint8): then the
    order of operations cannot change a bit, and three OpenCV passes do it.

    Examples
    --------
    >>> gx, gy = np.array([[3.0, 0.0]], np.float32), np.array([[4.0, -2.0]], np.float32)
    >>> exact_magnitude(gx, gy, np.empty_like(gx))
    array([[5., 2.]], dtype=float32)
    """
    cv2.multiply(gx, gx, dst=out)
    cv2.accumulateSquare(gy, out)
    return cv2.sqrt(out, dst=out)


class SobelThen:
    """A 3x3 Sobel of uint8 and the magnitude/phase/polar step reading it.

    Called on a band of input rows (a one-plane sequence), it returns the results for the band
    without its first `skip_top` and last `skip_bottom` rows (which only
    served as the Sobel's neighbours), written into `out` when given.
    """

    halo = 1
    crops = True

    def __init__(self, derivative: ops.Step, then: ops.Step) -> None:
        self.border = cv_border(derivative.values["border"])
        self.spatial = derivative.values["border"] in ("reflect101", "replicate")
        self.normalize = derivative.values["normalize"]
        self.then = then
        self.values = then.operator_values()
        self.polar_l2 = isinstance(then, ops.Polar) and (
            self.values["norm"] == "l2" and not self.values["precise"]
        )

    def __call__(
        self,
        inputs: Sequence[np.ndarray],
        out: Sequence[np.ndarray] | None,
        skip_top: int,
        skip_bottom: int,
    ) -> tuple[np.ndarray, ...]:
        (band,) = inputs
        height = band.shape[0]
        rows = height - skip_top - skip_bottom
        gx, gy = self._derivatives(band, height, band.size // max(height, 1), skip_top, rows)
        if out is None:
            count = 2 if isinstance(self.then, ops.Polar) else 1
            out = tuple(np.empty((rows, *band.shape[1:]), np.float32) for _ in range(count))
        flat = [o.reshape(gx.shape) for o in out]  # pointwise from here on
        v = self.values
        if self.polar_l2:
            exact_magnitude(gx, gy, flat[0])
            opencv_angle(gx, gy, flat[1], v["degrees"], tiny=False)
            if v["convention"] != "image" or v["wrap"] != "full":
                # (OpenCV's [0, period] is already [0, period) for these values:
                # no angle rounds up to a full turn; the tests check every pair.)
                finish_angle(flat[1], v["degrees"], v["convention"], v["wrap"])
        elif isinstance(self.then, ops.Magnitude) and v["norm"] == "l2":
            exact_magnitude(gx, gy, flat[0])
        elif isinstance(self.then, ops.Magnitude):
            _magnitude(gx, gy, v["norm"], flat[0])
        elif isinstance(self.then, ops.Phase):
            _phase(gx, gy, v["degrees"], v["convention"], v["wrap"], v["precise"], flat[0])
        else:
            _magnitude(gx, gy, v["norm"], flat[0])
            _phase(gx, gy, v["degrees"], v["convention"], v["wrap"], v["precise"], flat[1])
        return tuple(out)

    def _derivatives(self, band, height, width, skip_top, rows):
        """Exact float32 Sobel rows ``skip_top : skip_top + rows`` of `band`, as
        (rows, W * C) scratch planes."""
        dx = scratch((height, width), np.int16, _DX)
        dy = scratch((height, width), np.int16, _DY)
        if self.spatial and width == band.shape[1]:  # one channel
            cv2.spatialGradient(band.reshape(dx.shape), dx=dx, dy=dy, borderType=self.border)
        else:
            shape = band.shape
            cv2.Sobel(
                band, cv2.CV_16S, 1, 0, dst=dx.reshape(shape), ksize=3, borderType=self.border
            )
            cv2.Sobel(
                band, cv2.CV_16S, 0, 1, dst=dy.reshape(shape), ksize=3, borderType=self.border
            )
        gx = scratch((rows, width), np.float32, _FX)
        gy = scratch((rows, width), np.float32, _FY)
        np.copyto(gx, dx[skip_top : skip_top + rows])
        np.copyto(gy, dy[skip_top : skip_top + rows])
        if self.normalize:  # the gain is 8: a power of two, so still exact
            np.multiply(gx, np.float32(0.125), out=gx)
            np.multiply(gy, np.float32(0.125), out=gy)
        return gx, gy
