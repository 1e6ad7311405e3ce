"""
Magnitude norms and phase conventions
=====================================

:func:`imgrad.magnitude` offers three norms, and :func:`imgrad.phase` says
explicitly which way angles turn (``convention``), what range they take
(``wrap``) and in which unit (``degrees``). This example computes them on a
photograph and on a synthetic dark disc, whose gradient (towards brighter
values) points away from the centre everywhere: there the conventions are
easy to read.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import imgrad

SAMPLES = Path("../samples")  # examples run from examples/
gray = imgrad.gray(imgrad.read(SAMPLES / "camera.png"))
gx, gy = imgrad.sobel(gray, normalize=True)

# %%
# Three norms
# -----------
# ``"l2"`` is the Euclidean length, ``"l1"`` the sum of absolute values and
# ``"max"`` the largest of the two. They agree on horizontal and vertical
# edges and differ most on diagonal ones (l1 is √2 times l2 there).

fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), layout="constrained")
for ax, norm in zip(axes, ("l2", "l1", "max"), strict=True):
    plane = imgrad.magnitude(gx, gy, norm=norm)
    ax.imshow(plane, cmap="gray", vmin=0, vmax=float(np.percentile(plane, 99.5)))
    ax.set_title(f'norm="{norm}": max {plane.max():.0f}')
    ax.set_axis_off()

# %%
# Phase conventions
# -----------------
# On a dark disc in a bright field the gradient points away from the centre,
# so the phase at each pixel is the direction seen from the centre. ``convention="image"`` (OpenCV)
# measures it with y pointing down, so angles grow clockwise on screen;
# ``convention="math"`` (MATLAB's ``imgradient``) with y up, counter-clockwise.
# ``wrap`` chooses the range: ``"full"`` [0, 360), ``"signed"`` (-180, 180],
# ``"half"`` [0, 180) (orientation only).

y, x = np.mgrid[-64:65, -64:65]  # centre at pixel (64, 64)
disc = (np.hypot(x, y) >= 48).astype(np.float32)
disc = imgrad.gaussian(disc, sigma=4)
dx, dy = imgrad.sobel(disc)
mask = imgrad.magnitude(dx, dy) > 0.05 * imgrad.magnitude(dx, dy).max()

cases = [
    ("image", "full"),
    ("math", "full"),
    ("image", "signed"),
    ("image", "half"),
]
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), layout="constrained")
for ax, (convention, wrap) in zip(axes, cases, strict=True):
    angles = imgrad.phase(dx, dy, degrees=True, convention=convention, wrap=wrap)
    low, high = {"full": (0, 360), "signed": (-180, 180), "half": (0, 180)}[wrap]
    shown = ax.imshow(np.where(mask, angles, np.nan), cmap="twilight", vmin=low, vmax=high)
    ax.set_title(f'convention="{convention}"\nwrap="{wrap}"')
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, shrink=0.7, label="degrees")

# %%
# The right-hand point of the ring (gradient pointing right) is 0° in both
# conventions; the bottom point (gradient pointing down the screen) is 90° in
# the "image" convention and 270° in the "math" one.

angles_image = imgrad.phase(dx, dy, degrees=True)
angles_math = imgrad.phase(dx, dy, degrees=True, convention="math")
print("right:", round(float(angles_image[64, 112])), round(float(angles_math[64, 112])))
print("bottom:", round(float(angles_image[112, 64])), round(float(angles_math[112, 64])))

plt.show()
