"""
A batch run over a folder
=========================

:func:`imgrad.batch.run` is what ``imgrad run`` does, from Python: it walks
the inputs, runs the pipeline on every image on threads, writes the planes
into a mirrored output tree and records each input in a manifest, so a second
run skips what is done.
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import imgrad
from imgrad import batch

SAMPLES = Path("../samples")  # examples run from examples/
out = Path(tempfile.mkdtemp()) / "grads"

pipeline = "gray | sobel | polar | morph kind=internal name=internal"
report = batch.run([SAMPLES], out, pipeline, outputs="magnitude,internal", workers=2)
print(f"{report.ok} ok, {report.skipped} skipped, {report.failed} failed")
print(sorted(p.name for p in out.iterdir())[:6])

# %%
# Running it again resumes: every input whose outputs exist with the same
# pipeline is skipped.

again = batch.run([SAMPLES], out, pipeline, outputs="magnitude,internal", workers=2)
print(f"{again.ok} ok, {again.skipped} skipped")
assert again.skipped == report.ok

# %%
# The manifest has one JSON line per input and run; ``imgrad-pipeline.yaml``
# records how the outputs were made and is itself a pipeline file.

lines = (out / "imgrad-manifest.jsonl").read_text().splitlines()
print(json.dumps(json.loads(lines[0]), indent=1))
print((out / "imgrad-pipeline.yaml").read_text())

# %%
# The outputs are ordinary 8-bit PNGs (float planes scaled per image with
# ``scale="minmax"``).

names = sorted(p.stem.split(".")[0] for p in out.glob("*.magnitude.png"))
fig, axes = plt.subplots(2, len(names), figsize=(2.4 * len(names), 5), layout="constrained")
for column, name in enumerate(names):
    for row, plane in enumerate(("magnitude", "internal")):
        ax = axes[row, column]
        ax.imshow(imgrad.read(out / f"{name}.{plane}.png"), cmap="gray")
        ax.set_title(f"{name}.{plane}", fontsize=9)
        ax.set_axis_off()

plt.show()
