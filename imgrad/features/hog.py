"""Histograms of oriented gradients (HOG), equal to ``skimage.feature.hog``.

The descriptor is built in two steps, each a public function:

1. :func:`hog_histograms`: per cell, the mean gradient magnitude of its pixels
   in each orientation bin;
2. :func:`hog_normalize`: every block of cells normalised, the blocks laid
   side by side.

:func:`hog` is the two in a row.

Conventions (scikit-image's, so that values agree with it)
-----------------------------------------------------------
- Gradients are plain central differences without the 1/2,
  ``gy[r] = I[r + 1] - I[r - 1]`` and ``gx[c] = I[c + 1] - I[c - 1]``, and 0 on
  the first and last row (for ``gy``) and column (for ``gx``).
- Colour images: at each pixel, the channel of largest gradient magnitude
  (the first on ties), as ``skimage.feature.hog(..., channel_axis=-1)``.
- Orientation ``degrees(arctan2(gy, gx)) % 180``, unsigned, in ``orientations``
  bins of equal width over [0, 180); each pixel votes its magnitude
  ``hypot(gx, gy)`` into its one bin (no interpolation between bins or cells).
- Cells tile the image from the top-left corner; rows and columns that do not
  fill a whole cell are left out. Histograms are means over the cell.
- Blocks of ``cells_per_block`` cells slide one cell at a time; ``eps = 1e-5``
  as scikit-image. The descriptor's layout is
  ``(n_blocks_row, n_blocks_col, cells_row, cells_col, orientations)``.

``cv2.HOGDescriptor`` differs on purpose (bilinear votes between bins and
cells, a Gaussian window in the block, L2-Hys only): its values are not
comparable.

Dtypes
------
Any of uint8, uint16, float32, float64; histograms and descriptor are float32,
float64 for float64 input (imgrad's one policy; scikit-image returns float64
for integer input: the values agree within 1e-6 either way). uint8 images take
a table of every possible pair of derivatives, computed once per number of
orientations, so the arctangent is never evaluated per pixel.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, NamedTuple

import numpy as np

from imgrad._dtype import float_dtype
from imgrad._params import Bool, Choice, Int, Param
from imgrad._scratch import scratch
from imgrad._validation import check_image, fail

__all__ = ["HOG", "hog", "hog_histograms", "hog_normalize"]

#: The block normalisations of scikit-image.
BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
#: scikit-image's regulariser in every block norm.
EPS = 1e-5
#: L2-Hys clips normalised values at this, then normalises again (Lowe's SIFT).
HYS_CLIP = 0.2
#: Pixels processed at a time: strips of whole cell rows whose temporaries stay in cache.
STRIP_PIXELS = 1 << 16


class RowsCols(Param):
    """A pair of positive integers (rows, cols), or one integer for both.

    (Row-first like scikit-image's ``pixels_per_cell``; belongs beside the other
    parameter kinds in ``_params`` once the package layout settles.)
    """

    @property
    def allowed(self) -> str:
        return "a positive integer, or rows,cols of two positive integers"

    def check(self, value: Any, where: str) -> tuple[int, int]:
        if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str):
            items = list(value)
            if len(items) != 2:
                raise fail(self.name, where, self.allowed, value)
            return self._one(items[0], value, where), self._one(items[1], value, where)
        one = self._one(value, value, where)
        return one, one

    def _one(self, v: Any, whole: Any, where: str) -> int:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise fail(self.name, where, self.allowed, whole, TypeError)
        if v < 1:
            raise fail(self.name, where, self.allowed, whole)
        return int(v)

    def parse(self, text: str, where: str = "the pipeline") -> tuple[int, int]:
        parts = text.strip().strip("[]()").replace("x", ",").split(",")
        try:
            values = [int(p.strip()) for p in parts]
        except ValueError:
            raise fail(self.name, where, self.allowed, text) from None
        return self.check(values if len(values) > 1 else values[0], where)

    def format(self, value: tuple[int, int]) -> str:
        return f"{value[0]},{value[1]}"

    def to_plain(self, value: Any) -> Any:
        return list(value)


ORIENTATIONS = Int("orientations", "number of orientation bins over [0, 180) degrees", low=1)
PIXELS_PER_CELL = RowsCols("pixels_per_cell", "cell size in pixels, rows,cols")
CELLS_PER_BLOCK = RowsCols("cells_per_block", "block size in cells, rows,cols")
BLOCK_NORM = Choice(
    "block_norm",
    BLOCK_NORMS,
    "L1, L1-sqrt (L1 then square root), L2, or L2-Hys (L2, clipped at 0.2, L2 again)",
)
TRANSFORM_SQRT = Bool("transform_sqrt", "square root of the image first (power-law compression)")
FEATURE_VECTOR = Bool("feature_vector", "return the descriptor flattened to 1-D")
RETURN_HISTOGRAMS = Bool("return_histograms", "also return the per-cell histograms")


class HOG(NamedTuple):
    """A HOG descriptor with the cell histograms it was made from.

    Attributes
    ----------
    descriptor : ndarray
        As returned by :func:`hog`.
    histograms : ndarray, shape (n_cells_row, n_cells_col, orientations)
        As returned by :func:`hog_histograms`.
    """

    descriptor: np.ndarray
    histograms: np.ndarray


def hog(
    image: np.ndarray,
    orientations: int = 9,
    pixels_per_cell: int | tuple[int, int] = (8, 8),
    cells_per_block: int | tuple[int, int] = (3, 3),
    block_norm: str = "L2-Hys",
    *,
    transform_sqrt: bool = False,
    feature_vector: bool = True,
    return_histograms: bool = False,
) -> np.ndarray | HOG:
    """Histogram of oriented gradients, equal to ``skimage.feature.hog``.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16, float32 or float64. With channels, each pixel uses the
        channel of largest gradient magnitude (scikit-image's ``channel_axis=-1``).
    orientations : int
        Number of orientation bins over [0, 180) degrees.
    pixels_per_cell : int or (int, int)
        Cell size in pixels, (rows, cols).
    cells_per_block : int or (int, int)
        Block size in cells, (rows, cols).
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}
        Block normalisation, as scikit-image's.
    transform_sqrt : bool
        Take the square root of the image first (the image must not be negative).
    feature_vector : bool
        Flatten the descriptor to 1-D.
    return_histograms : bool
        Return ``HOG(descriptor, histograms)`` instead of the descriptor alone.

    Returns
    -------
    ndarray or HOG
        The descriptor, float32 (float64 for float64 input), of shape
        ``(n_blocks_row, n_blocks_col, cells_row, cells_col, orientations)``
        or flattened; with `return_histograms`, a :class:`HOG`.

    Raises
    ------
    ValueError
        If the image holds less than one block.

    Examples
    --------
    >>> import numpy as np
    >>> from imgrad.features import hog
    >>> image = np.zeros((32, 32), np.uint8); image[:, 16:] = 200   # a vertical edge
    >>> hog(image).shape            # 2x2 blocks of 3x3 cells of 9 bins
    (324,)
    >>> cells = hog(image, return_histograms=True).histograms
    >>> cells.shape, int(cells[0, 1].argmax())   # the gradient points along x: bin 0
    ((4, 4, 9), 0)
    """
    where = "hog"
    image = check_image(image, where=where)
    orientations = ORIENTATIONS.check(orientations, where)
    cell = PIXELS_PER_CELL.check(pixels_per_cell, where)
    block = CELLS_PER_BLOCK.check(cells_per_block, where)
    BLOCK_NORM.check(block_norm, where)
    TRANSFORM_SQRT.check(transform_sqrt, where)
    FEATURE_VECTOR.check(feature_vector, where)
    RETURN_HISTOGRAMS.check(return_histograms, where)
    need = (cell[0] * block[0], cell[1] * block[1])
    if image.shape[0] < need[0] or image.shape[1] < need[1]:
        raise ValueError(
            f"The 'image' parameter of {where} must have at least {need[0]} rows and "
            f"{need[1]} columns for pixels_per_cell={cell} and cells_per_block={block}. "
            f"Got shape {image.shape} instead."
        )
    histograms = _histograms(image, orientations, cell, transform_sqrt, where)
    descriptor = _normalize(histograms, block, block_norm, feature_vector)
    return HOG(descriptor, histograms) if return_histograms else descriptor


def hog_histograms(
    image: np.ndarray,
    orientations: int = 9,
    pixels_per_cell: int | tuple[int, int] = (8, 8),
    *,
    transform_sqrt: bool = False,
) -> np.ndarray:
    """Per-cell histograms of gradient orientation, weighted by magnitude.

    Parameters are those of :func:`hog`. The values equal scikit-image's
    ``orientation_histogram`` inside ``skimage.feature.hog`` (which accumulates
    in float32; here the sums are float64, then rounded once).

    Returns
    -------
    ndarray, shape (H // cell_rows, W // cell_cols, orientations)
        Mean magnitude of each cell's pixels in each bin; float32 (float64 for
        float64 input). Bin ``k`` holds orientations in
        ``[k, k + 1) * 180 / orientations`` degrees.

    Examples
    --------
    >>> import numpy as np
    >>> from imgrad.features import hog_histograms
    >>> ramp = np.tile(np.arange(16, dtype=np.uint8) * 10, (16, 1))   # slope 10 along x
    >>> h = hog_histograms(ramp, orientations=4)
    >>> h.shape, h[0, 0].tolist()   # 7 of its 8 columns have gx = 20 (column 0 has none)
    ((2, 2, 4), [17.5, 0.0, 0.0, 0.0])
    """
    where = "hog_histograms"
    image = check_image(image, where=where)
    orientations = ORIENTATIONS.check(orientations, where)
    cell = PIXELS_PER_CELL.check(pixels_per_cell, where)
    TRANSFORM_SQRT.check(transform_sqrt, where)
    if image.shape[0] < cell[0] or image.shape[1] < cell[1]:
        raise ValueError(
            f"The 'image' parameter of {where} must have at least one cell of "
            f"{cell[0]}x{cell[1]} pixels. Got shape {image.shape} instead."
        )
    return _histograms(image, orientations, cell, transform_sqrt, where)


def hog_normalize(
    histograms: np.ndarray,
    cells_per_block: int | tuple[int, int] = (3, 3),
    block_norm: str = "L2-Hys",
    *,
    feature_vector: bool = True,
) -> np.ndarray:
    """Normalise every block of cell histograms: the HOG descriptor.

    Parameters
    ----------
    histograms : ndarray, shape (n_cells_row, n_cells_col, orientations)
        float32 or float64, as from :func:`hog_histograms`.
    cells_per_block, block_norm, feature_vector
        As for :func:`hog`.

    Returns
    -------
    ndarray
        Shape ``(n_blocks_row, n_blocks_col, cells_row, cells_col, orientations)``
        (flattened with `feature_vector`), the dtype of `histograms`.

    Examples
    --------
    >>> import numpy as np
    >>> from imgrad.features import hog_normalize
    >>> cells = np.zeros((2, 2, 1)); cells[0, 0] = 3.0; cells[1, 1] = 4.0
    >>> hog_normalize(cells, 2, "L2").round(6).tolist()
    [0.6, 0.0, 0.0, 0.8]
    >>> hog_normalize(cells, 2, "L1").round(6).tolist()
    [0.428571, 0.0, 0.0, 0.571428]
    """
    where = "hog_normalize"
    if (
        not isinstance(histograms, np.ndarray)
        or histograms.ndim != 3
        or histograms.dtype not in (np.float32, np.float64)
        or 0 in histograms.shape
    ):
        raise fail(
            "histograms",
            where,
            "a non-empty float32 or float64 array of shape (n_cells_row, n_cells_col, "
            "orientations)",
            histograms,
            TypeError if not isinstance(histograms, np.ndarray) else ValueError,
        )
    block = CELLS_PER_BLOCK.check(cells_per_block, where)
    BLOCK_NORM.check(block_norm, where)
    FEATURE_VECTOR.check(feature_vector, where)
    if histograms.shape[0] < block[0] or histograms.shape[1] < block[1]:
        raise fail(
            "cells_per_block",
            where,
            f"at most the number of cells {histograms.shape[:2]}",
            cells_per_block,
        )
    return _normalize(histograms, block, block_norm, feature_vector)


# --- cell histograms ------------------------------------------------------------------


def _histograms(image, orientations, cell, transform_sqrt, where) -> np.ndarray:
    """Checked arguments to the (n_cells_row, n_cells_col, orientations) histograms."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if transform_sqrt and image.dtype.kind == "f" and np.less(image, 0).any():
        raise ValueError(
            f"The 'image' parameter of {where} must not be negative with "
            "transform_sqrt=True (square roots of negative values are undefined). "
            f"Got a minimum of {float(np.min(image))} instead."
        )
    rows, cols = cell
    n_rows, n_cols = image.shape[0] // rows, image.shape[1] // cols
    bins = orientations + 1  # the last one collects orientations of exactly 180 degrees
    # scikit-image lets those fall in no bin; so does the dropped extra bin here.
    strip = max(1, STRIP_PIXELS // (rows * cols * n_cols))  # cell rows per strip
    offsets = _cell_offsets(min(strip, n_rows), cell, n_cols, bins)
    table = _pair_table(orientations) if image.dtype == np.uint8 and not transform_sqrt else None
    sums = np.empty((n_rows, n_cols, bins), np.float64)
    for first in range(0, n_rows, strip):
        last = min(n_rows, first + strip)
        top, bottom = first * rows, last * rows
        if table is not None:
            index, weight = _votes_uint8(image, top, bottom, n_cols * cols, table)
        else:
            gy, gx = _strip_gradient(image, top, bottom, n_cols * cols, transform_sqrt)
            index, weight = _votes(gy, gx, orientations)
        index += offsets[: bottom - top]
        sums[first:last] = np.bincount(
            index.ravel(), weight.ravel(), minlength=(last - first) * n_cols * bins
        ).reshape(last - first, n_cols, bins)
    out = sums[..., :orientations] / (rows * cols)
    return out.astype(float_dtype(image), copy=False)


def _cell_offsets(n_rows, cell, n_cols, bins) -> np.ndarray:
    """Index of each pixel's first bin in a strip of `n_rows` cell rows."""
    rows, cols = cell
    down = (np.arange(n_rows * rows) // rows) * (n_cols * bins)
    across = (np.arange(n_cols * cols) // cols) * bins
    return down[:, None] + across[None, :]


def _bin_edges(orientations: int) -> np.ndarray:
    # As scikit-image: the edge of bin k is (180 / n) * k, in float64.
    return (180.0 / orientations) * np.arange(orientations + 1)


def _votes(gy: np.ndarray, gx: np.ndarray, orientations: int):
    """Bin (0..orientations, the last meaning none) and magnitude of each pixel.

    The orientation is computed exactly as scikit-image does, then placed by
    the same comparisons with the same edges.
    """
    magnitude = np.hypot(gx, gy)
    angle = np.rad2deg(np.arctan2(gy, gx))
    np.remainder(angle, 180, out=angle)
    edges = _bin_edges(orientations)
    index = np.floor_divide(angle, 180.0 / orientations).astype(np.intp)
    np.clip(index, 0, orientations, out=index)
    index -= angle < edges[index]  # floor division is off by one at a few edges
    index += angle >= edges[np.minimum(index + 1, orientations)]
    index[index >= orientations] = orientations  # 180 itself: in no bin
    return index, magnitude


@functools.lru_cache(maxsize=8)
def _pair_table(orientations: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin and magnitude of every (gy, gx) pair of a uint8 image, flattened with
    index ``(gy + 255) * 511 + gx + 255``."""
    steps = np.arange(-255, 256, dtype=np.float64)
    gy, gx = np.meshgrid(steps, steps, indexing="ij")
    index, magnitude = _votes(gy, gx, orientations)
    index.flags.writeable = magnitude.flags.writeable = False
    return index.ravel(), magnitude.ravel()


def _votes_uint8(image, top, bottom, width, table):
    """Bins and magnitudes of rows [top, bottom) and columns [0, width) by table look-up."""
    bins, magnitudes = table
    shape = (bottom - top, width)
    if image.ndim == 2:
        pair = scratch(shape, np.int32, "hog-pair")
        _pair_index(image, top, bottom, width, pair)
    else:
        pair = _strongest_pair(image, top, bottom, width)
    index = np.take(bins, pair, out=scratch(shape, np.intp, "hog-index"), mode="clip")
    weight = np.take(magnitudes, pair, out=scratch(shape, np.float64, "hog-weight"), mode="clip")
    return index, weight


def _pair_index(image, top, bottom, width, pair) -> np.ndarray:
    """``(gy + 255) * 511 + gx + 255`` of a grey uint8 image's strip, into `pair` (int32)."""
    _diff_rows(image, 0, image.shape[0], top, bottom, width, pair, np.int32)
    pair *= 511
    pair += 255 * 511 + 255
    right = min(width, image.shape[1] - 1)  # columns 1 .. right-1 have a gx
    if right > 1:
        inner = pair[:, 1:right]
        np.add(inner, image[top:bottom, 2 : right + 1], out=inner, dtype=np.int32)
        np.subtract(inner, image[top:bottom, : right - 1], out=inner, dtype=np.int32)
    return pair


def _diff_rows(source, offset, height, top, bottom, width, out, dtype) -> None:
    """``I[r + 1] - I[r - 1]`` for rows [top, bottom) of an image of `height` rows,
    0 on its first and last row; row ``r`` of the image is row ``r - offset`` of
    `source`."""
    first, last = max(top, 1), min(bottom, height - 1)
    out[: first - top] = 0
    out[max(last - top, 0) :] = 0
    if last > first:
        np.subtract(
            source[first + 1 - offset : last + 1 - offset, :width],
            source[first - 1 - offset : last - 1 - offset, :width],
            out=out[first - top : last - top],
            dtype=dtype,
        )


def _diff_cols(strip, width, out, dtype) -> None:
    """``I[c + 1] - I[c - 1]`` for columns [0, width), 0 on the first and last column."""
    right = min(width, strip.shape[1] - 1)
    out[:, :1] = 0
    out[:, max(right, 1) :] = 0
    if right > 1:
        inner = out[:, 1:right]
        np.subtract(strip[:, 2 : right + 1], strip[:, : right - 1], out=inner, dtype=dtype)


def _strongest_pair(image, top, bottom, width) -> np.ndarray:
    """Pair index of each pixel's channel of largest gradient (uint8 colour).

    Integer derivatives: the largest ``gy² + gx²`` is the largest ``hypot`` with
    the same ties, so the channel is scikit-image's.
    """
    channels = image.shape[2]
    shape = (bottom - top, width, channels)
    gy = np.empty(shape, np.int32)
    gx = np.empty(shape, np.int32)
    _diff_rows(image, 0, image.shape[0], top, bottom, width, gy, np.int32)
    _diff_cols(image[top:bottom], width, gx, np.int32)
    energy = gy * gy
    energy += gx * gx
    best = energy.argmax(axis=2)[..., None]
    pair = np.take_along_axis(gy, best, axis=2)[..., 0] * 511
    pair += np.take_along_axis(gx, best, axis=2)[..., 0]
    pair += 255 * 511 + 255
    return pair


def _work_dtype(image: np.ndarray) -> np.dtype:
    # scikit-image's float type: float32 stays float32, everything else is float64.
    return np.dtype(np.float32 if image.dtype == np.float32 else np.float64)


def _strip_gradient(image, top, bottom, width, transform_sqrt):
    """(gy, gx) of rows [top, bottom), columns [0, width), as float64, computed in
    scikit-image's float type (float32 for float32 input) with its channel choice."""
    work = _work_dtype(image)
    offset = max(top - 1, 0)
    source = image[offset : bottom + 1].astype(work)  # the strip and a row either side
    if transform_sqrt:
        np.sqrt(source, out=source)
    shape = (bottom - top, width, *image.shape[2:])
    gy = np.empty(shape, work)
    gx = np.empty(shape, work)
    _diff_rows(source, offset, image.shape[0], top, bottom, width, gy, work)
    _diff_cols(source[top - offset : bottom - offset], width, gx, work)
    if image.ndim == 3:
        best = np.hypot(gy, gx).argmax(axis=2)[..., None]
        gy = np.take_along_axis(gy, best, axis=2)[..., 0]
        gx = np.take_along_axis(gx, best, axis=2)[..., 0]
    return gy.astype(np.float64, copy=False), gx.astype(np.float64, copy=False)


# --- block normalisation --------------------------------------------------------------


def _normalize(histograms, block, block_norm, feature_vector) -> np.ndarray:
    """The descriptor: every block of cells divided by its norm (scikit-image's formulas)."""
    rows, cols = block
    n_rows, n_cols, _ = histograms.shape
    shape = (n_rows - rows + 1, n_cols - cols + 1, rows, cols, histograms.shape[2])
    s0, s1, s2 = histograms.strides
    blocks = np.lib.stride_tricks.as_strided(
        histograms, shape, (s0, s1, s0, s1, s2), writeable=False
    )
    # Per-cell sums, then per-block sums of them, in float64 (small arrays).
    if block_norm in ("L1", "L1-sqrt"):
        per_cell = np.abs(histograms).sum(axis=2, dtype=np.float64)
        norm = _block_sums(per_cell, rows, cols) + EPS
    else:
        per_cell = np.square(histograms, dtype=np.float64).sum(axis=2)
        norm = np.sqrt(_block_sums(per_cell, rows, cols) + EPS**2)
    norm = norm.astype(histograms.dtype)[:, :, None, None, None]
    out = np.divide(blocks, norm, out=np.empty(shape, histograms.dtype))  # C order
    if block_norm == "L1-sqrt":
        np.sqrt(out, out=out)
    elif block_norm == "L2-Hys":
        np.minimum(out, histograms.dtype.type(HYS_CLIP), out=out)
        flat = out.reshape(shape[0] * shape[1], -1)
        again = np.sqrt(np.einsum("ij,ij->i", flat, flat) + EPS**2)
        flat /= again.astype(histograms.dtype)[:, None]
    return out.ravel() if feature_vector else out


def _block_sums(per_cell: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Sums over every rows x cols window of a 2-D array (windows inside it)."""
    windows = np.lib.stride_tricks.sliding_window_view(per_cell, (rows, cols))
    return windows.sum(axis=(2, 3))
