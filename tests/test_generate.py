"""The synthetic generator: files as the configs say, one consistent population, errors as set.

Everything runs on small populations (a few thousand persons) so the module takes seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml

from kiim import names
from kiim.catalogues import SEEDS
from kiim.config import load_agencies
from kiim.generate import (
    ERROR_TYPES,
    ErrorModel,
    ErrorRates,
    GenerationResult,
    Truth,
    generate,
    read_truth,
)
from kiim.ingest import PARTIAL_YEAR, read_extract
from kiim.problems import Severity
from kiim.synthetic.population import build_population
from kiim.workspace import REPO_ROOT

PERIOD = "2026-10"
PREVIOUS = "2026-09"
PERSONS = 2500
SEED = 777
AGENCIES = {a.agency: a for a in load_agencies(REPO_ROOT / "config")}


def _path(result: GenerationResult, agency: str) -> Path:
    name = AGENCIES[agency].extract.file_pattern.format(period=result.period)
    return next(p for p in result.files if p.name == name)


def _frame(result: GenerationResult, agency: str) -> pd.DataFrame:
    """The extract as the agency's own software would show it (all text)."""
    a = AGENCIES[agency]
    path = _path(result, agency)
    if a.extract.format == "xlsx":
        return pd.read_excel(path, sheet_name=a.extract.sheet, dtype=str, keep_default_na=False)
    return pd.read_csv(
        path,
        sep=a.extract.delimiter,
        encoding=a.extract.encoding,
        dtype=str,
        keep_default_na=False,
    )


def _source(agency: str, field: str) -> str:
    col = AGENCIES[agency].column(field)
    assert col is not None
    return col.source


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationResult, Truth]:
    root = tmp_path_factory.mktemp("gen")
    result = generate(PERIOD, PERSONS, root / "inbox" / PERIOD, root / "truth", seed=SEED)
    return result, read_truth(root / "truth", PERIOD)


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationResult, Truth]:
    root = tmp_path_factory.mktemp("gen_prev")
    result = generate(PREVIOUS, PERSONS, root / "inbox" / PREVIOUS, root / "truth", seed=SEED)
    return result, read_truth(root / "truth", PREVIOUS)


@pytest.fixture(scope="module")
def exact(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationResult, Truth]:
    root = tmp_path_factory.mktemp("gen_exact")
    result = generate(
        PERIOD, PERSONS, root / "inbox", root / "truth", seed=SEED, errors=ErrorModel.none()
    )
    return result, read_truth(root / "truth", PERIOD)


# --- files exactly as configured -------------------------------------------------------------


def test_one_file_per_agency_named_by_pattern(month: tuple[GenerationResult, Truth]) -> None:
    result, _ = month
    assert {p.name for p in result.files} == {
        a.extract.file_pattern.format(period=PERIOD) for a in AGENCIES.values()
    }
    assert all(p.exists() for p in result.files)
    assert set(result.rows) == set(AGENCIES)
    assert all(n > 0 for n in result.rows.values()), result.rows


def test_headers_equal_config_sources_in_order(month: tuple[GenerationResult, Truth]) -> None:
    result, _ = month
    for agency, a in AGENCIES.items():
        path = _path(result, agency)
        if a.extract.format == "xlsx":
            wb = openpyxl.load_workbook(path, read_only=True)
            assert wb.sheetnames == [a.extract.sheet]
            header = next(wb[a.extract.sheet].iter_rows(values_only=True))
            wb.close()
            assert list(header) == [c.source for c in a.columns]
        else:
            first = path.read_bytes().decode(a.extract.encoding).splitlines()[0]
            assert first.split(a.extract.delimiter) == [c.source for c in a.columns], agency


def test_encodings_as_configured(month: tuple[GenerationResult, Truth]) -> None:
    result, _ = month
    for agency, a in AGENCIES.items():
        if a.extract.format != "csv":
            continue
        raw = _path(result, agency).read_bytes()
        raw.decode(a.extract.encoding)  # strict
        # umlauts as single cp1252 bytes are no valid UTF-8
        if a.extract.encoding == "cp1252" and any(b >= 0x80 for b in raw):
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        if a.extract.encoding == "utf-8-sig":
            assert raw.startswith(b"\xef\xbb\xbf")
        else:
            assert not raw.startswith(b"\xef\xbb\xbf")
    ewo = _path(result, "ewo").read_bytes()
    assert "ü".encode("cp1252") in ewo  # Müller & Co. really are in the register
    with pytest.raises(UnicodeDecodeError):
        ewo.decode("utf-8")
    assert _path(result, "jobcenter").read_bytes().startswith(b"\xef\xbb\xbf")


def test_dates_and_booleans_in_configured_format(month: tuple[GenerationResult, Truth]) -> None:
    result, _ = month
    jc = _frame(result, "jobcenter")
    assert jc[_source("jobcenter", "birth_date")].str.fullmatch(r"\d{2}\.\d{2}\.\d{4}").all()
    assert set(jc[_source("jobcenter", "sgb2_benefit")]) == {"J"}
    assert set(jc[_source("jobcenter", "employable")]) <= {"J", "N"}
    phones = jc[_source("jobcenter", "phone")]
    assert phones[phones != ""].str.fullmatch(r"(\+49 \d{2,5} \d{6})|(0\d{2,5} \d{6,8})").all()


def test_every_extract_parses_cleanly_with_the_pipeline_reader(
    month: tuple[GenerationResult, Truth],
) -> None:
    result, _ = month
    for agency, a in AGENCIES.items():
        parsed = read_extract(a, _path(result, agency))
        # partial birth dates (00.00.1990) are the error model's, reported as warnings
        checks = {p.check for p in parsed.problems}
        assert checks <= {"partial_date"}, (agency, checks)
        assert all(p.severity is Severity.warning for p in parsed.problems)
        assert parsed.rows == result.rows[agency]
        partial_year = PARTIAL_YEAR.format("birth_date")
        for col in a.columns:
            values = parsed.table.column(col.field)
            if (
                not col.nullable
                and col.field == "birth_date"
                and partial_year in parsed.table.column_names
            ):
                values = pc.coalesce(
                    values.cast(pa.string()), parsed.table.column(partial_year).cast(pa.string())
                )
            if not col.nullable:
                assert values.null_count == 0, (agency, col.field)
            if col.codes:
                assert set(values.drop_null().to_pylist()) <= set(col.codes), (agency, col.field)
            if col.unique:
                assert len(set(values.to_pylist())) == len(values), (agency, col.field)


def test_writer_follows_a_changed_config(tmp_path: Path) -> None:
    """Header names, column order and encoding come from the config, not from the generator."""
    cfg = tmp_path / "config"
    (cfg / "agencies").mkdir(parents=True)
    data = yaml.safe_load((REPO_ROOT / "config/agencies/kita.yaml").read_text(encoding="utf-8"))
    data["extract"]["encoding"] = "cp1252"
    data["extract"]["date_format"] = "%Y-%m-%d"
    data["columns"] = list(reversed(data["columns"]))
    data["columns"][0]["source"] = "Förderbedarf Sprache"
    (cfg / "agencies" / "kita.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    result = generate(
        PERIOD, 1500, tmp_path / "inbox", tmp_path / "truth", seed=SEED, config_dir=cfg
    )
    assert set(result.rows) == {"kita"}
    text = result.files[0].read_bytes().decode("cp1252")
    header = text.splitlines()[0].split(";")
    assert header == [c["source"] for c in data["columns"]]
    first_row = dict(zip(header, text.splitlines()[1].split(";"), strict=True))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", first_row["Geburtsdatum"])


def test_unknown_agency_and_bad_period_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate("2026-13", 100, tmp_path / "i", tmp_path / "t")
    cfg = tmp_path / "config"
    (cfg / "agencies").mkdir(parents=True)
    data = yaml.safe_load((REPO_ROOT / "config/agencies/kita.yaml").read_text(encoding="utf-8"))
    data["agency"] = "wohngeld"
    (cfg / "agencies" / "wohngeld.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match="wohngeld"):
        generate(PERIOD, 100, tmp_path / "i", tmp_path / "t", config_dir=cfg)


# --- determinism and the population over time ------------------------------------------------


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        build_population.cache_clear()  # draw the population afresh, not from the cache
        r = generate(PERIOD, 1200, tmp_path / f"i{i}", tmp_path / f"t{i}", seed=SEED)
        runs.append({p.name: p.read_bytes() for p in r.files})
    assert runs[0] == runs[1]
    for name in ("records.parquet", "persons.parquet"):
        a = pd.read_parquet(tmp_path / "t0" / PERIOD / name)
        b = pd.read_parquet(tmp_path / "t1" / PERIOD / name)
        pd.testing.assert_frame_equal(a, b)
    other = generate(PERIOD, 1200, tmp_path / "i2", tmp_path / "t2", seed=SEED + 1)
    assert {p.name: p.read_bytes() for p in other.files} != runs[0]


def test_population_is_the_same_across_months(
    month: tuple[GenerationResult, Truth], previous: tuple[GenerationResult, Truth]
) -> None:
    _, now = month
    _, before = previous
    both = now.persons.merge(before.persons, on="person_id", suffixes=("", "_prev"))
    assert len(both) > 0.95 * min(len(now.persons), len(before.persons))
    for col in ("sex", "birth_date", "origin", "ags", "family_name", "given_names"):
        assert (both[col] == both[f"{col}_prev"]).all(), col
    # arrivals of October were not there in September, departures of September are gone
    arrived = set(now.persons["person_id"]) - set(before.persons["person_id"])
    left = set(before.persons["person_id"]) - set(now.persons["person_id"])
    assert arrived and left
    oct_start = pd.Timestamp(f"{PERIOD}-01")
    arrivals = now.persons[now.persons["person_id"].isin(arrived)]
    assert (pd.to_datetime(arrivals["arrival_date"]) >= oct_start).all()
    leavers = before.persons[before.persons["person_id"].isin(left)]
    assert leavers["moved_out_in_period"].all()


def test_record_numbers_are_stable_per_person_and_agency(
    month: tuple[GenerationResult, Truth], previous: tuple[GenerationResult, Truth]
) -> None:
    _, now = month
    _, before = previous
    for agency in AGENCIES:
        a = now.records_of(agency)[["person_id", "record_id"]]
        b = before.records_of(agency)[["person_id", "record_id"]]
        both = a.merge(b, on="person_id", suffixes=("", "_prev"))
        assert (both["record_id"] == both["record_id_prev"]).all(), agency
        assert a["record_id"].is_unique


def test_ewo_lists_movers_out_with_their_date(month: tuple[GenerationResult, Truth]) -> None:
    result, truth = month
    ewo = _frame(result, "ewo")
    movers = truth.persons[truth.persons["moved_out_in_period"]]
    assert len(movers) > 0
    ids = truth.records_of("ewo").set_index("person_id").loc[movers["person_id"], "record_id"]
    out = ewo.set_index(_source("ewo", "record_id")).loc[ids, _source("ewo", "move_out_date")]
    assert out.str.endswith(".10.2026").all()
    assert (ewo[_source("ewo", "move_out_date")] != "").sum() == len(movers)


# --- agency content is consistent with the population ----------------------------------------


def test_every_agency_person_is_a_resident(month: tuple[GenerationResult, Truth]) -> None:
    _, truth = month
    residents = set(truth.records_of("ewo")["person_id"])
    assert residents == set(truth.persons["person_id"])
    for agency in AGENCIES:
        assert set(truth.records_of(agency)["person_id"]) <= residents, agency


def test_agency_selection_rules(month: tuple[GenerationResult, Truth]) -> None:
    _, truth = month
    p = truth.persons.set_index("person_id")

    def who(agency: str) -> pd.DataFrame:
        return p.loc[truth.records_of(agency)["person_id"]]

    abh = who("abh")
    assert (abh["origin"] != "DEU").all()
    naturalised = abh[abh["nationality"] == "DEU"]
    assert len(naturalised) > 0 and (naturalised["residence_status"] == "DEU").all()
    assert ((p["origin"] != "DEU").sum()) == len(abh)
    assert set(who("sozialamt")["residence_status"]) <= {"GEST", "DUL"}
    jc = who("jobcenter")
    assert jc["sgb2"].all() and (jc["age"] < 67).all()
    assert not jc["residence_status"].isin(["GEST", "DUL"]).any()
    assert (jc.loc[jc["age"] < 15, "employable"] == False).all()  # noqa: E712
    assert who("kita")["age"].between(0, 7).all()
    assert who("schulamt")["age"].between(5, 21).all()
    ik = who("integrationskurs")
    assert (ik["age"] >= 16).all() and not ik["nationality"].isin(["DEU", "POL", "ROU"]).any()
    assert (who("beratung")["nationality"] != "DEU").all()


def test_population_looks_like_a_district(month: tuple[GenerationResult, Truth]) -> None:
    _, truth = month
    p = truth.persons
    foreign = p["nationality"] != "DEU"
    assert 0.18 < foreign.mean() < 0.35
    assert set(p.loc[foreign, "nationality"]) <= set(names.ORIGINS)
    working_age = p["age"].between(15, 66)
    eu = p["nationality"].isin(sorted(names.EU_ORIGINS))
    german_rate = p.loc[working_age & ~foreign, "sgb2"].mean()
    third_country_rate = p.loc[working_age & foreign & ~eu, "sgb2"].mean()
    assert 0.04 < german_rate < 0.14
    assert 0.2 < third_country_rate < 0.5
    assert p["age"].min() >= 0 and p["age"].max() > 85
    assert {"m", "w"} <= set(p["sex"]) <= {"m", "w", "d"}
    big = p["ags"].value_counts()
    assert set(big.index[:3]) & {"12061260", "12061433"}  # Königs Wusterhausen, Schönefeld


def test_look_alikes_are_twins_and_juniors_of_one_household(
    month: tuple[GenerationResult, Truth],
) -> None:
    """The linkage's look-alikes exist: twins (same date and family name, other first given
    name) and sons bearing their father's given names (other birth year)."""
    _, truth = month
    p = truth.persons.set_index("person_id")
    looks = p[p["lookalike_of"].notna()]
    assert set(looks["lookalike_kind"]) == {"twin", "junior"}
    looks = looks[looks["lookalike_of"].isin(p.index)]  # both living in the district
    other = p.loc[looks["lookalike_of"]].set_index(looks.index)
    assert (looks["household_id"] == other["household_id"]).all()
    twins = looks["lookalike_kind"] == "twin"
    assert (looks.loc[twins, "birth_date"] == other.loc[twins, "birth_date"]).all()
    first = looks["given_names"].str.split().str[0]
    other_first = other["given_names"].str.split().str[0]
    assert (first[twins] != other_first[twins]).all()
    juniors = ~twins
    assert (looks.loc[juniors, "given_names"] == other.loc[juniors, "given_names"]).all()
    assert (looks.loc[juniors, "family_name"] == other.loc[juniors, "family_name"]).all()
    assert (looks.loc[juniors, "sex"] == "m").all() and (other.loc[juniors, "sex"] == "m").all()
    gap = other.loc[juniors, "age"] - looks.loc[juniors, "age"]
    assert (gap >= 15).all()


def test_jobcenter_take_ups_and_school_leavers_happen(tmp_path: Path) -> None:
    r = generate("2026-07", 6000, tmp_path / "i", tmp_path / "t", seed=SEED)
    jc = _frame(r, "jobcenter")
    took_up = jc[jc[_source("jobcenter", "take_up_date")] != ""]
    assert len(took_up) > 0
    assert took_up[_source("jobcenter", "take_up_date")].str.endswith(".07.2026").all()
    assert set(took_up[_source("jobcenter", "take_up_kind")]) <= {
        "Beschaeftigung",
        "Ausbildung",
        "Selbststaendigkeit",
    }
    school = _frame(r, "schulamt")
    leavers = school[school[_source("schulamt", "left_school")] == "J"]
    assert len(leavers) > 0
    assert (leavers[_source("schulamt", "leaving_qualification")] != "").all()
    ik = _frame(r, "integrationskurs")
    assert set(ik[_source("integrationskurs", "dtz_result")]) - {""} <= {"B1", "A2", "unter A2"}


# --- error model ------------------------------------------------------------------------------


def test_error_model_none_gives_exact_identities(exact: tuple[GenerationResult, Truth]) -> None:
    result, truth = exact
    assert truth.records["error_types"].map(len).sum() == 0
    p = truth.persons.set_index("person_id")
    for agency in AGENCIES:
        frame = _frame(result, agency)
        rec = truth.records_of(agency).set_index("record_id")
        person = p.loc[rec.loc[frame[_source(agency, "record_id")], "person_id"]]
        assert (frame[_source(agency, "family_name")].to_numpy() == person["family_name"]).all()
        assert (frame[_source(agency, "given_names")].to_numpy() == person["given_names"]).all()
        birth = pd.to_datetime(frame[_source(agency, "birth_date")], format="%d.%m.%Y")
        assert (birth.dt.date.to_numpy() == person["birth_date"].to_numpy()).all(), agency


def test_error_model_applies_configured_rates(tmp_path: Path) -> None:
    rates = ErrorRates(
        typo=0.3, name_swap=0.2, day_month_swap=0.5, second_given_dropped=0.6, partial_date=0.1
    )
    model = ErrorModel(rates={"ewo": rates})
    r = generate(PERIOD, 6000, tmp_path / "i", tmp_path / "t", seed=SEED, errors=model)
    truth = read_truth(tmp_path / "t", PERIOD)
    ewo = truth.records_of("ewo").merge(truth.persons, on="person_id")
    n = len(ewo)
    bd = pd.to_datetime(ewo["birth_date"])
    eligible = {
        "typo": np.ones(n, dtype=bool),
        "name_swap": np.ones(n, dtype=bool),
        "day_month_swap": (bd.dt.day < bd.dt.month).to_numpy(),
        "second_given_dropped": ewo["given_names"].str.contains(" ").to_numpy(),
        "partial_date": np.ones(n, dtype=bool),
    }
    for kind, mask in eligible.items():
        hit = ewo["error_types"].map(lambda e, k=kind: k in e).to_numpy()
        assert not hit[~mask].any(), kind
        k = int(mask.sum())
        rate = rates.rate(kind)
        assert abs(hit[mask].mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / k) + 0.01, kind
    # other agencies use the default (no errors), other error types stay off
    assert truth.records[truth.records["agency"] != "ewo"]["error_types"].map(len).sum() == 0
    used = {e for errs in ewo["error_types"] for e in errs}
    assert used == set(eligible)
    # what the truth says is what the file shows
    frame = _frame(r, "ewo").set_index("Ordnungsmerkmal")
    swapped = ewo[ewo["error_types"].map(lambda e: e == ["name_swap"])]
    shown = frame.loc[swapped["record_id"]]
    assert (shown["Familienname"].to_numpy() == swapped["given_names"].to_numpy()).all()
    assert (shown["Vornamen"].to_numpy() == swapped["family_name"].to_numpy()).all()
    # a partial date shows its year (and month) with the rest as 00, as registers write it
    partial = ewo[ewo["error_types"].map(lambda e: e == ["partial_date"])]
    written = frame.loc[partial["record_id"], "Geburtsdatum"].to_numpy()
    years = pd.to_datetime(partial["birth_date"]).dt.year.astype(str).to_numpy()
    assert len(written) > 20 and all(w.startswith("00.") for w in written)
    assert {w[3:5] == "00" for w in written} == {True, False}
    assert all(w.endswith(y) for w, y in zip(written, years, strict=True))


def test_realistic_errors_stay_within_each_persons_variants(
    month: tuple[GenerationResult, Truth],
) -> None:
    """A transliterated name is one of the documented variants; errors are stable per agency."""
    result, truth = month
    assert set(ERROR_TYPES) >= {e for errs in truth.records["error_types"] for e in errs}
    jc = truth.records_of("jobcenter").merge(truth.persons, on="person_id")
    frame = _frame(result, "jobcenter").set_index("Kundennummer").loc[jc["record_id"]]
    only_translit = jc["error_types"].map(lambda e: e == ["transliteration"]).to_numpy()
    assert only_translit.sum() > 5
    for fam, written in zip(
        jc.loc[only_translit, "family_name"], frame.loc[only_translit, "Nachname"], strict=True
    ):
        assert written == fam or written in _all_variants(fam)


def _all_variants(name: str) -> set[str]:
    out: set[str] = set()
    for origin in names.SCRIPT_OF_ORIGIN:
        out.update(names.variants(name, origin))
        out.update(names.variants(name, origin, feminine_form=True))
    return out


# --- canaries ---------------------------------------------------------------------------------


def test_raw_identifiers_cover_what_was_written(month: tuple[GenerationResult, Truth]) -> None:
    result, truth = month
    ids = result.raw_identifiers()
    assert all(len(v) >= 4 for v in ids)
    ewo = _frame(result, "ewo")
    for field in ("record_id", "family_name", "given_names", "birth_place", "address"):
        values = set(ewo[_source("ewo", field)]) - {""}
        assert {v for v in values if len(v) >= 4} <= ids, field
    births = set(ewo[_source("ewo", "birth_date")])
    assert births <= ids
    iso = {f"{d[6:]}-{d[3:5]}-{d[:2]}" for d in births if not d.startswith("00.")}
    assert iso <= ids
    abh = _frame(result, "abh")
    assert set(abh[_source("abh", "azr_number")]) <= ids
    jc = _frame(result, "jobcenter")
    assert set(jc[_source("jobcenter", "phone")]) - {""} <= ids
    notes = " ".join(_frame(result, "beratung")[_source("beratung", "note")])
    emails = set(re.findall(r"[\w.]+@[\w.]+\.(?:org|net|com)", notes))
    assert emails and emails <= ids
    guardians = set(_frame(result, "schulamt")[_source("schulamt", "guardians")]) - {""}
    assert guardians and guardians <= ids
    record_ids = set(truth.records["record_id"])
    assert record_ids <= ids
    assert all(re.fullmatch(r"[A-Z0-9]+(-[A-Z]+)?-\d{7,}", r) for r in record_ids)
    text = repr(result)
    assert not any(v in text for v in list(ewo[_source("ewo", "family_name")])[:50])


def test_name_lists_are_cp1252_safe_and_not_everyday_words() -> None:
    """cp1252 agencies must hold every name; no name may occur as a word in config texts
    (register, reports) or be a Gemeinde name, or the privacy canary search finds it there."""
    all_names: set[str] = set()
    for pool in names.POOLS.values():
        all_names.update(pool.male + pool.female + pool.family)
        all_names.update(names.feminine(f, o) for o in names.ORIGINS for f in pool.family)
    for fams in names.VARIANT_FAMILIES.values():
        for fam in fams:
            all_names.update(fam)
    places = set(names.BIRTH_PLACES_DE).union(*names.BIRTH_PLACES.values())
    for value in all_names | places | set(names.STREETS):
        value.encode("cp1252")
    corpus = " ".join(
        p.read_text(encoding="utf-8")
        for p in [*(REPO_ROOT / "config").rglob("*.yaml"), *SEEDS.glob("*.csv")]
    )
    # canaries are whole values (and given-name tokens), searched as whole words
    candidates = {v for v in all_names | places if len(v) >= 4}
    candidates |= {t for n in all_names for t in n.split() if len(t) >= 4}
    alternatives = "|".join(re.escape(c) for c in sorted(candidates, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    assert {m.group(0) for m in pattern.finditer(corpus)} == set()


def test_variant_families_never_map_a_name_to_itself() -> None:
    for origin in names.SCRIPT_OF_ORIGIN:
        pool = names.POOLS[origin]
        for name in pool.male + pool.female + pool.family:
            assert name not in names.variants(name, origin)
    assert "Muhammad" in names.variants("Mohammed", "SYR")
    assert "Alexander" in names.variants("Oleksandr", "UKR")
    assert "Iwanowa" in names.variants("Ivanova", "RUS", feminine_form=True)
    assert names.separator_variant("Al-Hassan", 0) in {"Al Hassan", "Alhassan"}
    assert names.umlaut_variant("Müller", plain=False) == "Mueller"
    assert names.umlaut_variant("Müller", plain=True) == "Muller"
