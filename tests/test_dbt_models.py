"""The dbt project on a tiny hand-made warehouse: mart values are checked by hand computation.

One dbt build (with unit tests) serves the whole module; parse and docs reuse its target
folder (dbt's partial parsing), and the contract test adds one short build of a broken copy.

Scenario (periods 2026-02 and 2026-03; A = 12061005, B = 12061017, district 12061000):
- A: 10 residents, 3 foreigners (a1 SYR/AE, a2 UKR/AE-24, a3 TUR/NE), a 70-year-old, a
  2-year-old in Kita (February only: the Kita delivery for March is rejected) and a 4-year-old.
- B: 5 residents: b1 AFG/Gestattung in shared accommodation, b2 naturalised on 5 March 2026
  (foreign in February, German in March), three Germans; a sixth moved out in February.
- a1: SGB II + ELB in both months, take-up 5 March 2026; arrived January 2024, course start
  April 2024 (3 months), B1 January 2025 (12 months).
- a2: arrived February 2025 (12 months later = 2026-02), SGB II only in March.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
from dbt_fixture import CONFIG_DIR, PROJECT_DIR, WarehouseBuilder, date

from kiim.config import load_agencies
from kiim.transform import DbtOutcome, dbt_build, dbt_docs, dbt_parse, mart_metadata

A, B, DISTRICT = "12061005", "12061017", "12061000"
FEB, MAR, APR = "2026-02", "2026-03", "2026-04"
MARTS = {
    "foreigner_share", "residence_status_distribution", "naturalisation_rate",
    "naturalisation_rate_all_foreigners", "sgb2_rate", "elb_rate", "integration_rate",
    "childcare_rate", "dtz_success", "school_leavers_without_qualification",
    "daz_pupils_by_phase", "asylblg_accommodation", "counselling_cases_per_1000",
    "trajectory_months_to_course", "trajectory_months_to_b1", "trajectory_months_to_take_up",
    "trajectory_b1_share", "trajectory_without_sgb2_share", "trajectory_own_flat_share",
}  # fmt: skip
LAYOUT = [
    ("period", "VARCHAR"), ("ags", "VARCHAR"), ("gemeinde", "VARCHAR"), ("dimension", "VARCHAR"),
    ("dimension_value", "VARCHAR"), ("category", "VARCHAR"), ("numerator", "BIGINT"),
    ("denominator", "BIGINT"), ("rate", "DOUBLE"), ("source_complete", "BOOLEAN"),
]  # fmt: skip


def scenario() -> WarehouseBuilder:
    b = WarehouseBuilder()
    qi = {  # person -> (birth year, month, sex, EWO nationality per period, Gemeinde)
        "a1": (1990, 5, "w", "SYR", A), "a2": (1985, 2, "m", "UKR", A), "a3": (1970, 8, "w", "TUR", A),
        "a4": (1980, 1, "m", "DEU", A), "a5": (1981, 3, "w", "DEU", A), "a6": (1962, 9, "m", "DEU", A),
        "a7": (2001, 12, "w", "DEU", A), "a8": (2021, 6, "m", "DEU", A), "a9": (2023, 10, "w", "DEU", A),
        "a10": (1955, 6, "m", "DEU", A),
        "b1": (2000, 1, "m", "AFG", B), "b2": (1988, 7, "w", "SYR", B), "b3": (1975, 4, "m", "DEU", B),
        "b4": (1979, 11, "w", "DEU", B), "b5": (2010, 2, "m", "DEU", B),
    }  # fmt: skip

    def qi_of(key: str, **changes: object) -> dict[str, object]:
        year, month, sex, nat, ags = qi[key]
        values = dict(birth_year=year, birth_month=month, sex=sex, nationality=nat, ags=ags)
        return {**values, **changes}

    for period in (FEB, MAR):
        for key in qi:
            values = qi_of(key)
            if key == "b2" and period == MAR:
                values["nationality"] = "DEU"  # naturalised on 5 March
            if key == "a1":
                values["move_in_date"] = date("2024-01-15")
            b.add("ewo", period, key, **values)
        moved_out = qi_of("b3", birth_year=1960, move_out_date=date("2026-02-15"))
        b.add("ewo", period, "b6", **moved_out)
    # a resident of April: beyond the run's period, must not appear in any mart
    b.add("ewo", APR, "a1", **qi_of("a1"))

    permits = [("a1", "AE", "2024-01-10"), ("a2", "AE-24", "2025-02-20"),
               ("a3", "NE", "2010-06-01"), ("b1", "GEST", "2025-09-01")]  # fmt: skip
    for period in (FEB, MAR):
        for key, status, entry in permits:
            b.add("abh", period, key, **qi_of(key), residence_status=status, entry_date=date(entry))
        take_up = date("2026-03-05") if period == MAR else None
        b.add(
            "jobcenter",
            period,
            "a1",
            **qi_of("a1"),
            sgb2_benefit=True,
            employable=True,
            take_up_date=take_up,
        )
        b.add(
            "sozialamt",
            period,
            "b1",
            **qi_of("b1"),
            accommodation="GU",
            benefit_start_date=date("2025-09-01"),
        )
        b.add(
            "integrationskurs",
            period,
            "a1",
            **qi_of("a1"),
            course_type="Allgemein",
            course_start_date=date("2024-04-01"),
            course_end_date=date("2025-01-20"),
            dtz_result="B1",
        )
    b.add(
        "abh",
        MAR,
        "b2",
        **qi_of("b2"),
        residence_status="DEU",
        entry_date=date("2012-01-01"),
        naturalisation_date=date("2026-03-05"),
    )
    b.add("jobcenter", MAR, "a2", **qi_of("a2"), sgb2_benefit=True, employable=False)
    # an unlinked SGB II record: not a resident, so in no rate
    b.add("jobcenter", MAR, None, **qi_of("a4"), sgb2_benefit=True, employable=True)
    b.add("kita", FEB, "a9", **qi_of("a9"), care_type="Kita", care_start_date=date("2025-08-01"))
    b.add(
        "beratung",
        MAR,
        "a1",
        **qi_of("a1"),
        service="MBE",
        topic="Sprache",
        case_start_date=date("2026-03-02"),
        note="Termin vereinbart",
    )
    b.add(
        "beratung",
        MAR,
        None,
        **qi_of("a1"),
        service="MBE",
        topic="Arbeit",
        case_start_date=date("2026-03-03"),
    )
    b.add(
        "schulamt",
        MAR,
        "b5",
        **qi_of("b5"),
        school_type="OS",
        grade=10,
        daz_phase="keine",
        left_school=True,
        leaving_qualification="ohne",
    )
    b.deliver(FEB)
    b.deliver(MAR)
    b.deliver(MAR, ["kita"], status="rejected")
    b.deliver(APR)
    return b


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DbtOutcome]:
    root = tmp_path_factory.mktemp("dbt")
    warehouse = scenario().write(root / "warehouse.duckdb")
    outcome = dbt_build(
        warehouse, PROJECT_DIR, period=MAR, target_dir=root / "target", unit_tests=True
    )
    return warehouse, outcome


@pytest.fixture
def con(built: tuple[Path, DbtOutcome]):
    """Read-only connection, closed after each test: dbt cannot open a file held in-process."""
    connection = duckdb.connect(str(built[0]), read_only=True)
    yield connection
    connection.close()


def cell(
    con,
    mart: str,
    period: str,
    ags: str,
    category: str = "insgesamt",
    dimension: str = "insgesamt",
    value: str = "insgesamt",
) -> tuple:
    rows = con.execute(
        f"select numerator, denominator, rate, source_complete from marts.{mart} "
        "where period = ? and ags = ? and category = ? and dimension = ? and dimension_value = ?",
        [period, ags, category, dimension, value],
    ).fetchall()
    assert len(rows) == 1, f"{mart} {period} {ags} {category} {dimension}={value}: {rows}"
    return rows[0]


def test_build_is_green(built: tuple[Path, DbtOutcome]) -> None:
    _, outcome = built
    assert outcome.success, "\n".join(str(f) for f in outcome.failures)
    assert outcome.models_failed == outcome.tests_failed == outcome.skipped == 0
    assert outcome.models_passed >= len(MARTS) + 10
    assert outcome.tests_passed > 150  # data tests and unit tests (key not-nulls are constraints)
    assert outcome.manifest_path is not None and outcome.manifest_path.exists()
    assert outcome.log_dir is not None and (outcome.log_dir / "dbt.log").exists()


def test_every_mart_has_the_shared_long_layout(con) -> None:
    tables = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    assert tables == MARTS
    for mart in MARTS:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = ? order by ordinal_position",
            [mart],
        ).fetchall()
        assert columns == LAYOUT, mart


def test_marts_cover_periods_up_to_the_run_period_only(con) -> None:
    for mart in MARTS:
        rows = con.execute(f"select distinct period from marts.{mart}").fetchall()
        assert {r[0] for r in rows} <= {FEB, MAR}, mart
    assert {
        r[0] for r in con.execute("select distinct period from marts.foreigner_share").fetchall()
    } == {FEB, MAR}


def test_foreigner_share_by_hand(con) -> None:
    assert cell(con, "foreigner_share", MAR, A) == (3, 10, 30.0, True)
    assert cell(con, "foreigner_share", MAR, B) == (0 + 1, 5, 20.0, True)  # b2 naturalised
    assert cell(con, "foreigner_share", FEB, B) == (2, 5, 40.0, True)
    assert cell(con, "foreigner_share", MAR, DISTRICT) == (4, 15, 26.7, True)
    assert cell(con, "foreigner_share", MAR, A, dimension="geschlecht", value="weiblich") == (
        2,
        5,
        40.0,
        True,
    )
    # a Gemeinde without residents: zeros and no rate, not a missing row
    assert cell(con, "foreigner_share", MAR, "12061020") == (0, 0, None, True)


def test_residence_status_distribution_by_hand(con) -> None:
    assert cell(con, "residence_status_distribution", MAR, A, "befristet") == (2, 3, 66.7, True)
    assert cell(con, "residence_status_distribution", MAR, A, "dauerhaft") == (1, 3, 33.3, True)
    assert cell(con, "residence_status_distribution", MAR, B, "Gestattung") == (1, 1, 100.0, True)
    assert cell(con, "residence_status_distribution", MAR, DISTRICT, "befristet") == (
        2,
        4,
        50.0,
        True,
    )
    assert cell(con, "residence_status_distribution", MAR, DISTRICT, "Duldung") == (0, 4, 0.0, True)
    # February: b2 is still foreign but has no ABH record yet
    assert cell(con, "residence_status_distribution", FEB, B, "unbekannt") == (1, 2, 50.0, True)


def test_sgb2_and_elb_rates_by_hand(con) -> None:
    # A: 9 residents under 67 (a10 is 70); a1 and a2 receive SGB II; the unlinked record counts nowhere
    assert cell(con, "sgb2_rate", MAR, A) == (2, 9, 22.2, True)
    assert cell(con, "sgb2_rate", MAR, DISTRICT) == (2, 14, 14.3, True)
    assert cell(
        con, "sgb2_rate", MAR, A, dimension="aufenthaltsstatusgruppe", value="befristet"
    ) == (2, 2, 100.0, True)
    assert cell(
        con, "sgb2_rate", MAR, A, dimension="staatsangehoerigkeitsgruppe", value="Deutsch"
    ) == (0, 6, 0.0, True)
    # ELB: residents 15 to under 67 in A: a1..a7 = 7; only a1 is an ELB
    assert cell(con, "elb_rate", MAR, A) == (1, 7, 14.3, True)


def test_integration_rate_by_hand(con) -> None:
    # ELB person-months in A: a1 in Feb and Mar plus the unlinked ELB record in Mar (the
    # Jobcenter's own figure needs no linkage) = 3 over 2 months; 1 take-up: 1 / 1.5
    assert cell(con, "integration_rate", MAR, A) == (1, 3, 66.7, True)
    assert cell(con, "integration_rate", FEB, A) == (0, 1, 0.0, True)


def test_naturalisation_rates_by_hand(con) -> None:
    # b2: naturalised in March after 14 years; b1 (Gestattung, 6 months) is below the 8 years
    assert cell(con, "naturalisation_rate", MAR, B) == (1, 1, 100.0, True)
    assert cell(con, "naturalisation_rate_all_foreigners", MAR, B) == (1, 2, 50.0, True)
    # A: a3 has 15 years of stay, a1 and a2 fewer than 8
    assert cell(con, "naturalisation_rate", MAR, A) == (0, 1, 0.0, True)


def test_childcare_rate_marks_a_rejected_delivery(con) -> None:
    assert cell(con, "childcare_rate", FEB, A, "unter 3") == (1, 1, 100.0, True)
    assert cell(con, "childcare_rate", FEB, A, "3 bis unter 6") == (0, 1, 0.0, True)
    # March: the Kita delivery was rejected - the zero is flagged, not published as a real zero
    assert cell(con, "childcare_rate", MAR, A, "unter 3") == (0, 1, 0.0, False)
    flags = con.execute(
        "select distinct source_complete from marts.childcare_rate where period = ?", [MAR]
    ).fetchall()
    assert flags == [(False,)]


def test_agency_record_marts_by_hand(con) -> None:
    assert cell(con, "asylblg_accommodation", MAR, B, "Gemeinschaftsunterkunft") == (
        1,
        1,
        100.0,
        True,
    )
    assert cell(con, "dtz_success", MAR, A, "B1") == (1, 1, 100.0, True)
    assert cell(con, "school_leavers_without_qualification", MAR, B) == (1, 1, 100.0, True)
    assert cell(con, "daz_pupils_by_phase", MAR, B, "keine DaZ-Förderung") == (1, 1, 100.0, True)
    # 2 counselling cases (one unlinked) per 3 foreigners in A, per 1000
    assert cell(con, "counselling_cases_per_1000", MAR, A, "Sprache") == (1, 3, 333.3, True)
    assert cell(con, "counselling_cases_per_1000", MAR, A, "Arbeit") == (1, 3, 333.3, True)


def test_trajectories_by_hand(con) -> None:
    assert cell(con, "trajectory_months_to_course", MAR, A, "2024-Q1") == (1, 1, 3.0, True)
    assert cell(con, "trajectory_months_to_b1", MAR, A, "2024-Q1") == (1, 1, 12.0, True)
    assert cell(con, "trajectory_months_to_take_up", MAR, A, "2024-Q1") == (1, 1, 26.0, True)
    assert cell(con, "trajectory_months_to_course", MAR, A, "2025-Q1") == (0, 1, None, True)
    # a2 is measured 12 months after arrival, in February: no B1, no SGB II yet (only from March)
    assert cell(con, "trajectory_b1_share", MAR, A, "2025-Q1 | 12 Monate") == (0, 1, 0.0, True)
    assert cell(con, "trajectory_without_sgb2_share", MAR, A, "2025-Q1 | 12 Monate") == (
        1,
        1,
        100.0,
        True,
    )
    assert cell(con, "trajectory_own_flat_share", FEB, A, "2025-Q1 | 12 Monate") == (
        1,
        1,
        100.0,
        True,
    )


def test_district_is_the_sum_of_its_gemeinden_and_values_partition_totals(con) -> None:
    for mart in MARTS:
        mismatches = con.execute(
            f"""
            with g as (
                select period, dimension, dimension_value, category,
                       sum(numerator) as n, sum(denominator) as d
                from marts.{mart} where ags <> '{DISTRICT}' group by all
            )
            select count(*) from g
            left join marts.{mart} k
                on k.ags = '{DISTRICT}' and k.period = g.period and k.dimension = g.dimension
                and k.dimension_value = g.dimension_value and k.category = g.category
            where k.ags is null
                or k.numerator is distinct from g.n or k.denominator is distinct from g.d
            """
        ).fetchone()[0]
        assert mismatches == 0, mart
        partition = con.execute(
            f"""
            select count(*) from (
                select period, ags, category, dimension, sum(numerator) as n, sum(denominator) as d
                from marts.{mart} where dimension <> 'insgesamt' group by all
            ) v
            join marts.{mart} t using (period, ags, category)
            where t.dimension = 'insgesamt' and (t.numerator <> v.n or t.denominator <> v.d)
            """
        ).fetchone()[0]
        assert partition == 0, mart


def test_broken_contract_fails_the_build_clearly(
    built: tuple[Path, DbtOutcome], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    mart = project / "models" / "marts" / "population" / "foreigner_share.sql"
    sql = mart.read_text(encoding="utf-8")
    extra = "        source_complete,\n        1 as extra_column\n"
    broken = sql.replace("        source_complete\n", extra, 1)
    assert broken != sql
    mart.write_text(broken, encoding="utf-8")
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built[0], warehouse)

    outcome = dbt_build(
        warehouse, project, period=MAR, target_dir=tmp_path / "target", select="foreigner_share"
    )

    assert not outcome.success
    assert outcome.models_failed == 1
    failure = next(f for f in outcome.failures if f.name == "foreigner_share")
    assert "contract" in failure.message.lower()
    assert outcome.skipped > 0  # its tests do not run on a model that was not built


def test_parse_writes_manifest_with_register_facts(built: tuple[Path, DbtOutcome]) -> None:
    assert built[1].target_dir is not None
    outcome = dbt_parse(PROJECT_DIR, target_dir=built[1].target_dir, warehouse_db=built[0])
    assert outcome.success, outcome.failures
    assert outcome.manifest_path is not None
    meta = mart_metadata(outcome.manifest_path)
    assert set(meta) == MARTS
    agencies = {a.agency: a for a in load_agencies(CONFIG_DIR)}
    for name, facts in meta.items():
        assert facts["indicator"] == name
        assert facts["published"] is True
        assert facts["unit"] in {"Prozent", "je 1000", "Monate (Median)"}
        for key in (
            "label_de",
            "field_of_action_de",
            "definition_de",
            "numerator_de",
            "denominator_de",
            "reference_de",
        ):
            assert facts[key].strip(), (name, key)
        assert set(facts["sources"]) <= set(agencies), name
        assert facts["relation"] == f"marts.{name}"
        for column in facts["source_columns"]:
            agency, field = column.split(".")
            assert agencies[agency].has(field), (name, column)


def test_docs_are_one_offline_html_file(built: tuple[Path, DbtOutcome], tmp_path: Path) -> None:
    warehouse, outcome = built
    index = dbt_docs(warehouse, PROJECT_DIR, tmp_path / "docs", target_dir=outcome.target_dir)
    html = index.read_text(encoding="utf-8")
    assert "foreigner_share" in html and "Ausl\\u00e4nderanteil" in html  # manifest inlined as JSON
    assert not re.search(r"<script[^>]+src=[\"']https?://", html)  # nothing loaded from a CDN


def test_next_month_reuses_the_parse_and_reads_its_period_from_the_warehouse(
    built: tuple[Path, DbtOutcome],
) -> None:
    """The run period lives in ops.run_context, not in a dbt var: a new month must not force a
    full re-parse (changed vars would), and the marts must follow the new period.

    Same warehouse path and target as the module's build (as in a monthly run); the module's
    state (period March) is restored afterwards.
    """
    warehouse, outcome = built
    assert outcome.target_dir is not None and outcome.log_dir is not None
    log_file = outcome.log_dir / "dbt.log"
    before = log_file.stat().st_size
    try:
        again = dbt_build(
            warehouse, PROJECT_DIR, period=APR, target_dir=outcome.target_dir, select="int_periods"
        )
        assert again.success, again.failures
        with log_file.open(encoding="utf-8") as f:
            f.seek(before)
            log_text = f.read()
        assert "Running with dbt" in log_text  # the log of this invocation
        assert "Unable to do partial parsing" not in log_text
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            periods = {
                r[0]
                for r in connection.sql("select period from intermediate.int_periods").fetchall()
            }
            context = connection.sql("select period from ops.run_context").fetchall()
        assert APR in periods and context == [(APR,)]
    finally:
        restored = dbt_build(
            warehouse, PROJECT_DIR, period=MAR, target_dir=outcome.target_dir, select="int_periods"
        )
        assert restored.success, restored.failures
