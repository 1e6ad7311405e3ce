"""
Sobel gradients and the direction colour map
=============================================

:func:`imgrad.sobel` returns the derivative along x (``gx``, columns, left to
right) and along y (``gy``, rows, top to bottom), as OpenCV does.
:func:`imgrad.colorize` turns them into one picture: the hue is the direction
of the gradient, the brightness its magnitude.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import imgrad
from imgrad import visualize

SAMPLES = Path("../samples")  # examples run from examples/
image = imgrad.read(SAMPLES / "coffee.png")
gray = imgrad.gray(image)
gx, gy = imgrad.sobel(gray)
print(image.shape, image.dtype, "->", gx.shape, gx.dtype)

# %%
# The derivatives are signed: a dark-to-bright edge going right gives a
# positive ``gx``. A diverging colour map centred on zero shows the sign.

limit = float(np.percentile(np.abs([gx, gy]), 99.5))  # a few strong edges saturate
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
axes[0].imshow(image)
axes[0].set_title("coffee.png")
for ax, plane, name in ((axes[1], gx, "gx"), (axes[2], gy, "gy")):
    shown = ax.imshow(plane, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"{name} = imgrad.sobel(gray).{name}")
fig.colorbar(shown, ax=axes[1:], shrink=0.8)
for ax in axes:
    ax.set_axis_off()

# %%
# The direction colour map
# ------------------------
# :func:`imgrad.colorize` accepts the :class:`~imgrad.Gradient` directly.
# Opposite directions get opposite hues, so both sides of the cup's rim show
# up in complementary colours; the wheel is the legend
# (:func:`imgrad.visualize.colour_wheel`).

colours = imgrad.colorize(imgrad.sobel(gray))
wheel = visualize.colour_wheel(160)
fig, (ax, legend) = plt.subplots(
    1, 2, figsize=(10, 4.2), width_ratios=[4, 1], layout="constrained"
)
ax.imshow(colours)
ax.set_title("imgrad.colorize(imgrad.sobel(gray))")
legend.imshow(wheel)
legend.set_title("direction")
for a in (ax, legend):
    a.set_axis_off()

# %%
# Larger kernels smooth more: ``ksize=7`` differentiates over a 7 x 7
# neighbourhood, and ``normalize=True`` divides the kernel by its gain so the
# values are per-pixel slopes whatever the size.

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
for ax, ksize in zip(axes, (3, 5, 7), strict=True):
    g = imgrad.sobel(gray, ksize=ksize, normalize=True)
    ax.imshow(imgrad.colorize(g))
    ax.set_title(f"ksize={ksize}, normalize=True")
    ax.set_axis_off()

plt.show()
