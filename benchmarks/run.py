"""imgrad's benchmark: imgrad against its peers, in one process, side by side.

Contenders are interleaved round by round (so a noisy neighbour slows them
alike) and each is reported by its median. Absolute times depend on the
machine; the ratios are what count.

    python benchmarks/run.py                 # everything (several minutes)
    python benchmarks/run.py --quick         # fewer rounds, smaller sets
    python benchmarks/run.py --sections gradient,morphology   (also: batch, memory, stack,
                                                              features)
    python benchmarks/run.py --sections features --quick     # the features alone, quickly

Writes ``benchmarks/results.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

import imgrad

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SIZES = {"1080p": (1920, 1080), "4K": (3840, 2160)}


# --- measuring -----------------------------------------------------------------------


def interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int, warm_up: bool = True
) -> dict[str, float]:
    """Median seconds of each contender, running them round by round.

    Each round starts with the next contender, so none always runs right
    after the same neighbour (whose leftovers in the caches and the
    allocator would help or hurt it).
    """
    for run in contenders.values() if warm_up else ():  # imports, caches, thread pools
        run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders.items())
    for r in range(rounds):
        shift = r % len(order)
        for name, run in order[shift:] + order[:shift]:
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def photo(size: str, colour: bool) -> np.ndarray:
    """A real photograph scaled to `size` (RGB or gray uint8)."""
    image = imgrad.read(SAMPLES / "astronaut.png")
    image = cv2.resize(image, SIZES[size], interpolation=cv2.INTER_CUBIC)
    return image if colour else imgrad.gray(image)


def rows_for(results: dict[str, float], reference: str, section: str, case: str) -> list[dict]:
    base = results[reference]
    return [
        {
            "section": section,
            "case": case,
            "contender": name,
            "ms": round(1000 * sec, 2),
            f"x {reference}": round(sec / base, 2),
        }
        for name, sec in results.items()
    ]


# --- 1. gradient magnitude and phase ----------------------------------------------------


#: glibc's allocator gives a large array either fresh pages from the kernel (each
#: faulted in, zeroed, on first write) or the recycled memory of one freed before,
#: depending on a threshold that moves with the process's history: the same
#: contender can take 3x longer in one state than in the other. The gradient
#: section therefore runs once in each state, pinned, in a child process.
ALLOCATOR_STATES = {
    "fresh pages": {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)},
    "recycled pages": {
        "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
        "MALLOC_TRIM_THRESHOLD_": str(1 << 31),
    },
}
_CHILD = "IMGRAD_BENCHMARK_CHILD"


def gradient_section(rounds: int, quick: bool) -> list[dict]:
    """sobel | polar through the public pipeline API against the usual recipes,
    in each allocator state."""
    return in_allocator_states("gradient", gradient_rows, rounds, quick)


def in_allocator_states(section: str, rows, rounds: int, quick: bool) -> list[dict]:
    """`rows(rounds, quick)` run in a child process in each allocator state."""
    if os.environ.get(_CHILD):
        return rows(rounds, quick)
    results = []
    for state, env in ALLOCATOR_STATES.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"{section}.json"
            command = [sys.executable, __file__, "--sections", section, "--out", str(out)]
            command += ["--rounds", str(rounds), *(["--quick"] if quick else [])]
            subprocess.run(
                command,
                env={**os.environ, **env, _CHILD: "1"},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            for row in json.loads(out.read_text())["results"]:
                results.append({**row, "case": f"{row['case']}, {state}"})
    return results


def gradient_rows(rounds: int, quick: bool) -> list[dict]:
    """sobel | polar through the public pipeline API against the usual recipes."""
    from scipy import ndimage as ndi
    from skimage import filters

    pipe = imgrad.Pipeline.parse("sobel | polar")
    rows = []
    for size in ("1080p", "4K"):
        for colour in (False, True):
            if quick and colour:
                continue
            img = photo(size, colour)
            f32 = img.astype(np.float32)

            def tutorial():  # the recipe copied from tutorials: float64 everywhere
                gx = cv2.Sobel(img, cv2.CV_64F, 1, 0)
                gy = cv2.Sobel(img, cv2.CV_64F, 0, 1)
                return cv2.magnitude(gx, gy), cv2.phase(gx, gy)

            def opencv_f32():  # the best plain-OpenCV composition
                gx = cv2.Sobel(img, cv2.CV_32F, 1, 0)
                gy = cv2.Sobel(img, cv2.CV_32F, 0, 1)
                return cv2.cartToPolar(gx, gy)

            def per_channel(fn, source=f32):
                if source.ndim == 2:
                    return fn(source)
                return [fn(source[..., c]) for c in range(source.shape[2])]

            # scikit-image computes derivatives only: the peer does less work.
            def skimage_derivatives(source=img):  # as called on the photo: float64 inside
                return per_channel(lambda p: (filters.sobel_h(p), filters.sobel_v(p)), source)

            def skimage_float32():  # on a float32 copy made beforehand (untimed)
                return skimage_derivatives(f32)

            def scipy_polar():
                def one(p):
                    gx, gy = ndi.sobel(p, axis=1), ndi.sobel(p, axis=0)
                    return np.hypot(gx, gy), np.arctan2(gy, gx)

                return per_channel(one)

            def floor():  # allocate the two float32 output planes and fill them
                a = np.empty(img.shape, np.float32)
                b = np.empty(img.shape, np.float32)
                a[...] = img
                b[...] = img
                return a, b

            results = interleaved(
                {
                    "imgrad sobel|polar": lambda: pipe(img),
                    "tutorial (cv2 float64)": tutorial,
                    "OpenCV float32 + cartToPolar": opencv_f32,
                    "scikit-image sobel_h+sobel_v": skimage_derivatives,
                    "scikit-image on a float32 copy": skimage_float32,
                    "scipy.ndimage sobel+hypot+arctan2": scipy_polar,
                    "memory floor": floor,
                },
                rounds,
            )
            case = f"{size} {'RGB' if colour else 'gray'} uint8"
            rows += rows_for(results, "imgrad sobel|polar", "gradient", case)
    return rows


# --- 2. morphological gradients --------------------------------------------------------


def morphology_section(rounds: int, quick: bool) -> list[dict]:
    from scipy import ndimage as ndi
    from skimage import morphology as skm

    img = photo("4K", colour=False)
    small = photo("1080p", colour=False)
    rows = []
    cases = [
        ("rect", 3),
        ("rect", 7),
        ("ellipse", 7),
        ("rect", 15),
        ("ellipse", 15),
        ("ellipse", 31),
        ("diamond", 31),
    ]
    if quick:
        cases = [("rect", 3), ("ellipse", 15), ("ellipse", 31)]
    for shape, size in cases:
        fp = imgrad.footprint(shape, size)
        sizes = [("4K", img), ("1080p", small)] if size <= 15 else [("4K", img)]
        for label, image in sizes:

            def ours(kind, image=image):
                return lambda: imgrad.morph_gradient(image, kind, footprint=shape, size=size)

            contenders = {f"imgrad {kind}": ours(kind) for kind in imgrad.morphology.KINDS}
            contenders["cv2.morphologyEx GRADIENT"] = lambda image=image: cv2.morphologyEx(
                image, cv2.MORPH_GRADIENT, fp
            )
            case = f"{label} gray uint8, {shape} {size}"
            reference = "cv2.morphologyEx GRADIENT"
            rows += rows_for(interleaved(contenders, 2 * rounds), reference, "morphology", case)
            if label == "1080p":  # the slow peers, on 1080p only, fewer rounds
                peers = interleaved(
                    {
                        reference: contenders[reference],
                        "scikit-image dilation-erosion": lambda: (
                            skm.dilation(small, fp) - skm.erosion(small, fp)
                        ),
                        "scipy.ndimage grey_dilation-erosion": lambda: (
                            ndi.grey_dilation(small, footprint=fp)
                            - ndi.grey_erosion(small, footprint=fp)
                        ),
                    },
                    max(3, rounds // 3),
                )
                rows += rows_for(peers, reference, "morphology", case)[1:]
    return rows


# --- 3. folder batch and 4. memory / start-up -------------------------------------------


def make_photo_folder(folder: Path, count: int) -> list[Path]:
    """`count` distinct ~2.5 MP JPEGs made from the sample photographs."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [*sorted(SAMPLES.glob("*.png")), SAMPLES / "rocket.jpg"]
    sources = [imgrad.read(p) for p in paths]
    sources = [s if s.ndim == 3 else cv2.cvtColor(s, cv2.COLOR_GRAY2RGB) for s in sources]
    paths = []
    for i in range(count):
        src = sources[i % len(sources)][..., :3]
        img = cv2.resize(src, (1920, 1280), interpolation=cv2.INTER_CUBIC)
        if (i // len(sources)) % 2:
            img = img[:, ::-1]
        shift = (i * 37) % 200
        img = np.roll(img, shift, axis=1)
        path = folder / f"photo_{i:04d}.jpg"
        cv2.imwrite(
            str(path),
            cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 90],
        )
        paths.append(path)
    return paths


def imgrad_executable() -> str:
    found = Path(sys.executable).parent / "imgrad"
    return str(found) if found.exists() else shutil.which("imgrad") or "imgrad"


def timed(cmd: list[str], **kw) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


NAIVE_SCRIPT = r"""
import sys, pathlib, cv2, numpy as np
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for path in sorted(src.glob("*.jpg")):
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    gx = cv2.Sobel(img, cv2.CV_64F, 1, 0); gy = cv2.Sobel(img, cv2.CV_64F, 0, 1)
    mag = cv2.magnitude(gx, gy)
    out = cv2.normalize(mag, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    cv2.imwrite(str(dst / (path.stem + ".magnitude.png")), out)
"""

FLOOR_SCRIPT = r"""
import sys, time, pathlib, cv2, numpy as np
from concurrent.futures import ThreadPoolExecutor
start = time.perf_counter()
src, planes, dst = (pathlib.Path(a) for a in sys.argv[1:4])
workers = int(sys.argv[4])
# The PNGs to write: the photos' gradient magnitudes, made beforehand. Loading
# them is not part of the floor: the time it takes is printed and subtracted.
output = {p.stem: np.load(p) for p in planes.glob("*.npy")}
print(time.perf_counter() - start)
PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1,  # imgrad's own PNG settings
       cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
       cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]
def one(path):
    cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(dst / (path.stem + ".magnitude.png")), output[path.stem], PNG)
with ThreadPoolExecutor(workers) as pool:
    list(pool.map(one, sorted(src.glob("*.jpg"))))
"""


def floor_planes(src: Path, dst: Path) -> Path:
    """The decode+encode floor's output images, computed by OpenCV beforehand:
    each photo's Sobel magnitude scaled to uint8, as ``.npy``."""
    dst.mkdir()
    for path in sorted(src.glob("*.jpg")):
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        magnitude = cv2.magnitude(
            cv2.Sobel(img, cv2.CV_32F, 1, 0), cv2.Sobel(img, cv2.CV_32F, 0, 1)
        )
        scaled = cv2.normalize(magnitude, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        np.save(dst / f"{path.stem}.npy", scaled)
    return dst


def timed_floor(cmd: list[str]) -> float:
    """Wall time of the floor script, less the preparation it reports."""
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start - float(done.stdout.split()[0])


def batch_section(rounds: int, quick: bool) -> list[dict]:
    """A folder of real JPEGs to magnitude PNGs."""
    count = 30 if quick else 100
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "photos"
        make_photo_folder(src, count)
        planes = floor_planes(src, tmp / "planes")

        def fresh(name: str) -> Path:
            out = tmp / name
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            return out

        contenders = {
            "imgrad run": lambda: timed(
                [
                    imgrad_executable(),
                    "run",
                    str(src),
                    "-o",
                    str(fresh("imgrad")),
                    "-p",
                    "gray | sobel | magnitude",
                    "--quiet",
                ]
            ),
            "naive serial OpenCV script": lambda: timed(
                [sys.executable, "-c", NAIVE_SCRIPT, str(src), str(fresh("naive"))]
            ),
            "decode+encode floor": lambda: timed_floor(
                [
                    sys.executable,
                    "-c",
                    FLOOR_SCRIPT,
                    str(src),
                    str(planes),
                    str(fresh("floor")),
                    str(workers),
                ]
            ),
        }
        mogrify = shutil.which("mogrify")
        if mogrify and _is_imagemagick(mogrify):

            def imagemagick():
                out = fresh("magick")
                return timed(
                    [
                        mogrify,
                        "-path",
                        str(out),
                        "-format",
                        "png",
                        "-colorspace",
                        "gray",
                        "-morphology",
                        "EdgeIn",
                        "Square:1",
                        str(src / "*.jpg"),
                    ]
                )

            contenders["ImageMagick mogrify EdgeIn"] = imagemagick
        # Each contender is a whole process reading the same (cached) files.
        results = interleaved(contenders, max(1, rounds // 5), warm_up=False)
    rows = rows_for(results, "imgrad run", "batch", f"{count} JPEGs of 2.5 MP -> magnitude PNG")
    for row in rows:
        row["images/s"] = round(count / (row["ms"] / 1000), 1)
    return rows


def _is_imagemagick(path: str) -> bool:
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "ImageMagick" in out.stdout


def memory_section(rounds: int, quick: bool) -> list[dict]:
    """Peak memory of batch runs of 200 vs 2000 images, and `imgrad --help` time."""
    rows = []
    small, large = (50, 500) if quick else (200, 2000)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "many"
        src.mkdir()
        base = cv2.resize(imgrad.read(SAMPLES / "coins.png"), (320, 240))
        for i in range(large):
            cv2.imwrite(str(src / f"img_{i:05d}.png"), np.roll(base, i, axis=1))
        for count in (small, large):
            sub = tmp / f"in_{count}"
            sub.mkdir()
            for i in range(count):
                os.link(src / f"img_{i:05d}.png", sub / f"img_{i:05d}.png")
            out = tmp / f"out_{count}"
            cmd = [
                imgrad_executable(),
                "run",
                str(sub),
                "-o",
                str(out),
                "-p",
                "gray | sobel | magnitude",
                "--quiet",
            ]
            peak = _peak_rss_mb(cmd)
            rows.append(
                {
                    "section": "memory",
                    "case": f"batch of {count} images",
                    "contender": "imgrad run",
                    "peak MB": round(peak, 1),
                }
            )
    rows[1]["x 200-image run"] = round(rows[1]["peak MB"] / rows[0]["peak MB"], 2)
    helps = [timed([imgrad_executable(), "--help"]) for _ in range(max(5, rounds))]
    rows.append(
        {
            "section": "memory",
            "case": "imgrad --help",
            "contender": "imgrad",
            "ms": round(1000 * statistics.median(helps), 1),
        }
    )
    return rows


def _peak_rss_mb(cmd: list[str]) -> float:
    """Peak resident memory of a command, from the kernel's accounting of the child."""
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024


# --- report --------------------------------------------------------------------------


# --- 5. stacks of images ------------------------------------------------------------


def stack_section(rounds: int, quick: bool) -> list[dict]:
    """``pipe.map(stack)`` against image-by-image runs: thumbnails and photos."""
    pipe = imgrad.Pipeline.parse("sobel | polar")
    gray = photo("1080p", colour=False)
    count = 2000 if quick else 10_000
    tiles = [gray[r : r + 28, c : c + 28] for r in range(0, 1064, 28) for c in range(0, 1904, 28)]
    thumbnails = np.stack([tiles[i % len(tiles)] for i in range(count)])
    photos = np.stack([gray, gray[::-1], gray[:, ::-1], gray[::-1, ::-1]] * (2 if quick else 4))

    def bare_opencv(stack):  # the three OpenCV calls per image, nothing else
        for image in stack:
            gx = cv2.Sobel(image, cv2.CV_32F, 1, 0)
            gy = cv2.Sobel(image, cv2.CV_32F, 0, 1)
            cv2.cartToPolar(gx, gy)

    def one_by_one(stack):
        results = [pipe(image) for image in stack]
        return {name: np.stack([r[name] for r in results]) for name in pipe.outputs}

    rows = []
    for case, stack in (
        (f"{count} gray photo crops of 28x28, sobel|polar", thumbnails),
        (f"{len(photos)} gray 1080p photos, sobel|polar", photos),
    ):
        results = interleaved(
            {
                "imgrad pipe.map(stack)": lambda s=stack: pipe.map(s),
                "imgrad pipe(image) for each image, stacked": lambda s=stack: one_by_one(s),
                "bare OpenCV loop (Sobel x2 + cartToPolar)": lambda s=stack: bare_opencv(s),
            },
            rounds,
        )
        rows += rows_for(results, "imgrad pipe.map(stack)", "stack", case)
    return rows


# --- 6. features computed from gradients ------------------------------------------------


def features_section(rounds: int, quick: bool) -> list[dict]:
    """Gaussian gradient + magnitude, structure tensor, Hessian against their peers, in
    each allocator state."""
    return in_allocator_states("features", features_rows, rounds, quick)


def features_rows(rounds: int, quick: bool) -> list[dict]:
    from scipy import ndimage as ndi
    from skimage import feature as skf

    from imgrad import features

    try:
        from structure_tensor import eig_special_2d, structure_tensor_2d
    except ImportError:  # a test-only dependency
        structure_tensor_2d = None
    rows = []
    slow_rounds = max(3, rounds // 3)
    for size in ("1080p", "4K"):
        img = photo(size, colour=False)
        f32 = img.astype(np.float32)  # the peers that need float input get it untimed

        # gaussian_gradient sigma 2 + magnitude
        radius = features.gaussian_radius(2.0)
        smooth = features.gaussian_kernel(2.0, 0, radius).astype(np.float32)
        diff = features.gaussian_kernel(2.0, 1, radius).astype(np.float32)

        def ours_gradient():
            g = features.gaussian_gradient(img, 2.0)
            return imgrad.magnitude(g.gx, g.gy)

        def opencv_gradient():  # the best plain-OpenCV composition
            gx = cv2.sepFilter2D(img, cv2.CV_32F, diff, smooth)
            gy = cv2.sepFilter2D(img, cv2.CV_32F, smooth, diff)
            return cv2.magnitude(gx, gy)

        case = f"{size} gray uint8, gaussian gradient sigma 2 + magnitude"
        reference = "imgrad gaussian_gradient + magnitude"
        results = interleaved(
            {
                reference: ours_gradient,
                "OpenCV sepFilter2D x2 + magnitude": opencv_gradient,
                "scipy gaussian_gradient_magnitude (float32)": lambda: (
                    ndi.gaussian_gradient_magnitude(f32, 2.0, mode="mirror")
                ),
            },
            rounds,
        )
        rows += rows_for(results, reference, "features", case)

        # structure tensor sigma 1, rho 3, with orientation and coherence
        def skimage_tensor():
            axx, axy, ayy = skf.structure_tensor(img, sigma=3.0, mode="mirror", order="xy")
            l1, l2 = skf.structure_tensor_eigenvalues([axx, axy, ayy])
            with np.errstate(invalid="ignore", divide="ignore"):
                coherence = (l1 - l2) / (l1 + l2)
            return 0.5 * np.arctan2(2 * axy, ayy - axx), coherence

        def package_tensor():
            s = structure_tensor_2d(f32, 1.0, 3.0)
            val, vec = eig_special_2d(s)
            with np.errstate(invalid="ignore", divide="ignore"):
                coherence = (val[1] - val[0]) / (val[1] + val[0])
            return np.arctan2(vec[0], vec[1]), coherence

        contenders = {
            "imgrad structure_tensor": lambda: features.structure_tensor(img, 1.0, 3.0),
            "scikit-image structure_tensor + eigenvalues": skimage_tensor,
        }
        if structure_tensor_2d is not None:
            contenders["structure-tensor package (float32)"] = package_tensor
        case = f"{size} gray uint8, structure tensor sigma 1 rho 3 + orientation, coherence"
        results = interleaved(contenders, slow_rounds)
        rows += rows_for(results, "imgrad structure_tensor", "features", case)

        # Hessian with eigenvalues
        for sigma in (2.0, 1.0):

            def skimage_hessian(sigma=sigma):
                planes = skf.hessian_matrix(
                    img, sigma, mode="mirror", order="rc", use_gaussian_derivatives=True
                )
                return planes, skf.hessian_matrix_eigvals(planes)

            case = f"{size} gray uint8, Hessian sigma {sigma:g} + eigenvalues"
            results = interleaved(
                {
                    "imgrad hessian": lambda sigma=sigma: features.hessian(img, sigma),
                    "scikit-image hessian_matrix + eigvals": skimage_hessian,
                },
                slow_rounds,
            )
            rows += rows_for(results, "imgrad hessian", "features", case)
    return rows


SECTIONS = {
    "gradient": gradient_section,
    "morphology": morphology_section,
    "batch": batch_section,
    "memory": memory_section,
    "stack": stack_section,
    "features": features_section,
}


# --- 6. features: HOG and Canny (kept in one block) ---------------------------------
#
#     python benchmarks/run.py --sections features --out /tmp/features.json


def features_section(rounds: int, quick: bool) -> list[dict]:
    """HOG and Canny against scikit-image and OpenCV, in each allocator state."""
    if os.environ.get(_CHILD):
        return features_rows(rounds, quick)
    rows = []
    for state, env in ALLOCATOR_STATES.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "features.json"
            command = [sys.executable, __file__, "--sections", "features", "--out", str(out)]
            command += ["--rounds", str(rounds), *(["--quick"] if quick else [])]
            subprocess.run(
                command,
                env={**os.environ, **env, _CHILD: "1"},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            for row in json.loads(out.read_text())["results"]:
                rows.append({**row, "case": f"{row['case']}, {state}"})
    return rows


def features_rows(rounds: int, quick: bool) -> list[dict]:
    from skimage import feature

    from imgrad.features import canny, hog

    rows = []
    for size in ("1080p",) if quick else ("1080p", "4K"):
        img = photo(size, colour=False)
        height, width = img.shape
        contenders = {
            "imgrad hog 3x3 blocks": lambda: hog(img),
            "imgrad hog 2x2 blocks": lambda: hog(img, cells_per_block=(2, 2)),
        }
        # cv2.HOGDescriptor (OpenCV 4; OpenCV 5 moved it out of the main module)
        # on one window the size of the image: every block once, as hog does.
        if hasattr(cv2, "HOGDescriptor"):
            window = (width // 8 * 8, height // 8 * 8)
            for cells in (3, 2):
                descriptor = cv2.HOGDescriptor(window, (8 * cells,) * 2, (8, 8), (8, 8), 9)
                contenders[f"cv2.HOGDescriptor.compute {cells}x{cells} blocks"] = (
                    lambda d=descriptor: d.compute(img)
                )
        results = interleaved(contenders, rounds)
        case = f"{size} gray uint8, HOG 9 bins, 8x8 cells"
        rows += rows_for(results, "imgrad hog 3x3 blocks", "features", case)
        if size == "1080p":  # the slow peer: fewer rounds
            f32 = img.astype(np.float32)
            peers = interleaved(
                {
                    "imgrad hog 3x3 blocks": contenders["imgrad hog 3x3 blocks"],
                    "skimage.feature.hog": lambda: feature.hog(img),
                    "imgrad hog on float32": lambda: hog(f32),
                },
                max(3, rounds // 3),
            )
            rows += rows_for(peers, "imgrad hog 3x3 blocks", "features", case)[1:]

        for l2 in (True, False):
            contenders = {
                "imgrad canny": lambda l2=l2: canny(img, 50, 150, l2=l2),
                "cv2.Canny": lambda l2=l2: cv2.Canny(img, 50, 150, L2gradient=l2),
            }
            if size == "1080p" and l2:
                contenders["imgrad canny on float32 (NumPy path)"] = lambda: canny(f32, 50, 150)
                contenders["skimage.feature.canny sigma=1"] = lambda: feature.canny(
                    img, 1.0, 50 / 8, 150 / 8
                )
            results = interleaved(contenders, 2 * rounds)
            case = f"{size} gray uint8, Canny 3x3 {'L2' if l2 else 'L1'}"
            rows += rows_for(results, "cv2.Canny", "features", case)
    return rows


SECTIONS["features"] = features_section

# --- end of the features block ---------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "imgrad": imgrad.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def markdown(rows: list[dict]) -> str:
    lines = []
    for section in dict.fromkeys(r["section"] for r in rows):
        part = [r for r in rows if r["section"] == section]
        keys = [k for k in dict.fromkeys(k for r in part for k in r) if k != "section"]
        lines += [f"\n**{section}**\n", "| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
        lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in part]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and cases")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per contender")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, from {', '.join(SECTIONS)}",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 15)
    rows = []
    for name in args.sections.split(","):
        if not os.environ.get(_CHILD):
            print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += SECTIONS[name.strip()](rounds, args.quick)
    report = {"machine": machine(), "rounds": rounds, "results": rows}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    if not os.environ.get(_CHILD):
        print(f"machine: {report['machine']}")
        print(markdown(rows))
        print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
