"""The canary scanner itself: it must find a planted value in every format it reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tests.canary import find_canaries

CANARIES = {"Kowalczyk", "Oleksandr", "0176 2345678", "Zeynep"}


def test_the_scanner_finds_planted_values_in_every_format(tmp_path: Path) -> None:
    table = pa.table({"n": [1, 2], "note": ["ok", "Anruf Oleksandr"]})
    pq.write_table(table, tmp_path / "a.parquet", compression="zstd")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema s; create table s.t as select 'kowalczyk' as family_name")
    con.close()
    lite = sqlite3.connect(tmp_path / "m.db")
    lite.execute("create table t (v text)")
    lite.execute("insert into t values ('Tel. 0176 2345678')")
    lite.commit()
    lite.close()
    (tmp_path / "log.txt").write_text("user Zeynep\n", encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "raw.csv").write_text("Kowalczyk;Zeynep\n", encoding="utf-8")

    hits = find_canaries(tmp_path, CANARIES, exclude=[tmp_path / "inbox"])

    assert hits == {
        "a.parquet": ["Oleksandr"],
        "w.duckdb": ["kowalczyk"],
        "m.db": ["0176 2345678"],
        "log.txt": ["Zeynep"],
    }


def test_a_canary_inside_a_longer_word_is_no_hit(tmp_path: Path) -> None:
    (tmp_path / "log.txt").write_text("Zeynepoglu ZeynepX\n", encoding="utf-8")
    assert find_canaries(tmp_path, CANARIES, exclude=[]) == {}
