"""The attack test: play the analyst who wants a withheld cell back, and fail.

Realistic marts are built from a small random population (Gemeinden of very different sizes x
sex x age band, district and total rows, many small cells), sent through disclosure control and
through `kiim.publish.publish`, and then attacked using only what is published:

a) single subtraction in every additive relation, and rate x denominator for every visible rate;
b) linear programming: for every withheld cell the minimum and maximum it can take given all
   published values, all relations, non-negativity, "withheld means >= 1" (zero stays zero is
   public) and numerator <= denominator for shares;
c) all marts at once: the marts share counts the way the real ones do (the foreigners are the
   numerator of `share` and the denominator of `distribution`; residents per age band are
   denominators of `share`, `by_category` and `restricted`; employed young people are
   numerators of `by_category` and `restricted`), so the attacker identifies every cell that
   counts the same people, reads a value withheld in one mart off another, and runs a) and b)
   on the equations of every mart together.

The attacker is written independently of kiim.disclosure: one variable per withheld published
value, the shared denominator of a distribution as equality constraints between its rows, and
its own reading of what each published cell counts (`meaning`), not kiim's declarations.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from kiim.disclosure import (
    CountDeclaration,
    apply_disclosure_control,
    build_cell_model,
    protect_marts,
    suppress_counts,
)
from kiim.publish import FORBIDDEN_COLUMN, publish

K = 5
DISTRICT = "12061000"
PERIOD = "2026-10"
GEMEINDEN = [f"1206{i:04d}" for i in range(1, 8)]
SEXES = ["männlich", "weiblich", "divers"]
AGE_BANDS = ["unter 18", "18 bis unter 40", "40 bis unter 65", "65 und älter"]
STATUS = ["dauerhaft", "befristet", "Duldung", "Gestattung", "unbekannt"]
DIMENSIONS = {"geschlecht": "sex", "altersgruppe": "age"}
COUNTS = ("numerator", "denominator")
# `by_category` covers the two youngest age bands (its categories, like the Kita age groups),
# `restricted` everyone below 65 (like the SGB II rate's residents below 67)
YOUNG = AGE_BANDS[:2]
BELOW_65 = AGE_BANDS[:3]


def population(seed: int, size: int = 600) -> pd.DataFrame:
    """People over Gemeinden of very different sizes (a few large towns, many villages)."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.45, 0.25, 0.12, 0.08, 0.05, 0.03, 0.02])
    return pd.DataFrame(
        {
            "ags": rng.choice(GEMEINDEN, size=size, p=weights),
            "sex": rng.choice(SEXES, size=size, p=[0.52, 0.47, 0.01]),
            "age": rng.choice(AGE_BANDS, size=size, p=[0.3, 0.4, 0.25, 0.05]),
            "status": rng.choice(STATUS, size=size, p=[0.5, 0.3, 0.05, 0.1, 0.05]),
            "foreigner": rng.random(size) < 0.3,
            "employed": rng.random(size) < 0.4,
        }
    )


def long_layout(
    people: pd.DataFrame, numerator: pd.Series, category: pd.Series, *, shared: bool = False
) -> pd.DataFrame:
    """Complete long-layout grid (zeros included) with district and total rows, like dbt's;
    `shared`: a distribution, every category has the whole cell as denominator."""
    facts = people.assign(numerator=numerator.astype(int), category=category, denominator=1)
    categories = sorted(set(category.dropna()))
    unpivoted = pd.concat(
        [facts.assign(dimension="insgesamt", dimension_value="insgesamt")]
        + [facts.assign(dimension=d, dimension_value=facts[c]) for d, c in DIMENSIONS.items()]
    )
    scoped = pd.concat([unpivoted, unpivoted.assign(ags=DISTRICT)])
    cell = ["ags", "dimension", "dimension_value"]
    values = [("insgesamt", "insgesamt")] + [
        (d, v) for d, c in DIMENSIONS.items() for v in (SEXES if c == "sex" else AGE_BANDS)
    ]
    grid = pd.DataFrame(
        [(g, d, v, cat) for g in [*GEMEINDEN, DISTRICT] for d, v in values for cat in categories],
        columns=[*cell, "category"],
    )
    num = scoped.groupby([*cell, "category"])["numerator"].sum().rename("numerator")
    den_keys = cell if shared else [*cell, "category"]
    den = scoped.groupby(den_keys)["denominator"].sum().rename("denominator")
    out = grid.join(num, on=[*cell, "category"]).join(den, on=den_keys).fillna(0)
    out[["numerator", "denominator"]] = out[["numerator", "denominator"]].astype(int)
    out["rate"] = (
        100.0 * out["numerator"] / out["denominator"].where(out["denominator"] > 0)
    ).round(1)
    out["period"] = PERIOD
    out["gemeinde"] = "G" + out["ags"]
    out["source_complete"] = True
    return out[
        [
            "period",
            "ags",
            "gemeinde",
            "dimension",
            "dimension_value",
            "category",
            "numerator",
            "denominator",
            "rate",
            "source_complete",
        ]
    ]


def marts(seed: int) -> dict[str, pd.DataFrame]:
    """Four mart shapes: a share, a distribution (shared denominator), per-category rates whose
    categories are age bands, and a share restricted to some age bands."""
    people = population(seed)
    foreigners = people[people["foreigner"]]
    young = people[people["age"].isin(YOUNG)]
    below = people[people["age"].isin(BELOW_65)]
    return {
        "share": long_layout(people, people["foreigner"], pd.Series("insgesamt", people.index)),
        "distribution": long_layout(
            foreigners, pd.Series(1, foreigners.index), foreigners["status"], shared=True
        ),
        "by_category": long_layout(young, young["employed"], young["age"]),
        "restricted": long_layout(below, below["employed"], pd.Series("insgesamt", below.index)),
    }


# What the marts count, as the dbt YAML of a real mart declares it (meta.kiim.disclosure).
DISCLOSURE_META: dict[str, dict[str, dict]] = {
    "share": {
        "numerator": {"population": "foreigners"},
        "denominator": {"population": "residents"},
    },
    "distribution": {
        "numerator": {"population": "foreigners"},
        "denominator": {"population": "foreigners", "category": "shared"},
    },
    "by_category": {
        "numerator": {"population": "employed", "category": "altersgruppe"},
        "denominator": {"population": "residents", "category": "altersgruppe"},
    },
    "restricted": {
        "numerator": {"population": "employed", "restrict": {"altersgruppe": BELOW_65}},
        "denominator": {"population": "residents", "restrict": {"altersgruppe": BELOW_65}},
    },
}
DECLARATIONS = {
    mart: {col: CountDeclaration.from_meta(mart, col, meta) for col, meta in block.items()}
    for mart, block in DISCLOSURE_META.items()
}


# --- the attacker ----------------------------------------------------------------------------

Cell = tuple[str, int, str]  # (mart, row, column) of a published count


def meaning(mart: str, row: pd.Series, column: str) -> Hashable | None:
    """Which people a published count counts, read off the marts' definitions (not off kiim's
    declarations): (population, period, ags, conditions); None for a count that is zero by
    construction (e.g. an age band outside the mart's age range)."""
    conditions: dict[str, object] = {}
    if row["dimension"] != "insgesamt":
        conditions[row["dimension"]] = row["dimension_value"]
    if mart == "share":
        people = "foreigners" if column == "numerator" else "residents"
    elif mart == "distribution":
        people = "foreigners"
        if column == "numerator":
            conditions["status"] = row["category"]
    elif mart == "by_category":
        people = "employed" if column == "numerator" else "residents"
        if conditions.setdefault("altersgruppe", row["category"]) != row["category"]:
            return None
    elif mart == "restricted":
        people = "employed" if column == "numerator" else "residents"
        band = conditions.setdefault("altersgruppe", tuple(BELOW_65))
        if band != tuple(BELOW_65) and band not in BELOW_65:
            return None
    else:
        raise AssertionError(mart)
    return (people, row["period"], row["ags"], frozenset(conditions.items()))


@dataclass
class Knowledge:
    """What the published tables tell: their values, the relations sum(coef * x) == 0 as lists
    of (cell, coef), the <= pairs, and which cells the attacker knows to be the same number
    (`same`: cell -> key; cells without a key are numbers of their own)."""

    frames: dict[str, pd.DataFrame]
    relations: list[list[tuple[Cell, float]]]
    leq: list[tuple[Cell, Cell]]
    same: dict[Cell, Hashable] = field(default_factory=dict)
    values: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    known: dict[Hashable, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for mart, frame in self.frames.items():
            for column in COUNTS:
                self.values[mart, column] = frame[column].to_numpy(dtype=float, na_value=np.nan)
        for mart, frame in self.frames.items():
            for column in COUNTS:
                for row in frame.index:
                    cell = (mart, int(row), column)
                    if not self.hidden(cell):
                        self.known[self.key(cell)] = self.value(cell)

    def value(self, cell: Cell) -> float:
        """The published value, NaN when withheld."""
        mart, row, column = cell
        return float(self.values[mart, column][row])

    def hidden(self, cell: Cell) -> bool:
        return math.isnan(self.value(cell))

    def key(self, cell: Cell) -> Hashable:
        return self.same.get(cell, cell)

    def unknown(self, cell: Cell) -> bool:
        """Withheld here and not published anywhere else either."""
        return self.key(cell) not in self.known


def _relations(mart: str, frame: pd.DataFrame, *, distribution: bool) -> list:
    relations: list[list[tuple[Cell, float]]] = []
    for column in COUNTS:
        for _, g in frame.groupby(["period", "dimension", "dimension_value", "category"]):
            district = set(g.index[g["ags"] == DISTRICT])
            relations.append(
                [((mart, int(i), column), -1.0 if i in district else 1.0) for i in g.index]
            )
        for _, g in frame.groupby(["period", "ags", "category"]):
            total = int(g.index[g["dimension"] == "insgesamt"][0])
            for _dim, parts in g[g["dimension"] != "insgesamt"].groupby("dimension"):
                relations.append(
                    [((mart, total, column), -1.0)]
                    + [((mart, int(i), column), 1.0) for i in parts.index]
                )
    if distribution:
        for _, g in frame.groupby(["period", "ags", "dimension", "dimension_value"]):
            first = int(g.index[0])
            relations.append(
                [((mart, first, "denominator"), -1.0)]
                + [((mart, int(i), "numerator"), 1.0) for i in g.index]
            )
            for other in g.index[1:]:
                relations.append(
                    [((mart, first, "denominator"), 1.0), ((mart, int(other), "denominator"), -1.0)]
                )
    return relations


def knowledge(
    published: dict[str, pd.DataFrame], *, shapes: dict[str, tuple[bool, bool]], joint: bool
) -> Knowledge:
    """The attacker's model of the given marts; `joint`: cells with the same `meaning` in any
    of them are one number."""
    frames = {m: f.reset_index(drop=True) for m, f in published.items()}
    relations: list[list[tuple[Cell, float]]] = []
    leq: list[tuple[Cell, Cell]] = []
    same: dict[Cell, Hashable] = {}
    for mart, frame in frames.items():
        distribution, share = shapes[mart]
        relations += _relations(mart, frame, distribution=distribution)
        if share:
            leq += [
                ((mart, int(i), "numerator"), (mart, int(i), "denominator")) for i in frame.index
            ]
        if joint:
            for i, row in frame.iterrows():
                for column in COUNTS:
                    what = meaning(mart, row, column)
                    if what is not None:
                        same[(mart, int(i), column)] = what
    return Knowledge(frames, relations, leq, same)


def cross_mart_reads(kn: Knowledge) -> list[Cell]:
    """Withheld cells whose number is published in another place."""
    return [
        (mart, int(i), column)
        for mart, frame in kn.frames.items()
        for column in COUNTS
        for i in frame.index
        if kn.hidden((mart, int(i), column)) and not kn.unknown((mart, int(i), column))
    ]


def single_subtraction(kn: Knowledge) -> list[Hashable]:
    """Withheld numbers that are the only unknown of some relation."""
    found = []
    for relation in kn.relations:
        unknown: dict[Hashable, float] = {}
        for cell, coef in relation:
            if kn.unknown(cell):
                unknown[kn.key(cell)] = unknown.get(kn.key(cell), 0.0) + coef
        unknown = {key: coef for key, coef in unknown.items() if coef != 0}
        if len(unknown) == 1:
            found.append(next(iter(unknown)))
    return found


def rate_recoveries(kn: Knowledge) -> list[Cell]:
    """Withheld counts that follow from a visible rate and the other count."""
    out = []
    for mart, f in kn.frames.items():
        for column in COUNTS:
            rows = f.index[f["rate"].notna() & f[column].isna()]
            out += [(mart, int(i), column) for i in rows]
    return out


def _constraints(
    kn: Knowledge,
) -> tuple[list[Hashable], list[tuple[dict[int, float], float, bool]]]:
    """Unknown numbers and the linear constraints on them: (coefs by variable, rhs, equality)."""
    variables: dict[Hashable, int] = {}
    for mart, frame in kn.frames.items():
        for column in COUNTS:
            for i in frame.index:
                cell = (mart, int(i), column)
                if kn.hidden(cell) and kn.unknown(cell):
                    variables.setdefault(kn.key(cell), len(variables))
    out: list[tuple[dict[int, float], float, bool]] = []
    terms = [(r, True) for r in kn.relations] + [
        ([(small, 1.0), (large, -1.0)], False) for small, large in kn.leq
    ]
    for relation, equality in terms:
        coefs: dict[int, float] = {}
        rhs = 0.0
        for cell, coef in relation:
            if kn.hidden(cell) and kn.unknown(cell):
                j = variables[kn.key(cell)]
                coefs[j] = coefs.get(j, 0.0) + coef
            else:
                known = kn.value(cell) if not kn.hidden(cell) else kn.known[kn.key(cell)]
                rhs -= coef * known
        coefs = {j: c for j, c in coefs.items() if c != 0}
        if coefs:
            out.append((coefs, rhs, equality))
    return list(variables), out


def lp_intervals(kn: Knowledge) -> Iterator[tuple[Hashable, float, float]]:
    """(number, lo, hi) for every unknown number by linear programming over all knowledge, one
    connected group of unknowns at a time: exact min and max, or, where vertices already
    showed two integer values, the range seen (inside the feasible one)."""
    linprog = pytest.importorskip("scipy.optimize").linprog
    keys, constraints = _constraints(kn)
    parent = list(range(len(keys)))

    def root(j: int) -> int:
        while parent[j] != j:
            parent[j] = parent[parent[j]]
            j = parent[j]
        return j

    for coefs, _, _ in constraints:
        first, *rest = coefs
        for j in rest:
            parent[root(j)] = root(first)
    groups: dict[int, list[int]] = {}
    for j in range(len(keys)):
        groups.setdefault(root(j), []).append(j)
    by_group: dict[int, list[tuple[dict[int, float], float, bool]]] = {}
    for c in constraints:
        by_group.setdefault(root(next(iter(c[0]))), []).append(c)
    for group, members in groups.items():
        local = {j: n for n, j in enumerate(members)}
        matrices: dict[bool, tuple[list[np.ndarray], list[float]]] = {
            True: ([], []),
            False: ([], []),
        }
        for coefs, rhs, equality in by_group.get(group, []):
            row = np.zeros(len(members))
            for j, coef in coefs.items():
                row[local[j]] = coef
            matrices[equality][0].append(row)
            matrices[equality][1].append(rhs)
        (a_eq, b_eq), (a_ub, b_ub) = matrices[True], matrices[False]

        def solve(
            objective: np.ndarray,
            a_eq: list[np.ndarray] = a_eq,
            b_eq: list[float] = b_eq,
            a_ub: list[np.ndarray] = a_ub,
            b_ub: list[float] = b_ub,
            presolve: bool = True,
        ) -> tuple[int, float, np.ndarray]:
            res = linprog(
                objective,
                A_eq=np.array(a_eq) if a_eq else None,
                b_eq=b_eq or None,
                A_ub=np.array(a_ub) if a_ub else None,
                b_ub=b_ub or None,
                bounds=(1, None),
                method="highs",
                options={"presolve": presolve},
            )
            if res.status == 2 and presolve:  # HiGHS: "infeasible or unbounded"; tell which
                return solve(objective, a_eq, b_eq, a_ub, b_ub, presolve=False)
            assert res.status in (0, 3), res.message
            return res.status, res.fun, res.x

        # cheap first: vertices for random objectives; a number taking two integer values in
        # them is certainly not determined, only the rest needs its exact minimum and maximum
        rng = np.random.default_rng(0)
        seen = []
        for _ in range(12):
            status, _, x = solve(rng.normal(size=len(members)))
            if status == 0:
                seen.append(x)
        low = np.min(seen, axis=0) if seen else np.full(len(members), np.inf)
        high = np.max(seen, axis=0) if seen else np.full(len(members), -np.inf)
        for j in members:
            lo, hi = low[local[j]], high[local[j]]
            if not (seen and math.floor(hi + 1e-6) - math.ceil(lo - 1e-6) >= 1):
                bounds = []
                for sign in (1.0, -1.0):
                    objective = np.zeros(len(members))
                    objective[local[j]] = sign
                    status, fun, _ = solve(objective)
                    bounds.append(-math.inf * sign if status == 3 else sign * fun)
                lo, hi = bounds
            yield keys[j], lo, hi


def feasible(kn: Knowledge, truth: dict[str, pd.DataFrame]) -> bool:
    """The attacker's model is right: the true values satisfy every constraint."""
    keys, constraints = _constraints(kn)
    true: dict[Hashable, float] = {}
    for mart, frame in truth.items():
        frame = frame.reset_index(drop=True)
        for column in COUNTS:
            for i, value in enumerate(frame[column].to_numpy(dtype=float)):
                key = kn.key((mart, i, column))
                if true.setdefault(key, value) != value:
                    return False  # the attacker took two different numbers for one
    x = np.array([true[key] for key in keys])
    for coefs, rhs, equality in constraints:
        lhs = sum(coef * x[j] for j, coef in coefs.items())
        if (abs(lhs - rhs) > 1e-6) if equality else (lhs > rhs + 1e-6):
            return False
    return bool((x >= 1).all())


def exactly_recovered(kn: Knowledge) -> list[Hashable]:
    """Unknown numbers with only one integer value in their feasible interval."""
    return [
        key
        for key, lo, hi in lp_intervals(kn)
        if math.isfinite(hi) and math.floor(hi + 1e-6) - math.ceil(lo - 1e-6) <= 0
    ]


# --- the tests: each mart on its own ----------------------------------------------------------

SHAPES = {
    "share": (False, True),
    "distribution": (True, True),
    "by_category": (False, True),
    "restricted": (False, True),
}
SEEDS = [1, 3]


def _alone(mart: str, frame: pd.DataFrame) -> Knowledge:
    return knowledge({mart: frame}, shapes=SHAPES, joint=False)


@pytest.fixture(scope="module", params=SEEDS)
def protected(request: pytest.FixtureRequest) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    out = {}
    for name, frame in marts(request.param).items():
        result, _ = apply_disclosure_control(frame, k=K, district_ags=DISTRICT)
        out[name] = (frame, result)
    return out


def test_marts_are_realistic(protected: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    """The attack is only worth something if there is a lot to protect."""
    for name, (raw, published) in protected.items():
        small = ((raw["numerator"] >= 1) & (raw["numerator"] < K)).sum()
        assert small >= 15, name
        assert published["numerator_suppressed"].sum() > small, name  # secondary happened
        assert (raw["numerator"] == 0).sum() > 0, name


@pytest.mark.parametrize("name", list(SHAPES))
def test_single_subtraction_and_rates_recover_nothing(
    protected: dict[str, tuple[pd.DataFrame, pd.DataFrame]], name: str
) -> None:
    kn = _alone(name, protected[name][1])
    assert single_subtraction(kn) == []
    assert rate_recoveries(kn) == []


@pytest.mark.parametrize("name", list(SHAPES))
def test_linear_programming_pins_down_no_withheld_cell(
    protected: dict[str, tuple[pd.DataFrame, pd.DataFrame]], name: str
) -> None:
    raw, published = protected[name]
    kn = _alone(name, published)
    assert feasible(kn, {name: raw})
    assert exactly_recovered(kn) == []


def test_zero_stays_zero_and_withheld_is_null(
    protected: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    for raw, published in protected.values():
        for column in COUNTS:
            zero = raw[column] == 0
            assert (published.loc[zero, column] == 0).all()
            assert not published.loc[zero, f"{column}_suppressed"].any()
            flagged = published[f"{column}_suppressed"]
            assert published.loc[flagged, column].isna().all()
            assert published.loc[~flagged, column].notna().all()
        assert published.loc[published["rate_suppressed"], "rate"].isna().all()


def test_unprotected_distribution_is_attackable() -> None:
    """Sanity check of the attacker: without the category relation and the audit, a
    distribution mart leaks (primary suppression alone is recovered by subtraction)."""
    raw = marts(1)["distribution"]
    naive = raw.copy()
    small = (naive["numerator"] >= 1) & (naive["numerator"] < K)
    naive["numerator"] = naive["numerator"].astype("Float64").mask(small)
    naive["rate"] = naive["rate"].astype("Float64").mask(small)
    assert single_subtraction(_alone("distribution", naive))


@pytest.mark.parametrize("name", ["distribution", "share"])
def test_closure_alone_is_beaten_by_the_lp_attacker(name: str) -> None:
    """Why the audit exists: "no relation with exactly one withheld cell" defeats subtraction
    but not linear programming with the public knowledge that withheld cells are >= 1."""
    raw = marts(3)[name]
    model = build_cell_model(raw, DISTRICT)
    mask, _, _ = suppress_counts(model.values, K, (model.rel, model.cell))
    naive = raw.copy()
    for column in COUNTS:
        naive[column] = naive[column].astype("Float64").mask(mask[model.row_cells[column]])
    naive["rate"] = (
        naive["rate"]
        .astype("Float64")
        .mask(naive["numerator"].isna() | naive["denominator"].isna())
    )
    kn = _alone(name, naive)
    assert single_subtraction(kn) == []
    assert exactly_recovered(kn)


# --- a numerator pinned by its visible denominator ----------------------------------------------


def _men_only_foreigners() -> pd.DataFrame:
    """The smallest case the relation-only repair could not protect (it logged "nicht weiter
    schützbar"): in Gemeinde A the five foreigners are all the men, one per age band, and the
    seven women (German) share one age band. Every numerator of A is withheld or zero, but the
    men's denominator 5 stays visible: numerator <= 5, and five non-zero age bands >= 5, so
    the total is 5 and each band is 1. Only withholding that denominator protects them."""
    bands = [*AGE_BANDS[:3], "65 bis unter 80", "80 und älter", "unbekannt"]
    rows = [(GEMEINDEN[0], "männlich", band, True) for band in bands[:5]]
    rows += [(GEMEINDEN[0], "weiblich", bands[5], False)] * 7
    rows += [(GEMEINDEN[1], "männlich", bands[5], False)] * 20
    people = pd.DataFrame(rows, columns=["ags", "sex", "age", "foreigner"])
    scopes = [GEMEINDEN[0], GEMEINDEN[1], DISTRICT]
    out = []
    for ags in scopes:
        sub = people if ags == DISTRICT else people[people["ags"] == ags]
        cells = [("insgesamt", "insgesamt", sub)]
        cells += [("geschlecht", s, sub[sub["sex"] == s]) for s in ("männlich", "weiblich")]
        cells += [("altersgruppe", b, sub[sub["age"] == b]) for b in bands]
        for dimension, value, part in cells:
            num, den = int(part["foreigner"].sum()), len(part)
            rate = round(100 * num / den, 1) if den else None
            out.append((PERIOD, ags, dimension, value, "insgesamt", num, den, rate))
    return pd.DataFrame(
        out,
        columns=[
            "period",
            "ags",
            "dimension",
            "dimension_value",
            "category",
            "numerator",
            "denominator",
            "rate",
        ],
    )


def test_numerator_pinned_by_a_visible_denominator_is_protected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = _men_only_foreigners()
    with caplog.at_level(logging.WARNING, logger="kiim.disclosure"):
        published, _ = apply_disclosure_control(raw, k=K, district_ags=DISTRICT)
    assert not [r for r in caplog.records if "schützbar" in r.getMessage()]
    assert len(published) == len(raw)  # nothing had to be dropped
    men_a = (published["ags"] == GEMEINDEN[0]) & (published["dimension_value"] == "männlich")
    assert published.loc[men_a, "numerator_suppressed"].all()
    assert published.loc[men_a, "denominator_suppressed"].all()
    kn = _alone("share", published)
    assert feasible(kn, {"share": raw})
    assert single_subtraction(kn) == []
    assert exactly_recovered(kn) == []


# --- the tests: all marts at once --------------------------------------------------------------


@pytest.fixture(scope="module", params=SEEDS)
def jointly(request: pytest.FixtureRequest) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    raw = marts(request.param)
    result = protect_marts(raw, k=K, district_ags=DISTRICT, declarations=DECLARATIONS)
    assert result.shared_cells > 0 and not result.dropped_rows
    return {name: (raw[name], result.frames[name]) for name in raw}


def _everything(marts_: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> Knowledge:
    return knowledge({m: pub for m, (_, pub) in marts_.items()}, shapes=SHAPES, joint=True)


def test_the_marts_share_counts() -> None:
    """The joint attack is only worth something if many published numbers recur in another
    mart, withheld ones included."""
    raw = marts(SEEDS[0])
    kn = knowledge(raw, shapes=SHAPES, joint=True)
    places: dict[Hashable, set[str]] = {}
    for cell, key in kn.same.items():
        places.setdefault(key, set()).add(cell[0])
    recurring = {key for key, where in places.items() if len(where) > 1}
    assert len(recurring) > 100
    small = [
        key for key in recurring if 1 <= kn.known[key] < K
    ]  # in `raw` nothing is withheld: every number is known
    assert len(small) > 10


def test_a_count_is_withheld_in_every_mart_or_in_none(
    jointly: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    kn = _everything(jointly)
    assert cross_mart_reads(kn) == []


def test_joint_attack_by_subtraction_and_rates_recovers_nothing(
    jointly: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    kn = _everything(jointly)
    assert single_subtraction(kn) == []
    assert rate_recoveries(kn) == []


def test_joint_linear_programming_pins_down_no_withheld_cell(
    jointly: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    kn = _everything(jointly)
    assert feasible(kn, {m: raw for m, (raw, _) in jointly.items()})
    assert exactly_recovered(kn) == []


def test_marts_protected_one_by_one_are_read_across_marts() -> None:
    """Why joint protection exists: each mart passes its own audit, and still the attacker
    holding all of them gets withheld values back."""
    leaks = 0
    for seed in SEEDS:
        raw = marts(seed)
        alone = {
            m: apply_disclosure_control(f, k=K, district_ags=DISTRICT)[0] for m, f in raw.items()
        }
        kn = knowledge(alone, shapes=SHAPES, joint=True)
        leaks += len(cross_mart_reads(kn)) + len(single_subtraction(kn))
    assert leaks > 0


# --- the published database ------------------------------------------------------------------


@pytest.fixture(scope="module")
def published_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("attack")
    warehouse = root / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    raw = marts(4)
    for name, frame in raw.items():
        con.register("_frame", frame)
        con.execute(f"create table marts.{name} as select * from _frame")
        con.unregister("_frame")
    con.close()
    # the declarations reach publish the way dbt's do: config.meta.kiim.disclosure
    nodes = {
        f"model.kiim.{name}": {
            "resource_type": "model",
            "name": name,
            "config": {"meta": {"kiim": {"indicator": name, "disclosure": block}}},
        }
        for name, block in DISCLOSURE_META.items()
    }
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}), encoding="utf-8")
    out = root / "published.duckdb"
    result = publish(warehouse, out, k=K, district_ags=DISTRICT, manifest_path=manifest)
    assert result.shared_cells > 0
    return out, raw


def _read_published(path: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for name in SHAPES:
            frame = con.execute(f'select * from "{name}"').df()
            for column in COUNTS:
                frame[column] = frame[column].astype("Float64")
            out[name] = frame
        return out
    finally:
        con.close()


def test_published_database_withstands_the_attack(
    published_db: tuple[Path, dict[str, pd.DataFrame]],
) -> None:
    path, raw = published_db
    published = _read_published(path)
    for name, frame in published.items():
        kn = _alone(name, frame)
        assert single_subtraction(kn) == [], name
        assert rate_recoveries(kn) == [], name
        assert exactly_recovered(kn) == [], name
    kn = knowledge(published, shapes=SHAPES, joint=True)
    assert cross_mart_reads(kn) == []
    assert single_subtraction(kn) == []
    # publish keeps the warehouse's row order (period, ags, dimension, value, category)
    ordered = {
        m: f.sort_values(["period", "ags", "dimension", "dimension_value", "category"])
        for m, f in raw.items()
    }
    assert feasible(kn, ordered)
    assert exactly_recovered(kn) == []


def test_published_database_has_no_person_column_and_no_small_count(
    published_db: tuple[Path, dict[str, pd.DataFrame]],
) -> None:
    con = duckdb.connect(str(published_db[0]), read_only=True)
    try:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        assert set(tables) == {*SHAPES, "indikatoren_katalog"}
        for table in tables:
            frame = con.execute(f'select * from "{table}"').df()
            assert not [c for c in frame.columns if FORBIDDEN_COLUMN.search(c)], table
            # no column has one distinct value per row as a person key would (beyond the key)
            for column in frame.columns:
                if table != "indikatoren_katalog" and frame[column].dtype == object:
                    assert frame[column].nunique() < len(frame), (table, column)
            for column in ("numerator", "denominator"):
                if column in frame:
                    visible = frame[column].dropna()
                    assert not ((visible >= 1) & (visible < K)).any(), (table, column)
    finally:
        con.close()
