"""Write an extract exactly as the agency config describes it (headers, order, formats, encoding).

The writer knows nothing about agencies: header names and their order, date format, boolean
codes, decimal separator, delimiter, encoding and XLSX sheet all come from the config, so a
changed config changes the files without touching the generator.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import numpy as np

from kiim.config import Agency, Column, Extract, Role
from kiim.synthetic.agencies import ExtractContent
from kiim.synthetic.timeline import NEVER, ymd

_EPOCH = date(1970, 1, 1)
MIN_IDENTIFIER_LENGTH = 4


_SIMPLE_DATE = re.compile(r"^(?:%[dmY]|[^%])*$")
_DATE_FIELDS = {"%d": "{d:02d}", "%m": "{m:02d}", "%Y": "{y:04d}"}


def format_dates(days: np.ndarray, fmt: str) -> np.ndarray:
    """Day numbers -> strings (None for NEVER); formats each distinct day once.

    Formats made of %d, %m, %Y and literals (all the configs use) take a fast path that
    matches strftime; anything else goes through strftime.
    """
    out = np.full(len(days), None, dtype=object)
    valid = days != NEVER
    if valid.any():
        uniq, inv = np.unique(days[valid], return_inverse=True)
        if _SIMPLE_DATE.match(fmt):
            template = re.sub(
                r"%[dmY]|[{}]",
                lambda m: _DATE_FIELDS.get(m.group(0), m.group(0) * 2),
                fmt,
            )
            y, mo, d = ymd(uniq)
            text = np.array(
                [
                    template.format(y=a, m=b, d=c)
                    for a, b, c in zip(y.tolist(), mo.tolist(), d.tolist(), strict=True)
                ],
                dtype=object,
            )
        else:
            text = np.array(
                [(_EPOCH + timedelta(days=int(x))).strftime(fmt) for x in uniq.tolist()], object
            )
        out[valid] = text[inv]
    return out


def blank_date_parts(
    days: np.ndarray, text: np.ndarray, unknown: np.ndarray, extract: Extract
) -> np.ndarray:
    """Formatted dates (`text`, of the day numbers `days`) with the day (unknown 1) or day
    and month (2) written as 00."""
    out = text.copy()
    for level, parts in ((1, ("%d",)), (2, ("%d", "%m"))):
        fmt = extract.date_format
        for part in parts:
            fmt = fmt.replace(part, "00")
        rows = np.flatnonzero(unknown == level)
        out[rows] = format_dates(days[rows], fmt)
    return out


def format_column(col: Column, values: np.ndarray, extract: Extract) -> np.ndarray:
    """Typed values of one column -> the strings written (None = empty cell)."""
    if col.type == "date":
        return format_dates(np.asarray(values, dtype=np.int64), extract.date_format)
    if col.type == "boolean":
        v = np.asarray(values)
        out = np.where(v == 1, extract.true_values[0], extract.false_values[0]).astype(object)
        out[v < 0] = None
        return out
    if col.type == "integer":
        v = np.asarray(values, dtype=np.int64)
        out = v.astype(str).astype(object)
        out[v == NEVER] = None
        return out
    if col.type == "decimal":
        return np.array(
            [None if x is None else f"{x}".replace(".", extract.decimal) for x in values],
            dtype=object,
        )
    return np.asarray(values, dtype=object)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target and rename: the inbox never holds half a file."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _csv_bytes(agency: Agency, header: list[str], columns: list[np.ndarray]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=agency.extract.delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(zip(*(c.tolist() for c in columns), strict=True))
    try:
        return buf.getvalue().encode(agency.extract.encoding)
    except UnicodeEncodeError:
        # the message would quote the value; name the column instead
        raise ValueError(
            f"{agency.agency}: a generated value cannot be written in {agency.extract.encoding}"
        ) from None


def _xml_text(v: object) -> str:
    return str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Standard" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def _xlsx_bytes(agency: Agency, header: list[str], columns: list[np.ndarray]) -> bytes:
    """A minimal XLSX package (one sheet, every cell an inline string, as text exports are).

    Written directly rather than through openpyxl's write-only mode, which needs ~35 µs per
    cell (20 s for the Ausländerbehörde extract of a 200k district); openpyxl reads it back.
    """
    sheet = agency.extract.sheet or "Tabelle1"
    letters = [_col_letter(i) for i in range(len(header))]
    parts: list[str] = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:{letters[-1]}{len(columns[0]) + 1}"/><sheetData>'
    ]
    rows = zip(*(c.tolist() for c in columns), strict=True)
    for rn, row in enumerate(itertools.chain([header], rows), start=1):
        parts.append(f'<row r="{rn}">')
        parts.extend(
            f'<c r="{letters[j]}{rn}" t="inlineStr"><is><t>{_xml_text(v)}</t></is></c>'
            for j, v in enumerate(row)
            if v is not None
        )
        parts.append("</row>")
    parts.append("</sheetData></worksheet>")
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{xml_escape(sheet, {chr(34): "&quot;"})}" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    )
    members = dict(_XLSX_STATIC)
    members["xl/workbook.xml"] = workbook
    members["xl/worksheets/sheet1.xml"] = "".join(parts)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in members.items():
            # fixed timestamps: equal seeds give byte-identical files
            z.writestr(
                zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)),
                text.encode("utf-8"),
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=1,
            )
    return out.getvalue()


def write_extract(agency: Agency, content: ExtractContent, path: Path) -> set[str]:
    """Write the file; return every identifying value written (canaries for privacy tests)."""
    missing = [c.field for c in agency.columns if c.field not in content.values]
    if missing:
        raise ValueError(
            f"{agency.agency}: the generator has no content for configured field(s) {missing}"
        )
    header = [c.source for c in agency.columns]
    columns = [format_column(c, content.values[c.field], agency.extract) for c in agency.columns]
    if content.birth_unknown is not None:  # 00.00.1990 / 00.05.1990 as German registers write
        for k, col in enumerate(agency.columns):
            if col.field == "birth_date":
                days = np.asarray(content.values[col.field], dtype=np.int64)
                columns[k] = blank_date_parts(
                    days, columns[k], content.birth_unknown, agency.extract
                )
    if agency.extract.format == "csv":
        data = _csv_bytes(agency, header, columns)
    else:
        data = _xlsx_bytes(agency, header, columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, data)

    identifiers: set[str] = set(content.extra_identifiers)
    for col, written in zip(agency.columns, columns, strict=True):
        if col.role is Role.direct_identifier:
            distinct = set(written.tolist())
            identifiers |= distinct
            if col.field == "given_names":
                for v in distinct:
                    if v is not None:
                        identifiers.update(str(v).split())
        elif col.field == "birth_date":
            identifiers |= set(written.tolist())
            iso = format_dates(np.asarray(content.values[col.field], dtype=np.int64), "%Y-%m-%d")
            identifiers |= set(iso.tolist())
    identifiers.discard(None)  # type: ignore[arg-type]
    return {v for v in map(str, identifiers) if len(v) >= MIN_IDENTIFIER_LENGTH}
