"""Large, written-once work buffers as anonymous mappings with small pages.

Why not `np.zeros`/`np.empty`: NumPy advises the kernel to back every allocation of 4 MiB
or more with transparent huge pages (`madvise(MADV_HUGEPAGE)`). Where the kernel's THP
`defrag` setting is `madvise` (a common default), the first touch of such memory may stall
in direct compaction to assemble a 2 MiB page. The Bloom filter's output rows, its mask
tables and their scratch rows are written once, front to back, and read a few times: huge
pages buy them nothing, and the stalls cost a first month ~120 ms of a ~0.9 s encoding run
on the benchmark VM (five alternated pairs, docs/benchmarks.md). An anonymous private
mapping advised `MADV_NOHUGEPAGE` is zero-filled by the kernel page by page instead.
"""

from __future__ import annotations

import math
import mmap

import numpy as np

# below this, NumPy gives no huge-page advice either, and a mapping per array would only
# add system calls
_MIN_BYTES = 1 << 22


def zeros(shape: int | tuple[int, ...], dtype: type | np.dtype) -> np.ndarray:
    """A zeroed, writable array like `np.zeros(shape, dtype)`, mapped with small pages.

    The mapping lives as long as any array or Arrow buffer that views it.
    """
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    dt = np.dtype(dtype)
    nbytes = math.prod(dims) * dt.itemsize
    private = getattr(mmap, "MAP_PRIVATE", None)
    if nbytes < _MIN_BYTES or private is None:  # small, or not a POSIX system
        return np.zeros(dims, dtype=dt)
    buffer = mmap.mmap(-1, nbytes, flags=private)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        buffer.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buffer, dtype=dt).reshape(dims)
