"""The attack test: play the analyst who wants a withheld cell back, and fail.

Realistic marts are built from a small random population (Gemeinden of very different sizes x
sex x age band, district and total rows, many small cells), sent through disclosure control and
through `kiim.publish.publish`, and then attacked using only what is published:

a) single subtraction in every additive relation, and rate x denominator for every visible rate;
b) linear programming: for every withheld cell the minimum and maximum it can take given all
   published values, all relations, non-negativity, "withheld means >= 1" (zero stays zero is
   public) and numerator <= denominator for shares.

The attacker is written independently of kiim.disclosure: one variable per withheld published
value, the shared denominator of a distribution as equality constraints between its rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from kiim.disclosure import apply_disclosure_control, build_cell_model, suppress_counts
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
    """Three mart shapes: a share, a distribution (shared denominator) and per-category rates."""
    people = population(seed)
    foreigners = people[people["foreigner"]]
    return {
        "share": long_layout(people, people["foreigner"], pd.Series("insgesamt", people.index)),
        "distribution": long_layout(
            foreigners, pd.Series(1, foreigners.index), foreigners["status"], shared=True
        ),
        "by_category": long_layout(
            people,
            people["employed"],
            people["age"].map(lambda a: "jung" if a == "unter 18" else "erwachsen"),
        ),
    }


# --- the attacker ----------------------------------------------------------------------------


@dataclass
class Knowledge:
    """What the published table tells: known values, one variable per withheld value, relations
    sum(coef * x) == 0 as lists of (row, column, coef), equalities and <= pairs."""

    frame: pd.DataFrame
    relations: list[list[tuple[int, str, float]]]
    leq: list[tuple[tuple[int, str], tuple[int, str]]]
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for column in COUNTS:
            self.values[column] = self.frame[column].to_numpy(dtype=float, na_value=np.nan)

    def value(self, row: int, column: str) -> float:
        """The published value, NaN when withheld."""
        return float(self.values[column][row])

    def hidden(self, row: int, column: str) -> bool:
        return math.isnan(self.value(row, column))


def knowledge(published: pd.DataFrame, *, distribution: bool, share: bool) -> Knowledge:
    frame = published.reset_index(drop=True)
    relations: list[list[tuple[int, str, float]]] = []
    for column in COUNTS:
        for _, g in frame.groupby(["period", "dimension", "dimension_value", "category"]):
            district = g.index[g["ags"] == DISTRICT]
            relations.append([(i, column, -1.0 if i in district else 1.0) for i in g.index])
        for _, g in frame.groupby(["period", "ags", "category"]):
            total = g.index[g["dimension"] == "insgesamt"][0]
            for _dim, parts in g[g["dimension"] != "insgesamt"].groupby("dimension"):
                relations.append([(total, column, -1.0)] + [(i, column, 1.0) for i in parts.index])
    if distribution:
        for _, g in frame.groupby(["period", "ags", "dimension", "dimension_value"]):
            first = g.index[0]
            relations.append(
                [(first, "denominator", -1.0)] + [(i, "numerator", 1.0) for i in g.index]
            )
            for other in g.index[1:]:
                relations.append([(first, "denominator", 1.0), (other, "denominator", -1.0)])
    leq = [((i, "numerator"), (i, "denominator")) for i in frame.index] if share else []
    return Knowledge(frame, relations, leq)


def single_subtraction(kn: Knowledge) -> list[tuple[int, str]]:
    """Withheld cells that are the only unknown of some relation."""
    found = []
    for relation in kn.relations:
        unknown = [(i, c) for i, c, _ in relation if kn.hidden(i, c)]
        if len(unknown) == 1:
            found.append(unknown[0])
    return found


def rate_recoveries(kn: Knowledge) -> list[int]:
    """Rows whose withheld numerator follows from a visible rate and a visible denominator."""
    f = kn.frame
    return list(f.index[f["rate"].notna() & f["numerator"].isna()])


def _constraints(kn: Knowledge) -> tuple[list[tuple[int, str]], list[tuple[dict, float, bool]]]:
    """Withheld cells and the linear constraints on them: (coefs by variable, rhs, equality)."""
    cells = [(i, c) for c in COUNTS for i in kn.frame.index if kn.hidden(i, c)]
    index = {cell: j for j, cell in enumerate(cells)}
    out: list[tuple[dict, float, bool]] = []
    terms = [(r, True) for r in kn.relations] + [
        ([(small[0], small[1], 1.0), (large[0], large[1], -1.0)], False) for small, large in kn.leq
    ]
    for relation, equality in terms:
        coefs: dict[int, float] = {}
        rhs = 0.0
        for i, c, coef in relation:
            if (i, c) in index:
                coefs[index[(i, c)]] = coefs.get(index[(i, c)], 0.0) + coef
            else:
                rhs -= coef * kn.value(i, c)
        if coefs:
            out.append((coefs, rhs, equality))
    return cells, out


def lp_intervals(kn: Knowledge) -> Iterator[tuple[tuple[int, str], float, float]]:
    """(cell, lo, hi) for every withheld cell by linear programming over all knowledge, one
    connected group of withheld cells at a time: exact min and max, or, where vertices already
    showed two integer values, the range seen (inside the feasible one)."""
    linprog = pytest.importorskip("scipy.optimize").linprog
    cells, constraints = _constraints(kn)
    parent = list(range(len(cells)))

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
    for j in range(len(cells)):
        groups.setdefault(root(j), []).append(j)
    for members in groups.values():
        local = {j: n for n, j in enumerate(members)}
        mine = [c for c in constraints if next(iter(c[0])) in local]
        matrices: dict[bool, tuple[list[np.ndarray], list[float]]] = {
            True: ([], []),
            False: ([], []),
        }
        for coefs, rhs, equality in mine:
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
        ) -> tuple[int, float, np.ndarray]:
            res = linprog(
                objective,
                A_eq=np.array(a_eq) if a_eq else None,
                b_eq=b_eq or None,
                A_ub=np.array(a_ub) if a_ub else None,
                b_ub=b_ub or None,
                bounds=(1, None),
                method="highs",
            )
            assert res.status in (0, 3), res.message
            return res.status, res.fun, res.x

        # cheap first: vertices for random objectives; a cell taking two integer values in them
        # is certainly not determined, only the rest needs its exact minimum and maximum
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
            if not math.floor(hi + 1e-6) - math.ceil(lo - 1e-6) >= 1:
                bounds = []
                for sign in (1.0, -1.0):
                    objective = np.zeros(len(members))
                    objective[local[j]] = sign
                    status, fun, _ = solve(objective)
                    bounds.append(-math.inf * sign if status == 3 else sign * fun)
                lo, hi = bounds
            yield cells[j], lo, hi


def feasible(kn: Knowledge, truth: pd.DataFrame) -> bool:
    """The attacker's model is right: the true values satisfy every constraint."""
    cells, constraints = _constraints(kn)
    x = np.array([float(truth[c].to_numpy(dtype=float)[i]) for i, c in cells])
    for coefs, rhs, equality in constraints:
        lhs = sum(coef * x[j] for j, coef in coefs.items())
        if (abs(lhs - rhs) > 1e-6) if equality else (lhs > rhs + 1e-6):
            return False
    return bool((x >= 1).all())


def exactly_recovered(kn: Knowledge) -> list[tuple[int, str]]:
    """Withheld cells with only one integer value in their feasible interval."""
    return [
        cell
        for cell, lo, hi in lp_intervals(kn)
        if math.isfinite(hi) and math.floor(hi + 1e-6) - math.ceil(lo - 1e-6) <= 0
    ]


# --- the tests -------------------------------------------------------------------------------

SHAPES = {"share": (False, True), "distribution": (True, True), "by_category": (False, True)}


@pytest.fixture(scope="module", params=[1, 3])
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
    distribution, share = SHAPES[name]
    kn = knowledge(protected[name][1], distribution=distribution, share=share)
    assert single_subtraction(kn) == []
    assert rate_recoveries(kn) == []


@pytest.mark.parametrize("name", list(SHAPES))
def test_linear_programming_pins_down_no_withheld_cell(
    protected: dict[str, tuple[pd.DataFrame, pd.DataFrame]], name: str
) -> None:
    distribution, share = SHAPES[name]
    raw, published = protected[name]
    kn = knowledge(published, distribution=distribution, share=share)
    assert feasible(kn, raw)
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
    kn = knowledge(naive, distribution=True, share=True)
    assert single_subtraction(kn)


@pytest.mark.parametrize("name", ["distribution", "by_category"])
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
    kn = knowledge(naive, distribution=SHAPES[name][0], share=True)
    assert single_subtraction(kn) == []
    assert exactly_recovered(kn)


# --- the published database ------------------------------------------------------------------


@pytest.fixture(scope="module")
def published_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attack")
    warehouse = root / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    for name, frame in marts(4).items():
        con.register("_frame", frame)
        con.execute(f"create table marts.{name} as select * from _frame")
        con.unregister("_frame")
    con.close()
    out = root / "published.duckdb"
    publish(warehouse, out, k=K, district_ags=DISTRICT, manifest_path=None)
    return out


def test_published_database_withstands_the_attack(published_db: Path) -> None:
    con = duckdb.connect(str(published_db), read_only=True)
    try:
        for name, (distribution, share) in SHAPES.items():
            published = con.execute(f'select * from "{name}"').df()
            for column in COUNTS:
                published[column] = published[column].astype("Float64")
            kn = knowledge(published, distribution=distribution, share=share)
            assert single_subtraction(kn) == [], name
            assert rate_recoveries(kn) == [], name
            assert exactly_recovered(kn) == [], name
    finally:
        con.close()


def test_published_database_has_no_person_column_and_no_small_count(published_db: Path) -> None:
    con = duckdb.connect(str(published_db), read_only=True)
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
