"""Read one agency extract exactly as its config describes, into typed Arrow columns.

This is the only code that reads the inbox. Everything it reports names the file, line and
column, never a cell value: the values are identifying, and reports travel.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from kiim.config import Agency, Column
from kiim.prechecks import check_bytes, check_csv_text
from kiim.problems import ExtractError, Problem, Severity

log = logging.getLogger(__name__)

MAX_ROWS_IN_PROBLEM = 20

# A birth date whose day (or day and month) is unknown, as German registers write it:
# 00.00.1990 or 00.05.1990. Such a date has no day, so the typed column holds null; the
# year and month it states go to these two companion columns (int32, null elsewhere) and are
# kept by generalisation and linkage (docs/operations.md, "Partial birth dates").
PARTIAL_YEAR = "{}__partial_year"
PARTIAL_MONTH = "{}__partial_month"


@dataclass
class ParsedExtract:
    """A delivered extract, parsed and typed; still identifying (lives in memory only)."""

    agency: Agency
    path: Path
    sha256: str
    table: pa.Table  # canonical field names, typed; plus `_source_row` (line number, header = 1)
    problems: list[Problem] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def file_name(self) -> str:
        return self.path.name


def find_extract(agency: Agency, inbox_period_dir: Path, period: str) -> Path | None:
    """The agency's file for the period in the inbox, or None. Two matches are an error."""
    pattern = agency.extract.file_pattern.format(period=period)
    matches = sorted(p for p in inbox_period_dir.glob(pattern) if p.is_file())
    if len(matches) > 1:
        raise ExtractError(
            [
                Problem(
                    agency=agency.agency,
                    file=", ".join(p.name for p in matches),
                    check="ambiguous_delivery",
                    message_de=f"Mehrere Dateien passen auf das Muster {pattern}.",
                    fix_de="Nur eine Lieferung je Stelle und Monat in den Eingang legen.",
                )
            ]
        )
    return matches[0] if matches else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _problem(
    agency: Agency,
    path: Path,
    check: str,
    msg: str,
    fix: str,
    *,
    column: str | None = None,
    rows: tuple[int, ...] = (),
    row_count: int | None = None,
    severity: Severity = Severity.critical,
) -> Problem:
    return Problem(
        agency=agency.agency,
        file=path.name,
        check=check,
        message_de=msg,
        fix_de=fix,
        column=column,
        rows=rows,
        row_count=row_count,
        severity=severity,
    )


def _decode(agency: Agency, path: Path, raw: bytes) -> str:
    enc = agency.extract.encoding
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ExtractError(
            [
                _problem(
                    agency,
                    path,
                    "encoding",
                    f"Die Datei ist nicht in der vereinbarten Zeichenkodierung {enc} gespeichert "
                    f"(erstes ungültiges Byte in Zeile {line}).",
                    f"Die Stelle bitten, die Datei erneut als {enc} zu exportieren.",
                    rows=(line,),
                    row_count=1,
                )
            ]
        ) from None
    return text.removeprefix("\ufeff")


def _read_csv(agency: Agency, path: Path, raw: bytes) -> tuple[list[str], pa.Table, list[Problem]]:
    text = _decode(agency, path, raw)
    if not text.strip():
        raise ExtractError(
            [
                _problem(
                    agency, path, "empty", "Die Datei ist leer.", "Die Lieferung erneut anfordern."
                )
            ]
        )
    header_line = text.split("\n", 1)[0].rstrip("\r")
    header = [h.strip().strip('"') for h in header_line.split(agency.extract.delimiter)]
    data = text.encode("utf-8")
    del text
    structure = check_csv_text(agency, path, data, header_line)
    if critical(structure):
        raise ExtractError(structure)
    bad_rows: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append(int(row.number) if row.number is not None else -1)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 26),
            parse_options=pacsv.ParseOptions(
                delimiter=agency.extract.delimiter,
                invalid_row_handler=on_invalid,
                newlines_in_values=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:
        # pyarrow's message quotes the offending line: never pass it on.
        raise ExtractError(
            [
                _problem(
                    agency,
                    path,
                    "csv_structure",
                    "Die Datei lässt sich nicht als CSV lesen (z. B. doppelte Spaltennamen "
                    f"oder falsches Trennzeichen; vereinbart ist '{agency.extract.delimiter}').",
                    "Exporteinstellungen prüfen und die Datei neu liefern lassen.",
                )
            ]
        ) from None
    problems: list[Problem] = list(structure)
    if bad_rows:
        problems.append(
            _problem(
                agency,
                path,
                "field_count",
                f"{len(bad_rows)} Zeile(n) haben nicht {len(header)} Felder "
                f"(Trennzeichen '{agency.extract.delimiter}' im Wert oder abgeschnittene Zeile).",
                "Die Zeilen in der Quelle prüfen oder die Datei neu exportieren lassen.",
                rows=tuple(bad_rows[:MAX_ROWS_IN_PROBLEM]),
                row_count=len(bad_rows),
            )
        )
    # line numbers as the data officer sees them (header is line 1); skipped rows leave gaps
    lines = np.arange(2, table.num_rows + len(bad_rows) + 2)
    if bad_rows:
        lines = lines[~np.isin(lines, bad_rows)]
    table = table.append_column("_source_row", pa.array(lines[: table.num_rows], pa.int64()))
    return header, table, problems


def _cell_to_text(value: object, date_format: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.strftime(date_format)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _read_xlsx(agency: Agency, path: Path) -> tuple[list[str], pa.Table, list[Problem]]:
    """Read the agency's sheet with calamine (Rust): ~30x faster than openpyxl on 50k rows.

    openpyxl builds a Python object per cell; at a district's size (an ABH export of ~50k rows)
    that alone took half a minute. Line numbers stay the sheet's row numbers (header = 1).
    """
    from python_calamine import CalamineError, CalamineWorkbook, WorksheetNotFound

    def unreadable() -> ExtractError:
        return ExtractError(
            [
                _problem(
                    agency,
                    path,
                    "xlsx",
                    "Die Datei ist keine lesbare Excel-Arbeitsmappe (XLSX).",
                    "Die Datei im Format XLSX neu exportieren lassen.",
                )
            ]
        )

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError):
        raise unreadable() from None
    try:
        sheet_name = agency.extract.sheet
        try:
            sheet = wb.get_sheet_by_name(sheet_name) if sheet_name else wb.get_sheet_by_index(0)
        except WorksheetNotFound:
            raise ExtractError(
                [
                    _problem(
                        agency,
                        path,
                        "xlsx_sheet",
                        f"Das Tabellenblatt '{sheet_name}' fehlt.",
                        f"Die Daten auf ein Blatt namens '{sheet_name}' exportieren lassen.",
                    )
                ]
            ) from None
        except (CalamineError, IndexError, ValueError):
            raise unreadable() from None
        try:
            # skip_empty_area=False: row 0 is sheet row 1 even above empty leading rows
            rows = sheet.to_python(skip_empty_area=False)
        except (CalamineError, ValueError):
            raise unreadable() from None
    finally:
        wb.close()
    if not rows:
        raise ExtractError(
            [
                _problem(
                    agency,
                    path,
                    "empty",
                    "Die Datei ist leer.",
                    "Die Lieferung erneut anfordern.",
                )
            ]
        )
    header = [_cell_to_text(h, "%d.%m.%Y") or "" for h in rows[0]]
    while header and header[-1] == "":
        header.pop()
    fmt = agency.extract.date_format
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in header]
    lines: list[int] = []
    for i, row in enumerate(rows[1:], start=2):
        cells = [_cell_to_text(v, fmt) for v in row[:width]]
        if all(c is None for c in cells):
            continue
        cells += [None] * (width - len(cells))
        for column, cell in zip(columns, cells, strict=True):
            column.append(cell)
        lines.append(i)
    table = pa.table({h: pa.array(c, pa.string()) for h, c in zip(header, columns, strict=True)})
    table = table.append_column("_source_row", pa.array(lines, pa.int64()))
    return header, table, []


def _check_header(agency: Agency, path: Path, header: list[str]) -> list[Problem]:
    expected = [c.source for c in agency.columns]
    problems = []
    missing = [c.source for c in agency.columns if c.required and c.source not in header]
    unknown = [h for h in header if h not in expected]
    if missing:
        problems.append(
            _problem(
                agency,
                path,
                "header_missing",
                f"Pflichtspalte(n) fehlen: {', '.join(missing)}.",
                "Die Stelle bitten, den Export mit allen vereinbarten Spalten zu liefern "
                "(Spaltennamen exakt wie in der Konfiguration).",
            )
        )
    if unknown:
        problems.append(
            _problem(
                agency,
                path,
                "header_unknown",
                f"Nicht vereinbarte Spalte(n): {', '.join(unknown)}. Ihre Rolle ist unbekannt, "
                "sie könnten personenbezogene Daten enthalten.",
                "Export ohne diese Spalten anfordern oder die Spalten in der Stellenkonfiguration "
                "mit einer Rolle eintragen (Verzeichnis wird angepasst).",
            )
        )
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        problems.append(
            _problem(
                agency,
                path,
                "header_duplicate",
                f"Doppelte Spaltennamen: {', '.join(dup)}.",
                "Export mit eindeutigen Spaltennamen anfordern.",
            )
        )
    return problems


def _rows_where(mask: pa.Array, source_rows: pa.Array) -> tuple[tuple[int, ...], int]:
    idx = pc.indices_nonzero(mask)
    n = len(idx)
    sample = pc.take(source_rows, idx[:MAX_ROWS_IN_PROBLEM]).to_pylist()
    return tuple(int(r) for r in sample), n


def _digit_groups(text: pa.Array) -> pa.Array:
    """'03.04.1990' and '3.4.1990' -> '3|4|1990': the numbers a date string states."""
    groups = pc.replace_substring_regex(text, r"\D+", "|")
    return pc.replace_substring_regex(groups, r"(^|\|)0+(\d)", r"\1\2")


def _impossible_dates_to_null(text: pa.Array, parsed: pa.Array, date_format: str) -> pa.Array:
    """Dates as date32; days that do not exist (31.02.) become null.

    Arrow's strptime rolls an impossible day over into the next month (31.02.1990 becomes
    03.03.1990) instead of failing; formatting the parsed date back and comparing the numbers
    catches that without rejecting unpadded days ('3.4.1990').
    """
    back = pc.strftime(parsed, format=date_format)
    same = pc.equal(_digit_groups(text), _digit_groups(back))
    kept = pc.if_else(pc.fill_null(same, False), parsed, pa.scalar(None, parsed.type))
    return pc.cast(kept, pa.date32())


def _date_pattern(date_format: str) -> str:
    """A regex with groups d, m, Y for a strptime format of day, month and year."""
    parts = {"%d": r"(?P<d>\d{1,2})", "%m": r"(?P<m>\d{1,2})", "%Y": r"(?P<Y>\d{4})"}
    out = ""
    for token in re.split(r"(%[dmY])", date_format):
        out += parts.get(token) or re.escape(token)
    return f"^{out}$"


def _partial_dates(
    text: pa.Array, typed: pa.Array, date_format: str
) -> tuple[pa.Array, pa.Array, pa.Array] | None:
    """(recognised, year, month) of partial dates among the unparsed cells; None if none.

    00.MM.YYYY keeps year and month, 00.00.YYYY the year; 00.00.0000 is a date nobody
    knows and becomes null like an empty cell. A month 00 with a known day stays an error.
    """
    if not {"%d", "%m", "%Y"} <= set(re.findall(r"%[dmY]", date_format)):
        return None
    candidates = pc.and_(pc.is_valid(text), pc.is_null(typed))
    if not pc.any(candidates).as_py():
        return None
    parts = pc.extract_regex(pc.if_else(candidates, text, ""), _date_pattern(date_format))

    def number(name: str) -> pa.Array:
        return pc.cast(pc.struct_field(parts, name), pa.int32())

    day, month, year = number("d"), number("m"), number("Y")
    no_day = pc.fill_null(pc.equal(day, 0), False)
    month_ok = pc.less_equal(month, 12)
    known = pc.and_(pc.and_(no_day, month_ok), pc.greater(year, 0))
    unknown = pc.and_(no_day, pc.and_(pc.equal(month, 0), pc.equal(year, 0)))
    known, unknown = pc.fill_null(known, False), pc.fill_null(unknown, False)
    if not pc.any(pc.or_(known, unknown)).as_py():
        return None
    null_int = pa.scalar(None, pa.int32())
    partial_year = pc.if_else(known, year, null_int)
    partial_month = pc.if_else(pc.and_(known, pc.greater(month, 0)), month, null_int)
    return pc.or_(known, unknown), partial_year, partial_month


def _type_column(
    agency: Agency, path: Path, col: Column, values: pa.Array, source_rows: pa.Array
) -> tuple[pa.Array, list[Problem], dict[str, pa.Array]]:
    """Convert a text column to its configured type; unparseable cells become a problem.

    Returns the typed column, its problems and companion columns (partial birth dates).
    """
    ex = agency.extract
    text = pc.utf8_trim_whitespace(values)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    extra: dict[str, pa.Array] = {}
    problems: list[Problem] = []
    if col.type == "string":
        return text, problems, extra
    if col.type == "date":
        parsed = pc.strptime(text, format=ex.date_format, unit="s", error_is_null=True)
        typed = _impossible_dates_to_null(text, parsed, ex.date_format)
        expected_de = f"ein Datum im Format {ex.date_format.replace('%d', 'TT').replace('%m', 'MM').replace('%Y', 'JJJJ')}"
        partial = (
            _partial_dates(text, typed, ex.date_format) if col.generalise == "year_month" else None
        )
        if partial is not None:
            recognised, year, month = partial
            text = pc.if_else(recognised, pa.scalar(None, pa.string()), text)
            rows, n = _rows_where(pc.is_valid(year), source_rows)
            if n:
                extra = {
                    PARTIAL_YEAR.format(col.field): year,
                    PARTIAL_MONTH.format(col.field): month,
                }
                problems.append(
                    _problem(
                        agency,
                        path,
                        "partial_date",
                        f"{n} Datumsangabe(n) nur teilweise bekannt (Tag oder Tag und Monat 00); "
                        "Jahr und Monat werden übernommen.",
                        "Nichts zu tun, wenn das Datum tatsächlich unbekannt ist; sonst das "
                        "vollständige Datum nachliefern lassen.",
                        column=col.source,
                        rows=rows,
                        row_count=n,
                        severity=Severity.warning,
                    )
                )
    elif col.type == "boolean":
        t = pc.is_in(text, value_set=pa.array(ex.true_values))
        f = pc.is_in(text, value_set=pa.array(ex.false_values))
        typed = pc.if_else(t, True, pc.if_else(f, False, pa.scalar(None, pa.bool_())))
        expected_de = f"ein Wahrheitswert ({'/'.join(ex.true_values[:1] + ex.false_values[:1])})"
    elif col.type == "integer":
        ok = pc.match_substring_regex(text, r"^[+-]?\d+$")
        typed = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.int64())
        expected_de = "eine ganze Zahl"
    else:  # decimal with German decimal comma
        norm = pc.replace_substring(pc.replace_substring(text, ".", ""), ex.decimal, ".")
        ok = pc.match_substring_regex(norm, r"^[+-]?\d+(\.\d+)?$")
        typed = pc.cast(pc.if_else(ok, norm, pa.scalar(None, pa.string())), pa.float64())
        expected_de = f"eine Dezimalzahl mit '{ex.decimal}' als Dezimaltrennzeichen"
    bad = pc.and_(pc.is_valid(text), pc.is_null(typed))
    if not pc.any(bad).as_py():
        return typed, problems, extra
    rows, n = _rows_where(bad, source_rows)
    problems.append(
        _problem(
            agency,
            path,
            f"type_{col.type}",
            f"{n} Wert(e) sind nicht {expected_de}.",
            "Die Werte in der Quelle korrigieren oder den Export mit dem vereinbarten Format liefern lassen.",
            column=col.source,
            rows=rows,
            row_count=n,
        )
    )
    return typed, problems, extra


def read_extract(agency: Agency, path: Path) -> ParsedExtract:
    """Parse and type an extract. Raises ExtractError when it cannot be processed at all.

    Problems that concern single cells are collected on the result; critical ones make the
    caller reject the extract, but everything is reported in one go so the agency can fix all
    of it at once.
    """
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    raw, pre = check_bytes(agency, path, raw)
    if critical(pre):
        raise ExtractError(pre)
    if agency.extract.format == "csv":
        header, table, problems = _read_csv(agency, path, raw)
    else:
        header, table, problems = _read_xlsx(agency, path)
    del raw
    problems = pre + problems
    header_problems = _check_header(agency, path, header)
    if header_problems:
        raise ExtractError(header_problems + problems)
    if table.num_rows == 0:
        raise ExtractError(
            [
                _problem(
                    agency,
                    path,
                    "no_rows",
                    "Die Datei enthält nur die Kopfzeile, keine Datensätze.",
                    "Die vollständige Lieferung anfordern.",
                )
            ]
        )
    source_rows = table.column("_source_row").combine_chunks()
    out: dict[str, pa.Array] = {}
    for col in agency.columns:
        if col.source not in table.column_names:
            out[col.field] = pa.nulls(table.num_rows, pa.string())
            continue
        values = table.column(col.source).combine_chunks()
        typed, found, extra = _type_column(agency, path, col, values, source_rows)
        out[col.field] = typed
        out.update(extra)
        problems.extend(found)
    out["_source_row"] = source_rows
    log.info("[kiim] %s: %s gelesen, %d Zeilen", agency.agency, path.name, table.num_rows)
    return ParsedExtract(
        agency=agency, path=path, sha256=digest, table=pa.table(out), problems=problems
    )


def critical(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.critical]
