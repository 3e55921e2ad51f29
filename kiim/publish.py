"""Build the analysts' database: aggregated, disclosure-controlled marts only (zone 4).

The published file is built next to its final place and swapped in with one atomic rename,
so an analyst never opens a half-written database, and a failed run leaves the previous one.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from kiim.disclosure import SuppressionStats, declarations_from_manifest, protect_marts

log = logging.getLogger(__name__)

MART_SCHEMA = "marts"
CATALOGUE_TABLE = "indikatoren_katalog"
# Column names that would betray person-level content; the published file must have none.
FORBIDDEN_COLUMN = re.compile(r"(person|record|_key$|^lk_|^clk$|birth|name|azr)", re.IGNORECASE)


class PublishError(RuntimeError):
    pass


@dataclass
class PublishResult:
    path: str
    marts: list[str]
    rows: dict[str, int]
    suppression: dict[str, int] = field(default_factory=dict)
    # counts published in more than one mart (protected as one number) and rows not published
    # because no suppression pattern could protect them (normally none)
    shared_cells: int = 0
    dropped_rows: dict[str, int] = field(default_factory=dict)


def _manifest(manifest_path: Path | None) -> dict:
    if manifest_path and manifest_path.exists():
        return dict(json.loads(manifest_path.read_text(encoding="utf-8")))
    return {}


def _catalogue(manifest: dict, marts: list[str], last_period: dict[str, str]) -> pd.DataFrame:
    meta_by_name: dict[str, dict] = {}
    if manifest:
        for node in manifest.get("nodes", {}).values():
            if node.get("resource_type") == "model":
                meta_by_name[node["name"]] = (node.get("config", {}).get("meta") or {}).get(
                    "kiim", {}
                )
    rows = []
    for m in marts:
        meta = meta_by_name.get(m, {})
        rows.append(
            {
                "tabelle": m,
                "indikator": meta.get("indicator", m),
                "bezeichnung": meta.get("label_de", m),
                "handlungsfeld": meta.get("field_of_action_de"),
                "definition": meta.get("definition_de"),
                "zaehler": meta.get("numerator_de"),
                "nenner": meta.get("denominator_de"),
                "einheit": meta.get("unit"),
                "quellen": ", ".join(meta.get("sources", [])),
                "letzte_periode": last_period.get(m),
            }
        )
    return pd.DataFrame(rows)


def published_marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by 1",
        [MART_SCHEMA],
    ).fetchall()
    return [r[0] for r in rows]


def check_published(path: Path, k: int) -> None:
    """Guards that hold for every published file: no person-level column, no count below k."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'main'"
        ).fetchall()
        bad = [f"{t}.{c}" for t, c in cols if FORBIDDEN_COLUMN.search(c)]
        if bad:
            raise PublishError(f"person-level columns in the published database: {bad}")
        for (table,) in con.execute(
            "select distinct table_name from information_schema.columns "
            "where table_schema = 'main' and column_name = 'numerator'"
        ).fetchall():
            small = con.execute(
                f'select count(*) from "{table}" where (numerator between 1 and {k - 1}) '
                f"or (denominator between 1 and {k - 1})"
            ).fetchall()[0]
            if small[0]:
                raise PublishError(f"{table}: {small[0]} unsuppressed counts below k={k}")
    finally:
        con.close()


def publish(
    warehouse_db: Path,
    published_db: Path,
    *,
    k: int,
    district_ags: str,
    manifest_path: Path | None,
) -> PublishResult:
    """Copy every mart from the warehouse through disclosure control into a new analyst DB."""
    published_db.parent.mkdir(parents=True, exist_ok=True)
    tmp = published_db.with_name(published_db.name + ".tmp")
    tmp.unlink(missing_ok=True)
    src = duckdb.connect(str(warehouse_db), read_only=True)
    dst = duckdb.connect(str(tmp))
    total = SuppressionStats()
    rows: dict[str, int] = {}
    last_period: dict[str, str] = {}
    manifest = _manifest(manifest_path)
    try:
        marts = published_marts(src)
        if not marts:
            raise PublishError(f"no tables in schema '{MART_SCHEMA}' of the warehouse")
        # a fixed row order makes the choice of secondary cells, and so the published file,
        # the same on every re-run of a month
        frames = {
            mart: src.execute(
                f'select * from {MART_SCHEMA}."{mart}" '
                "order by period, ags, dimension, dimension_value, category"
            ).df()
            for mart in marts
        }
        # all marts together: a count published in several marts is withheld in all or none
        joint = protect_marts(
            frames,
            k=k,
            district_ags=district_ags,
            declarations=declarations_from_manifest(manifest),
        )
        for mart in marts:
            protected = joint.frames[mart]
            total.add(joint.stats[mart])
            dst.register("_protected", protected)
            dst.execute(f'create table "{mart}" as select * from _protected')
            dst.unregister("_protected")
            rows[mart] = len(protected)
            if len(protected):
                last_period[mart] = str(protected["period"].max())
        dst.register("_catalogue", _catalogue(manifest, marts, last_period))
        dst.execute(f"create table {CATALOGUE_TABLE} as select * from _catalogue")
        dst.unregister("_catalogue")
    finally:
        src.close()
        dst.close()
    check_published(tmp, k)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, published_db)
    log.info(
        "[kiim] Veröffentlicht: %d Tabellen nach %s (%d Zählungen in mehreren Tabellen "
        "gemeinsam geschützt)",
        len(marts),
        published_db,
        joint.shared_cells,
    )
    return PublishResult(
        path=str(published_db),
        marts=marts,
        rows=rows,
        suppression={"cells": total.cells, "primary": total.primary, "secondary": total.secondary},
        shared_cells=joint.shared_cells,
        dropped_rows=joint.dropped_rows,
    )
