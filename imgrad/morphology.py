"""Morphological gradients: basic, internal and external, with any footprint.

A derived operator is written in terms of the primitives, no new logic::

    basic    = dilation - erosion
    internal = image - erosion
    external = dilation - image

The output keeps the input dtype. Differences saturate at 0, so nothing is
ever negative and integers never wrap around (with a footprint that contains
its centre, dilation >= image >= erosion and nothing is clipped at all).

With the defaults, ``morph_gradient(img)`` equals the classic recipe
``cv2.morphologyEx(img, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))``,
borders included.
"""

from __future__ import annotations

import cv2
import numpy as np

from imgrad._border import MORPH_BORDERS, cv_border, cv_view, deliver
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
        uint8, uint16, float32 or float64; channels are processed separately.
    kind : {"basic", "internal", "external"}
        dilation - erosion, image - erosion, or dilation - image.
    footprint : {"rect", "ellipse", "cross", "diamond"} or ndarray
        Structuring element (see :func:`footprint`); an array's centre
        ``(h // 2, w // 2)`` is its anchor.
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
        Same shape and dtype as `image`, never negative.

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
        check_out(out, image.shape, image.dtype, where=where)
    # The dilation and erosion are temporaries: scratch slots 0 and 1.
    if kind == "basic":
        high = _morph(cv2.dilate, image, fp, iterations, border, cval, slot=0)
        low = _morph(cv2.erode, image, fp, iterations, border, cval, slot=1)
        return _subtract(high, low, out)
    if kind == "internal":
        return _subtract(
            image, _morph(cv2.erode, image, fp, iterations, border, cval, slot=1), out
        )
    return _subtract(_morph(cv2.dilate, image, fp, iterations, border, cval, slot=0), image, out)


def dilate(
    image: np.ndarray,
    fp: np.ndarray,
    iterations: int = 1,
    border: str = "ignore",
    cval: float = 0.0,
) -> np.ndarray:
    """Grey dilation (maximum over the footprint); arguments already checked."""
    return _morph(cv2.dilate, image, fp, iterations, border, cval)


def erode(
    image: np.ndarray,
    fp: np.ndarray,
    iterations: int = 1,
    border: str = "ignore",
    cval: float = 0.0,
) -> np.ndarray:
    """Grey erosion (minimum over the footprint); arguments already checked."""
    return _morph(cv2.erode, image, fp, iterations, border, cval)


def _footprint(shape, size, where) -> np.ndarray:
    shape = FOOTPRINT.check(shape, where)
    if isinstance(shape, np.ndarray):
        return shape
    try:
        return footprint(shape, SIZE.check(size, where))
    except ValueError as exc:  # re-attribute the message to the caller
        raise ValueError(str(exc).replace("of footprint", f"of {where}")) from None


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


def _subtract(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a - b, saturating at 0 (and at the top for integers): never negative, never wraps."""
    if a.dtype.kind == "u":
        return deliver(
            cv2.subtract(a, b, dst=None if out is None else cv_view(out)).reshape(a.shape), out
        )
    # A footprint that reaches only outside the image (border="ignore") leaves
    # -max/+max in the dilation/erosion; their difference overflows to inf.
    with np.errstate(over="ignore"):
        out = np.subtract(a, b, out=out)
    return np.maximum(out, 0, out=out)
