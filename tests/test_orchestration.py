"""Schedule, period default, readiness, completeness, error classes, faults and the failure
callback's run-log entry: the decisions the DAG delegates to kiim.orchestration."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from kiim import orchestration as orc
from kiim.pipeline import RunError
from kiim.problems import ExtractError
from kiim.publish import PublishError
from kiim.runlog import read_runs
from kiim.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    monkeypatch.setenv("KIIM_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("KIIM_SECRET_KEY", secrets.token_hex(32))
    for name in ("KIIM_INBOX", "KIIM_FAULT", "KIIM_KEY_FILE", "KIIM_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    workspace = Workspace.from_env()
    workspace.ensure()
    yield workspace


def _run(agencies: list[str], started: datetime | None = None) -> dict:
    return {
        "run_id": "2026-10_test",
        "period": "2026-10",
        "trigger": "airflow:manual",
        "key_id": "k1",
        "agencies": agencies,
        "started_at": (started or datetime.now(UTC)).isoformat(timespec="seconds"),
    }


def test_previous_month_and_period_default() -> None:
    assert orc.previous_month(date(2026, 11, 5)) == "2026-10"
    assert orc.previous_month(datetime(2027, 1, 5, 6, tzinfo=UTC)) == "2026-12"
    assert orc.resolve_period("2026-03", date(2026, 11, 5)) == "2026-03"
    assert orc.resolve_period(None, date(2026, 11, 5)) == "2026-10"
    assert orc.resolve_period("", datetime(2026, 1, 5, tzinfo=UTC)) == "2025-12"


def test_schedule_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIIM_SCHEDULE", raising=False)
    assert orc.schedule() == "0 6 5 * *"
    monkeypatch.setenv("KIIM_SCHEDULE", "30 7 3 * *")
    assert orc.schedule() == "30 7 3 * *"
    monkeypatch.setenv("KIIM_SCHEDULE", "none")
    assert orc.schedule() is None


def test_readiness_waits_until_the_deadline_then_marks_missing(ws: Workspace) -> None:
    inbox = ws.inbox_period("2026-10")
    inbox.mkdir(parents=True)
    (inbox / "ewo_2026-10.csv").write_text("x\n", encoding="utf-8")
    run = _run(["ewo", "jobcenter"])
    state = orc.readiness(run, timeout_s=3600)
    assert not state["done"]
    assert state["ready"] == ["ewo"] and state["missing"] == ["jobcenter"]
    late = _run(["ewo", "jobcenter"], started=datetime.now(UTC) - timedelta(hours=2))
    state = orc.readiness(late, timeout_s=3600)
    assert state["done"] and state["missing"] == ["jobcenter"]
    # an accepted delivery of the period from an earlier run counts as ready (re-runs)
    earlier = ws.pseudonymised_file("jobcenter", "2026-10")
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"")
    again = orc.readiness(run, timeout_s=3600)
    assert again["done"] and again["missing"] == [] and again["ready"] == ["ewo", "jobcenter"]


def test_wait_for_extracts_is_bounded(ws: Workspace) -> None:
    naps: list[float] = []
    state = orc.wait_for_extracts(_run(["kita"]), timeout_s=0, poke_s=5, sleep=naps.append)
    assert state["done"] and state["missing"] == ["kita"] and naps == []
    # within the deadline it pokes; once the deadline has passed it stops, kita missing
    run = _run(["kita"])

    def nap(seconds: float) -> None:  # the time passes while it sleeps
        naps.append(seconds)
        run["started_at"] = (datetime.now(UTC) - timedelta(hours=2)).isoformat()

    state = orc.wait_for_extracts(run, timeout_s=3600, poke_s=5, sleep=nap)
    assert naps == [5] and state["done"] and state["missing"] == ["kita"]


def test_completeness_only_enforced_without_allow_partial() -> None:
    results = [{"agency": "ewo", "status": "accepted"}, {"agency": "abh", "status": "rejected"}]
    orc.check_completeness(results, allow_partial=True)
    with pytest.raises(orc.IncompleteDelivery, match="abh \\(rejected\\)"):
        orc.check_completeness(results, allow_partial=False)
    orc.check_completeness(results[:1], allow_partial=False)


def test_data_errors_fail_fast_transient_errors_retry() -> None:
    for exc in (
        RunError("x"),
        PublishError("x"),
        ExtractError([]),
        orc.InjectedFault("x"),
        ValueError("x"),
        duckdb.ConversionException("x"),
    ):
        assert orc.is_data_error(exc), type(exc)
    for exc in (OSError("disk full"), duckdb.IOException("lock"), TimeoutError()):
        assert not orc.is_data_error(exc), type(exc)


def test_fault_point_only_fires_when_named(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    orc.fault_point("during_publish")  # not set: nothing happens
    target = ws.published_db.with_name("kiim.duckdb.tmp")
    monkeypatch.setenv("KIIM_FAULT", "during_publish")
    with pytest.raises(orc.InjectedFault):
        orc.fault_point("during_publish", lambda: orc.half_write(target))
    assert target.exists()
    orc.fault_point("during_dbt")
    assert orc.sweep_temporaries(ws) == ["kiim.duckdb.tmp"]
    assert not target.exists()


def test_failure_callback_writes_the_run_log_once(ws: Workspace) -> None:
    run = _run(["ewo"])
    orc.remember_run("manual__2026-11-21T10:00:00+00:00", run)
    written = orc.record_failed_run(
        "manual__2026-11-21T10:00:00+00:00", "2026-10", "airflow:manual", "task_failure"
    )
    assert written and written["status"] == "failed"
    runs = read_runs(ws.run_log)
    assert [(r.run_id, r.status.value, r.key_id) for r in runs] == [
        ("2026-10_test", "failed", "k1")
    ]
    # a second callback (or finish_run having logged already) adds nothing
    assert orc.record_failed_run("manual__2026-11-21T10:00:00+00:00", "2026-10", "x", "y") is None
    # a run that never started is logged from the callback's own knowledge
    other = orc.record_failed_run("scheduled__2026-11-05", "2026-10", "airflow:scheduled", "boom")
    assert other and other["key_id"] is None and "nicht gestartet" in other["errors"][0]
    assert orc.record_failed_run("manual__x", None, "airflow:manual", "boom") is None
    assert len(read_runs(ws.run_log)) == 2
    assert not list((ws.runs_dir / "airflow").glob("*.tmp"))
    assert os.environ.get("KIIM_FAULT") is None
