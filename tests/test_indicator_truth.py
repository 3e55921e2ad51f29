"""Indicator values against the synthetic generator's ground truth, for a small month.

One month is generated with exact copies across offices (`ErrorModel.none()`, so linkage is
exact and every difference is an indicator bug) and run through the pipeline's plain stage
functions, without Airflow. For every mart the district's values (total row and the rows per
sex, every category) in the restricted warehouse, before disclosure control, must equal the
counts computed here with pandas from what the generator knows: who lives here
(`persons.parquet`) and what each office's extract holds (the generator's own extract content,
rebuilt from the seed, not read back through kiim's ingest). The published file must show the
same numbers wherever it does not withhold them.

July is used so that the school-leaver mart has leavers (pupils leave in July).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scratch import scratch_kiim_home

from kiim import pipeline
from kiim.catalogues import SEEDS
from kiim.config import load_agencies
from kiim.generate import ErrorModel, generate
from kiim.synthetic.agencies import BUILDERS, PeriodState
from kiim.synthetic.errors import AgencyDraws
from kiim.synthetic.population import build_population
from kiim.synthetic.timeline import NEVER, parse_period
from kiim.workspace import REPO_ROOT

PERIOD = "2026-07"
PERSONS = 1200
SEED = 777
DISTRICT = "12061000"
SEX_LABELS = {"m": "männlich", "w": "weiblich", "d": "divers", "x": "ohne Angabe"}
STATUS_GROUPS = {"NE": "dauerhaft", "DA-EU": "dauerhaft", "FZ-EU": "dauerhaft", "AE": "befristet",
                 "AE-24": "befristet", "DUL": "Duldung", "GEST": "Gestattung"}  # fmt: skip
KEY = ["dimension", "dimension_value", "category"]


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The month generated and run through every stage up to publishing; marts read back."""
    root = tmp_path_factory.mktemp("kiim_truth")
    with scratch_kiim_home(root) as ws:
        ws.ensure()
        generate(
            PERIOD,
            PERSONS,
            ws.inbox_period(PERIOD),
            ws.groundtruth,
            seed=SEED,
            errors=ErrorModel.none(),
        )
        run = pipeline.start_run(PERIOD, "test")
        agencies = [a.agency for a in load_agencies(REPO_ROOT / "config")]
        results = [pipeline.process_agency(run, agency) for agency in agencies]
        assert {r["status"] for r in results} == {"accepted"}, results
        pipeline.link(run, results)
        built = pipeline.transform(run)
        pipeline.publish(run, built)
        yield {
            "warehouse": _read(ws.warehouse_db, "marts"),
            "published": _read(ws.published_db, "main"),
            "persons": pd.read_parquet(ws.groundtruth / PERIOD / "persons.parquet"),
        }


def _read(path: Path, schema: str) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()
        return {t: con.execute(f'select * from {schema}."{t}"').df() for (t,) in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def extracts() -> dict[str, pd.DataFrame]:
    """Each office's extract as the generator built it (canonical fields, one row per record),
    with the person's id (as in persons.parquet) and the record's sex label."""
    pop = build_population(SEED, PERSONS, SEEDS)
    state = PeriodState.of(pop, parse_period(PERIOD))
    errors = ErrorModel.none()
    out = {}
    for agency, builder in BUILDERS.items():
        content = builder(state, errors.for_agency(agency), AgencyDraws(SEED, agency, pop.n))
        frame = pd.DataFrame({k: list(v) for k, v in content.values.items()})
        frame["person_id"] = pop.person_ids(content.persons)
        frame["sex_label"] = frame["sex"].map(SEX_LABELS).fillna("unbekannt")
        out[agency] = frame
    return out


def _residents(persons: pd.DataFrame) -> pd.DataFrame:
    """Registered residents at the end of the month, with age, sex label and foreigner flag."""
    residents = persons[persons["in_ewo"] & ~persons["moved_out_in_period"]].copy()
    birth = pd.to_datetime(residents["birth_date"])
    year, month = int(PERIOD[:4]), int(PERIOD[5:])
    residents["age_end"] = year - birth.dt.year - (birth.dt.month > month).astype(int)
    residents["sex_label"] = residents["sex"].map(SEX_LABELS).fillna("unbekannt")
    residents["foreign"] = residents["nationality"] != "DEU"
    return residents


def _long(units: pd.DataFrame, numerator: object, category: pd.Series | str) -> pd.DataFrame:
    """One row per unit and breakdown row it counts in (total row, its sex row)."""
    facts = pd.DataFrame(
        {
            "sex": units["sex_label"].to_numpy(),
            "category": category if isinstance(category, str) else np.asarray(category),
            "numerator": np.asarray(numerator, dtype=int),
        }
    )
    return pd.concat(
        [
            facts.assign(dimension="insgesamt", dimension_value="insgesamt"),
            facts.assign(dimension="geschlecht", dimension_value=facts["sex"]),
        ]
    )


def _truth(
    units: pd.DataFrame,
    numerator: object,
    *,
    category: pd.Series | str,
    shared: bool = False,
    denominator_units: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """District counts per (dimension, value, category) from one row per counted unit:
    numerator = units of the category with the flag set; denominator = units of the category,
    or, for a distribution (`shared`), the units of every category (or `denominator_units`)."""
    long = _long(units, numerator, category)
    out = long.groupby(KEY)["numerator"].sum().to_frame()
    if not shared:
        return out.join(long.groupby(KEY).size().rename("denominator")).astype(int)
    base = long if denominator_units is None else _long(denominator_units, 0, "")
    cell = base.groupby(["dimension", "dimension_value"]).size().rename("denominator")
    out = out.join(cell, on=["dimension", "dimension_value"]).fillna(0).astype(int)
    out.attrs["cell_denominator"] = cell
    return out


def _check(mart: pd.DataFrame, truth: pd.DataFrame) -> int:
    """The district rows of the total and sex dimensions equal the truth; rows the truth has no
    unit for are zero (a distribution's rows carry the cell's denominator). Returns the number
    of non-zero counts compared."""
    got = mart[(mart["ags"] == DISTRICT) & mart["dimension"].isin(["insgesamt", "geschlecht"])]
    got = got.set_index(KEY)[["numerator", "denominator"]].astype(int)
    assert set(truth.index) <= set(got.index), sorted(set(truth.index) - set(got.index))
    expected = truth.reindex(got.index, fill_value=0)
    cell = truth.attrs.get("cell_denominator")
    if cell is not None:
        keys = got.index.droplevel("category")
        expected["denominator"] = cell.reindex(keys, fill_value=0).to_numpy()
    diff = got.compare(expected, result_names=("mart", "truth"))
    assert diff.empty, diff.to_string()
    return int((expected.to_numpy() > 0).sum())


def test_population_and_residence_marts(month: dict, extracts: dict[str, pd.DataFrame]) -> None:
    marts, residents = month["warehouse"], _residents(month["persons"])
    compared = 0
    compared += _check(
        marts["foreigner_share"], _truth(residents, residents["foreign"], category="insgesamt")
    )
    # status group from the Ausländerbehörde's record; foreigners without one are 'unbekannt'
    abh = extracts["abh"].set_index("person_id")["residence_status"]
    foreigners = residents[residents["foreign"]]
    status = foreigners["person_id"].map(abh).map(STATUS_GROUPS).fillna("unbekannt")
    compared += _check(
        marts["residence_status_distribution"],
        _truth(foreigners, np.ones(len(foreigners)), category=status, shared=True),
    )
    # counselling: cases (every record) per 1000 foreigners
    cases = extracts["beratung"]
    topics = {"Aufenthalt", "Arbeit", "Sprache", "Wohnen", "Gesundheit", "Familie", "Finanzen"}
    topic = cases["topic"].where(cases["topic"].isin(topics), "unbekannt")
    counselling = _truth(
        cases, np.ones(len(cases)), category=topic, shared=True, denominator_units=foreigners
    )
    compared += _check(marts["counselling_cases_per_1000"], counselling)
    # naturalisations in the month; foreigners at its start = foreigners + naturalised in it
    naturalised = residents["naturalised_in_period"]
    at_start = residents[residents["foreign"] | naturalised]
    compared += _check(
        marts["naturalisation_rate_all_foreigners"],
        _truth(at_start, at_start["naturalised_in_period"], category="insgesamt"),
    )
    start = pd.Timestamp(f"{PERIOD}-01")
    long_stay = pd.to_datetime(at_start["entry_date"]) <= start - pd.DateOffset(years=8)
    nat = _truth(at_start, at_start["naturalised_in_period"], category="insgesamt")
    nat["denominator"] = _truth(at_start, long_stay, category="insgesamt")["numerator"]
    compared += _check(marts["naturalisation_rate"], nat)
    assert compared > 40


def test_labour_and_welfare_marts(month: dict, extracts: dict[str, pd.DataFrame]) -> None:
    marts, residents = month["warehouse"], _residents(month["persons"])
    below_67 = residents[residents["age_end"] < 67]
    compared = _check(
        marts["sgb2_rate"],
        _truth(below_67, below_67["sgb2"] & below_67["in_jobcenter"], category="insgesamt"),
    )
    working_age = residents[(residents["age_end"] >= 15) & (residents["age_end"] < 67)]
    elb = working_age["employable"] & working_age["in_jobcenter"]
    compared += _check(marts["elb_rate"], _truth(working_age, elb, category="insgesamt"))
    # Integrationsquote: with one month loaded the twelve-month window holds this month only:
    # take-ups dated in the window / this month's stock of ELB records
    jobcenter = extracts["jobcenter"]
    first = pd.Timestamp(f"{PERIOD}-01") - pd.DateOffset(months=11)
    window = parse_period(first.strftime("%Y-%m")).start
    take_up = jobcenter["take_up_date"].astype("int64")
    took_up = (take_up != NEVER) & (take_up >= window) & (take_up <= parse_period(PERIOD).end)
    is_elb = (jobcenter["sgb2_benefit"] == 1) & (jobcenter["employable"] == 1)
    rate = _truth(jobcenter, took_up, category="insgesamt")
    rate["denominator"] = _truth(jobcenter, is_elb, category="insgesamt")["numerator"]
    compared += _check(marts["integration_rate"], rate)
    # AsylbLG recipients by accommodation (a distribution)
    sozialamt = extracts["sozialamt"]
    kind = sozialamt["accommodation"].map({"GU": "Gemeinschaftsunterkunft", "WO": "eigene Wohnung"})
    compared += _check(
        marts["asylblg_accommodation"],
        _truth(sozialamt, np.ones(len(sozialamt)), category=kind.fillna("unbekannt"), shared=True),
    )
    assert compared > 20


def test_childcare_language_and_school_marts(
    month: dict, extracts: dict[str, pd.DataFrame]
) -> None:
    marts, residents = month["warehouse"], _residents(month["persons"])
    children = residents[(residents["age_end"] >= 0) & (residents["age_end"] < 6)]
    in_kita = children["person_id"].isin(extracts["kita"]["person_id"])
    group = np.where(children["age_end"] < 3, "unter 3", "3 bis unter 6")
    compared = _check(marts["childcare_rate"], _truth(children, in_kita, category=pd.Series(group)))
    # DTZ takers (participations with a result) by level
    courses = extracts["integrationskurs"]
    takers = courses[courses["dtz_result"].notna()]
    compared += _check(
        marts["dtz_success"],
        _truth(takers, np.ones(len(takers)), category=takers["dtz_result"], shared=True),
    )
    # pupils by DaZ phase; leavers (July) without qualification
    pupils = extracts["schulamt"]
    phase = pupils["daz_phase"].map(
        {"1": "Phase 1", "2": "Phase 2", "3": "Phase 3", "keine": "keine DaZ-Förderung"}
    )
    compared += _check(
        marts["daz_pupils_by_phase"],
        _truth(pupils, np.ones(len(pupils)), category=phase.fillna("unbekannt"), shared=True),
    )
    leavers = pupils[pupils["left_school"] == 1]
    assert len(leavers) > 0
    compared += _check(
        marts["school_leavers_without_qualification"],
        _truth(leavers, leavers["leaving_qualification"] == "ohne", category="insgesamt"),
    )
    assert compared > 20


def test_published_values_are_the_warehouse_values_where_shown(month: dict) -> None:
    warehouse, published = month["warehouse"], month["published"]
    assert set(warehouse) <= set(published)
    key = ["period", "ags", "dimension", "dimension_value", "category"]
    for name, raw in warehouse.items():
        shown = published[name].merge(raw, on=key, suffixes=("", "_raw"), validate="1:1")
        assert len(shown) == len(raw), name
        for column in ("numerator", "denominator"):
            hidden = shown[f"{column}_suppressed"]
            assert shown.loc[hidden, column].isna().all(), name
            assert (shown.loc[~hidden, column] == shown.loc[~hidden, f"{column}_raw"]).all(), name


def _first(records: pd.DataFrame, dates: pd.Series) -> pd.Series:
    """Earliest date (day number) per person over the records where it is set."""
    keep = dates != NEVER
    return dates[keep].groupby(records.loc[keep, "person_id"]).min()


def test_trajectory_median_marts(month: dict, extracts: dict[str, pd.DataFrame]) -> None:
    """Numerator (cohort members with the event by the month's end) and denominator (cohort
    members resident in the month) of the three 'months until' marts."""
    marts, residents = month["warehouse"], _residents(month["persons"])
    period = parse_period(PERIOD)
    # arrival: entry date of the Ausländerbehörde's record, else the move-in date
    abh = extracts["abh"].set_index("person_id")
    ewo = extracts["ewo"].set_index("person_id")
    cohort = residents[residents["person_id"].isin(abh.index)].copy()
    entry = cohort["person_id"].map(abh["entry_date"].astype("int64"))
    move_in = cohort["person_id"].map(ewo["move_in_date"].astype("int64"))
    arrival = entry.where(entry != NEVER, move_in)
    arrival_day = pd.to_datetime(arrival.where(arrival != NEVER).astype("float"), unit="D")
    months_since = (int(PERIOD[:4]) * 12 + int(PERIOD[5:]) - 1) - (
        arrival_day.dt.year * 12 + arrival_day.dt.month - 1
    )
    cohort = cohort[(months_since >= 0) & (months_since <= 120)]
    arrival_day = arrival_day[cohort.index]
    label = arrival_day.dt.year.astype(str) + "-Q" + arrival_day.dt.quarter.astype(str)
    courses, jobcenter = extracts["integrationskurs"], extracts["jobcenter"]
    b1 = courses["dtz_result"] == "B1"
    events = {
        "trajectory_months_to_course": _first(
            courses, courses["course_start_date"].astype("int64")
        ),
        "trajectory_months_to_b1": _first(
            courses[b1], courses.loc[b1, "course_end_date"].astype("int64")
        ),
        "trajectory_months_to_take_up": _first(
            jobcenter, jobcenter["take_up_date"].astype("int64")
        ),
    }
    compared = medians = 0
    arrival_month = arrival_day.dt.year * 12 + arrival_day.dt.month
    for mart, first in events.items():
        event = cohort["person_id"].map(first).fillna(NEVER)
        reached = event <= period.end
        compared += _check(marts[mart], _truth(cohort, reached, category=label))
        # the median months from arrival to the event among those who reached it (district)
        event_day = pd.to_datetime(event[reached].astype("float"), unit="D")
        months = (event_day.dt.year * 12 + event_day.dt.month - arrival_month[reached]).clip(0)
        truth = months.groupby(label[reached]).quantile(0.5, interpolation="lower")
        got = marts[mart]
        got = got[(got["ags"] == DISTRICT) & (got["dimension"] == "insgesamt")]
        got = got.set_index("category")["rate"].dropna()
        assert got.to_dict() == truth.astype(float).to_dict(), mart
        medians += len(got)
    assert compared > 20
    assert medians > 5
