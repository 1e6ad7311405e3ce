"""Morphological gradients: basic, internal and external, with any footprint.

A derived operator is written in terms of the primitives, no new logic::

    basic    = dilation - erosion
    internal = image - erosion
    external = dilation - image

The output keeps the input dtype, except that the gradients of int16 are
uint16 (the difference of two int16 values ranges over 0..65535). Differences
saturate at 0, so nothing is ever negative and integers never wrap around
(with a footprint that contains its centre, dilation >= image >= erosion and
nothing is clipped at all).

With the defaults, ``morph_gradient(img)`` equals the classic recipe
``cv2.morphologyEx(img, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))``,
borders included.

How it is computed: the image is processed in strips of rows spread over
threads (OpenCV and NumPy release the GIL). A strip's dilation and erosion go
to per-thread buffers and their difference is taken while they are still in
the cache: nothing image-sized is allocated but the result (and, with several
iterations, the intermediate results). A strip's dilation comes from OpenCV, or,
for large footprints where a cost model measured on both predicts it faster,
from an exact chord decomposition: OpenCV's cost grows with the footprint's
area, the chords' with its height. Either way the result is OpenCV's
whole-image result bit for bit. Images holding NaN, for which OpenCV's outcome
depends on its order of comparisons, are processed whole by OpenCV.

The strip and chord machinery lives in :mod:`imgrad._morph_strips`.
"""

from __future__ import annotations

import cv2
import numpy as np

from imgrad._border import MORPH_BORDERS, cv_border, cv_view, deliver
from imgrad._morph_strips import (
    _DILATING,
    _ERODING,
    _MARGIN,
    _THREAD_NS,
    _NotANumber,
    _pass,
    _predicted_ns,
    _result_dtype,
    _subtract,
)
from imgrad._params import Choice, Float, Footprint, Int, Size
from imgrad._scratch import scratch
from imgrad._validation import check_image, check_out

__all__ = ["KINDS", "SHAPES", "dilate", "erode", "footprint", "morph_gradient", "reach"]

KINDS = ("basic", "internal", "external")
SHAPES = ("rect", "ellipse", "cross", "diamond")

KIND = Choice(
    "kind",
    KINDS,
    "basic: dilation - erosion; internal: image - erosion; external: dilation - image",
)
FOOTPRINT = Footprint("footprint", SHAPES, "structuring element shape, or a 2-D 0/1 array")
SIZE = Size("size", "footprint size: odd integer, or width,height (ignored for an array)")
ITERATIONS = Int("iterations", "times dilation and erosion are applied", low=1, high=100)
BORDER = Choice(
    "border",
    MORPH_BORDERS,
    "ignore: pixels outside the image take no part; or how they are made up",
)
CVAL = Float("cval", "value outside the image with border=constant")

_CV_SHAPES = {"rect": cv2.MORPH_RECT, "ellipse": cv2.MORPH_ELLIPSE, "cross": cv2.MORPH_CROSS}


def footprint(shape: str | np.ndarray = "rect", size: int | tuple[int, int] = 3) -> np.ndarray:
    """The structuring element as a uint8 array of 0/1, shape (height, width).

    Parameters
    ----------
    shape : {"rect", "ellipse", "cross", "diamond"} or ndarray
        OpenCV's ``getStructuringElement`` shapes, or a diamond
        ``|dx| + |dy| <= size // 2`` (as ``skimage.morphology.diamond``);
        an array is checked and returned as uint8.
    size : int or (width, height)
        Odd sizes. A diamond must be square.

    Examples
    --------
    >>> import imgrad
    >>> imgrad.footprint("diamond", 5)
    array([[0, 0, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [1, 1, 1, 1, 1],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 0, 0]], dtype=uint8)
    """
    shape = FOOTPRINT.check(shape, "footprint")
    if isinstance(shape, np.ndarray):
        return shape
    size = SIZE.check(size, "footprint")
    width, height = (size, size) if isinstance(size, int) else size
    if shape == "diamond":
        if width != height:
            raise ValueError(
                "The 'size' parameter of footprint must be one odd integer (a square) for "
                f"footprint='diamond'. Got {size!r} instead."
            )
        r = width // 2
        dy, dx = np.ogrid[-r : r + 1, -r : r + 1]
        return (np.abs(dx) + np.abs(dy) <= r).astype(np.uint8)
    return cv2.getStructuringElement(_CV_SHAPES[shape], (width, height))


def reach(fp: np.ndarray, iterations: int = 1) -> int:
    """How many pixels from the output pixel the operation reads (its halo).

    The anchor is the centre, ``(width // 2, height // 2)``, as OpenCV's default.
    """
    height, width = fp.shape
    return iterations * max(
        width // 2, width - 1 - width // 2, height // 2, height - 1 - height // 2
    )


def morph_gradient(
    image: np.ndarray,
    kind: str = "basic",
    *,
    footprint: str | np.ndarray = "rect",
    size: int | tuple[int, int] = 3,
    iterations: int = 1,
    border: str = "ignore",
    cval: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Morphological gradient of an image.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16, int16, float32 or float64; channels are processed
        separately.
    kind : {"basic", "internal", "external"}
        dilation - erosion, image - erosion, or dilation - image.
    footprint : {"rect", "ellipse", "cross", "diamond"} or ndarray
        Structuring element (see :func:`footprint`). As OpenCV, an array of
        shape (h, w) is used as it is, not reflected, anchored at
        ``(h // 2, w // 2)`` (for even sizes too): the dilation at ``(y, x)``
        is the maximum of ``image[y + i - h // 2, x + j - w // 2]`` over the
        footprint's non-zero ``(i, j)``, the erosion the minimum. This
        matters only for footprints that are not symmetric about their
        centre: ``scipy.ndimage.grey_dilation`` reflects the footprint (for
        odd sizes, ``grey_dilation(image, footprint=fp)`` is the dilation by
        ``fp[::-1, ::-1]`` here; ``grey_erosion`` is the same as here), and
        scikit-image anchors even sizes at ``((h - 1) // 2, (w - 1) // 2)``,
        one pixel up and left.
    size : int or (width, height)
        Odd size of a named footprint; ignored for an array.
    iterations : int
        Dilation and erosion are each applied this many times.
    border : {"ignore", "reflect101", "reflect", "replicate", "constant", "wrap"}
        "ignore" (OpenCV's morphology default): pixels outside the image take
        no part. The others make them up as for the derivative filters.
    cval : float
        Value outside the image with ``border="constant"``.
    out : ndarray, optional
        Array to write the result into (the image's shape and dtype).

    Returns
    -------
    ndarray
        Same shape and dtype as `image` (uint16 for int16: exact, never
        saturated), never negative.

    Notes
    -----
    The work is spread over ``cv2.getNumThreads()`` threads.

    NaN: an image holding NaN is dilated and eroded whole by OpenCV, and the
    result is OpenCV's. OpenCV takes the maximum of two values at a time, in
    an order of its own (rows then columns for a rectangle, several pixels at
    once), and the maximum of a number and NaN is one or the other depending
    on the order, not NaN. So a NaN neither spreads over the footprint (as
    ``np.maximum`` would) nor is skipped (as ``np.fmax`` would): where the
    footprint covers a NaN, the dilation is NaN at a few pixels and elsewhere
    the maximum of some of the other values covered (at most their maximum;
    at the image's edge with ``border="ignore"``, possibly the lowest float,
    which OpenCV puts outside), the erosion likewise. Where the footprint
    covers no NaN, the result is exact. Internal and external
    gradients are NaN at every NaN pixel (the image itself is subtracted).
    Which pixels get NaN depends on the dtype, the footprint and OpenCV's
    version: replace NaN first (``np.nan_to_num``) for results that do not.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> img = np.zeros((5, 5), np.uint8); img[2, 2] = 9
    >>> imgrad.morph_gradient(img, "internal")[1:4, 1:4]
    array([[0, 0, 0],
           [0, 9, 0],
           [0, 0, 0]], dtype=uint8)
    >>> int(imgrad.morph_gradient(img, "external", footprint="cross")[1, 2])
    9
    """
    where = "morph_gradient"
    image = np.ascontiguousarray(check_image(image, where=where))
    kind = KIND.check(kind, where)
    fp = _footprint(footprint, size, where)
    iterations = ITERATIONS.check(iterations, where)
    border = BORDER.check(border, where)
    cval = CVAL.check(cval, where)
    if out is not None:
        check_out(out, image.shape, _result_dtype(image.dtype, kind), where=where)
    return _morphology(image, fp, kind, iterations, border, cval, out)


def dilate(
    image: np.ndarray,
    fp: np.ndarray,
    iterations: int = 1,
    border: str = "ignore",
    cval: float = 0.0,
) -> np.ndarray:
    """Grey dilation (maximum over the footprint); arguments already checked.

    Equal to ``cv2.dilate`` with the border rule, except that of -0.0 and +0.0
    (equal values) either may come out.
    """
    return _morphology(np.ascontiguousarray(image), fp, "dilate", iterations, border, cval)


def erode(
    image: np.ndarray,
    fp: np.ndarray,
    iterations: int = 1,
    border: str = "ignore",
    cval: float = 0.0,
) -> np.ndarray:
    """Grey erosion (minimum over the footprint); arguments already checked.

    Equal to ``cv2.erode`` with the border rule, except that of -0.0 and +0.0
    (equal values) either may come out.
    """
    return _morphology(np.ascontiguousarray(image), fp, "erode", iterations, border, cval)


def _footprint(shape, size, where) -> np.ndarray:
    shape = FOOTPRINT.check(shape, where)
    if isinstance(shape, np.ndarray):
        return shape
    try:
        return footprint(shape, SIZE.check(size, where))
    except ValueError as exc:  # re-attribute the message to the caller
        raise ValueError(str(exc).replace("of footprint", f"of {where}")) from None


def _morphology(
    image: np.ndarray,
    fp: np.ndarray,
    operation: str,
    iterations: int = 1,
    border: str = "ignore",
    cval: float = 0.0,
    out: np.ndarray | None = None,
    *,
    method: str | None = None,
    rows: int | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """`operation` ("dilate", "erode", or a gradient kind) of a C-contiguous image.

    Strip by strip, `rows` output rows each (default: see :func:`_strip_rows`),
    on `workers` threads (default: as many as the predicted work pays for, up to
    ``cv2.getNumThreads()``), each strip's dilation and erosion by `method`,
    "opencv" or "chords" (default: the one predicted faster). An image holding
    NaN is processed whole by OpenCV.
    """
    fp = np.ascontiguousarray(fp, dtype=np.uint8)

    def again(part: np.ndarray) -> np.ndarray:  # the same operation on another array
        options = {"method": method, "rows": rows, "workers": workers}
        return _morphology(part, fp, operation, iterations, border, cval, **options)

    if out is None:
        out = np.empty(image.shape, _result_dtype(image.dtype, operation))
    elif np.may_share_memory(out, image):  # strips read rows that other strips write
        np.copyto(out, again(image))
        return out
    if image.ndim == 3 and image.shape[2] > 4:  # OpenCV's border values hold four channels
        for c in range(image.shape[2]):
            out[..., c] = again(np.ascontiguousarray(image[..., c]))
        return out
    if method is None or workers is None:
        threads = max(1, cv2.getNumThreads() if workers is None else int(workers))
        chord_ns, opencv_ns = _predicted_ns(fp, image, threads)
        if method is None:
            method = "chords" if chord_ns < _MARGIN * opencv_ns else "opencv"
        if workers is None:  # no more threads than the work pays for
            work = (chord_ns if method == "chords" else opencv_ns) * iterations
            work *= 2 if operation == "basic" else 1
            workers = min(threads, max(1, int(work // _THREAD_NS)))
    workers = max(1, int(workers))
    try:
        high = low = image
        for i in range(iterations - 1):  # the border rule applies at each iteration
            if operation in _DILATING:
                high = _pass(
                    "dilate", image, high, low, fp, method, border, cval, rows, workers, i == 0
                )
            if operation in _ERODING:
                low = _pass(
                    "erode", image, high, low, fp, method, border, cval, rows, workers, i == 0
                )
        last = iterations == 1
        return _pass(
            operation, image, high, low, fp, method, border, cval, rows, workers, last, out
        )
    except _NotANumber:
        return _whole(image, fp, operation, iterations, border, cval, out)


# --- whole images, by OpenCV ---------------------------------------------------------------


def _whole(image, fp, operation, iterations, border, cval, out) -> np.ndarray:
    """`operation` on the whole image at once by OpenCV (OpenCV's own NaN behaviour)."""
    if operation == "dilate":
        return deliver(_morph(cv2.dilate, image, fp, iterations, border, cval), out)
    if operation == "erode":
        return deliver(_morph(cv2.erode, image, fp, iterations, border, cval), out)
    # The dilation and erosion are temporaries: scratch slots 0 and 1.
    if operation == "basic":
        high = _morph(cv2.dilate, image, fp, iterations, border, cval, slot=0)
        low = _morph(cv2.erode, image, fp, iterations, border, cval, slot=1)
        return _subtract(high, low, out)
    if operation == "internal":
        return _subtract(
            image, _morph(cv2.erode, image, fp, iterations, border, cval, slot=1), out
        )
    return _subtract(_morph(cv2.dilate, image, fp, iterations, border, cval, slot=0), image, out)


def _morph(op, image, fp, iterations, border, cval, slot=None) -> np.ndarray:
    """Dilate or erode `iterations` times; into scratch `slot` if given."""
    if image.ndim == 3 and image.shape[2] > 4:  # OpenCV's border values hold four channels
        return np.stack(
            [
                _morph(op, np.ascontiguousarray(image[..., c]), fp, iterations, border, cval)
                for c in range(image.shape[2])
            ],
            axis=-1,
        )
    # One application per iteration, each with the border rule. (OpenCV merges
    # iterations of a rectangle into one larger rectangle, which is the same only
    # for border="ignore".)
    out = image
    for i in range(iterations):
        last = i == iterations - 1
        dst = scratch(image.shape, image.dtype, slot) if last and slot is not None else None
        out = deliver(_morph_once(op, out, fp, border, cval, dst).reshape(image.shape), dst)
    return out


def _morph_once(op, image, fp, border, cval, dst) -> np.ndarray:
    dst = None if dst is None else cv_view(dst)
    if border == "ignore":  # OpenCV's default: +-inf outside, i.e. ignored
        return op(image, fp, dst=dst)
    if border == "wrap":  # OpenCV's morphology has no wrap: pad explicitly
        r = reach(fp)
        padded = cv2.copyMakeBorder(image, r, r, r, r, cv_border("wrap"))
        return op(padded, fp)[r : r + image.shape[0], r : r + image.shape[1]]
    return op(image, fp, dst=dst, borderType=cv_border(border), borderValue=(cval,) * 4)
