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
| `address` | `lk_addr_*`, `lk_street_*` (`address_encodings`, only where an address is delivered): postcode or street code + house number, with ONE name code or the birth date | names and date keys all damaged, as long as the address and one of them survive |
| `household` | `lk_household`: postcode + street + house number | compared only ("same address"), never blocked on |

Columns of one space are hashed with the same key and the same layout, so a value in one
column can meet a value in another: the swapped key of one record equals the plain key of
a record whose family and given name were exchanged. Different spaces use different keys
(domain separation), so their values never meet.

**Why SipHash-2-4 and not HMAC-SHA256 for these keys.** A record needs seven of them and
HMAC-SHA256 in a Python loop cost about 1 µs per value (pseudonymization/README.md), which
alone would have capped encoding at ~150 000 records/s per core. SipHash-2-4 (Aumasson &
Bernstein 2012) is a keyed pseudo-random function designed for exactly this (short inputs,
128-bit secret key), so the property that matters here is the same as for HMAC: without the
key nobody can compute the key of a guessed name and birth date, so the dictionary attack of
a plain hash does not apply. The values are those of pandas' `hash_array` (SipHash-2-4, then
a bijective 64-bit mixer, which does not change its security), which computed them first; a
compiled kernel (`siphash_hex`, `pseudonymization._kernels`) now computes the same values
straight from the parts' Arrow buffers, ≈ 3x faster. Outputs are 64 bits (16 hex
characters): blocking keys only propose candidate pairs, and at 64 bits an accidental
collision among ten million distinct values has a probability of about 3·10⁻⁶ and would cost
one extra comparison. The SipHash keys are derived from the `person` purpose key with
HMAC-SHA256 (one per key space). Record pseudonyms and the AZR key stay HMAC-SHA256
(`keyed_hash`). `siphash24_reference` is a plain-Python SipHash-2-4 against which the tests
pin the kernel and pandas (and the paper's test vector), so neither a pandas upgrade nor a
kernel change could silently change every key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kiim.schema import (
    ADDRESS_CLK_COLUMN,
    ADDRESS_KEY_COLUMNS,
    BUILDING_KEY_COLUMNS,
    HOUSEHOLD_KEY_COLUMN,
)
from pseudonymization import clk_encode, cologne, combine, normalize_names, to_binary_array
from pseudonymization._arrow import index_rows, string_buffers
from pseudonymization.normalize import normalize_distinct
from pseudonymization.phonetic import cologne_words

SPACES: dict[str, tuple[str, ...]] = {
    "name_dob": ("lk_name_dob", "lk_birth_name_dob"),
    "phonetic": ("lk_phonetic", "lk_phonetic_swapped", "lk_birth_phonetic"),
    "dob_name": ("lk_dob_family", "lk_dob_given", "lk_dob_birth"),
    "names": ("lk_names",),
    "azr": ("lk_azr",),
    # address keys (`address_encodings`), written only by agencies that deliver an address
    "address": tuple(ADDRESS_KEY_COLUMNS),
    "building": tuple(BUILDING_KEY_COLUMNS),
    "household": (HOUSEHOLD_KEY_COLUMN,),
}
HEX_CHARS = 16
_MASK64 = (1 << 64) - 1


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
    """SipHash-2-4 of each value's UTF-8 bytes followed by pandas' 64-bit mixer (uint64),
    computed by pandas (`hash_array`).

    The link keys are computed by the compiled kernel (`keyed_key`, `keyed_combo`); this is
    the implementation they replaced, kept so the tests can pin the kernel to it. `values`
    is a sequence of str or bytes without nulls.
    """
    arr = np.asarray(values, dtype=object)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(
        arr, encoding="latin-1", hash_key=_as_pandas_key(key), categorize=False
    )


def _key_words(key: bytes) -> tuple[np.uint64, np.uint64]:
    """The two little-endian 64-bit halves of a 16-byte SipHash key."""
    if len(key) != 16:
        raise ValueError("a SipHash key has exactly 16 bytes")
    return np.uint64(int.from_bytes(key[:8], "little")), np.uint64(
        int.from_bytes(key[8:], "little")
    )


def siphash_hex(
    rows: list[np.ndarray], values: list[pa.Array], key: bytes, sep: str = "\x1f"
) -> pa.StringArray:
    """Keyed link key of each row as 16 lower-case hex characters, from its parts joined by
    `sep`: row i hashes values[0][rows[0][i]] sep values[1][rows[1][i]] ...; a row with a
    negative index (a null part) gives null.

    What pandas' `siphash64` gives for the joined strings (pinned by tests), but computed by
    a compiled kernel straight from the parts' Arrow buffers (`siphash_hex_columns`).
    """
    return siphash_hex_columns([(list(range(len(rows))), key)], rows, values, sep)[0]


def siphash_hex_columns(
    columns: Sequence[tuple[Sequence[int], bytes]],
    rows: Sequence[np.ndarray],
    values: Sequence[pa.Array],
    sep: str = "\x1f",
) -> list[pa.StringArray]:
    """`siphash_hex` of several key columns: column c joins the parts `columns[c][0]`
    (indices into `rows`) and hashes with the key `columns[c][1]`; rows[r] indexes the
    distinct values values[r] (-1: null). Part tables given as the same Arrow object are
    read once.

    The values of all parts are packed into 64-bit words once (`_kernels.pack_words`); a
    compiled kernel per column (`_kernels.siphash_join_hex`) assembles each row's message
    from them a word at a time, hashes 8-16 messages side by side and writes the hex and
    the Arrow offsets: no joined string array, no Python object per row.
    """
    from pseudonymization import _kernels

    tables: dict[int, int] = {}
    texts: list[pa.Array] = []
    longest: list[int] = []
    table_of = []
    for v in values:
        t = tables.get(id(v))
        if t is None:
            t = tables[id(v)] = len(texts)
            text = pc.cast(v, pa.string())
            texts.append(text)
            lengths = np.diff(string_buffers(text)[0]) if len(text) else np.zeros(1, np.int64)
            longest.append(int(lengths.max()))
        table_of.append(t)
    first_value = np.cumsum([0] + [len(t) for t in texts])
    n = len(rows[0])
    if any(len(r) != n for r in rows):
        raise ValueError("the parts differ in length")
    joined = {table_of[p] for parts, _ in columns if len(parts) > 1 for p in parts}
    for t in joined:
        offsets, buffer = string_buffers(texts[t])
        if (buffer[offsets[0] : offsets[-1]] == ord(sep)).any():
            # ("A|B", "C") and ("A", "B|C") would give the same key
            raise ValueError("a part contains the separator; normalise the parts first")
    offsets, buffer = string_buffers(pa.concat_arrays(texts) if len(texts) > 1 else texts[0])
    starts, words = _kernels.pack_words(offsets, buffer)
    out = []
    for parts, key in columns:
        k0, k1 = _key_words(key)
        base = np.array([first_value[table_of[p]] for p in parts], dtype=np.int64)
        max_len = len(parts) - 1 + sum(longest[table_of[p]] for p in parts)
        data = np.empty(n * HEX_CHARS, dtype=np.uint8)
        offsets32 = np.empty(n + 1, dtype=np.int32)
        part_rows = tuple(np.ascontiguousarray(rows[p], dtype=np.int64) for p in parts)
        _kernels.siphash_join_hex(
            k0, k1, part_rows, base, starts, words, offsets, ord(sep), max_len, data, offsets32
        )
        count = int(offsets32[n]) // HEX_CHARS
        nulls = n - count
        bitmap = None
        if nulls:
            valid = np.diff(offsets32) > 0
            bitmap = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
        buffers = [bitmap, pa.py_buffer(offsets32), pa.py_buffer(data[: count * HEX_CHARS])]
        out.append(pa.Array.from_buffers(pa.string(), n, buffers, null_count=nulls))
    return out


def keyed_key(values: Any, key: bytes, *, dedup: bool = False) -> pa.StringArray:
    """Keyed 64-bit link key per value as 16 lower-case hex characters; nulls stay null.

    `dedup=True` hashes each distinct value once (worth it only for values that repeat a
    lot: the kernel costs a few tens of ns per value).
    """
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - callers pass arrays
        arr = arr.combine_chunks()
    if dedup and len(arr):
        encoded = arr.dictionary_encode()
        return pc.take(keyed_key(encoded.dictionary, key), encoded.indices)
    rows = np.arange(len(arr), dtype=np.int64)
    if arr.null_count:
        rows[~pc.is_valid(arr).to_numpy(zero_copy_only=False)] = -1
    return siphash_hex([rows], [arr], key)


def first_words(names: pa.Array) -> pa.Array:
    """First word of each normalised name (null stays null)."""
    return on_distinct(names, _first_words)


def _first_words(names: pa.Array) -> pa.Array:
    offsets, data = string_buffers(names) if len(names) else (np.zeros(1, np.int64), None)
    if data is None or (data[offsets[0] : offsets[-1]] == ord("\n")).any():
        return pc.replace_substring_regex(names, " .*", "")  # "." stops at a line break
    # what the pattern removes: everything from the first space on (split is ≈ 5x faster)
    return pc.list_element(pc.split_pattern(names, " ", max_splits=1), 0)


def sorted_day_month(dob_iso: pa.Array) -> pa.Array:
    """YYYY-lo-hi with day and month in ascending order: 1990-03-04 and 1990-04-03 agree."""
    return on_distinct(dob_iso, _sorted_day_month)


def _sorted_day_month(dob_iso: pa.Array) -> pa.Array:
    n = len(dob_iso)
    offsets, data = string_buffers(dob_iso) if n else (np.zeros(1, np.int64), None)
    if data is not None and not dob_iso.null_count and (np.diff(offsets) == 10).all():
        chars = data[offsets[0] : offsets[-1]].reshape(n, 10)
        if chars.max() < 0x80:  # ASCII: code units are bytes; the rows as numpy, no slicing
            out = chars.copy()
            month = chars[:, 5].astype(np.uint16) << 8 | chars[:, 6]
            day = chars[:, 8].astype(np.uint16) << 8 | chars[:, 9]
            swap = ~(month < day)  # string order of two ASCII characters
            out[swap, 5:7] = chars[swap, 8:10]
            out[swap, 8:10] = chars[swap, 5:7]
            out[:, 4] = out[:, 7] = ord("-")
            offsets32 = np.arange(0, 10 * (n + 1), 10, dtype=np.int32)
            return pa.Array.from_buffers(
                pa.string(), n, [None, pa.py_buffer(offsets32), pa.py_buffer(out)]
            )
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

    Computed once per distinct first word, all of them in one batch (`cologne_words`).
    """

    def codes(distinct: pa.Array) -> pa.Array:
        folded = distinct
        for pattern, replacement in TRANSLITERATION_FOLDS:
            folded = pc.replace_substring(folded, pattern, replacement)
        return cologne_words(folded)

    return on_distinct(first_words(names), codes)


def sorted_pair(a: pa.Array, b: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(smaller, larger) of two string columns per row, so the order of a and b is lost."""
    a_first = pc.fill_null(pc.less_equal(a, b), True)
    return pc.if_else(a_first, a, b), pc.if_else(a_first, b, a)


def null_where_equal(values: pa.Array, other: pa.Array) -> pa.Array:
    """`values`, but null where it equals `other` (a birth name equal to the family name)."""
    same = pc.fill_null(pc.equal(values, other), False)
    return pc.if_else(same, pa.scalar(None, values.type), values)


# ------------------------------------------------------------- distinct-value encoding


@dataclass(frozen=True)
class Coded:
    """A column as each row's index into its distinct values (-1: null).

    Names, codes and birth dates repeat a lot, so `link_encodings` derives everything once per
    distinct value (normalising, first words, phonetic codes, sorted dates) and builds each
    key once per distinct combination (`keyed_combo`): rows are touched only by integer
    gathers, never by per-row string work that a distinct value would repeat.
    """

    rows: np.ndarray
    values: pa.Array

    @classmethod
    def of(cls, column: pa.Array | pa.ChunkedArray) -> Coded:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        encoded = column.dictionary_encode()
        return cls(index_rows(encoded.indices), encoded.dictionary)

    def map(self, func: Callable[[pa.Array], pa.Array]) -> Coded:
        """`func` applied to the distinct values (its result may repeat or be null)."""
        return map_shared([self], func)[0]

    def where_not(self, mask: np.ndarray) -> Coded:
        """Null where `mask` is true."""
        return Coded(np.where(mask, -1, self.rows), self.values)

    def dictionary(self) -> pa.DictionaryArray:
        indices = pa.array(self.rows.astype(np.int32), mask=self.rows < 0)
        return pa.DictionaryArray.from_arrays(indices, self.values)

    def array(self) -> pa.Array:
        """The row-level column."""
        return pc.take(self.values, pa.array(self.rows, mask=self.rows < 0))


def map_shared(columns: list[Coded], func: Callable[[pa.Array], pa.Array]) -> list[Coded]:
    """`Coded.map` for columns over the same distinct values: `func` runs once."""
    result = func(columns[0].values)
    encoded = result.dictionary_encode()
    mapping = np.append(index_rows(encoded.indices), -1)  # int64: one gather per column
    return [Coded(mapping[c.rows], encoded.dictionary) for c in columns]


def normalised_names(*columns: pa.Array) -> list[Coded]:
    """Raw name columns as normalised names over ONE dictionary: equal names, equal index."""
    encoded = [Coded.of(c) for c in columns]
    # a raw value that occurs in several columns (a birth name is mostly a family name) is
    # normalised once
    raw = pa.concat_arrays([pc.cast(e.values, pa.string()) for e in encoded]).dictionary_encode()
    unified = normalize_distinct(raw.dictionary).dictionary_encode()
    normal = index_rows(unified.indices)
    mapping = normal[raw.indices.to_numpy(zero_copy_only=False)]
    out, lo = [], 0
    for e in encoded:
        count = len(e.values)
        out.append(Coded(np.append(mapping[lo : lo + count], -1)[e.rows], unified.dictionary))
        lo += count
    return out


def sorted_codes(a: Coded, b: Coded) -> tuple[Coded, Coded]:
    """`sorted_pair` for two columns over the same distinct values (string order)."""
    rank = np.empty(len(a.values), dtype=np.int64)
    rank[pc.sort_indices(a.values).to_numpy()] = np.arange(len(a.values))
    rank = np.append(rank, -1)
    a_first = (rank[a.rows] <= rank[b.rows]) | (a.rows < 0) | (b.rows < 0)  # as sorted_pair
    return (
        Coded(np.where(a_first, a.rows, b.rows), a.values),
        Coded(np.where(a_first, b.rows, a.rows), a.values),
    )


def keyed_combo(parts: list[Coded], key: bytes, sep: str = "\x1f") -> pa.StringArray:
    """`keyed_key(combine(*parts), key)` without building the joined strings.

    Rows with a null part give null. The kernel (`siphash_hex`) joins each row's parts from
    the distinct values' buffers while hashing; at a few tens of ns per row, searching for
    repeated combinations first (as before the kernel) would cost more than it saves.
    """
    return siphash_hex([p.rows for p in parts], [p.values for p in parts], key, sep)


def keyed_combos(
    columns: Sequence[tuple[Sequence[Coded], bytes]], sep: str = "\x1f"
) -> list[pa.StringArray]:
    """`keyed_combo` of several key columns in one kernel call (`siphash_hex_columns`): the
    distinct values of all parts are packed once, and a part shared by several columns (the
    same `Coded` object) is stacked once."""
    index: dict[int, int] = {}
    parts_of: list[Coded] = []
    specs = []
    for parts, key in columns:
        spec = []
        for p in parts:
            if id(p) not in index:
                index[id(p)] = len(parts_of)
                parts_of.append(p)
            spec.append(index[id(p)])
        specs.append((spec, key))
    return siphash_hex_columns(specs, [p.rows for p in parts_of], [p.values for p in parts_of], sep)


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


# ------------------------------------------------------------------------------- address

# Address filter: street and address supplement share one token space (an office that writes
# the building into the street column still matches). Unsalted: the filter exists
# to carry evidence where the birth date is wrong, so it must not be salted by the birth
# year, and a postcode salt would turn every postcode typo into a mismatch (docs/linkage.md).
ADDRESS_CLK_BITS = 1024
ADDRESS_CLK_K = 8
# German street suffix written long or short, joined or apart ("Bahnhofstraße", "Bahnhofstr.",
# "Bahnhof Str."); folded before keys and filter alike
_STREET_FOLDS = ((r"STRASSE\b", "STR"), (r" STR$", "STR"))


def house_numbers(values: pa.Array) -> pa.Array:
    """The house number of each value: first digit run plus an optional letter, upper case.

    "12a", "12 A", "Bahnhofstr. 12a" all give "12A"; a range "12-14" gives "12"; a value
    without digits gives null.
    """

    def extract(distinct: pa.Array) -> pa.Array:
        upper = pc.utf8_upper(distinct)
        parts = pc.extract_regex(upper, r"(?P<n>\d+)(?:\s*(?P<l>[A-Z])(?:[^A-Z]|$))?")
        number = pc.struct_field(parts, "n")
        letter = pc.fill_null(pc.struct_field(parts, "l"), "")
        return pc.binary_join_element_wise(pc.utf8_ltrim(number, "0"), letter, "")

    return on_distinct(values, extract)


def postcodes(values: pa.Array) -> pa.Array:
    """Digits of each postcode ("D-15907" -> "15907"); null when there are none."""
    digits = pc.replace_substring_regex(values, r"\D", "")
    return pc.if_else(pc.equal(digits, ""), pa.scalar(None, pa.string()), digits)


def street_names(values: pa.Array) -> pa.Array:
    """Normalised street name without the house number, with STRASSE/STR. folded to STR."""

    def fold(distinct: pa.Array) -> pa.Array:
        # the house number and a letter right after it ("12a", "12 b") are not the street
        without = pc.replace_substring_regex(distinct, r"\d+(?:\s*[A-Za-z](?:\W|$))?", " ")
        names = normalize_names(without)
        for pattern, replacement in _STREET_FOLDS:
            names = pc.replace_substring_regex(names, pattern, replacement)
        return names

    return on_distinct(values, fold)


def _place_codes(names: pa.Array, prefix: str = "") -> pa.Array:
    """Kölner Phonetik of a whole normalised street or place name (words joined), prefixed."""
    codes = [_word_code(w.replace(" ", "")) if w else None for w in names.to_pylist()]
    return pa.array([prefix + c if c else None for c in codes], type=pa.string())


def address_encodings(
    column: Callable[[str], pa.Array],
    person_key: bytes,
    bloom_key: bytes,
    family_code: pa.Array,
    given_code: pa.Array,
    dob_sorted: pa.Array,
) -> dict[str, pa.Array]:
    """Keyed address keys and the address Bloom filter of an agency that delivers an address.

    `column(field)` returns a canonical column of the identifying extract (nulls where the
    agency does not deliver it). The name codes and the day/month-sorted birth date are
    those of `link_encodings`, so an address key meets the same name in another record.

    * `lk_addr_family`, `lk_addr_given`: place + phonetic code of ONE name (one layout, so
      exchanged names still meet); `lk_addr_dob`: place + birth date. The place is the
      postcode, or the locality's code where no postcode is delivered. They propose pairs
      whose names or birth date are too damaged for the name keys.
    * `lk_street_family`, `lk_street_given`, `lk_street_dob`: the same with street code +
      house number (the building) as the place, for postcode typos.
    * `lk_building_postcode`, `lk_building_locality`: postcode (or locality code) + house
      number, no name and no date. They propose the pairs whose names AND date are damaged
      and whose street is misspelt or missing, and are compared as the `building` field
      (both agree, one, none). A key space of its own (`building`); the number is prefixed
      by "#", so the postcode and the locality layouts never meet.
    * `lk_household`: place + street + house number. Compared only (not a blocking key: it
      would pair everyone in a household); equal values mean "same address".
    * `lk_address_clk`: balanced, keyed-permutation Bloom filter over street and supplement
      (its own purpose key), for a Dice similarity that survives typos. Postcode and
      locality stay out of it, so an office that delivers only "street and number" (the
      social welfare office's accommodation) still scores high against the register.
    """

    def text(field: str) -> pa.Array:
        return pc.cast(column(field), pa.string())  # a config may type a number as integer

    street_raw = text("street")
    number = text("house_number")
    house = house_numbers(pc.if_else(pc.is_valid(number), number, street_raw))
    street = street_names(street_raw)
    # "L" + code: a locality's code never equals a postcode (digits only)
    locality_code = on_distinct(normalize_names(text("locality")), lambda d: _place_codes(d, "L"))
    postcode_digits = postcodes(text("postcode"))
    postcode = pc.coalesce(postcode_digits, locality_code)
    street_code = on_distinct(street, _place_codes)
    # street code and house number (the building) in place of the postcode: survives a
    # postcode typo. Joined by "#", which a postcode never contains, so a building value never
    # equals a postcode value in the shared layout "<place>|<code or date>".
    street_at = combine(street_code, house, sep="#")
    number_at = pc.binary_join_element_wise("#", house, "")  # "#12A"; null stays null
    k_addr = space_key(person_key, "address")
    k_house = space_key(person_key, "household")
    k_building = space_key(person_key, "building")
    out = {
        "lk_addr_family": keyed_key(combine(postcode, family_code), k_addr),
        "lk_addr_given": keyed_key(combine(postcode, given_code), k_addr),
        "lk_addr_dob": keyed_key(combine(postcode, dob_sorted), k_addr),
        "lk_street_family": keyed_key(combine(street_at, family_code), k_addr),
        "lk_street_given": keyed_key(combine(street_at, given_code), k_addr),
        "lk_street_dob": keyed_key(combine(street_at, dob_sorted), k_addr),
        "lk_building_postcode": keyed_key(combine(postcode_digits, number_at), k_building),
        "lk_building_locality": keyed_key(combine(locality_code, number_at), k_building),
        HOUSEHOLD_KEY_COLUMN: keyed_key(
            combine(postcode, pc.replace_substring(street, " ", ""), house), k_house
        ),
    }
    n = len(street)
    clk = clk_encode(
        street,
        text("address_extra"),
        pa.nulls(n, pa.string()),
        bloom_key,
        bits=ADDRESS_CLK_BITS,
        k=ADDRESS_CLK_K,
    )
    out[ADDRESS_CLK_COLUMN] = to_binary_array(clk)
    return out
