"""Work buffers mapped without huge pages (`pseudonymization._memory`)."""

from __future__ import annotations

import gc
import mmap

import numpy as np
import pyarrow as pa
import pytest

from pseudonymization import _memory


@pytest.mark.parametrize("shape", [(3, 16), (70_000, 16), 600_000])
def test_zeros_is_a_zeroed_writable_array_like_numpy(shape: int | tuple[int, int]) -> None:
    arr = _memory.zeros(shape, np.uint64)
    expected = np.zeros(shape, dtype=np.uint64)
    assert arr.shape == expected.shape and arr.dtype == expected.dtype
    assert not arr.any()
    arr[-1] = 7  # writable, the last page included
    assert int(arr.sum()) == 7 * (arr[-1].size if arr.ndim > 1 else 1)


def test_large_buffers_are_mappings_and_small_ones_plain_arrays() -> None:
    large = _memory.zeros((70_000, 16), np.uint64)  # 8.96 MB: above NumPy's huge-page size
    small = _memory.zeros((10, 16), np.uint64)
    root: object = large
    while isinstance(root, np.ndarray):
        root = root.base
    assert isinstance(root, memoryview) and isinstance(root.obj, mmap.mmap)
    assert small.base is None


def test_a_mapping_lives_as_long_as_an_arrow_buffer_views_it() -> None:
    arr = _memory.zeros((70_000, 16), np.uint64)
    arr[:, 0] = np.arange(70_000, dtype=np.uint64)
    buffer = pa.py_buffer(arr)  # as `to_binary_array` hands the filters to Arrow
    del arr
    gc.collect()
    back = np.frombuffer(buffer, dtype=np.uint64).reshape(70_000, 16)
    assert back[69_999, 0] == 69_999 and not back[:, 1:].any()
