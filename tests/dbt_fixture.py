"""A tiny hand-made warehouse for the dbt tests.

Builds what the link stage leaves behind (`pseudo.<agency>` with exactly the pseudonymised
schema of each configured agency, `linkage.record_person`, `ops.deliveries`) from a few
readable rows, so that every mart value in the tests can be computed by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from kiim.config import Agency, load_agencies
from kiim.schema import pseudonymised_schema
from kiim.workspace import REPO_ROOT

CONFIG_DIR = REPO_ROOT / "config"
PROJECT_DIR = REPO_ROOT / "dbt_project"


def date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@dataclass
class WarehouseBuilder:
    """Collect records per agency, the person each belongs to and delivery states, then write."""

    agencies: dict[str, Agency] = field(
        default_factory=lambda: {a.agency: a for a in load_agencies(CONFIG_DIR)}
    )
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    links: list[tuple[str, str, str, str]] = field(default_factory=list)
    deliveries: dict[tuple[str, str], str] = field(default_factory=dict)
    _counter: int = 0

    def add(self, agency: str, period: str, person: str | None, **values: Any) -> str:
        """Add one record; returns its record key. `person=None` leaves it unlinked."""
        schema = pseudonymised_schema(self.agencies[agency])
        unknown = set(values) - set(schema.names)
        if unknown:
            raise KeyError(f"{agency}: not in the pseudonymised schema: {sorted(unknown)}")
        self._counter += 1
        record_key = values.pop("record_key", f"{agency}-r{self._counter:04d}")
        self.rows.setdefault(agency, []).append(
            {"period": period, "record_key": record_key, **values}
        )
        if person is not None:
            self.links.append((period, agency, record_key, person))
        return record_key

    def deliver(
        self, period: str, agencies: Iterable[str] | None = None, status: str = "accepted"
    ) -> None:
        for agency in agencies if agencies is not None else self.agencies:
            self.deliveries[(period, agency)] = status

    def write(self, path: Path) -> Path:
        """Create the warehouse file (replacing it) and close the connection (dbt needs the lock)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        try:
            for schema in ("pseudo", "linkage", "ops"):
                con.execute(f"create schema {schema}")
            for name, agency in self.agencies.items():
                table = pa.Table.from_pylist(
                    self.rows.get(name, []), schema=pseudonymised_schema(agency)
                )
                con.register("_rows", table)
                con.execute(f"create table pseudo.{name} as select * from _rows")
                con.unregister("_rows")
            con.execute(
                "create table linkage.record_person "
                "(period varchar, agency varchar, record_key varchar, person_key varchar)"
            )
            if self.links:
                con.executemany("insert into linkage.record_person values (?, ?, ?, ?)", self.links)
            con.execute(
                "create table ops.deliveries (period varchar, agency varchar, status varchar, "
                "rows_read bigint, rows_accepted bigint, file_sha256 varchar, reason varchar, "
                "run_id varchar)"
            )
            for (period, agency), status in sorted(self.deliveries.items()):
                n = sum(1 for r in self.rows.get(agency, []) if r["period"] == period)
                accepted = n if status == "accepted" else 0
                con.execute(
                    "insert into ops.deliveries values (?, ?, ?, ?, ?, null, null, 'test')",
                    [period, agency, status, n, accepted],
                )
        finally:
            con.close()
        return path
