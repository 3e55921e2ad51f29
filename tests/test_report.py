"""The German HTML report, rendered from a published DB that kiim.publish built from a small
hand-made warehouse (schema `marts` in the long layout plus a minimal dbt manifest)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kiim.fmt import de_int, de_num
from kiim.publish import publish
from kiim.report import SECTIONS, report_cli, write_report

DISTRICT = "12061000"
DISTRICT_DE = "Landkreis Dahme-Spreewald"
GEMEINDEN = {
    "12061005": "Bestensee",
    "12061020": "Eichwalde",
    "12061260": "Königs Wusterhausen",
    "12061316": "Lübben (Spreewald)",
    "12061433": "Schönefeld",
    "12061540": "Zeuthen",
}
PERIODS = ["2026-08", "2026-09", "2026-10"]
SEXES = ["männlich", "weiblich"]
# (table, field_of_action_de as in the dbt meta, categories, unit)
MARTS = [
    ("foreigner_share", "Bevölkerung", ["insgesamt"], "Prozent"),
    ("naturalisation_rate", "Aufenthalt und Einbürgerung", ["insgesamt"], "Prozent"),
    (
        "childcare_rate",
        "Frühkindliche Bildung und Sprache",
        ["unter 3", "3 bis unter 6"],
        "Prozent",
    ),
    ("school_leavers_without_qualification", "Schule und Bildung", ["insgesamt"], "Prozent"),
    ("sgb2_rate", "Arbeit und Grundsicherung", ["insgesamt"], "Prozent"),
    ("asylblg_accommodation", "Wohnen", ["Gemeinschaftsunterkunft"], "Prozent"),
    ("counselling_cases_per_1000", "Beratung", ["insgesamt"], "je 1000"),
    ("trajectory_b1_share", "Verläufe", ["2025-Q1 | 12 Monate"], "Prozent"),
]


def mart(seed: int, categories: list[str], per: int) -> pd.DataFrame:
    """Long layout with district and total rows; Bestensee is tiny (suppressed cells)."""
    rng = np.random.default_rng(seed)
    fine = []
    for period in PERIODS:
        for ags in GEMEINDEN:
            for sex in SEXES:
                for category in categories:
                    small = ags == "12061005"
                    den = int(rng.integers(2, 6) if small else rng.integers(200, 400))
                    num = int(rng.integers(1, 4) if small else rng.integers(20, den // 2))
                    fine.append((period, ags, sex, category, num, den))
    f = pd.DataFrame(fine, columns=["period", "ags", "sex", "category", "numerator", "denominator"])
    parts = [
        f.assign(dimension="geschlecht", dimension_value=f["sex"]),
        f.assign(dimension="insgesamt", dimension_value="insgesamt"),
    ]
    long = (
        pd.concat(parts)
        .groupby(["period", "ags", "dimension", "dimension_value", "category"], as_index=False)[
            ["numerator", "denominator"]
        ]
        .sum()
    )
    district = long.groupby(["period", "dimension", "dimension_value", "category"], as_index=False)[
        ["numerator", "denominator"]
    ].sum()
    long = pd.concat([long, district.assign(ags=DISTRICT)], ignore_index=True)
    long["gemeinde"] = long["ags"].map({**GEMEINDEN, DISTRICT: DISTRICT_DE})
    long["rate"] = (per * long["numerator"] / long["denominator"]).round(1)
    long["source_complete"] = True
    return long


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("report")
    warehouse = root / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    frames, nodes = {}, {}
    for seed, (table, field, categories, unit) in enumerate(MARTS):
        frame = mart(seed, categories, 1000 if unit == "je 1000" else 100)
        frames[table] = frame
        con.register("_frame", frame)
        con.execute(f"create table marts.{table} as select * from _frame")
        con.unregister("_frame")
        nodes[f"model.kiim.{table}"] = {
            "resource_type": "model",
            "name": table,
            "config": {
                "meta": {
                    "kiim": {
                        "indicator": table,
                        "label_de": f"Indikator {table}",
                        "field_of_action_de": field,
                        "definition_de": f"Definition von {table}.",
                        "numerator_de": "Zähler",
                        "denominator_de": "Nenner",
                        "unit": unit,
                        "sources": ["ewo", "abh"],
                    }
                }
            },
        }
    con.close()
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}), encoding="utf-8")
    db = root / "published.duckdb"
    publish(warehouse, db, k=5, district_ags=DISTRICT, manifest_path=manifest)
    return db, frames


@pytest.fixture(scope="module")
def html(
    published: tuple[Path, dict[str, pd.DataFrame]], tmp_path_factory: pytest.TempPathFactory
) -> str:
    path = write_report(
        published[0],
        "2026-10",
        tmp_path_factory.mktemp("out"),
        district_de=DISTRICT_DE,
        k=5,
        source_names={"ewo": "Einwohnermeldeamt", "abh": "Ausländerbehörde"},
    )
    assert path.name == "bericht_2026-10.html"
    return path.read_text(encoding="utf-8")


def test_title_and_every_field_of_action(html: str) -> None:
    assert "Integrationsmonitoring Landkreis Dahme-Spreewald – Berichtsmonat Oktober 2026" in html
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert [h for h in headings if h != "Hinweise"] == list(SECTIONS)
    # every indicator sits in its section (the dbt meta names are mapped)
    assert html.index("Indikator childcare_rate") > html.index("<h2>Kita und Sprache</h2>")
    assert html.index("Indikator school_leavers") > html.index("<h2>Bildung</h2>")
    assert "Einwohnermeldeamt, Ausländerbehörde" in html


def test_german_number_formats(html: str, published: tuple[Path, dict[str, pd.DataFrame]]) -> None:
    frame = published[1]["foreigner_share"]
    row = frame[
        (frame["period"] == "2026-10")
        & (frame["ags"] == DISTRICT)
        & (frame["dimension"] == "insgesamt")
    ].iloc[0]
    assert row["denominator"] >= 1000  # thousands separator is exercised
    assert f">{de_int(int(row['denominator']))}<" in html
    assert re.search(r">\d{1,3}\.\d{3}<", html)
    assert f">{de_num(float(row['rate']))}<" in html
    assert not re.search(r">\d+\.\d<", html)  # no English decimals as cell values
    assert "10/26" in html  # month axis of the time series


def test_charts_are_inline_and_self_contained(html: str) -> None:
    assert html.count("<svg") >= 2 * len(MARTS)
    assert "<polyline" in html  # time series over three months
    lowered = html.lower()
    for bad in ("<script", "http://", "https://", "src=", "@import", "url(", "<link"):
        assert bad not in lowered, bad


def test_suppressed_cells_are_shown_as_such(html: str) -> None:
    # tiny Bestensee: its rates are withheld and shown with the mark, never as a number
    assert "• geheimgehalten" in html
    assert 'title="geheimgehalten">•</span>' in html
    assert "Fallzahlen von 1 bis 4" in html


def test_only_published_values_appear(
    html: str, published: tuple[Path, dict[str, pd.DataFrame]]
) -> None:
    """A small raw count (1..4) of Bestensee never shows up as a table cell."""
    for frame in published[1].values():
        tiny = frame[(frame["ags"] == "12061005") & (frame["period"] == "2026-10")]
        assert (tiny["numerator"] < 5).any()
    cells = re.findall(r'<td class="n">(\d+)</td>', html)
    assert not [c for c in cells if 1 <= int(c) < 5]


def test_report_cli_writes_default_path(
    published: tuple[Path, dict[str, pd.DataFrame]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import typer

    from kiim.workspace import Workspace

    monkeypatch.setenv("KIIM_HOME", str(tmp_path))
    ws = Workspace.from_env()
    ws.published_db.parent.mkdir(parents=True)
    shutil.copy(published[0], ws.published_db)
    app = typer.Typer()
    app.command("report")(report_cli)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["report", "--period", "2026-10"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "docs" / "report" / "bericht_2026-10.html").exists()
    bad = CliRunner().invoke(app, ["report", "--period", "10/2026"])
    assert bad.exit_code != 0
