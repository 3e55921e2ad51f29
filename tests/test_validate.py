"""Quality gates: generated GX suites, validation of pseudonymised frames, the quality report.

Frames are built in the zone contract with pyarrow and converted with `to_pandas()`, exactly as
the pipeline hands them over (dates as Python dates, integers with nulls as float64). One GX
context is shared by the module: importing GX alone takes ~10 s.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from kiim.catalogues import catalogue_codes
from kiim.config import Agency, ConfigError, Validation, load_agencies
from kiim.problems import Problem, Severity
from kiim.quality_report import write_quality_report
from kiim.schema import pseudonymised_schema
from kiim.suites import (
    build_suite_dict,
    check_suites_current,
    frame_columns,
    load_suite_dict,
    render_suite,
    write_suites,
)
from kiim.validate import (
    ExtractValidator,
    ValidationOutcome,
    period_bounds,
    row_count_bounds,
    validate_extract,
)
from kiim.workspace import REPO_ROOT

PERIOD = "2026-10"
EXPECTATIONS = REPO_ROOT / "expectations"
AGENCIES = {a.agency: a for a in load_agencies(REPO_ROOT / "config")}
FIRST_ROW = 2  # `_source_row` counts like a spreadsheet: header = line 1


def contract_frame(agency: Agency, n: int) -> pd.DataFrame:
    """A valid pseudonymised frame of `n` rows, converted as the pipeline converts it."""
    schema = pseudonymised_schema(agency)
    by_column = {fc: c for c in agency.columns for fc in frame_columns(c)}
    cols: dict[str, pa.Array] = {}
    for f in schema:
        col = by_column.get(f.name)
        if f.name == "period":
            values: list = [PERIOD] * n
        elif f.name == "record_key":
            values = [f"rk{i:06d}feedface" for i in range(n)]
        elif f.name.startswith("lk_"):
            values = [f"{f.name}{i:06d}cafe" for i in range(n)]
        elif f.name == "clk":
            values = [bytes([i % 256]) * 16 for i in range(n)]
        elif f.name.endswith("_year"):
            values = [1950 + i % 60 for i in range(n)]
        elif f.name.endswith("_month"):
            values = [1 + i % 12 for i in range(n)]
        elif col is not None and col.catalogue:
            codes = sorted(catalogue_codes(col.catalogue))
            values = [codes[i % len(codes)] for i in range(n)]
        elif col is not None and col.codes:
            values = [col.codes[i % len(col.codes)] for i in range(n)]
        elif col is not None and col.type == "date":
            later = col.field.endswith("_end_date") or col.field == "move_out_date"
            values = [
                date(2021, 1, 1) + timedelta(days=i % 900 + (90 if later else 0)) for i in range(n)
            ]
        elif col is not None and col.type == "boolean":
            values = [i % 3 == 0 for i in range(n)]
        elif col is not None and col.type == "integer":
            values = [1 + i % 10 for i in range(n)]
        else:
            values = [f"Notiz {i}" for i in range(n)]
        cols[f.name] = pa.array(values, f.type)
    table = pa.table(cols, schema=schema)
    table = table.append_column(
        "_source_row", pa.array(range(FIRST_ROW, FIRST_ROW + n), pa.int64())
    )
    return table.to_pandas()


def row_of(position: int) -> int:
    return FIRST_ROW + position


@pytest.fixture(scope="module")
def validator() -> ExtractValidator:
    return ExtractValidator(EXPECTATIONS)


# ------------------------------------------------------------------------------------ suites


def test_committed_suites_equal_a_fresh_generation() -> None:
    assert check_suites_current(AGENCIES.values(), EXPECTATIONS) == {}
    for agency in AGENCIES.values():
        assert (EXPECTATIONS / f"{agency.agency}.json").exists()


def test_suite_follows_config_and_policy() -> None:
    suite = build_suite_dict(AGENCIES["integrationskurs"])
    by_id = {e["meta"]["check_id"]: e for e in suite["expectations"]}
    assert by_id["unique:record_key"]["meta"]["severity"] == "critical"
    assert by_id["not_null:nationality"]["type"] == "expect_column_values_to_not_be_null"
    assert by_id["codes:sex"]["kwargs"]["value_set"] == ["m", "w", "d", "x"]
    assert by_id["codes:ags"]["kwargs"]["value_set"] == sorted(catalogue_codes("ags"))
    assert by_id["ranges:birth_year"]["kwargs"]["max_value"] == {"$PARAMETER": "period_year"}
    assert by_id["dates:course_start_date"]["kwargs"]["max_value"] == {"$PARAMETER": "period_end"}
    assert "dates:course_end_date" not in by_id  # a running course's end lies ahead
    pair = by_id["date_order:course_end_date>=course_start_date"]
    assert pair["kwargs"]["column_A"] == "course_end_date"
    assert by_id["null_rate:dtz_result"]["meta"]["severity"] == "warning"
    assert not any(e["kwargs"].get("column") == "note" for e in suite["expectations"])
    for e in suite["expectations"]:
        assert set(e["meta"]) >= {"severity", "description_de", "fix_de", "kind", "check_id"}
        assert e["severity"] == e["meta"]["severity"]
    assert "date_order:move_out_date>=move_in_date" in {
        e["meta"]["check_id"] for e in build_suite_dict(AGENCIES["ewo"])["expectations"]
    }


def test_unknown_critical_kind_is_a_config_error() -> None:
    agency = AGENCIES["ewo"].model_copy(update={"validation": Validation(critical=["codez"])})
    with pytest.raises(ConfigError, match="codez"):
        build_suite_dict(agency)


def test_drift_is_detected_and_hand_refinements_survive(tmp_path: Path) -> None:
    kita = AGENCIES["kita"]
    write_suites([kita], tmp_path)
    assert check_suites_current([kita], tmp_path) == {}
    assert check_suites_current([AGENCIES["ewo"]], tmp_path) == {"ewo": "ewo.json fehlt"}

    stricter = kita.model_copy(update={"validation": Validation(max_row_change=0.2)})
    assert "kita" in check_suites_current([stricter], tmp_path)

    data = load_suite_dict(tmp_path, "kita")
    hand = {
        "type": "expect_column_proportion_of_non_null_values_to_be_between",
        "kwargs": {"column": "language_support_need", "min_value": 0.9},
        "meta": {
            "check_id": "null_rate:language_support_need",
            "origin": "hand",
            "severity": "warning",
            "description_de": "Sprachförderbedarf ist in mindestens 90 % der Zeilen gefüllt.",
            "fix_de": "Beim Jugendamt nachfragen.",
        },
        "severity": "warning",
    }
    extra = {**hand, "meta": {**hand["meta"], "check_id": "hand:extra"}}
    data["expectations"] += [hand, extra]
    (tmp_path / "kita.json").write_text(render_suite(data), encoding="utf-8")
    write_suites([kita], tmp_path)  # regenerate: the hand ones must win and stay
    again = load_suite_dict(tmp_path, "kita")["expectations"]
    ids = [e["meta"]["check_id"] for e in again]
    assert ids.count("null_rate:language_support_need") == 1
    assert hand in again and extra in again
    assert check_suites_current([kita], tmp_path) == {}


def test_period_and_row_count_bounds() -> None:
    assert period_bounds("2026-02") == (2026, date(2026, 2, 28))
    assert period_bounds("2024-12") == (2024, date(2024, 12, 31))
    with pytest.raises(ValueError):
        period_bounds("2026-13")
    assert row_count_bounds(None, 0.5) == (1, None)
    assert row_count_bounds(100, 0.5) == (50, 150)
    assert row_count_bounds(3, 0.5) == (2, 4)


# ---------------------------------------------------------------------------------- validate


def test_good_frames_pass_for_every_agency(validator: ExtractValidator) -> None:
    for agency in AGENCIES.values():
        df = contract_frame(agency, 60)
        outcome = validator.validate(df, agency, PERIOD, file_name=f"in/{agency.agency}.csv")
        assert outcome.accepted, (agency.agency, [str(p) for p in outcome.problems])
        assert outcome.problems == []
        suite = load_suite_dict(EXPECTATIONS, agency.agency)
        assert outcome.statistics.evaluated == len(suite["expectations"]) + 1  # + Arrow types
        assert outcome.statistics.successful == outcome.statistics.evaluated
        assert outcome.file == f"{agency.agency}.csv"


@pytest.fixture(scope="module")
def broken(validator: ExtractValidator) -> tuple[pd.DataFrame, ValidationOutcome]:
    """One integration-course extract with one failure of each kind, on distinct rows."""
    agency = AGENCIES["integrationskurs"]
    df = contract_frame(agency, 1200)
    df.loc[3, "sex"] = "q"
    df.loc[5, "ags"] = "99999999"
    df.loc[7, "nationality"] = None
    df.loc[9, "record_key"] = df.loc[10, "record_key"]
    df.loc[11, "birth_year"] = 2031
    df.loc[13, "course_end_date"] = date(2020, 1, 1)
    df.loc[15, "course_start_date"] = date(2026, 11, 2)
    outcome = validator.validate(df, agency, PERIOD, file_name="integrationskurs_2026-10.xlsx")
    return df, outcome


def _only(outcome: ValidationOutcome, check: str, column: str | None) -> Problem:
    found = [p for p in outcome.problems if p.check == check and p.column == column]
    assert len(found) == 1, [str(p) for p in outcome.problems]
    return found[0]


@pytest.mark.parametrize(
    ("check", "column", "positions", "severity"),
    [
        ("expect_column_values_to_be_in_set", "Geschlecht", [3], Severity.critical),
        ("expect_column_values_to_be_in_set", "Gemeindeschluessel", [5], Severity.critical),
        ("expect_column_values_to_not_be_null", "Staatsangehoerigkeit", [7], Severity.critical),
        ("expect_column_values_to_be_unique", "Teilnehmernummer", [9, 10], Severity.critical),
        ("expect_column_values_to_be_between", "Geburtsdatum", [11], Severity.warning),
        (
            "expect_column_pair_values_a_to_be_greater_than_b",
            "Kursende",
            [13, 15],
            Severity.warning,
        ),
        ("expect_column_values_to_be_between", "Kursbeginn", [15], Severity.warning),
    ],
)
def test_each_failure_is_found_with_column_rows_and_severity(
    broken: tuple[pd.DataFrame, ValidationOutcome],
    check: str,
    column: str,
    positions: list[int],
    severity: Severity,
) -> None:
    _, outcome = broken
    problem = _only(outcome, check, column)
    assert problem.rows == tuple(row_of(p) for p in positions)
    assert problem.row_count == len(positions)
    assert problem.severity is severity
    assert problem.file == "integrationskurs_2026-10.xlsx"
    assert problem.message_de and problem.fix_de


def test_broken_extract_is_rejected_and_counted(
    broken: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    _, outcome = broken
    assert not outcome.accepted
    assert outcome.statistics.critical_failures == 4
    assert outcome.statistics.warnings == 3
    assert outcome.statistics.unsuccessful == 7
    assert ValidationOutcome.from_dict(json.loads(json.dumps(outcome.to_dict()))) == outcome


def test_result_keeps_rows_and_counts_but_no_values(
    broken: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    _, outcome = broken
    text = json.dumps(outcome.to_dict(), ensure_ascii=False)
    for banned in (
        "unexpected_list",
        "partial_unexpected",
        "unexpected_index_list",
        "unexpected_index_query",
        "exception_message",
        "exception_traceback",
    ):
        assert banned not in text
    for value in ("99999999", "feedface", "cafe", "2031", "2020-01-01", "2026-11-02"):
        assert value not in text
    entry = next(e for e in outcome.result["results"] if e["meta"]["check_id"] == "codes:sex")
    assert entry["rows"] == [row_of(3)] and entry["row_count"] == 1 and not entry["success"]


def test_row_count_change_and_datetime_columns(validator: ExtractValidator) -> None:
    agency = AGENCIES["ewo"]
    df = contract_frame(agency, 40)
    df["move_in_date"] = pd.to_datetime(df["move_in_date"])  # datetime64 must work as well
    df["move_out_date"] = pd.to_datetime(df["move_out_date"])
    df.loc[4, "move_out_date"] = pd.Timestamp("2030-01-01")
    outcome = validate_extract(
        df,
        agency,
        PERIOD,
        file_name="ewo.csv",
        expectations_dir=EXPECTATIONS,
        previous_rows=100,
        validator=validator,
    )
    assert outcome.accepted  # row count and dates only warn by default
    row_count = _only(outcome, "expect_table_row_count_to_be_between", None)
    assert row_count.severity is Severity.warning and "100" in row_count.message_de
    dates = _only(outcome, "expect_column_values_to_be_between", "Wegzugsdatum")
    assert dates.rows == (row_of(4),)
    assert df["move_in_date"].dtype.kind == "M"  # the caller's frame is left as it was

    within = validator.validate(df.head(30), agency, PERIOD, file_name="ewo.csv", previous_rows=40)
    assert not [p for p in within.problems if p.check == "expect_table_row_count_to_be_between"]


def test_policy_from_config_makes_ranges_critical(tmp_path: Path) -> None:
    base = AGENCIES["jobcenter"]
    strict = base.model_copy(
        update={"validation": Validation(critical=[*base.validation.critical, "ranges"])}
    )
    write_suites([strict], tmp_path)
    df = contract_frame(strict, 20)
    df.loc[2, "birth_year"] = 2099
    outcome = validate_extract(
        df, strict, PERIOD, file_name="jobcenter.csv", expectations_dir=tmp_path
    )
    problem = _only(outcome, "expect_column_values_to_be_between", "Geburtsdatum")
    assert problem.severity is Severity.critical and not outcome.accepted
    assert problem.rows == (row_of(2),)


def test_wrong_types_are_found_without_quoting_values(validator: ExtractValidator) -> None:
    agency = AGENCIES["schulamt"]
    df = contract_frame(agency, 30)
    df["grade"] = df["grade"].astype(object)
    df.loc[1, "grade"] = "zehnte"
    df["birth_month"] = df["birth_month"].astype(object)
    df.loc[2, "birth_month"] = "Mai"  # GX cannot even compare it: the check is not runnable
    outcome = validator.validate(df, agency, PERIOD, file_name="schulamt.csv")
    assert not outcome.accepted
    types = [p for p in outcome.problems if p.check == "contract_types"]
    assert {p.column for p in types} == {"Jahrgangsstufe", "Geburtsdatum"}
    assert all(p.severity is Severity.critical for p in types)
    month = next(
        e for e in outcome.result["results"] if e["meta"]["check_id"] == "ranges:birth_month"
    )
    assert month["raised_exception"] and not month["success"]
    text = json.dumps(outcome.to_dict(), ensure_ascii=False)
    assert "zehnte" not in text and "Mai" not in text


def test_frame_without_source_row_is_refused(validator: ExtractValidator) -> None:
    df = contract_frame(AGENCIES["kita"], 5).drop(columns="_source_row")
    with pytest.raises(ValueError, match="_source_row"):
        validator.validate(df, AGENCIES["kita"], PERIOD, file_name="kita.csv")


# ------------------------------------------------------------------------------------ report


def test_quality_report_is_german_self_contained_and_value_free(
    broken: tuple[pd.DataFrame, ValidationOutcome], tmp_path: Path
) -> None:
    df, outcome = broken
    ingest = Problem(
        agency="beratung",
        file="beratung_2026-10.csv",
        check="encoding",
        message_de="Die Datei ist nicht in Windows-1252 kodiert (Zeile 17).",
        fix_de="Export in Windows-1252 anfordern.",
        rows=(17,),
        row_count=1,
    )
    paths = write_quality_report(
        PERIOD,
        {"integrationskurs": list(outcome.problems), "beratung": [ingest]},
        {"integrationskurs": outcome},
        tmp_path,
        agency_names={
            "integrationskurs": "Integrationskursträger",
            "beratung": "Migrationsberatung",
        },
    )
    html = paths.html.read_text(encoding="utf-8")
    page = paths.agency_pages["integrationskurs"].read_text(encoding="utf-8")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "Qualitätsbericht der Lieferungen – Oktober 2026" in html
    assert "abgelehnt" in html and "Bei der Stelle anzufordern" in html
    assert "integrationskurs_2026-10.xlsx" in html and "Spalte Geschlecht" in html
    assert "Zeile 11, 12" in html  # the duplicate record_key rows
    assert "beratung_2026-10.csv" in html and "Windows-1252" in html
    assert "1.200" in page  # German thousands separator
    assert re.search(r"erstellt am \d{2}\.\d{2}\.\d{4}", html)
    assert "31.10.2026" in page
    assert page.count('<tr><td class="num">') == outcome.statistics.evaluated
    assert "## Integrationskursträger: abgelehnt" in markdown
    keys = set(df["record_key"]) | {v for c in df.columns if c.startswith("lk_") for v in df[c]}
    for path in [paths.html, paths.markdown, *paths.agency_pages.values()]:
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text
        assert "<script" not in text and "<link" not in text
        assert not any(k in text for k in keys), path.name
        assert "99999999" not in text
