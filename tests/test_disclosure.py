from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kiim.disclosure import (
    CellModel,
    CountDeclaration,
    DisclosureConfigError,
    _repair_cells,
    apply_disclosure_control,
    build_joint_model,
    declarations_from_manifest,
    protect_marts,
)
from tests.test_disclosure_attack import _men_only_foreigners

DISTRICT = "12061000"


def _frame(cells: dict[tuple[str, str], int]) -> pd.DataFrame:
    """Gemeinden x sex numerator table with all margins; denominators large (1000 per cell)."""
    gemeinden = sorted({g for g, _ in cells})
    sexes = sorted({s for _, s in cells})
    rows = []
    for g, s in cells:
        rows.append((g, "geschlecht", s, cells[(g, s)], 1000))
    for g in gemeinden:
        num = sum(cells[(g, s)] for s in sexes)
        rows.append((g, "insgesamt", "insgesamt", num, 1000 * len(sexes)))
    for s in sexes:
        num = sum(cells[(g, s)] for g in gemeinden)
        rows.append((DISTRICT, "geschlecht", s, num, 1000 * len(gemeinden)))
    rows.append((DISTRICT, "insgesamt", "insgesamt", sum(cells.values()), 1000 * len(cells)))
    df = pd.DataFrame(
        rows, columns=["ags", "dimension", "dimension_value", "numerator", "denominator"]
    )
    df["period"] = "2026-10"
    df["category"] = "insgesamt"
    df["rate"] = 100 * df["numerator"] / df["denominator"]
    return df


def test_primary_secondary_and_zero() -> None:
    cells = {
        ("A", "m"): 3,
        ("A", "w"): 40,
        ("B", "m"): 50,
        ("B", "w"): 0,
        ("C", "m"): 60,
        ("C", "w"): 70,
    }
    out, stats = apply_disclosure_control(_frame(cells), k=5, district_ags=DISTRICT)
    hidden = out[out["numerator_suppressed"]]
    assert ((hidden["ags"] == "A") & (hidden["dimension_value"] == "m")).any()
    assert stats.primary == 1 and stats.secondary >= 2
    # zero stays zero and visible
    zero = out[(out["ags"] == "B") & (out["dimension_value"] == "w")]
    assert zero["numerator"].iloc[0] == 0 and not zero["numerator_suppressed"].iloc[0]
    # suppressed values are NULL, their rates too
    assert hidden["numerator"].isna().all() and hidden["rate"].isna().all()


def test_no_relation_has_a_single_hidden_cell() -> None:
    rng = np.random.default_rng(7)
    gemeinden = [f"G{i}" for i in range(8)]
    cells = {
        (g, s): int(rng.choice([0, 1, 2, 4, 8, 30, 200]))
        for g, s in itertools.product(gemeinden, "mwd")
    }
    out, _ = apply_disclosure_control(_frame(cells), k=5, district_ags=DISTRICT)
    # every additive relation (row or column incl. its total) has 0 or >= 2 hidden cells
    for _, g in out.groupby("dimension_value"):
        assert g["numerator_suppressed"].sum() != 1
    for _, g in out.groupby("ags"):
        assert g["numerator_suppressed"].sum() != 1
    # and no visible count is below k
    visible = out.loc[~out["numerator_suppressed"], "numerator"]
    assert not ((visible >= 1) & (visible < 5)).any()


# --- declarations and joint protection ----------------------------------------------------------

MARTS_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "marts"
AGE_BANDS = [
    "unter 3",
    "3 bis unter 6",
    "6 bis unter 15",
    "15 bis unter 18",
    "18 bis unter 25",
    "25 bis unter 45",
    "45 bis unter 67",
    "67 und älter",
    "unbekannt",
]


def _mart_meta() -> dict[str, dict]:
    out = {}
    for path in MARTS_DIR.glob("*/_*__models.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            out[model["name"]] = model["config"]["meta"]["kiim"]
    return out


def test_every_mart_declares_what_its_counts_count() -> None:
    meta = _mart_meta()
    manifest = {
        "nodes": {
            f"model.kiim.{name}": {
                "resource_type": "model",
                "name": name,
                "config": {"meta": {"kiim": m}},
            }
            for name, m in meta.items()
        }
    }
    declarations = declarations_from_manifest(manifest)
    assert set(declarations) == set(meta)
    populations: dict[str, set[str]] = {}
    for name, columns in declarations.items():
        assert set(columns) == {"numerator", "denominator"}, name
        for decl in columns.values():
            populations.setdefault(decl.population, set()).add(name)
            for dimension, values in decl.restrict:
                assert dimension == "altersgruppe" and values <= set(AGE_BANDS), name
            for part in decl.sum_of:
                assert part in {d.population for c in declarations.values() for d in c.values()}
    # the counts published in several marts (the reason for joint protection)
    assert populations["foreigners"] >= {
        "foreigner_share",
        "residence_status_distribution",
        "counselling_cases_per_1000",
    }
    assert populations["residents"] >= {
        "foreigner_share",
        "sgb2_rate",
        "elb_rate",
        "childcare_rate",
    }
    assert populations["cohort_at_evaluation"] == {
        "trajectory_b1_share",
        "trajectory_without_sgb2_share",
        "trajectory_own_flat_share",
    }


def _people_mart(
    people: pd.DataFrame, numerator: str, denominator: str, category: str = "insgesamt"
) -> pd.DataFrame:
    """Long layout over Gemeinden x sex x age band from person rows with 0/1 columns."""
    rows = []
    for ags in [*sorted(people["ags"].unique()), DISTRICT]:
        sub = people if ags == DISTRICT else people[people["ags"] == ags]
        parts = [("insgesamt", "insgesamt", sub)]
        parts += [("geschlecht", s, sub[sub["sex"] == s]) for s in ("männlich", "weiblich")]
        parts += [("altersgruppe", b, sub[sub["age"] == b]) for b in AGE_BANDS[:3]]
        for dimension, value, part in parts:
            num, den = int(part[numerator].sum()), int(part[denominator].sum())
            rows.append((ags, dimension, value, num, den))
    df = pd.DataFrame(
        rows, columns=["ags", "dimension", "dimension_value", "numerator", "denominator"]
    )
    df["period"] = "2026-10"
    df["category"] = category
    df["rate"] = (100 * df["numerator"] / df["denominator"].where(df["denominator"] > 0)).round(1)
    return df


def _status_mart(foreigners: pd.DataFrame) -> pd.DataFrame:
    """A distribution: foreigners by status group, all foreigners as shared denominator."""
    return pd.concat(
        [
            _people_mart(foreigners, "permanent", "one", category="dauerhaft"),
            _people_mart(foreigners, "temporary", "one", category="befristet"),
        ],
        ignore_index=True,
    ).sort_values(["ags", "dimension", "dimension_value", "category"], ignore_index=True)


def _people(seed: int, size: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "ags": rng.choice(
                ["12061005", "12061017", "12061020", "12061032"], size, p=[0.5, 0.3, 0.15, 0.05]
            ),
            "sex": rng.choice(["männlich", "weiblich"], size),
            "age": rng.choice(AGE_BANDS[:3], size),
            "foreign": rng.random(size) < 0.4,
            "young": 0,
            "one": 1,
        }
    )
    people["permanent"] = (rng.random(size) < 0.8).astype(int)
    people["temporary"] = 1 - people["permanent"]
    people["naturalised"] = ~people["foreign"] & (rng.random(size) < 0.04)
    people["at_start"] = people["foreign"] | people["naturalised"]
    people["young"] = (people["age"] == AGE_BANDS[0]).astype(int)
    return people


def _declare(meta: dict[str, dict[str, dict]]) -> dict[str, dict[str, CountDeclaration]]:
    return {
        mart: {col: CountDeclaration.from_meta(mart, col, m) for col, m in block.items()}
        for mart, block in meta.items()
    }


def test_declared_counts_become_one_cell_where_they_mean_the_same() -> None:
    people = _people(1)
    young = people[people["age"] == AGE_BANDS[0]]
    frames = {
        "share": _people_mart(people, "foreign", "one"),
        "status": _status_mart(people[people["foreign"]]),
        "young": _people_mart(young, "foreign", "one"),
    }
    declarations = _declare(
        {
            "share": {
                "numerator": {"population": "foreigners"},
                "denominator": {"population": "residents"},
            },
            "status": {
                "numerator": {"population": "foreigners", "category": "aufenthaltsstatusgruppe"},
                "denominator": {"population": "foreigners", "category": "shared"},
            },
            "young": {
                "numerator": {
                    "population": "foreigners",
                    "restrict": {"altersgruppe": AGE_BANDS[:1]},
                },
                "denominator": {
                    "population": "residents",
                    "restrict": {"altersgruppe": AGE_BANDS[:1]},
                },
            },
        }
    )
    joint = build_joint_model(frames, declarations, DISTRICT)

    def cell(mart: str, column: str, category: str | None = None) -> pd.Series:
        """Joint cell per (ags, dimension, value) of one mart's column (one category)."""
        frame = frames[mart].assign(cell=joint.row_cells[mart][column])
        if category is not None:
            frame = frame[frame["category"] == category]
        return frame.set_index(["ags", "dimension", "dimension_value"])["cell"]

    # the foreigners of `share` are the denominator of `status`, in every category
    for category in ("dauerhaft", "befristet"):
        assert cell("share", "numerator").eq(cell("status", "denominator", category)).all()
    # the status numerator is narrowed by its category: a number of its own
    assert not cell("share", "numerator").isin(cell("status", "numerator")).any()
    # `young` counts residents under 3 only: equal to `share` in that age band, not elsewhere
    young, share = cell("young", "denominator"), cell("share", "denominator")
    band = young.index.get_level_values("dimension_value") == AGE_BANDS[0]
    total = young.index.get_level_values("dimension") == "insgesamt"
    assert young[band].eq(share[band]).all()
    assert not young[total].eq(share[total]).any()
    # ... and its total is its own under-3 row (one number)
    assert (young[total].to_numpy() == young[band].to_numpy()).all()
    assert joint.shared > 0


def test_withheld_in_one_mart_means_withheld_in_every_mart() -> None:
    people = _people(1)
    frames = {
        "share": _people_mart(people, "foreign", "one"),
        "status": _status_mart(people[people["foreign"]]),
    }
    declarations = _declare(
        {
            "share": {"numerator": {"population": "foreigners"}},
            "status": {"denominator": {"population": "foreigners", "category": "shared"}},
        }
    )
    result = protect_marts(frames, k=5, district_ags=DISTRICT, declarations=declarations)
    key = ["ags", "dimension", "dimension_value"]

    def withheld(share: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
        by_cell = status.groupby(key)["denominator_suppressed"].agg(["min", "max"])
        return share.set_index(key)[["numerator_suppressed"]].join(by_cell)

    joint = withheld(result.frames["share"], result.frames["status"])
    assert joint["numerator_suppressed"].any()
    assert (joint["numerator_suppressed"] == joint["min"]).all()
    assert (joint["min"] == joint["max"]).all()
    # protected one by one, the same count is withheld in one table and shown in the other
    alone = withheld(
        *(apply_disclosure_control(f, k=5, district_ags=DISTRICT)[0] for f in frames.values())
    )
    assert (alone["numerator_suppressed"] != alone["min"]).any()


def _read_off(foreigners: pd.DataFrame, at_start: pd.DataFrame) -> int:
    """Naturalisations an analyst gets back as (foreigners at the start) - (foreigners)."""
    hidden = at_start["numerator_suppressed"].to_numpy()
    visible = (
        ~at_start["denominator_suppressed"].to_numpy()
        & ~foreigners["numerator_suppressed"].to_numpy()
    )
    return int((hidden & visible).sum())


def test_a_declared_sum_across_marts_is_protected() -> None:
    """Foreigners at the start of the month = foreigners at its end + naturalisations in it:
    with both totals visible, a withheld naturalisation count is a subtraction away."""
    people = _people(3)
    frames = {
        "foreigner_share": _people_mart(people, "foreign", "one"),
        "naturalisation": _people_mart(people[people["at_start"]], "naturalised", "one"),
    }
    meta = {
        "foreigner_share": {"numerator": {"population": "foreigners"}},
        "naturalisation": {
            "numerator": {"population": "naturalisations"},
            "denominator": {"population": "foreigners_at_start"},
        },
    }
    plain = protect_marts(frames, k=5, district_ags=DISTRICT, declarations=_declare(meta))
    assert _read_off(plain.frames["foreigner_share"], plain.frames["naturalisation"]) > 0
    meta["naturalisation"]["denominator"]["sum_of"] = ["foreigners", "naturalisations"]
    summed = protect_marts(frames, k=5, district_ags=DISTRICT, declarations=_declare(meta))
    assert summed.equations > 0
    assert _read_off(summed.frames["foreigner_share"], summed.frames["naturalisation"]) == 0


def test_counts_declared_equal_but_different_stay_apart(caplog: pytest.LogCaptureFixture) -> None:
    people = _people(4)
    frames = {
        "a": _people_mart(people, "foreign", "one"),
        "b": _people_mart(people, "naturalised", "one"),
    }
    declarations = _declare({m: {"numerator": {"population": "foreigners"}} for m in frames})
    with caplog.at_level(logging.WARNING, logger="kiim.disclosure"):
        joint = build_joint_model(frames, declarations, DISTRICT)
    assert "stimmen nicht überein" in caplog.text
    differ = frames["a"]["numerator"].to_numpy() != frames["b"]["numerator"].to_numpy()
    a, b = joint.row_cells["a"]["numerator"], joint.row_cells["b"]["numerator"]
    assert (a[differ] != b[differ]).all()


@pytest.mark.parametrize(
    "meta",
    [
        {"numerator": {}},
        {"numerator": {"population": "x", "restrict": {"alter": ["1"]}}},
        {"numerator": {"population": "x", "category": "kategorie"}},
        {"numerator": {"population": "x", "colour": "blue"}},
        {"rate": {"population": "x"}},
    ],
)
def test_a_bad_declaration_names_mart_and_key(meta: dict) -> None:
    manifest = {
        "nodes": {
            "model.kiim.m": {
                "resource_type": "model",
                "name": "m",
                "config": {"meta": {"kiim": {"disclosure": meta}}},
            }
        }
    }
    with pytest.raises(DisclosureConfigError, match=r"^m: meta\.kiim\.disclosure"):
        declarations_from_manifest(manifest)


def test_what_no_pattern_can_protect_is_not_published(caplog: pytest.LogCaptureFixture) -> None:
    """The last resort, forced by allowing no repair round: the connected part of the cells
    still determined is left out of the published table, and the log says so."""
    month = _men_only_foreigners()
    # an earlier month with ten times the people: nothing small, nothing to withhold
    earlier = month.assign(
        period="2026-09", numerator=10 * month["numerator"], denominator=10 * month["denominator"]
    )
    frame = pd.concat([earlier, month], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="kiim.disclosure"):
        result = protect_marts({"m": frame}, k=5, district_ags=DISTRICT, max_repair_rounds=0)
    assert "nicht veröffentlicht" in caplog.text
    # the month that could not be protected is left out as a whole (its tables are one
    # connected part); the other month is published untouched
    assert result.dropped_rows == {"m": len(month)}
    published = result.frames["m"]
    assert (published["period"] == "2026-09").all() and len(published) == len(earlier)
    assert not published["numerator_suppressed"].any()


def test_marts_that_break_their_own_sums_are_refused() -> None:
    frame = _frame({("A", "m"): 3, ("A", "w"): 40, ("B", "m"): 50, ("B", "w"): 7})
    frame.loc[0, "numerator"] += 1  # the district no longer is the sum of its Gemeinden
    with pytest.raises(ValueError, match="mart 'm'"):
        protect_marts({"m": frame}, k=5, district_ags=DISTRICT)


def test_repair_further_out_withholds_one_cell_per_pinned_cell_not_a_whole_ring() -> None:
    """x0 is pinned and every cell of its own relation is withheld already: the search goes a
    link further out. It takes the smallest cell of that ring (x3 = 10), not one cell in each
    of the ring's relations (that also took x6, and on a district it took district totals)."""
    values = np.array([2, 3, 5, 10, 20, 33, 15, 20], dtype=float)
    # x0 + x1 = x2;  x1 + x3 + x4 = x5;  x2 + x6 = x7
    rel = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    cell = np.array([0, 1, 2, 1, 3, 4, 5, 2, 6, 7])
    coef = np.array([1, 1, -1, 1, 1, 1, -1, 1, 1, -1], dtype=float)
    empty = np.zeros(0, dtype=int)
    model = CellModel(values, {}, rel, cell, coef, (empty, empty))
    mask = np.isin(np.arange(8), [0, 1, 2])
    determined = np.isin(np.arange(8), [0])
    assert _repair_cells(model, mask, determined).tolist() == [3]
    # a pinned cell with a visible cell next to it gets the smallest of each relation around it
    mask = np.isin(np.arange(8), [1, 2])
    determined = np.isin(np.arange(8), [1])
    assert _repair_cells(model, mask, determined).tolist() == [0, 3]
