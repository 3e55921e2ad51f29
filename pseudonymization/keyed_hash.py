"""Keyed pseudonyms: truncated hex of HMAC-SHA256(key, UTF-8 value), for whole columns.

Why it is built the way it is (measured on the project's 2-core machine, see
`pseudonymization.bench` and README.md):

* HMAC(K, m) = H(K^opad || H(K^ipad || m)). Both pads are exactly one SHA-256 block, so their
  compression is the same for every value: we compute the two midstates once and `copy()`
  them per value. That halves the SHA-256 work and skips `hmac.new`'s per-call key setup
  (~0.35 M/s -> ~1 M/s per core).
* Repeated values are hashed once (Arrow dictionary encoding, then `take`): link keys built
  from phonetic codes and birth dates repeat a lot.
* Large columns are split over the available cores with `fork` into a shared anonymous
  memory map (no pickling of inputs or outputs). The children only run the hash loop on the
  builtin (non-OpenSSL) SHA-256 and leave with `os._exit`, which keeps fork safe even in a
  process that has other threads.
* The hex encoding is one `binascii.hexlify` over all digests, and the result is assembled
  from raw buffers (fixed-width strings), not from a Python list.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import hmac
import mmap
import os
import signal
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymization._arrow import to_string_array

try:  # CPython's own SHA-256 (3.11: _sha256, 3.12+: _sha2): no OpenSSL locks, cheap copy()
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the Python version
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        _sha256 = hashlib.sha256

_DIGEST = 32
_BLOCK = 64
# Below this many distinct values forking costs more than it saves.
PARALLEL_MIN_VALUES = 100_000
_DEDUP_SAMPLE = 20_000


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _midstates(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states after the ipad block and after the opad block (RFC 2104)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = _sha256(bytes(b ^ 0x36 for b in key))
    outer = _sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def _digest_loop(parts: Sequence[bytes], inner: Any, outer: Any) -> bytes:
    """Concatenated raw HMAC digests of `parts` (the hot loop, kept minimal on purpose)."""
    out: list[bytes] = []
    append = out.append
    copy_inner = inner.copy
    copy_outer = outer.copy
    for part in parts:
        h = copy_inner()
        h.update(part)
        o = copy_outer()
        o.update(h.digest())
        append(o.digest())
    return b"".join(out)


def _digests(parts: list[bytes], key: bytes, workers: int) -> bytes:
    """Raw digests of all parts, split over `workers` processes when worthwhile."""
    inner, outer = _midstates(key)
    n = len(parts)
    workers = max(1, min(workers, n // (PARALLEL_MIN_VALUES // 2) or 1))
    if workers == 1 or not hasattr(os, "fork"):
        return _digest_loop(parts, inner, outer)
    bounds = [n * i // workers for i in range(workers + 1)]
    shared = mmap.mmap(-1, n * _DIGEST)
    pending: dict[int, tuple[int, int]] = {}  # child pid -> its slice
    todo: list[tuple[int, int]] = [(bounds[0], bounds[1])]  # slices the parent computes
    try:
        for w in range(1, workers):
            lo, hi = bounds[w], bounds[w + 1]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork + threads
                    pid = os.fork()
            except OSError:  # no process to spare: the parent does this slice too
                todo.append((lo, hi))
                continue
            if pid == 0:  # child: compute, write into the shared map, leave without cleanup
                code = 1
                try:
                    shared[lo * _DIGEST : hi * _DIGEST] = _digest_loop(parts[lo:hi], inner, outer)
                    code = 0
                finally:
                    os._exit(code)
            pending[pid] = (lo, hi)
        for lo, hi in todo:
            shared[lo * _DIGEST : hi * _DIGEST] = _digest_loop(parts[lo:hi], inner, outer)
        for pid in list(pending):
            lo, hi = pending.pop(pid)
            try:
                _, status = os.waitpid(pid, 0)
                ok = os.waitstatus_to_exitcode(status) == 0
            except ChildProcessError:  # reaped by someone else: result unknown
                ok = False
            if not ok:  # a lost child: do its share here
                shared[lo * _DIGEST : hi * _DIGEST] = _digest_loop(parts[lo:hi], inner, outer)
        return shared[:]
    finally:
        for pid in pending:  # only after an exception in the parent: stop and reap children
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        shared.close()


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


def keyed_hash(
    values: Any, key: bytes, *, hex_chars: int = 32, workers: int | None = None
) -> pa.StringArray:
    """Keyed pseudonym per value: HMAC-SHA256(key, UTF-8(value)) as truncated lower-case hex.

    Equal to `hmac.new(key, value.encode(), "sha256").hexdigest()[:hex_chars]` for every
    value; nulls stay null. 32 hex characters (128 bits) make accidental collisions
    negligible even across all districts of a state.

    Args:
        values: strings (list, numpy/pandas, Arrow array or chunked array); None/NaN = null.
        key: a purpose key from `derive_key` (never the master secret itself).
        hex_chars: length of the returned pseudonyms (1-64).
        workers: processes to use; default = available cores. 1 disables forking.

    Examples:
        >>> keyed_hash(["A", None], b"k" * 32, hex_chars=8).to_pylist()
        ['23129fd1', None]
    """
    _check(key, hex_chars)
    arr = to_string_array(values)
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    cores = workers or _available_cores()
    if _worth_deduplicating(arr):
        encoded = arr.dictionary_encode()
        distinct = encoded.dictionary
        digests = _digests(distinct.cast(pa.binary()).to_pylist(), bytes(key), cores)
        return pc.take(_hex_strings(digests, len(distinct), hex_chars), encoded.indices)
    present = arr.drop_null() if arr.null_count else arr
    digests = _digests(present.cast(pa.binary()).to_pylist(), bytes(key), cores)
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
