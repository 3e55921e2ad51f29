"""Checks that run before Great Expectations can even see an extract.

GX validates the pseudonymised frame; by then a file in the wrong encoding, with the wrong
delimiter, cut off in the middle, delivered for the wrong month or carrying a phone number in a
column declared non-identifying has either failed to parse or, worse, parsed into something
plausible. These checks look at the raw bytes, the delivery history and the raw values, and
report what they find as `Problem`s: file, line, column, a German message and fix, never a value.

The checks are cheap on purpose (a district month is about a million rows): byte scans with
numpy, Arrow kernels on whole columns, and Presidio only on the few distinct values of free
string attributes that could hold personal data at all.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiim.catalogues import catalogue_codes
from kiim.config import Agency, Column, Role
from kiim.problems import Problem, Severity

if TYPE_CHECKING:
    from kiim.ingest import ParsedExtract
    from kiim.workspace import Workspace
    from pseudonymization import Scrubber

log = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
ZIP_MAGIC = b"PK\x03\x04"  # XLSX is a ZIP container
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old binary Excel (XLS)
DELIMITER_CANDIDATES = (";", ",", "\t", "|")
MAX_ROWS = 20  # sample of line numbers in a problem

# wrong period by content: share/number of rows with event dates after the period
FUTURE_MIN_ROWS = 2
FUTURE_MIN_SHARE = 0.005
# ... or a latest event date long before it (only meaningful with enough dated rows)
STALE_MIN_ROWS = 50
STALE_WARNING_DAYS = 122  # about 4 months
STALE_CRITICAL_DAYS = 274  # about 9 months

PERIOD_IN_NAME = re.compile(r"(?<!\d)(20\d\d)[-_.]?(0[1-9]|1[0-2])(?!\d)")
# Every Presidio recognizer kiim uses needs a digit, an "@" or a web address to fire: values
# without any of them are not scanned at all.
PII_CANDIDATE = r"[0-9@]|www\.|https?:"
PLACEHOLDER = r"<[A-Z]+>"

ENTITY_DE = {
    "PHONE_NUMBER": "Telefonnummer",
    "EMAIL_ADDRESS": "E-Mail-Adresse",
    "IBAN_CODE": "IBAN",
    "ADDRESS": "Anschrift",
    "DATE_TIME": "Datum",
    "URL": "Internetadresse",
    "ID_NUMBER": "Kennnummer",
}


def _entity_de(entity: str) -> str:
    return ENTITY_DE.get(entity, "Ausweis-/Steuer-/Versicherungsnummer")


def _delimiter_de(delimiter: str) -> str:
    return {
        "\t": "Tabulator",
        ";": "Semikolon (;)",
        ",": "Komma (,)",
        "|": "senkrechter Strich (|)",
    }.get(delimiter, f"'{delimiter}'")


def _period_de(period: str) -> str:
    return f"{period[5:7]}.{period[:4]}"


def _p(
    agency: Agency,
    file: str,
    check: str,
    msg: str,
    fix: str,
    *,
    severity: Severity = Severity.critical,
    column: str | None = None,
    rows: tuple[int, ...] | list[int] = (),
    row_count: int | None = None,
) -> Problem:
    rows = tuple(int(r) for r in rows)
    return Problem(
        agency=agency.agency,
        file=file,
        check=check,
        message_de=msg,
        fix_de=fix,
        severity=severity,
        column=column,
        rows=rows[:MAX_ROWS],
        row_count=row_count if row_count is not None else (len(rows) or None),
    )


# ------------------------------------------------------------------------------ raw bytes


def _is_utf8_family(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in {"utf-8", "utf8", "utf-8-sig", "utf8-sig"}


def _first_line_with_non_ascii(raw: bytes) -> int:
    arr = np.frombuffer(raw, np.uint8)
    high = np.flatnonzero(arr >= 0x80)
    if not len(high):
        return 1
    return int(np.count_nonzero(arr[: high[0]] == 0x0A)) + 1


def check_bytes(agency: Agency, path: Path, raw: bytes) -> tuple[bytes, list[Problem]]:
    """Empty file, wrong container (XLSX vs. text), BOM and encoding mix-ups.

    Returns the bytes to decode (a spurious BOM removed) and the problems; the caller rejects
    the file when one of them is critical.
    """
    file = path.name
    fmt = agency.extract.format
    if not raw.strip(b" \t\r\n\x00" + UTF8_BOM):
        return raw, [
            _p(
                agency,
                file,
                "empty",
                "Die Datei ist leer (0 Datensätze, keine Kopfzeile).",
                "Die Lieferung bei der Stelle erneut anfordern; vermutlich ist der Export "
                "abgebrochen.",
            )
        ]
    if fmt == "xlsx":
        if raw.startswith(ZIP_MAGIC):
            return raw, []
        looks_text = b"\x00" not in raw[:4096] and not raw.startswith(OLE_MAGIC)
        what = (
            "eine Textdatei (vermutlich CSV) mit der Endung .xlsx"
            if looks_text
            else "eine alte Excel-Datei (XLS) oder ein anderes Format"
            if raw.startswith(OLE_MAGIC)
            else "kein XLSX-Format"
        )
        return raw, [
            _p(
                agency,
                file,
                "xlsx_format",
                f"Die Datei ist keine Excel-Arbeitsmappe (XLSX), sondern {what}.",
                "Die Stelle bitten, im Fachverfahren als 'Excel-Arbeitsmappe (*.xlsx)' zu "
                "exportieren, statt die Dateiendung umzubenennen.",
            )
        ]
    if raw.startswith(ZIP_MAGIC) or raw.startswith(OLE_MAGIC):
        return raw, [
            _p(
                agency,
                file,
                "csv_format",
                "Die Datei ist keine Textdatei (CSV), sondern eine Excel- oder ZIP-Datei.",
                "Die Stelle bitten, als CSV (Text mit Trennzeichen "
                f"{_delimiter_de(agency.extract.delimiter)}) zu exportieren.",
            )
        ]
    enc = agency.extract.encoding
    has_bom = raw.startswith(UTF8_BOM)
    norm = enc.lower().replace("_", "-")
    if norm in {"utf-8-sig", "utf8-sig"}:
        if not has_bom:
            return raw, [
                _p(
                    agency,
                    file,
                    "bom_missing",
                    "Die Datei beginnt nicht mit der vereinbarten UTF-8-Kennung (BOM). Sie wurde "
                    "trotzdem als UTF-8 gelesen.",
                    "Keine Maßnahme nötig, sofern Umlaute im Qualitätsbericht stimmen; die Stelle "
                    "auf die geänderte Exporteinstellung hinweisen.",
                    severity=Severity.warning,
                )
            ]
        return raw, []
    if _is_utf8_family(enc):
        if has_bom:
            return raw[len(UTF8_BOM) :], [
                _p(
                    agency,
                    file,
                    "bom_unexpected",
                    "Die Datei beginnt mit einer UTF-8-Kennung (BOM), die nicht vereinbart ist. "
                    "Sie wurde entfernt.",
                    "Keine Maßnahme nötig; die Stelle auf die geänderte Exporteinstellung "
                    "hinweisen.",
                    severity=Severity.warning,
                )
            ]
        return raw, []
    # a single-byte code page such as cp1252: UTF-8 bytes would decode without error into
    # garbage ("MÃ¼ller") and silently break every linkage key, so detect UTF-8 explicitly
    body = raw[len(UTF8_BOM) :] if has_bom else raw
    non_ascii = not body.isascii()
    if non_ascii:
        try:
            body.decode("utf-8")
            is_utf8 = True
        except UnicodeDecodeError:
            is_utf8 = False
        if is_utf8:
            line = _first_line_with_non_ascii(body)
            return raw, [
                _p(
                    agency,
                    file,
                    "encoding",
                    f"Die Datei ist in UTF-8 gespeichert, vereinbart ist {enc} (erkennbar an den "
                    f"Umlauten, erstmals in Zeile {line}). Gelesen würden falsche Zeichen und "
                    "damit falsche Verknüpfungsschlüssel.",
                    f"Die Stelle bitten, die Datei erneut als {enc} (Windows-ANSI) zu "
                    "exportieren, oder die Kodierung in der Stellenkonfiguration auf utf-8 "
                    "ändern, wenn die Stelle dauerhaft umgestellt hat.",
                    rows=(line,),
                    row_count=1,
                )
            ]
    if has_bom:
        return body, [
            _p(
                agency,
                file,
                "bom_unexpected",
                f"Die Datei beginnt mit einer UTF-8-Kennung (BOM), ist aber in {enc} gespeichert. "
                "Die Kennung wurde entfernt und die Datei als "
                f"{enc} gelesen.",
                "Keine Maßnahme nötig; die Stelle auf die widersprüchliche Exporteinstellung "
                "hinweisen.",
                severity=Severity.warning,
            )
        ]
    return raw, []


# ------------------------------------------------------------------------------- CSV text


def _count_fields(line: str, delimiter: str) -> int:
    if '"' not in line:
        return line.count(delimiter) + 1
    row = next(csv.reader([line], delimiter=delimiter), [])
    return len(row)


def check_csv_text(agency: Agency, path: Path, data: bytes, header_line: str) -> list[Problem]:
    """Delimiter, unterminated quotes and a cut-off last line, on the UTF-8 text of a CSV.

    `data` is the whole file re-encoded as UTF-8 (what the CSV parser reads); line numbers are
    as a spreadsheet shows them (header = 1).
    """
    file = path.name
    delim = agency.extract.delimiter
    expected = len(agency.columns)
    if len(header_line.split(delim)) == 1 and expected > 1:
        counts = {d: header_line.count(d) for d in DELIMITER_CANDIDATES if d != delim}
        best = max(counts, key=lambda d: counts[d])
        found = (
            f"; die Kopfzeile ist offenbar mit {_delimiter_de(best)} getrennt"
            if counts[best]
            else ""
        )
        return [
            _p(
                agency,
                file,
                "delimiter",
                f"Die Kopfzeile ergibt nur eine Spalte: vereinbartes Trennzeichen ist "
                f"{_delimiter_de(delim)}{found}.",
                f"Die Stelle bitten, mit dem Trennzeichen {_delimiter_de(delim)} zu exportieren "
                "(in Excel: 'CSV (Trennzeichen-getrennt)' mit deutschen Ländereinstellungen).",
            )
        ]
    problems: list[Problem] = []
    arr = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(arr == 0x0A)
    ends_with_newline = bool(len(arr)) and arr[-1] == 0x0A
    last_line_no = len(newlines) + (0 if ends_with_newline else 1)
    truncated_line: int | None = None
    if not ends_with_newline and last_line_no > 1:
        start = int(newlines[-1]) + 1 if len(newlines) else 0
        last = data[start:].decode("utf-8").rstrip("\r")
        if last.strip() and (last.count('"') % 2 == 1 or _count_fields(last, delim) < expected):
            truncated_line = last_line_no
            problems.append(
                _p(
                    agency,
                    file,
                    "truncated",
                    f"Die Datei endet mitten in Zeile {last_line_no}: die letzte Zeile ist "
                    "unvollständig (Datei abgeschnitten, z. B. beim Kopieren oder durch einen "
                    "abgebrochenen Export).",
                    "Die Lieferung vollständig erneut anfordern; die Zeilenzahl mit der Stelle "
                    "abgleichen.",
                    rows=(last_line_no,),
                    row_count=1,
                )
            )
    quotes = np.flatnonzero(arr == 0x22)
    if len(quotes):
        per_line = np.bincount(np.searchsorted(newlines, quotes), minlength=last_line_no)
        odd = [
            int(i) + 1 for i in np.flatnonzero(per_line % 2 == 1) if int(i) + 1 != truncated_line
        ]
        if odd:
            problems.append(
                _p(
                    agency,
                    file,
                    "unterminated_quote",
                    f"{len(odd)} Zeile(n) enthalten ein nicht geschlossenes Anführungszeichen; "
                    "ab dort wären Felder und Zeilen verschoben worden.",
                    "Die Stelle bitten, Anführungszeichen in Werten zu verdoppeln (CSV-Standard) "
                    "oder aus den Werten zu entfernen, und neu zu exportieren.",
                    rows=odd,
                    row_count=len(odd),
                )
            )
    return problems


# ------------------------------------------------------------------------------- delivery


def period_in_name(name: str) -> str | None:
    """The reporting month a file name states (YYYY-MM, YYYY_MM or YYYYMM), if any."""
    m = PERIOD_IN_NAME.search(name)
    return f"{m.group(1)}-{m.group(2)}" if m else None


def check_file_name(agency: Agency, path: Path, period: str) -> list[Problem]:
    """A file named for another month than the run's."""
    named = period_in_name(path.name)
    if named is None or named == period:
        return []
    return [
        _p(
            agency,
            path.name,
            "period_file_name",
            f"Die Datei ist nach dem Berichtsmonat {_period_de(named)} benannt, liegt aber im "
            f"Eingang für {_period_de(period)}.",
            f"Prüfen, ob die richtige Datei geliefert wurde: die Lieferung für "
            f"{_period_de(period)} als {agency.extract.file_pattern.format(period=period)} "
            "anfordern; die Datei für "
            f"{_period_de(named)} gehört in den Eingangsordner {named}.",
        )
    ]


def misdelivered_files(agency: Agency, inbox_period_dir: Path, period: str) -> list[Path]:
    """Files in this period's inbox that match the agency's pattern for another month."""
    pattern = agency.extract.file_pattern
    if "{period}" not in pattern or not inbox_period_dir.is_dir():
        return []
    glob = pattern.replace("{period}", "*")
    return [
        p
        for p in sorted(inbox_period_dir.glob(glob))
        if p.is_file()
        and not p.name.startswith(".")
        and (named := period_in_name(p.name)) is not None
        and named != period
    ]


@dataclass(frozen=True)
class EarlierDelivery:
    period: str
    status: str
    sha256: str | None


def _deliveries(ws: Workspace, where: str, params: list[str]) -> list[EarlierDelivery] | None:
    """Rows of `ops.deliveries`; [] without a warehouse, None if it cannot be read.

    Opens the warehouse read-only and only if it exists: a check must never create or lock it.
    """
    if not ws.warehouse_db.exists():
        return []
    import duckdb

    try:
        con = duckdb.connect(str(ws.warehouse_db), read_only=True)
    except duckdb.Error:
        return None
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'ops' and table_name = 'deliveries'"
        ).fetchone()
        if not exists or not exists[0]:
            return []
        rows = con.execute(
            f"select period, status, file_sha256 from ops.deliveries where {where} order by period",
            params,
        ).fetchall()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return [EarlierDelivery(str(p), str(s), h) for p, s, h in rows]


def earlier_deliveries(ws: Workspace, agency: str, sha256: str) -> list[EarlierDelivery] | None:
    """Deliveries of `agency` with this checksum in `ops.deliveries`; None if unreadable."""
    return _deliveries(ws, "agency = ? and file_sha256 = ?", [agency, sha256])


def accepted_sha256(ws: Workspace, agency: str, period: str) -> str | None:
    """Checksum of the accepted delivery of (agency, period), to keep it when it is re-used."""
    rows = _deliveries(ws, "agency = ? and period = ? and status = 'accepted'", [agency, period])
    return next((r.sha256 for r in rows or [] if r.sha256), None)


def check_duplicate_delivery(
    ws: Workspace, agency: Agency, file: str, sha256: str, period: str
) -> list[Problem]:
    """The same bytes were already accepted for another month: a re-sent old file.

    Re-delivering the identical file for the same month is fine (a re-run is idempotent).
    """
    earlier = earlier_deliveries(ws, agency.agency, sha256)
    if earlier is None:
        return [
            _p(
                agency,
                file,
                "duplicate_check_unavailable",
                "Die Prüfung auf doppelte Lieferung war nicht möglich (Warehouse gesperrt oder "
                "nicht lesbar).",
                "Nach Abschluss anderer Läufe den Monat erneut ausführen, wenn die Lieferung "
                "verdächtig ist.",
                severity=Severity.warning,
            )
        ]
    other = sorted({d.period for d in earlier if d.period != period and d.status == "accepted"})
    if not other:
        return []
    months = ", ".join(_period_de(p) for p in other)
    return [
        _p(
            agency,
            file,
            "duplicate_delivery",
            f"Die Datei ist bytegleich (gleiche SHA-256-Prüfsumme) mit der bereits angenommenen "
            f"Lieferung für {months}: offenbar wurde die alte Datei erneut geschickt.",
            f"Die Stelle um den Export für {_period_de(period)} bitten.",
        )
    ]


def _event_dates(agency: Agency) -> list[Column]:
    """Date attributes that record something that has happened (planned end dates excluded)."""
    return [
        c
        for c in agency.columns
        if c.type == "date" and c.role is Role.attribute and not c.field.endswith("_end_date")
    ]


def check_period_contents(parsed: ParsedExtract, period: str) -> list[Problem]:
    """An extract of another month: events after the period, or none for a long time before."""
    agency = parsed.agency
    cols = [c for c in _event_dates(agency) if c.field in parsed.table.column_names]
    if not cols or parsed.rows == 0:
        return []
    year, month = int(period[:4]), int(period[5:7])
    start = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    table = parsed.table
    after = pa.array(np.zeros(parsed.rows, bool))
    dated = pa.array(np.zeros(parsed.rows, bool))
    latest: date | None = None
    for c in cols:
        values = table.column(c.field)
        after = pc.or_(after, pc.fill_null(pc.greater(values, pa.scalar(end, pa.date32())), False))
        dated = pc.or_(dated, pc.is_valid(values))
        m = pc.max(values).as_py()
        if m is not None and (latest is None or m > latest):
            latest = m
    n_dated = int(pc.sum(pc.cast(dated, pa.int64())).as_py() or 0)
    n_after = int(pc.sum(pc.cast(after, pa.int64())).as_py() or 0)
    labels = ", ".join(c.source for c in cols)
    file = parsed.file_name
    if n_after >= max(FUTURE_MIN_ROWS, FUTURE_MIN_SHARE * n_dated):
        idx = pc.indices_nonzero(after)
        rows = pc.take(table.column("_source_row"), idx[:MAX_ROWS]).to_pylist()
        return [
            _p(
                agency,
                file,
                "period_contents",
                f"{n_after} Datensätze haben Ereignisdaten ({labels}) nach dem Ende des "
                f"Berichtsmonats {_period_de(period)}: die Datei stammt offenbar aus einem "
                "späteren Monat.",
                f"Prüfen, ob die Datei in den richtigen Eingangsordner gelegt wurde; sonst die "
                f"Lieferung für {_period_de(period)} anfordern.",
                rows=rows,
                row_count=n_after,
            )
        ]
    if latest is None or n_dated < STALE_MIN_ROWS:
        return []
    gap = (start - latest).days
    if gap < STALE_WARNING_DAYS:
        return []
    severity = Severity.critical if gap >= STALE_CRITICAL_DAYS else Severity.warning
    return [
        _p(
            agency,
            file,
            "period_contents",
            f"Das jüngste Ereignisdatum ({labels}) liegt im Monat "
            f"{latest.month:02d}.{latest.year}, {gap // 30} Monate vor dem Berichtsmonat "
            f"{_period_de(period)}: die Datei ist vermutlich ein alter Export.",
            f"Die Stelle bitten zu bestätigen, dass der Export den Stand {_period_de(period)} "
            "hat, oder den aktuellen Export anfordern.",
            severity=severity,
        )
    ]


# ------------------------------------------------------------------------- personal data


def _attribute_string_columns(agency: Agency) -> list[Column]:
    """String attributes: kept unchanged in the pseudonymised zone, declared non-identifying.

    Quasi-identifiers are not scanned: they all carry a code list or catalogue, and a wrong
    code there (an 8-digit AGS that does not exist looks like an ID number to Presidio) is the
    code check's business.
    """
    return [c for c in agency.columns if c.type == "string" and c.role is Role.attribute]


def _allowed(col: Column) -> frozenset[str]:
    allowed: set[str] = set()
    for code in col.codes or []:
        if code.startswith("catalogue:"):
            allowed |= catalogue_codes(code.removeprefix("catalogue:"))
        else:
            allowed.add(code)
    if col.catalogue:
        allowed |= catalogue_codes(col.catalogue)
    return frozenset(allowed)


def _findings_problem(
    agency: Agency,
    file: str,
    check: str,
    col: Column,
    values: pa.Array,
    source_rows: pa.Array,
    flagged: dict[str, set[str]],
    *,
    free_text: bool,
) -> Problem:
    mask = pc.is_in(values, value_set=pa.array(list(flagged), pa.string()))
    idx = pc.indices_nonzero(pc.fill_null(mask, False))
    rows = pc.take(source_rows, idx[:MAX_ROWS]).to_pylist()
    kinds = sorted({_entity_de(e) for ents in flagged.values() for e in ents})
    if free_text:
        msg = (
            f"Nach dem Entfernen personenbezogener Angaben erkennt die Prüfung in der "
            f"Freitextspalte noch: {', '.join(kinds)} ({len(idx)} Zeile(n))."
        )
        fix = (
            "Die Notizen dürfen so nicht übernommen werden: die Stelle bitten, Kontaktdaten "
            "und Kennnummern nicht in Notizen zu schreiben; ggf. die Spalte in der "
            "Konfiguration auf 'drop' setzen."
        )
    else:
        msg = (
            f"Die Spalte ({col.label_de}) ist als nicht identifizierendes Merkmal vereinbart, "
            f"enthält aber personenbezogene Angaben: {', '.join(kinds)} ({len(idx)} Zeile(n))."
        )
        fix = (
            "Die Stelle bitten, in dieser Spalte nur die vereinbarten Angaben zu liefern (keine "
            "Kontaktdaten, Kennnummern, Anschriften) und neu zu exportieren."
        )
    return _p(agency, file, check, msg, fix, column=col.source, rows=rows, row_count=len(idx))


def _scan_distinct(
    candidates: list[str], scrubber: Scrubber, *, skip_placeholders: bool = False
) -> dict[str, set[str]]:
    flagged: dict[str, set[str]] = {}
    for value, findings in zip(candidates, scrubber.scan_many(candidates), strict=True):
        entities = {
            f.entity_type
            for f in findings
            if not (skip_placeholders and re.fullmatch(PLACEHOLDER, value[f.start : f.end].strip()))
        }
        if entities:
            flagged[value] = entities
    return flagged


def scan_attributes(parsed: ParsedExtract, scrubber: Callable[[], Scrubber]) -> list[Problem]:
    """Presidio scan of string columns declared non-identifying, before they pass.

    Only distinct values that are not allowed codes and contain a digit, an "@" or a web
    address are scanned: that is where every recognizer kiim uses can fire, and it keeps a
    million-row extract to a handful of Presidio calls. `scrubber` is called only if needed.
    """
    problems: list[Problem] = []
    table = parsed.table
    source_rows = table.column("_source_row").combine_chunks()
    for col in _attribute_string_columns(parsed.agency):
        if col.field not in table.column_names:
            continue
        values = table.column(col.field).combine_chunks()
        distinct = pc.drop_null(pc.unique(values))
        allowed = _allowed(col)
        if allowed:
            distinct = pc.filter(
                distinct, pc.invert(pc.is_in(distinct, value_set=pa.array(sorted(allowed))))
            )
        candidates = pc.filter(distinct, pc.match_substring_regex(distinct, PII_CANDIDATE))
        if not len(candidates):
            continue
        flagged = _scan_distinct(candidates.to_pylist(), scrubber())
        if flagged:
            problems.append(
                _findings_problem(
                    parsed.agency,
                    parsed.file_name,
                    "personal_data",
                    col,
                    values,
                    source_rows,
                    flagged,
                    free_text=False,
                )
            )
    return problems


def scan_scrubbed_free_text(
    agency: Agency, file: str, table: pa.Table, scrubber: Callable[[], Scrubber]
) -> list[Problem]:
    """Free text after scrubbing: anything Presidio still finds is a critical leak.

    Findings in the raw notes are expected (that is what scrubbing is for); a finding in the
    scrubbed text means the placeholders did not cover it.
    """
    problems: list[Problem] = []
    if "_source_row" not in table.column_names:
        return problems
    source_rows = table.column("_source_row").combine_chunks()
    for col in agency.by_role(Role.free_text):
        if col.field not in table.column_names:
            continue
        values = table.column(col.field).combine_chunks()
        distinct = pc.drop_null(pc.unique(values))
        rest = pc.replace_substring_regex(distinct, PLACEHOLDER, " ")
        candidates = pc.filter(distinct, pc.match_substring_regex(rest, PII_CANDIDATE))
        if not len(candidates):
            continue
        # a placeholder itself is not a finding
        flagged = _scan_distinct(candidates.to_pylist(), scrubber(), skip_placeholders=True)
        if flagged:
            problems.append(
                _findings_problem(
                    agency,
                    file,
                    "personal_data_free_text",
                    col,
                    values,
                    source_rows,
                    flagged,
                    free_text=True,
                )
            )
    return problems
