"""The German integration report: one self-contained HTML file per reporting month.

Built only from the published (disclosure-controlled) analyst database, opened read-only, so
the report is as safe to share as that database: withheld values stay withheld and are shown
as "•". Charts are inline SVG (kiim.report_svg); the file loads nothing from anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path
from typing import Annotated

import duckdb
import pandas as pd
import typer

from kiim.fmt import de_date, de_int, de_num
from kiim.report_svg import SUPPRESSED_MARK, SUPPRESSED_TITLE, Bar, bar_chart, line_chart

CATALOGUE_TABLE = "indikatoren_katalog"
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MONTHS_DE = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)
# The report's eight fields of action and the dbt meta `field_of_action_de` values they gather.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Bevölkerung": ("Bevölkerung",),
    "Aufenthalt und Einbürgerung": ("Aufenthalt und Einbürgerung",),
    "Kita und Sprache": ("Kita und Sprache", "Frühkindliche Bildung und Sprache"),
    "Bildung": ("Bildung", "Schule und Bildung"),
    "Arbeit und Grundsicherung": ("Arbeit und Grundsicherung",),
    "Wohnen": ("Wohnen",),
    "Beratung": ("Beratung",),
    "Verläufe": ("Verläufe",),
}
OTHER_SECTION = "Weitere Indikatoren"
MAX_CATEGORY_CHARTS = 4
MAX_SERIES = 6
UNIT_SHORT = {"Prozent": "%"}

CSS = """
body{font-family:sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222;
line-height:1.45}
h1{font-size:1.6rem}h2{border-bottom:2px solid #1b5e8c;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-bottom:.3rem}article{margin:1.5rem 0 2.5rem}
table{border-collapse:collapse;margin:.6rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem}
td.n{text-align:right}dl{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem}
dt{font-weight:bold}.hint{color:#555;font-size:.9rem}figure{margin:.8rem 0}
figcaption{font-size:.9rem;color:#444}
"""


def period_label(period: str) -> str:
    """'2026-10' -> 'Oktober 2026'."""
    year, month = period.split("-")
    return f"{MONTHS_DE[int(month) - 1]} {year}"


def _short_period(period: str) -> str:
    year, month = period.split("-")
    return f"{month}/{year[2:]}"


def section_of(field_of_action: str | None) -> str:
    for section, values in SECTIONS.items():
        if field_of_action in values:
            return section
    return OTHER_SECTION


@dataclass(frozen=True)
class Indicator:
    table: str
    label: str
    field_of_action: str | None
    definition: str | None
    numerator: str | None
    denominator: str | None
    unit: str
    sources: str
    last_period: str | None


def _catalogue(con: duckdb.DuckDBPyConnection) -> list[Indicator]:
    rows = con.execute(
        "select tabelle, bezeichnung, handlungsfeld, definition, zaehler, nenner, einheit, "
        f"quellen, letzte_periode from {CATALOGUE_TABLE} order by tabelle"
    ).fetchall()
    return [
        Indicator(r[0], r[1] or r[0], r[2], r[3], r[4], r[5], r[6] or "", r[7] or "", r[8])
        for r in rows
    ]


def _district_ags(frame: pd.DataFrame, district_de: str, district_ags: str | None) -> str | None:
    if district_ags:
        return district_ags
    named = frame.loc[frame["gemeinde"] == district_de, "ags"]
    if len(named):
        return str(named.iloc[0])
    kreis = sorted(a for a in frame["ags"].unique() if str(a).endswith("000"))
    return kreis[0] if kreis else None


def _value(row: pd.Series, column: str, flag: str) -> str:
    if bool(row.get(flag, False)):
        return f'<span title="{SUPPRESSED_TITLE}">{SUPPRESSED_MARK}</span>'
    value = row[column]
    if pd.isna(value):
        return "–"
    return de_num(float(value)) if column == "rate" else de_int(int(value))


def _rate(row: pd.Series) -> float | None:
    if bool(row["rate_suppressed"]) or pd.isna(row["rate"]):
        return None
    return float(row["rate"])


def _indicator_html(
    con: duckdb.DuckDBPyConnection,
    ind: Indicator,
    period: str,
    *,
    district_de: str,
    district_ags: str | None,
    source_names: Mapping[str, str],
) -> str:
    frame = con.execute(
        f"select * from \"{ind.table}\" where dimension = 'insgesamt' and period <= ? "
        "order by period",
        [period],
    ).df()
    unit = UNIT_SHORT.get(ind.unit, ind.unit)
    sources = ", ".join(source_names.get(s.strip(), s.strip()) for s in ind.sources.split(","))
    out = [f'<article id="{escape(ind.table)}"><h3>{escape(ind.label)}</h3>']
    if ind.definition:
        out.append(f"<p>{escape(ind.definition)}</p>")
    out.append("<dl>")
    for term, text in (
        ("Zähler", ind.numerator),
        ("Nenner", ind.denominator),
        ("Einheit", ind.unit),
        ("Quellen", sources),
        ("Tabelle", ind.table),
    ):
        if text:
            out.append(f"<dt>{term}</dt><dd>{escape(text)}</dd>")
    out.append("</dl>")
    current = frame[frame["period"] == period]
    if current.empty:
        out.append(f'<p class="hint">Keine Werte für {period_label(period)}.</p></article>')
        return "".join(out)
    kreis = _district_ags(frame, district_de, district_ags)
    categories = list(dict.fromkeys(current["category"]))
    district_now = current[current["ags"] == kreis]
    # district table for the month
    out.append(
        f"<table><caption>{escape(district_de)}, {period_label(period)}</caption>"
        "<tr><th>Kategorie</th><th>Zähler</th><th>Nenner</th>"
        f"<th>Wert ({escape(unit)})</th></tr>"
    )
    for _, row in district_now.iterrows():
        out.append(
            f"<tr><td>{escape(str(row['category']))}</td>"
            f'<td class="n">{_value(row, "numerator", "numerator_suppressed")}</td>'
            f'<td class="n">{_value(row, "denominator", "denominator_suppressed")}</td>'
            f'<td class="n">{_value(row, "rate", "rate_suppressed")}</td></tr>'
        )
    out.append("</table>")
    if not bool(current["source_complete"].all()):
        out.append(
            '<p class="hint">Hinweis: Mindestens eine Quelllieferung für diesen Monat fehlt oder '
            "wurde abgelehnt; Nullen sind dann keine echten Nullen.</p>"
        )
    # time series of the district value
    periods = sorted(frame["period"].unique())
    if len(periods) > 1:
        district = frame[frame["ags"] == kreis]
        series = {}
        for category in categories[:MAX_SERIES]:
            by_period = {
                r["period"]: _rate(r)
                for _, r in district[district["category"] == category].iterrows()
            }
            series[str(category)] = [by_period.get(p) for p in periods]
        title = f"{ind.label}: {district_de}, Zeitverlauf ({unit})"
        out.append(
            f"<figure>{line_chart([_short_period(p) for p in periods], series, unit=unit, title=title)}"
            f"<figcaption>{escape(title)}</figcaption></figure>"
        )
    # Gemeinde comparison for the month
    gemeinden = current[current["ags"] != kreis]
    for category in categories[:MAX_CATEGORY_CHARTS]:
        rows = gemeinden[gemeinden["category"] == category].sort_values("gemeinde")
        bars = [
            Bar(str(r["gemeinde"]), _rate(r), bool(r["rate_suppressed"]))
            for _, r in rows.iterrows()
        ]
        suffix = "" if category == "insgesamt" else f" – {category}"
        title = f"{ind.label}{suffix}: Gemeinden, {period_label(period)} ({unit})"
        out.append(
            f"<figure>{bar_chart(bars, unit=unit, title=title)}"
            f"<figcaption>{escape(title)}</figcaption></figure>"
            "<details><summary>Werte der Gemeinden</summary><table><tr><th>Gemeinde</th>"
            f"<th>Zähler</th><th>Nenner</th><th>Wert ({escape(unit)})</th></tr>"
        )
        for _, row in rows.iterrows():
            out.append(
                f"<tr><td>{escape(str(row['gemeinde']))}</td>"
                f'<td class="n">{_value(row, "numerator", "numerator_suppressed")}</td>'
                f'<td class="n">{_value(row, "denominator", "denominator_suppressed")}</td>'
                f'<td class="n">{_value(row, "rate", "rate_suppressed")}</td></tr>'
            )
        out.append("</table></details>")
    if len(categories) > MAX_CATEGORY_CHARTS:
        out.append(
            f'<p class="hint">Weitere {len(categories) - MAX_CATEGORY_CHARTS} Kategorien '
            f"(Gemeindevergleich) in der Analyse-Datenbank, Tabelle „{escape(ind.table)}“.</p>"
        )
    out.append("</article>")
    return "".join(out)


def write_report(
    published_db: Path,
    period: str,
    out_dir: Path,
    *,
    district_de: str,
    district_ags: str | None = None,
    k: int = 5,
    source_names: Mapping[str, str] | None = None,
) -> Path:
    """Write `bericht_<period>.html` into out_dir from the published database alone."""
    if not PERIOD_RE.match(period):
        raise ValueError(f"Berichtsmonat {period!r} hat nicht die Form JJJJ-MM")
    con = duckdb.connect(str(published_db), read_only=True)
    try:
        catalogue = _catalogue(con)
        by_section: dict[str, list[Indicator]] = {s: [] for s in [*SECTIONS, OTHER_SECTION]}
        for ind in catalogue:
            by_section[section_of(ind.field_of_action)].append(ind)
        title = f"Integrationsmonitoring {district_de} – Berichtsmonat {period_label(period)}"
        body = [
            f"<h1>{escape(title)}</h1>",
            f'<p class="hint">Erstellt am {de_date(date.today())} aus der veröffentlichten '
            "Analyse-Datenbank (nur aggregierte, geheimgehaltene Werte). "
            f"{de_int(len(catalogue))} Indikatoren.</p>",
            "<nav><ol>",
        ]
        sections = [s for s in by_section if s != OTHER_SECTION or by_section[s]]
        for n, section in enumerate(sections, 1):
            body.append(f'<li><a href="#hf{n}">{escape(section)}</a></li>')
        body.append("</ol></nav>")
        for n, section in enumerate(sections, 1):
            body.append(f'<section id="hf{n}"><h2>{escape(section)}</h2>')
            if not by_section[section]:
                body.append('<p class="hint">Für dieses Handlungsfeld liegen keine Werte vor.</p>')
            for ind in by_section[section]:
                body.append(
                    _indicator_html(
                        con,
                        ind,
                        period,
                        district_de=district_de,
                        district_ags=district_ags,
                        source_names=source_names or {},
                    )
                )
            body.append("</section>")
    finally:
        con.close()
    body.append(
        '<footer><h2>Hinweise</h2><p id="geheimhaltung"><strong>Geheimhaltung.</strong> '
        f"Fallzahlen von 1 bis {k - 1} werden nicht veröffentlicht (primäre Geheimhaltung). "
        "Damit sie sich nicht aus Summen über Gemeinden, Gruppen oder Kategorien errechnen "
        "lassen, werden weitere Werte gesperrt (sekundäre Geheimhaltung). Gesperrte Werte und "
        f"die Quoten, die auf ihnen beruhen, sind mit „{SUPPRESSED_MARK}“ gekennzeichnet "
        f"({SUPPRESSED_TITLE}); Nullen werden ausgewiesen.</p>"
        "<p><strong>Definitionen und Quellen</strong> stehen bei jedem Indikator; sie folgen dem "
        "Integrationsmonitoring der Länder. Kreiswerte sind die Summe der Gemeinden.</p>"
        "</footer>"
    )
    html = (
        '<!DOCTYPE html><html lang="de"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bericht_{period}.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path


def report_cli(
    period: Annotated[str, typer.Option("--period", "-p", help="Berichtsmonat JJJJ-MM")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Zielordner (Standard: <KIIM_HOME>/docs/report)"),
    ] = None,
) -> None:
    """Den Integrationsbericht (HTML) aus der veröffentlichten Analyse-Datenbank erstellen."""
    from kiim.config import load_agencies, load_organisation
    from kiim.workspace import Workspace

    if not PERIOD_RE.match(period):
        raise typer.BadParameter("Berichtsmonat in der Form JJJJ-MM angeben", param_hint="--period")
    ws = Workspace.from_env()
    if not ws.published_db.exists():
        typer.secho(
            f"Fehler: {ws.published_db} gibt es noch nicht: zuerst einen Monatslauf ausführen "
            "(kiim run)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    org = load_organisation(ws.config_dir)
    path = write_report(
        ws.published_db,
        period,
        out or ws.docs / "report",
        district_de=org.district_de,
        district_ags=org.district_ags,
        k=org.disclosure_k,
        source_names={a.agency: a.name_de for a in load_agencies(ws.config_dir)},
    )
    typer.echo(f"Bericht: {path}")
