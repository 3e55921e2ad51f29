"""Statistical disclosure control for the published marts (DESIGN §7).

Every mart shares one long layout (period, ags, dimension, dimension_value, category,
numerator, denominator, rate), which lets one generic routine protect all of them:

* primary suppression: a count n with 1 <= n < k is withheld; zero stays zero;
* a rate is withheld when its numerator or denominator is;
* secondary suppression: in every additive relation a single withheld cell could be recovered
  by subtraction, so the smallest other non-zero cell of that relation is withheld too, until no
  relation has exactly one withheld cell. The relations are the ones an analyst can read off the
  published tables: Gemeinden -> district; the values of a dimension -> the total row; and, for
  distribution marts (all categories share one denominator and their numerators add up to it),
  the categories -> the denominator. A shared denominator is one number published once per
  category, so it is withheld in all categories or in none;
* audit: the attacker is played before anything leaves. Because "zero stays zero" is public, a
  withheld cell is known to be >= 1, and shares are known to satisfy numerator <= denominator.
  Interval reasoning over all relations with these bounds (iterated to a fixpoint) and exact
  linear algebra (is the cell a linear combination of published values?) find every withheld
  cell that is still determined; one more cell of a relation around it is withheld, and the
  audit repeats until no withheld non-zero cell can be pinned down.

Withheld values are NULL with a flag column, never a magic number.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TOTAL = "insgesamt"
COUNT_COLUMNS = ("numerator", "denominator")
KEY = ["period", "ags", "dimension", "dimension_value", "category"]
GROUP = ["period", "ags", "dimension", "dimension_value"]
MAX_PROPAGATION_ROUNDS = 200
MAX_REPAIR_ROUNDS = 100
MAX_REPAIR_HOPS = 4


@dataclass
class SuppressionStats:
    cells: int = 0
    primary: int = 0
    secondary: int = 0

    def add(self, other: SuppressionStats) -> None:
        self.cells += other.cells
        self.primary += other.primary
        self.secondary += other.secondary


@dataclass(frozen=True)
class CellModel:
    """The published counts as logical cells and the linear facts an analyst knows about them.

    A shared denominator is one logical cell, however many category rows repeat it.
    Relations: sum(coef * value) == 0 over the entries (rel, cell, coef) of each relation id.
    `leq` pairs (numerator cell, denominator cell) hold numerator <= denominator (shares).
    """

    values: np.ndarray
    row_cells: dict[str, np.ndarray]
    rel: np.ndarray
    cell: np.ndarray
    coef: np.ndarray
    leq: tuple[np.ndarray, np.ndarray]


def _additive(
    frame: pd.DataFrame, cells: np.ndarray, district_ags: str, offset: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], int]:
    """Gemeinden -> district and dimension values -> total row, for one count column."""
    rels: list[np.ndarray] = []
    members: list[np.ndarray] = []
    coefs: list[np.ndarray] = []
    if frame.empty:
        return rels, members, coefs, offset
    # 1) per (period, dimension, value, category): district = sum of its Gemeinden
    is_district = (frame["ags"] == district_ags).to_numpy()
    g1 = (
        frame.groupby(["period", "dimension", "dimension_value", "category"], sort=False)
        .ngroup()
        .to_numpy()
    )
    has_district = np.zeros(g1.max() + 1, dtype=bool)
    has_district[g1[is_district]] = True
    keep = has_district[g1]
    rels.append(g1[keep] + offset)
    members.append(cells[keep])
    coefs.append(np.where(is_district[keep], -1.0, 1.0))
    offset += int(g1.max()) + 1
    # 2) per (period, ags, category, dimension): the dimension's values = the total row
    is_total = (frame["dimension"] == TOTAL).to_numpy()
    base = frame.groupby(["period", "ags", "category"], sort=False).ngroup().to_numpy()
    total_cell = np.full(base.max() + 1, -1)
    total_cell[base[is_total]] = cells[is_total]
    parts = ~is_total & (total_cell[base] >= 0)
    if parts.any():
        g2 = (
            frame[parts]
            .groupby(["period", "ags", "category", "dimension"], sort=False)
            .ngroup()
            .to_numpy()
        )
        uniq, first = np.unique(g2, return_index=True)
        rels += [g2 + offset, uniq + offset]
        members += [cells[parts], total_cell[base[parts]][first]]
        coefs += [np.ones(len(g2)), -np.ones(len(uniq))]
        offset += int(g2.max()) + 1
    return rels, members, coefs, offset


def build_cell_model(df: pd.DataFrame, district_ags: str) -> CellModel:
    """Logical cells and every additive relation of one mart in the long layout."""
    n = len(df)
    frame = df.reset_index(drop=True)
    num = np.nan_to_num(frame["numerator"].to_numpy(dtype=float), nan=0.0)
    den = np.nan_to_num(frame["denominator"].to_numpy(dtype=float), nan=0.0)
    group = frame.groupby(GROUP, sort=False).ngroup().to_numpy() if n else np.zeros(0, int)
    n_groups = int(group.max()) + 1 if n else 0
    per_group = frame.groupby(group)
    shared = bool(
        n
        and frame["category"].nunique() > 1
        and (per_group["denominator"].nunique(dropna=False) == 1).all()
    )
    num_cells = np.arange(n)
    if shared:
        den_cells = n + group
        values = np.concatenate([num, np.zeros(n_groups)])
        values[den_cells] = den
        den_rows = ~frame.duplicated(GROUP).to_numpy()
    else:
        den_cells = n + np.arange(n)
        values = np.concatenate([num, den])
        den_rows = np.ones(n, dtype=bool)

    rels, members, coefs, offset = _additive(frame, num_cells, district_ags, 0)
    r, m, c, offset = _additive(frame[den_rows], den_cells[den_rows], district_ags, offset)
    rels, members, coefs = rels + r, members + m, coefs + c
    # 3) distribution marts: the categories' numerators add up to the shared denominator
    if shared and np.allclose(np.bincount(group, weights=num, minlength=n_groups), values[n:]):
        rels += [group + offset, np.arange(n_groups) + offset]
        members += [num_cells, n + np.arange(n_groups)]
        coefs += [np.ones(n), -np.ones(n_groups)]
    is_share = bool(n and (num <= den).all())
    leq = (num_cells, den_cells) if is_share else (np.zeros(0, int), np.zeros(0, int))
    empty = [np.zeros(0)]
    rel = np.concatenate(rels or empty).astype(int)
    _, rel = np.unique(rel, return_inverse=True)
    return CellModel(
        values=values,
        row_cells={"numerator": num_cells, "denominator": den_cells},
        rel=rel.astype(int),
        cell=np.concatenate(members or empty).astype(int),
        coef=np.concatenate(coefs or empty),
        leq=leq,
    )


def _close(mask: np.ndarray, v: np.ndarray, rel: np.ndarray, cell: np.ndarray) -> None:
    """In place: until no relation has exactly one withheld cell, withhold its smallest other
    non-zero cell (vectorised over all relations per round)."""
    if len(rel) == 0:
        return
    n_rel = int(rel.max()) + 1
    while True:
        hidden = np.bincount(rel, weights=mask[cell], minlength=n_rel)
        candidate = (hidden[rel] == 1) & ~mask[cell] & (v[cell] > 0)
        if not candidate.any():
            return
        r, c = rel[candidate], cell[candidate]
        order = np.lexsort((v[c], r))
        r, c = r[order], c[order]
        first = np.r_[True, r[1:] != r[:-1]]
        mask[c[first]] = True


def suppress_counts(
    values: np.ndarray, k: int, relations: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, int, int]:
    """Boolean mask of withheld cells for one count column; (mask, primary, secondary).

    Primary suppression plus the single-cell closure over the given (relation id, cell) arrays.
    """
    v = np.nan_to_num(values.astype(float), nan=0.0)
    mask = (v >= 1) & (v < k)
    primary = int(mask.sum())
    _close(mask, v, *relations)
    return mask, primary, int(mask.sum()) - primary


def interval_bounds(model: CellModel, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What an attacker can bound: [lo, hi] per cell from all relations, withheld cells >= 1,
    numerator <= denominator for shares, integers; iterated to a fixpoint."""
    v = model.values
    lo = np.where(mask, 1.0, v)
    hi = np.where(mask, np.inf, v)
    rel, cell, coef = model.rel, model.cell, model.coef
    if len(rel) == 0:
        return lo, hi
    n_rel = int(rel.max()) + 1
    for _ in range(MAX_PROPAGATION_ROUNDS):
        old_lo, old_hi = lo.copy(), hi.copy()
        # contribution of each entry: coef * x in [cmin, cmax]
        a_lo, a_hi = coef * lo[cell], coef * hi[cell]
        cmin, cmax = np.minimum(a_lo, a_hi), np.maximum(a_lo, a_hi)
        min_inf, max_inf = np.isinf(cmin), np.isinf(cmax)
        smin = np.bincount(rel, weights=np.where(min_inf, 0.0, cmin), minlength=n_rel)
        smax = np.bincount(rel, weights=np.where(max_inf, 0.0, cmax), minlength=n_rel)
        nmin = np.bincount(rel, weights=min_inf, minlength=n_rel)
        nmax = np.bincount(rel, weights=max_inf, minlength=n_rel)
        # the others of an entry: sum in [omin, omax]; coef * x = -(others)
        omin = np.where(nmin[rel] - min_inf > 0, -np.inf, smin[rel] - np.where(min_inf, 0, cmin))
        omax = np.where(nmax[rel] - max_inf > 0, np.inf, smax[rel] - np.where(max_inf, 0, cmax))
        with np.errstate(invalid="ignore"):
            x_lo = np.where(coef > 0, -omax / coef, -omin / coef)
            x_hi = np.where(coef > 0, -omin / coef, -omax / coef)
        np.maximum.at(lo, cell, np.ceil(x_lo - 1e-9))
        np.minimum.at(hi, cell, np.floor(x_hi + 1e-9))
        num_c, den_c = model.leq
        if len(num_c):
            np.minimum.at(hi, num_c, hi[den_c])
            np.maximum.at(lo, den_c, lo[num_c])
        lo = np.where(mask, lo, v)
        hi = np.where(mask, hi, v)
        if np.array_equal(lo, old_lo) and np.array_equal(hi, old_hi):
            break
    return lo, hi


def _components(mask: np.ndarray, rel: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Connected components of withheld cells linked by shared relations (label per cell)."""
    label = np.where(mask, np.arange(len(mask)), -1).astype(float)
    hidden_entry = mask[cell]
    r, c = rel[hidden_entry], cell[hidden_entry]
    if len(r) == 0:
        return label.astype(int)
    n_rel = int(rel.max()) + 1
    while True:
        rel_min = np.full(n_rel, np.inf)
        np.minimum.at(rel_min, r, label[c])
        new = label.copy()
        np.minimum.at(new, c, rel_min[r])
        if np.array_equal(new, label):
            return label.astype(int)
        label = new


def exactly_determined(model: CellModel, mask: np.ndarray) -> np.ndarray:
    """Withheld cells that are a linear combination of published values (equalities only):
    cell i is determined iff the null space of the relations restricted to withheld cells
    vanishes at i. Solved per connected component."""
    out = np.zeros(len(mask), dtype=bool)
    rel, cell, coef = model.rel, model.cell, model.coef
    hidden_entry = mask[cell]
    if not hidden_entry.any():
        return out
    label = _components(mask, rel, cell)
    r, c, a = rel[hidden_entry], cell[hidden_entry], coef[hidden_entry]
    comp_of_entry = label[c]
    order = np.argsort(comp_of_entry, kind="stable")
    r, c, a, comp_of_entry = r[order], c[order], a[order], comp_of_entry[order]
    bounds = np.flatnonzero(np.r_[True, comp_of_entry[1:] != comp_of_entry[:-1], True])
    for start, stop in itertools.pairwise(bounds):
        cr, cc, ca = r[start:stop], c[start:stop], a[start:stop]
        rows, ri = np.unique(cr, return_inverse=True)
        cols, ci = np.unique(cc, return_inverse=True)
        matrix = np.zeros((len(rows), len(cols)))
        np.add.at(matrix, (ri, ci), ca)
        # null space of the relations = eigenvectors of A^T A with eigenvalue 0 (cheaper than a
        # full SVD; a tiny non-zero eigenvalue counted as non-null only makes the audit stricter)
        eigenvalues, eigenvectors = np.linalg.eigh(matrix.T @ matrix)
        null = eigenvectors[:, eigenvalues <= 1e-10 * max(1.0, float(eigenvalues.max()))]
        determined = (
            np.ones(len(cols), dtype=bool)
            if null.shape[1] == 0
            else np.abs(null).max(axis=1) < 1e-7
        )
        out[cols[determined]] = True
    return out


def audit(model: CellModel, mask: np.ndarray) -> np.ndarray:
    """Withheld non-zero cells an attacker can still determine exactly."""
    lo, hi = interval_bounds(model, mask)
    pinned = mask & (lo == hi)
    return pinned | exactly_determined(model, mask)


def protect(model: CellModel, k: int) -> tuple[np.ndarray, int]:
    """Mask of withheld logical cells: primary, closure, audit-and-repair until the audit passes."""
    v = model.values
    mask = (v >= 1) & (v < k)
    primary = int(mask.sum())
    for _ in range(MAX_REPAIR_ROUNDS):
        _close(mask, v, model.rel, model.cell)
        determined = audit(model, mask)
        if not determined.any():
            break
        # withhold the smallest visible non-zero cell of every relation around a determined
        # cell; where those relations have none left, look one relation further out
        n_rel = int(model.rel.max()) + 1
        rel_hit = np.zeros(n_rel, dtype=bool)
        rel_hit[model.rel[determined[model.cell]]] = True
        candidate = np.zeros(len(model.rel), dtype=bool)
        for _ in range(MAX_REPAIR_HOPS):
            candidate = rel_hit[model.rel] & ~mask[model.cell] & (v[model.cell] > 0)
            if candidate.any():
                break
            reached = np.zeros(len(v), dtype=bool)
            reached[model.cell[rel_hit[model.rel]]] = True
            rel_hit[model.rel[reached[model.cell]]] = True
        if not candidate.any():
            log.warning("[kiim] Geheimhaltung: %d Zellen nicht weiter schützbar", determined.sum())
            break
        r, c = model.rel[candidate], model.cell[candidate]
        order = np.lexsort((v[c], r))
        r, c = r[order], c[order]
        mask[c[np.r_[True, r[1:] != r[:-1]]]] = True
    return mask, primary


def apply_disclosure_control(
    df: pd.DataFrame, *, k: int, district_ags: str
) -> tuple[pd.DataFrame, SuppressionStats]:
    """Withhold small counts and everything that would reveal them; returns a new frame."""
    out = df.reset_index(drop=True).copy()
    stats = SuppressionStats(cells=len(out) * len(COUNT_COLUMNS))
    model = build_cell_model(out, district_ags)
    mask, _ = protect(model, k)
    masks = {}
    for col in COUNT_COLUMNS:
        row_mask = mask[model.row_cells[col]]
        values = np.nan_to_num(out[col].to_numpy(dtype=float), nan=0.0)
        primary = int(((values >= 1) & (values < k)).sum())
        masks[col] = row_mask
        stats.primary += primary
        stats.secondary += int(row_mask.sum()) - primary
    rate_mask = masks["numerator"] | masks["denominator"]
    for col in COUNT_COLUMNS:
        out[col] = out[col].astype("Int64").mask(masks[col])
        out[f"{col}_suppressed"] = masks[col]
    out["rate"] = out["rate"].astype("Float64").mask(rate_mask)
    out["rate_suppressed"] = rate_mask
    return out, stats
