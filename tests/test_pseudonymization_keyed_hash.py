"""Keyed hashing: equality with the standard library's HMAC, nulls, input forms, combine."""

from __future__ import annotations

import hashlib
import hmac
import importlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymization import combine, derive_key, keyed_hash, keyed_hash_reference

# the package re-exports the function under the module's name, so fetch the module itself
keyed_hash_module = importlib.import_module("pseudonymization.keyed_hash")

KEY = derive_key(b"k" * 32, "record")


def _stdlib(value: str, key: bytes = KEY, hex_chars: int = 32) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:hex_chars]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(max_size=80)), max_size=40),
    hex_chars=st.integers(1, 64),
    key=st.binary(min_size=1, max_size=100),
)
def test_equals_stdlib_hmac_for_any_value(
    values: list[str | None], hex_chars: int, key: bytes
) -> None:
    expected = [None if v is None else _stdlib(v, key, hex_chars) for v in values]
    assert keyed_hash(values, key, hex_chars=hex_chars).to_pylist() == expected
    assert keyed_hash_reference(values, key, hex_chars=hex_chars).to_pylist() == expected


@pytest.mark.parametrize("repeats", [False, True])
def test_large_column_plain_and_deduplicated_paths(repeats: bool) -> None:
    n = 24_000  # several batches of the kernel's lanes; values of one and of two blocks
    values = [
        None if i % 97 == 0 else f"R{(i % 5000) if repeats else i}-ÄÖÜß" + "x" * (i % 70)
        for i in range(n)
    ]
    out = keyed_hash(values, KEY)
    assert out.type == pa.string() and len(out) == n
    assert out.null_count == sum(v is None for v in values)
    for i in (0, 1, 2, 63, 64, 65, 96, 97, 98, 5000, 12_345, 16_001, n - 1):
        expected = None if values[i] is None else _stdlib(values[i])  # type: ignore[arg-type]
        assert out[i].as_py() == expected


def test_input_forms_and_nulls() -> None:
    expected = [_stdlib("a"), None, _stdlib("b")]
    assert keyed_hash(["a", None, "b"], KEY).to_pylist() == expected
    assert keyed_hash(pa.array(["a", None, "b"]), KEY).to_pylist() == expected
    assert keyed_hash(pa.chunked_array([["a"], [None, "b"]]), KEY).to_pylist() == expected
    assert keyed_hash(pd.Series(["a", np.nan, "b"]), KEY).to_pylist() == expected
    assert keyed_hash(pa.array(["a", None, "b"]).dictionary_encode(), KEY).to_pylist() == (expected)
    assert keyed_hash(pa.array(["x", "a", None, "b"]).slice(1), KEY).to_pylist() == expected
    assert keyed_hash([], KEY).to_pylist() == []
    assert keyed_hash([None, None], KEY).to_pylist() == [None, None]


def test_different_keys_give_unrelated_pseudonyms() -> None:
    other = derive_key(b"k" * 32, "person")
    a = keyed_hash(["Mueller\x1fHans"], KEY)[0].as_py()
    b = keyed_hash(["Mueller\x1fHans"], other)[0].as_py()
    assert a != b and len(a) == len(b) == 32


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        keyed_hash(["a"], b"")
    with pytest.raises(ValueError):
        keyed_hash(["a"], KEY, hex_chars=0)
    with pytest.raises(ValueError):
        keyed_hash(["a"], KEY, hex_chars=65)


def test_combine_joins_and_propagates_nulls() -> None:
    out = combine(["MUELLER", "SCHMIDT", None], ["HANS", None, "ANNA"], ["1970", "1980", "1990"])
    assert out.to_pylist() == ["MUELLER\x1fHANS\x1f1970", None, None]
    assert combine(pa.array(["a"]), pa.array(["b"]), sep="|").to_pylist() == ["a|b"]


def test_combine_refuses_ambiguous_parts() -> None:
    with pytest.raises(ValueError, match="separator"):
        combine(["A\x1fB"], ["C"])
    with pytest.raises(ValueError, match="length"):
        combine(["A", "B"], ["C"])
    with pytest.raises(ValueError):
        combine()
