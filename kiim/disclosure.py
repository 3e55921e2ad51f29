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
* all marts together: the same count is often published in several marts (the foreigners of a
  Gemeinde are the numerator of the Ausländeranteil and the denominator of the status
  distribution and of the counselling rate). Each mart declares in its dbt YAML which
  population each count column counts (`meta.kiim.disclosure`, see `CountDeclaration`); cells
  that count the same people are one cell of one joint model, so a count is withheld in every
  mart or in none, and declared sums across marts (`sum_of`) are relations too;
* audit: the attacker is played before anything leaves, holding every mart at once. Because
  "zero stays zero" is public, a withheld cell is known to be >= 1, and shares are known to
  satisfy numerator <= denominator. Cheap checks first (interval reasoning over all relations,
  iterated to a fixpoint; exact linear algebra: is the cell a linear combination of published
  values?), then the complete one: linear programming per block of linked withheld cells, as
  the attack test does it (is the cell pinned to one integer?). Every determined cell gets one
  more withheld cell in each relation around it (or its visible denominator, where numerator
  == denominator pins it), and the audit repeats until nothing is pinned down. A part that
  could still not be protected is left out of publication (never happened on generated data).

Withheld values are NULL with a flag column, never a magic number.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TOTAL = "insgesamt"
COUNT_COLUMNS = ("numerator", "denominator")
KEY = ["period", "ags", "dimension", "dimension_value", "category"]
GROUP = ["period", "ags", "dimension", "dimension_value"]
# breakdown dimensions of the long layout (besides the total row)
DIMENSIONS = (
    "staatsangehoerigkeitsgruppe",
    "aufenthaltsstatusgruppe",
    "altersgruppe",
    "geschlecht",
)
# `category: shared` in a count declaration: the count is the same for every category
SHARED_CATEGORY = "shared"
# pseudo-dimension under which a category that is no dimension value narrows a population
CATEGORY_QUALIFIER = "kategorie"
MAX_PROPAGATION_ROUNDS = 200
# repair withholds few cells per round once the first rounds are done (a 200k district: ~50)
MAX_REPAIR_ROUNDS = 300


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


def _distinct_rows(matrix: np.ndarray) -> np.ndarray:
    """The distinct rows of `matrix`, found by hashing each row to one number.

    `np.unique(axis=0)` sorts whole rows lexicographically, which took a third of the audit at
    district size (dense components of ~1500 x 1600). Two random projections tell distinct
    rows apart with probability 1; were two distinct rows ever merged, the row space would
    shrink and the audit would find fewer cells determined, so it is checked exactly.
    """
    if len(matrix) < 2:
        return matrix
    rng = np.random.default_rng(0)
    keys = matrix @ rng.random((matrix.shape[1], 2))
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    distinct = matrix[first]
    if not np.array_equal(distinct[inverse.ravel()], matrix):  # pragma: no cover - measure zero
        return np.unique(matrix, axis=0)
    return distinct


def _determined_columns(matrix: np.ndarray) -> np.ndarray:
    """Columns i of A with e_i in the row space of A (x_i fixed by A x = b).

    Via the eigenvectors of A^T A (null space: x_i fixed iff every null vector vanishes at i)
    or, when A has fewer distinct rows than columns, of the smaller A A^T (row space: x_i fixed
    iff e_i's projection onto it has length 1). A tiny non-zero eigenvalue counted as zero
    errs either way; the linear programs of the complete audit catch what this misses.
    """
    matrix = _distinct_rows(matrix)  # the same relation read off several marts
    rows, cols = matrix.shape
    if rows < cols:
        eigenvalues, eigenvectors = np.linalg.eigh(matrix @ matrix.T)
        keep = eigenvalues > 1e-10 * max(1.0, float(eigenvalues.max()))
        basis = matrix.T @ (eigenvectors[:, keep] / np.sqrt(eigenvalues[keep]))
        return np.asarray(1.0 - (basis**2).sum(axis=1) < 1e-9)
    eigenvalues, eigenvectors = np.linalg.eigh(matrix.T @ matrix)
    null = eigenvectors[:, eigenvalues <= 1e-10 * max(1.0, float(eigenvalues.max()))]
    if null.shape[1] == 0:
        return np.ones(cols, dtype=bool)
    return np.asarray(np.abs(null).max(axis=1) < 1e-7)


def exactly_determined(
    model: CellModel, mask: np.ndarray, changed: np.ndarray | None = None
) -> np.ndarray:
    """Withheld cells that are a linear combination of published values (equalities only),
    solved per connected component; with `changed`, only components holding a changed cell
    (the others are as they were at the last audit)."""
    out = np.zeros(len(mask), dtype=bool)
    rel, cell, coef = model.rel, model.cell, model.coef
    hidden_entry = mask[cell]
    if not hidden_entry.any():
        return out
    label = _components(mask, rel, cell)
    r, c, a = rel[hidden_entry], cell[hidden_entry], coef[hidden_entry]
    comp_of_entry = label[c]
    if changed is not None:
        wanted = np.isin(comp_of_entry, label[changed & mask])
        r, c, a, comp_of_entry = r[wanted], c[wanted], a[wanted], comp_of_entry[wanted]
    order = np.argsort(comp_of_entry, kind="stable")
    r, c, a, comp_of_entry = r[order], c[order], a[order], comp_of_entry[order]
    bounds = np.flatnonzero(np.r_[True, comp_of_entry[1:] != comp_of_entry[:-1], True])
    for start, stop in itertools.pairwise(bounds):
        cr, cc, ca = r[start:stop], c[start:stop], a[start:stop]
        rows, ri = np.unique(cr, return_inverse=True)
        cols, ci = np.unique(cc, return_inverse=True)
        matrix = np.zeros((len(rows), len(cols)))
        np.add.at(matrix, (ri, ci), ca)
        out[cols[_determined_columns(matrix)]] = True
    return out


def _block_lp(
    model: CellModel, mask: np.ndarray, cols: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Linear programming over one block of withheld cells: which of them the attacker pins
    to a single integer (the same test the attack test applies).

    A cell is safe once some feasible point differs from the true value by >= 1 in it (the
    attacker's interval then holds two integers). Vertices for a few objectives (push all up,
    random directions) clear most cells at once; the rest get their own maximum and minimum.
    """
    from scipy.optimize import linprog  # SciPy comes with great-expectations (pinned)
    from scipy.sparse import csr_matrix

    v = model.values
    n = len(cols)
    local = np.full(len(v), -1)
    local[cols] = np.arange(n)
    in_block = local[model.cell] >= 0
    rows_hit = np.zeros(int(model.rel.max()) + 1, dtype=bool)
    rows_hit[model.rel[in_block]] = True
    entries = rows_hit[model.rel]
    rel_ids, rel = np.unique(model.rel[entries], return_inverse=True)
    cell, coef = model.cell[entries], model.coef[entries]
    hidden = local[cell] >= 0
    a_eq = csr_matrix((coef[hidden], (rel[hidden], local[cell[hidden]])), shape=(len(rel_ids), n))
    b_eq = -np.bincount(
        rel[~hidden], weights=coef[~hidden] * v[cell[~hidden]], minlength=len(rel_ids)
    )
    lower, upper = np.ones(n), np.full(n, np.inf)
    num_c, den_c = model.leq
    num_in, den_in = local[num_c] >= 0, local[den_c] >= 0
    both = num_in & den_in
    np.minimum.at(upper, local[num_c[num_in & ~mask[den_c]]], v[den_c[num_in & ~mask[den_c]]])
    np.maximum.at(lower, local[den_c[den_in & ~mask[num_c]]], v[num_c[den_in & ~mask[num_c]]])
    k = int(both.sum())
    a_ub = csr_matrix(
        (
            np.r_[np.ones(k), -np.ones(k)],
            (np.r_[np.arange(k), np.arange(k)], np.r_[local[num_c[both]], local[den_c[both]]]),
        ),
        shape=(k, n),
    )
    bounds = np.c_[lower, upper]
    truth = v[cols]
    safe = np.zeros(n, dtype=bool)

    # certificates only need a step of 1: a box around the true values keeps those linear
    # programs bounded (and small steps are all they look for)
    box = np.c_[np.maximum(lower, truth - 1), np.minimum(upper, truth + 1)]

    def vertex(
        objective: np.ndarray, presolve: bool = True, boxed: bool = False
    ) -> np.ndarray | None:
        res = linprog(
            objective,
            A_eq=a_eq if a_eq.shape[0] else None,
            b_eq=b_eq if a_eq.shape[0] else None,
            A_ub=a_ub if k else None,
            b_ub=np.zeros(k) if k else None,
            bounds=box if boxed else bounds,
            method="highs",
            options={"presolve": presolve},
        )
        if res.status == 3:  # unbounded: the attacker cannot cap this direction
            return None
        if res.status == 2 and presolve:
            # HiGHS' presolve reports "infeasible or unbounded" as infeasible; the true values
            # are feasible, so solve once more without it to tell which
            return vertex(objective, presolve=False, boxed=boxed)
        if res.status != 0:
            raise RuntimeError(f"disclosure audit: linear program failed ({res.message})")
        return np.asarray(res.x)

    def certify(objective: np.ndarray) -> int:
        """Solve in the box; return how many more cells the vertex shows to be safe."""
        before = int(safe.sum())
        x = vertex(objective, boxed=True)
        if x is not None:
            safe[np.abs(x - truth) >= 1 - 1e-6] = True
        return int(safe.sum()) - before

    # push the cells not yet shown safe up together, then down together, while that helps
    for sign, movable in ((-1.0, truth >= 1), (1.0, truth >= 2)):
        while (todo := ~safe & movable).any() and certify(sign * todo):
            pass
    for _ in range(2):
        if (~safe).any():
            certify(rng.normal(size=n))
    # the rest one by one, without the box: its own maximum and minimum
    for j in np.flatnonzero(~safe):
        if safe[j]:
            continue
        for sign in (-1.0, 1.0):
            objective = np.zeros(n)
            objective[j] = sign  # -1: maximise x_j, +1: minimise it
            x = vertex(objective)
            if x is None:
                safe[j] = True
                break
            safe |= np.abs(x - truth) >= 1 - 1e-6
            if safe[j]:
                break
    out = np.zeros(len(v), dtype=bool)
    out[cols[~safe]] = True
    return out


def lp_determined(model: CellModel, mask: np.ndarray) -> np.ndarray:
    """Withheld cells the linear-programming attacker pins to one integer, block by block.

    Interval propagation works one relation at a time and linear algebra on equalities only;
    an attacker combining several relations with "every withheld cell is >= 1" gets further
    (three withheld cells whose sum comes out as 3 are 1 each, although no single relation
    says so). This is the complete check; it runs once the cheap ones are clean.
    """
    out = np.zeros(len(mask), dtype=bool)
    if not mask.any() or len(model.rel) == 0:
        return out
    label = _blocks(model, mask)
    order = np.argsort(label, kind="stable")
    order = order[mask[order]]
    bounds = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1], True])
    rng = np.random.default_rng(0)
    for start, stop in itertools.pairwise(bounds):
        out |= _block_lp(model, mask, order[start:stop], rng)
    return out


def audit(
    model: CellModel,
    mask: np.ndarray,
    *,
    complete: bool = True,
    changed: np.ndarray | None = None,
) -> np.ndarray:
    """Withheld non-zero cells an attacker can still determine exactly.

    The cheap checks (intervals, linear algebra) first; only when they find nothing, and
    `complete` is set, the linear programs. `changed`: see `exactly_determined`."""
    lo, hi = interval_bounds(model, mask)
    determined = (mask & (lo == hi)) | exactly_determined(model, mask, changed)
    if determined.any() or not complete:
        return determined
    return lp_determined(model, mask)


def _links(model: CellModel, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relations plus the selected numerator <= denominator pairs as one membership list
    (link id, cell): the neighbourhood in which repair looks for a cell to withhold."""
    num_c, den_c = model.leq
    n_rel = int(model.rel.max()) + 1 if len(model.rel) else 0
    ids = n_rel + np.arange(int(pairs.sum()))
    return (
        np.concatenate([model.rel, ids, ids]).astype(int),
        np.concatenate([model.cell, num_c[pairs], den_c[pairs]]).astype(int),
    )


def _repair_cells(model: CellModel, mask: np.ndarray, determined: np.ndarray) -> np.ndarray:
    """Cells to withhold so that the determined cells lose what pins them (empty: none left).

    The smallest visible non-zero cell of every link around a determined cell; where those
    links have none left, the smallest cell of the nearest ring further out that has one,
    one cell per determined cell (see `_nearest_smallest`). Links are the additive relations and those numerator <= denominator pairs
    with numerator == denominator: only such a pair can pin a cell through the bound (a visible
    denominator of 5 and a numerator that must be >= 5 give it away), and a relation-only
    search never reaches that denominator. If even that finds nothing, every such pair is
    followed as a last step.
    """
    v = model.values
    num_c, den_c = model.leq
    tight = v[num_c] == v[den_c]
    for pairs in (tight, np.ones(len(num_c), dtype=bool)):
        link, cell = _links(model, pairs)
        if len(link) == 0:
            continue
        hit = np.zeros(int(link.max()) + 1, dtype=bool)
        hit[link[determined[cell]]] = True
        candidate = hit[link] & ~mask[cell] & (v[cell] > 0)
        if candidate.any():
            r, c = link[candidate], cell[candidate]
            order = np.lexsort((v[c], r))
            r, c = r[order], c[order]
            return np.unique(c[np.r_[True, r[1:] != r[:-1]]])
        # nothing visible next to them: per determined cell, the smallest cell of the nearest
        # ring further out. One cell each, not one per link of that ring: two links out is
        # already a whole breakdown of the district, and withholding a cell in each of its
        # links took district totals (measured: DaZ phases and Duldung of a 200k district);
        # if one cell is not enough, the next audit says so and the search goes on.
        found = [
            _nearest_smallest(link, cell, v, mask, int(seed)) for seed in np.flatnonzero(determined)
        ]
        chosen = np.unique([c for c in found if c >= 0]).astype(int)
        if len(chosen):
            return chosen
    return np.zeros(0, dtype=int)


def _nearest_smallest(
    link: np.ndarray, cell: np.ndarray, v: np.ndarray, mask: np.ndarray, seed: int
) -> int:
    """The smallest visible non-zero cell in the nearest ring of links around `seed` that has
    one (-1: none in its connected part)."""
    hit = np.zeros(int(link.max()) + 1, dtype=bool)
    hit[link[cell == seed]] = True
    while True:
        reached = np.zeros(len(v), dtype=bool)
        reached[cell[hit[link]]] = True
        grown = hit.copy()
        grown[link[reached[cell]]] = True
        if np.array_equal(grown, hit):
            return -1
        # the links searched before had no candidate, so any found is in the new ring
        candidate = grown[link] & ~mask[cell] & (v[cell] > 0)
        if candidate.any():
            c = cell[candidate]
            return int(c[np.argmin(v[c])])
        hit = grown


def _component(model: CellModel, seed: np.ndarray) -> np.ndarray:
    """All cells linked to the seed cells by relations or numerator <= denominator pairs."""
    link, cell = _links(model, np.ones(len(model.leq[0]), dtype=bool))
    reached = seed.copy()
    if len(link) == 0:
        return reached
    while True:
        hit = np.zeros(int(link.max()) + 1, dtype=bool)
        hit[link[reached[cell]]] = True
        grown = reached.copy()
        grown[cell[hit[link]]] = True
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def _submodel(model: CellModel, region: np.ndarray) -> tuple[CellModel, np.ndarray]:
    """The part of the model an attacker uses for the withheld cells in `region`: every
    relation and numerator <= denominator pair touching them, with all their cells (visible
    ones as constants). Returns the sub-model and the original index of each of its cells."""
    n_rel = int(model.rel.max()) + 1 if len(model.rel) else 0
    touched = np.zeros(n_rel, dtype=bool)
    touched[model.rel[region[model.cell]]] = True
    entries = touched[model.rel]
    num_c, den_c = model.leq
    pairs = region[num_c] | region[den_c]
    keep = region.copy()
    keep[model.cell[entries]] = True
    keep[num_c[pairs]] = True
    keep[den_c[pairs]] = True
    index = np.flatnonzero(keep)
    local = np.full(len(model.values), -1)
    local[index] = np.arange(len(index))
    _, rel = np.unique(model.rel[entries], return_inverse=True)
    sub = CellModel(
        values=model.values[index],
        row_cells={},
        rel=rel.astype(int),
        cell=local[model.cell[entries]],
        coef=model.coef[entries],
        leq=(local[num_c[pairs]], local[den_c[pairs]]),
    )
    return sub, index


def _blocks(model: CellModel, mask: np.ndarray) -> np.ndarray:
    """Label per withheld cell: withheld cells linked by a relation or a numerator <=
    denominator pair form one block, and blocks are audited independently."""
    link, cell = _links(model, np.ones(len(model.leq[0]), dtype=bool))
    return _components(mask, link, cell)


def _audit_region(model: CellModel, mask: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """`audit` limited to the blocks holding a changed cell: the others saw no new withheld
    cell in any of their relations, so their earlier (clean) audit still holds."""
    label = _blocks(model, mask)
    hit = np.unique(label[changed & mask])
    region = mask & np.isin(label, hit)
    out = np.zeros(len(mask), dtype=bool)
    if not region.any():
        return out
    sub, index = _submodel(model, region)
    out[index] = audit(sub, mask[index], changed=changed[index])
    return out


@dataclass
class Protection:
    """Outcome of `protect`: withheld logical cells, how many of them were primary, and the
    cells of any part that could not be protected by withholding and is not published."""

    mask: np.ndarray
    primary: int
    dropped: np.ndarray


def protect(model: CellModel, k: int, *, max_repair_rounds: int = MAX_REPAIR_ROUNDS) -> Protection:
    """Primary, closure, audit-and-repair until the audit passes.

    After the first round only the blocks that got a new withheld cell are audited again (the
    others cannot have changed); the cheap checks on the whole model confirm the end result as
    a guard against a bookkeeping error. Repair always finds a cell while the audit finds
    something: a pinned cell needs a visible non-zero number somewhere in its connected part
    (with only zeros and withheld cells visible, the constraints are homogeneous, and doubling
    every withheld value gives another solution, so nothing is pinned). Should the rounds run
    out regardless, the connected part of the still determined cells is dropped from
    publication, never published as it is.
    """
    v = model.values
    mask = (v >= 1) & (v < k)
    primary = int(mask.sum())
    dropped = np.zeros(len(v), dtype=bool)
    changed = np.ones(len(v), dtype=bool)
    determined = np.zeros(len(v), dtype=bool)
    for _ in range(max_repair_rounds):
        before = mask.copy()
        _close(mask, v, model.rel, model.cell)
        changed |= mask & ~before
        determined = _audit_region(model, mask, changed)
        if not determined.any():
            # the blocks audited completely were the only ones that changed; the cheap checks
            # on the whole model confirm that nothing else did
            determined = audit(model, mask, complete=False)
            if not determined.any():
                return Protection(mask, primary, dropped)
        more = _repair_cells(model, mask, determined)
        if len(more) == 0:
            break
        changed = np.zeros(len(v), dtype=bool)
        changed[more] = True
        mask[more] = True
    else:
        _close(mask, v, model.rel, model.cell)
        determined = audit(model, mask)
        if not determined.any():
            return Protection(mask, primary, dropped)
    dropped = _component(model, determined)
    mask |= dropped & (v > 0)
    log.warning(
        "[kiim] Geheimhaltung: %d Zellen nicht schützbar; ihr Zusammenhang (%d Zellen) wird "
        "nicht veröffentlicht",
        int(determined.sum()),
        int(dropped.sum()),
    )
    return Protection(mask, primary, dropped)


# --- counts shared between marts ---------------------------------------------------------------


class DisclosureConfigError(ValueError):
    """A mart's `meta.kiim.disclosure` declaration cannot be used; the text names mart and key."""


@dataclass(frozen=True)
class CountDeclaration:
    """Which population one count column of a mart counts (`meta.kiim.disclosure.<column>`).

    Two cells of any marts are the same number when population, period, AGS and the resulting
    set of dimension constraints agree. The constraints of a cell are the column's `restrict`
    (the mart's own universe, e.g. residents below 67), the row's dimension value and, per
    `category`: a dimension name (the category is a value of that dimension), `shared` (the
    count does not depend on the category: a distribution's denominator) or nothing (the
    category is a qualifier of its own; `insgesamt` adds none). `sum_of` names populations that
    add up to this one cell by cell (e.g. foreigners at the start of the month = foreigners at
    its end + naturalisations in it), which an analyst can use as an equation.
    """

    population: str
    restrict: tuple[tuple[str, frozenset[str]], ...] = ()
    category: str | None = None
    sum_of: tuple[str, ...] = ()

    @classmethod
    def from_meta(cls, mart: str, column: str, meta: object) -> CountDeclaration:
        where = f"{mart}: meta.kiim.disclosure.{column}"
        if not isinstance(meta, dict):
            raise DisclosureConfigError(f"{where} must be a mapping with 'population'")
        unknown = set(meta) - {"population", "restrict", "category", "sum_of"}
        if unknown:
            raise DisclosureConfigError(f"{where}: unknown keys {sorted(unknown)}")
        population = meta.get("population")
        if not isinstance(population, str) or not population:
            raise DisclosureConfigError(f"{where}.population must be a non-empty name")
        restrict = meta.get("restrict") or {}
        if not isinstance(restrict, dict) or not all(
            d in DIMENSIONS and isinstance(vals, list) and vals for d, vals in restrict.items()
        ):
            raise DisclosureConfigError(
                f"{where}.restrict must map dimensions {list(DIMENSIONS)} to value lists"
            )
        category = meta.get("category")
        if category is not None and category != SHARED_CATEGORY and category not in DIMENSIONS:
            raise DisclosureConfigError(
                f"{where}.category must be '{SHARED_CATEGORY}' or one of {list(DIMENSIONS)}"
            )
        sum_of = meta.get("sum_of") or []
        if not isinstance(sum_of, list) or not all(isinstance(q, str) for q in sum_of):
            raise DisclosureConfigError(f"{where}.sum_of must be a list of population names")
        return cls(
            population=population,
            restrict=tuple(sorted((d, frozenset(map(str, vals))) for d, vals in restrict.items())),
            category=category,
            sum_of=tuple(sum_of),
        )

    def constraints(self, dimension: str, value: str, category: str, shared: bool) -> str | None:
        """Canonical text of the dimension constraints of one cell; None for an empty set
        (the row's value lies outside `restrict`, so the count is zero by definition)."""
        allowed = dict(self.restrict)
        narrow: list[tuple[str, str]] = []
        if dimension != TOTAL:
            narrow.append((dimension, value))
        if not shared and self.category != SHARED_CATEGORY and category != TOTAL:
            narrow.append((self.category or CATEGORY_QUALIFIER, category))
        for dim, val in narrow:
            if val not in allowed.get(dim, {val}):
                return None
            allowed[dim] = frozenset({val})
        return "|".join(f"{d}={','.join(sorted(vals))}" for d, vals in sorted(allowed.items()))


def declarations_from_manifest(manifest: dict) -> dict[str, dict[str, CountDeclaration]]:
    """Count declarations of every model in a dbt manifest that has `meta.kiim.disclosure`."""
    out: dict[str, dict[str, CountDeclaration]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        kiim = ((node.get("config") or {}).get("meta") or {}).get("kiim") or {}
        block = kiim.get("disclosure")
        if block is None:
            continue
        name = node["name"]
        if not isinstance(block, dict) or set(block) - set(COUNT_COLUMNS):
            raise DisclosureConfigError(
                f"{name}: meta.kiim.disclosure may only declare {list(COUNT_COLUMNS)}"
            )
        out[name] = {
            col: CountDeclaration.from_meta(name, col, meta) for col, meta in block.items()
        }
    return out


@dataclass(frozen=True)
class JointModel:
    """The cell models of all marts as one: a count published in several marts is one cell.

    `row_cells[mart][column]` is the joint cell of every row; `shared` counts the joint cells
    published in more than one mart; `equations` the cross-mart sums (`sum_of`) added.
    """

    model: CellModel
    row_cells: dict[str, dict[str, np.ndarray]]
    shared: int
    equations: int


def _keys(
    mart: str,
    frame: pd.DataFrame,
    model: CellModel,
    declarations: dict[str, CountDeclaration],
    offset: int,
) -> list[pd.DataFrame]:
    """(population, constraints, period, ags, joint cell, value) of every logical cell of the
    declared count columns; cells outside the declaration's `restrict` are left out."""
    out = []
    for column, decl in declarations.items():
        cells, rows = np.unique(model.row_cells[column], return_index=True)
        shared = len(cells) < len(frame)
        sub = frame.iloc[rows]
        combos = sub[["dimension", "dimension_value", "category"]].drop_duplicates()
        text = {
            (d, val, c): decl.constraints(d, val, c, shared)
            for d, val, c in combos.itertuples(index=False)
        }
        constraints = [
            text[t]
            for t in zip(sub["dimension"], sub["dimension_value"], sub["category"], strict=True)
        ]
        keyed = pd.DataFrame(
            {
                "population": decl.population,
                "constraints": constraints,
                "period": sub["period"].astype(str).to_numpy(),
                "ags": sub["ags"].astype(str).to_numpy(),
                "cell": cells + offset,
                "value": model.values[cells],
                "mart": mart,
                "sum_of": ",".join(decl.sum_of),
            }
        )
        out.append(keyed[keyed["constraints"].notna()])
    return out


def build_joint_model(
    frames: dict[str, pd.DataFrame],
    declarations: dict[str, dict[str, CountDeclaration]],
    district_ags: str,
) -> JointModel:
    """One cell model over all marts: cells declared to count the same population in the same
    breakdown are merged (where their values agree), and declared sums become equations."""
    models = {m: build_cell_model(f, district_ags) for m, f in frames.items()}
    values, rels, cells, coefs, leq_num, leq_den, keyed = [], [], [], [], [], [], []
    cell_offset = rel_offset = 0
    offsets = {}
    for mart, model in models.items():
        residual = np.bincount(model.rel, weights=model.coef * model.values[model.cell])
        if (np.abs(residual) > 1e-9).any():
            # dbt's tests (district_is_sum_of_gemeinden, dimension_values_sum_to_total) keep
            # this from happening; protecting a table that breaks its own sums would be guesswork
            raise ValueError(
                f"mart '{mart}': {int((np.abs(residual) > 1e-9).sum())} additive relations "
                "(district = sum of Gemeinden, total = sum of a dimension) do not hold"
            )
        offsets[mart] = cell_offset
        values.append(model.values)
        rels.append(model.rel + rel_offset)
        cells.append(model.cell + cell_offset)
        coefs.append(model.coef)
        leq_num.append(model.leq[0] + cell_offset)
        leq_den.append(model.leq[1] + cell_offset)
        keyed += _keys(mart, frames[mart], model, declarations.get(mart, {}), cell_offset)
        cell_offset += len(model.values)
        rel_offset += int(model.rel.max()) + 1 if len(model.rel) else 0
    all_values = np.concatenate(values) if values else np.zeros(0)
    parent = np.arange(len(all_values))
    shared = equations = 0
    if keyed:
        keys = pd.concat(keyed, ignore_index=True)
        group = keys.groupby(["population", "constraints", "period", "ags"], sort=False)
        gid = group.ngroup().to_numpy()
        first = group["cell"].transform("min").to_numpy()
        agree = (group["value"].transform("nunique") == 1).to_numpy()
        multi = (group["cell"].transform("size") > 1).to_numpy()
        conflict = multi & ~agree
        if conflict.any():
            log.warning(
                "[kiim] Geheimhaltung: %d als gleich deklarierte Zählungen stimmen nicht überein "
                "(Populationen %s); sie werden getrennt geschützt",
                int(conflict.sum()),
                sorted(set(keys.loc[conflict, "population"])),
            )
        parent[keys["cell"].to_numpy()[agree]] = first[agree]
        shared = len(np.unique(gid[multi & agree]))
        # declared sums: one equation per cell of the whole whose parts are all published
        wholes = keys[keys["sum_of"] != ""].drop_duplicates(
            ["population", "constraints", "period", "ags"]
        )
        lookup = keys.drop_duplicates(["population", "constraints", "period", "ags"]).set_index(
            ["population", "constraints", "period", "ags"]
        )["cell"]
        for pop_sum, part_frame in wholes.groupby("sum_of", sort=False):
            parts = str(pop_sum).split(",")
            idx = [
                pd.MultiIndex.from_arrays(
                    [
                        np.full(len(part_frame), p, dtype=object),
                        part_frame["constraints"],
                        part_frame["period"],
                        part_frame["ags"],
                    ]
                )
                for p in parts
            ]
            found = np.all([ix.isin(lookup.index) for ix in idx], axis=0)
            if not found.any():
                continue
            whole_cells = parent[part_frame["cell"].to_numpy()[found]]
            part_cells = [parent[lookup.loc[ix[found]].to_numpy()] for ix in idx]
            holds = all_values[whole_cells] == np.sum([all_values[c] for c in part_cells], axis=0)
            if not holds.all():
                log.warning(
                    "[kiim] Geheimhaltung: %d deklarierte Summen gelten nicht und werden nicht "
                    "verwendet",
                    int((~holds).sum()),
                )
            n = int(holds.sum())
            ids = rel_offset + np.arange(n)
            rels += [ids] + [ids] * len(parts)
            cells += [whole_cells[holds]] + [c[holds] for c in part_cells]
            coefs += [-np.ones(n)] + [np.ones(n)] * len(parts)
            rel_offset += n
            equations += n
    # compact: one joint cell per group of merged cells
    roots, joint = np.unique(parent, return_inverse=True)
    rel = np.concatenate(rels).astype(int) if rels else np.zeros(0, int)
    cell = joint[np.concatenate(cells).astype(int)] if cells else np.zeros(0, int)
    coef = np.concatenate(coefs) if coefs else np.zeros(0)
    # a cell met twice in one relation (the same count reached twice) is one term
    if len(rel):
        n_joint = len(roots)
        pair, inverse = np.unique(rel.astype(np.int64) * n_joint + cell, return_inverse=True)
        summed = np.bincount(inverse, weights=coef, minlength=len(pair))
        keep = summed != 0
        _, rel = np.unique(pair[keep] // n_joint, return_inverse=True)
        cell, coef = pair[keep] % n_joint, summed[keep]
    row_cells = {
        mart: {col: joint[model.row_cells[col] + offsets[mart]] for col in COUNT_COLUMNS}
        for mart, model in models.items()
    }
    leq = (
        joint[np.concatenate(leq_num).astype(int)] if leq_num else np.zeros(0, int),
        joint[np.concatenate(leq_den).astype(int)] if leq_den else np.zeros(0, int),
    )
    model = CellModel(
        values=all_values[roots],
        row_cells={},
        rel=rel.astype(int),
        cell=cell.astype(int),
        coef=coef.astype(float),
        leq=leq,
    )
    return JointModel(model=model, row_cells=row_cells, shared=shared, equations=equations)


@dataclass
class JointResult:
    """Protected marts (withheld values NULL, flag columns), per-mart statistics and what the
    joint model found: cells shared between marts, cross-mart equations, dropped rows."""

    frames: dict[str, pd.DataFrame]
    stats: dict[str, SuppressionStats]
    shared_cells: int = 0
    equations: int = 0
    dropped_rows: dict[str, int] = field(default_factory=dict)


def protect_marts(
    frames: dict[str, pd.DataFrame],
    *,
    k: int,
    district_ags: str,
    declarations: dict[str, dict[str, CountDeclaration]] | None = None,
    max_repair_rounds: int = MAX_REPAIR_ROUNDS,
) -> JointResult:
    """Disclosure control of all marts together, so a count withheld in one mart is withheld in
    every mart that publishes it, and the audit plays an attacker holding all marts at once."""
    frames = {m: f.reset_index(drop=True) for m, f in frames.items()}
    joint = build_joint_model(frames, declarations or {}, district_ags)
    protection = protect(joint.model, k, max_repair_rounds=max_repair_rounds)
    result = JointResult(frames={}, stats={}, shared_cells=joint.shared, equations=joint.equations)
    for mart, frame in frames.items():
        out = frame.copy()
        stats = SuppressionStats(cells=len(out) * len(COUNT_COLUMNS))
        masks: dict[str, np.ndarray] = {}
        dropped = np.zeros(len(out), dtype=bool)
        for col in COUNT_COLUMNS:
            cells = joint.row_cells[mart][col]
            masks[col] = protection.mask[cells]
            dropped |= protection.dropped[cells]
            values = np.nan_to_num(out[col].to_numpy(dtype=float), nan=0.0)
            primary = int(((values >= 1) & (values < k)).sum())
            stats.primary += primary
            stats.secondary += int(masks[col].sum()) - primary
        rate_mask = masks["numerator"] | masks["denominator"]
        for col in COUNT_COLUMNS:
            out[col] = out[col].astype("Int64").mask(masks[col])
            out[f"{col}_suppressed"] = masks[col]
        out["rate"] = out["rate"].astype("Float64").mask(rate_mask)
        out["rate_suppressed"] = rate_mask
        if dropped.any():
            result.dropped_rows[mart] = int(dropped.sum())
            out = out[~dropped].reset_index(drop=True)
        result.frames[mart] = out
        result.stats[mart] = stats
    return result


def apply_disclosure_control(
    df: pd.DataFrame, *, k: int, district_ags: str
) -> tuple[pd.DataFrame, SuppressionStats]:
    """Withhold small counts and everything that would reveal them in one mart on its own."""
    result = protect_marts({"mart": df}, k=k, district_ags=district_ags)
    return result.frames["mart"], result.stats["mart"]
