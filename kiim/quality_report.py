"""Quality report for the data officer: one German page per run plus one page per agency.

kiim renders its own pages instead of GX Data Docs for two reasons: Data Docs load Bootstrap,
jQuery and Vega from CDNs and render unstyled on the offline machines, and they show the
offending values, which may be personal data. These pages are self-contained (inline CSS, no
external resource) and show only file names, row numbers, column names and counts.

Problems from ingestion (encoding, header, types) and from validation are rendered alike; a
problem given both in `problems_by_agency` and in an outcome is shown once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from kiim.problems import Problem, Severity
from kiim.register_vocab import format_date_de, format_number_de

if TYPE_CHECKING:
    from kiim.validate import ValidationOutcome

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
KIND_DE = {
    "required_columns": "Spaltenvertrag",
    "types": "Datentyp",
    "codes": "Codeliste",
    "unique": "Eindeutigkeit",
    "not_null": "Pflichtangabe",
    "ranges": "Wertebereich",
    "dates": "Datum bis Monatsende",
    "date_order": "Reihenfolge von Daten",
    "null_rate": "Füllgrad",
    "row_count": "Zeilenzahl",
}
SEVERITY_DE = {"critical": "kritisch", "warning": "Hinweis"}
STATUS_REJECTED = "abgelehnt"
STATUS_ACCEPTED = "angenommen"
STATUS_NO_RESULT = "ohne Prüfergebnis"
MAX_ROWS_SHOWN = 10

FOOTER_DE = (
    "Dieser Bericht enthält keine Werte aus den Lieferungen, nur Dateinamen, Zeilennummern, "
    "Spaltennamen und Anzahlen. Die Prüfungen laufen mit Great Expectations auf den bereits "
    "pseudonymisierten Daten. Die „Data Docs“ von Great Expectations werden bewusst nicht "
    "verwendet: Sie laden Stylesheets und Skripte aus dem Internet (CDN), erscheinen auf den "
    "Rechnern ohne Internetzugang ungestaltet und zeigen beanstandete Werte an. Diese Seiten "
    "erzeugt kiim selbst aus den bereinigten Prüfergebnissen."
)


@dataclass(frozen=True)
class QualityReportPaths:
    html: Path  # one-page summary
    markdown: Path  # the same summary as Markdown
    agency_pages: dict[str, Path]  # agency -> page with every check and its result


@dataclass(frozen=True)
class _AgencyView:
    agency: str
    name: str
    files: tuple[str, ...]
    status: str
    problems: tuple[Problem, ...]
    outcome: ValidationOutcome | None
    page: str

    @property
    def status_class(self) -> str:
        """CSS class of the status (a single word)."""
        return {STATUS_REJECTED: "abgelehnt", STATUS_ACCEPTED: "angenommen"}.get(
            self.status, "offen"
        )

    @property
    def critical(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.critical]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is not Severity.critical]

    @property
    def requests_de(self) -> list[str]:
        """What to ask the agency for: the distinct fixes of critical problems, in order."""
        return list(dict.fromkeys(p.fix_de for p in self.critical))


# ---------------------------------------------------------------------------------- formats


def period_de(period: str) -> str:
    """`2026-10` -> `Oktober 2026`."""
    year, month = period.split("-")
    return f"{MONTHS_DE[int(month) - 1]} {year}"


def rows_de(problem: Problem) -> str:
    """`2, 5, 9 … (insgesamt 1.234 Zeilen)`; empty when the problem has no rows."""
    if not problem.rows:
        return ""
    shown = ", ".join(str(r) for r in problem.rows[:MAX_ROWS_SHOWN])
    total = problem.row_count or len(problem.rows)
    if total > min(len(problem.rows), MAX_ROWS_SHOWN):
        return f"{shown} … (insgesamt {format_number_de(total)} Zeilen)"
    return shown


def location_de(problem: Problem) -> str:
    parts = [f"Datei {problem.file}"]
    rows = rows_de(problem)
    if rows:
        parts.append(f"Zeile {rows}")
    if problem.column:
        parts.append(f"Spalte {problem.column}")
    return ", ".join(parts)


def _result_rows_de(entry: Mapping[str, Any]) -> str:
    rows = entry.get("rows") or []
    total = entry.get("row_count") or 0
    if not total:
        return ""
    text = format_number_de(total)
    if rows:
        shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
        text += f" (Zeile {shown}{' …' if total > len(rows[:MAX_ROWS_SHOWN]) else ''})"
    return text


def _observed_de(entry: Mapping[str, Any]) -> str:
    value = entry.get("observed_value")
    kind = (entry.get("meta") or {}).get("kind")
    if entry.get("wrong_type"):
        return "falscher Typ: " + ", ".join(entry["wrong_type"])
    mismatched = entry.get("mismatched") or {}
    if mismatched.get("missing") or mismatched.get("unexpected"):
        parts = []
        if mismatched.get("missing"):
            parts.append("fehlend: " + ", ".join(mismatched["missing"]))
        if mismatched.get("unexpected"):
            parts.append("zusätzlich: " + ", ".join(mismatched["unexpected"]))
        return "; ".join(parts)
    if value is None or isinstance(value, list):
        return ""
    if kind == "null_rate" and isinstance(value, int | float):
        return f"{format_number_de(value * 100, 1)} % gefüllt"
    if isinstance(value, int):
        return format_number_de(value)
    if isinstance(value, float):
        return format_number_de(value, 2)
    return str(value)


# ---------------------------------------------------------------------------------- building


def _dedupe(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    unique = list(dict.fromkeys(problems))
    unique.sort(key=lambda p: p.severity is not Severity.critical)  # stable: critical first
    return tuple(unique)


def _views(
    problems_by_agency: Mapping[str, list[Problem]],
    outcomes: Mapping[str, ValidationOutcome],
    agency_names: Mapping[str, str],
) -> list[_AgencyView]:
    views = []
    for agency in sorted(set(problems_by_agency) | set(outcomes)):
        outcome = outcomes.get(agency)
        problems = _dedupe(
            [*problems_by_agency.get(agency, []), *(outcome.problems if outcome else [])]
        )
        files = [p.file for p in problems] + ([outcome.file] if outcome else [])
        if any(p.severity is Severity.critical for p in problems) or (
            outcome is not None and not outcome.accepted
        ):
            status = STATUS_REJECTED
        elif outcome is not None:
            status = STATUS_ACCEPTED
        else:
            status = STATUS_NO_RESULT
        views.append(
            _AgencyView(
                agency=agency,
                name=agency_names.get(agency, agency),
                files=tuple(dict.fromkeys(f for f in files if f)),
                status=status,
                problems=problems,
                outcome=outcome,
                page=f"pruefungen_{agency}.html",
            )
        )
    return views


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["de_num"] = format_number_de
    env.filters["de_date"] = format_date_de
    env.filters["location"] = location_de
    env.filters["rows_de"] = rows_de
    env.filters["result_rows"] = _result_rows_de
    env.filters["observed"] = _observed_de
    env.globals.update(SEVERITY_DE=SEVERITY_DE, KIND_DE=KIND_DE, FOOTER_DE=FOOTER_DE)
    return env


def _write(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_quality_report(
    period: str,
    problems_by_agency: Mapping[str, list[Problem]],
    outcomes: Mapping[str, ValidationOutcome],
    out_dir: Path,
    *,
    agency_names: Mapping[str, str] | None = None,
    created: datetime | None = None,
) -> QualityReportPaths:
    """Write `qualitaetsbericht.html`, `qualitaetsbericht.md` and `pruefungen_<agency>.html`.

    `problems_by_agency` may hold ingest and validation problems; `outcomes` adds the result of
    every expectation for the agencies that reached validation (may be empty).
    `agency_names` maps agency ids to German names for the headings.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    views = _views(problems_by_agency, outcomes, agency_names or {})
    context = {
        "period": period,
        "period_de": period_de(period),
        "created_de": format_date_de(created or datetime.now(UTC)),
        "views": views,
        "rejected": [v for v in views if v.status == STATUS_REJECTED],
        "STATUS_REJECTED": STATUS_REJECTED,
        "STATUS_ACCEPTED": STATUS_ACCEPTED,
    }
    env = _environment()
    html = out_dir / "qualitaetsbericht.html"
    markdown = out_dir / "qualitaetsbericht.md"
    _write(html, env.from_string(SUMMARY_HTML).render(context))
    _write(markdown, env.from_string(SUMMARY_MD).render(context))
    pages = {}
    page_template = env.from_string(AGENCY_HTML)
    for view in views:
        path = out_dir / view.page
        _write(path, page_template.render({**context, "v": view}))
        pages[view.agency] = path
    return QualityReportPaths(html=html, markdown=markdown, agency_pages=pages)


# --------------------------------------------------------------------------------- templates

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:70rem;padding:0 1rem;color:#1d1d1d;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #ccc}h3{font-size:1.05rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;white-space:nowrap}
.abgelehnt{color:#a40000;font-weight:bold}.angenommen{color:#1a6b1a;font-weight:bold}
.kritisch{color:#a40000;font-weight:bold}.Hinweis{color:#8a5a00}
.ok{color:#1a6b1a}.fail{color:#a40000;font-weight:bold}
.meta{color:#555}footer{margin-top:3rem;font-size:.85rem;color:#555;border-top:1px solid #ccc;
padding-top:.5rem}
@media print{body{margin:0;max-width:none}a{color:inherit;text-decoration:none}}
"""

SUMMARY_HTML = (
    """<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Qualitätsbericht der Lieferungen – {{ period_de }}</title>
<style>"""
    + CSS
    + """</style>
</head>
<body>
<h1>Qualitätsbericht der Lieferungen – {{ period_de }}</h1>
<p class="meta">Berichtsmonat {{ period }} · erstellt am {{ created_de }}</p>
<p>{{ views|length }} Stelle(n): {{ (views|length) - (rejected|length) }} ohne Ablehnung,
{{ rejected|length }} abgelehnt.
{% if rejected %}Abgelehnte Lieferungen werden nicht verarbeitet; bitte die unten genannten
Korrekturen bei der Stelle anfordern und den Monat danach erneut starten.{% endif %}</p>
<h2>Übersicht</h2>
<table>
<thead><tr><th>Stelle</th><th>Datei</th><th>Ergebnis</th><th>Datensätze</th>
<th>Prüfungen erfüllt</th><th>kritisch</th><th>Hinweise</th><th>Einzelheiten</th></tr></thead>
<tbody>
{% for v in views %}
<tr><td>{{ v.name }}</td><td>{{ v.files|join(", ") or "–" }}</td>
<td class="{{ v.status_class }}">{{ v.status }}</td>
<td class="num">{{ v.outcome.rows|de_num if v.outcome else "–" }}</td>
<td class="num">{% if v.outcome %}{{ v.outcome.statistics.successful|de_num }} von {{ v.outcome.statistics.evaluated|de_num }}{% else %}–{% endif %}</td>
<td class="num">{{ v.critical|length|de_num }}</td><td class="num">{{ v.warnings|length|de_num }}</td>
<td><a href="{{ v.page }}">Prüfungen</a></td></tr>
{% endfor %}
</tbody>
</table>
{% for v in views if v.problems %}
<h2 id="{{ v.agency }}">{{ v.name }}: <span class="{{ v.status_class }}">{{ v.status }}</span></h2>
{% if v.requests_de %}
<h3>Bei der Stelle anzufordern</h3>
<ul>{% for r in v.requests_de %}<li>{{ r }}</li>{% endfor %}</ul>
{% endif %}
<h3>Befunde</h3>
<table>
<thead><tr><th>Schwere</th><th>Wo</th><th>Was ist aufgefallen</th><th>Was ist zu tun</th></tr></thead>
<tbody>
{% for p in v.problems %}
<tr><td class="{{ SEVERITY_DE[p.severity.value] }}">{{ SEVERITY_DE[p.severity.value] }}</td>
<td>{{ p|location }}</td><td>{{ p.message_de }}</td><td>{{ p.fix_de }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endfor %}
{% if not views %}<p>Für diesen Monat liegen keine Lieferungen vor.</p>{% endif %}
<footer>{{ FOOTER_DE }} Zeilennummern zählen wie in einer Tabellenkalkulation
(Kopfzeile = Zeile 1).</footer>
</body>
</html>
"""
)

SUMMARY_MD = """# Qualitätsbericht der Lieferungen – {{ period_de }}

Berichtsmonat {{ period }} · erstellt am {{ created_de }}

{{ views|length }} Stelle(n): {{ (views|length) - (rejected|length) }} ohne Ablehnung, {{ rejected|length }} abgelehnt.

| Stelle | Datei | Ergebnis | Datensätze | Prüfungen erfüllt | kritisch | Hinweise |
|---|---|---|---:|---:|---:|---:|
{% for v in views %}
| {{ v.name }} | {{ v.files|join(", ") or "–" }} | {{ v.status }} | {{ v.outcome.rows|de_num if v.outcome else "–" }} | {% if v.outcome %}{{ v.outcome.statistics.successful|de_num }} von {{ v.outcome.statistics.evaluated|de_num }}{% else %}–{% endif %} | {{ v.critical|length|de_num }} | {{ v.warnings|length|de_num }} |
{% endfor %}
{% for v in views if v.problems %}

## {{ v.name }}: {{ v.status }}
{% if v.requests_de %}

Bei der Stelle anzufordern:
{% for r in v.requests_de %}
- {{ r }}
{% endfor %}
{% endif %}

Befunde:
{% for p in v.problems %}
- **{{ SEVERITY_DE[p.severity.value] }}** – {{ p|location }}: {{ p.message_de }} – {{ p.fix_de }}
{% endfor %}
{% endfor %}

---
{{ FOOTER_DE }} Zeilennummern zählen wie in einer Tabellenkalkulation (Kopfzeile = Zeile 1).
"""

AGENCY_HTML = (
    """<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Prüfungen {{ v.name }} – {{ period_de }}</title>
<style>"""
    + CSS
    + """</style>
</head>
<body>
<p><a href="qualitaetsbericht.html">← Qualitätsbericht {{ period_de }}</a></p>
<h1>Prüfungen {{ v.name }} – {{ period_de }}</h1>
<p class="meta">Datei {{ v.files|join(", ") or "–" }} · Ergebnis
<span class="{{ v.status_class }}">{{ v.status }}</span> · erstellt am {{ created_de }}</p>
{% if v.outcome %}
{% set r = v.outcome.result %}
<p>{{ v.outcome.rows|de_num }} Datensätze{% if r.previous_rows %} (Vormonat {{ r.previous_rows|de_num }}){% endif %};
{{ v.outcome.statistics.successful|de_num }} von {{ v.outcome.statistics.evaluated|de_num }} Prüfungen erfüllt,
{{ v.outcome.statistics.critical_failures|de_num }} kritisch, {{ v.outcome.statistics.warnings|de_num }} Hinweise.</p>
{% endif %}
{% if v.problems %}
<h2>Befunde</h2>
<table>
<thead><tr><th>Schwere</th><th>Wo</th><th>Was ist aufgefallen</th><th>Was ist zu tun</th></tr></thead>
<tbody>
{% for p in v.problems %}
<tr><td class="{{ SEVERITY_DE[p.severity.value] }}">{{ SEVERITY_DE[p.severity.value] }}</td>
<td>{{ p|location }}</td><td>{{ p.message_de }}</td><td>{{ p.fix_de }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
<h2>Alle Prüfungen</h2>
{% if v.outcome %}
<table>
<thead><tr><th>Nr.</th><th>Prüfung</th><th>Art</th><th>Spalte</th><th>Schwere</th>
<th>Ergebnis</th><th>Betroffene Zeilen</th><th>Beobachtet</th></tr></thead>
<tbody>
{% for e in v.outcome.result.results %}
<tr><td class="num">{{ loop.index }}</td>
<td>{{ e.meta.get("description_de") or e.type }}</td>
<td>{{ KIND_DE.get(e.meta.get("kind"), e.meta.get("kind") or e.type) }}</td>
<td>{{ e.meta.get("source_column") or e.kwargs.get("column") or e.kwargs.get("column_A") or "" }}</td>
<td class="{{ SEVERITY_DE.get(e.severity, e.severity) }}">{{ SEVERITY_DE.get(e.severity, e.severity) }}</td>
{% if e.raised_exception %}<td class="fail">nicht ausführbar</td>
{% elif e.success %}<td class="ok">erfüllt</td>
{% else %}<td class="fail">nicht erfüllt</td>{% endif %}
<td class="num">{{ e|result_rows }}</td><td>{{ e|observed }}</td></tr>
{% endfor %}
</tbody>
</table>
<p class="meta">Parameter: Berichtsjahr {{ v.outcome.result.parameters.period_year }},
Monatsende {{ v.outcome.result.parameters.period_end|de_date }}, Zeilenzahl mindestens
{{ v.outcome.result.parameters.row_count_min|de_num -}}
{% if v.outcome.result.parameters.row_count_max is not none %} und höchstens {{ v.outcome.result.parameters.row_count_max|de_num }}{% endif %}.</p>
{% else %}
<p>Keine Prüfergebnisse: Die Lieferung wurde vor der Prüfung abgelehnt, nicht geliefert oder
die Ergebnisse wurden dem Bericht nicht übergeben.</p>
{% endif %}
<footer>{{ FOOTER_DE }} Zeilennummern zählen wie in einer Tabellenkalkulation
(Kopfzeile = Zeile 1).</footer>
</body>
</html>
"""
)
