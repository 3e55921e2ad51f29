from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from kiim.disclosure import apply_disclosure_control

DISTRICT = "12061000"


def _frame(cells: dict[tuple[str, str], int]) -> pd.DataFrame:
    """Gemeinden x sex numerator table with all margins, denominators large."""
    gemeinden = sorted({g for g, _ in cells})
    sexes = sorted({s for _, s in cells})
    rows = []
    for g, s in cells:
        rows.append((g, "geschlecht", s, cells[(g, s)]))
    for g in gemeinden:
        rows.append((g, "insgesamt", "insgesamt", sum(cells[(g, s)] for s in sexes)))
    for s in sexes:
        rows.append((DISTRICT, "geschlecht", s, sum(cells[(g, s)] for g in gemeinden)))
    rows.append((DISTRICT, "insgesamt", "insgesamt", sum(cells.values())))
    df = pd.DataFrame(rows, columns=["ags", "dimension", "dimension_value", "numerator"])
    df["period"] = "2026-10"
    df["category"] = "insgesamt"
    df["denominator"] = 1000
    df["rate"] = df["numerator"] / 10.0
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
