"""`kiim bench` as the CI smoke run (issue: 20k persons, no time assertion).

It checks that every stage runs through the real components and that the figures and
side-by-side comparisons are written, never how fast anything was.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from kiim.bench import run_bench, write_bench

STAGES = (
    "generate",
    "ingest+pseudonymise+validate",
    "link",
    "dbt build",
    "publish",
    "finish (register, log)",
)


def test_bench_smoke_writes_every_stage_and_the_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run_bench points KIIM_HOME at its scratch folder; monkeypatch restores the environment
    monkeypatch.setenv("KIIM_HOME", str(tmp_path / "scratch"))
    monkeypatch.setenv("KIIM_SECRET_KEY", secrets.token_hex(32))
    monkeypatch.delenv("KIIM_KEY_FILE", raising=False)
    result = run_bench(20_000, root=tmp_path / "scratch", with_airflow=False, encoder_sample=20_000)
    json_path, md_path = write_bench(result, tmp_path / "out")

    data = json.loads(json_path.read_text(encoding="utf-8"))
    stages = [s["stage"] for s in data["stages"]]
    assert stages == [f"2026-10 {name}" for name in STAGES]
    for stage in data["stages"][:-1]:
        assert stage["wall_s"] > 0 and stage["cpu_s"] > 0 and stage["peak_rss_mb"] > 0, stage
        assert stage["rows"] > 0, stage
    assert data["totals"]["extract_rows_last_month"] > 20_000
    assert data["machine"]["cores"] >= 1 and data["machine"]["memory_gb"] > 0

    encoders = data["side_by_side"]["encoders"]
    for key in ("keyed_hash_per_s", "keyed_hash_reference_per_s", "clk_encode_per_s",
                "clk_encode_reference_per_s", "keyed_hash_speedup", "clk_encode_speedup"):  # fmt: skip
        assert encoders[key] > 0, key
    encoding = data["side_by_side"]["link_encodings_one_core"]
    assert encoding["records"] > 20_000 and encoding["runs"] == 3
    low, high = encoding["encode_records_per_cpu_s_min"], encoding["encode_records_per_cpu_s_max"]
    assert 0 < low <= encoding["encode_records_per_cpu_s"] <= high

    markdown = md_path.read_text(encoding="utf-8")
    assert all(name in markdown for name in STAGES)
    assert "Side by side" in markdown
