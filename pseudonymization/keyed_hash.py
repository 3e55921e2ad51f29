"""Keyed pseudonyms: truncated hex of HMAC-SHA256(key, UTF-8 value), for whole columns.

Why it is built the way it is (measured on the project's 2-core machine, see
`pseudonymization.bench` and README.md):

* HMAC(K, m) = H(K^opad || H(K^ipad || m)). Both pads are exactly one SHA-256 block, so their
  compression is the same for every value: the two midstates are computed once per call.
* The hashing itself is a compiled kernel (`_kernels.hmac_sha256`, numba) that reads the
  Arrow buffer directly and runs the SHA-256 of 64 short values side by side, so that the
  compiler vectorises it (AVX2). One core hashes several million values per second; the
  Python loop over `hashlib` before it managed about one million (and forked over the cores
  to get more, which is no longer worth it).
* Repeated values are hashed once (Arrow dictionary encoding, then `take`): link keys built
  from phonetic codes and birth dates repeat a lot.
* The hex encoding is one `binascii.hexlify` over all digests, and the result is assembled
  from raw buffers (fixed-width strings), not from a Python list.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymization._arrow import string_buffers, to_string_array

_DIGEST = 32
_BLOCK = 64
_DEDUP_SAMPLE = 20_000


def _digests(arr: pa.StringArray, key: bytes) -> bytes:
    """Concatenated raw HMAC-SHA256 digests of the values of `arr` (no nulls).

    The compiled kernel reads the Arrow buffer directly and hashes short values 64 at a time
    (`_kernels.hmac_sha256`); the key's two pad blocks are compressed once (RFC 2104
    midstates).
    """
    from pseudonymization import _kernels  # numba: imported when needed

    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    midstates = _kernels.hmac_midstates(np.frombuffer(key, dtype=np.uint8))
    offsets, data = string_buffers(arr)
    out = np.empty((len(arr), 8), dtype=np.uint32)
    _kernels.hmac_sha256(midstates, offsets, data, out)
    return out.astype(">u4").tobytes()


def _hex_strings(digests: bytes, count: int, hex_chars: int) -> pa.StringArray:
    """Fixed-width lower-case hex strings (first `hex_chars` characters of each digest).

    One `binascii.hexlify` over the kept digest bytes already yields the fixed-width data
    buffer of an Arrow string array; only odd widths need a numpy slice.
    """
    nbytes = (hex_chars + 1) // 2
    raw = digests
    if nbytes < _DIGEST:
        table = np.frombuffer(digests, dtype=np.uint8).reshape(count, _DIGEST)
        raw = np.ascontiguousarray(table[:, :nbytes]).tobytes()
    data = binascii.hexlify(raw)
    if hex_chars % 2:
        hexed = np.frombuffer(data, dtype=np.uint8).reshape(count, nbytes * 2)
        data = np.ascontiguousarray(hexed[:, :hex_chars]).tobytes()
    offsets = np.arange(0, (count + 1) * hex_chars, hex_chars, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _check(key: bytes, hex_chars: int) -> None:
    if not isinstance(key, bytes | bytearray) or not key:
        raise ValueError("key must be non-empty bytes (use derive_key(master, purpose))")
    if not 1 <= hex_chars <= 2 * _DIGEST:
        raise ValueError(f"hex_chars must be between 1 and {2 * _DIGEST}, got {hex_chars}")


def keyed_hash(values: Any, key: bytes, *, hex_chars: int = 32) -> pa.StringArray:
    """Keyed pseudonym per value: HMAC-SHA256(key, UTF-8(value)) as truncated lower-case hex.

    Equal to `hmac.new(key, value.encode(), "sha256").hexdigest()[:hex_chars]` for every
    value; nulls stay null. 32 hex characters (128 bits) make accidental collisions
    negligible even across all districts of a state.

    Args:
        values: strings (list, numpy/pandas, Arrow array or chunked array); None/NaN = null.
        key: a purpose key from `derive_key` (never the master secret itself).
        hex_chars: length of the returned pseudonyms (1-64).

    Examples:
        >>> keyed_hash(["A", None], b"k" * 32, hex_chars=8).to_pylist()
        ['23129fd1', None]
    """
    _check(key, hex_chars)
    arr = to_string_array(values)
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    if _worth_deduplicating(arr):
        encoded = arr.dictionary_encode()
        distinct = encoded.dictionary
        digests = _digests(distinct, bytes(key))
        return pc.take(_hex_strings(digests, len(distinct), hex_chars), encoded.indices)
    present = arr.drop_null() if arr.null_count else arr
    digests = _digests(present, bytes(key))
    hexed = _hex_strings(digests, len(present), hex_chars)
    return hexed if not arr.null_count else _spread(hexed, arr, hex_chars)


def _worth_deduplicating(arr: pa.StringArray) -> bool:
    """Dictionary-encode first only when a sample shows enough repeats.

    Encoding costs about a quarter of one HMAC per value, so it pays off only when more than
    roughly a quarter of the values are repeats (typical for phonetic link keys, not for
    record numbers).
    """
    sample = arr.slice(0, _DEDUP_SAMPLE) if len(arr) > _DEDUP_SAMPLE else arr
    valid = len(sample) - sample.null_count
    if valid < 2:
        return False
    return pc.count_distinct(sample).as_py() < 0.7 * valid


def _spread(hexed: pa.StringArray, arr: pa.StringArray, hex_chars: int) -> pa.StringArray:
    """Put the hashes of the non-null values back at their rows, with nulls in between."""
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(arr) + 1, dtype=np.int32)
    np.cumsum(valid.astype(np.int32) * hex_chars, out=offsets[1:])
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    data = hexed.buffers()[2]
    return pa.Array.from_buffers(
        pa.string(), len(arr), [bitmap, pa.py_buffer(offsets), data], null_count=arr.null_count
    )


def keyed_hash_reference(values: Any, key: bytes, *, hex_chars: int = 32) -> pa.StringArray:
    """Plain per-value `hmac.new` loop: the definition `keyed_hash` is tested and timed against."""
    _check(key, hex_chars)
    out = [
        None if v is None else hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()
        for v in to_string_array(values).to_pylist()
    ]
    return pa.array([None if h is None else h[:hex_chars] for h in out], type=pa.string())


def combine(*columns: Any, sep: str = "\x1f") -> pa.StringArray:
    """Join normalised parts row-wise into one string; null if any part is null.

    The separator (ASCII unit separator by default) must not occur in any part, otherwise
    ("A|B", "C") and ("A", "B|C") would give the same string and the same pseudonym; a part
    containing it is refused.
    """
    if not columns:
        raise ValueError("combine needs at least one column")
    if not sep:
        raise ValueError("separator must not be empty")
    arrays = [to_string_array(c) for c in columns]
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"columns differ in length: {sorted(lengths)}")
    for i, a in enumerate(arrays):
        if pc.any(pc.match_substring(a, sep)).as_py():
            raise ValueError(f"part {i} contains the separator; normalise the parts first")
    return pc.binary_join_element_wise(*arrays, sep)
