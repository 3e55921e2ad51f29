"""Keyed blocking keys for linkage: which keys, how they are built, and why SipHash.

`link_encodings` (kiim/pseudonymise.py) builds, per record, a handful of keyed keys from the
normalised name parts and the birth date. Two records that share a key value become a
candidate pair. Each key tolerates another kind of error the offices make (docs/linkage.md):

| key space | columns | survives |
|---|---|---|
| `name_dob` | `lk_name_dob` (family, 1st given, date), `lk_birth_name_dob` (birth name, ...) | dropped 2nd given name, umlaut/accent spellings, marriage name (EWO) |
| `phonetic` | `lk_phonetic` (Kölner Phonetik of family, of 1st given, birth year), `lk_phonetic_swapped` (the two codes exchanged), `lk_birth_phonetic` | transliteration, many typos, swapped family/given name, day/month swap |
| `dob_name` | `lk_dob_family`, `lk_dob_given`, `lk_dob_birth`: birth date with day and month in sorted order + the phonetic code of ONE name | any error in the other name (typo, hyphen, transliteration), day/month swap, swapped names |
| `names` | `lk_names`: the phonetic codes of family and 1st given name in sorted order, no date | a wrong or missing birth date (with transliteration, swapped names) |

Columns of one space are hashed with the same key and the same layout, so a value in one
column can meet a value in another: the swapped key of one record equals the plain key of
a record whose family and given name were exchanged. Different spaces use different keys
(domain separation), so their values never meet.

**Why SipHash-2-4 and not HMAC-SHA256 for these keys.** A record needs seven of them and
HMAC-SHA256 costs about 1 µs per value in Python (pseudonymization/README.md), which alone
would cap encoding at ~150 000 records/s per core. SipHash-2-4 (Aumasson & Bernstein 2012)
is a keyed pseudo-random function designed for exactly this (short inputs, 128-bit secret
key), so the property that matters here is the same as for HMAC: without the key nobody can
compute the key of a guessed name and birth date, so the dictionary attack of a plain hash
does not apply. pandas ships a C implementation that hashes a whole column in one call
(`pandas.util.hash_array`, ~7 M values/s; a bijective 64-bit mixer is applied after
SipHash, which does not change its security). Outputs are 64 bits (16 hex characters):
blocking keys only propose candidate pairs, and at 64 bits an accidental collision among
ten million distinct values has a probability of about 3·10⁻⁶ and would cost one extra
comparison. The SipHash keys are derived from the `person` purpose key with HMAC-SHA256
(one per key space). Record pseudonyms and the AZR key stay HMAC-SHA256 (`keyed_hash`).
`siphash24_reference` is a plain-Python SipHash-2-4 against which the tests pin the pandas
implementation (and its published test vector), so a pandas upgrade that changed the
function could not silently change every key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymization import cologne

SPACES: dict[str, tuple[str, ...]] = {
    "name_dob": ("lk_name_dob", "lk_birth_name_dob"),
    "phonetic": ("lk_phonetic", "lk_phonetic_swapped", "lk_birth_phonetic"),
    "dob_name": ("lk_dob_family", "lk_dob_given", "lk_dob_birth"),
    "names": ("lk_names",),
    "azr": ("lk_azr",),
}
HEX_CHARS = 16
_MASK64 = (1 << 64) - 1
# two hex characters per byte value, as one little-endian uint16 (one gather per byte)
_HEX_LUT = np.array(
    [int.from_bytes(f"{i:02x}".encode("ascii"), "little") for i in range(256)], dtype="<u2"
)


def space_key(person_key: bytes, space: str) -> bytes:
    """The 16-byte SipHash key of one key space, derived from the `person` purpose key."""
    if space not in SPACES:
        raise ValueError(f"unknown key space {space!r}; known: {sorted(SPACES)}")
    return hmac.new(person_key, b"kiim/v1/link-space/" + space.encode(), hashlib.sha256).digest()[
        :16
    ]


def _as_pandas_key(key: bytes) -> str:
    # pandas takes the key as a 16-character str and encodes it with `encoding`; latin-1 maps
    # characters 0-255 back to the same bytes, so the full 128-bit key is used.
    if len(key) != 16:
        raise ValueError("a SipHash key has exactly 16 bytes")
    return key.decode("latin-1")


def siphash64(values: Any, key: bytes) -> np.ndarray:
    """SipHash-2-4 of each value's UTF-8 bytes followed by pandas' 64-bit mixer (uint64).

    `values` is a sequence of str or bytes without nulls.
    """
    arr = np.asarray(values, dtype=object)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(
        arr, encoding="latin-1", hash_key=_as_pandas_key(key), categorize=False
    )


def _hex16(words: np.ndarray) -> bytes:
    raw = words.astype(">u8").view(np.uint8)
    return _HEX_LUT[raw].tobytes()


def keyed_key(values: Any, key: bytes, *, dedup: bool = False) -> pa.StringArray:
    """Keyed 64-bit link key per value as 16 lower-case hex characters; nulls stay null.

    `dedup=True` hashes each distinct value once (worth it for keys that repeat, such as
    phonetic codes with a birth year).
    """
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - callers pass arrays
        arr = arr.combine_chunks()
    if dedup and len(arr):
        encoded = arr.dictionary_encode()
        return pc.take(keyed_key(encoded.dictionary, key), encoded.indices)
    n = len(arr)
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    present = arr.filter(pa.array(valid)) if arr.null_count else arr
    data = present.cast(pa.binary()).to_numpy(zero_copy_only=False)
    digests = _hex16(siphash64(data, key))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(valid.astype(np.int32) * HEX_CHARS, out=offsets[1:])
    bitmap = (
        pa.py_buffer(np.packbits(valid, bitorder="little").tobytes()) if arr.null_count else None
    )
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [bitmap, pa.py_buffer(offsets), pa.py_buffer(digests)],
        null_count=arr.null_count,
    )


def first_words(names: pa.Array) -> pa.Array:
    """First word of each normalised name (null stays null)."""
    return on_distinct(names, lambda d: pc.replace_substring_regex(d, " .*", ""))


def sorted_day_month(dob_iso: pa.Array) -> pa.Array:
    """YYYY-lo-hi with day and month in ascending order: 1990-03-04 and 1990-04-03 agree."""
    return on_distinct(dob_iso, _sorted_day_month)


def _sorted_day_month(dob_iso: pa.Array) -> pa.Array:
    year = pc.utf8_slice_codeunits(dob_iso, 0, 4)
    month = pc.utf8_slice_codeunits(dob_iso, 5, 7)
    day = pc.utf8_slice_codeunits(dob_iso, 8, 10)
    low = pc.if_else(pc.less(month, day), month, day)
    high = pc.if_else(pc.less(month, day), day, month)
    return pc.binary_join_element_wise(year, low, high, "-")


# Romanisation variants that Kölner Phonetik codes differently, folded before coding (order
# matters). German vs. English/national transliteration of Cyrillic and Arabic: Krawtschenko /
# Kravchenko, Dschasim / Jasim, Achmed / Ahmad, Khaled / Chaled, and Ukrainian H for Russian G
# (Ihor / Igor, Halyna / Galina, Oleh / Oleg). Applied the same way to every name, so it only
# makes some keys coarser; the Bloom filter still sees the names as written.
TRANSLITERATION_FOLDS: tuple[tuple[str, str], ...] = (
    ("DSCH", "J"),
    ("DZH", "J"),
    ("TSCH", "CH"),
    ("TCH", "CH"),
    ("KH", "H"),
    ("CH", "H"),
    ("G", "H"),
)


def fold_transliteration(name: str) -> str:
    """A normalised name with the `TRANSLITERATION_FOLDS` applied (for phonetic codes only)."""
    for pattern, replacement in TRANSLITERATION_FOLDS:
        name = name.replace(pattern, replacement)
    return name


def on_distinct(values: pa.Array, func: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Apply a column function to the distinct values only and spread the result back.

    Names and birth dates repeat a lot, so the work scales with the distinct values while
    Arrow's dictionary encoding and `take` do the per-row part.
    """
    if len(values) == 0:
        return func(values)
    encoded = values.dictionary_encode()
    return pc.take(func(encoded.dictionary), encoded.indices)


@functools.lru_cache(maxsize=262_144)
def _word_code(word: str) -> str | None:
    return cologne(fold_transliteration(word))


def phonetic_codes(names: pa.Array) -> pa.Array:
    """Kölner Phonetik of the transliteration-folded first word of each normalised name.

    Computed once per distinct first word (and cached across columns and calls: the same
    given names recur in every agency's extract).
    """

    def codes(distinct: pa.Array) -> pa.Array:
        return pa.array(
            [_word_code(w) if w else None for w in distinct.to_pylist()], type=pa.string()
        )

    return on_distinct(first_words(names), codes)


def sorted_pair(a: pa.Array, b: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(smaller, larger) of two string columns per row, so the order of a and b is lost."""
    a_first = pc.fill_null(pc.less_equal(a, b), True)
    return pc.if_else(a_first, a, b), pc.if_else(a_first, b, a)


def null_where_equal(values: pa.Array, other: pa.Array) -> pa.Array:
    """`values`, but null where it equals `other` (a birth name equal to the family name)."""
    same = pc.fill_null(pc.equal(values, other), False)
    return pc.if_else(same, pa.scalar(None, values.type), values)


# ------------------------------------------------------------------------ reference SipHash


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK64


def siphash24_reference(key: bytes, data: bytes) -> int:
    """SipHash-2-4 (64-bit output) in plain Python, straight from the paper."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v = [
        k0 ^ 0x736F6D6570736575,
        k1 ^ 0x646F72616E646F6D,
        k0 ^ 0x6C7967656E657261,
        k1 ^ 0x7465646279746573,
    ]

    def rounds(count: int) -> None:
        for _ in range(count):
            v[0] = (v[0] + v[1]) & _MASK64
            v[1] = _rotl(v[1], 13) ^ v[0]
            v[0] = _rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & _MASK64
            v[3] = _rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & _MASK64
            v[3] = _rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & _MASK64
            v[1] = _rotl(v[1], 17) ^ v[2]
            v[2] = _rotl(v[2], 32)

    full = len(data) - len(data) % 8
    for i in range(0, full, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[full:], "little")
    v[3] ^= last
    rounds(2)
    v[0] ^= last
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def mix64_reference(x: int) -> int:
    """The bijective 64-bit mixer pandas applies after SipHash (splitmix64 finaliser)."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def keyed_key_reference(value: str, key: bytes) -> str:
    """One link key computed without pandas (for tests)."""
    return f"{mix64_reference(siphash24_reference(key, value.encode('utf-8'))):016x}"
