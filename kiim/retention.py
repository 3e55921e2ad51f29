"""Storage limitation (Art. 5(1)(e) GDPR): delete what is due, zone by zone, and prove it.

Periods come from `Organisation.retention_policy` (months after the end of the reporting
month). A reporting month P is due in a zone with N months on the first day of month P+N+1,
so the latest due month is `today's month - (N + 1)`.

What each zone loses when its month is due:

* inbox, quarantine - the folder `<zone>/<period>/` with every file in it (raw extracts);
* pseudonymised - `pseudonymised/<agency>/period=<P>/` (person-level Parquet);
* warehouse - every row of a due month in every base table of the warehouse DuckDB with a
  text column `period` (`pseudo.*`, `linkage.*`, `ops.*` and dbt's tables), then entries of the
  person-key registry whose records have no month left;
* docs - quality reports `docs/quality/<period>/`;
* run logs - never: the run log is append-only and not rewritten (see docs/operations.md);
  whole archived logs `docs/runs/archive/*.jsonl` are deleted when their newest entry is due.

Every deletion is appended to `docs/retention/deletions.jsonl` (zone, what, period, counts,
when): names of folders and tables and counts only, never a value. A dry run computes the
same report and deletes and logs nothing.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from kiim.config import RetentionPolicy, load_organisation
from kiim.jsonlog import append_line, read_lines
from kiim.workspace import Workspace

log = logging.getLogger(__name__)

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def shift_period(period: str, months: int) -> str:
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def latest_due_period(today: date, months: int) -> str:
    """The latest reporting month that a zone keeping `months` months may no longer hold."""
    return shift_period(f"{today.year:04d}-{today.month:02d}", -(months + 1))


def due_on(period: str, months: int) -> date:
    """The day a reporting month becomes due in a zone keeping `months` months."""
    first = shift_period(period, months + 1)
    return date(int(first[:4]), int(first[5:7]), 1)


@dataclass
class Deletion:
    """One thing deleted (or due, in a dry run). Names and counts only."""

    zone: str
    what: str
    period: str | None
    files: int = 0
    rows: int = 0
    bytes: int = 0


@dataclass
class RetentionReport:
    today: date
    dry_run: bool
    latest_due: dict[str, str]
    deletions: list[Deletion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def files(self) -> int:
        return sum(d.files for d in self.deletions)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.deletions)

    def by_zone(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for d in self.deletions:
            z = out.setdefault(d.zone, {"items": 0, "files": 0, "rows": 0})
            z["items"] += 1
            z["files"] += d.files
            z["rows"] += d.rows
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "latest_due": self.latest_due,
            "deletions": [asdict(d) for d in self.deletions],
            "notes": self.notes,
        }


def deletion_log_path(ws: Workspace) -> Path:
    return ws.docs / "retention" / "deletions.jsonl"


def read_deletions(path: Path) -> list[dict[str, Any]]:
    return read_lines(path)


# ----------------------------------------------------------------------------- file zones


def _folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _period_folders(parent: Path, prefix: str = "") -> list[tuple[str, Path]]:
    if not parent.is_dir():
        return []
    out = []
    for child in sorted(parent.iterdir()):
        name = child.name.removeprefix(prefix) if child.name.startswith(prefix) else None
        if child.is_dir() and name and PERIOD_RE.match(name):
            out.append((name, child))
    return out


def _due_folders(
    zone: str, folders: list[tuple[str, Path]], cutoff: str, base: Path, dry_run: bool
) -> list[Deletion]:
    out: list[Deletion] = []
    for period, folder in folders:
        if period > cutoff:
            continue
        files, size = _folder_size(folder)
        rows = 0
        if zone == "pseudonymised":
            rows = _parquet_rows(folder)
        out.append(
            Deletion(
                zone=zone,
                what=folder.relative_to(base).as_posix(),
                period=period,
                files=files,
                rows=rows,
                bytes=size,
            )
        )
        if not dry_run:
            shutil.rmtree(folder)
    return out


def _parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    total = 0
    for f in folder.glob("*.parquet"):
        try:
            total += int(pq.ParquetFile(f).metadata.num_rows)
        except (OSError, ValueError):
            continue
    return total


# ----------------------------------------------------------------------------- warehouse


def _warehouse(ws: Workspace, cutoff: str, dry_run: bool) -> list[Deletion]:
    """Rows of due months in every base table with a text `period` column, then orphaned
    registry entries. One transaction: a failure deletes nothing."""
    if not ws.warehouse_db.exists():
        return []
    import duckdb

    con = duckdb.connect(str(ws.warehouse_db), read_only=dry_run)
    out: list[Deletion] = []
    try:
        tables = con.execute(
            """
            select c.table_schema, c.table_name
            from information_schema.columns c
            join information_schema.tables t
              on t.table_schema = c.table_schema and t.table_name = c.table_name
            where c.column_name = 'period' and c.data_type = 'VARCHAR'
              and t.table_type = 'BASE TABLE' and t.table_catalog = current_database()
              and c.table_catalog = current_database()
            order by 1, 2
            """
        ).fetchall()
        due = "period <= ? and regexp_full_match(period, '\\d{4}-\\d{2}')"
        if not dry_run:
            con.execute("begin transaction")
        try:
            for schema, table in tables:
                name = f'"{schema}"."{table}"'
                counts = con.execute(
                    f"select period, count(*) from {name} where {due} group by period "
                    "order by period",
                    [cutoff],
                ).fetchall()
                for period, n in counts:
                    out.append(
                        Deletion(zone="warehouse", what=f"{schema}.{table}", period=period, rows=n)
                    )
                if counts and not dry_run:
                    con.execute(f"delete from {name} where {due}", [cutoff])
            out += _orphaned_registry(con, cutoff, dry_run)
            if not dry_run:
                con.execute("commit")
        except Exception:
            if not dry_run:
                con.execute("rollback")
            raise
        if not dry_run and out:
            con.execute("checkpoint")
    finally:
        con.close()
    return out


def _has_table(con: Any, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name = ? and table_catalog = current_database()",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _orphaned_registry(con: Any, cutoff: str, dry_run: bool) -> list[Deletion]:
    """Registry entries of records with no month left in `linkage.record_person`.

    In a dry run the due rows are still there, so the orphans are those whose every month
    is due."""
    if not (
        _has_table(con, "linkage", "record_registry")
        and _has_table(con, "linkage", "record_person")
    ):
        return []
    kept = "select distinct agency, record_key from linkage.record_person"
    if dry_run:
        kept += " where period > ?"
    orphan = f"""
        from linkage.record_registry r
        where not exists (
            select 1 from ({kept}) k where k.agency = r.agency and k.record_key = r.record_key
        )
    """
    params = [cutoff] if dry_run else []
    row = con.execute(f"select count(*) {orphan}", params).fetchone()
    n = int(row[0]) if row else 0
    if not n:
        return []
    if not dry_run:
        con.execute(
            "delete from linkage.record_registry r where not exists (select 1 from "
            "linkage.record_person k where k.agency = r.agency and k.record_key = r.record_key)"
        )
    return [Deletion(zone="warehouse", what="linkage.record_registry", period=None, rows=n)]


# ----------------------------------------------------------------------------- run logs


def _run_logs(ws: Workspace, cutoff: str, dry_run: bool) -> tuple[list[Deletion], list[str]]:
    """Archived whole run-log files whose newest entry is due; the active log is never touched."""
    notes: list[str] = []
    out: list[Deletion] = []
    archive = ws.runs_dir / "archive"
    for f in sorted(archive.glob("*.jsonl")) if archive.is_dir() else []:
        periods = [str(e.get("period")) for e in read_lines(f) if e.get("period")]
        if periods and max(periods) <= cutoff:
            out.append(
                Deletion(
                    zone="run_logs",
                    what=f.relative_to(ws.root).as_posix(),
                    period=max(periods),
                    files=1,
                    rows=len(periods),
                    bytes=f.stat().st_size,
                )
            )
            if not dry_run:
                f.unlink()
    if ws.run_log.exists():
        old = sum(1 for e in read_lines(ws.run_log) if str(e.get("period", "9999-99")) <= cutoff)
        if old:
            notes.append(
                f"run log: {old} entries older than the retention period stay in the active, "
                "append-only log (no personal data); archive the file to let them expire"
            )
    return out, notes


# ----------------------------------------------------------------------------- apply


def apply_retention(
    ws: Workspace,
    today: date | None = None,
    dry_run: bool = False,
    policy: RetentionPolicy | None = None,
) -> RetentionReport:
    """Delete everything due on `today` (default: today) and log it; a dry run only reports."""
    today = today or datetime.now(UTC).date()
    policy = policy or load_organisation(ws.config_dir).retention_policy
    cut = {
        zone: latest_due_period(today, policy.months(zone))
        for zone in ("inbox", "quarantine", "pseudonymised", "warehouse", "docs", "run_logs")
    }
    report = RetentionReport(today=today, dry_run=dry_run, latest_due=cut)
    report.deletions += _due_folders(
        "inbox", _period_folders(ws.inbox), cut["inbox"], ws.inbox.parent, dry_run
    )
    report.deletions += _due_folders(
        "quarantine", _period_folders(ws.quarantine), cut["quarantine"], ws.root, dry_run
    )
    if ws.pseudonymised.is_dir():
        for agency in sorted(p for p in ws.pseudonymised.iterdir() if p.is_dir()):
            report.deletions += _due_folders(
                "pseudonymised",
                _period_folders(agency, "period="),
                cut["pseudonymised"],
                ws.root,
                dry_run,
            )
    report.deletions += _warehouse(ws, cut["warehouse"], dry_run)
    report.deletions += _due_folders(
        "docs", _period_folders(ws.quality_dir), cut["docs"], ws.root, dry_run
    )
    logs, notes = _run_logs(ws, cut["run_logs"], dry_run)
    report.deletions += logs
    report.notes += notes
    if not dry_run:
        _log_deletions(ws, report, policy)
    log.info(
        "[kiim] Löschfristen%s: %d Dateien, %d Zeilen fällig",
        " (Probelauf)" if dry_run else "",
        report.files,
        report.rows,
    )
    return report


def _log_deletions(ws: Workspace, report: RetentionReport, policy: RetentionPolicy) -> None:
    """One line per deletion plus one line for the retention run itself (also when nothing
    was due: the evidence that the check ran)."""
    path = deletion_log_path(ws)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    run_id = f"retention_{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    for d in report.deletions:
        append_line(
            path,
            {
                "event": "deleted",
                "run_id": run_id,
                "deleted_at": at,
                "today": report.today.isoformat(),
                "retention_months": policy.months(d.zone),
                **asdict(d),
            },
        )
    append_line(
        path,
        {
            "event": "retention_run",
            "run_id": run_id,
            "deleted_at": at,
            "today": report.today.isoformat(),
            "latest_due": report.latest_due,
            "items": len(report.deletions),
            "files": report.files,
            "rows": report.rows,
        },
    )


# ----------------------------------------------------------------------------- CLI


def retention_cli(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="nur anzeigen, was fällig ist; nichts löschen")
    ] = False,
    today: Annotated[str | None, typer.Option(help="Stichtag JJJJ-MM-TT (Standard: heute)")] = None,
) -> None:
    """Löschfristen anwenden: fällige Daten je Zone löschen und im Löschprotokoll festhalten."""
    from kiim.fmt import de_int

    ws = Workspace.from_env()
    day = date.fromisoformat(today) if today else None
    report = apply_retention(ws, day, dry_run=dry_run)
    typer.echo(
        f"Löschfristen zum {report.today:%d.%m.%Y}"
        + (" (Probelauf, nichts gelöscht)" if dry_run else "")
    )
    for zone, counts in report.by_zone().items():
        typer.echo(
            f"  {zone:<14} {de_int(counts['items']):>6} Einträge {de_int(counts['files']):>8} "
            f"Dateien {de_int(counts['rows']):>12} Zeilen"
        )
    if not report.deletions:
        typer.echo("  nichts fällig")
    for note in report.notes:
        typer.echo(f"  Hinweis: {note}")
    if not dry_run:
        from kiim.register import write_workspace_register

        paths = write_workspace_register(ws)
        typer.echo(f"Löschprotokoll: {deletion_log_path(ws)}\nVerzeichnis:    {paths.html}")


def report_json(report: RetentionReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2)
