"""Pictures: direction colour maps, diverging maps, colour wheels and preview montages.

References are independent of the code under test: colours from Python's
``colorsys`` (HSV), directions from ``np.arctan2`` on known ramps, gradients
from ``cv2.Sobel`` and ``cv2.morphologyEx``.
"""

from __future__ import annotations

import colorsys
import hashlib
import inspect
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

import imgrad
from imgrad import visualize
from imgrad.visualize import (
    BACKGROUND,
    GAP,
    MARGIN,
    TITLE_HEIGHT,
    colorize,
    colour_wheel,
    diverging,
    preview,
)

# --- helpers --------------------------------------------------------------------------


def hsv_reference(hue_degrees: float, value: float = 1.0) -> np.ndarray:
    """Expected RGB (floats 0..255) of a fully saturated hue, from colorsys."""
    return np.array(colorsys.hsv_to_rgb((hue_degrees % 360) / 360, 1.0, value)) * 255


def hue_of(rgb) -> float:
    """Hue in degrees of one uint8 RGB pixel, from colorsys."""
    r, g, b = (float(c) / 255 for c in rgb)
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


def angle_difference(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def ramp(angle_degrees: float, size: int = 21) -> np.ndarray:
    """I = x cos(a) + y sin(a) with y pointing down: the gradient points at angle a on screen."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    a = math.radians(angle_degrees)
    return x * math.cos(a) + y * math.sin(a)


DIRECTIONS = [0, 45, 90, 135, 180, 225, 270, 315]


def disk(size: int = 96, radius: float = 30.0, inside: float = 200.0, outside: float = 20.0):
    """A bright disk, blurred (9x9 Gaussian) so its edge directions are smooth; flat elsewhere."""
    y, x = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    hard = np.where(np.hypot(x - c, y - c) <= radius, inside, outside).astype(np.float64)
    return cv2.GaussianBlur(hard, (9, 9), 1.5), c


def layout(montage: np.ndarray, panel_h: int, panel_w: int) -> tuple[int, int]:
    """(rows, columns) implied by the documented montage geometry; asserts it is exact."""
    height, width = montage.shape[:2]
    columns, rest_w = divmod(width - 2 * MARGIN + GAP, panel_w + GAP)
    rows, rest_h = divmod(height - 2 * MARGIN + GAP, TITLE_HEIGHT + panel_h + GAP)
    assert rest_w == 0 and rest_h == 0, (montage.shape, panel_h, panel_w)
    return rows, columns


def cell(montage, index, columns, panel_h, panel_w):
    """(title band, panel) of cell `index`, row by row."""
    row, column = divmod(index, columns)
    y = MARGIN + row * (TITLE_HEIGHT + panel_h + GAP)
    x = MARGIN + column * (panel_w + GAP)
    band = montage[y : y + TITLE_HEIGHT, x : x + panel_w]
    panel = montage[y + TITLE_HEIGHT : y + TITLE_HEIGHT + panel_h, x : x + panel_w]
    return band, panel


def is_background(pixels: np.ndarray) -> np.ndarray:
    return np.all(pixels == np.array(BACKGROUND, np.uint8), axis=-1)


# --- colorize: content ----------------------------------------------------------------


def test_flat_is_black_and_edges_are_bright_with_the_right_hue():
    image, c = disk()
    g = imgrad.sobel(image)
    rgb = colorize(g)
    assert rgb.shape == (96, 96, 3) and rgb.dtype == np.uint8
    y, x = np.mgrid[0:96, 0:96]
    r = np.hypot(x - c, y - c)
    flat = np.abs(r - 30) > 9  # the blur and Sobel reach 4 + 1 pixels (diagonally sqrt 2 more)
    assert np.all(rgb[flat] == 0)
    # On the rim the gradient points into the brighter disk: towards the centre.
    rim = (np.abs(r - 30) < 1.0) & (cv2.magnitude(g.gx, g.gy) > 0)
    assert rim.sum() > 100
    assert np.median(rgb[rim].max(axis=1)) >= 200
    screen_angle = np.degrees(np.arctan2(y - c, x - c))  # from the centre, y down
    errors = [
        angle_difference(hue_of(rgb[j, i]), screen_angle[j, i] + 180)
        for j, i in zip(*np.nonzero(rim & (rgb.max(axis=2) > 100)), strict=True)
    ]
    assert np.percentile(errors, 95) < 6


@pytest.mark.parametrize("angle", DIRECTIONS)
def test_ramp_hue_is_its_direction_and_opposite_is_opposite(angle):
    g = imgrad.sobel(ramp(angle))
    centre = colorize(g, max=8.0)[10, 10]  # a ramp of slope 1 gives |g| = 8 with Sobel 3x3
    np.testing.assert_allclose(centre, hsv_reference(angle), atol=1.0)
    opposite = colorize(imgrad.sobel(ramp(angle + 180)), max=8.0)[10, 10]
    assert angle_difference(hue_of(centre), hue_of(opposite)) == pytest.approx(180, abs=1)


@pytest.mark.parametrize("angle", DIRECTIONS)
@pytest.mark.parametrize("degrees", [False, True])
@pytest.mark.parametrize("wrap", ["full", "signed"])
def test_hue_matches_direction_in_both_conventions(angle, degrees, wrap):
    g = imgrad.sobel(ramp(angle))
    gx, gy = g.gx.astype(np.float64), g.gy.astype(np.float64)
    magnitude = np.hypot(gx, gy)
    expected = hsv_reference(angle)
    for convention, y in (("image", gy), ("math", -gy)):  # MATLAB: atan2(-gy, gx)
        phase = np.arctan2(y, gx)  # (-pi, pi]
        if wrap == "full":
            phase = np.mod(phase, 2 * np.pi)
        if degrees:
            phase = np.degrees(phase)
        rgb = colorize(
            magnitude, phase, max=8.0, degrees=degrees, wrap=wrap, convention=convention
        )
        np.testing.assert_allclose(rgb[10, 10], expected, atol=1.0)


def test_screen_up_is_violet_in_both_conventions():
    gx, gy = np.zeros((1, 1)), -np.ones((1, 1))  # intensity grows upwards
    for convention in ("image", "math"):
        phase = imgrad.phase(gx, gy, degrees=True, convention=convention, precise=True)
        assert float(phase[0, 0]) == (270.0 if convention == "image" else 90.0)
        rgb = colorize(np.ones((1, 1)), phase, max=1.0, degrees=True, convention=convention)
        np.testing.assert_allclose(rgb[0, 0], hsv_reference(270), atol=1.0)


@pytest.mark.parametrize("angle", DIRECTIONS)
def test_half_wrap_hue_is_twice_the_orientation(angle):
    g = imgrad.sobel(ramp(angle))
    gx, gy = g.gx.astype(np.float64), g.gy.astype(np.float64)
    orientation = np.mod(np.arctan2(gy, gx), np.pi)  # [0, pi)
    rgb = colorize(np.hypot(gx, gy), orientation, max=8.0, wrap="half")
    np.testing.assert_allclose(rgb[10, 10], hsv_reference(2 * angle), atol=1.0)
    # The opposite direction has the same orientation, hence the same colour.
    g2 = imgrad.sobel(ramp(angle + 180))
    half = colorize(g2, max=8.0, wrap="half", degrees=True)
    np.testing.assert_allclose(half[10, 10], rgb[10, 10], atol=1.0)


def test_any_phase_options_give_the_same_picture(astronaut):
    g = imgrad.sobel(astronaut[100:180, 200:300], channels="max")
    reference = colorize(g)
    for convention in ("image", "math"):
        for wrap in ("full", "signed"):
            for degrees in (False, True):
                m, p = imgrad.polar(
                    g.gx, g.gy, degrees=degrees, wrap=wrap, convention=convention, precise=True
                )
                rgb = colorize(m, p, degrees=degrees, wrap=wrap, convention=convention)
                assert np.abs(rgb.astype(int) - reference).max() <= 1


def test_gradient_and_polar_inputs():
    g = imgrad.sobel(ramp(30.0))
    pol = imgrad.polar(g.gx, g.gy, precise=True)
    np.testing.assert_array_equal(colorize(g), colorize(pol))
    np.testing.assert_array_equal(colorize(pol), colorize(pol.magnitude, pol.phase))


def test_brightness_follows_max_and_percentile():
    magnitude = np.linspace(0.0, 10.0, 101).reshape(1, -1)
    phase = np.zeros_like(magnitude)  # pointing right: pure red
    rgb = colorize(magnitude, phase, max=5.0)
    expected = np.rint(np.clip(magnitude[0] / 5.0, 0, 1) * 255)
    np.testing.assert_allclose(rgb[0, :, 0], expected, atol=1)
    assert np.all(rgb[0, :, 1:] == 0)
    top = np.percentile(magnitude, 90)
    rgb = colorize(magnitude, phase, percentile=90)
    np.testing.assert_allclose(
        rgb[0, :, 0], np.rint(np.clip(magnitude[0] / top, 0, 1) * 255), atol=1
    )
    assert visualize.magnitude_scale(magnitude, percentile=90) == pytest.approx(top)


def test_sparse_edges_use_the_maximum_and_flat_image_is_black():
    magnitude = np.zeros((50, 50), np.float32)
    magnitude[25, 25] = 4.0  # one edge pixel: the 99th percentile is 0
    rgb = colorize(magnitude, np.zeros_like(magnitude))
    assert rgb[25, 25].tolist() == [255, 0, 0]
    assert rgb.sum() == 255
    flat = colorize(imgrad.sobel(np.full((20, 20), 7, np.uint8)))
    assert np.all(flat == 0)


def test_nan_and_negative_magnitudes_are_black():
    magnitude = np.array([[np.nan, -1.0, 1.0]])
    phase = np.array([[0.0, 0.0, np.nan]])
    rgb = colorize(magnitude, phase, max=1.0)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 1].tolist() == [0, 0, 0]
    assert rgb[0, 2].tolist() == [255, 0, 0]


def test_multichannel_uses_the_strongest_channel(astronaut):
    crop = astronaut[60:149, 200:303]
    g = imgrad.sobel(crop)
    m, p = imgrad.polar(g.gx, g.gy, precise=True)
    # Independent selection: the channel with the largest gx² + gy² (float64).
    energy = g.gx.astype(np.float64) ** 2 + g.gy.astype(np.float64) ** 2
    index = energy.argmax(axis=2)[..., None]
    m1 = np.take_along_axis(m, index, axis=2)[..., 0]
    p1 = np.take_along_axis(p, index, axis=2)[..., 0]
    np.testing.assert_array_equal(colorize(m, p), colorize(m1, p1))
    # Same picture as reducing the channels in the derivative step.
    strongest = colorize(imgrad.sobel(crop, channels="max"))
    assert np.mean(colorize(g) == strongest) > 0.999
    assert colorize(m[..., :1], p[..., :1]).shape == (*crop.shape[:2], 3)


def test_colorize_writes_into_out():
    g = imgrad.sobel(ramp(45.0))
    out = np.full((21, 21, 3), 7, np.uint8)
    result = colorize(g, max=8.0, out=out)
    assert result is out
    np.testing.assert_allclose(out[10, 10], hsv_reference(45), atol=1.0)
    with pytest.raises(ValueError, match=r"'out' parameter of colorize .* uint8"):
        colorize(g, out=np.zeros((21, 21, 3), np.float32))
    with pytest.raises(ValueError, match=r"'out' parameter of colorize .* shape"):
        colorize(g, out=np.zeros((21, 21), np.uint8))


def test_colorize_is_deterministic_and_leaves_inputs_alone(camera):
    g = imgrad.sobel(camera[:128, :128])
    m, p = imgrad.polar(g.gx, g.gy)
    copies = [a.copy() for a in (g.gx, g.gy, m, p)]
    first = colorize(m, p).tobytes()
    assert colorize(m, p).tobytes() == first
    colorize(g)
    for before, after in zip(copies, (g.gx, g.gy, m, p), strict=True):
        np.testing.assert_array_equal(before, after)


def test_colorize_in_bands_of_rows_is_pixel_by_pixel(camera):
    """Large images are coloured in bands of rows: each row alone gives the same bytes."""
    m, p = imgrad.polar(*imgrad.sobel(camera))
    assert camera.shape[0] * camera.shape[1] > 2 * visualize._BAND_PIXELS  # several bands
    top = visualize.magnitude_scale(m)
    rows = np.concatenate([colorize(m[i : i + 1], p[i : i + 1], max=top) for i in range(len(m))])
    np.testing.assert_array_equal(colorize(m, p), rows)


def _values(kind: str, dtype: str, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        values = rng.random(size) * 1000
    elif kind == "ties":  # few distinct values: ranks inside long runs of ties
        values = rng.integers(0, 5, size)
    elif kind == "mostly zero":  # a flat image: the low percentiles are all 0
        values = np.where(rng.random(size) < 0.995, 0, rng.random(size) * 50)
    elif kind == "heavy tail":
        values = rng.pareto(1.5, size)
    else:  # "strided": every k-th value, which a strided sample sees, is an outlier
        values = rng.random(size)
        values[:: max(1, size // visualize._SAMPLE)] = 1e6
    if np.dtype(dtype).kind == "u":
        values = np.clip(values, 0, np.iinfo(dtype).max)
    return values.astype(dtype)


@pytest.mark.parametrize("kind", ["uniform", "ties", "mostly zero", "heavy tail", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "uint16"])
def test_percentile_of_is_numpys_percentile_bit_for_bit(kind, dtype):
    for seed, size in enumerate((visualize._BRACKETED, 1_000_003, 100)):
        values = _values(kind, dtype, size, seed)
        for q in (0.001, 1, 25, 50, 99, 99.9, 99.999, 100):
            expected = np.percentile(values, q)
            got = visualize.percentile_of(values, q)
            assert got == expected, (kind, dtype, size, q)
            assert np.float64(got).tobytes() == np.float64(expected).tobytes()


# --- colorize: errors -----------------------------------------------------------------

M = np.ones((4, 4), np.float32)
P = np.zeros((4, 4), np.float32)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((M, P), {"max": 0.0}, ValueError, ["'max'", "> 0", "0.0"]),
        ((M, P), {"max": -2}, ValueError, ["'max'", "-2"]),
        ((M, P), {"max": float("nan")}, ValueError, ["'max'", "nan"]),
        ((M, P), {"max": "1"}, TypeError, ["'max'", "'1'"]),
        ((M, P), {"percentile": 0}, ValueError, ["'percentile'", "<= 100", "0"]),
        ((M, P), {"percentile": 100.5}, ValueError, ["'percentile'", "<= 100", "100.5"]),
        ((M, P), {"percentile": True}, TypeError, ["'percentile'", "True"]),
        ((M, P), {"degrees": "yes"}, TypeError, ["'degrees'", "True or False", "'yes'"]),
        ((M, P), {"wrap": "circle"}, ValueError, ["'wrap'", "'full'", "'half'", "'circle'"]),
        ((M, P), {"convention": "screen"}, ValueError, ["'convention'", "'math'", "'screen'"]),
        ((M,), {}, TypeError, ["'phase'", "Gradient", "None"]),
        ((M, P[:2]), {}, ValueError, ["'magnitude'", "'phase'", "same shape", "(2, 4)"]),
        (([[1.0]], P), {}, TypeError, ["'magnitude'", "Gradient", "Polar", "[[1.0]]"]),
        ((M, [[0.0]]), {}, TypeError, ["'phase'", "NumPy array"]),
        ((imgrad.Gradient(M, M), P), {}, TypeError, ["'phase'", "None", "Gradient"]),
        ((M, P + 90.0), {}, ValueError, ["'phase'", "degrees=True", "90"]),
        ((M, P + 3.5), {"wrap": "half"}, ValueError, ["'phase'", "wrap='half'", "3.5"]),
        ((M, P - 100.0), {"degrees": True, "wrap": "half"}, ValueError, ["'phase'", "-100"]),
        ((np.ones((4, 4), np.int32), P), {}, TypeError, ["'magnitude'", "dtype", "int32"]),
    ],
)
def test_colorize_errors(args, kwargs, error, words):
    with pytest.raises(error) as info:
        colorize(*args, **kwargs)
    message = str(info.value)
    assert "colorize" in message
    for word in words:
        assert word in message


def test_params_describe_the_function_for_a_pipeline_step():
    signature = inspect.signature(colorize)
    names = [p.name for p in visualize.COLORIZE_PARAMS]
    assert names == ["max", "percentile", "degrees", "wrap", "convention"]
    for name in names:
        assert signature.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert visualize.MAX.parse("none") is None
    assert visualize.MAX.parse("2.5") == 2.5
    assert visualize.PERCENTILE.parse("99.5") == 99.5
    with pytest.raises(ValueError, match="'percentile' parameter of step 'colorize'"):
        visualize.PERCENTILE.parse("101", "step 'colorize'")
    with pytest.raises(ValueError, match="'max'"):
        visualize.MAX.parse("0")


# --- colour wheel -----------------------------------------------------------------------


def test_colour_wheel_hues_centre_and_background():
    size = 101
    wheel = colour_wheel(size)
    assert wheel.shape == (size, size, 3) and wheel.dtype == np.uint8
    c = (size - 1) / 2
    assert wheel[50, 50].tolist() == [0, 0, 0]  # zero magnitude at the centre
    assert wheel[0, 0].tolist() == [255, 255, 255]  # default background outside
    for angle in range(0, 360, 15):
        a = math.radians(angle)  # on screen, y down
        x, y = round(c + 0.9 * c * math.cos(a)), round(c + 0.9 * c * math.sin(a))
        true_angle = math.degrees(math.atan2(y - c, x - c))
        assert angle_difference(hue_of(wheel[y, x]), true_angle) < 2
        assert max(wheel[y, x]) > 200  # bright near the rim
    on_black = colour_wheel(size, background=(0, 0, 0))
    assert on_black[0, 0].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(on_black[40:60, 40:60], wheel[40:60, 40:60])


def test_half_wheel_gives_opposite_directions_one_colour():
    wheel = colour_wheel(81, wrap="half")
    for dx, dy in ((35, 0), (30, 18), (18, 30), (-6, 34)):  # centre (40, 40)
        np.testing.assert_array_equal(wheel[40 + dy, 40 + dx], wheel[40 - dy, 40 - dx])
    right, down = wheel[40, 75], wheel[75, 40]
    assert angle_difference(hue_of(right), hue_of(down)) == pytest.approx(180, abs=3)
    np.testing.assert_array_equal(colour_wheel(33, wrap="signed"), colour_wheel(33))


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"size": 2}, ValueError, ["'size'", ">= 4", "2"]),
        ({"size": 10.0}, TypeError, ["'size'", "10.0"]),
        ({"size": 10, "wrap": "x"}, ValueError, ["'wrap'"]),
        ({"size": 10, "background": (0, 0)}, TypeError, ["'background'", "(0, 0)"]),
        ({"size": 10, "background": (0, 0, 300)}, ValueError, ["'background'", "300"]),
    ],
)
def test_colour_wheel_errors(kwargs, error, words):
    with pytest.raises(error) as info:
        colour_wheel(**kwargs)
    assert all(w in str(info.value) for w in ["colour_wheel", *words])


# --- diverging ---------------------------------------------------------------------------


def test_diverging_is_centred_and_signed():
    values = np.linspace(-4.0, 4.0, 81).reshape(1, -1)
    rgb = diverging(values, max=4.0).astype(int)[0]
    zero = rgb[40]
    assert zero.min() >= 240 and np.ptp(zero) == 0  # neutral near-white at exactly 0
    red_minus_blue = rgb[:, 0] - rgb[:, 2]
    assert np.all(red_minus_blue[41:] > 0) and np.all(red_minus_blue[:40] < 0)
    assert np.all(np.diff(red_minus_blue[40:60]) >= 0)  # redder as it grows
    lightness = rgb.sum(axis=1)
    assert np.all(np.diff(lightness[40:]) <= 0) and np.all(np.diff(lightness[:41]) >= 0)
    # Saturated ends: the darkest blue and red of ColorBrewer RdBu.
    assert rgb[0].tolist() == [0x05, 0x30, 0x61] and rgb[-1].tolist() == [0x67, 0x00, 0x1F]


def test_diverging_scale_and_channels():
    values = np.array([[-8.0, -1.0, 0.0, 1.0, 8.0]])
    np.testing.assert_array_equal(diverging(values, max=1.0)[0, 0], diverging(values)[0, 0])
    clipped = diverging(values, max=1.0)[0]
    np.testing.assert_array_equal(clipped[0], clipped[1])
    stack = np.stack([values, -2 * values], axis=-1)  # channel 1 is larger everywhere
    np.testing.assert_array_equal(diverging(stack, max=16.0), diverging(-2 * values, max=16.0))
    flat = diverging(np.zeros((3, 3)))
    assert np.all(flat == flat[0, 0]) and flat[0, 0].min() >= 240
    with pytest.raises(ValueError, match="'max' parameter of diverging"):
        diverging(values, max=-1.0)
    with pytest.raises(TypeError, match="'values' parameter of diverging"):
        diverging([[1.0]])


def test_magnitude_scale_errors():
    with pytest.raises(ValueError, match=r"'percentile' parameter of magnitude_scale .* Got 0"):
        visualize.magnitude_scale(M, percentile=0)
    with pytest.raises(TypeError, match="'magnitude' parameter of magnitude_scale"):
        visualize.magnitude_scale(None)
    assert visualize.magnitude_scale(M, max=3.0) == 3.0


# --- preview -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene():
    """64x96 uint8: a bright square on a dark background, flat bottom-right corner."""
    image = np.full((64, 96), 30, np.uint8)
    image[12:40, 20:60] = 220
    return image


def test_default_preview_panels_and_content(scene):
    montage = preview(scene)
    h, w = scene.shape
    rows, columns = layout(montage, h, w)
    assert rows * columns >= 8 > (rows - 1) * columns
    cells = [cell(montage, i, columns, h, w) for i in range(rows * columns)]
    # Title bands hold text (bright pixels); unused cells are blank background.
    for band, _ in cells[:8]:
        assert (~is_background(band)).sum() > 20 and band.max() > 200
    for band, panel in cells[8:]:
        assert is_background(band).all() and is_background(panel).all()
    assert len({band.tobytes() for band, _ in cells[:8]}) == 8  # eight different titles
    panels = [panel for _, panel in cells[:8]]
    original, gx, gy, magnitude, direction, basic, internal, external = panels
    np.testing.assert_array_equal(original, np.repeat(scene[..., None], 3, axis=2))

    ref_gx = cv2.Sobel(scene, cv2.CV_64F, 1, 0)
    ref_gy = cv2.Sobel(scene, cv2.CV_64F, 0, 1)
    ref_mag = np.hypot(ref_gx, ref_gy)
    flat, strong = ref_mag == 0, ref_mag > 0.5 * ref_mag.max()
    for shown, ref in ((gx, ref_gx), (gy, ref_gy)):
        shown = shown.astype(int)
        assert np.all(shown[ref == 0].min(axis=1) >= 240)  # near-white at zero
        pos, neg = ref > 0.5 * ref.max(), ref < 0.5 * ref.min()
        assert pos.any() and neg.any()
        assert np.all(shown[pos][:, 0] > shown[pos][:, 2] + 50)  # red
        assert np.all(shown[neg][:, 2] > shown[neg][:, 0] + 50)  # blue
    assert np.all(magnitude[flat] == 0) and np.all(magnitude[strong] >= 150)
    legend = np.zeros((h, w), bool)
    legend[h // 2 :, w // 2 :] = True
    assert np.all(direction[flat & ~legend] == 0)
    for j, i in zip(*np.nonzero(strong & ~legend), strict=True):
        expected = math.degrees(math.atan2(ref_gy[j, i], ref_gx[j, i]))
        assert angle_difference(hue_of(direction[j, i]), expected) < 3
    ref_basic = cv2.morphologyEx(scene, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    assert np.all(basic[ref_basic == 0] == 0) and np.all(basic[ref_basic > 100] >= 200)
    inner = scene > 100
    assert np.all(internal[~inner] == 0) and np.all(external[inner] == 0)
    assert internal[inner & (ref_basic > 0)].min() >= 200
    assert external[~inner & (ref_basic > 0)].min() >= 200


def test_preview_has_a_colour_wheel_legend_on_the_direction_map(scene):
    montage = preview(scene)
    h, w = scene.shape
    _, columns = layout(montage, h, w)
    _, direction = cell(montage, 4, columns, h, w)
    corner = direction[h // 2 :, w // 2 :]  # flat in the image: black without a legend
    hues = [hue_of(p) for p in corner.reshape(-1, 3) if p.max() > 120 and np.ptp(p) > 100]
    assert len(hues) > 50
    assert len({int(hh // 60) for hh in hues}) == 6  # every sector of the hue circle


def test_preview_with_a_pipeline_shows_its_planes(astronaut):
    crop = astronaut[100:164, 180:260]
    h, w = crop.shape[:2]
    for pipeline, count in (
        ("sobel | polar", 5),  # original, gx, gy, magnitude, direction
        (imgrad.Pipeline.parse("gray | sobel"), 4),  # original, image (gray), gx, gy
        ("sobel | polar -> magnitude", 2),  # an outputs clause: only those planes
        ("sobel | phase degrees=true wrap=half", 4),
    ):
        montage = preview(crop, pipeline)
        rows, columns = layout(montage, h, w)
        assert rows * columns >= count > (rows - 1) * columns, pipeline
        bands = [cell(montage, i, columns, h, w)[0] for i in range(rows * columns)]
        assert all((~is_background(b)).any() for b in bands[:count])
        assert all(is_background(b).all() for b in bands[count:])
        original = cell(montage, 0, columns, h, w)[1]
        np.testing.assert_array_equal(original, crop)
    gray = cell(preview(crop, "gray | sobel"), 1, 2, h, w)[1]
    np.testing.assert_array_equal(gray[..., 0], cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))


def test_phase_without_magnitude_is_shown_at_full_brightness():
    image = ramp(90.0, 40) * 3
    montage = preview(image, "sobel | phase")
    rows, columns = layout(montage, 40, 40)
    assert rows * columns >= 4
    direction = cell(montage, 3, columns, 40, 40)[1]
    np.testing.assert_allclose(direction[5, 5], hsv_reference(90), atol=1)


def test_preview_downscales_past_max_side():
    image = np.zeros((60, 300), np.uint8)
    image[:, 150:] = 255
    montage = preview(image, "sobel", max_side=100)
    _, columns = layout(montage, 20, 100)
    np.testing.assert_array_equal(
        cell(montage, 0, columns, 20, 100)[1][..., 0],
        cv2.resize(image, (100, 20), interpolation=cv2.INTER_AREA),
    )
    layout(preview(image, "sobel", max_side=None), 60, 300)
    layout(preview(image, "sobel", max_side=300), 60, 300)


def test_preview_of_other_dtypes_and_rgba(astronaut):
    crop = astronaut[100:150, 200:260]
    wide = crop.astype(np.uint16) * 257
    montage = preview(wide)
    original = cell(montage, 0, layout(montage, 50, 60)[1], 50, 60)[1]
    np.testing.assert_array_equal(original, crop)  # uint16 shown divided by 257
    floats = crop.astype(np.float32) / 255 + 0.25
    montage = preview(floats)
    original = cell(montage, 0, layout(montage, 50, 60)[1], 50, 60)[1]
    low, high = float(floats.min()), float(floats.max())
    stretched = np.rint((floats.astype(np.float64) - low) / (high - low) * 255)
    assert np.abs(original - stretched).max() <= 1  # floats stretched min..max
    rgba = np.concatenate([crop, np.full((*crop.shape[:2], 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(preview(rgba), preview(crop))  # alpha dropped
    ct = (crop[..., 0].astype(np.int32) * 8 - 1024).astype(np.int16)  # a CT slice
    montage = preview(ct)
    original = cell(montage, 0, layout(montage, 50, 60)[1], 50, 60)[1]
    stretched = np.rint((ct - ct.min()) / (float(ct.max()) - ct.min()) * 255)
    assert np.abs(original[..., 0] - stretched).max() <= 1  # int16 stretched min..max


def test_preview_is_deterministic_and_leaves_input_alone(astronaut):
    image = astronaut[:120, :160].copy()
    before = image.copy()
    first = preview(image)
    assert preview(image).tobytes() == first.tobytes()
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((np.zeros((8, 8), np.uint8), 42), {}, TypeError, ["'pipeline'", "Pipeline", "42"]),
        ((np.zeros((8, 8), np.uint8),), {"max_side": 8}, ValueError, ["'max_side'", ">= 16"]),
        ((np.zeros((8, 8), np.uint8),), {"max_side": 64.0}, TypeError, ["'max_side'"]),
        (([[1, 2]],), {}, TypeError, ["'image'", "NumPy array"]),
    ],
)
def test_preview_errors(args, kwargs, error, words):
    with pytest.raises(error) as info:
        preview(*args, **kwargs)
    assert all(w in str(info.value) for w in ["preview", *words])


def test_preview_bytes_are_the_same_in_a_fresh_process(camera):
    image = np.ascontiguousarray(camera[200:280, 150:270])
    code = (
        "import sys, hashlib, numpy as np, imgrad.visualize as v; "
        "image = np.frombuffer(sys.stdin.buffer.read(), np.uint8).reshape(80, 120); "
        "print(hashlib.sha256(v.preview(image).tobytes()).hexdigest())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=image.tobytes(), capture_output=True, check=True
    )
    expected = hashlib.sha256(preview(image).tobytes()).hexdigest()
    assert result.stdout.decode().strip() == expected


def test_preview_bad_pipeline_text_is_a_pipeline_error():
    with pytest.raises(imgrad.PipelineError, match="sobol"):
        preview(np.zeros((8, 8), np.uint8), "sobol | polar")
