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
   shared keys, birth year/month, sex, nationality, Gemeinde and AZR key, and, where both
   records carry an address, the Dice of the address filters or the same household key.
3. **Score** (`ScoreModel`, `decide`): Fellegi–Sunter match weights, m- and u-probabilities
   estimated by EM on the month's candidate pairs, shrunk towards documented defaults (a small
   month cannot produce wild estimates); hard plausibility rules (`plausible`: date typos only
   with an agreeing address), the look-alike guard (`look_alike_guard`: twins, father and son,
   household members link only when no look-alike is in view) and a lower bar for pairs
   linked last month (hysteresis).
4. **Clustering** (`cluster`): accepted pairs are merged strongest first; a merge that would
   put two records of the same agency into one person is refused (this is both the 1:1
   assignment per agency pair and the guard against chaining distinct people).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_MAX_BLOCK = 64
PAIR_CHUNK = 500_000

# Key spaces, in the order of their bit in the pair flags. PRIOR is not a similarity key:
# it marks pairs whose records carried the same person key before (hysteresis, see `decide`).
SPACE_BITS = {
    "names": 1,
    "phonetic": 2,
    "dob_name": 4,
    "name_dob": 8,
    "azr": 16,
    "prior": 32,
    "address": 64,
    "building": 128,
}


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
    clk_address: np.ndarray | None = None  # (n, words) uint64 address filter, zeros = none

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
    i, j = unique_ids // n, unique_ids % n
    # pairs proposed only by the name key (no date) whose birth years are known and differ
    # are namesakes (refused by `plausible`) or father and son, unless both records carry an
    # address and the years are close (a date typo): drop the others before the costly
    # comparison (at 200 000 persons 85 % of all pairs; a generation-apart pair of one person
    # is still compared when a date or address key proposes it)
    only_names = (merged & ~(SPACE_BITS["names"] | SPACE_BITS["prior"])) == 0
    by_i, by_j = data.birth_year[i], data.birth_year[j]
    hopeless = only_names & (by_i != 0) & (by_j != 0) & (by_i != by_j)
    if data.clk_address is not None:
        has_address = np.asarray(data.clk_address.any(axis=1), dtype=bool)
        typo = has_address[i] & has_address[j] & (np.abs(by_i - by_j) < GENERATION_GAP)
        hopeless &= ~typo
    keep = ~hopeless
    return Pairs(i[keep], j[keep], merged[keep], skipped)


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
DICE_LEVELS = ("<0,70", "0,70-0,75", "0,75-0,80", "0,80-0,85", "0,85-0,90", "0,90-0,95", ">=0,95")
# The address filter has fewer tokens and no salt: unrelated addresses score ~0.5.
ADDRESS_DICE_CUTS = (0.60, 0.70, 0.80, 0.90, 0.95)
ADDRESS_DICE_LEVELS = ("<0,60", "0,60-0,70", "0,70-0,80", "0,80-0,90", "0,90-0,95", ">=0,95")

# What the shared keys say, worst first (`_evidence`), with the defaults of the score model
# (docs/linkage.md): P(level | match), P(level | non-match) among candidate pairs, and per
# level P(Dice bin | match), P(Dice bin | non-match). Derived from the generator's error
# model and the Dice values of balanced, birth-year-salted filters: unrelated ~0.5-0.65;
# same names with another birth year <0.70 (salt); twins (family name and date agree) and
# namesakes with the same year ~0.75-0.95; the same person with one spelling error
# ~0.85-0.97. From EV_FAMILY_ONLY on the birth date agrees (day and month in either order).
_EVIDENCE: tuple[tuple[str, float, float, tuple[float, ...], tuple[float, ...]], ...] = (
    (
        "kein Namensschlüssel",
        0.001,
        0.02,
        (0.30, 0.10, 0.10, 0.10, 0.10, 0.15, 0.15),
        (0.70, 0.10, 0.08, 0.05, 0.03, 0.02, 0.02),
    ),
    (
        "Namen phonetisch, Geburtsjahre 15 und mehr Jahre auseinander",
        0.001,
        0.75,
        (0.80, 0.05, 0.05, 0.03, 0.03, 0.02, 0.02),
        (0.99, 0.004, 0.002, 0.001, 0.001, 0.001, 0.001),
    ),
    (
        "Namen phonetisch, Geburtsjahre 1 bis 14 Jahre auseinander",
        0.002,
        0.05,
        (0.80, 0.05, 0.05, 0.03, 0.03, 0.02, 0.02),
        (0.99, 0.004, 0.002, 0.001, 0.001, 0.001, 0.001),
    ),
    (
        "Namen phonetisch, Geburtsdatum fehlt",
        0.002,
        0.005,
        (0.10, 0.10, 0.20, 0.20, 0.20, 0.10, 0.10),
        (0.50, 0.20, 0.10, 0.10, 0.05, 0.03, 0.02),
    ),
    (
        "Namen phonetisch, Jahr gleich",
        0.003,
        0.07,
        (0.05, 0.05, 0.10, 0.20, 0.30, 0.20, 0.10),
        (0.08, 0.10, 0.18, 0.22, 0.21, 0.20, 0.01),
    ),
    (
        "Namen phonetisch, Jahr und Monat gleich",
        0.004,
        0.01,
        (0.05, 0.05, 0.10, 0.20, 0.30, 0.20, 0.10),
        (0.03, 0.05, 0.10, 0.20, 0.22, 0.25, 0.15),
    ),
    (
        "Namen phonetisch und Anschrift gleich, Geburtsdatum abweichend (unter 15 Jahre)",
        0.01,
        0.0005,
        (0.60, 0.05, 0.05, 0.05, 0.10, 0.10, 0.05),
        (0.70, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05),
    ),
    (
        "Geburtsdatum und nur Familienname, Vorname verschieden",
        0.006,
        0.024,
        (0.001, 0.003, 0.023, 0.10, 0.18, 0.64, 0.053),
        (0.18, 0.21, 0.25, 0.27, 0.085, 0.004, 0.001),
    ),
    (
        "Geburtsdatum und Familienname, Vorname fehlt",
        0.002,
        0.001,
        (0.01, 0.02, 0.07, 0.25, 0.35, 0.25, 0.05),
        (0.30, 0.20, 0.20, 0.15, 0.10, 0.04, 0.01),
    ),
    (
        "Geburtsdatum und ein Name",
        0.02,
        0.065,
        (0.002, 0.006, 0.03, 0.12, 0.16, 0.60, 0.082),
        (0.40, 0.25, 0.19, 0.12, 0.03, 0.008, 0.002),
    ),
    (
        "Geburtsdatum und beide Namen phonetisch",
        0.12,
        0.003,
        (0.001, 0.004, 0.03, 0.10, 0.20, 0.33, 0.335),
        (0.10, 0.10, 0.20, 0.20, 0.20, 0.15, 0.05),
    ),
    (
        "Name und Geburtsdatum exakt",
        0.837,
        0.002,
        (0.001, 0.001, 0.002, 0.005, 0.02, 0.07, 0.901),
        (0.05, 0.05, 0.10, 0.15, 0.20, 0.25, 0.20),
    ),
)
EVIDENCE_LEVELS = tuple(row[0] for row in _EVIDENCE)
_EVIDENCE_M = tuple(row[1] for row in _EVIDENCE)
_EVIDENCE_U = tuple(row[2] for row in _EVIDENCE)
_DICE_M = tuple(row[3] for row in _EVIDENCE)
_DICE_U = tuple(row[4] for row in _EVIDENCE)
(
    EV_NONE,
    EV_GENERATION,  # names agree, birth years GENERATION_GAP or more apart (father and son)
    EV_NAMES_NEAR_YEAR,  # names agree, birth years 1..GENERATION_GAP-1 apart, address not
    EV_NAMES_NO_DATE,
    EV_NAMES_SAME_YEAR,
    EV_NAMES_SAME_MONTH,
    EV_DATE_TYPO_ADDRESS,  # names and address agree, birth date differs (< GENERATION_GAP)
    EV_FAMILY_ONLY,  # birth date and family name agree, given name differs (twins?)
    EV_NO_GIVEN,  # birth date and family name agree, given name missing
    EV_ONE_NAME,
    EV_BOTH_CODES,
    EV_EXACT,
) = range(len(_EVIDENCE))
# Birth years this far apart are a generation apart (father and son): names alone never make
# them one person; only when no look-alike is in view (`look_alike_guard`).
GENERATION_GAP = 15


def _joint(evidence: tuple[float, ...], dice: tuple[tuple[float, ...], ...]) -> tuple[float, ...]:
    out = np.outer(np.array(evidence), np.ones(len(DICE_LEVELS))) * np.array(dice)
    return tuple((out / out.sum()).ravel().tolist())


# The shared keys and the Dice coefficient form ONE field (evidence level x Dice bin): both
# encode the same names and birth date, so as two fields the same agreement would be counted
# twice, and what a Dice of 0.9 means depends on what the keys say (twins vs. a typo).
# Sex, nationality, Gemeinde and AZR are compared on their own.
FIELDS: tuple[Field, ...] = (
    Field(
        "name_date",
        tuple(f"{e} / Dice {d}" for e in EVIDENCE_LEVELS for d in DICE_LEVELS),
        _joint(_EVIDENCE_M, _DICE_M),
        _joint(_EVIDENCE_U, _DICE_U),
    ),
    Field("sex", ("verschieden", "gleich"), (0.01, 0.99), (0.5, 0.5)),
    Field("nationality", ("verschieden", "gleich"), (0.05, 0.95), (0.5, 0.5)),
    Field("ags", ("verschieden", "gleich"), (0.1, 0.9), (0.7, 0.3)),
    Field("azr", ("verschieden", "gleich"), (0.01, 0.99), (0.995, 0.005)),
    Field(
        "address",
        (*(f"Dice {d}" for d in ADDRESS_DICE_LEVELS), "gleiche Anschrift (exakt)"),
        (0.01, 0.01, 0.02, 0.04, 0.07, 0.15, 0.70),
        (0.60, 0.15, 0.10, 0.06, 0.03, 0.02, 0.04),
    ),
    # postcode + house number and locality + house number (`BUILDING_KEY_COLUMNS`): how many
    # of the two agree. Apart from the address filter, which sees street and supplement only,
    # so a missing or replaced street still leaves the building as evidence (febrl4)
    Field("building", ("keins", "eins", "beide"), (0.06, 0.14, 0.80), (0.85, 0.10, 0.05)),
)
ADDRESS_FIELD = len(FIELDS) - 2
BUILDING_FIELD = len(FIELDS) - 1
BUILDING_BOTH = 2  # postcode + number and locality + number agree
# address filter Dice >= 0.90 (or the same household key): "the address agrees"
ADDRESS_STRONG_LEVEL = 4
ADDRESS_NEAR_LEVEL = 3  # Dice >= 0.80


def _equal_level(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where((a == 0) | (b == 0), -1, (a == b).astype(np.int64))


def _column_equal(codes: np.ndarray, i: np.ndarray, j: np.ndarray, a: int, b: int) -> np.ndarray:
    left = codes[i, a]
    return (left == codes[j, b]) & (left != 0)


def shares_key(codes: np.ndarray | None, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair: do the two records share a non-missing value in any column of a key space?"""
    out = np.zeros(len(i), dtype=bool)
    if codes is None:
        return out
    for a in range(codes.shape[1]):
        for b in range(codes.shape[1]):
            out |= _column_equal(codes, i, j, a, b)
    return out


def _evidence(
    data: LinkInput, i: np.ndarray, j: np.ndarray, address_agrees: np.ndarray
) -> np.ndarray:
    """Evidence level per pair (`EVIDENCE_LEVELS`).

    `address_agrees` turns "names agree, the birth date differs (years less than a
    generation apart)" into its own level: whether such a pair is a date typo or a namesake
    depends on the address, and only one joint level lets the score model learn that (as
    separate fields, EM weighs the many namesakes of the name level against the address).
    """
    keys = data.keys
    exact = shares_key(keys.get("name_dob"), i, j)
    names = shares_key(keys.get("phonetic"), i, j) | shares_key(keys.get("names"), i, j)
    dob = keys.get("dob_name")  # columns: family, given, birth name (kiim.link_encode.SPACES)
    if dob is None:
        family = given = cross = swapped = no_given = np.zeros(len(i), dtype=bool)
        undated = np.zeros(data.n, dtype=bool)
    else:
        # no date key although a name is coded: the extract stated only part of the date
        # (00.00.1990, kiim.ingest.PARTIAL_YEAR); with the year it is "date unknown", not
        # "date differs" (a record without names has no name evidence anyway)
        undated = (dob == 0).all(axis=1) & (data.birth_year != 0)

        def eq(a: int, b: int) -> np.ndarray:
            return _column_equal(dob, i, j, a, b)

        family = eq(0, 0) | eq(2, 0) | eq(0, 2) | eq(2, 2)
        given = eq(1, 1)
        swapped = eq(0, 1) & eq(1, 0)
        cross = eq(0, 1) | eq(1, 0) | eq(2, 1) | eq(1, 2)
        # the given-name key is missing (the date is not: `family` needs it)
        no_given = (dob[i, 1] == 0) | (dob[j, 1] == 0)
    both = (family & given) | swapped
    by_i, by_j = data.birth_year[i], data.birth_year[j]
    known = (by_i != 0) & (by_j != 0)
    same_year = known & (by_i == by_j)
    bm_i, bm_j = data.birth_month[i], data.birth_month[j]
    same_month = bm_i == bm_j
    near = known & (np.abs(by_i - by_j) < GENERATION_GAP)
    month_fits = same_month | (bm_i == 0) | (bm_j == 0)
    partial = same_year & month_fits & (undated[i] | undated[j])
    return np.select(
        [
            exact,
            both,
            given | cross,
            family & no_given,
            family,
            names & near & address_agrees,
            names & partial,
            names & same_year & same_month,
            names & same_year,
            names & ~known,
            names & near,
            names,
        ],
        [
            EV_EXACT,
            EV_BOTH_CODES,
            EV_ONE_NAME,
            EV_NO_GIVEN,
            EV_FAMILY_ONLY,
            EV_DATE_TYPO_ADDRESS,
            EV_NAMES_NO_DATE,
            EV_NAMES_SAME_MONTH,
            EV_NAMES_SAME_YEAR,
            EV_NAMES_NO_DATE,
            EV_NAMES_NEAR_YEAR,
            EV_GENERATION,
        ],
        EV_NONE,
    )


def compare(data: LinkInput, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Comparison levels (pairs x FIELDS, -1 = missing) and the Dice coefficient per pair."""
    i, j = pairs.i, pairs.j
    dice = dice_pairs(data.clk, i, j)
    levels = np.empty((len(i), len(FIELDS)), dtype=np.int64)
    address = address_levels(data, i, j)
    building = building_levels(data, i, j)
    # the address agrees: street and supplement nearly equal, the same household key, or
    # postcode, locality and house number all equal while the filters do not contradict
    # (one record without street and supplement, or Dice >= 0.80: a street missing in one
    # record). Not with another street: a postcode holds many streets with a number 1.
    building_agrees = (building == BUILDING_BOTH) & (
        (address == -1) | (address >= ADDRESS_NEAR_LEVEL)
    )
    agrees = (address >= ADDRESS_STRONG_LEVEL) | building_agrees
    evidence = _evidence(data, i, j, agrees)
    dice_level = np.searchsorted(np.array(DICE_CUTS), dice, side="right")
    levels[:, 0] = evidence * len(DICE_LEVELS) + dice_level
    levels[:, 1] = _equal_level(data.sex[i], data.sex[j])
    levels[:, 2] = _equal_level(data.nationality[i], data.nationality[j])
    levels[:, 3] = _equal_level(data.ags[i], data.ags[j])
    azr = data.keys.get("azr")
    levels[:, 4] = -1 if azr is None else _equal_level(azr[i, 0], azr[j, 0])
    # a date-typo level already holds the address agreement: counting it again would weigh
    # the same evidence twice
    typo_level = evidence == EV_DATE_TYPO_ADDRESS
    levels[:, ADDRESS_FIELD] = np.where(typo_level, -1, address)
    levels[:, BUILDING_FIELD] = np.where(typo_level, -1, building)
    return levels, dice


def building_levels(data: LinkInput, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """How many of the two building keys agree (0-2); -1 when a record has neither."""
    codes = data.keys.get("building")
    if codes is None:
        return np.full(len(i), -1, dtype=np.int64)
    agree = sum(_column_equal(codes, i, j, c, c).astype(np.int64) for c in range(codes.shape[1]))
    present = (codes != 0).any(axis=1)
    return np.where(present[i] & present[j], agree, -1)


def address_levels(data: LinkInput, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Address comparison per pair: Dice bin of the address filters, or "same household".

    -1 (no weight) when either record has no address filter: agencies that deliver no
    address are scored exactly as before.
    """
    if data.clk_address is None:
        return np.full(len(i), -1, dtype=np.int64)
    dice = dice_pairs(data.clk_address, i, j)
    level = np.searchsorted(np.array(ADDRESS_DICE_CUTS), dice, side="right")
    household = data.keys.get("household")
    if household is not None:
        level = np.where(_column_equal(household, i, j, 0, 0), len(ADDRESS_DICE_LEVELS), level)
    present = np.asarray(data.clk_address.any(axis=1), dtype=bool)
    return np.where(present[i] & present[j], level, -1)


# ---------------------------------------------------------------------------------- score


def _patterns(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of `levels` and their counts (via one mixed-radix code per row: fast)."""
    radix = np.array([len(f.levels) + 1 for f in FIELDS], dtype=np.int64)
    place = np.cumprod(np.r_[1, radix[:-1]])
    codes = ((levels + 1) * place).sum(axis=1)
    unique, counts = np.unique(codes, return_counts=True)
    patterns = (unique[:, None] // place) % radix - 1
    return patterns, counts.astype(np.float64)


@dataclass
class ScoreModel:
    """Fellegi–Sunter model: per field and level, m = P(level | match), u = P(level | non-match).

    `fit` estimates m, u and the share of matches among the candidate pairs (`match_share`) by EM
    (Winkler 1988) on the distinct comparison patterns. Each estimate is a posterior mean
    with a Dirichlet prior of `strength` pseudo-pairs centred on the defaults, so a month
    with few pairs (or a field that is rarely comparable) stays near the defaults, while a
    district month (hundreds of thousands of pairs) is governed by its own data.
    """

    m: list[np.ndarray] = field(default_factory=lambda: [np.array(f.m) for f in FIELDS])
    u: list[np.ndarray] = field(default_factory=lambda: [np.array(f.u) for f in FIELDS])
    match_share: float = 0.5
    iterations: int = 0
    strength: float = 200.0

    def weights(self, levels: np.ndarray) -> np.ndarray:
        """Match weight (log2 odds of a match given the comparison) per row of `levels`."""
        w = np.full(len(levels), np.log2(self.match_share / (1.0 - self.match_share)))
        for k in range(len(FIELDS)):
            table = np.log2(self.m[k] / self.u[k])
            lv = levels[:, k]
            w += np.where(lv >= 0, table[np.maximum(lv, 0)], 0.0)
        return w

    def fit(self, levels: np.ndarray, *, max_iter: int = 50, tol: float = 1e-5) -> ScoreModel:
        if len(levels) == 0:
            return self
        patterns, counts = _patterns(levels)
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
            new_share = float((cm.sum() + self.strength * 0.5) / (total + self.strength))
            change = max(
                abs(new_share - self.match_share),
                *(float(np.abs(x - y).max()) for x, y in zip(new_m, self.m, strict=True)),
                *(float(np.abs(x - y).max()) for x, y in zip(new_u, self.u, strict=True)),
            )
            self.m, self.u, self.match_share, self.iterations = new_m, new_u, new_share, it
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
TWIN_MIN_DICE_LEVEL = 5  # Dice >= 0.90: at EV_FAMILY_ONLY the given names are still close


def look_alike(levels: np.ndarray) -> np.ndarray:
    """Pairs whose fields cannot tell one person from two look-alike persons.

    * same date and family name, given name different beyond a typo (EV_FAMILY_ONLY with
      Dice < 0.90): twins, or one person whose given name was recorded differently;
    * names agree, birth years a generation apart (EV_GENERATION): father and son, or one
      person whose birth date was replaced;
    * no name key shared (EV_NONE, proposed by an address or last month's key): two members
      of a household, or one person with both names damaged.
    Such a pair links only when no look-alike is in view (`look_alike_guard`).
    """
    evidence, dice_bin = levels[:, 0] // len(DICE_LEVELS), levels[:, 0] % len(DICE_LEVELS)
    twins = (evidence == EV_FAMILY_ONLY) & (dice_bin < TWIN_MIN_DICE_LEVEL)
    return twins | (evidence == EV_GENERATION) | (evidence == EV_NONE)


def plausible(levels: np.ndarray) -> np.ndarray:
    """Hard rules a pair must pass whatever its weight (docs/linkage.md, "Plausibility").

    * A shared birth date key (levels >= EV_FAMILY_ONLY) or a missing date may link.
    * Names that agree while the birth dates differ by less than a generation (a date typo,
      or namesakes) link only when the address agrees as well (EV_DATE_TYPO_ADDRESS: Dice
      of the address filters >= 0.90 or the same household key): then a typo in the date
      is far likelier than a second person of that name in the same home.
    * Look-alike levels (`look_alike`) pass here; `look_alike_guard` decides them.
    * A shared AZR number overrides all of these: it identifies the person.
    """
    evidence = levels[:, 0] // len(DICE_LEVELS)
    ok = (evidence >= EV_DATE_TYPO_ADDRESS) | (evidence == EV_NAMES_NO_DATE) | look_alike(levels)
    return ok | (levels[:, 4] == 1)


def look_alike_guard(
    data: LinkInput, pairs: Pairs, levels: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """False for look-alike pairs (`look_alike`) while a look-alike may be in view.

    Twins, father and son, the members of a household are two persons, and in a district
    both are usually in view: the register holds both, and each record has a better
    candidate (a record of its own person) than the look-alike. So a look-alike pair links
    only when each of its records has no better candidate pair at all (by weight, ties
    allowed), and when the two records did not carry different person keys last month (a
    month with more context kept them apart). A pair whose records have nothing better is
    decided by its weight, like any other: the data cannot tell a twin from a changed given
    name there (febrl4 has hundreds of such true pairs), and the month's model has learnt
    which is more likely. The best candidate is taken over all agencies, not per agency:
    with one twin in the register and both in two offices, the registered twin's office
    record is its best candidate, so neither office record may take the other twin. The
    price: a record whose given name an office changed beyond a typo stays apart from a
    person whose other records match each other exactly (as under the old blanket rule).
    A shared AZR number is never guarded. docs/linkage.md, "Look-alikes", has the figures.
    """
    guarded = look_alike(levels) & (levels[:, 4] != 1)
    if not guarded.any():
        return np.ones(len(levels), dtype=bool)
    i, j = pairs.i, pairs.j
    best = np.full(data.n, -np.inf)
    np.maximum.at(best, i, weights)
    np.maximum.at(best, j, weights)
    mutual = (weights >= best[i]) & (weights >= best[j])
    prior_i, prior_j = data.prior[i], data.prior[j]
    apart = (prior_i != 0) & (prior_j != 0) & (prior_i != prior_j)
    return ~guarded | (mutual & ~apart)


def decide(
    levels: np.ndarray,
    weights: np.ndarray,
    flags: np.ndarray,
    *,
    threshold: float = MATCH_WEIGHT,
    rules: bool = True,
    guard: np.ndarray | None = None,
) -> np.ndarray:
    """Accepted pairs: plausible, not guarded, and weight above the threshold.

    The bar is lower for known links: for pairs whose records had one person key last month
    it keeps a person's records together when this month's EM estimates move a borderline
    pair a little; without it, person keys would flicker. `guard` is `look_alike_guard`'s
    verdict (all pass when None). `rules=False` skips `plausible` and the guard: only for
    benchmarks that measure what the score model alone does (never in a monthly run).
    """
    known = (flags & SPACE_BITS["prior"]) != 0
    accepted = weights >= np.where(known, threshold - HYSTERESIS, threshold)
    if not rules:
        return accepted
    accepted &= plausible(levels)
    return accepted if guard is None else accepted & guard


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
    merges: int  # accepted pairs that joined two clusters


def cluster(agency: np.ndarray, i: np.ndarray, j: np.ndarray, weights: np.ndarray) -> Clustering:
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
    n_agencies = int(agency.max()) + 1
    per_agency = np.unique(labels * n_agencies + agency) // n_agencies
    comp_records = np.bincount(labels, minlength=n)
    comp_agencies = np.bincount(per_agency, minlength=n)
    bad = comp_records != comp_agencies  # a component where an agency occurs twice
    refused = 0
    clean = ~bad & (comp_records > 1)
    linked = int((comp_records[clean] - 1).sum())  # merges: a component of k records took k-1
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
    guard: np.ndarray  # per pair: False where `look_alike_guard` refused it


def link_records(
    data: LinkInput,
    *,
    max_block: int = DEFAULT_MAX_BLOCK,
    fit: bool = True,
    threshold: float = MATCH_WEIGHT,
    rules: bool = True,
) -> LinkResult:
    """Block, compare, score (EM), decide and cluster one period's records.

    `rules=False` (benchmarks only) accepts on the weight alone, without `plausible` and
    `look_alike_guard`.
    """
    pairs = candidate_pairs(data, max_block=max_block)
    levels, dice = compare(data, pairs)
    model = ScoreModel()
    if fit:
        model.fit(levels)
    weights = model.weights(levels)
    guard = look_alike_guard(data, pairs, levels, weights)
    accepted = decide(levels, weights, pairs.flags, threshold=threshold, rules=rules, guard=guard)
    clustering = cluster(data.agency, pairs.i[accepted], pairs.j[accepted], weights[accepted])
    return LinkResult(clustering.labels, pairs, weights, accepted, dice, model, clustering, guard)
