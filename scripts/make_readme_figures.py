"""Regenerate the README pictures in docs/images/ from the sample photographs.

    python scripts/make_readme_figures.py [--out docs/images]

Writes:

- ``preview.png``: ``imgrad.visualize.preview`` of ``samples/chelsea.png``
  (the default panels, downscaled to 200 px on the long side to keep the file
  small);
- ``conventions.png``: which way the phase angles turn in the "image"
  convention (x right, y down, clockwise on screen, as OpenCV) and the "math"
  convention (y up, counter-clockwise, as MATLAB's ``imgradient``), on the
  colour wheel of ``imgrad.visualize.colorize``.

The output is deterministic: running the script again gives the same bytes.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np

import imgrad
from imgrad import visualize

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "chelsea.png"
PREVIEW_SIDE = 200

# Conventions figure, in output pixels; drawn SUPERSAMPLE times larger, then
# reduced with area averaging for smooth lines and text.
SUPERSAMPLE = 3
WIDTH, HEIGHT = 920, 470
RADIUS = 112
WHEEL_Y = 250
FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (245, 245, 245)
GREY = (170, 170, 170)
DARK = (20, 20, 20)
AXIS = (120, 190, 255)

CONVENTIONS = (
    {
        "name": 'convention="image"',
        "lines": ("x right, y down: angles turn clockwise", "phase = atan2(gy, gx), as cv2.phase"),
        "y_down": True,
    },
    {
        "name": 'convention="math"',
        "lines": (
            "x right, y up: angles turn counter-clockwise",
            "phase = atan2(-gy, gx), as MATLAB imgradient",
        ),
        "y_down": False,
    },
)
FOOTNOTES = (
    "Each point has the colorize colour of a gradient pointing from the centre to it "
    "(brightness = magnitude).",
    "The colours are the same in both: colorize reads either convention; "
    "only the angle values differ.",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "images",
        help="folder to write the PNG files to (default: docs/images)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {
        "preview.png": visualize.preview(imgrad.read(SAMPLE), max_side=PREVIEW_SIDE),
        "conventions.png": conventions_figure(),
    }
    for name, rgb in figures.items():
        path = args.out / name
        imgrad.write(path, rgb, compression=9)
        print(
            f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
            f"({rgb.shape[1]}x{rgb.shape[0]}, {path.stat().st_size // 1024} KiB)"
        )
    return 0


def conventions_figure() -> np.ndarray:
    """Two labelled colour wheels: the "image" and the "math" angle conventions."""
    s = SUPERSAMPLE
    canvas = np.empty((HEIGHT * s, WIDTH * s, 3), np.uint8)
    canvas[:] = visualize.BACKGROUND
    half = WIDTH // 2
    for index, convention in enumerate(CONVENTIONS):
        _draw_convention(canvas, index * half, half, convention)
    cv2.line(
        canvas, (half * s, 20 * s), (half * s, (HEIGHT - 62) * s), (70, 70, 70), s, cv2.LINE_AA
    )
    for row, line in enumerate(FOOTNOTES):
        _text(canvas, line, (WIDTH // 2, HEIGHT - 36 + 20 * row), 0.45, GREY, centre=True)
    return cv2.resize(canvas, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def _draw_convention(canvas: np.ndarray, left: int, width: int, convention: dict) -> None:
    s = SUPERSAMPLE
    middle = left + width // 2
    _text(canvas, convention["name"], (middle, 34), 0.8, WHITE, thickness=2, centre=True)
    for row, line in enumerate(convention["lines"]):
        _text(canvas, line, (middle, 62 + 22 * row), 0.5, GREY, centre=True)

    # The wheel: the colour of a gradient pointing from the centre to each point.
    size = 2 * RADIUS * s + 1
    wheel = visualize.colour_wheel(size, background=visualize.BACKGROUND)
    top, x0 = (WHEEL_Y - RADIUS) * s, middle * s - size // 2
    canvas[top : top + size, x0 : x0 + size] = wheel

    # Direction arrows with their angle in this convention.
    y_sign = 1 if convention["y_down"] else -1
    for angle in (0, 90, 180, 270):
        screen = math.radians(angle) * y_sign  # angle on screen, y down
        dx, dy = math.cos(screen), math.sin(screen)
        tip = (middle + 0.78 * RADIUS * dx, WHEEL_Y + 0.78 * RADIUS * dy)
        _arrow(canvas, (middle, WHEEL_Y), tip, WHITE, 2)
        label = (middle + (RADIUS + 26) * dx, WHEEL_Y + (RADIUS + 18) * dy + 6)
        _text(canvas, f"{angle}°", label, 0.6, WHITE, thickness=1, centre=True)

    # The turn from 0 to 90 degrees, as an arc with an arrowhead.
    start, end = 14 * y_sign, 76 * y_sign
    _arc_arrow(canvas, (middle, WHEEL_Y), 0.5 * RADIUS, start, end)

    # Axes icon: where x and y point.
    origin = (left + 44, 150 if convention["y_down"] else 206)
    _arrow(canvas, origin, (origin[0] + 50, origin[1]), AXIS, 2, outline=False)
    _arrow(canvas, origin, (origin[0], origin[1] + 50 * y_sign), AXIS, 2, outline=False)
    _text(canvas, "x", (origin[0] + 58, origin[1] + 5), 0.55, AXIS)
    _text(
        canvas,
        "y",
        (origin[0] - 4, origin[1] + 68 * y_sign + (0 if y_sign > 0 else 10)),
        0.55,
        AXIS,
    )


def _px(point: tuple[float, float]) -> tuple[int, int]:
    return round(point[0] * SUPERSAMPLE), round(point[1] * SUPERSAMPLE)


def _arrow(canvas, start, end, colour, thickness, *, outline: bool = True) -> None:
    s = SUPERSAMPLE
    length = math.dist(start, end)
    tip = min(0.35, 12 / length)
    if outline:  # a dark edge keeps the arrow visible on bright hues
        cv2.arrowedLine(
            canvas, _px(start), _px(end), DARK, (thickness + 2) * s, cv2.LINE_AA, tipLength=tip
        )
    cv2.arrowedLine(
        canvas, _px(start), _px(end), colour, thickness * s, cv2.LINE_AA, tipLength=tip
    )


def _arc_arrow(canvas, centre, radius, start, end) -> None:
    """Arc from `start` to `end` degrees (screen angles, y down) with a head at `end`."""
    s = SUPERSAMPLE
    axes = (round(radius * s), round(radius * s))
    for colour, thickness in ((DARK, 4), (WHITE, 2)):
        cv2.ellipse(canvas, _px(centre), axes, 0, start, end, colour, thickness * s, cv2.LINE_AA)
    t = math.radians(end)
    direction = 1 if end > start else -1
    tangent = (-math.sin(t) * direction, math.cos(t) * direction)
    normal = (math.cos(t), math.sin(t))
    tip = (
        centre[0] + radius * normal[0] + 7 * tangent[0],
        centre[1] + radius * normal[1] + 7 * tangent[1],
    )
    base = (tip[0] - 13 * tangent[0], tip[1] - 13 * tangent[1])
    head = [
        tip,
        (base[0] + 6 * normal[0], base[1] + 6 * normal[1]),
        (base[0] - 6 * normal[0], base[1] - 6 * normal[1]),
    ]
    points = np.array([_px(p) for p in head], np.int32)
    cv2.polylines(canvas, [points], True, DARK, 2 * s, cv2.LINE_AA)
    cv2.fillPoly(canvas, [points], WHITE, cv2.LINE_AA)


def _text(
    canvas, text, origin, scale, colour, *, thickness: int = 1, centre: bool = False
) -> None:
    """Hershey text at `origin` (baseline, or baseline centre); '°' drawn as a small ring."""
    s = SUPERSAMPLE
    plain = text.replace("°", "")
    width = cv2.getTextSize(plain, FONT, scale * s, thickness * s)[0][0] / s
    x, y = origin
    if centre:
        x -= width / 2 + (4 * scale if "°" in text else 0)
    cv2.putText(canvas, plain, _px((x, y)), FONT, scale * s, colour, thickness * s, cv2.LINE_AA)
    if "°" in text:  # Hershey fonts have no degree sign
        height = cv2.getTextSize("0", FONT, scale, thickness)[0][1]
        ring = (x + width + 5 * scale, y - height + 3 * scale)
        cv2.circle(canvas, _px(ring), round(3.2 * scale * s), colour, round(1.2 * s), cv2.LINE_AA)


if __name__ == "__main__":
    raise SystemExit(main())
