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
from zipfile import BadZipFile

import pyarrow as pa
import pyarrow.parquet as pq

from kiim.config import Agency, load_agencies, load_organisation
from kiim.ingest import ParsedExtract, critical, find_extract, read_extract, sha256_file
from kiim.problems import ExtractError, Problem, Severity
from kiim.workspace import Workspace

if TYPE_CHECKING:
    from kiim.validate import ExtractValidator, ValidationOutcome
    from pseudonymization import Scrubber

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
    from kiim.orchestration import sweep_temporaries
    from pseudonymization import key_id, load_key

    check_period(period)
    ws = Workspace.from_env()
    ws.ensure()
    sweep_temporaries(ws)  # leftovers of a crashed run are never valid files
    selected = _agencies(ws, agencies)
    load_organisation(ws.config_dir)
    master = load_key()
    from kiim.keylog import KeyRetiredError, check_key_usable, key_log_path

    try:
        check_key_usable(key_log_path(ws), key_id(master))
    except KeyRetiredError as e:
        raise RunError(str(e)) from None
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


def _quarantine(
    ws: Workspace, period: str, path: Path, problems: list[Problem] | None = None
) -> str:
    """Move a rejected raw extract out of the inbox, never overwriting an earlier one.

    Beside it goes `<name>.befunde.json` with the problems (no values), so whoever looks into
    the quarantine folder sees why the file is there.
    """
    import json

    target_dir = ws.quarantine / period
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = target_dir / f"{path.stem}.{stamp}{path.suffix}"
    shutil.move(str(path), target)
    if problems is not None:
        target.with_name(f"{target.name}.befunde.json").write_text(
            json.dumps([p.to_dict() for p in problems], ensure_ascii=False, indent=2),
            encoding="utf-8",
        )
    return str(target)


@cache
def _scrubber() -> Scrubber:
    """One Presidio analyzer per process (building it takes about a second)."""
    from pseudonymization import Scrubber

    return Scrubber()


def _reject(
    ws: Workspace,
    result: dict[str, Any],
    period: str,
    paths: list[Path],
    problems: list[Problem],
) -> dict[str, Any]:
    result["status"] = "rejected"
    result["problems"] = [p.to_dict() for p in problems]
    moved = [_quarantine(ws, period, p, problems) for p in paths]
    result["quarantined_as"] = moved[0] if len(moved) == 1 else moved
    log.error(
        "[kiim] %s: Lieferung %s abgelehnt (%d kritische Befunde), in Quarantäne verschoben",
        result["agency"],
        result["file"],
        len(critical(problems)),
    )
    return result


def process_agency(run: dict[str, Any], agency_name: str) -> dict[str, Any]:
    """Pre-checks -> ingest -> pseudonymise -> validate one extract; accept it or quarantine it.

    An accepted extract becomes `pseudonymised/<agency>/period=<p>/data.parquet` (written under
    a temporary name, then renamed). A rejected one is moved to the quarantine with the reasons
    in the quality report; nothing of it reaches the pseudonymised zone. With nothing in the
    inbox, an earlier accepted delivery of the same period is reused, so re-running a month
    after fixing one agency keeps the others. No exception about the extract leaves this
    function: a broken file of one agency must not stop the others.
    """
    from kiim import prechecks
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
    inbox = ws.inbox_period(period)
    try:
        path = find_extract(agency, inbox, period)
    except ExtractError as e:
        result.update(status="rejected", problems=[p.to_dict() for p in e.problems])
        return result
    if path is None:
        wrong = prechecks.misdelivered_files(agency, inbox, period)
        if wrong:
            result["file"] = ", ".join(p.name for p in wrong)
            named = [q for p in wrong for q in prechecks.check_file_name(agency, p, period)]
            return _reject(ws, result, period, wrong, named)
        if final.exists():
            rows = int(pq.ParquetFile(final).metadata.num_rows)
            result.update(
                status="reused",
                rows_read=rows,
                rows_accepted=rows,
                sha256=prechecks.accepted_sha256(ws, agency_name, period),
            )
            log.info(
                "[kiim] %s: keine neue Lieferung, frühere Lieferung für %s bleibt gültig",
                agency_name,
                period,
            )
        else:
            log.warning("[kiim] %s: keine Lieferung für %s im Eingang", agency_name, period)
        return result
    result["file"] = path.name
    problems: list[Problem] = prechecks.check_file_name(agency, path, period)
    try:
        digest = sha256_file(path)
        result["sha256"] = digest
        problems += prechecks.check_duplicate_delivery(ws, agency, path.name, digest, period)
        if not critical(problems):
            parsed: ParsedExtract = read_extract(agency, path)
            result.update(rows_read=parsed.rows)
            problems += parsed.problems
            problems += prechecks.check_period_contents(parsed, period)
            problems += prechecks.scan_attributes(parsed, _scrubber)
        if not critical(problems):
            table = _pseudonymise(parsed, period, load_key())
            del parsed
            problems += prechecks.scan_scrubbed_free_text(agency, path.name, table, _scrubber)
        if not critical(problems):
            outcome = _validate(ws, agency, period, table, path.name)
            problems += outcome.problems
            result["validation"] = outcome.to_dict()
    except ExtractError as e:
        problems += e.problems
    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError, BadZipFile) as e:
        # Content the readers did not foresee (Arrow errors derive from these): the agency is
        # rejected, the others go on. The text may quote a value: report the type only. The
        # file stays in the inbox, since the fault may be ours rather than the file's.
        # Environment errors (OSError, MemoryError) still fail the task, so Airflow retries.
        log.error("[kiim] %s: interner Fehler %s beim Verarbeiten", agency_name, type(e).__name__)
        problems.append(
            Problem(
                agency=agency_name,
                file=path.name,
                check="internal_error",
                message_de=(
                    f"Die Datei konnte wegen eines unerwarteten Programmfehlers "
                    f"({type(e).__name__}) nicht verarbeitet werden. Sie bleibt im Eingang."
                ),
                fix_de=(
                    "Den Betrieb (Administration) informieren; nach der Fehlerbehebung den "
                    "Monat erneut ausführen. Die Lieferung selbst ist nicht beanstandet."
                ),
            )
        )
        result.update(status="rejected", problems=[p.to_dict() for p in problems])
        return result
    if critical(problems):
        return _reject(ws, result, period, [path], problems)
    result["problems"] = [p.to_dict() for p in problems]
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

    scrubber = _scrubber() if parsed.agency.by_role(Role.free_text) else None
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
    from kiim.orchestration import fault_point

    fault_point("after_pseudonymise")  # crash-recovery tests only (KIIM_FAULT)
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
    from kiim.orchestration import fault_point
    from kiim.transform import dbt_build

    ws = Workspace.from_env()
    t0 = time.time()
    # crash-recovery tests only (KIIM_FAULT): stop after staging and intermediate models were rebuilt
    fault_point(
        "during_dbt",
        lambda: dbt_build(
            ws.warehouse_db,
            ws.dbt_project_dir,
            period=run["period"],
            target_dir=ws.root / "dbt" / "target",
            select="path:models/staging path:models/intermediate",
        ),
    )
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
    from kiim.orchestration import fault_point, half_write
    from kiim.publish import publish as do_publish

    ws = Workspace.from_env()
    # crash-recovery tests only (KIIM_FAULT): die while the new analysts' file is being written
    fault_point(
        "during_publish",
        lambda: half_write(ws.published_db.with_name(ws.published_db.name + ".tmp")),
    )
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
    from kiim.keylog import ensure_recorded, key_log_path
    from kiim.quality_report import write_quality_report
    from kiim.register import write_workspace_register
    from kiim.runlog import RunRecord, append_run

    ws = Workspace.from_env()
    period = run["period"]
    agencies = _agencies(ws, None)
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
    if run.get("key_id"):
        ensure_recorded(key_log_path(ws), run["key_id"], record.started_at)
    register_paths = write_workspace_register(
        ws,
        key_id=run["key_id"],
        manifest_path=manifest if manifest and manifest.exists() else None,
    )
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
