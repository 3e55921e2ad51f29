"""The monthly run as plain functions, one per DAG task.

Airflow only calls these (dags/kiim_monthly.py); tests call them directly. Every function
takes and returns JSON-able dicts so they travel as XCom, and none of them carries a raw
identifier: results hold counts, file names, checksums and German problem texts.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from kiim.config import Agency, load_agencies, load_organisation
from kiim.ingest import ParsedExtract, critical, find_extract, read_extract
from kiim.problems import ExtractError, Problem, Severity
from kiim.workspace import Workspace

if TYPE_CHECKING:
    from kiim.validate import ExtractValidator, ValidationOutcome

log = logging.getLogger(__name__)

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class RunError(RuntimeError):
    """A run cannot start or continue; the message says what to do."""


def check_period(period: str) -> str:
    if not PERIOD_RE.match(period or ""):
        raise RunError(f"period must be YYYY-MM (e.g. 2026-10), got {period!r}")
    return period


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _agencies(ws: Workspace, only: list[str] | None = None) -> list[Agency]:
    agencies = load_agencies(ws.config_dir)
    if only:
        unknown = sorted(set(only) - {a.agency for a in agencies})
        if unknown:
            raise RunError(
                f"unknown agencies {unknown}; configured: {[a.agency for a in agencies]}"
            )
        agencies = [a for a in agencies if a.agency in only]
    return agencies


def start_run(
    period: str, trigger: str = "cli", agencies: list[str] | None = None
) -> dict[str, Any]:
    """Check everything a run needs before touching data: period, configs, key, inbox."""
    from pseudonymization import key_id, load_key

    check_period(period)
    ws = Workspace.from_env()
    ws.ensure()
    selected = _agencies(ws, agencies)
    load_organisation(ws.config_dir)
    master = load_key()
    run_id = f"{period}_{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    log.info("[kiim] Lauf %s für %s gestartet (Schlüssel-ID %s)", run_id, period, key_id(master))
    return {
        "run_id": run_id,
        "period": period,
        "trigger": trigger,
        "key_id": key_id(master),
        "agencies": [a.agency for a in selected],
        "started_at": _now(),
        "t0": time.time(),
    }


def _previous_rows(ws: Workspace, agency: str, period: str) -> int | None:
    files = [
        f
        for f in sorted((ws.pseudonymised / agency).glob("period=*/data.parquet"))
        if f"period={period}" not in str(f)
    ]
    earlier = [f for f in files if f.parent.name.removeprefix("period=") < period]
    if not earlier:
        return None
    return int(pq.ParquetFile(earlier[-1]).metadata.num_rows)


def _quarantine(ws: Workspace, period: str, path: Path) -> str:
    target_dir = ws.quarantine / period
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    shutil.move(str(path), target)
    return str(target)


def process_agency(run: dict[str, Any], agency_name: str) -> dict[str, Any]:
    """Ingest -> pseudonymise -> validate one agency's extract; accept it or quarantine it.

    An accepted extract becomes `pseudonymised/<agency>/period=<p>/data.parquet` (written under
    a temporary name, then renamed). A rejected one is moved to the quarantine with the reasons
    in the quality report. With nothing in the inbox, an earlier accepted delivery of the same
    period is reused, so re-running a month after fixing one agency keeps the others.
    """
    from pseudonymization import load_key

    ws = Workspace.from_env()
    period = run["period"]
    agency = next(a for a in load_agencies(ws.config_dir) if a.agency == agency_name)
    t0 = time.time()
    result: dict[str, Any] = {
        "agency": agency_name,
        "period": period,
        "file": None,
        "sha256": None,
        "rows_read": 0,
        "rows_accepted": 0,
        "status": "missing",
        "problems": [],
    }
    final = ws.pseudonymised_file(agency_name, period)
    try:
        path = find_extract(agency, ws.inbox_period(period), period)
    except ExtractError as e:
        result.update(status="rejected", problems=[p.to_dict() for p in e.problems])
        return result
    if path is None:
        if final.exists():
            rows = int(pq.ParquetFile(final).metadata.num_rows)
            result.update(status="reused", rows_read=rows, rows_accepted=rows)
            log.info(
                "[kiim] %s: keine neue Lieferung, frühere Lieferung für %s bleibt gültig",
                agency_name,
                period,
            )
        else:
            log.warning("[kiim] %s: keine Lieferung für %s im Eingang", agency_name, period)
        return result
    result["file"] = path.name
    problems: list[Problem] = []
    try:
        parsed: ParsedExtract = read_extract(agency, path)
        result.update(sha256=parsed.sha256, rows_read=parsed.rows)
        problems += parsed.problems
        if not critical(problems):
            table = _pseudonymise(parsed, period, load_key())
            outcome = _validate(ws, agency, period, table, path.name)
            problems += outcome.problems
            result["validation"] = outcome.to_dict()
    except ExtractError as e:
        problems += e.problems
    result["problems"] = [p.to_dict() for p in problems]
    if critical(problems):
        result["status"] = "rejected"
        result["quarantined_as"] = _quarantine(ws, period, path)
        log.error(
            "[kiim] %s: Lieferung %s abgelehnt (%d kritische Befunde), in Quarantäne verschoben",
            agency_name,
            path.name,
            len(critical(problems)),
        )
        return result
    # temporary name in the target folder: a rename within one folder is atomic, also when the
    # zones are separate volumes (docker-compose.yml)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{run['run_id']}.tmp")
    pq.write_table(table.drop_columns(["_source_row"]), tmp, compression="zstd")
    os.replace(tmp, final)
    result.update(
        status="accepted", rows_accepted=table.num_rows, seconds=round(time.time() - t0, 2)
    )
    log.info("[kiim] %s: %d Datensätze pseudonymisiert und angenommen", agency_name, table.num_rows)
    return result


def _pseudonymise(parsed: ParsedExtract, period: str, master: bytes) -> pa.Table:
    from kiim.config import Role
    from kiim.pseudonymise import pseudonymise_extract

    scrubber = None
    if parsed.agency.by_role(Role.free_text):
        from pseudonymization import Scrubber

        scrubber = Scrubber()
    return pseudonymise_extract(parsed, period, master, scrubber)


def _validate(
    ws: Workspace, agency: Agency, period: str, table: pa.Table, file_name: str
) -> ValidationOutcome:
    validator = _validator(ws.expectations_dir)
    return validator.validate(
        table.to_pandas(),
        agency,
        period,
        file_name=file_name,
        previous_rows=_previous_rows(ws, agency.agency, period),
    )


@cache
def _validator(expectations_dir: Path) -> ExtractValidator:
    """One GX context per process: creating it costs seconds, and all agencies can share it."""
    from kiim.validate import ExtractValidator

    return ExtractValidator(expectations_dir)


def link(run: dict[str, Any], agency_results: list[dict[str, Any]]) -> dict[str, Any]:
    """Load the pseudonymised zone into the warehouse, record deliveries, link persons."""
    from kiim import warehouse
    from kiim.link import link_period

    ws = Workspace.from_env()
    period = run["period"]
    agencies = _agencies(ws, None)
    t0 = time.time()
    con = warehouse.connect(ws)
    try:
        loaded = warehouse.load_pseudonymised(con, ws, agencies)
        by_agency = {r["agency"]: r for r in agency_results}
        for a in agencies:
            r = by_agency.get(a.agency)
            status = r["status"] if r else "not_selected"
            if r is None and ws.pseudonymised_file(a.agency, period).exists():
                status = "reused"
            reasons = [
                p["message_de"]
                for p in (r or {}).get("problems", [])
                if p["severity"] == "critical"
            ]
            warehouse.record_delivery(
                con,
                period=period,
                agency=a.agency,
                status="accepted" if status in ("accepted", "reused") else status,
                rows_read=(r or {}).get("rows_read"),
                rows_accepted=(r or {}).get("rows_accepted"),
                file_sha256=(r or {}).get("sha256"),
                reason="; ".join(reasons) or None,
                run_id=run["run_id"],
            )
        stats = link_period(con, period, agencies)
        con.execute("checkpoint")
    finally:
        con.close()
    return {
        "loaded_rows": loaded,
        "linkage": stats.to_dict(),
        "seconds": round(time.time() - t0, 2),
    }


def transform(run: dict[str, Any]) -> dict[str, Any]:
    """dbt build on the warehouse (models and their tests)."""
    from kiim.transform import dbt_build

    ws = Workspace.from_env()
    t0 = time.time()
    outcome = dbt_build(
        ws.warehouse_db,
        ws.dbt_project_dir,
        period=run["period"],
        target_dir=ws.root / "dbt" / "target",
    )
    if not outcome.success:
        raise RunError(outcome.summary_de() + "\n" + "\n".join(str(f) for f in outcome.failures))
    log.info("[kiim] %s", outcome.summary_de())
    return {
        "models": outcome.models_passed,
        "tests": outcome.tests_passed,
        "manifest": str(outcome.manifest_path),
        "seconds": round(time.time() - t0, 2),
    }


def publish(run: dict[str, Any], transform_result: dict[str, Any]) -> dict[str, Any]:
    from kiim.publish import publish as do_publish

    ws = Workspace.from_env()
    org = load_organisation(ws.config_dir)
    t0 = time.time()
    result = do_publish(
        ws.warehouse_db,
        ws.published_db,
        k=org.disclosure_k,
        district_ags=org.district_ags,
        manifest_path=Path(transform_result["manifest"]),
    )
    return {
        "path": result.path,
        "marts": result.marts,
        "rows": result.rows,
        "suppression": result.suppression,
        "seconds": round(time.time() - t0, 2),
    }


def finish(
    run: dict[str, Any],
    agency_results: list[dict[str, Any]],
    link_result: dict[str, Any] | None,
    transform_result: dict[str, Any] | None,
    publish_result: dict[str, Any] | None,
    *,
    status: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """Quality report, run log, register; on success delete accepted raw extracts from the inbox."""
    from kiim.quality_report import write_quality_report
    from kiim.register import build_register, write_register
    from kiim.runlog import RunRecord, append_run, read_runs

    ws = Workspace.from_env()
    period = run["period"]
    agencies = _agencies(ws, None)
    org = load_organisation(ws.config_dir)
    if status is None:
        rejected = [r for r in agency_results if r["status"] in ("rejected", "missing")]
        status = "partial" if rejected else "success"
    problems = {
        r["agency"]: [
            Problem(**{**p, "severity": Severity(p["severity"]), "rows": tuple(p["rows"])})
            for p in r["problems"]
        ]
        for r in agency_results
    }
    from kiim.validate import ValidationOutcome

    outcomes = {
        r["agency"]: ValidationOutcome.from_dict(r["validation"])
        for r in agency_results
        if r.get("validation")
    }
    quality = write_quality_report(
        period,
        problems,
        outcomes,
        ws.quality_dir / period,
        agency_names={a.agency: a.name_de for a in agencies},
    )
    manifest = Path(transform_result["manifest"]) if transform_result else None
    record = RunRecord.model_validate(
        dict(
            run_id=run["run_id"],
            period=period,
            trigger=run.get("trigger", "cli"),
            started_at=run["started_at"],
            finished_at=_now(),
            status=status,
            key_id=run["key_id"],
            files=[
                {
                    "agency": r["agency"],
                    "file": r.get("file"),
                    "sha256": r.get("sha256"),
                    "rows_read": r.get("rows_read"),
                    "rows_accepted": r.get("rows_accepted"),
                    "status": r["status"],
                    "reason": "; ".join(
                        p["message_de"] for p in r["problems"] if p["severity"] == "critical"
                    )
                    or None,
                }
                for r in agency_results
            ],
            linkage=(link_result or {}).get("linkage", {}),
            marts=(publish_result or {}).get("marts", []),
            suppression=(publish_result or {}).get("suppression", {}),
            durations={
                "link": (link_result or {}).get("seconds"),
                "dbt": (transform_result or {}).get("seconds"),
                "publish": (publish_result or {}).get("seconds"),
                "total": round(time.time() - run.get("t0", time.time()), 2),
            },
            quality_report=str(quality.html),
            errors=[error] if error else [],
        )
    )
    append_run(ws.run_log, record)
    register = build_register(
        agencies,
        org,
        manifest if manifest and manifest.exists() else None,
        read_runs(ws.run_log),
        run["key_id"],
        datetime.now(UTC).date(),
    )
    register_paths = write_register(register, ws.register_dir)
    if status in ("success", "partial") and publish_result:
        for r in agency_results:
            if r["status"] == "accepted" and r.get("file"):
                (ws.inbox_period(period) / r["file"]).unlink(missing_ok=True)
    summary = {
        "run_id": run["run_id"],
        "period": period,
        "status": status,
        "agencies": {
            r["agency"]: {
                "status": r["status"],
                "rows_read": r.get("rows_read", 0),
                "rows_accepted": r.get("rows_accepted", 0),
            }
            for r in agency_results
        },
        "linkage": (link_result or {}).get("linkage", {}),
        "marts": (publish_result or {}).get("marts", []),
        "suppression": (publish_result or {}).get("suppression", {}),
        "published_db": str(ws.published_db),
        "register": str(register_paths.html),
        "quality_report": str(quality.html),
        "run_log": str(ws.run_log),
        "seconds": record.durations["total"],
        "error": error,
    }
    summary_path = ws.runs_dir / "last_summary.json"
    import json

    summary_path.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary


def finish_from_airflow(
    run: dict[str, Any] | None,
    results: list[dict[str, Any]] | None,
    linked: dict[str, Any] | None,
    built: dict[str, Any] | None,
    published: dict[str, Any] | None,
) -> dict[str, Any]:
    """Final task: always writes the run log; fails the DAG run when an earlier step failed."""
    if run is None:
        raise RunError("the run did not start (see the start_run task log); nothing was processed")
    results = [r for r in (results or []) if r]
    failed = published is None
    summary = finish(
        run,
        results,
        linked,
        built,
        published,
        status="failed" if failed else None,
        error="a pipeline step failed; see the Airflow task logs" if failed else None,
    )
    if failed:
        raise RunError(f"run {run['run_id']} failed; run log and quality report written")
    return summary
