"""
Morphological gradients with different footprints
=================================================

:func:`imgrad.morph_gradient` computes the basic (dilation - erosion),
internal (image - erosion) and external (dilation - image) gradients with
any structuring element: the named footprints of
:func:`imgrad.footprint` or any 2-D 0/1 array. The result keeps the input's
dtype.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import imgrad

SAMPLES = Path("../samples")  # examples run from examples/
coins = imgrad.read(SAMPLES / "coins.png")
print(coins.shape, coins.dtype)

# %%
# Three kinds
# -----------
# The internal gradient lies just inside bright objects, the external one just
# outside; the basic gradient is their sum, twice as thick.

fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), layout="constrained")
axes[0].imshow(coins, cmap="gray")
axes[0].set_title("coins.png")
for ax, kind in zip(axes[1:], ("basic", "internal", "external"), strict=True):
    edges = imgrad.morph_gradient(coins, kind, footprint="ellipse", size=5)
    ax.imshow(edges, cmap="magma")
    ax.set_title(f'kind="{kind}" ({edges.dtype})')
for ax in axes:
    ax.set_axis_off()

# %%
# Footprints
# ----------
# The footprint's shape shows in the edges: a square thickens them most along
# the diagonals, a diamond least; an ellipse is close to isotropic. Any 0/1
# array works, here a horizontal line that only sees vertical edges.

line = np.ones((1, 9), np.uint8)
footprints = [
    ("rect", imgrad.footprint("rect", 9)),
    ("ellipse", imgrad.footprint("ellipse", 9)),
    ("diamond", imgrad.footprint("diamond", 9)),
    ("cross", imgrad.footprint("cross", 9)),
    ("1 x 9 array", line),
]
crop = coins[20:140, 40:200]
fig, axes = plt.subplots(2, 5, figsize=(14, 5.2), height_ratios=[1, 3], layout="constrained")
for (top, bottom), (name, element) in zip(axes.T, footprints, strict=True):
    top.imshow(np.pad(element, 1), cmap="gray_r", vmin=0, vmax=1)
    top.set_title(name)
    bottom.imshow(imgrad.morph_gradient(crop, footprint=element), cmap="magma")
for ax in axes.ravel():
    ax.set_axis_off()

plt.show()
