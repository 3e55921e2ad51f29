"""Retention deletes exactly what is due, proves it in the deletion log and the register."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from kiim.config import ConfigError, Organisation, RetentionPolicy, load_organisation
from kiim.register import write_workspace_register
from kiim.retention import (
    apply_retention,
    deletion_log_path,
    due_on,
    latest_due_period,
    read_deletions,
    retention_cli,
)
from kiim.workspace import REPO_ROOT, Workspace

TODAY = date(2026, 11, 21)
# with the repository's policy on TODAY: inbox/quarantine 3 months -> 2026-07 is due, 2026-08
# not; person-level data 60 months -> 2021-10 due, 2021-11 not; reports 24 -> 2024-10 due
DUE = {"inbox": "2026-07", "pseudonymised": "2021-10", "docs": "2024-10"}
KEPT = {"inbox": "2026-08", "pseudonymised": "2021-11", "docs": "2024-11"}


def test_due_dates_count_whole_months_after_the_reporting_month() -> None:
    assert latest_due_period(TODAY, 60) == "2021-10"
    assert due_on("2021-10", 60) == date(2026, 11, 1)
    assert latest_due_period(date(2026, 10, 31), 60) == "2021-09"
    assert latest_due_period(date(2026, 1, 1), 0) == "2025-12"
    assert due_on("2025-12", 3) == date(2026, 4, 1)


def test_policy_words_the_register_and_forbids_a_second_source() -> None:
    org = load_organisation(REPO_ROOT / "config")
    assert org.retention_policy.pseudonymised_months == 60
    texts = org.retention_de()
    assert texts["pseudonymised"] == "60 Monate (5 Jahre) nach Ende des Berichtsmonats"
    assert "3 Monate" in texts["quarantine"] and "120 Monate (10 Jahre)" in texts["run_logs"]
    assert texts["published"].startswith("unbefristet")
    data = org.model_dump()
    data["retention"] = {"pseudonymised": "5 Jahre"}
    with pytest.raises(ValueError, match="retention_policy"):
        Organisation.model_validate(data)
    assert issubclass(ConfigError, ValueError)
    short = RetentionPolicy(pseudonymised_months=18, quarantine_months=1).texts_de()
    assert short["pseudonymised"] == "18 Monate nach Ende des Berichtsmonats"
    assert "1 Monat nach" in short["quarantine"]


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _parquet(path: Path, period: str, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"period": [period] * rows, "record_key": [f"k{i}" for i in range(rows)]}), path
    )


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(root=tmp_path / "data", config_dir=REPO_ROOT / "config")
    ws.ensure()
    for zone in ("inbox", "quarantine"):
        base = ws.inbox if zone == "inbox" else ws.quarantine
        _touch(base / DUE["inbox"] / "ewo_2026-07.csv")
        _touch(base / DUE["inbox"] / "abh_2026-07.xlsx")
        _touch(base / KEPT["inbox"] / "ewo_2026-08.csv")
    for agency in ("ewo", "abh"):
        _parquet(ws.pseudonymised_file(agency, "2021-09"), "2021-09", 2)
        _parquet(ws.pseudonymised_file(agency, DUE["pseudonymised"]), DUE["pseudonymised"], 3)
        _parquet(ws.pseudonymised_file(agency, KEPT["pseudonymised"]), KEPT["pseudonymised"], 4)
    _touch(ws.quality_dir / DUE["docs"] / "bericht.html")
    _touch(ws.quality_dir / KEPT["docs"] / "bericht.html")
    _touch(ws.quality_dir / "assets" / "style.css")  # not a period folder: never touched

    ws.warehouse_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(ws.warehouse_db))
    for schema in ("pseudo", "linkage", "ops", "main_marts"):
        con.execute(f"create schema {schema}")
    con.execute("create table pseudo.ewo (period varchar, record_key varchar)")
    con.execute(
        "insert into pseudo.ewo values ('2021-09', 'a'), ('2021-10', 'a'), ('2021-10', 'b'), "
        "('2021-11', 'b')"
    )
    con.execute(
        "create table linkage.record_person "
        "(period varchar, agency varchar, record_key varchar, person_key varchar)"
    )
    con.execute(
        "insert into linkage.record_person values ('2021-10', 'ewo', 'a', 'P1'), "
        "('2021-10', 'ewo', 'b', 'P2'), ('2021-11', 'ewo', 'b', 'P2')"
    )
    con.execute(
        "create table linkage.record_registry (agency varchar, record_key varchar, "
        "person_key varchar, first_period varchar, primary key (agency, record_key))"
    )
    con.execute(
        "insert into linkage.record_registry values ('ewo', 'a', 'P1', '2021-10'), "
        "('ewo', 'b', 'P2', '2021-10')"
    )
    con.execute("create table ops.deliveries (period varchar, agency varchar, status varchar)")
    con.execute("insert into ops.deliveries values ('2021-10', 'ewo', 'accepted')")
    # a date-typed period (not ours to interpret) and a view are left alone
    con.execute("create table main_marts.other (period date, n integer)")
    con.execute("insert into main_marts.other values ('2000-01-01', 1)")
    con.execute("create view main_marts.v as select * from pseudo.ewo")
    con.close()
    _touch(ws.run_log, json.dumps({"run_id": "r0", "period": "2014-01"}) + "\n")
    _touch(
        ws.runs_dir / "archive" / "runs-2015.jsonl",
        json.dumps({"run_id": "old", "period": "2015-12"}) + "\n",
    )
    _touch(
        ws.runs_dir / "archive" / "runs-2017.jsonl",
        json.dumps({"run_id": "newer", "period": "2017-01"}) + "\n",
    )
    return ws


def _snapshot(ws: Workspace) -> dict[str, bytes]:
    return {
        p.relative_to(ws.root).as_posix(): p.read_bytes() for p in ws.root.rglob("*") if p.is_file()
    }


def _rows(ws: Workspace, sql: str) -> list[tuple]:
    con = duckdb.connect(str(ws.warehouse_db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_dry_run_reports_everything_due_and_deletes_nothing(ws: Workspace) -> None:
    before = _snapshot(ws)
    report = apply_retention(ws, TODAY, dry_run=True)
    assert _snapshot(ws) == before
    assert not deletion_log_path(ws).exists()
    assert report.latest_due["pseudonymised"] == "2021-10"
    got = {(d.zone, d.what, d.period, d.files, d.rows) for d in report.deletions}
    assert got == _due_items()


def _due_items() -> set[tuple[str, str, str | None, int, int]]:
    return {
        ("inbox", "inbox/2026-07", "2026-07", 2, 0),
        ("quarantine", "quarantine/2026-07", "2026-07", 2, 0),
        ("pseudonymised", "pseudonymised/abh/period=2021-09", "2021-09", 1, 2),
        ("pseudonymised", "pseudonymised/abh/period=2021-10", "2021-10", 1, 3),
        ("pseudonymised", "pseudonymised/ewo/period=2021-09", "2021-09", 1, 2),
        ("pseudonymised", "pseudonymised/ewo/period=2021-10", "2021-10", 1, 3),
        ("warehouse", "linkage.record_person", "2021-10", 0, 2),
        ("warehouse", "ops.deliveries", "2021-10", 0, 1),
        ("warehouse", "pseudo.ewo", "2021-09", 0, 1),
        ("warehouse", "pseudo.ewo", "2021-10", 0, 2),
        ("warehouse", "linkage.record_registry", None, 0, 1),
        ("docs", "docs/quality/2024-10", "2024-10", 1, 0),
        ("run_logs", "docs/runs/archive/runs-2015.jsonl", "2015-12", 1, 1),
    }


def test_apply_deletes_exactly_what_is_due_and_logs_it(ws: Workspace) -> None:
    before = _snapshot(ws)
    report = apply_retention(ws, TODAY)
    assert {(d.zone, d.what, d.period, d.files, d.rows) for d in report.deletions} == (_due_items())
    after = _snapshot(ws)
    gone = set(before) - set(after)
    assert gone == {
        "inbox/2026-07/ewo_2026-07.csv",
        "inbox/2026-07/abh_2026-07.xlsx",
        "quarantine/2026-07/ewo_2026-07.csv",
        "quarantine/2026-07/abh_2026-07.xlsx",
        "pseudonymised/ewo/period=2021-09/data.parquet",
        "pseudonymised/ewo/period=2021-10/data.parquet",
        "pseudonymised/abh/period=2021-09/data.parquet",
        "pseudonymised/abh/period=2021-10/data.parquet",
        "docs/quality/2024-10/bericht.html",
        "docs/runs/archive/runs-2015.jsonl",
    }
    assert after["docs/runs/runs.jsonl"] == before["docs/runs/runs.jsonl"]  # never rewritten
    assert any("append-only" in n for n in report.notes)
    assert not (ws.inbox / "2026-07").exists() and (ws.inbox / "2026-08").is_dir()

    assert _rows(ws, "select period, record_key from pseudo.ewo") == [("2021-11", "b")]
    assert _rows(ws, "select period, record_key from linkage.record_person") == [("2021-11", "b")]
    assert _rows(ws, "select record_key from linkage.record_registry") == [("b",)]
    assert _rows(ws, "select count(*) from ops.deliveries") == [(0,)]
    assert _rows(ws, "select count(*) from main_marts.other") == [(1,)]

    lines = read_deletions(deletion_log_path(ws))
    deleted = [x for x in lines if x["event"] == "deleted"]
    assert len(deleted) == len(_due_items())
    assert {x["retention_months"] for x in deleted if x["zone"] == "pseudonymised"} == {60}
    assert lines[-1]["event"] == "retention_run" and lines[-1]["files"] == report.files
    text = deletion_log_path(ws).read_text(encoding="utf-8")
    assert "P1" not in text and "P2" not in text

    # nothing more is due on the same day; the check itself is still recorded
    again = apply_retention(ws, TODAY)
    assert again.deletions == []
    assert read_deletions(deletion_log_path(ws))[-1]["items"] == 0
    assert deletion_log_path(ws).read_text(encoding="utf-8").startswith(text)

    paths = write_workspace_register(ws, version_date=TODAY)
    page = paths.html.read_text(encoding="utf-8")
    md = paths.markdown.read_text(encoding="utf-8")
    data = json.loads(paths.json.read_text(encoding="utf-8"))
    assert "Löschnachweise" in page and "Löschnachweise" in md
    zones = {d["zone"]: d for d in data["deletions"]}
    assert zones["pseudonymised"]["periods"] == "2021-09 bis 2021-10"
    assert zones["pseudonymised"]["rows"] == 10 and zones["pseudonymised"]["files"] == 4
    assert "Pseudonymisierte Zone" in page and "2021-09 bis 2021-10" in md
    assert len(data["retention_checks"]) == 2
    assert data["retention_de"]["Pseudonymisierte Zone"].startswith("60 Monate")


def test_retention_cli_dry_run(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIIM_HOME", str(ws.root))
    monkeypatch.setenv("KIIM_CONFIG_DIR", str(ws.config_dir))
    monkeypatch.delenv("KIIM_INBOX", raising=False)
    app = typer.Typer()
    app.command("retention")(retention_cli)
    app.command("noop")(lambda: None)
    before = _snapshot(ws)
    result = CliRunner().invoke(app, ["retention", "--dry-run", "--today", "2026-11-21"])
    assert result.exit_code == 0, result.output
    assert "Probelauf" in result.output and "pseudonymised" in result.output
    assert _snapshot(ws) == before


def test_retention_dag_calls_the_same_function() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "kiim_retention.py"))
    assert bag.import_errors == {}
    dag = bag.dags["kiim_retention"]
    assert dag.task_ids == ["apply_retention"]
    assert dag.catchup is False
    source = (REPO_ROOT / "dags" / "kiim_retention.py").read_text(encoding="utf-8")
    assert "from kiim.retention import apply_retention" in source
