"""Per-thread scratch buffers for temporaries inside one operator call.

Allocating a fresh strip-sized temporary for every call costs more than the
arithmetic on it (the kernel hands back the pages on free and faults them in
again on first touch). A temporary that is used and dropped within one call
can instead come from here: one buffer per thread and slot, reused.

Rules: only for values that never leave the function that asked; a function
uses distinct slots for temporaries alive at the same time, and calls no
other function using the same slots while it holds one.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable

import numpy as np

__all__ = ["MAX_SCRATCH_BYTES", "scratch"]

#: Larger temporaries are allocated normally (and not kept alive between calls).
MAX_SCRATCH_BYTES = 8 * 1024 * 1024

_local = threading.local()


def scratch(shape: tuple[int, ...], dtype: np.dtype, slot: Hashable = 0) -> np.ndarray:
    """An uninitialised C-contiguous array, reused by later calls in this thread.

    Examples
    --------
    >>> a = scratch((4, 5), np.float32)
    >>> b = scratch((4, 5), np.float32)
    >>> np.shares_memory(a, b), a.shape, a.dtype
    (True, (4, 5), dtype('float32'))
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_SCRATCH_BYTES:
        return np.empty(shape, dtype)
    buffers = _local.__dict__.setdefault("buffers", {})
    buffer = buffers.get(slot)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = buffers[slot] = np.empty(max(nbytes, 1), np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)
