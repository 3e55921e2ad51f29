"""Record-level keyed Bloom filters: equality with the reference, similarity behaviour, hardening."""

from __future__ import annotations

import hashlib
import hmac
import itertools

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymization import (
    _kernels,
    clk_encode,
    clk_encode_reference,
    derive_key,
    dice,
    from_binary_array,
    to_binary_array,
)
from pseudonymization import bloom as bloom_module
from pseudonymization.bench import synthetic_identities

KEY = derive_key(b"k" * 32, "bloom")
OTHER_KEY = derive_key(b"j" * 32, "bloom")

FAMILY = ["Hassan", "Hassan", "Al-Hassan", "Müller", "Schmidt", None, "Kovalenko", None]
GIVEN = ["Mohammed", "Muhammad", "Mohamed", "Hans Peter", "Anna", "Olena", "Oleksandr", None]
DOB = [
    "1985-03-07",
    "1985-03-07",
    "1985-03-07",
    "1970-01-01",
    "1985-03-07",
    None,
    "2001-12-24",
    None,
]
SALT = [d[:4] if d else None for d in DOB]


@pytest.mark.parametrize("balance", [True, False])
@pytest.mark.parametrize("salted", [True, False])
def test_vectorised_equals_reference(balance: bool, salted: bool) -> None:
    kwargs = {"salt": SALT if salted else None, "balance": balance, "birth_name": FAMILY[::-1]}
    fast = clk_encode(FAMILY, GIVEN, DOB, KEY, **kwargs)  # type: ignore[arg-type]
    ref = clk_encode_reference(FAMILY, GIVEN, DOB, KEY, **kwargs)  # type: ignore[arg-type]
    assert fast.dtype == np.uint8 and fast.shape == (len(FAMILY), 128)
    assert np.array_equal(fast, ref)


def test_cold_and_warm_cache_equal_the_reference() -> None:
    data = synthetic_identities(300, seed=3)
    args = (data["family"], data["given"], data["birth_date"], KEY)
    salt = pa.compute.utf8_slice_codeunits(data["birth_date"], 0, 4)
    expected = clk_encode_reference(*args, salt=salt)
    bloom_module.clear_cache()  # masks built by the compiled kernels here
    assert np.array_equal(clk_encode(*args, salt=salt), expected)
    assert np.array_equal(clk_encode(*args, salt=salt), expected)  # from the cache


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=130), max_size=150), st.binary(min_size=16, max_size=64))
def test_hmac_kernel_equals_hmac(messages: list[bytes], key: bytes) -> None:
    # the kernel behind the Bloom positions (any length: one, two and more SHA-256 blocks)
    offsets = np.zeros(len(messages) + 1, dtype=np.int64)
    np.cumsum([len(m) for m in messages], out=offsets[1:])
    data = np.frombuffer(b"".join(messages), dtype=np.uint8)
    out = np.zeros((len(messages), 8), dtype=np.uint32)
    _kernels.hmac_sha256(_kernels.hmac_midstates(np.frombuffer(key, np.uint8)), offsets, data, out)
    assert [row.astype(">u4").tobytes() for row in out] == [
        hmac.new(key, m, hashlib.sha256).digest() for m in messages
    ]


def test_same_input_same_key_is_deterministic() -> None:
    a = clk_encode(FAMILY, GIVEN, DOB, KEY, salt=SALT)
    b = clk_encode(list(FAMILY), list(GIVEN), pa.array(DOB), KEY, salt=pa.array(SALT))
    assert np.array_equal(a, b)
    # a record encodes the same alone as inside a batch
    single = clk_encode(FAMILY[:1], GIVEN[:1], DOB[:1], KEY, salt=SALT[:1])
    assert np.array_equal(single[0], a[0])


def test_arrow_dates_equal_iso_strings() -> None:
    dates = pa.array(DOB, pa.string()).cast(pa.date32())
    assert np.array_equal(
        clk_encode(FAMILY, GIVEN, dates, KEY), clk_encode(FAMILY, GIVEN, DOB, KEY)
    )


def test_transliterations_are_similar_and_different_persons_are_not() -> None:
    c = clk_encode(FAMILY, GIVEN, DOB, KEY, salt=SALT)
    assert dice(c[0], c[1]) > 0.8  # Mohammed / Muhammad Hassan, same birth date
    assert dice(c[0], c[2]) > 0.9  # Mohamed Al-Hassan
    assert dice(c[0], c[4]) < 0.75  # Anna Schmidt, same birth date: a different person
    assert dice(c[0], c[3]) < 0.65  # Hans Peter Müller: nothing in common
    assert dice(c[0], c[6]) < 0.65


def test_swapped_family_and_given_name_still_match() -> None:
    a = clk_encode(["Ali"], ["Mohammed"], ["1990-05-01"], KEY)
    b = clk_encode(["Mohammed"], ["Ali"], ["1990-05-01"], KEY)
    assert dice(a, b)[0] > 0.95


def test_different_key_gives_chance_similarity() -> None:
    data = synthetic_identities(400, seed=5)
    args = (data["family"], data["given"], data["birth_date"])
    a = clk_encode(*args, KEY)
    b = clk_encode(*args, OTHER_KEY)
    scores = dice(a, b)
    # balanced filters hold bits/2 ones each, so unrelated vectors overlap by one half
    assert abs(float(scores.mean()) - 0.5) < 0.03
    assert scores.max() < 0.65
    unbalanced = dice(
        clk_encode(*args, KEY, balance=False), clk_encode(*args, OTHER_KEY, balance=False)
    )
    fill = np.bitwise_count(clk_encode(*args, KEY, balance=False)).sum(axis=1).mean() / 1024
    assert abs(float(unbalanced.mean()) - fill) < 0.05


def test_salt_decorrelates_equal_names() -> None:
    a = clk_encode(["Hassan"], ["Mohammed"], ["1985-03-07"], KEY, salt=["1985"])
    b = clk_encode(["Hassan"], ["Mohammed"], ["1985-03-07"], KEY, salt=["1986"])
    assert 0.35 < dice(a, b)[0] < 0.65


def test_balanced_weight_is_constant_and_empty_records_are_zero() -> None:
    c = clk_encode(FAMILY, GIVEN, DOB, KEY, salt=SALT)
    weights = np.bitwise_count(c).sum(axis=1)
    assert set(weights[:7].tolist()) == {512}
    assert weights[7] == 0  # no usable input at all
    assert dice(c[7], c[7]) == 0.0


def test_null_inputs_contribute_nothing() -> None:
    with_null = clk_encode(["Hassan"], [None], [None], KEY, balance=False)
    only_family = clk_encode(["Hassan"], [""], ["not a date"], KEY, balance=False)
    assert np.array_equal(with_null, only_family)
    assert with_null.any()


def test_empty_and_all_null_batches() -> None:
    assert clk_encode([], [], [], KEY).shape == (0, 128)
    nothing = clk_encode([None, ""], [None, " - "], [None, "31.12.1999"], KEY, salt=[None, "x"])
    assert nothing.shape == (2, 128) and not nothing.any()
    assert to_binary_array(nothing).null_count == 2


def test_dice_properties() -> None:
    c = clk_encode(FAMILY, GIVEN, DOB, KEY)
    assert np.allclose(dice(c, c)[:7], 1.0)
    assert np.allclose(dice(c[0], c[3]), dice(c[3], c[0]))
    assert dice(c, c[0]).shape == (len(FAMILY),)  # broadcasting one against many
    assert dice(np.zeros((2, 128), np.uint8), np.zeros((2, 128), np.uint8)).tolist() == [0.0, 0.0]


def test_binary_array_round_trip() -> None:
    c = clk_encode(FAMILY, GIVEN, DOB, KEY)
    arr = to_binary_array(c)
    assert arr.type == pa.binary() and len(arr) == len(FAMILY)
    assert arr.null_count == 1 and arr[7].as_py() is None
    assert arr[0].as_py() == c[0].tobytes()
    assert np.array_equal(from_binary_array(arr), c)
    assert to_binary_array(c, null_if_empty=False).null_count == 0


def test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        clk_encode(["a"], ["b"], ["2000-01-01"], KEY, bits=1000)
    with pytest.raises(ValueError):
        clk_encode(["a"], ["b", "c"], ["2000-01-01"], KEY)
    with pytest.raises(ValueError):
        clk_encode(["a"], ["b"], ["2000-01-01"], b"short")


def _reference_case(n: int, seed: int) -> tuple[tuple, dict]:
    data = synthetic_identities(n, seed=seed)
    salt = pa.compute.utf8_slice_codeunits(data["birth_date"], 0, 4)
    args = (data["family"], data["given"], data["birth_date"], KEY)
    return args, {"salt": salt, "birth_name": data["family"][::-1]}


def test_cached_masks_do_not_change_the_result() -> None:
    """A batch encodes the same with masks left by earlier batches as with a fresh cache."""
    args, kwargs = _reference_case(400, seed=11)
    first, _ = _reference_case(300, seed=12)
    bloom_module.clear_cache()
    cold = clk_encode(*args, **kwargs)
    clk_encode(*first, salt=kwargs["salt"][:300])  # shares many (salt, token) pairs
    warm = clk_encode(*args, **kwargs)
    assert np.array_equal(cold, warm)
    assert np.array_equal(warm, clk_encode_reference(*args, **kwargs))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**62), max_size=3000), st.integers(1, 50))
def test_hash_tables_agree_with_pandas(codes: list[int], spread: int) -> None:
    import pandas as pd

    values = np.array([c // spread for c in codes], dtype=np.int64)  # with repeats
    uniques, inverse = _kernels.factorize(values)
    labels, expected = pd.factorize(values)
    assert uniques.tolist() == expected.tolist() and inverse.tolist() == labels.tolist()
    store = bloom_module._Store(2)
    half = len(expected) // 2
    for chunk in (expected[:half], expected[half:]):  # grows (rehashes) on the way
        rows = store.add(chunk, np.zeros((len(chunk), 2), np.uint64))
        assert store.find(chunk).tolist() == rows.tolist()
    assert store.find(expected).tolist() == list(range(len(expected)))
    assert store.find(np.array([-5, 2**62 + 1], np.int64)).tolist() == [-1, -1]
    many = np.arange(5000, dtype=np.int64) * 7919 + 2**62 + 2  # all new
    rows = store.add(many, np.zeros((len(many), 2), np.uint64))  # several rehashes
    assert store.find(many).tolist() == rows.tolist()
    assert store.find(expected).tolist() == list(range(len(expected)))


def test_dictionary_columns_equal_plain_columns() -> None:
    args, kwargs = _reference_case(200, seed=14)
    family, given, dob, key = args
    encoded = clk_encode(
        family.dictionary_encode(),
        pa.chunked_array([given[:50], given[50:]]),
        dob.dictionary_encode(),
        key,
        salt=kwargs["salt"].dictionary_encode(),
        birth_name=kwargs["birth_name"].dictionary_encode(),
    )
    assert np.array_equal(encoded, clk_encode(*args, **kwargs))


def test_address_style_and_unusual_dates_equal_reference() -> None:
    """Unsalted, other k, no dates (the address filter), and date strings off the ISO path."""
    streets = ["Bahnhofstr", "Am Markt", None, "Groß-Köriser Weg", "Str", "De", ""]
    places = ["Königs Wusterhausen", "Wildau", "Zeuthen", None, "X", "Wildau", "Eichwalde"]
    dates = [" 1985-03-07 ", "1985-03-07T10:00", "١٩٨٥-٠٣-٠٧", "07.03.1985", None, "", "2001-1-1"]
    for dob in ([None] * len(streets), dates):
        kwargs = {"birth_name": places[::-1], "k": 8, "bits": 512}
        fast = clk_encode(streets, places, dob, KEY, **kwargs)  # type: ignore[arg-type]
        ref = clk_encode_reference(streets, places, dob, KEY, **kwargs)  # type: ignore[arg-type]
        assert np.array_equal(fast, ref)


def test_partial_dates_encode_the_parts_they_state() -> None:
    """00.00.1990 arrives as "1990", 00.05.1990 as "1990-05": closer to 1990-05-17 than a
    record without a date, equal to the reference, and the day never guessed."""
    assert bloom_module.date_tokens("1990") == ["Y:1990"]
    assert bloom_module.date_tokens("1990-05") == ["M:05", "Y:1990"]
    assert bloom_module.date_tokens("199-05") == []
    family, given_ = ["Rahimi"] * 4, ["Hamid"] * 4
    dates = ["1990-05-17", "1990-05", "1990", None]
    salt = ["1990"] * 4
    fast = clk_encode(family, given_, dates, KEY, salt=salt)
    assert np.array_equal(fast, clk_encode_reference(family, given_, dates, KEY, salt=salt))
    full, year_month, year, none = (fast[i] for i in range(4))
    assert dice(full, year_month) > dice(full, year) > dice(full, none)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 4), max_size=40), st.lists(st.integers(0, 39), max_size=60))
def test_expand_flattens_the_owners_items(sizes: list[int], picks: list[int]) -> None:
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    items = np.arange(int(ptr[-1]), dtype=np.int64) * 3 + 1
    owners = np.array([p % len(sizes) for p in picks] if sizes else [], dtype=np.int64)
    position, flat = _kernels.expand(ptr, items, owners)
    expected = [(j, int(x)) for j, o in enumerate(owners) for x in items[ptr[o] : ptr[o + 1]]]
    assert list(zip(position.tolist(), flat.tolist(), strict=True)) == expected


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(-1, 30), st.integers(-1, 30)), max_size=300),
    st.integers(1, 40),
)
def test_factorize_groups_and_pairs_agree_with_pandas(
    rows: list[tuple[int, int, int]], width: int
) -> None:
    import pandas as pd

    salts = np.array([r[0] for r in rows], dtype=np.int64)
    values = np.array([[r[1] for r in rows], [r[2] for r in rows]], dtype=np.int64)
    uniques, groups = _kernels.factorize_groups(salts, values.reshape(2, len(rows)), width)
    codes = [int(s) * width + int(v) for f in values for s, v in zip(salts, f, strict=True)]
    valid = [v >= 0 for f in values for v in f]
    labels, expected = pd.factorize(
        np.array([c for c, ok in zip(codes, valid, strict=True) if ok], np.int64)
    )
    assert uniques.tolist() == expected.tolist()
    flat = np.full(len(codes), -1, dtype=np.int64)
    flat[np.array(valid, dtype=bool)] = labels
    assert groups.ravel().tolist() == flat.tolist()

    # pairs: salt of each item's owner times width plus its token, two runs in turn
    tokens = np.abs(values).ravel() % width
    owners = np.arange(len(tokens), dtype=np.int64) % max(len(rows), 1)
    half = len(tokens) // 2
    pair_codes = salts[owners] * width + tokens if len(rows) else tokens
    uniques, inverse = _kernels.factorize_pairs(
        salts, owners[:half], tokens[:half], salts, owners[half:], tokens[half:], width
    )
    labels, expected = pd.factorize(pair_codes.astype(np.int64))
    assert uniques.tolist() == expected.tolist() and inverse.tolist() == labels.tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("ABCZ", max_size=8), max_size=30), st.data())
def test_word_tokens_are_the_distinct_sorted_bigrams_and_code(
    words: list[str], data: st.DataObject
) -> None:
    codes = np.array([data.draw(st.integers(-1, 3)) for _ in words], dtype=np.int64)
    codes[codes >= 0] += 20_000
    arr = pa.array(words, pa.string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32).astype(np.int64)
    data_ = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)
    ptr, tokens = _kernels.word_tokens(offsets, data_, codes)
    for w, word in enumerate(words):
        ids = [0 if ch == "_" else ord(ch) - 64 for ch in "_" + word + "_"]
        expected = sorted({27 * a + b for a, b in itertools.pairwise(ids)})
        expected += [int(codes[w])] if codes[w] >= 0 else []
        assert tokens[ptr[w] : ptr[w + 1]].tolist() == expected


def test_date_fast_path_gives_date_tokens() -> None:
    """Full and partial dates read from the string buffer give the tokens of
    `date_tokens`; anything else goes through it."""
    values = ["1990-05-17", "1990-05", "1990", "0000", "199-05", " 1990", "1990-5",
              "١٩٩٠", "1990-05-17T00", "19a0", "", "1990_05", "2001-12-24"]  # fmt: skip
    vocab = bloom_module._Vocabulary()
    ptr, tokens = bloom_module._date_tokens(pa.array(values, pa.string()), vocab)
    for i, value in enumerate(values):
        got = sorted(vocab.token(t) for t in tokens[ptr[i] : ptr[i + 1]].tolist())
        assert got == sorted(bloom_module.date_tokens(value)), value
