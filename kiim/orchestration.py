"""What the Airflow DAG needs beyond the pipeline stages: schedule, period, readiness, faults.

The DAG file (dags/kiim_monthly.py) stays a thin wiring of tasks; everything that decides
something lives here as plain functions so that tests can call it without Airflow:

- the schedule and retry settings come from environment variables (no Airflow Variables:
  the DAG must parse without a metadata database);
- the reporting month defaults to the month before the run's logical date;
- the readiness step waits for the expected extracts until a deadline, then lets the run go
  on with what arrived (the rest is recorded as missing by `process_agency`);
- data errors (a wrong extract, a failing dbt test, a disclosure-control guard) are told apart
  from transient ones (a locked file, a full disk) so that only the latter are retried;
- a failure callback writes the run log even when the final task could not run;
- a tiny fault-injection hook (`KIIM_FAULT`) lets the crash-recovery tests stop a run at a
  given point, with the side effects a real crash at that point would leave behind.

Nothing here handles personal data: runs are described by ids, periods, agency names,
counts and file names.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kiim.problems import ExtractError
from kiim.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = "0 6 5 * *"  # 06:00 on the 5th: agencies deliver in the first days of a month
FAULT_POINTS = ("after_pseudonymise", "during_dbt", "during_publish")


class InjectedFault(RuntimeError):
    """Raised by the fault-injection hook; a data error, so Airflow does not retry it."""


class IncompleteDelivery(RuntimeError):
    """allow_partial is off and at least one agency's extract was rejected or missing."""


# --------------------------------------------------------------------------- configuration


def schedule() -> str | None:
    """Cron expression of the monthly run: `KIIM_SCHEDULE`, default 06:00 on the 5th.

    `KIIM_SCHEDULE=none` (or empty) switches scheduling off: manual triggers only.
    """
    value = os.environ.get("KIIM_SCHEDULE", DEFAULT_SCHEDULE).strip()
    return None if value.lower() in ("", "none", "off") else value


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def task_retries() -> int:
    """Retries for transient errors (`KIIM_TASK_RETRIES`, default 2)."""
    return int(_env_float("KIIM_TASK_RETRIES", 2))


def retry_delay_s() -> float:
    """First retry delay in seconds (`KIIM_RETRY_DELAY`, default 120); doubles each retry."""
    return _env_float("KIIM_RETRY_DELAY", 120)


def readiness_timeout_s() -> float:
    """How long the readiness step waits for missing extracts (`KIIM_READINESS_TIMEOUT`).

    Default 6 hours after the run started: a scheduled run at 06:00 takes what has arrived by
    noon. Tests set it to 0.
    """
    return _env_float("KIIM_READINESS_TIMEOUT", 6 * 3600)


def readiness_poke_s() -> float:
    """Seconds between two looks into the inbox (`KIIM_READINESS_POKE`, default 300)."""
    return _env_float("KIIM_READINESS_POKE", 300)


# --------------------------------------------------------------------------- period


def previous_month(day: date | datetime) -> str:
    """The reporting month a run on `day` is for: the month before, as YYYY-MM."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def resolve_period(requested: str | None, logical_date: date | datetime | None) -> str:
    """The period the trigger form asked for, else the month before the logical date."""
    if requested:
        return requested
    return previous_month(logical_date or datetime.now(UTC))


# --------------------------------------------------------------------------- readiness


def extract_status(run: dict[str, Any]) -> dict[str, str]:
    """Per selected agency: 'arrived' (a file in the inbox, readable or not), 'reused' (none
    new, but an accepted delivery of the period exists from an earlier run) or 'waiting'."""
    from kiim.config import load_agencies
    from kiim.ingest import find_extract

    ws = Workspace.from_env()
    period = run["period"]
    status: dict[str, str] = {}
    for agency in load_agencies(ws.config_dir):
        if agency.agency not in run["agencies"]:
            continue
        try:
            found = find_extract(agency, ws.inbox_period(period), period) is not None
        except ExtractError:
            found = True  # something arrived; process_agency rejects it with the reasons
        if found:
            status[agency.agency] = "arrived"
        elif ws.pseudonymised_file(agency.agency, period).exists():
            status[agency.agency] = "reused"
        else:
            status[agency.agency] = "waiting"
    return status


def readiness(run: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
    """One look into the inbox: are all extracts there, or is the deadline past?

    The deadline counts from the run's start, so a sensor that is rescheduled (and a re-run
    of the same task) keeps the same deadline. Returns `done` plus the agencies that are
    ready and those that will be recorded as missing.
    """
    timeout = readiness_timeout_s() if timeout_s is None else timeout_s
    status = extract_status(run)
    waiting = sorted(a for a, s in status.items() if s == "waiting")
    started = datetime.fromisoformat(run["started_at"])
    waited = (datetime.now(UTC) - started).total_seconds()
    deadline_passed = waited >= timeout
    if waiting and deadline_passed:
        log.warning(
            "[kiim] Frist abgelaufen: %s ohne Lieferung für %s, Lauf geht ohne sie weiter",
            ", ".join(waiting),
            run["period"],
        )
    return {
        "done": not waiting or deadline_passed,
        "ready": sorted(a for a, s in status.items() if s != "waiting"),
        "missing": waiting,
        "waited_s": round(waited, 1),
    }


def wait_for_extracts(
    run: dict[str, Any],
    timeout_s: float | None = None,
    poke_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Bounded waiting loop around `readiness` (the DAG uses a sensor; the CLI can use this)."""
    poke = readiness_poke_s() if poke_s is None else poke_s
    while True:
        state = readiness(run, timeout_s)
        if state["done"]:
            return state
        sleep(poke)


def check_completeness(results: Iterable[dict[str, Any]], allow_partial: bool) -> None:
    """With allow_partial off, a rejected or missing extract stops the run before publishing."""
    if allow_partial:
        return
    incomplete = sorted(
        f"{r['agency']} ({r['status']})"
        for r in results
        if r and r.get("status") in ("rejected", "missing")
    )
    if incomplete:
        raise IncompleteDelivery(
            "Unvollständige Lieferungen, Lauf ohne Veröffentlichung beendet "
            f"(Teillieferung nicht erlaubt): {', '.join(incomplete)}"
        )


# --------------------------------------------------------------------------- error classes


def is_data_error(exc: BaseException) -> bool:
    """True for errors a retry cannot fix: wrong data, failing checks, bad input, faults.

    Transient errors (OSError: a locked DuckDB file, a full disk, a network share that blinked)
    return False and are retried with backoff.
    """
    from pydantic import ValidationError

    from kiim.pipeline import RunError
    from kiim.publish import PublishError

    data_errors: tuple[type[BaseException], ...] = (
        RunError,
        InjectedFault,
        IncompleteDelivery,
        ExtractError,
        PublishError,
        ValidationError,
        ValueError,
        KeyError,
        TypeError,
    )
    import duckdb

    if isinstance(exc, duckdb.IOException):  # lock held by another writer: worth a retry
        return False
    if isinstance(exc, duckdb.Error) and not isinstance(exc, duckdb.IOException):
        return True  # SQL / constraint / conversion errors do not heal by waiting
    return isinstance(exc, data_errors)


# --------------------------------------------------------------------------- fault injection


def fault_point(point: str, side_effect: Callable[[], object] | None = None) -> None:
    """Simulate a crash at `point` when `KIIM_FAULT` names it (tests only; unset in operation).

    `side_effect` reproduces what a crash there leaves behind (a half-built warehouse, a
    half-written temporary file) before the exception stops the stage.
    """
    if os.environ.get("KIIM_FAULT") != point:
        return
    if side_effect is not None:
        side_effect()
    log.error("[kiim] Fehlerinjektion: Lauf an der Stelle %s abgebrochen", point)
    raise InjectedFault(f"injected fault at {point} (KIIM_FAULT)")


def half_write(path: Path) -> None:
    """Leave a truncated temporary file, as a process killed while writing it would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"DUCK" + b"\0" * 4096)


def sweep_temporaries(ws: Workspace) -> list[str]:
    """Remove temporary files a crashed run left in the zones; returns their names.

    Writers in kiim write `*.tmp` next to the target and rename; a leftover is never a valid
    file. Only one run is active at a time (max_active_runs=1), so none is in use.
    """
    removed: list[str] = []
    for folder in (ws.pseudonymised, ws.published_db.parent, ws.warehouse_db.parent, ws.staging):
        if not folder.exists():
            continue
        for tmp in folder.rglob("*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp.name)
    if removed:
        log.warning("[kiim] %d Reste eines abgebrochenen Laufs entfernt", len(removed))
    return removed


# --------------------------------------------------------------------------- run log fallback

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _marker(ws: Workspace, airflow_run_id: str) -> Path:
    return ws.runs_dir / "airflow" / f"{_SAFE.sub('_', airflow_run_id)}.json"


def remember_run(airflow_run_id: str, run: dict[str, Any]) -> None:
    """Note which kiim run an Airflow run started, so the failure callback can find it."""
    ws = Workspace.from_env()
    path = _marker(ws, airflow_run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(run, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def record_failed_run(
    airflow_run_id: str, period: str | None, trigger: str, reason: str
) -> dict[str, Any] | None:
    """Append a 'failed' run-log entry unless the run's final task already wrote one.

    Called by the DAG's on_failure_callback: it runs outside the tasks (in the scheduler's
    DAG processor), so it still works when finish_run itself crashed or never started.
    Returns the record written, or None when there was nothing to add.
    """
    from kiim.runlog import RunRecord, append_run, read_runs

    ws = Workspace.from_env()
    marker = _marker(ws, airflow_run_id)
    run: dict[str, Any] | None = None
    if marker.exists():
        run = json.loads(marker.read_text(encoding="utf-8"))
    if run is None:
        if not period or not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", period):
            log.error("[kiim] Fehlgeschlagener Lauf %s ohne gültigen Monat", airflow_run_id)
            return None
        run = {
            "run_id": f"{period}_{_SAFE.sub('_', airflow_run_id)}",
            "period": period,
            "trigger": trigger,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "key_id": None,
        }
        reason = f"Lauf nicht gestartet (start_run): {reason}"
    if ws.run_log.exists() and any(r.run_id == run["run_id"] for r in read_runs(ws.run_log)):
        return None
    record = RunRecord.model_validate(
        {
            "run_id": run["run_id"],
            "period": run["period"],
            "trigger": run.get("trigger", trigger),
            "started_at": run["started_at"],
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "status": "failed",
            "key_id": run.get("key_id"),
            "errors": [f"Abschluss nicht möglich, Eintrag vom Fehler-Callback: {reason}"],
        }
    )
    ws.runs_dir.mkdir(parents=True, exist_ok=True)
    append_run(ws.run_log, record)
    log.error("[kiim] Lauf %s als fehlgeschlagen protokolliert (%s)", run["run_id"], reason)
    return record.model_dump(mode="json")
