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
* pair and (salt, word) masks are kept per process and key (`_MaskCache`): the HMAC calls
  behind them (about 1 µs each in Python, two or three per pair) are the largest cost left.
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

from pseudonymization._arrow import to_string_array
from pseudonymization.keyed_hash import _midstates
from pseudonymization.normalize import normalize_distinct, normalize_name
from pseudonymization.phonetic import cologne, cologne_words

DEFAULT_BITS = 1024
DEFAULT_K = 10
_SALT_SEP = "\x1e"
_DOB_WEIGHT = 2
_MASK_CHUNK = 8192
_ROW_CHUNK = 4096
_GROUP_BLOCK = 512
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
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# largest code space for which `_distinct` uses a dense table instead of hashing
_DENSE_LIMIT = 1 << 22


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
    """Day, month and year of an ISO date (YYYY-MM-DD) as prefixed tokens; [] if not a date."""
    if value is None:
        return []
    v = value.strip()[:10]
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
    indices = values.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return indices, values.dictionary


def _remap(indices: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """indices[i] -> mapping[indices[i]], keeping -1."""
    return np.append(mapping, -1)[indices]


def _distinct(codes: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of non-negative integer codes below `space`, and each code's index.

    A dense table when `space` is small (a few ns per element), otherwise pandas' hash
    factorisation (imported lazily: pandas takes seconds to import).
    """
    if space <= _DENSE_LIMIT:
        present = np.zeros(space, dtype=bool)
        present[codes] = True
        distinct = np.flatnonzero(present)
        index = np.zeros(space, dtype=np.int32)
        index[distinct] = np.arange(len(distinct), dtype=np.int32)
        return distinct, index[codes].astype(np.int64)
    import pandas as pd

    labels, uniques = pd.factorize(codes)
    return np.asarray(uniques, dtype=np.int64), labels.astype(np.int64, copy=False)


def _string_buffers(arr: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (n + 1) and UTF-8 bytes of a string array."""
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    return offsets.astype(np.int64), data


def _csr(
    owners: np.ndarray, tokens: np.ndarray, n: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ptr, tokens) per owner 0..n-1, each owner's tokens distinct and sorted."""
    codes = np.unique(owners * width + tokens)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes // width, minlength=n), out=ptr[1:])
    return ptr, codes % width


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
    offsets, data = _string_buffers(words)
    lengths = np.diff(offsets)
    chars = data[offsets[0] : offsets[-1]].astype(np.int64) - 64
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
    padded = np.zeros(len(chars) + 2 * n, dtype=np.int64)
    padded[np.arange(len(chars)) + 2 * owner + 1] = chars
    pairs = padded[:-1] * 27 + padded[1:]
    starts = np.ones(len(pairs), dtype=bool)
    starts[(np.cumsum(lengths + 2) - 1)[:-1]] = False  # no bigram starts at a final pad
    codes = cologne_words(words)
    valid = pc.is_valid(codes).to_numpy(zero_copy_only=False)
    coded = codes.filter(valid).dictionary_encode()
    code_ids = np.array([vocab.add("P:" + c) for c in coded.dictionary.to_pylist()], np.int64)
    return _csr(
        np.concatenate(
            [np.repeat(np.arange(n, dtype=np.int64), lengths + 1), np.flatnonzero(valid)]
        ),
        np.concatenate([pairs[starts], code_ids[coded.indices.to_numpy(zero_copy_only=False)]]),
        n,
        vocab.size,
    )


def _date_tokens(dates: pa.StringArray, vocab: _Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of distinct date strings (no nulls) as CSR; plain ISO dates via numpy."""
    n = len(dates)
    if n == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    iso = pc.fill_null(pc.match_substring_regex(dates, _ISO_DATE), False)
    iso = iso.to_numpy(zero_copy_only=False)
    per_date: list[list[int]] = [[] for _ in range(n)] if not iso.all() else []
    other_idx = np.flatnonzero(~iso)
    others = dates.take(pa.array(other_idx)).to_pylist()
    for i, value in zip(other_idx.tolist(), others, strict=True):
        per_date[i] = [vocab.add(t) for t in date_tokens(value)]
    counts = np.where(iso, 3, 0)
    counts[other_idx] = [len(t) for t in (per_date[i] for i in other_idx.tolist())]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    tokens = np.zeros(int(ptr[-1]), dtype=np.int64)
    iso_idx = np.flatnonzero(iso)
    if len(iso_idx):
        offsets, data = _string_buffers(dates.take(pa.array(iso_idx)))
        digits = data[offsets[0] : offsets[-1]].reshape(-1, 10).astype(np.int64) - 48
        at = ptr[iso_idx]
        tokens[at] = _DAY0 + digits[:, 8] * 10 + digits[:, 9]
        tokens[at + 1] = _MONTH0 + digits[:, 5] * 10 + digits[:, 6]
        year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
        tokens[at + 2] = _YEAR0 + year
    for i in other_idx.tolist():
        tokens[ptr[i] : ptr[i + 1]] = per_date[i]
    return ptr, tokens


def _expand(
    ptr: np.ndarray, items: np.ndarray, owners: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each owner in `owners`, its CSR items: (position in `owners`, item) flattened."""
    counts = ptr[owners + 1] - ptr[owners]
    starts = np.cumsum(counts) - counts
    within = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    return np.repeat(np.arange(len(owners)), counts), items[np.repeat(ptr[owners], counts) + within]


class _Store:
    """Bit masks by integer code in one growing matrix (rows in insertion order).

    Codes are looked up with a pandas index (a C hash table): a Python dict is slow here,
    since codes that differ only in their high bits collide in its low-bit probing.
    """

    def __init__(self, words: int) -> None:
        self.codes = np.zeros(0, dtype=np.int64)
        self.masks = np.zeros((256, words), dtype=np.uint64)
        self._index: Any = None

    def __len__(self) -> int:
        return len(self.codes)

    def find(self, codes: np.ndarray) -> np.ndarray:
        """Row of each code, -1 where unknown."""
        if len(self.codes) == 0:
            return np.full(len(codes), -1, dtype=np.int64)
        if self._index is None:
            import pandas as pd

            self._index = pd.Index(self.codes)
        return np.asarray(self._index.get_indexer(codes), dtype=np.int64)

    def add(self, codes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Store masks under new (distinct, unknown) codes; their rows."""
        first, need = len(self.codes), len(self.codes) + len(codes)
        if need > len(self.masks):
            grown = np.zeros((max(need, 2 * len(self.masks)), self.masks.shape[1]), np.uint64)
            grown[:first] = self.masks[:first]
            self.masks = grown
        self.masks[first:need] = masks
        self.codes = np.concatenate([self.codes, codes])
        self._index = None
        return np.arange(first, need)


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
        pos_key, perm_key = _subkeys(key)
        self.inner, self.outer = _midstates(pos_key)
        self.k, self.balance = k, balance
        self.m = bits // 2 if balance else bits
        self.perm = _permutation(perm_key, bits) if balance else np.arange(bits)
        complement = np.zeros(bits, dtype=bool)
        complement[self.perm[self.m :]] = True
        # the complement positions: XOR-ed into every non-empty balanced row
        self.flip = np.packbits(complement, bitorder="little").view("<u8").astype(np.uint64)
        self.vocab = _Vocabulary()
        self.salts: dict[str, int] = {}
        self.words: dict[bytes, int] = {}
        self.word_key = os.urandom(16)
        self.pairs = _Store(bits // 64)  # salt id << 32 | token id
        self.word_masks = _Store(bits // 64)  # salt id << 32 | word id
        self.lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self.pairs) + len(self.word_masks)

    def salt_ids(self, salts: list[str]) -> np.ndarray:
        return np.array([self.salts.setdefault(s, len(self.salts)) for s in salts], np.int64)

    def word_codes(
        self, salts: list[str], words: list[str], sw_salt: np.ndarray, sw_word: np.ndarray
    ) -> np.ndarray:
        """One code per (salt, word) of this call, stable across calls.

        Words are known by a keyed digest, not kept in clear: the table outlives the call.
        """
        known, key = self.words, self.word_key
        word_ids = np.array(
            [
                known.setdefault(
                    hashlib.blake2b(w.encode(), key=key, digest_size=16).digest(), len(known)
                )
                for w in words
            ],
            dtype=np.int64,
        )
        return (self.salt_ids(salts)[sw_salt] << 32) | word_ids[sw_word]

    def pair_rows(
        self, salts: list[str], vocab: _Vocabulary, pair_salt: np.ndarray, pair_token: np.ndarray
    ) -> np.ndarray:
        """Row in `pairs.masks` of each (salt index, call token id) pair; unseen pairs get
        their positions computed and stored."""
        token_ids = np.arange(vocab.size, dtype=np.int64)
        token_ids[_EXTRA0:] = [self.vocab.add(t) for t in vocab.extra_tokens]
        codes = (self.salt_ids(salts)[pair_salt] << 32) | token_ids[pair_token]
        found = self.pairs.find(codes)
        missing = np.flatnonzero(found < 0)
        if len(missing):
            # messages salt || separator || token as UTF-8, built from the few distinct salts
            # and tokens rather than once per pair
            tokens, token_of = np.unique(pair_token[missing], return_inverse=True)
            token_text = [vocab.token(t) for t in tokens.tolist()]
            token_bytes = [t.encode("utf-8") for t in token_text]
            prefixes = [(s + _SALT_SEP).encode("utf-8") for s in salts]
            messages = [
                prefixes[s] + token_bytes[t]
                for s, t in zip(pair_salt[missing].tolist(), token_of.tolist(), strict=True)
            ]
            token_k = np.array([_token_k(t, self.k) for t in token_text], dtype=np.int64)
            masks = self._masks(messages, token_k[token_of])
            found[missing] = self.pairs.add(codes[missing], masks)
        return found

    def _masks(self, messages: list[bytes], ks: np.ndarray) -> np.ndarray:
        """Mask of each message: the bits of its positions (inner and complement)."""
        out = np.zeros((len(messages), self.pairs.masks.shape[1]), dtype=np.uint64)
        for lo in range(0, len(messages), _MASK_CHUNK):
            chunk, chunk_ks = messages[lo : lo + _MASK_CHUNK], ks[lo : lo + _MASK_CHUNK]
            for kk in np.unique(chunk_ks).tolist():
                sel = np.flatnonzero(chunk_ks == kk)
                positions = _positions(self.inner, self.outer, [chunk[i] for i in sel], kk, self.m)
                target = np.zeros((len(sel), out.shape[1]), dtype=np.uint64)
                rows = np.arange(len(sel))
                for half in (0, self.m) if self.balance else (0,):
                    placed = self.perm[positions + half]
                    for c in range(kk):
                        q = placed[:, c]
                        bit = np.left_shift(np.uint64(1), (q & 63).astype(np.uint64))
                        target[rows, q >> 6] |= bit
                out[lo + sel] = target
        return out


def _positions(inner: Any, outer: Any, messages: list[bytes], k: int, m: int) -> np.ndarray:
    """The k bit positions in [0, m) of each (UTF-8) message, shape (len(messages), k).

    Position i of a message is the i-th big-endian 32-bit word of the concatenated blocks
    HMAC(pos_key, msg || 0), HMAC(pos_key, msg || 1), ..., taken modulo m. The HMAC is
    computed from the key's two pad midstates (keyed_hash explains why).
    """
    blocks = (k + 7) // 8
    suffixes = [bytes([j]) for j in range(blocks)]
    out: list[bytes] = []
    append = out.append
    copy_inner, copy_outer = inner.copy, outer.copy
    for message in messages:
        for suffix in suffixes:
            h = copy_inner()
            h.update(message + suffix)
            o = copy_outer()
            o.update(h.digest())
            append(o.digest())
    words = np.frombuffer(b"".join(out), dtype=">u4").reshape(len(messages), blocks * 8)
    return words[:, :k].astype(np.int64) % m


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


def _or_groups(masks: np.ndarray, ptr: np.ndarray, items: np.ndarray) -> np.ndarray:
    """OR of `masks[items[ptr[g]:ptr[g+1]]]` for each group g, plus a final all-zero group.

    Groups are visited in order of decreasing size, in blocks that stay in the CPU cache;
    within a block, step j ORs the j-th item into a prefix of them: one numpy gather per
    item slot instead of one per group (about 3x faster than `np.bitwise_or.reduceat`).
    """
    counts = np.diff(ptr)
    out = np.zeros((len(counts) + 1, masks.shape[1]), dtype=np.uint64)
    nonempty = np.flatnonzero(counts)
    if len(nonempty) == 0:
        return out
    order = nonempty[np.argsort(-counts[nonempty], kind="stable")]
    sizes, starts = counts[order], ptr[order]
    block = min(_GROUP_BLOCK, len(order))
    acc = np.empty((block, masks.shape[1]), dtype=np.uint64)
    gathered = np.empty_like(acc)
    for lo in range(0, len(order), block):
        hi = min(lo + block, len(order))
        block_sizes, block_starts = sizes[lo:hi], starts[lo:hi]
        into = acc[: hi - lo]
        np.take(masks, items[block_starts], axis=0, out=into)
        for j in range(1, int(block_sizes[0])):
            n = int(np.count_nonzero(block_sizes > j))
            np.take(masks, items[block_starts[:n] + j], axis=0, out=gathered[:n])
            np.bitwise_or(into[:n], gathered[:n], out=into[:n])
        out[order[lo:hi]] = into
    return out


def _groups(
    salt_idx: np.ndarray, rows_values: list[np.ndarray], n_values: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct (salt, value) over several columns: per column each row's group (-1 none),
    and the groups' salts and values."""
    nv = max(n_values, 1)
    codes = [salt_idx[r >= 0] * nv + r[r >= 0] for r in rows_values]
    distinct, inverse = _distinct(np.concatenate(codes), (int(salt_idx.max(initial=0)) + 1) * nv)
    out, lo = [], 0
    for r, c in zip(rows_values, codes, strict=True):
        g = np.full(len(r), -1, dtype=np.int64)
        g[r >= 0] = inverse[lo : lo + len(c)]
        lo += len(c)
        out.append(g)
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

    Returns:
        uint8 array of shape (n, bits // 8). A record without any usable input is all zeros
        (also when balanced), so `dice` gives 0 against it instead of a spurious match.
    """
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
    normalised: list[pa.Array] = []
    for _, distinct in names:
        # columns over one dictionary (link_encodings passes its normalised names for all
        # three) are normalised once
        same = [n for (_, d), n in zip(names, normalised, strict=False) if d.equals(distinct)]
        if not same:
            same = [normalize_distinct(pc.cast(distinct, pa.string()))]
        normalised.append(same[0])
    unified = pa.concat_arrays(normalised).dictionary_encode()
    mapping = unified.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    name_rows, lo = [], 0
    for (rows, _), norm in zip(names, normalised, strict=True):
        name_rows.append(_remap(rows, mapping[lo : lo + len(norm)]))
        lo += len(norm)
    split = pc.split_pattern(unified.dictionary, " ")
    word_encoded = pc.list_flatten(split).dictionary_encode()
    name_ptr = np.asarray(split.offsets, dtype=np.int64)
    name_words = word_encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    word_ptr, word_tokens = _word_tokens(word_encoded.dictionary, vocab)
    date_ptr, date_tokens_ = _date_tokens(pc.cast(dates, pa.string()), vocab)
    date_rows = _remap(date_rows, np.where(np.diff(date_ptr) > 0, np.arange(len(dates)), -1))

    # (salt, name) and (salt, date) groups; (salt, word) groups below the name groups
    name_groups, ng_salt, ng_name = _groups(salt_idx, name_rows, len(unified.dictionary))
    (date_group,), dg_salt, dg_date = _groups(salt_idx, [date_rows], len(dates))
    owner, word = _expand(name_ptr, name_words, ng_name)
    n_words = max(len(word_ptr) - 1, 1)
    sw, sw_of_name_item = _distinct(ng_salt[owner] * n_words + word, len(salt_values) * n_words)
    sw_salt, sw_word = sw // n_words, sw % n_words

    def ptr_of(owners: np.ndarray, count: int) -> np.ndarray:
        ptr = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(np.bincount(owners, minlength=count), out=ptr[1:])
        return ptr

    with cache.lock:
        # (salt, word) masks known from earlier calls; the others from their pairs' masks
        word_strings = word_encoded.dictionary.to_pylist()
        sw_codes = cache.word_codes(salt_values, word_strings, sw_salt, sw_word)
        sw_rows = cache.word_masks.find(sw_codes)
        new_sw = np.flatnonzero(sw_rows < 0)
        sw_owner, sw_token = _expand(word_ptr, word_tokens, sw_word[new_sw])
        d_owner, d_token = _expand(date_ptr, date_tokens_, dg_date)
        # distinct (salt, token) pairs -> cached masks; token ids are made dense first (most
        # of the id space, e.g. years, is unused) to keep the pair space small
        used, dense_token = _distinct(np.concatenate([sw_token, d_token]), vocab.size)
        width = max(len(used), 1)
        pair_salt = np.concatenate([sw_salt[new_sw][sw_owner], dg_salt[d_owner]])
        pairs, pair_of_item = _distinct(pair_salt * width + dense_token, len(salt_values) * width)
        rows_of_pair = cache.pair_rows(salt_values, vocab, pairs // width, used[pairs % width])
        item_rows = rows_of_pair[pair_of_item]
        pair_masks = cache.pairs.masks
        if len(new_sw):
            masks = _or_groups(
                pair_masks, ptr_of(sw_owner, len(new_sw)), item_rows[: len(sw_owner)]
            )
            sw_rows[new_sw] = cache.word_masks.add(sw_codes[new_sw], masks[:-1])
        date_masks = _or_groups(
            pair_masks, ptr_of(d_owner, len(dg_date)), item_rows[len(sw_owner) :]
        )
        name_masks = _or_groups(
            cache.word_masks.masks, ptr_of(owner, len(ng_name)), sw_rows[sw_of_name_item]
        )

    prepared = [(np.where(g < 0, len(ng_name), g), name_masks) for g in name_groups]
    prepared.append((np.where(date_group < 0, len(dg_date), date_group), date_masks))
    empty = date_group < 0
    for g in name_groups:
        empty &= g < 0
    out = np.zeros((n, words), dtype=np.uint64)
    buffer = np.empty((min(n, _ROW_CHUNK), words), dtype=np.uint64)
    for lo in range(0, n, _ROW_CHUNK):
        hi = min(n, lo + _ROW_CHUNK)
        rows = out[lo:hi]
        gathered = buffer[: hi - lo]
        for row_group, group_masks in prepared:
            np.take(group_masks, row_group[lo:hi], axis=0, out=gathered)
            rows |= gathered
        if balance:
            rows ^= cache.flip
    out[empty] = 0
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
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(clks.tobytes())]
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
