"""Record-level keyed Bloom filters (cryptographic long-term keys, CLK; Schnell et al. 2009/2011).

One bit vector per record encodes its names and birth date so that similar records give
similar vectors (Dice coefficient) while the vector cannot be read back without the key.
Tokens per record:

* name bigrams (q = 2, padded with "_"): of the normalised family name, all given names and
  the birth name, in one shared token space, so a swapped family/given name (frequent for
  newcomers) still matches;
* Kölner Phonetik code of every name word ("P:662"), so transliterations agree more;
* birth date parts with field prefixes ("D:07", "M:03", "Y:1985"), weighted double because
  they are only three tokens but very discriminating.

Each token sets `k` (or 2k) bit positions derived from HMAC-SHA256 with a key: independent
keyed positions rather than the double-hashing scheme that Kroll & Steinmetzer (2015) broke.
Hardening (README.md says why): **salting** every token with a stable attribute (the caller
passes e.g. the birth year) and **balancing** (Schnell 2016): the filter of `bits/2` bits is
concatenated with its complement and the result permuted with a keyed permutation, so every
non-empty record has exactly `bits/2` ones and the Hamming weight no longer leaks the name
length or lets frequent bit patterns be mined (Christen et al. 2017/2018).

Vectorised (`clk_encode`; `clk_encode_reference` is the plain per-record definition, and
tests require both to be bit-identical). README.md ("Bloom-filter encodings") has the
details and measured figures; in short:

* tokens are integer ids per distinct word (a name's tokens are the union of its words');
* each distinct (salt, token) pair gets one mask with the positions of its inner bits and of
  their complements, so a balanced row is OR(masks) XOR (complement positions);
* masks are OR-ed per distinct (salt, word), then per distinct (salt, name), then per row;
* pair and (salt, word) masks are kept per process and key (`_MaskCache`);
* the loops that cannot be numpy operations are compiled kernels (`_kernels`: the HMACs
  behind the positions, 64 messages at a time; the OR gathers; the hash tables).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymization._arrow import index_rows, string_buffers, to_string_array
from pseudonymization.normalize import normalize_distinct, normalize_name
from pseudonymization.phonetic import cologne, cologne_words

DEFAULT_BITS = 1024
DEFAULT_K = 10
_SALT_SEP = "\x1e"
_DOB_WEIGHT = 2
# Masks kept per process, over all keys (128 bytes each at 1024 bits). A district month of
# 200 000 persons needs about 80 000 pair and 100 000 word masks; beyond this limit the cache
# starts again rather than grow.
CACHE_MAX_MASKS = 1 << 19

# Token ids: bigrams of "_A".."ZZ" (27 * 27), then fixed ranges for the date parts, then
# ids handed out per call for anything else (phonetic codes, unusual date strings).
_BIGRAM_CHARS = "_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DAY0 = 27 * 27
_MONTH0 = _DAY0 + 100
_YEAR0 = _MONTH0 + 100
_EXTRA0 = _YEAR0 + 10_000


def _subkeys(key: bytes) -> tuple[bytes, bytes]:
    """Keys for bit positions and for the balancing permutation (domain separation)."""
    if not isinstance(key, bytes | bytearray) or len(key) < 16:
        raise ValueError("key must be at least 16 bytes (use derive_key(master, 'bloom'))")
    positions = hmac.new(bytes(key), b"kiim/v1/bloom/positions", hashlib.sha256).digest()
    permutation = hmac.new(bytes(key), b"kiim/v1/bloom/permutation", hashlib.sha256).digest()
    return positions, permutation


def _check_shape(bits: int, k: int) -> None:
    if bits < 128 or bits % 128:
        raise ValueError(f"bits must be a positive multiple of 128, got {bits}")
    if not 1 <= k <= 64:
        raise ValueError(f"k must be between 1 and 64, got {k}")


def _permutation(perm_key: bytes, bits: int) -> np.ndarray:
    """Keyed permutation of bit positions: order of HMAC(perm_key, position).

    Built from HMAC rather than a numpy Generator because numpy does not promise stable
    Generator streams across versions, and pseudonyms must stay stable for years.
    """
    scores = [
        hmac.new(perm_key, i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(bits)
    ]
    return np.array(sorted(range(bits), key=scores.__getitem__), dtype=np.int64)


def name_tokens(value: str | None) -> list[str]:
    """Bigrams and phonetic codes of one name (normalised first); [] if nothing is left."""
    normalised = normalize_name(value)
    if normalised is None:
        return []
    padded = "_" + normalised.replace(" ", "_") + "_"
    tokens = {padded[i : i + 2] for i in range(len(padded) - 1)}
    codes = cologne(normalised)
    if codes:
        tokens.update("P:" + c for c in codes.split())
    return sorted(tokens)


def date_tokens(value: str | None) -> list[str]:
    """Day, month and year of an ISO date (YYYY-MM-DD) as prefixed tokens; [] if not a date.

    A partial date (YYYY-MM or YYYY: the day, or day and month, unknown) gives the parts it
    states, so it stays close to the full date of the same person.
    """
    if value is None:
        return []
    v = value.strip()[:10]
    if len(v) == 4 and v.isdigit():
        return ["Y:" + v]
    if len(v) == 7 and v[4] == "-" and (v[:4] + v[5:]).isdigit():
        return ["M:" + v[5:7], "Y:" + v[:4]]
    if len(v) != 10 or v[4] != "-" or v[7] != "-" or not (v[:4] + v[5:7] + v[8:]).isdigit():
        return []
    return ["D:" + v[8:10], "M:" + v[5:7], "Y:" + v[:4]]


def _token_k(token: str, k: int) -> int:
    return k * _DOB_WEIGHT if token[:2] in ("D:", "M:", "Y:") else k


class _Vocabulary:
    """Token id <-> token string (see the id ranges above)."""

    def __init__(self) -> None:
        self.extra: dict[str, int] = {}
        self.extra_tokens: list[str] = []

    def add(self, token: str) -> int:
        tid = self.extra.get(token)
        if tid is None:
            tid = self.extra[token] = _EXTRA0 + len(self.extra_tokens)
            self.extra_tokens.append(token)
        return tid

    @property
    def size(self) -> int:
        return _EXTRA0 + len(self.extra_tokens)

    def token(self, tid: int) -> str:
        if tid < _DAY0:
            return _BIGRAM_CHARS[tid // 27] + _BIGRAM_CHARS[tid % 27]
        if tid < _MONTH0:
            return f"D:{tid - _DAY0:02d}"
        if tid < _YEAR0:
            return f"M:{tid - _MONTH0:02d}"
        if tid < _EXTRA0:
            return f"Y:{tid - _YEAR0:04d}"
        return self.extra_tokens[tid - _EXTRA0]


def _encoded(values: Any) -> tuple[np.ndarray, pa.Array]:
    """(index per row, -1 for null; distinct values) of a column; reuses a dictionary."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (isinstance(values, pa.Array) and pa.types.is_dictionary(values.type)):
        values = values if isinstance(values, pa.Array) else to_string_array(values)
        values = values.dictionary_encode()
    indices = index_rows(values.indices)
    return indices, values.dictionary


def _remap(indices: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """indices[i] -> mapping[indices[i]], keeping -1."""
    return np.append(mapping, -1)[indices]


def _word_tokens(words: pa.StringArray, vocab: _Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of distinct words (A-Z only) as CSR: bigrams and the Kölner Phonetik code.

    A name's tokens are the union of its words' tokens: the space becomes "_" in the padded
    name, so "_ANNA_MARIA_" has exactly the bigrams of "_ANNA_" and "_MARIA_", and codes are
    per word anyway. Bigrams come from the string buffer: "_" -> 0, A-Z -> 1..26, bigram id
    = 27 * first + second.
    """
    n = len(words)
    if n == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    from pseudonymization import _kernels  # numba: imported when needed

    offsets, data = string_buffers(words)
    codes = cologne_words(words)
    valid = pc.is_valid(codes).to_numpy(zero_copy_only=False)
    coded = codes.filter(valid).dictionary_encode()
    code_ids = np.array([vocab.add("P:" + c) for c in coded.dictionary.to_pylist()], np.int64)
    code_of_word = np.full(n, -1, dtype=np.int64)
    code_of_word[valid] = code_ids[coded.indices.to_numpy(zero_copy_only=False)]
    # bigrams from the string buffer, then the code: a compiled loop (`_kernels.word_tokens`)
    return _kernels.word_tokens(offsets, data, code_of_word)


def _date_tokens(dates: pa.StringArray, vocab: _Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of distinct date strings (no nulls) as CSR.

    Dates of a fixed layout in ASCII digits (YYYY-MM-DD, and the partial YYYY-MM and YYYY)
    are read from the string buffer by a compiled loop (`_kernels.date_parts`), into the
    fixed id ranges (the tokens `date_tokens` gives for them, with the same text); anything
    else goes through `date_tokens` one value at a time.
    """
    n = len(dates)
    if n == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    from pseudonymization import _kernels  # numba: imported when needed

    offsets, data = string_buffers(dates)
    parts = _kernels.date_parts(offsets, data, _DAY0, _MONTH0, _YEAR0)
    counts = parts[:, 0].copy()
    other_idx = np.flatnonzero(counts == 0)
    others = [
        [vocab.add(t) for t in date_tokens(value)]
        for value in dates.take(pa.array(other_idx)).to_pylist()
    ]
    counts[other_idx] = [len(t) for t in others]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    # each fixed-layout date's ids in row order (others have none there: count 0)
    fixed = parts[:, 1:][np.arange(3) < parts[:, :1]]
    if not len(other_idx):
        return ptr, fixed
    tokens = np.empty(int(ptr[-1]), dtype=np.int64)
    tokens[np.repeat(parts[:, 0] > 0, counts)] = fixed
    for i, ids in zip(other_idx.tolist(), others, strict=True):
        tokens[ptr[i] : ptr[i + 1]] = ids
    return ptr, tokens


def _expand(
    ptr: np.ndarray, items: np.ndarray, owners: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each owner in `owners`, its CSR items: (position in `owners`, item) flattened
    (a compiled loop, `_kernels.expand`, instead of five numpy passes)."""
    from pseudonymization import _kernels  # numba: imported when needed

    as64 = np.ascontiguousarray
    return _kernels.expand(as64(ptr, np.int64), as64(items, np.int64), as64(owners, np.int64))


class _Store:
    """Bit masks by integer code in one growing matrix (rows in insertion order).

    Codes are looked up in a compiled open-addressing hash table (`_kernels.table_find`)
    that grows with the store, so a lookup never rebuilds an index over all codes.
    """

    def __init__(self, words: int, capacity: int = 256) -> None:
        self.count = 0
        # np.empty reserves address space only: pages are touched (and faulted in) as rows
        # are written, so a large capacity costs no memory and spares the copies of growing
        self.masks = np.empty((capacity, words), dtype=np.uint64)
        self._keys = np.full(1 << 10, -1, dtype=np.int64)
        self._rows = np.zeros(1 << 10, dtype=np.int64)

    def __len__(self) -> int:
        return self.count

    def find(self, codes: np.ndarray) -> np.ndarray:
        """Row of each code, -1 where unknown."""
        from pseudonymization import _kernels  # numba: imported when needed

        out = np.empty(len(codes), dtype=np.int64)
        _kernels.table_find(self._keys, self._rows, codes.astype(np.int64, copy=False), out)
        return out

    def reserve(self, count: int) -> np.ndarray:
        """`count` zeroed rows after the stored ones, for computing masks in place (no
        intermediate array); `add` their codes next."""
        first, need = self.count, self.count + count
        if need > len(self.masks):
            grown = np.empty((max(need, 2 * len(self.masks)), self.masks.shape[1]), np.uint64)
            grown[:first] = self.masks[:first]
            self.masks = grown
        block = self.masks[first:need]
        block[...] = 0
        return block

    def add(self, codes: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """Store masks under new (distinct, unknown) codes; their rows. Without `masks`, the
        rows just `reserve`d are taken as written."""
        from pseudonymization import _kernels  # numba: imported when needed

        first, need = self.count, self.count + len(codes)
        if masks is not None:
            self.reserve(len(codes))[...] = masks
        rows = np.arange(first, need, dtype=np.int64)
        codes = codes.astype(np.int64, copy=False)
        if 2 * need > len(self._keys):  # keep the load factor at most 1/2: rehash
            old = self._keys >= 0
            old_keys, old_rows = self._keys[old], self._rows[old]
            size = 1 << _kernels.table_bits(2 * need)
            self._keys = np.full(size, -1, dtype=np.int64)
            self._rows = np.zeros(size, dtype=np.int64)
            _kernels.table_insert(self._keys, self._rows, old_keys, old_rows)
        _kernels.table_insert(self._keys, self._rows, codes, rows)
        self.count = need
        return rows


class _MaskCache:
    """Bit masks under one key and filter layout, kept per process.

    Two tables: one per (salt, token) pair, from its HMAC positions, and one per (salt, word),
    the OR of its tokens' masks. A pair's mask has the output positions of the token's inner
    bits and, for balanced filters, of their complements (already permuted). Holding them
    costs nothing extra in secrecy: they are derived from the key, which the process holds
    anyway, and are never written out. Agencies encoded one after another share them (the
    register contains nearly everyone the other offices deliver).
    """

    def __init__(self, key: bytes, bits: int, k: int, balance: bool) -> None:
        from pseudonymization import _kernels  # numba: imported when needed

        pos_key, perm_key = _subkeys(key)
        self.midstates = _kernels.hmac_midstates(np.frombuffer(pos_key, dtype=np.uint8))
        self.k, self.balance = k, balance
        self.m = bits // 2 if balance else bits
        self.perm = _permutation(perm_key, bits) if balance else np.arange(bits)
        complement = np.zeros(bits, dtype=bool)
        complement[self.perm[self.m :]] = True
        # the complement positions: XOR-ed into every non-empty balanced row
        self.flip = np.packbits(complement, bitorder="little").view("<u8").astype(np.uint64)
        self.vocab = _Vocabulary()
        self.salts: dict[str, int] = {}
        self.words: dict[tuple[int, int], int] = {}
        key_words = np.frombuffer(os.urandom(32), dtype="<u8").astype(np.uint64)
        self.word_key = [(key_words[0], key_words[1]), (key_words[2], key_words[3])]
        self.pairs = _Store(bits // 64, CACHE_MAX_MASKS)  # salt id << 32 | token id
        self.word_masks = _Store(bits // 64, CACHE_MAX_MASKS)  # salt id << 32 | word id
        # the (salt, name) and (salt, date) masks of a call: rows reused from call to call,
        # so that only the largest call faults its pages in (address space only until then)
        self.scratch = np.empty((CACHE_MAX_MASKS, bits // 64), dtype=np.uint64)
        self.lock = threading.Lock()

    def scratch_rows(self, count: int) -> np.ndarray:
        """`count` zeroed rows of the scratch (valid until the next call; under `lock`)."""
        if count > len(self.scratch):
            self.scratch = np.empty((count, self.scratch.shape[1]), dtype=np.uint64)
        block = self.scratch[:count]
        block[...] = 0
        return block

    @property
    def size(self) -> int:
        return len(self.pairs) + len(self.word_masks)

    def salt_ids(self, salts: list[str]) -> np.ndarray:
        return np.array([self.salts.setdefault(s, len(self.salts)) for s in salts], np.int64)

    def word_codes(
        self, salts: list[str], words: pa.StringArray, sw_salt: np.ndarray, sw_word: np.ndarray
    ) -> np.ndarray:
        """One code per (salt, word) of this call, stable across calls.

        Words are known by a keyed 128-bit digest, not kept in clear: the table outlives the
        call. The digest is two SipHash-2-4 of the word under two random per-cache keys,
        computed for all words in one kernel call (`_kernels.siphash_values`).
        """
        from pseudonymization import _kernels  # numba: imported when needed

        offsets, data = string_buffers(words)
        digests = np.empty((2, len(words)), dtype=np.uint64)
        for half in range(2):
            k0, k1 = self.word_key[half]
            _kernels.siphash_values(k0, k1, offsets, data, digests[half])
        known = self.words
        pairs = zip(digests[0].tolist(), digests[1].tolist(), strict=True)
        word_ids = np.array([known.setdefault(p, len(known)) for p in pairs], dtype=np.int64)
        return (self.salt_ids(salts)[sw_salt] << 32) | word_ids[sw_word]

    def pair_rows(
        self, salts: list[str], vocab: _Vocabulary, pair_salt: np.ndarray, pair_token: np.ndarray
    ) -> np.ndarray:
        """Row in `pairs.masks` of each (salt index, call token id) pair; unseen pairs get
        their positions computed and stored."""
        from pseudonymization import _kernels  # numba: imported when needed

        token_ids = np.arange(vocab.size, dtype=np.int64)
        token_ids[_EXTRA0:] = [self.vocab.add(t) for t in vocab.extra_tokens]
        codes = (self.salt_ids(salts)[pair_salt] << 32) | token_ids[pair_token]
        found = self.pairs.find(codes)
        missing = np.flatnonzero(found < 0)
        if len(missing):
            # messages salt || separator || token as UTF-8, assembled by the kernel from the
            # few distinct salts and tokens rather than built once per pair in Python
            tokens, token_of = np.unique(pair_token[missing], return_inverse=True)
            token_text = [vocab.token(t) for t in tokens.tolist()]
            token_k = np.array([_token_k(t, self.k) for t in token_text], dtype=np.int64)
            masks = self.pairs.reserve(len(missing))  # written in place by the kernel
            prefix_offsets, prefix_data = string_buffers(
                pa.array([s + _SALT_SEP for s in salts], pa.string())
            )
            token_offsets, token_data = string_buffers(pa.array(token_text, pa.string()))
            _kernels.position_masks(
                self.midstates,
                prefix_offsets,
                prefix_data,
                pair_salt[missing].astype(np.int64),
                token_offsets,
                token_data,
                token_of.astype(np.int64),
                token_k[token_of],
                self.m,
                self.perm,
                self.balance,
                masks,
            )
            found[missing] = self.pairs.add(codes[missing])
        return found


_CACHES: dict[tuple[bytes, int, int, bool], _MaskCache] = {}
_CACHE_LOCK = threading.Lock()


def _mask_cache(key: bytes, bits: int, k: int, balance: bool) -> _MaskCache:
    with _CACHE_LOCK:
        if sum(c.size for c in _CACHES.values()) > CACHE_MAX_MASKS:
            _CACHES.clear()
        ident = (bytes(key), bits, k, balance)
        cache = _CACHES.get(ident)
        if cache is None:
            cache = _CACHES[ident] = _MaskCache(bytes(key), bits, k, balance)
        return cache


def clear_cache() -> None:
    """Forget all cached pair masks (tests, or a process that is done with a key)."""
    with _CACHE_LOCK:
        _CACHES.clear()


def _groups(
    salt_idx: np.ndarray, values: np.ndarray, n_values: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (salt, value) over several columns (`values`, shape (columns, rows), -1
    none): each row's group per column (same shape, -1 none), and the groups' salts and
    values; one compiled pass (`_kernels.factorize_groups`)."""
    from pseudonymization import _kernels  # numba: imported when needed

    nv = max(n_values, 1)
    distinct, out = _kernels.factorize_groups(salt_idx, values, nv)
    return out, distinct // nv, distinct % nv


def clk_encode(
    family: Any,
    given: Any,
    birth_date_iso: Any,
    key: bytes,
    *,
    salt: Any = None,
    birth_name: Any = None,
    bits: int = DEFAULT_BITS,
    k: int = DEFAULT_K,
    balance: bool = True,
    normalised: bool = False,
) -> np.ndarray:
    """Encode records as keyed, hardened, record-level Bloom filters.

    Args:
        family, given, birth_date_iso: columns of equal length (raw names are normalised
            here; dates as "YYYY-MM-DD" strings or Arrow dates). Nulls contribute nothing.
            Dictionary-encoded Arrow columns are used as they are (no second encoding).
        key: the Bloom purpose key (`derive_key(master, "bloom")`); position and
            permutation keys are derived from it.
        salt: optional column of a stable attribute (the pipeline passes the birth year);
            every token is hashed together with its row's salt, so equal names in different
            salt groups set unrelated bits. Null salt = unsalted.
        birth_name: optional column, encoded like the other names.
        bits: length of the output vector (multiple of 128).
        k: bit positions per name token (birth date tokens use 2k).
        balance: filter of bits/2 plus its complement, keyed permutation (see module doc).
        normalised: the name columns hold `normalize_names` output already (as in
            `link_encodings`), so they are not normalised a second time; normalising is
            idempotent, so the result is the same either way.

    Returns:
        uint8 array of shape (n, bits // 8). A record without any usable input is all zeros
        (also when balanced), so `dice` gives 0 against it instead of a spurious match.
    """
    from pseudonymization import _kernels  # numba: imported when needed

    _check_shape(bits, k)
    names = [_encoded(family), _encoded(given)]
    if birth_name is not None:
        names.append(_encoded(birth_name))
    dob = birth_date_iso
    if isinstance(dob, pa.ChunkedArray):
        dob = dob.combine_chunks()
    if isinstance(dob, pa.Array) and pa.types.is_temporal(dob.type):
        dob = pc.strftime(dob, format="%Y-%m-%d")
    date_rows, dates = _encoded(dob)
    n = len(date_rows)
    if any(len(rows) != n for rows, _ in names):
        raise ValueError("family, given, birth_date_iso (and salt, birth_name) differ in length")
    if salt is None:
        salt_values, salt_idx = [""], np.zeros(n, dtype=np.int64)
    else:
        salt_idx, distinct_salts = _encoded(salt)
        if len(salt_idx) != n:
            raise ValueError("salt differs in length from the other columns")
        salt_values = [*pc.cast(distinct_salts, pa.string()).to_pylist(), ""]
        salt_idx[salt_idx < 0] = len(salt_values) - 1
    cache = _mask_cache(key, bits, k, balance)
    words = bits // 64
    if n == 0:
        return np.zeros((0, bits // 8), dtype=np.uint8)
    vocab = _Vocabulary()

    # names of all name columns in one dictionary of normalised names, split into words
    columns: list[pa.Array] = []
    for _, distinct in names:
        # columns over one dictionary (link_encodings passes its normalised names for all
        # three) are normalised once
        same = [n for (_, d), n in zip(names, columns, strict=False) if d.equals(distinct)]
        if not same:
            text = pc.cast(distinct, pa.string())
            same = [text if normalised else normalize_distinct(text)]
        columns.append(same[0])
    # a shared dictionary enters once (same order of first appearance, so the same result)
    blocks = [c for i, c in enumerate(columns) if all(c is not d for d in columns[:i])]
    unified = pa.concat_arrays(blocks).dictionary_encode()
    mapping = index_rows(unified.indices)
    starts = np.cumsum([0] + [len(b) for b in blocks]).tolist()
    name_rows = np.empty((len(names), n), dtype=np.int64)
    for (rows, _), norm, to in zip(names, columns, name_rows, strict=True):
        b = next(i for i, c in enumerate(blocks) if c is norm)
        np.take(np.append(mapping[starts[b] : starts[b + 1]], -1), rows, out=to)  # -1 stays
    split = pc.split_pattern(unified.dictionary, " ")
    word_encoded = pc.list_flatten(split).dictionary_encode()
    name_ptr = np.asarray(split.offsets, dtype=np.int64)
    name_words = word_encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    date_ptr, date_tokens_ = _date_tokens(pc.cast(dates, pa.string()), vocab)
    date_rows = _remap(date_rows, np.where(np.diff(date_ptr) > 0, np.arange(len(dates)), -1))

    # (salt, name) and (salt, date) groups; (salt, word) groups below the name groups
    name_groups, ng_salt, ng_name = _groups(salt_idx, name_rows, len(unified.dictionary))
    date_group, dg_salt, dg_date = _groups(salt_idx, date_rows[None, :], len(dates))
    owner, word = _expand(name_ptr, name_words, ng_name)
    n_words = max(len(word_encoded.dictionary), 1)
    none = np.zeros(0, dtype=np.int64)
    sw, sw_of_name_item = _kernels.factorize_pairs(ng_salt, owner, word, none, none, none, n_words)
    sw_salt, sw_word = sw // n_words, sw % n_words

    def ptr_of(owners: np.ndarray, count: int) -> np.ndarray:
        ptr = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(np.bincount(owners, minlength=count), out=ptr[1:])
        return ptr

    with cache.lock:
        # (salt, word) masks known from earlier calls; the others from their pairs' masks
        sw_codes = cache.word_codes(salt_values, word_encoded.dictionary, sw_salt, sw_word)
        sw_rows = cache.word_masks.find(sw_codes)
        new_sw = np.flatnonzero(sw_rows < 0)
        # tokens only of the words that still need a mask (later agencies and months find
        # most (salt, word) masks in the cache)
        needed, needed_of_sw = np.unique(sw_word[new_sw], return_inverse=True)
        word_ptr, word_tokens = _word_tokens(
            word_encoded.dictionary.take(pa.array(needed, pa.int64())), vocab
        )
        sw_owner, sw_token = _expand(word_ptr, word_tokens, needed_of_sw.astype(np.int64))
        d_owner, d_token = _expand(date_ptr, date_tokens_, dg_date)
        # distinct (salt, token) pairs -> cached masks; one compiled pass over the items
        # (`_kernels.factorize_pairs`, a hash table: the sparse token ids need no dense
        # renumbering first)
        width = vocab.size
        pairs, pair_of_item = _kernels.factorize_pairs(
            sw_salt[new_sw], sw_owner, sw_token, dg_salt, d_owner, d_token, width
        )
        rows_of_pair = cache.pair_rows(salt_values, vocab, pairs // width, pairs % width)
        item_rows = np.take(rows_of_pair, pair_of_item, out=pair_of_item)
        pair_masks = cache.pairs.masks
        if len(new_sw):  # OR-ed straight into the cache's rows
            _kernels.or_groups(
                pair_masks,
                ptr_of(sw_owner, len(new_sw)),
                item_rows[: len(sw_owner)],
                cache.word_masks.reserve(len(new_sw)),
            )
            sw_rows[new_sw] = cache.word_masks.add(sw_codes[new_sw])
        # OR-ed per group into the cache's scratch rows (no fresh pages after the largest
        # call), then per row into the output
        group_masks = cache.scratch_rows(len(dg_date) + len(ng_name))
        date_masks, name_masks = group_masks[: len(dg_date)], group_masks[len(dg_date) :]
        date_items = item_rows[len(sw_owner) :]
        _kernels.or_groups(pair_masks, ptr_of(d_owner, len(dg_date)), date_items, date_masks)
        name_items = sw_rows[sw_of_name_item]
        word_masks = cache.word_masks.masks
        _kernels.or_groups(word_masks, ptr_of(owner, len(ng_name)), name_items, name_masks)
        out = np.zeros((n, words), dtype=np.uint64)
        _kernels.or_rows(
            name_groups, name_masks, date_group[0], date_masks, cache.flip, balance, out
        )
    return out.astype("<u8", copy=False).view(np.uint8).reshape(n, bits // 8)


def clk_encode_reference(
    family: Any,
    given: Any,
    birth_date_iso: Any,
    key: bytes,
    *,
    salt: Any = None,
    birth_name: Any = None,
    bits: int = DEFAULT_BITS,
    k: int = DEFAULT_K,
    balance: bool = True,
) -> np.ndarray:
    """Straightforward per-record implementation of `clk_encode` (for tests and benchmarks)."""
    _check_shape(bits, k)
    pos_key, perm_key = _subkeys(key)
    perm = _permutation(perm_key, bits) if balance else np.arange(bits)
    m = bits // 2 if balance else bits
    cols = [to_string_array(family).to_pylist(), to_string_array(given).to_pylist()]
    if birth_name is not None:
        cols.append(to_string_array(birth_name).to_pylist())
    dob = birth_date_iso
    if isinstance(dob, pa.ChunkedArray | pa.Array) and pa.types.is_temporal(dob.type):
        dob = pc.strftime(dob, format="%Y-%m-%d")
    dates = to_string_array(dob).to_pylist()
    salts = [None] * len(dates) if salt is None else to_string_array(salt).to_pylist()
    out = np.zeros((len(dates), bits // 8), dtype=np.uint8)
    for row in range(len(dates)):
        tokens: set[str] = set()
        for col in cols:
            tokens.update(name_tokens(col[row]))
        tokens.update(date_tokens(dates[row]))
        if not tokens:
            continue
        row_salt = salts[row] or ""
        inner = np.zeros(m, dtype=bool)
        for token in tokens:
            kt = _token_k(token, k)
            msg = (row_salt + _SALT_SEP + token).encode("utf-8")
            words: list[int] = []
            for j in range((kt + 7) // 8):
                d = hmac.new(pos_key, msg + bytes([j]), hashlib.sha256).digest()
                words += [int.from_bytes(d[i : i + 4], "big") for i in range(0, 32, 4)]
            for w in words[:kt]:
                inner[w % m] = True
        full = np.concatenate([inner, ~inner]) if balance else inner
        placed = np.zeros(bits, dtype=bool)
        placed[perm] = full
        out[row] = np.packbits(placed, bitorder="little")
    return out


def to_binary_array(clks: np.ndarray, *, null_if_empty: bool = True) -> pa.BinaryArray:
    """One Arrow binary value per row (for the `clk` Parquet column).

    All-zero rows (records without usable input) become null unless `null_if_empty=False`.
    """
    clks = np.ascontiguousarray(clks, dtype=np.uint8)
    if clks.ndim != 2:
        raise ValueError("expected a 2-d array of shape (n, bytes)")
    n, width = clks.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(clks)]  # no copy of the filters
    if null_if_empty:
        valid = (clks.view(np.uint64) if width % 8 == 0 else clks).any(axis=1)
        if not valid.all():
            buffers[0] = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
            return pa.Array.from_buffers(pa.binary(), n, buffers, null_count=int(n - valid.sum()))
    return pa.Array.from_buffers(pa.binary(), n, buffers)


def from_binary_array(values: Any, bits: int = DEFAULT_BITS) -> np.ndarray:
    """Inverse of `to_binary_array`: nulls become all-zero rows."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not isinstance(arr, pa.Array):
        arr = pa.array(values, type=pa.binary())
    width = bits // 8
    filled = arr.fill_null(b"\0" * width)
    data = b"".join(filled.to_pylist())
    if len(data) != len(arr) * width:
        raise ValueError(f"values are not all {width} bytes long")
    return np.frombuffer(data, dtype=np.uint8).reshape(len(arr), width).copy()


def dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Dice coefficient 2|A∧B| / (|A| + |B|) of packed bit vectors (broadcasts).

    Two empty vectors give 0.0 (no evidence, not a perfect match).
    """
    a = np.asarray(a, dtype=np.uint8)
    b = np.asarray(b, dtype=np.uint8)
    both = np.bitwise_count(a & b).sum(axis=-1, dtype=np.int64)
    total = np.bitwise_count(a).sum(axis=-1, dtype=np.int64) + np.bitwise_count(b).sum(
        axis=-1, dtype=np.int64
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where(total > 0, 2.0 * both / np.maximum(total, 1), 0.0)
    return result
