from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from kiim.config import load_agencies
from kiim.ingest import PARTIAL_MONTH, PARTIAL_YEAR, find_extract, read_extract
from kiim.problems import ExtractError, Severity
from kiim.workspace import REPO_ROOT

AGENCIES = {a.agency: a for a in load_agencies(REPO_ROOT / "config")}
SOZ = AGENCIES["sozialamt"]  # cp1252 CSV
HEADER = ";".join(c.source for c in SOZ.columns)
ROW = "F-100234;Müller;Jörg;03.04.1990;m;DEU;12061260;Hauptstr. 1;01.02.2024;GU"


def _write(
    tmp_path: Path, text: str, encoding: str = "cp1252", name: str = "sozialamt_2026-10.csv"
) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_reads_and_types_cp1252_csv(tmp_path: Path) -> None:
    ex = read_extract(SOZ, _write(tmp_path, f"{HEADER}\n{ROW}\n"))
    assert ex.rows == 1 and ex.problems == []
    t = ex.table
    assert t.column("family_name").to_pylist() == ["Müller"]
    assert t.column("birth_date").type == pa.date32()
    assert str(t.column("birth_date")[0]) == "1990-04-03"
    assert t.column("_source_row").to_pylist() == [2]


def test_wrong_encoding_names_file_and_line_not_value(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{HEADER}\n{ROW}\n", encoding="cp1252")
    utf8_agency = SOZ.model_copy(
        update={"extract": SOZ.extract.model_copy(update={"encoding": "utf-8"})}
    )
    with pytest.raises(ExtractError) as e:
        read_extract(utf8_agency, path)
    msg = str(e.value)
    assert "sozialamt_2026-10.csv" in msg and "Zeile 2" in msg and "utf-8" in msg
    assert "Müller" not in msg and "M\\xfc" not in msg


def test_bad_date_reports_row_and_column_without_value(tmp_path: Path) -> None:
    bad = ROW.replace("03.04.1990", "1990-04-03")
    ex = read_extract(SOZ, _write(tmp_path, f"{HEADER}\n{ROW}\n{bad}\n"))
    [p] = ex.problems
    assert p.column == "Geburtsdatum" and p.rows == (3,) and p.row_count == 1
    assert "1990-04-03" not in str(p)


def test_short_row_is_reported_with_line_number(tmp_path: Path) -> None:
    short = ";".join(ROW.split(";")[:-2])
    ex = read_extract(SOZ, _write(tmp_path, f"{HEADER}\n{ROW}\n{short}\n{ROW}\n"))
    [p] = ex.problems
    assert p.check == "field_count" and p.rows == (3,)
    assert ex.table.column("_source_row").to_pylist() == [2, 4]


def test_missing_and_unknown_columns(tmp_path: Path) -> None:
    header = HEADER.replace("Geburtsdatum", "GebDat") + ";Bemerkung"
    with pytest.raises(ExtractError) as e:
        read_extract(SOZ, _write(tmp_path, f"{header}\n{ROW};x\n"))
    checks = {p.check for p in e.value.problems}
    assert {"header_missing", "header_unknown"} <= checks
    assert "Geburtsdatum" in str(e.value) and "Bemerkung" in str(e.value)


def test_find_extract_pattern(tmp_path: Path) -> None:
    _write(tmp_path, f"{HEADER}\n{ROW}\n")
    assert find_extract(SOZ, tmp_path, "2026-10") == tmp_path / "sozialamt_2026-10.csv"
    assert find_extract(SOZ, tmp_path, "2026-09") is None


def test_xlsx_extract(tmp_path: Path) -> None:
    import datetime

    import openpyxl

    abh = AGENCIES["abh"]
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = abh.extract.sheet or "Export"
    ws.append([c.source for c in abh.columns])
    ws.append(
        [
            "A-1",
            "123456789012",
            "Hassan",
            "Mohammed",
            datetime.datetime(1990, 5, 1),
            "m",
            "SYR",
            "12061260",
            "AE",
            "§ 25 AufenthG",
            "01.02.2016",
            None,
        ]
    )
    path = tmp_path / "abh_2026-10.xlsx"
    wb.save(path)
    ex = read_extract(abh, path)
    assert ex.problems == []
    assert str(ex.table.column("birth_date")[0]) == "1990-05-01"
    assert str(ex.table.column("entry_date")[0]) == "2016-02-01"
    assert ex.table.column("naturalisation_date").null_count == 1


def test_partial_birth_dates_keep_year_and_month(tmp_path: Path) -> None:
    """German registers write an unknown day (and month) as 00: kept as a partial date,
    reported as a warning, never as a rejected extract."""
    rows = [
        ROW,
        ROW.replace("03.04.1990", "00.00.1990"),
        ROW.replace("03.04.1990", "00.05.1990"),
        ROW.replace("03.04.1990", "00.00.0000"),
        ROW.replace("03.04.1990", "15.00.1990"),
        ROW.replace("03.04.1990", "00.13.1990"),
    ]
    ex = read_extract(SOZ, _write(tmp_path, "\n".join([HEADER, *rows]) + "\n"))
    t = ex.table
    assert t.column("birth_date").to_pylist()[0] is not None
    assert t.column("birth_date").to_pylist()[1:] == [None] * 5
    assert t.column(PARTIAL_YEAR.format("birth_date")).to_pylist() == [
        None, 1990, 1990, None, None, None
    ]  # fmt: skip
    assert t.column(PARTIAL_MONTH.format("birth_date")).to_pylist() == [
        None, None, 5, None, None, None
    ]  # fmt: skip
    by_check = {p.check: p for p in ex.problems}
    partial, wrong = by_check["partial_date"], by_check["type_date"]
    assert partial.severity is Severity.warning and partial.rows == (3, 4)
    assert partial.column == "Geburtsdatum" and "00.05.1990" not in str(partial)
    # a month 00 with a known day, or a month 13, is no date at all; 00.00.0000 is empty
    assert wrong.severity is Severity.critical and wrong.rows == (6, 7)


def test_partial_dates_only_for_generalised_birth_dates(tmp_path: Path) -> None:
    """Other dates (here the move-in date) must be complete."""
    bad = ROW.replace("01.02.2024", "00.02.2024")
    ex = read_extract(SOZ, _write(tmp_path, f"{HEADER}\n{ROW}\n{bad}\n"))
    [p] = ex.problems
    assert p.check == "type_date" and p.rows == (3,) and p.column != "Geburtsdatum"
    assert PARTIAL_YEAR.format("birth_date") not in ex.table.column_names
