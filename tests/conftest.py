"""Shared fixtures: real sample photographs, loaded with OpenCV (not with imgrad)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    """512x512 uint8 grayscale photograph."""
    return cv2.imread(str(SAMPLES / "camera.png"), cv2.IMREAD_GRAYSCALE)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """512x512x3 uint8 RGB photograph."""
    return cv2.cvtColor(cv2.imread(str(SAMPLES / "astronaut.png")), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def photos(camera, astronaut) -> dict[str, np.ndarray]:
    """Crops of real photographs in every supported dtype, gray and colour.

    Odd sizes on purpose; uint16 and float planes keep the photo's structure.
    """
    gray = camera[100:197, 150:271]
    rgb = astronaut[60:149, 200:303]
    out = {}
    for name, img in (("gray", gray), ("rgb", rgb)):
        out[f"{name}-uint8"] = np.ascontiguousarray(img)
        out[f"{name}-uint16"] = img.astype(np.uint16) * 257
        out[f"{name}-int16"] = (img.astype(np.int32) * 257 - 32768).astype(np.int16)
        out[f"{name}-float32"] = img.astype(np.float32) / 255
        out[f"{name}-float64"] = img.astype(np.float64) / 255
    return out
