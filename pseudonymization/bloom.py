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

Vectorised: positions and bit masks are computed once per distinct (salt, token), masks are
OR-ed once per distinct (salt, field value), and rows are assembled with numpy gathers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymization._arrow import distinct_indices, to_string_array
from pseudonymization.keyed_hash import _digest_loop, _midstates
from pseudonymization.normalize import normalize_name
from pseudonymization.phonetic import cologne

DEFAULT_BITS = 1024
DEFAULT_K = 10
_SALT_SEP = "\x1e"
_DOB_WEIGHT = 2
_MASK_CHUNK = 8192
_ROW_CHUNK = 16384


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


def _token_positions(pos_key: bytes, messages: Sequence[str], ks: np.ndarray, m: int) -> list:
    """Per message, its k bit positions in [0, m).

    Position i of a message is the i-th big-endian 32-bit word of the concatenated blocks
    HMAC(pos_key, msg || 0), HMAC(pos_key, msg || 1), ..., taken modulo m.
    """
    inner, outer = _midstates(pos_key)
    blocks = (ks + 7) // 8
    parts = [
        msg.encode("utf-8") + bytes([j])
        for msg, nb in zip(messages, blocks.tolist(), strict=True)
        for j in range(nb)
    ]
    words = np.frombuffer(_digest_loop(parts, inner, outer), dtype=">u4").astype(np.int64) % m
    starts = np.concatenate([[0], np.cumsum(blocks * 8)[:-1]])
    return [words[s : s + k] for s, k in zip(starts.tolist(), ks.tolist(), strict=True)]


class _Encoder:
    """Registers distinct (salt, token) pairs and turns them into bit masks.

    A pair's mask has shape (halves, bits/64): half 0 holds the output positions its k inner
    bits land on, half 1 (balanced filters only) the positions of their complements, which
    must end up cleared. Both are already permuted, so rows never need a bit permutation.
    """

    def __init__(self, key: bytes, bits: int, k: int, balance: bool) -> None:
        self.pos_key, perm_key = _subkeys(key)
        self.bits, self.k, self.balance = bits, k, balance
        self.halves = 2 if balance else 1
        self.m = bits // 2 if balance else bits
        self.perm = _permutation(perm_key, bits) if balance else np.arange(bits)
        self.pair_ids: dict[str, int] = {}
        self.pair_k: list[int] = []

    def register(self, salts: list[str], tokens: list[str]) -> np.ndarray:
        """Global ids of (salt, token) pairs, adding unseen ones."""
        ids = np.empty(len(tokens), dtype=np.int64)
        known = self.pair_ids
        for i, (salt, token) in enumerate(zip(salts, tokens, strict=True)):
            message = salt + _SALT_SEP + token
            pid = known.get(message)
            if pid is None:
                pid = known[message] = len(known)
                self.pair_k.append(_token_k(token, self.k))
            ids[i] = pid
        return ids

    def masks(self) -> np.ndarray:
        """Masks of all registered pairs, shape (pairs, halves, bits/64) uint64."""
        words = self.bits // 64
        out = np.zeros((len(self.pair_ids), self.halves, words), dtype=np.uint64)
        if not self.pair_ids:
            return out
        ks = np.array(self.pair_k, dtype=np.int64)
        positions = _token_positions(self.pos_key, list(self.pair_ids), ks, self.m)
        for lo in range(0, len(positions), _MASK_CHUNK):
            chunk = positions[lo : lo + _MASK_CHUNK]
            rows = np.repeat(np.arange(len(chunk)), [len(p) for p in chunk])
            pos = np.concatenate(chunk)
            for half in range(self.halves):
                dense = np.zeros((len(chunk), self.bits), dtype=bool)
                dense[rows, self.perm[pos + half * self.m]] = True
                packed = np.packbits(dense, axis=1, bitorder="little")
                out[lo : lo + len(chunk), half] = packed.view("<u8")
        return out


def _factorize(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct codes (order of appearance) and each element's index into them.

    pandas' hash-based factorize is about twice as fast as Arrow's dictionary encoding and
    six times as fast as np.unique here; imported lazily because importing pandas takes
    seconds and most users of this package never encode Bloom filters.
    """
    import pandas as pd

    labels, uniques = pd.factorize(codes)
    return np.asarray(uniques, dtype=np.int64), labels.astype(np.int64, copy=False)


class _Field:
    """One input column reduced to distinct (salt, value) groups and their token pairs.

    `row_group[i]` is the group of row i, or the extra last group (an all-zero mask) for rows
    without tokens, so rows can be assembled with plain gathers.
    """

    def __init__(
        self,
        enc: _Encoder,
        salt_values: list[str],
        salt_idx: np.ndarray,
        values: pa.StringArray,
        tokenize: Callable[[str | None], list[str]],
    ) -> None:
        distinct, idx = distinct_indices(values)
        vocab: dict[str, int] = {}
        value_tokens = [[vocab.setdefault(t, len(vocab)) for t in tokenize(v)] for v in distinct]
        ntok = np.array([len(t) for t in value_tokens] + [0], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(ntok[:-1])]).astype(np.int64)
        flat_vocab = np.fromiter((t for ts in value_tokens for t in ts), dtype=np.int64)
        # rows whose value has tokens (null rows have idx -1 and hit the trailing 0)
        rows = np.flatnonzero(ntok[idx] > 0)
        nv = max(len(distinct), 1)
        groups, inverse = _factorize(salt_idx[rows] * nv + idx[rows])
        self.row_group = np.full(len(idx), len(groups), dtype=np.int64)
        self.row_group[rows] = inverse
        g_salt, g_val = groups // nv, groups % nv
        self.counts = ntok[g_val]
        self.starts = np.cumsum(self.counts) - self.counts
        within = np.arange(int(self.counts.sum())) - np.repeat(self.starts, self.counts)
        flat_tokens = flat_vocab[np.repeat(ptr[g_val], self.counts) + within]
        flat_salts = np.repeat(g_salt, self.counts)
        # distinct (salt, token) pairs of this field, registered once each
        nt = max(len(vocab), 1)
        pair_codes, pair_inverse = _factorize(flat_salts * nt + flat_tokens)
        words = list(vocab)
        ids = enc.register(
            [salt_values[c] for c in (pair_codes // nt).tolist()],
            [words[c] for c in (pair_codes % nt).tolist()],
        )
        self.flat_pairs = ids[pair_inverse]

    def group_masks(self, masks: np.ndarray) -> np.ndarray:
        """OR of the pair masks per group, plus a final all-zero group: (groups + 1, halves*W).

        Groups are visited in order of decreasing token count, so step j ORs the j-th token
        into a prefix of them: one numpy gather per token slot instead of one per group
        (about 3x faster than `np.bitwise_or.reduceat` here).
        """
        flat_masks = masks.reshape(len(masks), masks.shape[1] * masks.shape[2])
        out = np.zeros((len(self.counts) + 1, flat_masks.shape[1]), dtype=np.uint64)
        if len(self.counts):
            order = np.argsort(-self.counts, kind="stable")
            counts, starts = self.counts[order], self.starts[order]
            acc = flat_masks[self.flat_pairs[starts]]
            for j in range(1, int(counts[0])):
                k = int(np.count_nonzero(counts > j))
                acc[:k] |= flat_masks[self.flat_pairs[starts[:k] + j]]
            out[order] = acc
        return out


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
    fam = to_string_array(family)
    n = len(fam)
    columns = [(fam, name_tokens), (to_string_array(given), name_tokens)]
    if birth_name is not None:
        columns.append((to_string_array(birth_name), name_tokens))
    dob = birth_date_iso
    if isinstance(dob, pa.ChunkedArray | pa.Array) and pa.types.is_temporal(dob.type):
        dob = pc.strftime(dob, format="%Y-%m-%d")
    columns.append((to_string_array(dob), date_tokens))
    if any(len(c) != n for c, _ in columns):
        raise ValueError("family, given, birth_date_iso (and salt, birth_name) differ in length")
    if salt is None:
        salt_values, salt_idx = [""], np.zeros(n, dtype=np.int64)
    else:
        distinct_salts, salt_idx = distinct_indices(salt)
        if len(salt_idx) != n:
            raise ValueError("salt differs in length from the other columns")
        salt_values = [*distinct_salts, ""]
        salt_idx = np.where(salt_idx < 0, len(distinct_salts), salt_idx)

    enc = _Encoder(key, bits, k, balance)
    fields = [_Field(enc, salt_values, salt_idx, c, tok) for c, tok in columns]
    masks = enc.masks()
    words = bits // 64
    if balance:
        complement_half = np.zeros(bits, dtype=bool)
        complement_half[enc.perm[enc.m :]] = True
        p2 = np.packbits(complement_half, bitorder="little").view("<u8")
    prepared = []
    for f in fields:
        group_masks = f.group_masks(masks)  # 2-d: numpy gathers rows of 2-d arrays fastest
        if balance:
            # half 1 becomes "complement bits that stay set": P2 & ~(complements to clear),
            # so rows combine as OR over fields (half 0) | AND over fields (half 1)
            group_masks[:, words:] = p2 & ~group_masks[:, words:]
        prepared.append((f.row_group, len(group_masks) - 1, group_masks))
    out = np.empty((n, words), dtype=np.uint64)
    for lo in range(0, n, _ROW_CHUNK):
        hi = min(n, lo + _ROW_CHUNK)
        gathered = np.empty((hi - lo, enc.halves * words), dtype=np.uint64)
        ones = out[lo:hi]
        kept = np.full((hi - lo, words), np.iinfo(np.uint64).max, dtype=np.uint64)
        empty = np.ones(hi - lo, dtype=bool)
        for i, (row_group, no_group, group_masks) in enumerate(prepared):
            chunk_groups = row_group[lo:hi]
            empty &= chunk_groups == no_group
            np.take(group_masks, chunk_groups, axis=0, out=gathered)
            if i == 0:
                ones[:] = gathered[:, :words]
            else:
                ones |= gathered[:, :words]
            if balance:
                kept &= gathered[:, words:]
        if balance:
            ones |= kept
        ones[empty] = 0
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
        valid = clks.any(axis=1)
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
