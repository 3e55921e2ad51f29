"""The benchmark entry point runs and reports rates (speed itself is not asserted here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pseudonymization import keyed_hash
from pseudonymization.bench import bench_pseudonymization, keyed_hash_duckdb, synthetic_identities


def test_bench_reports_rates() -> None:
    result = bench_pseudonymization(500)
    for name in (
        "keyed_hash_per_s",
        "keyed_hash_reference_per_s",
        "keyed_hash_duckdb_per_s",
        "clk_encode_per_s",
        "clk_encode_reference_per_s",
        "keyed_hash_speedup",
        "clk_encode_speedup",
    ):
        assert result[name] > 0, name
    assert result["n"] == 500 and result["cores"] >= 1


def test_synthetic_identities_are_deterministic() -> None:
    a, b = synthetic_identities(50, seed=1), synthetic_identities(50, seed=1)
    assert all(a[k].equals(b[k]) for k in a)
    assert len(set(a["record_id"].to_pylist())) == 50


def test_duckdb_variant_equals_keyed_hash() -> None:
    ids = synthetic_identities(200)["family"]
    for key in (os.urandom(32), os.urandom(100)):
        assert keyed_hash_duckdb(ids, key, hex_chars=20).equals(keyed_hash(ids, key, hex_chars=20))


def test_link_encodings_benchmark_reports_rates_and_parts() -> None:
    import kiim.link_encode
    import kiim.pseudonymise
    from kiim.bench_encode import identities, time_link_encodings
    from pseudonymization import bloom

    batches = identities(1500)
    affinity = os.sched_getaffinity(0)
    result = time_link_encodings(batches)
    records = sum(table.num_rows for _, table in batches)
    assert result["records"] == records == result["warm"]["records"] > 0
    assert result["encode_records_per_s"] > 0 and result["encode_cpu_seconds"] > 0
    parts = result["parts_cpu_seconds"]
    assert {"names", "keys", "clk", "other"} <= set(parts) and min(parts.values()) >= 0
    assert parts["keys"] > 0 and parts["clk"] > 0
    assert sum(parts.values()) >= result["encode_cpu_seconds"] * 0.999
    assert [a["agency"] for a in result["agencies"]] == [a.agency for a, _ in batches]
    assert result["kernel_warm_up_seconds"] > 0 and result["kernel_warm_up_cpu_seconds"] > 0
    # the measurement leaves nothing behind: functions, caches, core affinity
    assert kiim.pseudonymise.keyed_combos is kiim.link_encode.keyed_combos
    assert not bloom._CACHES
    assert os.sched_getaffinity(0) == affinity


def test_repeated_encoding_benchmark_times_each_run_in_a_fresh_process(tmp_path: Path) -> None:
    from kiim.bench_encode import read_identities, repeat_link_encodings
    from kiim.generate import generate

    generate("2026-10", 1500, tmp_path / "inbox", tmp_path / "truth", seed=7)
    records = sum(t.num_rows for _, t in read_identities(tmp_path / "inbox", "2026-10"))
    result = repeat_link_encodings(tmp_path / "inbox", "2026-10", 2, 1500)
    assert result["records"] == records > 0 and result["repeat"] == 2
    assert [r["records"] for r in result["runs"]] == [records, records]
    for name in ("first_month_records_per_cpu_s", "warm_records_per_cpu_s"):
        spread = result[name]
        assert len(spread["runs"]) == 2 and min(spread["runs"]) > 0
        assert spread["min"] <= spread["median"] <= spread["max"]
    rates = [r["encode_records_per_cpu_s"] for r in result["runs"]]
    assert result["first_month_records_per_cpu_s"]["runs"] == rates
    # each child started with empty caches: its first month is a first month
    assert all(r["cores"] == 1 for r in result["runs"])


def test_a_failed_encoding_run_says_which_and_why(tmp_path: Path) -> None:
    from kiim.bench_encode import repeat_link_encodings

    with pytest.raises(ValueError, match="no extracts of 2026-10"):
        repeat_link_encodings(tmp_path, "2026-10", 2)
    (tmp_path / "ewo_2026-10.csv").write_text("no header we know\n1\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"encoding run 1 of 2 failed:\n(.|\n)*ewo_2026-10"):
        repeat_link_encodings(tmp_path, "2026-10", 2)
