"""Arrow helpers shared by the vectorised functions.

Every public function accepts "a column of strings" in whatever form the caller has it (list,
numpy array, pandas Series, Arrow array or chunked array). Converting once here keeps the
functions themselves free of type juggling and guarantees one behaviour for nulls: None, NaN
and Arrow nulls all become Arrow nulls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

StringColumn = Iterable[str | None] | pa.Array | pa.ChunkedArray


def to_string_array(values: Any) -> pa.StringArray:
    """Return `values` as one contiguous Arrow `string` array (nulls preserved)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        return values
    if isinstance(values, np.ndarray) and values.dtype.kind in "US":
        values = values.astype(object)
    if not hasattr(values, "__len__"):
        values = list(values)
    return pa.array(values, type=pa.string(), from_pandas=True)


def map_distinct(values: Any, func: Callable[[str], str | None]) -> pa.StringArray:
    """Apply a scalar string function once per distinct value and broadcast the result.

    Names repeat a lot (a district has a few thousand distinct family names for hundreds of
    thousands of records), so the Python work scales with the number of distinct values while
    Arrow's C++ kernels do the per-row part (dictionary encoding and `take`).
    """
    arr = to_string_array(values)
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    encoded = arr.dictionary_encode()
    mapped = pa.array([func(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return pc.take(mapped, encoded.indices)


def distinct_indices(values: Any) -> tuple[list[str], np.ndarray]:
    """Distinct non-null values and, per row, the index into them (-1 for null)."""
    arr = to_string_array(values)
    encoded = arr.dictionary_encode()
    return encoded.dictionary.to_pylist(), index_rows(encoded.indices)


def index_rows(indices: pa.Array) -> np.ndarray:
    """Dictionary indices as int64 row codes, -1 for null (one copy where there are no
    nulls: the indices are read in place)."""
    rows = np.asarray(indices.fill_null(-1) if indices.null_count else indices)
    return rows.astype(np.int64)


def string_buffers(arr: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (n + 1, int64, into the data buffer) and UTF-8 bytes of a string array,
    without copying the bytes: what compiled kernels read instead of Python strings."""
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    return offsets.astype(np.int64), data
