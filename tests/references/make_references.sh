#!/usr/bin/env bash
# Regenerate every reference file in this folder from the photos in samples/.
#
#   tests/references/make_references.sh
#
# Tools (override with environment variables):
#   CONVERT   ImageMagick 6 convert  (default /usr/bin/convert)
#   IDENTIFY  ImageMagick 6 identify (default /usr/bin/identify)
#   OCTAVE    GNU Octave 7 with the image package (default octave)
#   PYTHON    Python 3 with NumPy (default /work/venv/bin/python, else python3)
#
# Outputs (see README.md for the conventions they follow):
#   camera_crop.png, coins_crop.png   8-bit gray crops, 128 wide x 96 high
#   astronaut_crop.png                8-bit RGB crop, 80 wide x 64 high
#   imagemagick/<crop>_<Edge|EdgeIn|EdgeOut>_<Square|Diamond><r>.png   8-bit, same type as input
#   octave.npz                        float64 results of imgradientxy / imgradient

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SAMPLES=$(cd "$HERE/../../samples" && pwd)
CONVERT=${CONVERT:-/usr/bin/convert}
IDENTIFY=${IDENTIFY:-/usr/bin/identify}
OCTAVE=${OCTAVE:-octave}
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /work/venv/bin/python ]]; then PYTHON=/work/venv/bin/python; else PYTHON=python3; fi
fi

# A stand-in called "convert" may come first on PATH: insist on the real ImageMagick.
"$CONVERT" -version | head -n 1 | grep -q '^Version: ImageMagick 6' \
    || { echo "error: $CONVERT is not ImageMagick 6" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$HERE"

# PNG writer settings: 8 bits per sample, gray stays gray (colour type 0), RGB stays RGB
# (colour type 2, never a palette), no gamma/ICC/text chunks carried over.
GRAY_PNG=(-strip -depth 8 -define png:bit-depth=8 -define png:color-type=0)
RGB_PNG=(-strip -depth 8 -define png:bit-depth=8 -define png:color-type=2)

# --- 1. crops (geometry is WIDTHxHEIGHT+X+Y, X = column, Y = row) -------------------------
"$CONVERT" "$SAMPLES/camera.png" -crop 128x96+184+64 +repage "${GRAY_PNG[@]}" camera_crop.png
"$CONVERT" "$SAMPLES/coins.png" -crop 128x96+32+24 +repage "${GRAY_PNG[@]}" coins_crop.png
"$CONVERT" "$SAMPLES/astronaut.png" -crop 80x64+176+96 +repage "${RGB_PNG[@]}" astronaut_crop.png

# --- 2. ImageMagick morphological edges ----------------------------------------------------
# Default settings only: virtual-pixel 'edge', all colour channels, each channel on its own.
rm -rf imagemagick
mkdir imagemagick
for crop in camera coins astronaut; do
    if [[ $crop == astronaut ]]; then png=("${RGB_PNG[@]}"); else png=("${GRAY_PNG[@]}"); fi
    for method in EdgeIn EdgeOut Edge; do
        for kernel in Square:1 Square:2 Diamond:1 Diamond:2; do
            out="imagemagick/${crop}_${method}_${kernel/:/}.png"
            "$CONVERT" "${crop}_crop.png" -morphology "$method" "$kernel" "${png[@]}" "$out"
        done
    done
done

# Every PNG written here must be 8-bit gray or 8-bit sRGB, exactly as intended.
for f in camera_crop.png coins_crop.png imagemagick/camera_* imagemagick/coins_*; do
    [[ $("$IDENTIFY" -format '%[channels] %z' "$f") == "gray 8" ]] \
        || { echo "error: $f is not 8-bit gray" >&2; exit 1; }
done
for f in astronaut_crop.png imagemagick/astronaut_*; do
    [[ $("$IDENTIFY" -format '%[channels] %z' "$f") == "srgb 8" ]] \
        || { echo "error: $f is not 8-bit RGB" >&2; exit 1; }
done

# --- 3. Octave imgradientxy / imgradient ---------------------------------------------------
# Each result goes to a raw file: two float64 (rows, cols) then the matrix in row-major order.
"$OCTAVE" --no-gui --quiet --no-window-system --eval "
pkg load image;
function dump (name, A)
  fid = fopen (name, 'w');
  fwrite (fid, size (A), 'double', 0, 'ieee-le');
  fwrite (fid, A.', 'double', 0, 'ieee-le');
  fclose (fid);
endfunction
for crop = {'camera', 'coins'}
  I = im2double (imread ([crop{1} '_crop.png']));
  for method = {'sobel', 'prewitt', 'central', 'intermediate'}
    [gx, gy] = imgradientxy (I, method{1});
    dump (sprintf ('$TMP/%s_%s_gx', crop{1}, method{1}), gx);
    dump (sprintf ('$TMP/%s_%s_gy', crop{1}, method{1}), gy);
  endfor
  for method = {'sobel', 'prewitt'}
    [Gmag, Gdir] = imgradient (I, method{1});
    dump (sprintf ('$TMP/%s_%s_Gmag', crop{1}, method{1}), Gmag);
    dump (sprintf ('$TMP/%s_%s_Gdir', crop{1}, method{1}), Gdir);
  endfor
endfor
"

"$PYTHON" - "$TMP" octave.npz <<'PY'
import pathlib
import sys

import numpy as np

src, out = pathlib.Path(sys.argv[1]), sys.argv[2]
arrays = {}
for path in sorted(src.iterdir()):
    raw = np.fromfile(path, dtype="<f8")
    rows, cols = int(raw[0]), int(raw[1])
    arrays[path.name] = raw[2:].reshape(rows, cols)
np.savez_compressed(out, **arrays)
print(f"{out}: {len(arrays)} arrays")
PY

# --- 4. provenance ---------------------------------------------------------------------------
{
    "$CONVERT" -version | head -n 1
    "$OCTAVE" --version | head -n 1
    "$OCTAVE" --no-gui --quiet --no-window-system --eval \
        "pkg load image; p = pkg('list', 'image'); printf('Octave image package %s\n', p{1}.version);"
} > versions.txt
cat versions.txt
