"""Record linkage on pseudonymised encodings: blocking, comparison, scoring, clustering.

Pure numpy on arrays, no database: `kiim.link` loads one period from the warehouse into a
`LinkInput` and stores what comes out; the benchmarks (`kiim.bench_linkage`) and tests call
the same functions. Nothing here ever sees a name or a birth date, only keyed keys, the
Bloom filters (CLK) and generalised attributes. docs/linkage.md explains the choices.

1. **Blocking** (`candidate_pairs`): records sharing a value in a key space (kiim/link_encode.py)
   become candidate pairs; blocks larger than `max_block` are skipped (a key value that many
   records share proposes nothing useful and would cost quadratic time), pairs of the same
   agency are dropped (one record per person in an extract).
2. **Comparison** (`compare`): Dice coefficient of the CLKs plus agreement levels of the
   shared keys, birth year/month, sex, nationality, Gemeinde and AZR key.
3. **Score** (`ScoreModel`): Fellegi–Sunter match weights, m- and u-probabilities estimated
   by EM on the month's candidate pairs, shrunk towards documented defaults (a small month
   cannot produce wild estimates).
4. **Clustering** (`cluster`): accepted pairs are merged strongest first; a merge that would
   put two records of the same agency into one person is refused (this is both the 1:1
   assignment per agency pair and the guard against chaining distinct people).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_MAX_BLOCK = 64
PAIR_CHUNK = 500_000

# Key spaces, in the order of their bit in the pair flags. PRIOR is not a similarity key:
# it marks pairs whose records carried the same person key before (hysteresis, see `decide`).
SPACE_BITS = {"names": 1, "phonetic": 2, "dob_name": 4, "name_dob": 8, "azr": 16, "prior": 32}


@dataclass
class LinkInput:
    """One period's records as linkage sees them; every array has one entry per record.

    Codes are 64-bit integers (keyed keys and categorical attributes hashed once); 0 means
    missing. `keys` maps a key space to a 2-d array (records x columns of that space).
    """

    agency: np.ndarray  # int, index into the period's agency list
    keys: dict[str, np.ndarray]
    clk: np.ndarray  # (n, words) uint64, all zeros = no filter
    sex: np.ndarray
    nationality: np.ndarray
    ags: np.ndarray
    birth_year: np.ndarray  # int, 0 = missing
    birth_month: np.ndarray  # int, 0 = missing
    prior: np.ndarray  # code of the person key the record had before, 0 = new record

    @property
    def n(self) -> int:
        return len(self.agency)


@dataclass
class Pairs:
    """Candidate pairs (i < j) and which key spaces proposed each of them (bit flags)."""

    i: np.ndarray
    j: np.ndarray
    flags: np.ndarray
    skipped_blocks: int = 0

    def __len__(self) -> int:
        return len(self.i)


# ------------------------------------------------------------------------------- blocking


def _block_pairs(values: np.ndarray, rows: np.ndarray, max_block: int) -> tuple:
    """All pairs of rows sharing a value, for blocks of 2..max_block rows; also #skipped."""
    if len(values) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, 0
    order = np.lexsort((rows, values))
    values, rows = values[order], rows[order]
    keep = np.r_[True, (values[1:] != values[:-1]) | (rows[1:] != rows[:-1])]
    values, rows = values[keep], rows[keep]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    skipped = int(np.count_nonzero(sizes > max_block))
    a_parts: list[np.ndarray] = []
    b_parts: list[np.ndarray] = []
    for size in np.unique(sizes[(sizes >= 2) & (sizes <= max_block)]).tolist():
        block_starts = starts[sizes == size]
        members = rows[block_starts[:, None] + np.arange(size)]
        iu, ju = np.triu_indices(size, 1)
        a_parts.append(members[:, iu].ravel())
        b_parts.append(members[:, ju].ravel())
    if not a_parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, skipped
    return np.concatenate(a_parts), np.concatenate(b_parts), skipped


def candidate_pairs(data: LinkInput, *, max_block: int = DEFAULT_MAX_BLOCK) -> Pairs:
    """Pairs of records of different agencies that share a value in any key space."""
    n = data.n
    ids: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    skipped = 0
    spaces = [(s, data.keys[s]) for s in SPACE_BITS if s in data.keys]
    spaces.append(("prior", data.prior[:, None]))
    for space, codes in spaces:
        codes = codes.reshape(n, -1)
        rows = np.repeat(np.arange(n, dtype=np.int64), codes.shape[1])
        values = codes.ravel()
        present = values != 0
        limit = n if space == "prior" else max_block  # a known person is never too big
        a, b, sk = _block_pairs(values[present], rows[present], limit)
        skipped += sk
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        other_agency = data.agency[lo] != data.agency[hi]
        ids.append(lo[other_agency] * n + hi[other_agency])
        flags.append(np.full(int(other_agency.sum()), SPACE_BITS[space], dtype=np.int64))
    all_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    all_flags = np.concatenate(flags) if flags else np.zeros(0, dtype=np.int64)
    if len(all_ids) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty, skipped)
    order = np.argsort(all_ids, kind="stable")
    all_ids, all_flags = all_ids[order], all_flags[order]
    starts = np.flatnonzero(np.r_[True, all_ids[1:] != all_ids[:-1]])
    unique_ids = all_ids[starts]
    merged = np.bitwise_or.reduceat(all_flags, starts)
    return Pairs(unique_ids // n, unique_ids % n, merged, skipped)


# ----------------------------------------------------------------------------- comparison


def dice_pairs(clk: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Dice coefficient of the CLKs of each pair (0 when either filter is empty)."""
    ones = np.bitwise_count(clk).sum(axis=1, dtype=np.int64)
    out = np.empty(len(i), dtype=np.float64)
    for lo in range(0, len(i), PAIR_CHUNK):
        a, b = i[lo : lo + PAIR_CHUNK], j[lo : lo + PAIR_CHUNK]
        both = np.bitwise_count(clk[a] & clk[b]).sum(axis=1, dtype=np.int64)
        total = ones[a] + ones[b]
        empty = (ones[a] == 0) | (ones[b] == 0)
        out[lo : lo + PAIR_CHUNK] = np.where(empty, 0.0, 2.0 * both / np.maximum(total, 1))
    return out


@dataclass(frozen=True)
class Field:
    """One comparison of the score model: its levels (worst first) and default m/u.

    Level -1 means "cannot be compared" (a value is missing) and contributes weight 0.
    """

    name: str
    levels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]


DICE_CUTS = (0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
# Defaults: what the EM estimates start from and are shrunk towards (docs/linkage.md). Dice
# of balanced filters: unrelated records ~0.5-0.65, same birth date and different name
# ~0.65-0.8, the same person with one spelling error ~0.85-0.95, identical input 1.0.
FIELDS: tuple[Field, ...] = (
    Field(
        "dice",
        ("<0,70", "0,70-0,75", "0,75-0,80", "0,80-0,85", "0,85-0,90", "0,90-0,95", ">=0,95"),
        (0.004, 0.004, 0.01, 0.03, 0.07, 0.18, 0.702),
        (0.55, 0.20, 0.12, 0.07, 0.04, 0.015, 0.005),
    ),
    Field(
        "keys",
        ("keiner", "Namen phonetisch", "Namen phonetisch+Jahr", "Geburtsdatum+Name", "exakt"),
        (0.005, 0.02, 0.04, 0.135, 0.80),
        (0.05, 0.30, 0.45, 0.17, 0.03),
    ),
    Field(
        "birth", ("Jahr verschieden", "Jahr gleich", "Jahr+Monat gleich"), (0.02, 0.03, 0.95), (0.3, 0.5, 0.2)
    ),
    Field("sex", ("verschieden", "gleich"), (0.01, 0.99), (0.5, 0.5)),
    Field("nationality", ("verschieden", "gleich"), (0.05, 0.95), (0.5, 0.5)),
    Field("ags", ("verschieden", "gleich"), (0.1, 0.9), (0.7, 0.3)),
    Field("azr", ("verschieden", "gleich"), (0.01, 0.99), (0.995, 0.005)),
)


def _equal_level(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where((a == 0) | (b == 0), -1, (a == b).astype(np.int64))


def compare(data: LinkInput, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Comparison levels (pairs x FIELDS, -1 = missing) and the Dice coefficient per pair."""
    i, j = pairs.i, pairs.j
    dice = dice_pairs(data.clk, i, j)
    levels = np.empty((len(i), len(FIELDS)), dtype=np.int64)
    levels[:, 0] = np.searchsorted(np.array(DICE_CUTS), dice, side="right")
    empty = (data.clk[i] == 0).all(axis=1) | (data.clk[j] == 0).all(axis=1)
    levels[empty, 0] = -1
    f = pairs.flags
    levels[:, 1] = np.select(
        [
            (f & SPACE_BITS["name_dob"]) != 0,
            (f & SPACE_BITS["dob_name"]) != 0,
            (f & SPACE_BITS["phonetic"]) != 0,
            (f & SPACE_BITS["names"]) != 0,
        ],
        [4, 3, 2, 1],
        0,
    )
    by_i, by_j = data.birth_year[i], data.birth_year[j]
    bm_i, bm_j = data.birth_month[i], data.birth_month[j]
    birth = np.where(by_i != by_j, 0, np.where(bm_i == bm_j, 2, 1))
    levels[:, 2] = np.where((by_i == 0) | (by_j == 0), -1, birth)
    levels[:, 3] = _equal_level(data.sex[i], data.sex[j])
    levels[:, 4] = _equal_level(data.nationality[i], data.nationality[j])
    levels[:, 5] = _equal_level(data.ags[i], data.ags[j])
    azr = data.keys.get("azr")
    if azr is None:
        levels[:, 6] = -1
    else:
        levels[:, 6] = _equal_level(azr[i, 0], azr[j, 0])
    return levels, dice


# ---------------------------------------------------------------------------------- score


@dataclass
class ScoreModel:
    """Fellegi–Sunter model: per field and level, m = P(level | match), u = P(level | non-match).

    `fit` estimates m, u and the share of matches among the candidate pairs (`prior`) by EM
    (Winkler 1988) on the distinct comparison patterns. Each estimate is a posterior mean
    with a Dirichlet prior of `strength` pseudo-pairs centred on the defaults, so a month
    with few pairs (or a field that is rarely comparable) stays near the defaults, while a
    district month (hundreds of thousands of pairs) is governed by its own data.
    """

    m: list[np.ndarray] = field(default_factory=lambda: [np.array(f.m) for f in FIELDS])
    u: list[np.ndarray] = field(default_factory=lambda: [np.array(f.u) for f in FIELDS])
    prior: float = 0.5
    iterations: int = 0
    strength: float = 200.0

    def weights(self, levels: np.ndarray) -> np.ndarray:
        """Match weight (log2 odds of a match given the comparison) per row of `levels`."""
        w = np.full(len(levels), np.log2(self.prior / (1.0 - self.prior)))
        for k in range(len(FIELDS)):
            table = np.log2(self.m[k] / self.u[k])
            lv = levels[:, k]
            w += np.where(lv >= 0, table[np.maximum(lv, 0)], 0.0)
        return w

    def fit(self, levels: np.ndarray, *, max_iter: int = 100, tol: float = 1e-7) -> ScoreModel:
        if len(levels) == 0:
            return self
        patterns, counts = np.unique(levels, axis=0, return_counts=True)
        counts = counts.astype(np.float64)
        defaults_m = [np.array(f.m) for f in FIELDS]
        defaults_u = [np.array(f.u) for f in FIELDS]
        for it in range(1, max_iter + 1):
            w = self.weights(patterns)
            g = 1.0 / (1.0 + np.exp2(-np.clip(w, -60, 60)))
            cm, cu = counts * g, counts * (1.0 - g)
            new_m, new_u = [], []
            for k, f in enumerate(FIELDS):
                lv = patterns[:, k]
                ok = lv >= 0
                sm = np.bincount(lv[ok], weights=cm[ok], minlength=len(f.levels))
                su = np.bincount(lv[ok], weights=cu[ok], minlength=len(f.levels))
                a = self.strength
                new_m.append((sm + a * defaults_m[k]) / (sm.sum() + a))
                new_u.append((su + a * defaults_u[k]) / (su.sum() + a))
            total = counts.sum()
            new_prior = float((cm.sum() + self.strength * 0.5) / (total + self.strength))
            change = max(
                abs(new_prior - self.prior),
                *(float(np.abs(x - y).max()) for x, y in zip(new_m, self.m, strict=True)),
                *(float(np.abs(x - y).max()) for x, y in zip(new_u, self.u, strict=True)),
            )
            self.m, self.u, self.prior, self.iterations = new_m, new_u, new_prior, it
            if change < tol:
                break
        return self

    def table(self) -> list[dict[str, object]]:
        """Parameters as rows (field, level, m, u, weight) for the warehouse and the docs."""
        rows: list[dict[str, object]] = []
        for k, f in enumerate(FIELDS):
            for lv, name in enumerate(f.levels):
                rows.append(
                    {
                        "field": f.name,
                        "level": name,
                        "m": float(self.m[k][lv]),
                        "u": float(self.u[k][lv]),
                        "weight": float(np.log2(self.m[k][lv] / self.u[k][lv])),
                    }
                )
        return rows


MATCH_WEIGHT = 0.0  # posterior match probability 0.5
HYSTERESIS = 6.0  # a pair linked last month stays linked down to weight -6 (p ~ 0.016)


def decide(weights: np.ndarray, flags: np.ndarray, *, threshold: float = MATCH_WEIGHT) -> np.ndarray:
    """Accepted pairs: weight above the threshold, lower for pairs linked in an earlier month.

    The lower bar for known links keeps a person's records together when this month's EM
    estimates move a borderline pair a little: without it, person keys would flicker.
    """
    known = (flags & SPACE_BITS["prior"]) != 0
    return weights >= np.where(known, threshold - HYSTERESIS, threshold)


# ----------------------------------------------------------------------------- clustering


def connected_components(n: int, edges_a: np.ndarray, edges_b: np.ndarray) -> np.ndarray:
    """Component label (smallest member index) per node, by vectorised min-label propagation."""
    labels = np.arange(n, dtype=np.int64)
    if len(edges_a) == 0:
        return labels
    while True:
        before = labels.copy()
        m = np.minimum(labels[edges_a], labels[edges_b])
        np.minimum.at(labels, edges_a, m)
        np.minimum.at(labels, edges_b, m)
        labels = labels[labels]  # pointer jumping shortens long chains
        if np.array_equal(labels, before):
            return labels


@dataclass
class Clustering:
    labels: np.ndarray  # per record: smallest record index of its person
    refused: int  # accepted pairs not merged because agencies would repeat
    linked_pairs: int  # pairs that merged two clusters


def cluster(
    agency: np.ndarray, i: np.ndarray, j: np.ndarray, weights: np.ndarray
) -> Clustering:
    """Merge accepted pairs strongest first, never two records of one agency into a person.

    Components without any agency repeated are final as they are (most of them); only the
    others are rebuilt edge by edge in descending weight, which is Kruskal's algorithm with
    the constraint checked on agency sets, i.e. a greedy 1:1 assignment per agency pair that
    also refuses chains (A–B–C with A and C of the same agency).
    """
    n = len(agency)
    labels = connected_components(n, i, j)
    if n == 0 or len(i) == 0:
        return Clustering(labels, 0, 0)
    per_agency = np.unique(np.stack([labels, agency], axis=1), axis=0)
    comp_records = np.bincount(labels, minlength=n)
    comp_agencies = np.bincount(per_agency[:, 0], minlength=n)
    bad = comp_records != comp_agencies  # a component where an agency occurs twice
    refused = 0
    linked = int(np.count_nonzero(~bad[labels[i]]))
    edge_bad = bad[labels[i]]
    if edge_bad.any():
        ei, ej, ew = i[edge_bad], j[edge_bad], weights[edge_bad]
        order = np.lexsort((ej, ei, -ew))
        members = np.flatnonzero(bad[labels])
        parent = {int(r): int(r) for r in members}
        mask = {int(r): 1 << int(agency[r]) for r in members}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in zip(ei[order].tolist(), ej[order].tolist(), strict=True):
            ra, rb = find(a), find(b)
            if ra == rb:
                continue
            if mask[ra] & mask[rb]:
                refused += 1
                continue
            keep, drop = (ra, rb) if ra < rb else (rb, ra)
            parent[drop] = keep
            mask[keep] |= mask[drop]
            linked += 1
        roots = np.array([find(int(r)) for r in members], dtype=np.int64)
        # label = smallest member: roots are the smaller index of every merge, so they are
        labels = labels.copy()
        labels[members] = roots
    return Clustering(labels, refused, linked)


# -------------------------------------------------------------------------------- linking


@dataclass
class LinkResult:
    labels: np.ndarray
    pairs: Pairs
    weights: np.ndarray
    accepted: np.ndarray
    dice: np.ndarray
    model: ScoreModel
    clustering: Clustering


def link_records(
    data: LinkInput,
    *,
    max_block: int = DEFAULT_MAX_BLOCK,
    fit: bool = True,
    threshold: float = MATCH_WEIGHT,
) -> LinkResult:
    """Block, compare, score (EM), decide and cluster one period's records."""
    pairs = candidate_pairs(data, max_block=max_block)
    levels, dice = compare(data, pairs)
    model = ScoreModel()
    if fit:
        model.fit(levels)
    weights = model.weights(levels)
    accepted = decide(weights, pairs.flags, threshold=threshold)
    clustering = cluster(data.agency, pairs.i[accepted], pairs.j[accepted], weights[accepted])
    return LinkResult(clustering.labels, pairs, weights, accepted, dice, model, clustering)


def codes_of(values: Sequence[object] | np.ndarray) -> np.ndarray:
    """Stable 64-bit codes of categorical values (None -> 0), for tests and benchmarks."""
    import pandas as pd

    arr = np.asarray(values, dtype=object)
    out = np.zeros(len(arr), dtype=np.uint64)
    present = np.array([v is not None and v == v for v in arr], dtype=bool)
    if present.any():
        hashed = pd.util.hash_array(arr[present].astype(str).astype(object), categorize=True)
        out[present] = np.where(hashed == 0, 1, hashed)
    return out.view(np.int64)
