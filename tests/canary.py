"""Search every file a run wrote for raw identifiers (canary values) from the generated extracts.

Compressed formats are opened with their own reader (Parquet, DuckDB, SQLite), because a byte
search in a compressed file would find nothing and prove nothing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq


def _compile(canaries: Iterable[str]) -> re.Pattern[str]:
    parts = sorted({c for c in canaries if len(c) >= 4}, key=len, reverse=True)
    return re.compile(
        r"(?<![\w])(?:" + "|".join(re.escape(p) for p in parts) + r")(?![\w])", re.IGNORECASE
    )


def _strings_of_arrow(table: pa.Table) -> Iterable[str]:
    """The text columns. Numbers and dates are not searched: counts collide with postcodes
    and event dates with birth dates; that identifiers stay text and birth dates are
    generalised is what the zone contracts (`kiim.schema`) enforce."""
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            yield "\n".join(v for v in col.to_pylist() if v is not None)


def _texts(path: Path) -> Iterable[str]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _strings_of_arrow(pq.read_table(path))
    elif suffix == ".duckdb":
        con = duckdb.connect(str(path), read_only=True)
        try:
            tables = con.execute(
                "select table_catalog, table_schema, table_name from information_schema.tables"
            ).fetchall()
            for cat, schema, name in tables:
                yield from _strings_of_arrow(
                    con.sql(f'select * from "{cat}"."{schema}"."{name}"').to_arrow_table()
                )
        finally:
            con.close()
    elif suffix in (".db", ".sqlite"):
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for (name,) in con.execute(
                "select name from sqlite_master where type='table'"
            ).fetchall():
                for row in con.execute(f'select * from "{name}"'):
                    yield "\n".join(
                        v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                        for v in row
                        if v is not None
                    )
        finally:
            con.close()
    else:
        data = path.read_bytes()
        if b"\0" in data[:4096]:
            return
        yield data.decode("utf-8", "replace")


def find_canaries(
    root: Path, canaries: Iterable[str], exclude: Iterable[Path]
) -> dict[str, list[str]]:
    """{file: [canary hits]} for every file below root outside the excluded folders."""
    pattern = _compile(canaries)
    excluded = [e.resolve() for e in exclude]
    hits: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith((".wal", ".tmp", ".lock")):
            continue
        rp = path.resolve()
        if any(rp.is_relative_to(e) for e in excluded):
            continue
        found: set[str] = set()
        for text in _texts(path):
            found.update(m.group(0) for m in pattern.finditer(text))
        if found:
            hits[str(path.relative_to(root))] = sorted(found)[:10]
    return hits
