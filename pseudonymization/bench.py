"""Throughput of the vectorised encoders against their plain reference loops.

`kiim bench` calls `bench_pseudonymization(n)`. Rates are measured on synthetic identifiers
(no real data), best of a few repetitions, wall-clock: on a busy machine they drop, so the
reference loops are timed in the same run to make the speed-up readable on its own.
The identities here repeat a few dozen names, which flatters `clk_encode`; the rate of the
whole linkage encoding on a realistic month is `kiim.bench_encode` (in the kiim package,
since this library does not import kiim).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from pseudonymization.bloom import clk_encode, clk_encode_reference
from pseudonymization.keyed_hash import keyed_hash, keyed_hash_reference

_FAMILY = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Hassan",
    "Al-Hassan",
    "Ahmadi",
    "Yılmaz",
    "Kaya",
    "Demir",
    "Şahin",
    "Kowalski",
    "Nowak",
    "Wiśniewski",
    "Kovalenko",
    "Shevchenko",
    "Bondarenko",
    "Tkachenko",
    "Ivanova",
    "Popescu",
    "Nguyễn",
    "Tran",
    "Haddad",
    "Khalil",
    "Mansour",
    "Osman",
]
_GIVEN = [
    "Anna",
    "Maria",
    "Lena",
    "Sophie",
    "Jonas",
    "Leon",
    "Paul",
    "Hans",
    "Peter",
    "Mohammed",
    "Muhammad",
    "Mohamed",
    "Ahmad",
    "Ali",
    "Fatima",
    "Aisha",
    "Omar",
    "Yusuf",
    "Oleksandr",
    "Aleksandr",
    "Olena",
    "Iryna",
    "Yurii",
    "Jurij",
    "Dmytro",
    "Mariia",
    "Zeynep",
    "Emre",
    "Elif",
    "Mustafa",
    "Ewa",
    "Piotr",
    "Andrei",
    "Ioana",
    "Minh",
    "Linh",
    "Amina",
    "Ibrahim",
    "Noor",
]


def synthetic_identities(n: int, seed: int = 7) -> dict[str, pa.Array]:
    """Columns of made-up persons: family, given (1-2 names), birth date ISO, record id."""
    rng = np.random.default_rng(seed)
    fam = np.array(_FAMILY, dtype=object)[rng.integers(0, len(_FAMILY), n)]
    g1 = np.array(_GIVEN, dtype=object)[rng.integers(0, len(_GIVEN), n)]
    g2 = np.array(_GIVEN, dtype=object)[rng.integers(0, len(_GIVEN), n)]
    two = rng.random(n) < 0.3
    given = np.where(two, g1 + " " + g2, g1)
    days = rng.integers(-20_000, 19_000, n).astype("datetime64[D]")
    dob = np.datetime_as_string(days, unit="D").astype(object)
    record_id = np.char.add("R", rng.permutation(n * 10)[:n].astype(str)).astype(object)
    return {
        "family": pa.array(fam, type=pa.string()),
        "given": pa.array(given, type=pa.string()),
        "birth_date": pa.array(dob, type=pa.string()),
        "record_id": pa.array(record_id, type=pa.string()),
    }


def keyed_hash_duckdb(values: pa.Array, key: bytes, hex_chars: int = 32) -> pa.Array:
    """The SQL alternative that was measured and not kept: HMAC from two DuckDB sha256 calls.

    Same result as `keyed_hash`, but SQL cannot reuse the pad midstates, so it hashes four
    SHA-256 blocks per value instead of two; kept here only to show the comparison.
    """
    import duckdb

    padded = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in padded)
    opad = bytes(b ^ 0x5C for b in padded)
    con = duckdb.connect()
    try:
        con.register("v", pa.table({"v": values}))
        sql = "select left(sha256($opad || unhex(sha256($ipad || encode(v)))), $n) as h from v"
        table = con.sql(sql, params={"opad": opad, "ipad": ipad, "n": hex_chars})
        return table.to_arrow_table().column(0).combine_chunks()
    finally:
        con.close()


def _rate(fn: Callable[[], Any], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def bench_pseudonymization(n: int) -> dict[str, Any]:
    """Rates in items per second for `n` synthetic records (references on a subsample).

    Keys: keyed_hash_per_s (one core: the compiled kernel), keyed_hash_duckdb_per_s
    (the SQL variant, for comparison), keyed_hash_reference_per_s, keyed_hash_speedup, clk_encode_per_s, clk_encode_reference_per_s, clk_encode_speedup,
    plus n, cores and the sample sizes used for the reference loops.
    """
    if n < 1:
        raise ValueError("n must be positive")
    data = synthetic_identities(n)
    key = os.urandom(32)
    ids = data["record_id"]
    ref_n = min(n, 200_000)
    clk_ref_n = min(n, 2_000)
    repeat = 3 if n <= 2_000_000 else 1

    def encode() -> np.ndarray:
        return clk_encode(
            data["family"], data["given"], data["birth_date"], key,
            salt=pa.compute.utf8_slice_codeunits(data["birth_date"], 0, 4),
        )  # fmt: skip

    def encode_reference() -> np.ndarray:
        sub = {name: col.slice(0, clk_ref_n) for name, col in data.items()}
        return clk_encode_reference(
            sub["family"], sub["given"], sub["birth_date"], key,
            salt=pa.compute.utf8_slice_codeunits(sub["birth_date"], 0, 4),
        )  # fmt: skip

    result: dict[str, Any] = {"n": n, "cores": 1}
    result["keyed_hash_per_s"] = _rate(lambda: keyed_hash(ids, key), n, repeat)
    result["keyed_hash_duckdb_per_s"] = _rate(lambda: keyed_hash_duckdb(ids, key), n, repeat)
    result["keyed_hash_reference_n"] = ref_n
    result["keyed_hash_reference_per_s"] = _rate(
        lambda: keyed_hash_reference(ids.slice(0, ref_n), key), ref_n, 1
    )
    result["keyed_hash_speedup"] = result["keyed_hash_per_s"] / result["keyed_hash_reference_per_s"]
    result["clk_encode_per_s"] = _rate(encode, n, repeat)
    result["clk_encode_reference_n"] = clk_ref_n
    result["clk_encode_reference_per_s"] = _rate(encode_reference, clk_ref_n, 1)
    result["clk_encode_speedup"] = result["clk_encode_per_s"] / result["clk_encode_reference_per_s"]
    return result


if __name__ == "__main__":  # pragma: no cover - manual use: python -m pseudonymization.bench N
    import json
    import sys

    print(json.dumps(bench_pseudonymization(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)))
