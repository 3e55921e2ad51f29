"""Statistical disclosure control for the published marts (DESIGN §7).

Every mart shares one long layout (period, ags, dimension, dimension_value, category,
numerator, denominator, rate), which lets one generic routine protect all of them:

* primary suppression: a count n with 1 <= n < k is withheld; zero stays zero;
* a rate is withheld when its numerator or denominator is;
* secondary suppression: in every additive relation (Gemeinden -> district; the values of a
  dimension -> the total row) a single withheld cell could be recovered by subtraction, so the
  smallest other non-zero cell of that relation is withheld too, until no relation has exactly
  one withheld cell.

Withheld values are NULL with a flag column, never a magic number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TOTAL = "insgesamt"
COUNT_COLUMNS = ("numerator", "denominator")
KEY = ["period", "ags", "dimension", "dimension_value", "category"]


@dataclass
class SuppressionStats:
    cells: int = 0
    primary: int = 0
    secondary: int = 0

    def add(self, other: SuppressionStats) -> None:
        self.cells += other.cells
        self.primary += other.primary
        self.secondary += other.secondary


def _relations(df: pd.DataFrame, district_ags: str) -> tuple[np.ndarray, np.ndarray]:
    """Membership of cells in additive relations as (relation id, cell index) arrays.

    1) per (period, dimension, value, category): the district row and its Gemeinde rows;
    2) per (period, ags, category, dimension != total): the total row and the dimension's values.
    """
    n = len(df)
    cells = np.arange(n)
    rel_parts: list[np.ndarray] = []
    cell_parts: list[np.ndarray] = []
    offset = 0
    # 1) Gemeinden -> district
    g1 = (
        df.groupby(["period", "dimension", "dimension_value", "category"], sort=False)
        .ngroup()
        .to_numpy()
    )
    has_district = np.zeros(g1.max() + 1 if n else 0, dtype=bool)
    has_district[g1[(df["ags"] == district_ags).to_numpy()]] = True
    keep = has_district[g1]
    rel_parts.append(g1[keep])
    cell_parts.append(cells[keep])
    offset = int(g1.max()) + 1 if n else 0
    # 2) dimension values -> total row of the same (period, ags, category)
    is_total = (df["dimension"] == TOTAL).to_numpy()
    base = df.groupby(["period", "ags", "category"], sort=False).ngroup().to_numpy()
    total_of_base = np.full(base.max() + 1 if n else 0, -1)
    total_of_base[base[is_total]] = cells[is_total]
    parts = ~is_total & (total_of_base[base] >= 0)
    g2 = (
        df[parts]
        .groupby(["period", "ags", "category", "dimension"], sort=False)
        .ngroup()
        .to_numpy()
        + offset
    )
    rel_parts += [g2, np.unique(g2)]
    first_of_rel = pd.Series(cells[parts]).groupby(g2).first().to_numpy()
    cell_parts += [cells[parts], total_of_base[base[first_of_rel]]]
    return np.concatenate(rel_parts), np.concatenate(cell_parts)


def suppress_counts(
    values: np.ndarray, k: int, relations: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, int, int]:
    """Boolean mask of withheld cells for one count column; (mask, primary, secondary).

    Vectorised over all relations at once; each round withholds, in every relation with exactly
    one withheld cell, its smallest other non-zero cell. Rounds repeat until none is left.
    """
    v = np.nan_to_num(values.astype(float), nan=0.0)
    mask = (v >= 1) & (v < k)
    primary = int(mask.sum())
    rel, cell = relations
    if len(rel) == 0:
        return mask, primary, 0
    n_rel = int(rel.max()) + 1
    while True:
        hidden = np.bincount(rel, weights=mask[cell], minlength=n_rel)
        exposed = hidden[rel] == 1
        candidate = exposed & ~mask[cell] & (v[cell] > 0)
        if not candidate.any():
            break
        r, c = rel[candidate], cell[candidate]
        order = np.lexsort((v[c], r))
        r, c = r[order], c[order]
        first = np.r_[True, r[1:] != r[:-1]]
        mask[c[first]] = True
    return mask, primary, int(mask.sum()) - primary


def apply_disclosure_control(
    df: pd.DataFrame, *, k: int, district_ags: str
) -> tuple[pd.DataFrame, SuppressionStats]:
    """Withhold small counts and everything that would reveal them; returns a new frame."""
    out = df.reset_index(drop=True).copy()
    stats = SuppressionStats(cells=len(out) * len(COUNT_COLUMNS))
    relations = _relations(out, district_ags)
    masks = {}
    for col in COUNT_COLUMNS:
        mask, primary, secondary = suppress_counts(out[col].to_numpy(), k, relations)
        masks[col] = mask
        stats.primary += primary
        stats.secondary += secondary
    rate_mask = masks["numerator"] | masks["denominator"]
    for col in COUNT_COLUMNS:
        out[col] = out[col].astype("Int64").mask(masks[col])
        out[f"{col}_suppressed"] = masks[col]
    out["rate"] = out["rate"].astype("Float64").mask(rate_mask)
    out["rate_suppressed"] = rate_mask
    return out, stats
