"""Pictures of gradients: direction colour maps, diverging maps and labelled previews.

Direction colour map
--------------------
:func:`colorize` shows a gradient as one RGB picture: hue = the direction the
gradient points to on screen, value (brightness) = its magnitude, saturation
full (HSV). Flat regions are black, strong edges bright, and opposite
directions get opposite hues. The hue is the on-screen angle measured as in
the "image" convention (x right, y down, clockwise), as OpenCV's optical-flow
tutorial does with ``cv2.cartToPolar``:

====================  ========  ====================
gradient points       hue       colour
====================  ========  ====================
right                 0         red
down                  90        chartreuse
left                  180       cyan
up                    270       violet
====================  ========  ====================

The phase options (`degrees`, `wrap`, `convention`) only say how to read the
phase plane: a phase computed with any options gives the same picture when
the same options are passed (wrap "full" and "signed" even accept each other's
range). The exception is ``wrap="half"``: such a phase is an orientation
without polarity, and the hue is twice the orientation angle, so the hue
circle spans the half turn [0, 180): a gradient and its opposite share a hue,
and perpendicular orientations get opposite hues.

Multichannel planes (H, W, C): at each pixel the channel of largest magnitude
is shown, with its own phase (ties go to the first channel). This is what the
derivative operators' ``channels="max"`` does, so a colour image gives the
same picture whether its channels were reduced before or here.

Diverging map
-------------
Signed planes (gx, gy) are shown by :func:`diverging`: blue for negative,
near-white for zero, red for positive, symmetric about zero, built from
ColorBrewer's RdBu scheme (:data:`DIVERGING_ANCHORS`). None of OpenCV's
``COLORMAP_*`` maps is diverging about a neutral centre: JET and TURBO have a
saturated green or yellow middle, and TWILIGHT_SHIFTED, although light at its
centre, is cyclic, so its two ends (-max and +max) are the same dark purple.

Previews
--------
:func:`preview` draws a labelled montage of an image and its gradient planes
(titles in OpenCV's Hershey font, no plotting library), with a colour-wheel
legend (:func:`colour_wheel`) on the direction map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from imgrad._params import Float, OptionalFloat
from imgrad._validation import check_image, check_int, check_out, check_same_shape, fail
from imgrad.derivatives import Gradient
from imgrad.magphase import CONVENTION, DEGREES, WRAP, Polar, phase_range, polar
from imgrad.scaling import finite_bounds, scale

if TYPE_CHECKING:
    from imgrad.pipeline import Pipeline

__all__ = [
    "BACKGROUND",
    "COLORIZE_PARAMS",
    "DEFAULT_PREVIEW",
    "DIVERGING_ANCHORS",
    "GAP",
    "MARGIN",
    "MAX",
    "PERCENTILE",
    "TITLE_HEIGHT",
    "colorize",
    "colour_wheel",
    "diverging",
    "magnitude_scale",
    "percentile_between",
    "percentile_of",
    "preview",
]


MAX = OptionalFloat(
    "max",
    "magnitude shown at full brightness (default: the percentile below)",
    low=0.0,
    strict=True,
)
PERCENTILE = Float(
    "percentile",
    "percentile of the magnitude shown at full brightness when max is not given",
    low=0.0,
    strict=True,
    high=100.0,
)
#: The parameters of :func:`colorize`, in the order of its signature.
COLORIZE_PARAMS = (MAX, PERCENTILE, DEGREES, WRAP, CONVENTION)

#: ColorBrewer RdBu (11 classes), from the most negative (dark blue) through
#: the centre (#f7f7f7) to the most positive (dark red).
DIVERGING_ANCHORS = np.array(
    [
        [0x05, 0x30, 0x61],
        [0x21, 0x66, 0xAC],
        [0x43, 0x93, 0xC3],
        [0x92, 0xC5, 0xDE],
        [0xD1, 0xE5, 0xF0],
        [0xF7, 0xF7, 0xF7],
        [0xFD, 0xDB, 0xC7],
        [0xF4, 0xA5, 0x82],
        [0xD6, 0x60, 0x4D],
        [0xB2, 0x18, 0x2B],
        [0x67, 0x00, 0x1F],
    ],
    dtype=np.float64,
)
_DIVERGING_HALF = 127  # the table has 2 * 127 + 1 entries; index 127 is zero
_DIVERGING_LUT = np.rint(
    np.stack(
        [
            np.interp(
                np.arange(2 * _DIVERGING_HALF + 1),
                np.linspace(0, 2 * _DIVERGING_HALF, len(DIVERGING_ANCHORS)),
                DIVERGING_ANCHORS[:, k],
            )
            for k in range(3)
        ],
        axis=-1,
    )
).astype(np.uint8)

#: The default panels of :func:`preview`, as a pipeline text.
DEFAULT_PREVIEW = (
    "sobel channels=max | polar | morph name=basic | morph kind=internal name=internal "
    "| morph kind=external name=external -> gx,gy,magnitude,phase,basic,internal,external"
)

# --- montage layout (pixels) ---
#: Border around the montage.
MARGIN = 8
#: Space between cells.
GAP = 8
#: Height of the title band above each panel.
TITLE_HEIGHT = 40
#: Montage background (RGB).
BACKGROUND = (38, 38, 38)
_TITLE_COLOUR = (245, 245, 245)
_SUBTITLE_COLOUR = (170, 170, 170)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TITLE_SCALE, _SUBTITLE_SCALE = 0.55, 0.4
_TITLE_BASELINE, _SUBTITLE_BASELINE = 17, 34
_TARGET_ASPECT = 16 / 9


# --- direction colour map ------------------------------------------------------


def colorize(
    magnitude: np.ndarray | Gradient | Polar,
    phase: np.ndarray | None = None,
    *,
    max: float | None = None,
    percentile: float = 99.0,
    degrees: bool = False,
    wrap: str = "full",
    convention: str = "image",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Direction colour map: hue = direction, brightness = magnitude.

    Parameters
    ----------
    magnitude : ndarray, Gradient or Polar
        Magnitude plane (H, W) or (H, W, C), any supported dtype; negative
        values and NaN show black. Or an :class:`imgrad.Gradient` (gx, gy),
        whose magnitude and phase are computed here with the phase options
        below (``precise=True``), or an :class:`imgrad.Polar` (magnitude, phase).
    phase : ndarray, optional
        Phase plane of the same shape, described by `degrees`, `wrap` and
        `convention`; required with a magnitude array, None otherwise.
    max : float, optional
        Magnitude shown at full brightness (> 0); larger ones are clipped.
        Give it to compare pictures of several images.
    percentile : float
        When `max` is not given, the magnitude at this percentile (0 < p <= 100)
        of the image is full brightness, so a few very strong edges do not
        leave the rest dark. Where that percentile is 0 (a mostly flat image)
        the maximum is used.
    degrees : bool
        The phase is in degrees (else radians).
    wrap : {"full", "signed", "half"}
        The phase's range. "half" phases are orientations: the hue is then
        twice the angle (see the module notes).
    convention : {"image", "math"}
        The phase's convention ("math" angles turn the other way on screen).
    out : ndarray, optional
        (H, W, 3) uint8 C-contiguous array to write the result into.

    Returns
    -------
    ndarray
        (H, W, 3) uint8 RGB. Hue = on-screen direction (0 red = right,
        90 chartreuse = down, 180 cyan = left, 270 violet = up), value =
        magnitude / scale clipped to 1, saturation 1.

    Raises
    ------
    ValueError
        Bad option, shape mismatch, or phase values outside the range the
        options describe (e.g. degrees given with ``degrees=False``).
    TypeError
        Wrong argument types.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> gx = np.array([[1.0, -1.0, 0.0, 0.0]])
    >>> gy = np.array([[0.0, 0.0, 1.0, 0.0]])
    >>> imgrad.visualize.colorize(imgrad.Gradient(gx, gy), max=1.0)
    array([[[255,   0,   0],
            [  0, 255, 255],
            [128, 255,   0],
            [  0,   0,   0]]], dtype=uint8)
    >>> rgb = imgrad.visualize.colorize(*imgrad.polar(gx, gy, degrees=True, convention="math"),
    ...                                 max=1.0, degrees=True, convention="math")
    >>> rgb[0, 2].tolist()
    [128, 255, 0]
    """
    where = "colorize"
    max = MAX.check(max, where)
    percentile = PERCENTILE.check(percentile, where)
    degrees = DEGREES.check(degrees, where)
    wrap = WRAP.check(wrap, where)
    convention = CONVENTION.check(convention, where)
    magnitude, phase = _polar_planes(magnitude, phase, degrees, wrap, convention, where)
    magnitude, phase = _strongest(magnitude, phase)
    _check_phase_values(phase, degrees, wrap, where)
    if out is not None:
        out = check_out(out, (*magnitude.shape, 3), np.uint8, where=where)
    top = _scale_of(magnitude, max, percentile)
    return _colour_bands(magnitude, phase, top, degrees, wrap, convention, out)


def magnitude_scale(
    magnitude: np.ndarray, *, max: float | None = None, percentile: float = 99.0
) -> float:
    """The magnitude :func:`colorize` shows at full brightness.

    `max` if given, else the `percentile` of the finite values (of the
    strongest channel at each pixel for (H, W, C)), else the maximum if that
    percentile is 0; 0.0 for an image without any positive magnitude. A tiled
    or batch run can compute it once and pass it as ``max``.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> imgrad.visualize.magnitude_scale(np.arange(101.0)[None], percentile=90)
    90.0
    >>> imgrad.visualize.magnitude_scale(np.zeros((4, 4)))
    0.0
    """
    where = "magnitude_scale"
    magnitude = check_image(magnitude, where=where, param="magnitude")
    max = MAX.check(max, where)
    percentile = PERCENTILE.check(percentile, where)
    if magnitude.ndim == 3:
        magnitude = magnitude.max(axis=2)
    return _scale_of(magnitude, max, percentile)


def colour_wheel(
    size: int, *, wrap: str = "full", background: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """The legend of :func:`colorize`: each direction's colour on a disc.

    The colour at a point is that of a gradient pointing from the centre to
    that point, with magnitude = distance / radius: black at the centre, full
    brightness on the rim. The edge is anti-aliased against `background`.

    Parameters
    ----------
    size : int
        Width and height in pixels (>= 4).
    wrap : {"full", "signed", "half"}
        "half" shows the orientation legend (a direction and its opposite
        share a colour); "full" and "signed" are the same wheel.
    background : (r, g, b)
        Colour outside the disc, integers 0..255.

    Returns
    -------
    ndarray
        (size, size, 3) uint8 RGB.

    Examples
    --------
    >>> import imgrad
    >>> wheel = imgrad.visualize.colour_wheel(65)
    >>> wheel[32, 63].tolist(), wheel[63, 32].tolist(), wheel[0, 0].tolist()
    ([247, 0, 0], [124, 247, 0], [255, 255, 255])
    """
    where = "colour_wheel"
    size = check_int(size, param="size", where=where, low=4)
    wrap = WRAP.check(wrap, where)
    background = _check_colour(background, "background", where)
    rgb, coverage = _wheel(size, wrap)
    out = rgb * coverage[..., None] + np.array(background, np.float32) * (1 - coverage[..., None])
    return np.rint(out).astype(np.uint8)


# --- diverging map -------------------------------------------------------------


def diverging(
    values: np.ndarray, *, max: float | None = None, percentile: float = 99.0
) -> np.ndarray:
    """Signed plane to RGB: blue negative, near-white zero, red positive.

    Parameters
    ----------
    values : ndarray
        (H, W), or (H, W, C) where each pixel shows its channel of largest
        absolute value. NaN shows as zero.
    max : float, optional
        Absolute value shown at full colour; default the `percentile` of
        ``|values|`` (its maximum if that is 0).
    percentile : float
        0 < p <= 100.

    Returns
    -------
    ndarray
        (H, W, 3) uint8 RGB from a 255-entry table (ColorBrewer RdBu,
        interpolated); 0 maps to its centre entry exactly, ``v`` and ``-v``
        to entries symmetric about it.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> imgrad.visualize.diverging(np.array([[-2.0, 0.0, 2.0]]), max=2.0).tolist()
    [[[5, 48, 97], [247, 247, 247], [103, 0, 31]]]
    """
    where = "diverging"
    values = check_image(values, where=where, param="values")
    max = MAX.check(max, where)
    percentile = PERCENTILE.check(percentile, where)
    return _diverging(values, max, percentile)


# --- preview montage -----------------------------------------------------------


def preview(
    image: np.ndarray, pipeline: Pipeline | str | None = None, *, max_side: int | None = 1024
) -> np.ndarray:
    """A labelled montage of an image and its gradient planes.

    Parameters
    ----------
    image : ndarray
        (H, W) or (H, W, C), any supported dtype. Not modified.
    pipeline : Pipeline or str, optional
        Default :data:`DEFAULT_PREVIEW`: the original, gx, gy (Sobel, strongest
        channel), magnitude, the direction colour map, and the basic, internal
        and external morphological gradients (3x3; per channel for colour
        images, alpha dropped). With a pipeline (object or text): the original,
        then every plane the pipeline writes, in order (``pipeline.planes``);
        when it has an outputs clause (``-> a,b``) only those planes.
    max_side : int or None
        Panels keep the image's size unless its long side exceeds this
        (>= 16); then they are downscaled (area averaging) to it. Planes are
        computed at full size. None: never downscale.

    Returns
    -------
    ndarray
        (H', W', 3) uint8 RGB. Panels of the (scaled) image size sit in a grid,
        row by row, chosen to make the montage closest to 16:9; cell (r, c)
        has its title band at ``y = MARGIN + r * (TITLE_HEIGHT + h + GAP)``,
        ``x = MARGIN + c * (w + GAP)`` and the panel right below it, on a
        :data:`BACKGROUND` canvas. The same input gives the same bytes.

    Notes
    -----
    How planes are shown:

    - the original, and planes written by ``gray`` or ``gaussian``: uint8 as
      is, uint16 divided by 257, int16 and floats stretched from their
      minimum to maximum; 1-2 channels grey, 3 or more in colour (first three);
    - phase planes: the direction colour map (:func:`colorize`) with the
      magnitude computed from the same gx, gy by the pipeline, titled
      "direction", with a colour-wheel legend in the bottom-right corner
      (the orientation wheel for ``wrap=half``); without a magnitude, the
      hue alone at full brightness;
    - planes with negative values (gx, gy): :func:`diverging`, symmetric
      about zero, scaled to the 99th percentile of the absolute value;
    - other planes (magnitude, morphological gradients): black (0) to white
      at their 99th percentile, in colour for 3-channel planes;
    - planes written by a ``colorize`` step: as they are, with the legend.

    Examples
    --------
    >>> import numpy as np, imgrad
    >>> image = np.zeros((64, 96), np.uint8); image[16:48, 24:72] = 200
    >>> imgrad.visualize.preview(image).shape
    (232, 424, 3)
    >>> imgrad.visualize.preview(image, "sobel | polar").shape
    (232, 424, 3)
    """
    where = "preview"
    image = check_image(image, where=where)
    if max_side is not None:
        max_side = check_int(max_side, param="max_side", where=where, low=16)
    if pipeline is None:
        panels = _panels(_drop_alpha(image), _pipeline(DEFAULT_PREVIEW))
    else:
        panels = _panels(image, _pipeline(pipeline))
    height, width = image.shape[:2]
    factor = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        for panel in panels:
            panel.rgb = cv2.resize(panel.rgb, size, interpolation=cv2.INTER_AREA)
    return _montage(panels)


# --- kernels: colour ------------------------------------------------------------


def _polar_planes(magnitude, phase, degrees, wrap, convention, where):
    if isinstance(magnitude, (Gradient, Polar)):
        if phase is not None:
            raise fail(
                "phase",
                where,
                f"None when 'magnitude' is an imgrad."
                f"{type(magnitude).__name__} (which holds both planes)",
                phase,
                TypeError,
            )
        if isinstance(magnitude, Gradient):
            # float64 arctan2: exact hues (the fast arctangent is off by up to 2e-4 rad)
            return polar(
                magnitude.gx,
                magnitude.gy,
                degrees=degrees,
                wrap=wrap,
                convention=convention,
                precise=True,
            )
        magnitude, phase = magnitude
    elif not isinstance(magnitude, np.ndarray):
        raise fail(
            "magnitude",
            where,
            "a NumPy array, an imgrad.Gradient or an imgrad.Polar",
            magnitude,
            TypeError,
        )
    if phase is None:
        raise fail(
            "phase",
            where,
            "a phase array when 'magnitude' is an array (or pass an "
            "imgrad.Gradient or imgrad.Polar alone)",
            phase,
            TypeError,
        )
    magnitude = check_image(magnitude, where=where, param="magnitude")
    phase = check_image(phase, where=where, param="phase")
    check_same_shape(magnitude, phase, names=("magnitude", "phase"), where=where)
    return magnitude, phase


def _strongest(magnitude: np.ndarray, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) planes: at each pixel the channel of largest magnitude (ties: the first)."""
    if magnitude.ndim == 2:
        return magnitude, phase
    if magnitude.shape[2] == 1:
        return magnitude[..., 0], phase[..., 0]
    finite = np.where(np.isnan(magnitude), -np.inf, magnitude)
    index = finite.argmax(axis=2)[..., None]
    return (
        np.take_along_axis(magnitude, index, axis=2)[..., 0],
        np.take_along_axis(phase, index, axis=2)[..., 0],
    )


def _check_phase_values(phase: np.ndarray, degrees: bool, wrap: str, where: str) -> None:
    """Refuse phase values outside the range the options describe (a units or wrap mix-up)."""
    period = 360.0 if degrees else 2 * math.pi
    low, high = phase_range(degrees=degrees, wrap=wrap)
    if wrap != "half":  # angles are taken modulo a full turn: both ranges draw the same
        low, high = -period / 2, period
    finite = np.isfinite(phase)
    got_low = float(np.min(phase, where=finite, initial=np.inf))
    got_high = float(np.max(phase, where=finite, initial=-np.inf))
    if got_low > got_high:  # no finite value at all
        return
    tolerance = 1e-3 * period
    if got_low >= low - tolerance and got_high <= high + tolerance:
        return
    hint = ""
    if not degrees and got_high > 2 * math.pi + tolerance:
        hint = " Angles above 2*pi: pass degrees=True if the phase is in degrees."
    elif wrap == "half":
        hint = " Pass the wrap the phase was computed with ('full' or 'signed')."
    units = "degrees" if degrees else "radians"
    raise ValueError(
        f"The 'phase' parameter of {where} must hold angles in [{low:g}, {high:g}] "
        f"({units}, wrap={wrap!r}), as the 'degrees' and 'wrap' options describe. "
        f"Got values from {got_low:g} to {got_high:g} instead.{hint}"
    )


def _scale_of(magnitude: np.ndarray, max: float | None, percentile: float) -> float:
    if max is not None:
        return max
    values = magnitude if _all_finite(magnitude) else magnitude[np.isfinite(magnitude)]
    if values.size == 0:
        return 0.0
    top = percentile_of(values, percentile)
    if top <= 0:
        top = float(values.max())
    return top if top > 0 else 0.0


#: Arrays at least this large get :func:`percentile_of`'s sampled bracket.
_BRACKETED = 1 << 18
#: Values in the sample the bracket is taken from.
_SAMPLE = 1 << 14


def percentile_of(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)``, bit for bit, without partitioning the whole array.

    NumPy's "linear" percentile interpolates between two order statistics.
    Here a strided sample of the values gives a bracket that holds them with
    near certainty; one pass counts the values below it, another gathers the
    few inside, and only those are partitioned (about 4x faster on a 4K
    plane). If the bracket misses them, NumPy does the whole job.
    `values` must hold no NaN.

    Examples
    --------
    >>> import numpy as np
    >>> values = np.random.default_rng(0).random(1_000_000, np.float32)
    >>> bool(percentile_of(values, 99) == np.percentile(values, 99))
    True
    """
    flat = values.reshape(-1)
    count = flat.size
    if count < _BRACKETED:
        return float(np.percentile(flat, q))
    index = (count - 1) * (q / 100)  # NumPy's virtual index, same arithmetic
    low = int(index)
    high = min(low + 1, count - 1)
    sample = np.sort(flat[:: count // _SAMPLE])
    centre = (sample.size - 1) * (q / 100)
    margin = 4 * math.sqrt(sample.size) + 8  # ranks; the sample's error is ~ sqrt(size) / 2
    below_value = sample[max(0, int(centre - margin))]
    above_value = sample[min(sample.size - 1, int(centre + margin) + 1)]
    below = int(np.count_nonzero(flat < below_value))
    inside = flat[(flat >= below_value) & (flat <= above_value)]
    if below > low or below + inside.size <= high:  # the bracket missed
        return float(np.percentile(flat, q))
    inside.partition((low - below, high - below))
    return percentile_between(inside[low - below], inside[high - below], index)


def percentile_between(low: Any, high: Any, index: float) -> float:
    """NumPy's "linear" percentile at virtual `index` (``(count - 1) * q / 100``)
    from its two order statistics ``low`` (rank ``int(index)``) and ``high``
    (the next one), NumPy scalars of the values' dtype: NumPy's own
    interpolation, on the two values."""
    pair = np.array([low, high], dtype=np.result_type(low, high))
    return float(np.quantile(pair, index - int(index)))


#: Pixels per band of :func:`_colour_bands`: its float32 temporaries (a dozen
#: of 256 KiB) then stay in the L2 cache; on a 4K image, 2.4x faster than
#: whole planes, with the same bytes.
_BAND_PIXELS = 1 << 16


def _colour_bands(magnitude, phase, top, degrees, wrap, convention, out) -> np.ndarray:
    """The colour map pixel by pixel, in bands of rows (see ``_BAND_PIXELS``)."""
    if out is None:
        out = np.empty((*magnitude.shape, 3), np.uint8)
    rows = max(1, _BAND_PIXELS // max(1, magnitude.shape[1]))
    for first in range(0, magnitude.shape[0], rows):
        band = slice(first, first + rows)
        turns = _hue_turns(phase[band], degrees, wrap, convention)
        _hsv_to_rgb(turns, _value(magnitude[band], top), out[band])
    return out


def _value(magnitude: np.ndarray, top: float) -> np.ndarray:
    """Brightness in [0, 1] (float32): magnitude / top, clipped; NaN and negatives are 0."""
    if top <= 0:
        return np.zeros(magnitude.shape, np.float32)
    value = np.multiply(magnitude, np.float32(1 / top), dtype=np.float32)
    if not _all_finite(value):
        np.nan_to_num(value, copy=False, nan=0.0)
    return np.clip(value, 0, 1, out=value)


def _hue_turns(phase: np.ndarray, degrees: bool, wrap: str, convention: str) -> np.ndarray:
    """Hue as a fraction of a turn in [0, 1) (float32): the on-screen angle, image convention."""
    period = 360.0 if degrees else 2 * math.pi
    turns = np.multiply(phase, np.float32(1 / period), dtype=np.float32)
    if not _all_finite(turns):
        np.nan_to_num(turns, copy=False, nan=0.0)
    if convention == "math":  # y up: the same screen direction has the opposite angle
        np.negative(turns, out=turns)
    if wrap == "half":  # orientations: the half turn spans the whole hue circle
        turns *= np.float32(2)
    # turns mod 1 (the same bits as np.mod, several times faster)
    np.subtract(turns, np.floor(turns), out=turns)
    # -tiny mod 1 rounds to 1.0: values above the largest float32 below 1 become 0
    cv2.threshold(turns, _BELOW_ONE, 0, cv2.THRESH_TOZERO_INV, dst=turns)
    return turns


_BELOW_ONE = float(np.nextafter(np.float32(1), np.float32(0)))


def _all_finite(values: np.ndarray) -> bool:
    """No NaN and no infinity."""
    return values.dtype.kind != "f" or finite_bounds(values) is not None


def _hsv_to_rgb(turns: np.ndarray, value: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """HSV with saturation 1 to uint8 RGB (the standard hexcone formula), in float32."""
    sector = turns * np.float32(6)
    brightness = value * np.float32(255)
    if out is None:
        out = np.empty((*turns.shape, 3), np.uint8)
    distance, other = np.empty_like(sector), np.empty_like(sector)  # reused: no allocation
    for k, hue in enumerate((0, 2, 4)):  # red, green, blue, in sixths of a turn
        # 1 within one sixth of a turn of the channel's own hue, 0 beyond two, linear between.
        np.subtract(sector, np.float32(hue), out=distance)
        np.abs(distance, out=distance)
        np.subtract(np.float32(6), distance, out=other)
        np.minimum(distance, other, out=distance)
        channel = np.subtract(np.float32(2), distance, out=distance)
        np.clip(channel, 0, 1, out=channel)
        channel *= brightness
        out[..., k] = np.rint(channel, out=channel)
    return out


def _wheel(size: int, wrap: str) -> tuple[np.ndarray, np.ndarray]:
    """Wheel colours (float32 RGB) and disc coverage in [0, 1] (anti-aliased rim)."""
    centre, radius = (size - 1) / 2, size / 2
    dy, dx = np.mgrid[0:size, 0:size].astype(np.float64) - centre
    distance = np.hypot(dx, dy)
    angle = np.arctan2(dy, dx) % (2 * math.pi)  # screen angle, y down
    if wrap == "half":
        angle %= math.pi
    value = np.clip(distance / (radius - 0.5), 0.0, 1.0).astype(np.float32)
    turns = _hue_turns(angle, False, wrap, "image")
    coverage = np.clip(radius - distance + 0.5, 0.0, 1.0).astype(np.float32)
    return _hsv_to_rgb(turns, value).astype(np.float32), coverage


def _diverging(values: np.ndarray, max: float | None, percentile: float) -> np.ndarray:
    if values.ndim == 3:
        index = np.abs(values).argmax(axis=2)[..., None]
        values = np.take_along_axis(values, index, axis=2)[..., 0]
    values = values.astype(np.float32)
    np.nan_to_num(values, copy=False, nan=0.0, posinf=np.inf, neginf=-np.inf)
    top = _scale_of(np.abs(values), max, percentile)
    if top <= 0:
        return _DIVERGING_LUT[np.full(values.shape, _DIVERGING_HALF, np.intp)]
    values *= np.float32(_DIVERGING_HALF / top)
    np.clip(values, -_DIVERGING_HALF, _DIVERGING_HALF, out=values)
    index = np.rint(values).astype(np.intp)
    index += _DIVERGING_HALF
    return _DIVERGING_LUT[index]


def _check_colour(colour: Any, param: str, where: str) -> tuple[int, int, int]:
    allowed = "three integers 0..255 (r, g, b)"
    if not isinstance(colour, (tuple, list)) or len(colour) != 3:
        raise fail(param, where, allowed, colour, TypeError)
    return tuple(check_int(c, param=param, where=where, low=0, high=255) for c in colour)


# --- kernels: preview -----------------------------------------------------------


@dataclass
class _Panel:
    title: str
    subtitle: str
    rgb: np.ndarray
    legend: str | None = None  # wrap of the direction legend to draw, if any


def _pipeline(pipeline: Any) -> Pipeline:
    from imgrad.pipeline import Pipeline

    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, str):
        return Pipeline.parse(pipeline)
    raise fail(
        "pipeline", "preview", "an imgrad.Pipeline, a pipeline text or None", pipeline, TypeError
    )


def _drop_alpha(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] in (2, 4):
        return image[..., : image.shape[2] - 1]
    return image


def _panels(image: np.ndarray, pipe: Pipeline) -> list[_Panel]:
    from imgrad.ops import IMAGE

    writer = {}  # plane -> (step, planes it read); the last writer wins
    for step, (reads, writes) in zip(pipe.steps, pipe.routes, strict=True):
        for name in writes:
            writer[name] = (step, reads)
    if pipe.outputs != pipe.routes[-1][1]:  # an explicit outputs clause
        shown = list(pipe.outputs)
    else:
        shown = [name for name in pipe.planes if name in writer]
    partners = {
        name: _magnitude_partner(name, writer)
        for name in shown
        if _phase_options(name, writer) is not None
    }
    needed = shown + [m for m in partners.values() if m is not None and m not in shown]
    planes = pipe.with_outputs(needed)(image)

    height, width = image.shape[:2]
    channels = "" if image.ndim == 2 else f"x{image.shape[2]}"
    panels = [_Panel("original", f"{width}x{height}{channels} {image.dtype}", _natural(image))]
    for name in shown:
        step, _ = writer.get(name, (None, ()))
        subtitle = _step_text(step) if step is not None else "input"
        options = _phase_options(name, writer)
        if options is not None:
            partner = partners[name]
            title = "direction" if name == "phase" else f"{name} (direction)"
            magnitude = (
                planes[partner] if partner is not None else np.ones(planes[name].shape, np.float32)
            )
            rgb = colorize(magnitude, planes[name], **options)
            panels.append(
                _Panel(title, f"{subtitle}: hue = direction", rgb, legend=options["wrap"])
            )
        else:
            legend = (
                step.values.get("wrap") if step is not None and step.name == "colorize" else None
            )
            rgb = _display(name, planes[name], step, IMAGE)
            panels.append(_Panel(name, subtitle, rgb, legend=legend))
    return panels


def _phase_options(name: str, writer: dict) -> dict[str, Any] | None:
    step, _ = writer.get(name, (None, ()))
    if step is None or step.name not in ("phase", "polar"):
        return None
    if step.name == "polar" and not name.endswith("phase"):
        return None
    return {k: step.values[k] for k in ("degrees", "wrap", "convention")}


def _magnitude_partner(phase_name: str, writer: dict) -> str | None:
    _, reads = writer[phase_name]
    found = None
    for name, (step, step_reads) in writer.items():
        if (
            step.name in ("magnitude", "polar")
            and step_reads == reads
            and _phase_options(name, writer) is None
        ):
            found = name
    return found


def _step_text(step: Any) -> str:
    words = step.to_text().split(" ")
    return " ".join(w for w in words if not w.startswith(("name=", "input=")))


def _display(name: str, plane: np.ndarray, step: Any, image_name: str) -> np.ndarray:
    if step is not None and step.name == "colorize":
        return _natural(plane)
    if name == image_name or (step is not None and step.name in ("gray", "gaussian")):
        return _natural(plane)
    if plane.dtype.kind == "f" and bool(np.any(plane < 0)):
        return _diverging(plane, None, 99.0)
    if plane.ndim == 3 and plane.shape[2] != 3:
        plane = plane.max(axis=2)
    top = _scale_of(plane if plane.ndim == 2 else plane.max(axis=2), None, 99.0)
    return _to_rgb(np.rint(_value(plane, top) * 255.0).astype(np.uint8))


def _natural(plane: np.ndarray) -> np.ndarray:
    if plane.dtype == np.uint16:
        plane = np.rint(plane / 257.0).astype(np.uint8)
    elif plane.dtype != np.uint8:
        plane = scale(plane, method="minmax")
    return _to_rgb(plane)


def _to_rgb(plane: np.ndarray) -> np.ndarray:
    if plane.ndim == 2:
        return np.ascontiguousarray(np.repeat(plane[..., None], 3, axis=2))
    if plane.shape[2] < 3:
        return np.ascontiguousarray(np.repeat(plane[..., :1], 3, axis=2))
    return np.ascontiguousarray(plane[..., :3])


def _grid(count: int, cell_height: int, cell_width: int) -> tuple[int, int]:
    """(rows, columns) making the montage closest to 16:9 (fewer columns on ties)."""
    best = None
    for columns in range(1, count + 1):
        rows = -(-count // columns)
        width = 2 * MARGIN + columns * cell_width + (columns - 1) * GAP
        height = 2 * MARGIN + rows * cell_height + (rows - 1) * GAP
        score = abs(math.log(width / height / _TARGET_ASPECT))
        if best is None or score < best[0] - 1e-12:
            best = (score, rows, columns)
    return best[1], best[2]


def _montage(panels: list[_Panel]) -> np.ndarray:
    height, width = panels[0].rgb.shape[:2]
    cell_height = TITLE_HEIGHT + height
    rows, columns = _grid(len(panels), cell_height, width)
    canvas = np.empty(
        (
            2 * MARGIN + rows * cell_height + (rows - 1) * GAP,
            2 * MARGIN + columns * width + (columns - 1) * GAP,
            3,
        ),
        np.uint8,
    )
    canvas[:] = BACKGROUND
    for index, panel in enumerate(panels):
        row, column = divmod(index, columns)
        y = MARGIN + row * (cell_height + GAP)
        x = MARGIN + column * (width + GAP)
        canvas[y : y + TITLE_HEIGHT, x : x + width] = _title_band(panel, width)
        rgb = panel.rgb if panel.legend is None else _with_legend(panel.rgb, panel.legend)
        canvas[y + TITLE_HEIGHT : y + cell_height, x : x + width] = rgb
    return canvas


def _title_band(panel: _Panel, width: int) -> np.ndarray:
    band = np.empty((TITLE_HEIGHT, width, 3), np.uint8)
    band[:] = BACKGROUND
    _put_text(band, panel.title, _TITLE_BASELINE, _TITLE_SCALE, _TITLE_COLOUR)
    _put_text(band, panel.subtitle, _SUBTITLE_BASELINE, _SUBTITLE_SCALE, _SUBTITLE_COLOUR)
    return band


def _put_text(band: np.ndarray, text: str, baseline: int, size: float, colour) -> None:
    """Draw `text` from the left edge, shortened with '...' to fit the band's width."""
    room = band.shape[1] - 2
    fitted = text
    while fitted and cv2.getTextSize(fitted, _FONT, size, 1)[0][0] > room:
        fitted = fitted[:-1]
    if fitted != text:
        fitted = fitted[:-3] + "..." if len(fitted) > 3 else ""
    if fitted:
        cv2.putText(band, fitted, (1, baseline), _FONT, size, colour, 1, cv2.LINE_AA)


def _with_legend(rgb: np.ndarray, wrap: str) -> np.ndarray:
    """A copy of the panel with a colour wheel in its bottom-right corner."""
    height, width = rgb.shape[:2]
    size = min(96, max(24, round(0.2 * min(height, width)))) | 1  # odd: a pixel centre
    if min(height, width) < size + 8:  # too small to hold a legend
        return rgb
    wheel, coverage = _wheel(size, wrap)
    out = rgb.copy()
    y, x = height - size - 4, width - size - 4
    corner = out[y : y + size, x : x + size].astype(np.float32)
    alpha = coverage[..., None]
    out[y : y + size, x : x + size] = np.rint(wheel * alpha + corner * (1 - alpha))
    centre = (x + size // 2, y + size // 2)
    cv2.circle(out, centre, size // 2 + 1, (200, 200, 200), 1, cv2.LINE_AA)
    return out
