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


def _relations(df: pd.DataFrame, district_ags: str) -> list[np.ndarray]:
    """Index arrays (into df) of the cells of each additive relation, total first."""
    relations: list[np.ndarray] = []
    pos = pd.Series(np.arange(len(df)), index=df.index)
    # 1) Gemeinden add up to the district, per (period, dimension, value, category)
    is_district = df["ags"] == district_ags
    for _, g in df.groupby(["period", "dimension", "dimension_value", "category"], sort=False):
        total = g.index[is_district.loc[g.index]]
        parts = g.index[~is_district.loc[g.index]]
        if len(total) == 1 and len(parts) > 0:
            relations.append(pos.loc[total.append(parts)].to_numpy())
    # 2) the values of a dimension add up to the total row, per (period, ags, category)
    for _, g in df.groupby(["period", "ags", "category"], sort=False):
        totals = g.index[(g["dimension"] == TOTAL).to_numpy()]
        if len(totals) != 1:
            continue
        for dim, parts in g[g["dimension"] != TOTAL].groupby("dimension", sort=False):
            del dim
            relations.append(pos.loc[totals.append(parts.index)].to_numpy())
    return relations


def suppress_counts(
    values: np.ndarray, k: int, relations: list[np.ndarray]
) -> tuple[np.ndarray, int, int]:
    """Boolean mask of withheld cells for one count column; (mask, primary, secondary)."""
    v = np.nan_to_num(values.astype(float), nan=0.0)
    mask = (v >= 1) & (v < k)
    primary = int(mask.sum())
    changed = True
    while changed:
        changed = False
        for rel in relations:
            hidden = mask[rel]
            if hidden.sum() != 1:
                continue
            candidates = rel[(~hidden) & (v[rel] > 0)]
            if len(candidates) == 0:
                continue  # unreachable: a withheld cell > 0 implies a non-zero total
            pick = candidates[np.argmin(v[candidates])]
            mask[pick] = True
            changed = True
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
