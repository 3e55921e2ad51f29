"""Key rotation: move stored pseudonyms to a new key without breaking any trajectory.

Why it needs a bridge. A stored record pseudonym is HMAC(record key derived from the master
key, agency|record number). The record numbers are deleted with each month's raw extract, so
the pipeline cannot recompute the stored pseudonyms under a new key. It can, however, compute
both pseudonyms for every record of one month's extracts while they are still in the inbox:
that month is the *bridge delivery*. Its translation (old record pseudonym -> new record
pseudonym) is applied to everything stored:

* `linkage.*` tables with `agency, record_key` (the person-key registry `record_registry`,
  the monthly assignments `record_person`, and any later table of that shape);
* the `record_key` column of every Parquet file of the pseudonymised zone (all months), then
  `pseudo.*` is reloaded from them.

Person keys are not derived from the master key and are never rewritten: a record of the
bridge month finds its earlier assignments under its new pseudonym, so its person keeps the
same person key (`kiim.link` inherits keys through `record_person`).

Limits, stated in docs/operations.md and the register: a record that is not in the bridge
delivery keeps its old pseudonym (listed in `linkage.key_stale_records` with the old key id);
if it returns after the bridge it starts as a new record, and its person keeps the key only if
another of its records (another agency) is linked to it. A follow-up bridge (`rotate_key` again
with the same two keys before the next month is processed) recovers such records while the old
key is still at hand. Linkage encodings of earlier months stay under the old key; they are only
read to re-link their own month. The old key therefore stays sealed in the key safe until the
last month pseudonymised under it has passed its retention (`keep_sealed_until` in the key
history), and is destroyed then.

The translation exists in memory only: kept, it would link new pseudonyms to old ones and undo
the point of rotating.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import typer

from kiim.config import Agency, load_agencies, load_organisation
from kiim.keylog import (
    BridgeEvent,
    active_key_id,
    key_log_path,
    read_key_history,
    record_event,
)
from kiim.workspace import Workspace

log = logging.getLogger(__name__)

STALE_TABLE = "linkage.key_stale_records"


class RotationError(RuntimeError):
    """The rotation cannot be done as asked; nothing was changed. The message says why."""


@dataclass
class RotationReport:
    old_key_id: str
    new_key_id: str
    bridge_period: str
    first: bool
    dry_run: bool
    records_per_agency: dict[str, int] = field(default_factory=dict)
    agencies_without_bridge: list[str] = field(default_factory=list)
    records_translated: int = 0
    registry_rewritten: int = 0
    persons_carried: int = 0
    records_left_on_old_key: int = 0
    persons_left_on_old_key: int = 0
    parquet_files_rewritten: int = 0
    warehouse_rows_rewritten: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- translation


def record_keys(agency: str, record_ids: pa.Array | pa.ChunkedArray, master: bytes) -> pa.Array:
    """Record pseudonyms exactly as `kiim.pseudonymise.pseudonymise_extract` computes them."""
    from pseudonymization import combine, derive_key, keyed_hash

    ids = record_ids.combine_chunks() if isinstance(record_ids, pa.ChunkedArray) else record_ids
    agencies = pa.array([agency] * len(ids), pa.string())
    return keyed_hash(combine(agencies, ids.cast(pa.string())), derive_key(master, "record"))


def bridge_translation(
    ws: Workspace, agencies: list[Agency], period: str, old_key: bytes, new_key: bytes
) -> tuple[pa.Table, dict[str, int], list[str]]:
    """(agency, old_key, new_key) for every record of the bridge extracts in the inbox.

    Reads the raw extracts (the only place record numbers still exist) and keeps nothing but
    the two pseudonyms. Agencies without a readable bridge extract are returned by name.
    """
    from kiim.ingest import find_extract, read_extract
    from kiim.problems import ExtractError

    parts: list[pa.Table] = []
    per_agency: dict[str, int] = {}
    missing: list[str] = []
    for agency in agencies:
        try:
            path = find_extract(agency, ws.inbox_period(period), period)
            if path is None:
                missing.append(agency.agency)
                continue
            parsed = read_extract(agency, path)
        except ExtractError:
            missing.append(agency.agency)
            continue
        if "record_id" not in parsed.table.column_names:
            missing.append(agency.agency)
            continue
        ids = parsed.table.column("record_id").combine_chunks()
        ids = ids.filter(pc.is_valid(ids))
        old = record_keys(agency.agency, ids, old_key)
        new = record_keys(agency.agency, ids, new_key)
        part = pa.table(
            {
                "agency": pa.array([agency.agency] * len(ids), pa.string()),
                "old_key": old,
                "new_key": new,
            }
        )
        part = part.filter(pc.is_valid(part.column("old_key")))
        parts.append(part)
        per_agency[agency.agency] = part.num_rows
    schema = pa.schema(
        [("agency", pa.string()), ("old_key", pa.string()), ("new_key", pa.string())]
    )
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    # an agency may deliver a record number twice: one translation per pseudonym suffices
    if table.num_rows:
        table = table.group_by(["agency", "old_key", "new_key"]).aggregate([])
    return table, per_agency, missing


# ----------------------------------------------------------------------------- preconditions


def _last_run_key(ws: Workspace) -> str | None:
    from kiim.runlog import read_runs

    keyed = [r for r in read_runs(ws.run_log) if r.key_id]
    return keyed[-1].key_id if keyed else None


def _first_run_at(ws: Workspace, key: str) -> datetime | None:
    from kiim.runlog import read_runs

    starts = [r.started_at for r in read_runs(ws.run_log) if r.key_id == key]
    return min(starts) if starts else None


def _mode(ws: Workspace, old_id: str, new_id: str) -> bool:
    """True for the first bridge of a rotation, False for a follow-up bridge."""
    if old_id == new_id:
        raise RotationError("old and new key are the same key; create a new key first")
    history = read_key_history(key_log_path(ws))
    if any(k.key_id == new_id and k.predecessor == old_id for k in history):
        if active_key_id(key_log_path(ws)) != new_id:
            raise RotationError(f"key {new_id} is not the key in use any more")
        return False
    if any(k.key_id == new_id for k in history):
        raise RotationError(f"key {new_id} was used before; a new key must be new")
    in_use = active_key_id(key_log_path(ws)) or _last_run_key(ws)
    if in_use is not None and in_use != old_id:
        raise RotationError(
            f"the old key given ({old_id}) is not the key in use ({in_use}); its pseudonyms "
            "would not match the stored ones"
        )
    return True


def _check_bridge_not_processed(ws: Workspace, agencies: list[Agency], period: str) -> None:
    for agency in agencies:
        later = [
            f
            for f in (ws.pseudonymised / agency.agency).glob("period=*/data.parquet")
            if f.parent.name.removeprefix("period=") >= period
        ]
        if later:
            raise RotationError(
                f"{agency.agency}: the pseudonymised zone already holds {period} or later; the "
                "rotation must run before the bridge month is processed"
            )
    if ws.warehouse_db.exists():
        import duckdb

        con = duckdb.connect(str(ws.warehouse_db), read_only=True)
        try:
            if _has_table(con, "linkage", "record_person"):
                n = con.execute(
                    "select count(*) from linkage.record_person where period >= ?", [period]
                ).fetchall()[0][0]
                if n:
                    raise RotationError(
                        f"the warehouse already links {period} or later; the rotation must run "
                        "before the bridge month is processed"
                    )
        finally:
            con.close()


def _has_table(con: Any, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and "
        "table_name = ? and table_catalog = current_database()",
        [schema, table],
    ).fetchall()
    return bool(rows[0][0])


# ----------------------------------------------------------------------------- rewriting


def _rewrite_parquet(
    ws: Workspace, agencies: list[Agency], translation: pa.Table, dry_run: bool
) -> int:
    """Replace old record pseudonyms in every Parquet file; returns files changed.

    Each file is written under a temporary name and renamed, so a crash leaves either the old
    or the new file; a repeated rotation finds nothing more to translate in rewritten files.
    """
    changed = 0
    for agency in agencies:
        mine = translation.filter(pc.equal(translation.column("agency"), agency.agency))
        if mine.num_rows == 0:
            continue
        old_keys, new_keys = mine.column("old_key").combine_chunks(), mine.column("new_key")
        for path in sorted((ws.pseudonymised / agency.agency).glob("period=*/data.parquet")):
            table = pq.read_table(path)
            keys = table.column("record_key").combine_chunks()
            index = pc.index_in(keys, value_set=old_keys)
            if index.null_count == len(index):
                continue
            changed += 1
            if dry_run:
                continue
            replaced = pc.coalesce(pc.take(new_keys.combine_chunks(), index), keys)
            position = table.schema.get_field_index("record_key")
            table = table.set_column(
                position, table.schema.field(position), replaced.cast(keys.type)
            )
            tmp = path.with_name(f".{path.name}.rotation.tmp")
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
    return changed


def _linkage_tables(con: Any) -> list[str]:
    rows = con.execute(
        """
        select t.table_name from information_schema.tables t
        where t.table_schema = 'linkage' and t.table_type = 'BASE TABLE'
          and t.table_catalog = current_database()
          and exists (select 1 from information_schema.columns c where c.table_schema = 'linkage'
                      and c.table_name = t.table_name and c.column_name = 'agency')
          and exists (select 1 from information_schema.columns c where c.table_schema = 'linkage'
                      and c.table_name = t.table_name and c.column_name = 'record_key')
        order by 1
        """
    ).fetchall()
    return [f"linkage.{r[0]}" for r in rows if f"linkage.{r[0]}" != STALE_TABLE]


def _rewrite_warehouse(
    ws: Workspace, translation: pa.Table, report: RotationReport, first: bool, now: datetime
) -> None:
    """Rewrite `linkage.*` in one transaction and mark what stays under the old key."""
    if not ws.warehouse_db.exists():
        return
    import duckdb

    con = duckdb.connect(str(ws.warehouse_db), read_only=report.dry_run)
    con.register("_translation", translation)
    match = "t.agency = m.agency and t.record_key = m.old_key"
    try:
        if not report.dry_run:
            con.execute("begin transaction")
            con.execute(
                f"create table if not exists {STALE_TABLE} (agency varchar, record_key varchar, "
                "key_id varchar, since varchar)"
            )
        has_registry = _has_table(con, "linkage", "record_registry")
        if has_registry:
            report.persons_carried = int(
                con.execute(
                    "select count(distinct t.person_key) from linkage.record_registry t "
                    f"join _translation m on {match}"
                ).fetchall()[0][0]
            )
        for table in _linkage_tables(con):
            n = int(
                con.execute(
                    f"select count(*) from {table} t join _translation m on {match}"
                ).fetchall()[0][0]
            )
            report.warehouse_rows_rewritten[table] = n
            if table == "linkage.record_registry":
                report.registry_rewritten = n
            if not n or report.dry_run:
                continue
            con.execute(
                "create or replace temp table _rekeyed as select t.* replace "
                f"(m.new_key as record_key) from {table} t join _translation m on {match}"
            )
            con.execute(f"delete from {table} t using _translation m where {match}")
            con.execute(f"insert into {table} select * from _rekeyed")
            con.execute("drop table _rekeyed")
        if has_registry:
            _mark_stale(con, report, first, now)
        if not report.dry_run:
            con.execute("commit")
    except Exception:
        if not report.dry_run:
            con.execute("rollback")
        raise
    finally:
        con.unregister("_translation")
        con.close()


def _mark_stale(con: Any, report: RotationReport, first: bool, now: datetime) -> None:
    """Registry entries still under the old key: new on a first bridge, fewer on a follow-up."""
    if report.dry_run:
        # before rewriting: everything not translated (first) or still listed (follow-up)
        if first:
            stale = (
                "select t.agency, t.record_key, t.person_key from linkage.record_registry t "
                "where not exists (select 1 from _translation m where t.agency = m.agency "
                "and t.record_key = m.old_key)"
            )
        elif _has_table(con, "linkage", "key_stale_records"):
            stale = (
                f"select s.agency, s.record_key, r.person_key from {STALE_TABLE} s "
                "join linkage.record_registry r using (agency, record_key) "
                "where not exists (select 1 from _translation m where s.agency = m.agency "
                "and s.record_key = m.old_key)"
            )
        else:
            stale = "select null as agency, null as record_key, null as person_key where false"
    else:
        if first:
            con.execute(
                f"insert into {STALE_TABLE} select r.agency, r.record_key, ?, ? "
                "from linkage.record_registry r where not exists (select 1 from _translation m "
                "where r.agency = m.agency and r.record_key = m.new_key)",
                [report.old_key_id, now.isoformat(timespec="seconds")],
            )
        else:
            con.execute(
                f"delete from {STALE_TABLE} s using _translation m "
                "where s.agency = m.agency and s.record_key = m.old_key"
            )
        stale = (
            f"select s.agency, s.record_key, r.person_key from {STALE_TABLE} s "
            "join linkage.record_registry r using (agency, record_key) where s.key_id = ?"
        )
    params = [] if report.dry_run else [report.old_key_id]
    row = con.execute(
        f"""
        with stale as ({stale}),
        carried as (
            select distinct r.person_key from linkage.record_registry r
            {"join _translation m on r.agency = m.agency and r.record_key = m.old_key" if report.dry_run else "join _translation m on r.agency = m.agency and r.record_key = m.new_key"}
        )
        select count(*), count(distinct person_key) filter (
            where person_key not in (select person_key from carried))
        from stale
        """,
        params,
    ).fetchall()[0]
    report.records_left_on_old_key = int(row[0])
    report.persons_left_on_old_key = int(row[1])


# ----------------------------------------------------------------------------- rotate


def rotate_key(
    ws: Workspace,
    old_key: bytes,
    new_key: bytes,
    bridge_period: str,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> RotationReport:
    """Move every stored record pseudonym found in the bridge delivery from `old_key` to
    `new_key` and record the rotation in the key history.

    Run it after the bridge month's extracts are in the inbox and before that month is
    processed; then process the month with the new key. Running it again with the same keys
    for the following month (a follow-up bridge) moves records that were absent from the
    first bridge. Idempotent: a repeated call finds nothing more to translate.

    Raises:
        RotationError: the keys are the same, the old key is not the key in use, the bridge
            month was already processed, or the inbox has no bridge extract.
    """
    from kiim import warehouse
    from kiim.pipeline import check_period
    from kiim.retention import due_on, shift_period
    from pseudonymization import key_id

    check_period(bridge_period)
    now = now or datetime.now(UTC)
    old_id, new_id = key_id(old_key), key_id(new_key)
    first = _mode(ws, old_id, new_id)
    agencies = load_agencies(ws.config_dir)
    _check_bridge_not_processed(ws, agencies, bridge_period)
    translation, per_agency, missing = bridge_translation(
        ws, agencies, bridge_period, old_key, new_key
    )
    if translation.num_rows == 0:
        raise RotationError(
            f"no readable extract for {bridge_period} in the inbox ({ws.inbox_period(bridge_period)}): "
            "the bridge month's extracts are needed to translate the pseudonyms"
        )
    report = RotationReport(
        old_key_id=old_id,
        new_key_id=new_id,
        bridge_period=bridge_period,
        first=first,
        dry_run=dry_run,
        records_per_agency=per_agency,
        agencies_without_bridge=missing,
        records_translated=translation.num_rows,
    )
    report.parquet_files_rewritten = _rewrite_parquet(ws, agencies, translation, dry_run)
    _rewrite_warehouse(ws, translation, report, first, now)
    if dry_run:
        return report
    if ws.warehouse_db.exists():
        con = warehouse.connect(ws)
        try:
            warehouse.load_pseudonymised(con, ws, agencies)
            con.execute("checkpoint")
        finally:
            con.close()
    path = key_log_path(ws)
    at = now.isoformat(timespec="seconds")
    if first:
        if not any(k.key_id == old_id for k in read_key_history(path)):
            started = _first_run_at(ws, old_id)
            record_event(
                path,
                "activated",
                key_id=old_id,
                at=started.isoformat(timespec="seconds") if started else None,
            )
        policy = load_organisation(ws.config_dir).retention_policy
        months = max(policy.pseudonymised_months, policy.warehouse_months)
        record_event(
            path,
            "retired",
            key_id=old_id,
            at=at,
            successor=new_id,
            keep_sealed_until=due_on(shift_period(bridge_period, -1), months).isoformat(),
        )
        record_event(
            path, "activated", key_id=new_id, at=at, predecessor=old_id, bridge_period=bridge_period
        )
    bridge = BridgeEvent(
        at=now,
        old_key_id=old_id,
        new_key_id=new_id,
        bridge_period=bridge_period,
        first=first,
        records_translated=report.records_translated,
        registry_rewritten=report.registry_rewritten,
        persons_carried=report.persons_carried,
        records_left_on_old_key=report.records_left_on_old_key,
        persons_left_on_old_key=report.persons_left_on_old_key,
        parquet_files_rewritten=report.parquet_files_rewritten,
    )
    record_event(path, "bridge", **bridge.model_dump(mode="json"))
    log.info(
        "[kiim] Schlüsselwechsel %s -> %s mit Brückenmonat %s: %d Datensätze umgestellt, "
        "%d Personen fortgeführt, %d Datensätze noch unter altem Schlüssel",
        old_id,
        new_id,
        bridge_period,
        report.records_translated,
        report.persons_carried,
        report.records_left_on_old_key,
    )
    return report


# ----------------------------------------------------------------------------- CLI


def load_key_file(path: Path) -> bytes:
    """A key from a file, with the same checks as the pipeline's key (mode 0600, length)."""
    from pseudonymization import load_key

    name = "KIIM_ROTATION_KEY_FILE"
    saved = os.environ.get(name)
    os.environ[name] = str(path)
    try:
        return load_key(env_var="KIIM_ROTATION_UNUSED_SECRET", file_env_var=name)
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def rotation_cli(
    bridge_period: Annotated[
        str,
        typer.Option("--bridge-period", "-p", help="Brückenmonat JJJJ-MM (noch nicht verarbeitet)"),
    ],
    new_key_file: Annotated[
        Path,
        typer.Option("--new-key-file", help="neuer Schlüssel (Datei mit Rechten 0600, kiim key)"),
    ],
    old_key_file: Annotated[
        Path | None,
        typer.Option(
            "--old-key-file", help="bisheriger Schlüssel (Standard: KIIM_SECRET_KEY/KIIM_KEY_FILE)"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="nur zählen, nichts umschreiben")
    ] = False,
) -> None:
    """Schlüsselwechsel mit Brückenlieferung: gespeicherte Pseudonyme auf den neuen Schlüssel umstellen."""
    from kiim.fmt import de_int
    from pseudonymization import MissingKeyError, load_key

    ws = Workspace.from_env()
    try:
        old = load_key_file(old_key_file) if old_key_file else load_key()
        new = load_key_file(new_key_file)
        report = rotate_key(ws, old, new, bridge_period, dry_run=dry_run)
    except (MissingKeyError, RotationError) as e:
        typer.secho(f"Fehler: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"Schlüsselwechsel {report.old_key_id} -> {report.new_key_id}, Brückenmonat "
        f"{report.bridge_period}" + (" (Probelauf, nichts geändert)" if dry_run else "")
    )
    typer.echo(f"  umgestellte Datensätze:        {de_int(report.records_translated)}")
    typer.echo(f"  Personen fortgeführt:          {de_int(report.persons_carried)}")
    typer.echo(f"  Datensätze unter altem Schl.:  {de_int(report.records_left_on_old_key)}")
    typer.echo(f"  Personen unter altem Schl.:    {de_int(report.persons_left_on_old_key)}")
    typer.echo(f"  umgeschriebene Dateien:        {de_int(report.parquet_files_rewritten)}")
    if report.agencies_without_bridge:
        typer.echo(f"  ohne Brückenlieferung:         {', '.join(report.agencies_without_bridge)}")
    if not dry_run:
        from kiim.register import write_workspace_register

        paths = write_workspace_register(ws, key_id=report.new_key_id)
        typer.echo(
            f"Jetzt den neuen Schlüssel setzen (KIIM_KEY_FILE={new_key_file}) und den Monat "
            f"{bridge_period} verarbeiten. Verzeichnis: {paths.html}"
        )
