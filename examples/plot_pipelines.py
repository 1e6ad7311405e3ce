"""
A pipeline from text and from YAML
==================================

A :class:`imgrad.Pipeline` is written as text (what ``imgrad run -p`` takes),
as YAML (what ``imgrad run -c`` takes, and what every run records in its
output folder) or from the step classes of ``imgrad.ops``. The three
spellings below are the same pipeline, and give the same planes.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import imgrad
from imgrad import Pipeline, ops

SAMPLES = Path("../samples")  # examples run from examples/

text = Pipeline.parse("gray | gaussian sigma=1 | sobel ksize=3 | polar degrees=true")
objects = Pipeline(
    [ops.Gray(), ops.Gaussian(sigma=1.0), ops.Sobel(ksize=3), ops.Polar(degrees=True)]
)
from_file = Pipeline.from_yaml(SAMPLES / "edges.yaml")
assert text == objects == from_file
print(from_file)  # the canonical text: defaults left out
print(from_file.to_yaml())

# %%
# Running it returns a dict of named planes: the outputs of the last step,
# here magnitude and phase (in degrees, as the YAML file asks).

image = imgrad.read(SAMPLES / "astronaut.png")
planes = from_file(image)
for name, plane in planes.items():
    print(f"{name}: {plane.shape} {plane.dtype}, {plane.min():.1f} .. {plane.max():.1f}")
assert all(np.array_equal(planes[k], text(image)[k]) for k in planes)

fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), layout="constrained")
axes[0].imshow(image)
axes[0].set_title("astronaut.png")
top = float(np.percentile(planes["magnitude"], 99))
axes[1].imshow(planes["magnitude"], cmap="gray", vmax=top)
axes[1].set_title("magnitude")
axes[2].imshow(imgrad.colorize(planes["magnitude"], planes["phase"], degrees=True))
axes[2].set_title("colorize(magnitude, phase, degrees=True)")
for ax in axes:
    ax.set_axis_off()

# %%
# YAML in a string
# ----------------
# :meth:`Pipeline.from_yaml <imgrad.Pipeline.from_yaml>` takes a path or the
# YAML text itself. Planes can be renamed and read by name: here two Sobel
# steps at different scales, each with its own magnitude, and an outputs list
# choosing what a call returns.

two_scales = Pipeline.from_yaml(
    """
steps:
  - gray
  - sobel: {name: fine, normalize: true}
  - sobel: {ksize: 7, name: coarse, normalize: true}
  - magnitude: {input: fine}
  - magnitude: {input: coarse}
outputs: [fine_magnitude, coarse_magnitude]
"""
)
print(two_scales)
assert two_scales == Pipeline.parse(str(two_scales))

planes = two_scales(image)
fig, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
for ax, name in zip(axes, two_scales.outputs, strict=True):
    ax.imshow(planes[name], cmap="gray", vmax=float(np.percentile(planes[name], 99)))
    ax.set_title(name)
    ax.set_axis_off()

# %%
# :func:`imgrad.preview` shows every plane a pipeline writes, labelled, in one
# montage (what ``imgrad preview photo.jpg -o p.png -p "..."`` saves).

montage = imgrad.preview(image, text, max_side=256)
fig, ax = plt.subplots(figsize=(12, 4), layout="constrained")
ax.imshow(montage)
ax.set_axis_off()

plt.show()
