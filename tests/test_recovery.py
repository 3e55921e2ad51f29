"""Crash recovery: a run killed after pseudonymisation, in the middle of dbt or during publish,
then re-run, ends exactly like a run that was never interrupted.

Two workspaces share one key and the same generated extracts. U runs 2026-09 and 2026-10
without interruption. R starts as a copy of U after 2026-09 (the analysts already have a
published file) and runs 2026-10 three times with a fault injected (`KIIM_FAULT`, see
kiim/orchestration.py), then once more without. The stages are called directly, as the DAG
does, so the test needs no Airflow except for one run through `airflow dags test` that proves
finish_run records a failed run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from kiim import pipeline
from kiim.config import load_agencies
from kiim.generate import generate
from kiim.orchestration import InjectedFault
from kiim.runlog import read_runs
from kiim.suites import write_suites
from kiim.workspace import REPO_ROOT, Workspace

pytestmark = pytest.mark.e2e

PERSONS = 300
SEED = 777
OLD, NEW = "2026-09", "2026-10"


def _use(root: Path) -> Workspace:
    os.environ["KIIM_HOME"] = str(root)
    os.environ["AIRFLOW_HOME"] = str(root / "airflow")
    return Workspace.from_env()


def run_stages(period: str, fault: str | None = None) -> dict[str, Any]:
    """One monthly run as the DAG runs it: stages in order, finish_run whatever happened."""
    if fault:
        os.environ["KIIM_FAULT"] = fault
    run = pipeline.start_run(period, "test")
    results: list[dict[str, Any]] = []
    linked = built = published = None
    try:
        results = [pipeline.process_agency(run, a) for a in run["agencies"]]
        linked = pipeline.link(run, results)
        built = pipeline.transform(run)
        published = pipeline.publish(run, built)
    except InjectedFault:
        pass
    finally:
        os.environ.pop("KIIM_FAULT", None)
    try:
        return pipeline.finish_from_airflow(run, results, linked, built, published)
    except pipeline.RunError:
        return {"status": "failed", "run_id": run["run_id"]}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def temporaries(ws: Workspace) -> list[Path]:
    zones = (ws.pseudonymised, ws.published_db.parent, ws.warehouse_db.parent, ws.staging)
    return [p for z in zones if z.exists() for p in z.rglob("*.tmp")]


def dump(path: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        ]
        out = {}
        for name in sorted(names):
            df = con.execute(f'select * from "{name}"').df()
            out[name] = df.sort_values(list(df.columns)).reset_index(drop=True)
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("kiim_recovery")
    saved = dict(os.environ)
    expectations = base / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", expectations)
    os.environ.update(
        {
            "KIIM_SECRET_KEY": secrets.token_hex(32),
            "KIIM_EXPECTATIONS_DIR": str(expectations),
            "KIIM_READINESS_TIMEOUT": "0",
            "KIIM_TASK_RETRIES": "0",
        }
    )
    for name in ("KIIM_KEY_FILE", "KIIM_INBOX", "KIIM_FAULT", "KIIM_CONFIG_DIR"):
        os.environ.pop(name, None)
    ws_u = _use(base / "uninterrupted")
    # suites generated from the current agency configs (the repository's may lag behind)
    write_suites(load_agencies(ws_u.config_dir), expectations)
    for period in (OLD, NEW):
        generate(period, PERSONS, ws_u.inbox_period(period), ws_u.groundtruth, seed=SEED)
    assert run_stages(OLD)["status"] in ("success", "partial")
    shutil.copytree(base / "uninterrupted", base / "recovered")
    assert run_stages(NEW)["status"] in ("success", "partial")
    yield {"u": ws_u, "r": Workspace(root=base / "recovered", config_dir=ws_u.config_dir)}
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def recovered(workspaces: dict[str, Any]) -> dict[str, Any]:
    """R: three crashed runs of NEW, each checked right after the crash, then a clean re-run."""
    ws = _use(workspaces["r"].root)
    old_sha = sha256(ws.published_db)
    crashes = {}
    for fault in ("after_pseudonymise", "during_dbt", "during_publish"):
        summary = run_stages(NEW, fault)
        crashes[fault] = {
            "status": summary["status"],
            "published_sha": sha256(ws.published_db),
            "temporaries": [p.name for p in temporaries(ws)],
        }
    final = run_stages(NEW)
    return {"ws": ws, "old_sha": old_sha, "crashes": crashes, "final": final}


def test_a_crash_leaves_the_analysts_file_untouched(recovered: dict[str, Any]) -> None:
    for fault, crash in recovered["crashes"].items():
        assert crash["status"] == "failed", fault
        assert crash["published_sha"] == recovered["old_sha"], fault
    # only the crash inside publish leaves a (truncated) temporary, next to - not over - the file
    assert recovered["crashes"]["during_publish"]["temporaries"] == ["kiim.duckdb.tmp"]
    assert recovered["crashes"]["after_pseudonymise"]["temporaries"] == []


def test_rerun_after_crashes_publishes_the_same_marts(
    workspaces: dict[str, Any], recovered: dict[str, Any]
) -> None:
    ws_r, ws_u = recovered["ws"], workspaces["u"]
    assert recovered["final"]["status"] in ("success", "partial")
    assert temporaries(ws_r) == []
    assert sha256(ws_r.published_db) != recovered["old_sha"]
    mine, theirs = dump(ws_r.published_db), dump(ws_u.published_db)
    assert mine.keys() == theirs.keys()
    assert len(mine) > 5
    for table, df in theirs.items():
        pd.testing.assert_frame_equal(mine[table], df, check_dtype=False, obj=table)


def test_rerun_leaves_no_duplicate_rows(recovered: dict[str, Any]) -> None:
    ws = recovered["ws"]
    con = duckdb.connect(str(ws.warehouse_db), read_only=True)
    try:
        checks = {
            "linkage.record_person": "period, agency, record_key",
            "linkage.record_registry": "agency, record_key",
            "ops.deliveries": "period, agency",
        }
        for table in (
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'pseudo'"
            ).fetchall()
        ):
            checks[f"pseudo.{table}"] = "period, record_key"
        for table, key in checks.items():
            total, distinct = con.execute(
                f"select count(*), count(distinct ({key})) from {table}"
            ).fetchall()[0]
            assert total == distinct, table
        periods = con.execute("select distinct period from linkage.record_person").fetchall()
        assert sorted(p[0] for p in periods) == [OLD, NEW]
    finally:
        con.close()
    pub = duckdb.connect(str(ws.published_db), read_only=True)
    try:
        for (table,) in pub.execute(
            "select distinct table_name from information_schema.columns "
            "where column_name = 'dimension_value'"
        ).fetchall():
            cols = [
                r[0]
                for r in pub.execute(
                    "select column_name from information_schema.columns where table_name = ?",
                    [table],
                ).fetchall()
            ]
            key = ", ".join(
                c
                for c in ("period", "ags", "dimension", "dimension_value", "category")
                if c in cols
            )
            total, distinct = pub.execute(
                f'select count(*), count(distinct ({key})) from "{table}"'
            ).fetchall()[0]
            assert total == distinct, table
    finally:
        pub.close()


def test_every_crash_is_in_the_run_log(recovered: dict[str, Any]) -> None:
    runs = [r for r in read_runs(recovered["ws"].run_log) if r.period == NEW]
    assert [r.status.value for r in runs][-4:-1] == ["failed"] * 3
    assert runs[-1].status.value in ("success", "partial")


def test_airflow_finish_run_records_a_failed_run(recovered: dict[str, Any]) -> None:
    """Through `airflow dags test`: a fault in dbt fails the run, finish_run still logs it."""
    from kiim.cli import run_dag

    ws = _use(recovered["ws"].root)
    before = sha256(ws.published_db)
    os.environ["KIIM_FAULT"] = "during_dbt"
    try:
        summary = run_dag(NEW, ws)
    finally:
        os.environ.pop("KIIM_FAULT", None)
    assert summary["status"] == "failed"
    assert summary["airflow_exit"] != 0
    last = read_runs(ws.run_log)[-1]
    assert last.status.value == "failed" and last.trigger.startswith("airflow")
    assert last.errors
    assert sha256(ws.published_db) == before
    log_text = Path(summary["airflow_log"]).read_text(encoding="utf-8")
    assert "dag_id=kiim_monthly" in log_text and "state=failed" in log_text
    assert any("during_dbt" in e or "failed" in e for e in last.errors)
    assert json.loads((ws.runs_dir / "last_summary.json").read_text())["status"] == "failed"
