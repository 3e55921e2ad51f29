"""The restricted warehouse DuckDB: loading the pseudonymised zone and recording deliveries.

dbt reads only tables in this file, never the inbox and never Parquet globs directly: a table
per agency always exists (empty if nothing was ever accepted), so a missing or rejected agency
cannot break the build.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from kiim.config import Agency
from kiim.schema import pseudonymised_schema
from kiim.workspace import Workspace

DELIVERY_COLUMNS = (
    "period varchar, agency varchar, status varchar, rows_read bigint, rows_accepted bigint, "
    "file_sha256 varchar, reason varchar, run_id varchar"
)


def connect(ws: Workspace, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    ws.warehouse_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(ws.warehouse_db), read_only=read_only)
    if not read_only:
        for schema in ("pseudo", "linkage", "ops"):
            con.execute(f"create schema if not exists {schema}")
        con.execute(f"create table if not exists ops.deliveries ({DELIVERY_COLUMNS})")
    return con


def pseudonymised_files(ws: Workspace, agency: str) -> list[Path]:
    return sorted((ws.pseudonymised / agency).glob("period=*/data.parquet"))


def load_pseudonymised(
    con: duckdb.DuckDBPyConnection, ws: Workspace, agencies: Iterable[Agency]
) -> dict[str, int]:
    """(Re)load every accepted period of every agency into `pseudo.<agency>`; rows per agency."""
    rows: dict[str, int] = {}
    for agency in agencies:
        files = pseudonymised_files(ws, agency.agency)
        target = f"pseudo.{agency.agency}"
        if files:
            con.execute(
                f"create or replace table {target} as select * from read_parquet(?, union_by_name = true)",
                [[str(f) for f in files]],
            )
        else:
            con.register("_empty", pa.Table.from_pylist([], schema=pseudonymised_schema(agency)))
            con.execute(f"create or replace table {target} as select * from _empty")
            con.unregister("_empty")
        # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open on the connection
        rows[agency.agency] = con.execute(f"select count(*) from {target}").fetchall()[0][0]
    return rows


def record_delivery(
    con: duckdb.DuckDBPyConnection,
    *,
    period: str,
    agency: str,
    status: str,
    rows_read: int | None,
    rows_accepted: int | None,
    file_sha256: str | None,
    reason: str | None,
    run_id: str,
) -> None:
    """Replace the delivery status of (period, agency): re-running a month must not duplicate it."""
    con.execute("delete from ops.deliveries where period = ? and agency = ?", [period, agency])
    con.execute(
        "insert into ops.deliveries values (?, ?, ?, ?, ?, ?, ?, ?)",
        [period, agency, status, rows_read, rows_accepted, file_sha256, reason, run_id],
    )
