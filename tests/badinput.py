"""The bad-input corpus: broken agency extracts made by code from good ones, with their outcome.

Every case takes a good extract of one generated month (`kiim.generate.generate`), breaks it
the way agency exports break in practice, and states what the pipeline must do with it:
reject it with a named check (and the column and line where that makes sense) or accept it
with a warning. `tests/test_bad_input.py` runs each case through `kiim.pipeline.process_agency`.

A mutation writes the broken file into the inbox folder it is given and returns the values it
planted (and the identifiers of the row it touched): none of them may appear in a problem text.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl

from kiim.config import Agency, load_agencies
from kiim.generate import ErrorModel, generate
from kiim.workspace import REPO_ROOT

PERIOD = "2026-10"
PREVIOUS = "2026-09"
OLD = "2025-10"  # a year earlier: an outdated export by content
EARLY = "2026-08"  # the PERIOD file delivered here has events after its end
PERSONS = 600
SEED = 11
BASE_PERIODS = (PERIOD, PREVIOUS, OLD)

AGENCIES: dict[str, Agency] = {a.agency: a for a in load_agencies(REPO_ROOT / "config")}


@dataclass(frozen=True)
class Base:
    """Good extracts of the base months (generated once per test session)."""

    root: Path

    def file(self, agency: str, period: str = PERIOD) -> Path:
        return self.root / period / AGENCIES[agency].extract.file_pattern.format(period=period)


def make_base(root: Path) -> Base:
    for period in BASE_PERIODS:
        generate(
            period, PERSONS, root / period, root / "truth", seed=SEED, errors=ErrorModel.none()
        )
    return Base(root)


def target_name(agency: str, period: str = PERIOD) -> str:
    return AGENCIES[agency].extract.file_pattern.format(period=period)


# ---------------------------------------------------------------------------- CSV helpers


def read_csv(agency: str, path: Path) -> tuple[list[str], list[list[str]]]:
    ex = AGENCIES[agency].extract
    enc = "utf-8-sig" if ex.encoding.lower().startswith("utf") else ex.encoding
    text = path.read_bytes().decode(enc)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=ex.delimiter))
    return rows[0], rows[1:]


def csv_text(agency: str, header: list[str], rows: list[list[str]], delimiter: str = "") -> str:
    buf = io.StringIO()
    writer = csv.writer(
        buf, delimiter=delimiter or AGENCIES[agency].extract.delimiter, lineterminator="\r\n"
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(
    agency: str,
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    encoding: str = "",
    delimiter: str = "",
) -> None:
    enc = encoding or AGENCIES[agency].extract.encoding
    path.write_bytes(csv_text(agency, header, rows, delimiter).encode(enc))


def identifiers(agency: str, header: list[str], row: list[str]) -> list[str]:
    """The identifying values of a row (record number, names): never in a problem text."""
    sources = {
        c.source
        for c in AGENCIES[agency].columns
        if c.field in {"record_id", "family_name", "given_names"}
    }
    return [v for h, v in zip(header, row, strict=False) if h in sources and len(v) >= 4]


def set_cell(agency: str, column: str, line: int, value: str) -> Mutation:
    """Replace one cell (line as a spreadsheet shows it, header = 1)."""

    def mutate(base: Base, inbox: Path) -> list[str]:
        name = target_name(agency)
        if AGENCIES[agency].extract.format == "xlsx":
            wb = openpyxl.load_workbook(base.file(agency))
            ws = wb[AGENCIES[agency].extract.sheet or wb.sheetnames[0]]
            header = [str(c.value) for c in ws[1]]
            row = [str(c.value or "") for c in ws[line]]
            ws.cell(row=line, column=header.index(column) + 1, value=value)
            wb.save(inbox / name)
            return [v for v in (value, *identifiers(agency, header, row)) if v]
        header, rows = read_csv(agency, base.file(agency))
        before = list(rows[line - 2])
        rows[line - 2][header.index(column)] = value
        write_csv(agency, inbox / name, header, rows)
        return [v for v in (value, *identifiers(agency, header, before)) if v]

    return mutate


def edit_lines(agency: str, edit: Callable[[list[str]], list[str]]) -> Mutation:
    """Edit the decoded text line by line (no CSV quoting applied), write it back as delivered."""

    def mutate(base: Base, inbox: Path) -> list[str]:
        raw = base.file(agency).read_bytes()
        enc = AGENCIES[agency].extract.encoding
        lines = raw.decode(enc).split("\r\n")
        (inbox / target_name(agency)).write_bytes("\r\n".join(edit(lines)).encode(enc))
        return []

    return mutate


def edit_table(
    agency: str, edit: Callable[[list[str], list[list[str]]], tuple[list[str], list[list[str]]]]
) -> Mutation:
    def mutate(base: Base, inbox: Path) -> list[str]:
        header, rows = read_csv(agency, base.file(agency))
        header, rows = edit(header, rows)
        write_csv(agency, inbox / target_name(agency), header, rows)
        return []

    return mutate


def edit_bytes(agency: str, edit: Callable[[bytes], bytes], period: str = PERIOD) -> Mutation:
    def mutate(base: Base, inbox: Path) -> list[str]:
        (inbox / target_name(agency, period)).write_bytes(edit(base.file(agency).read_bytes()))
        return []

    return mutate


def deliver(agency: str, source_period: str, as_name: str) -> Mutation:
    """A good file of `source_period` delivered under another name (or into another month)."""

    def mutate(base: Base, inbox: Path) -> list[str]:
        shutil.copyfile(base.file(agency, source_period), inbox / as_name)
        return []

    return mutate


def edit_workbook(agency: str, edit: Callable[[openpyxl.Workbook], None]) -> Mutation:
    def mutate(base: Base, inbox: Path) -> list[str]:
        wb = openpyxl.load_workbook(base.file(agency))
        edit(wb)
        wb.save(inbox / target_name(agency))
        return []

    return mutate


Mutation = Callable[[Base, Path], list[str]]


# ---------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One broken extract and what the pipeline must make of it."""

    id: str
    agency: str
    mutate: Mutation
    status: str  # "rejected" or "accepted"
    check: str | None  # check id that must be reported (None: no problem expected)
    severity: str = "critical"
    column: str | None = None  # the problem's column, where it makes sense
    rows: tuple[int, ...] = ()  # lines the problem must name (subset), where it makes sense
    mentions: tuple[str, ...] = ()  # words the message must contain (e.g. a column name)
    period: str = PERIOD
    # preparation in the workspace before the run: "accept_previous" (the previous month of
    # the agency is accepted first), "delivered_previous" / "delivered_same" (ops.deliveries
    # records this file's bytes as accepted for the previous / the same month)
    setup: tuple[str, ...] = field(default_factory=tuple)
    source_period: str = PERIOD  # month whose good file the mutation starts from (for setup)


def _first_rows(share: float) -> Callable[[list[str], list[list[str]]], tuple]:
    return lambda h, rows: (h, rows[: int(len(rows) * share)])


def _drop_column(name: str) -> Callable[[list[str], list[list[str]]], tuple]:
    def edit(h: list[str], rows: list[list[str]]) -> tuple:
        i = h.index(name)
        return h[:i] + h[i + 1 :], [r[:i] + r[i + 1 :] for r in rows]

    return edit


def _rename_column(old: str, new: str) -> Callable[[list[str], list[list[str]]], tuple]:
    return lambda h, rows: ([new if c == old else c for c in h], rows)


def _add_column(name: str, values: Callable[[int], str]) -> Callable[..., tuple]:
    return lambda h, rows: ([*h, name], [[*r, values(i)] for i, r in enumerate(rows)])


def _set_line(line: int, f: Callable[[str], str]) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        lines = list(lines)
        lines[line - 1] = f(lines[line - 1])
        return lines

    return edit


def _open_quote(line: str) -> str:
    first, rest = line.split(";", 1)
    return f'{first};"{rest}'


def _cut_last_line(raw: bytes) -> bytes:
    body = raw.rstrip(b"\r\n")
    last = body.rfind(b"\n")
    return body[: last + 1 + (len(body) - last) // 2]


def _reencode(agency: str, value_for_row2: str, to: str) -> Mutation:
    """The file saved in another encoding; row 2's given name set to a non-ASCII value."""

    def mutate(base: Base, inbox: Path) -> list[str]:
        header, rows = read_csv(agency, base.file(agency))
        col = next(c.source for c in AGENCIES[agency].columns if c.field == "given_names")
        before = list(rows[0])
        rows[0][header.index(col)] = value_for_row2
        write_csv(agency, inbox / target_name(agency), header, rows, encoding=to)
        return [value_for_row2, *identifiers(agency, header, before)]

    return mutate


def _redelimit(agency: str, delimiter: str) -> Mutation:
    def mutate(base: Base, inbox: Path) -> list[str]:
        header, rows = read_csv(agency, base.file(agency))
        write_csv(agency, inbox / target_name(agency), header, rows, delimiter=delimiter)
        return []

    return mutate


def _copy_of(other: str, agency: str) -> Mutation:
    """Another agency's file (here: an XLSX) delivered under this agency's CSV name."""

    def mutate(base: Base, inbox: Path) -> list[str]:
        shutil.copyfile(base.file(other), inbox / target_name(agency))
        return []

    return mutate


def _xlsx_as_csv(agency: str) -> Mutation:
    def mutate(base: Base, inbox: Path) -> list[str]:
        wb = openpyxl.load_workbook(base.file(agency), read_only=True)
        ws = wb[AGENCIES[agency].extract.sheet or wb.sheetnames[0]]
        rows = [[str(v or "") for v in r] for r in ws.iter_rows(values_only=True)]
        wb.close()
        text = csv_text("ewo", rows[0], rows[1:])
        (inbox / target_name(agency)).write_bytes(text.encode("cp1252", errors="replace"))
        return []

    return mutate


def _course_end_before_start(wb: openpyxl.Workbook) -> None:
    ws = wb["Teilnehmende"]
    header = [c.value for c in ws[1]]
    ws.cell(row=2, column=header.index("Kursbeginn") + 1, value="01.06.2026")
    ws.cell(row=2, column=header.index("Kursende") + 1, value="01.03.2026")


def _rename_sheet(wb: openpyxl.Workbook) -> None:
    wb.worksheets[0].title = "Tabelle1"


def _header_only(wb: openpyxl.Workbook) -> None:
    ws = wb.worksheets[0]
    ws.delete_rows(2, ws.max_row)


def _duplicate_record_id(base: Base, inbox: Path) -> list[str]:
    header, rows = read_csv("ewo", base.file("ewo"))
    i = header.index("Ordnungsmerkmal")
    before = list(rows[1])
    rows[1][i] = rows[0][i]
    write_csv("ewo", inbox / target_name("ewo"), header, rows)
    return [rows[0][i], *identifiers("ewo", header, before)]


PHONE = "Tel. 0176 2345678"
EMAIL = "max.mustermann@example.de"
IBAN = "DE89370400440532013000"

CASES: list[Case] = [
    # --- encodings, BOMs
    Case("wrong_encoding_utf8_in_cp1252", "ewo", _reencode("ewo", "Jürgen", "utf-8"),
         "rejected", "encoding", rows=(2,)),
    Case("wrong_encoding_cp1252_in_utf8", "kita", _reencode("kita", "Jörg", "cp1252"),
         "rejected", "encoding", rows=(2,)),
    Case("utf8_bom_in_cp1252_file", "ewo", edit_bytes("ewo", lambda b: b"\xef\xbb\xbf" + b),
         "accepted", "bom_unexpected", severity="warning"),
    Case("utf8_bom_in_utf8_file", "kita", edit_bytes("kita", lambda b: b"\xef\xbb\xbf" + b),
         "accepted", "bom_unexpected", severity="warning"),
    Case("bom_missing_where_agreed", "jobcenter",
         edit_bytes("jobcenter", lambda b: b.removeprefix(b"\xef\xbb\xbf")),
         "accepted", "bom_missing", severity="warning"),
    # --- delimiters and structure
    Case("comma_instead_of_semicolon", "ewo", _redelimit("ewo", ","),
         "rejected", "delimiter", mentions=("Komma",)),
    Case("tab_delimiter", "schulamt", _redelimit("schulamt", "\t"),
         "rejected", "delimiter", mentions=("Tabulator",)),
    Case("truncated_last_line", "ewo", edit_bytes("ewo", _cut_last_line),
         "rejected", "truncated"),
    Case("unterminated_quote", "schulamt", edit_lines("schulamt", _set_line(5, _open_quote)),
         "rejected", "unterminated_quote", rows=(5,)),
    Case("line_with_too_many_fields", "ewo",
         edit_lines("ewo", _set_line(7, lambda s: s + ";UNERWARTET")),
         "rejected", "field_count", rows=(7,)),
    Case("line_with_too_few_fields", "sozialamt",
         edit_lines("sozialamt", _set_line(4, lambda s: ";".join(s.split(";")[:-2]))),
         "rejected", "field_count", rows=(4,)),
    Case("no_final_newline_but_complete", "kita",
         edit_bytes("kita", lambda b: b.rstrip(b"\r\n")), "accepted", None),
    # --- header vs. config
    Case("missing_required_column", "ewo", edit_table("ewo", _drop_column("Geburtsdatum")),
         "rejected", "header_missing", mentions=("Geburtsdatum",)),
    Case("renamed_column", "sozialamt",
         edit_table("sozialamt", _rename_column("Geburtsdatum", "Geb_Datum")),
         "rejected", "header_unknown", mentions=("Geb_Datum",)),
    Case("extra_unknown_column", "schulamt",
         edit_table("schulamt", _add_column("Telefon", lambda i: f"0176 {2345000 + i}")),
         "rejected", "header_unknown", mentions=("Telefon",)),
    Case("duplicate_header", "kita",
         edit_table("kita", _rename_column("Sprachfoerderbedarf", "Betreuungsart")),
         "rejected", "header_duplicate", mentions=("Betreuungsart",)),
    # --- empty and non-files
    Case("empty_file", "ewo", edit_bytes("ewo", lambda b: b""), "rejected", "empty"),
    Case("empty_xlsx", "abh", edit_bytes("abh", lambda b: b""), "rejected", "empty"),
    Case("header_only", "jobcenter", edit_table("jobcenter", _first_rows(0)),
         "rejected", "no_rows"),
    Case("header_only_xlsx", "integrationskurs", edit_workbook("integrationskurs", _header_only),
         "rejected", "no_rows"),
    Case("xlsx_that_is_csv", "abh", _xlsx_as_csv("abh"), "rejected", "xlsx_format"),
    Case("csv_that_is_xlsx", "ewo", _copy_of("abh", "ewo"), "rejected", "csv_format"),
    Case("xlsx_missing_sheet", "abh", edit_workbook("abh", _rename_sheet),
         "rejected", "xlsx_sheet", mentions=("Export",)),
    # --- cell values
    Case("bad_date_format", "ewo", set_cell("ewo", "Geburtsdatum", 4, "1990-04-03"),
         "rejected", "type_date", column="Geburtsdatum", rows=(4,)),
    Case("impossible_date_31_february", "ewo", set_cell("ewo", "Geburtsdatum", 6, "31.02.1990"),
         "rejected", "type_date", column="Geburtsdatum", rows=(6,)),
    Case("unpadded_date_is_fine", "ewo", set_cell("ewo", "Geburtsdatum", 6, "3.4.1990"),
         "accepted", None),
    Case("birth_date_in_future", "ewo", set_cell("ewo", "Geburtsdatum", 3, "01.01.2031"),
         "accepted", "expect_column_values_to_be_between", severity="warning",
         column="Geburtsdatum", rows=(3,)),
    Case("unknown_ags", "ewo", set_cell("ewo", "Gemeindeschluessel", 5, "12061999"),
         "rejected", "expect_column_values_to_be_in_set", column="Gemeindeschluessel",
         rows=(5,)),
    Case("unknown_nationality_code", "sozialamt",
         set_cell("sozialamt", "Staatsangehoerigkeit", 3, "XQZ"),
         "rejected", "expect_column_values_to_be_in_set", column="Staatsangehoerigkeit",
         rows=(3,)),
    Case("bad_boolean", "jobcenter", set_cell("jobcenter", "Leistungsbezug_SGB2", 4, "vielleicht"),
         "rejected", "type_boolean", column="Leistungsbezug_SGB2", rows=(4,)),
    Case("bad_integer", "schulamt", set_cell("schulamt", "Jahrgangsstufe", 6, "7a"),
         "rejected", "type_integer", column="Jahrgangsstufe", rows=(6,)),
    Case("code_not_in_list", "schulamt", set_cell("schulamt", "Schulform", 3, "Waldorf"),
         "rejected", "expect_column_values_to_be_in_set", column="Schulform", rows=(3,)),
    Case("duplicate_record_id", "ewo", _duplicate_record_id,
         "rejected", "expect_column_values_to_be_unique", column="Ordnungsmerkmal", rows=(3,)),
    Case("null_in_required_field", "ewo", set_cell("ewo", "Geschlecht", 4, ""),
         "rejected", "expect_column_values_to_not_be_null", column="Geschlecht", rows=(4,)),
    Case("course_end_before_start", "integrationskurs",
         edit_workbook("integrationskurs", _course_end_before_start),
         "accepted", "expect_column_pair_values_a_to_be_greater_than_b", severity="warning",
         rows=(2,)),
    # --- personal data in columns declared non-identifying
    Case("phone_in_attribute", "abh", set_cell("abh", "Rechtsgrundlage", 3, PHONE),
         "rejected", "personal_data", column="Rechtsgrundlage", rows=(3,),
         mentions=("Telefonnummer",)),
    Case("email_in_attribute", "abh", set_cell("abh", "Rechtsgrundlage", 4, EMAIL),
         "rejected", "personal_data", column="Rechtsgrundlage", rows=(4,),
         mentions=("E-Mail-Adresse",)),
    Case("phone_in_coded_attribute", "sozialamt",
         set_cell("sozialamt", "Unterbringungsart", 5, "0176 2345678"),
         "rejected", "personal_data", column="Unterbringungsart", rows=(5,)),
    Case("iban_in_coded_attribute", "schulamt", set_cell("schulamt", "Abschluss", 7, IBAN),
         "rejected", "personal_data", column="Abschluss", rows=(7,), mentions=("IBAN",)),
    Case("phone_in_free_text_is_scrubbed", "beratung",
         set_cell("beratung", "Notiz", 2, f"Rückruf erbeten unter {PHONE}"), "accepted", None),
    # --- wrong period, duplicates, month over month
    Case("wrong_period_in_file_name", "ewo", deliver("ewo", PERIOD, target_name("ewo", PREVIOUS)),
         "rejected", "period_file_name", mentions=("09.2026", "10.2026")),
    Case("old_export_by_contents", "ewo", deliver("ewo", OLD, target_name("ewo")),
         "rejected", "period_contents"),
    Case("later_export_by_contents", "ewo", deliver("ewo", PERIOD, target_name("ewo", EARLY)),
         "rejected", "period_contents", period=EARLY),
    Case("duplicate_of_earlier_month", "ewo", deliver("ewo", PREVIOUS, target_name("ewo")),
         "rejected", "duplicate_delivery", mentions=("09.2026",),
         setup=("delivered_previous",), source_period=PREVIOUS),
    Case("identical_redelivery_same_month", "ewo", deliver("ewo", PERIOD, target_name("ewo")),
         "accepted", None, setup=("delivered_same",)),
    Case("row_count_drop", "ewo", edit_table("ewo", _first_rows(0.3)),
         "accepted", "expect_table_row_count_to_be_between", severity="warning",
         setup=("accept_previous",)),
]  # fmt: skip
