"""The synthetic population: households of persons with their life events on one fixed timeline.

Everything here is drawn from the seed alone, never from the reporting period: the same seed
gives the same people, and each monthly extract is a view of them at that month (who lives in
the district, which status they hold, whether they receive SGB II, ...). Events are stored as
dates (arrival, decision on the asylum claim, naturalisation, start/end of a benefit spell,
course dates, ...) so any month can be generated on its own, without simulating the months
before it, and consecutive months still tell one consistent story.

The population lives from 2015 to the end of 2027: foreigners mostly arrived 2015-2026
(asylum 2015/16, Ukraine 2022), some people move in every month, departures happen from 2023 on.
`persons` counts everyone who lives in the district at some time in that window; in a month of
2025-2026 about 90 % of them are resident.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from kiim import names
from kiim.synthetic.timeline import NEVER, day, first_of, from_years, months, years, ymd

REF = day("2026-07-01")  # the date ages are drawn for
FLOW_START = day("2023-01-01")  # departures happen from here ...
HORIZON_END = day("2028-01-01")  # ... up to here (exclusive); arrivals likewise end here
UKR_WAR = day("2022-02-24")
UKR_SGB2 = day("2022-06-01")  # Rechtskreiswechsel: refugees from Ukraine into SGB II

STATUS_CODES = ("", "NE", "DA-EU", "FZ-EU", "AE", "AE-24", "DUL", "GEST", "DEU")
S_NONE, S_NE, S_DAEU, S_FZEU, S_AE, S_AE24, S_DUL, S_GEST, S_DEU = range(9)

ORIGIN_SHARES = {
    "DEU": 0.70,
    "SYR": 0.06,
    "UKR": 0.075,
    "AFG": 0.03,
    "TUR": 0.025,
    "POL": 0.03,
    "ROU": 0.02,
    "IRQ": 0.01,
    "ERI": 0.008,
    "RUS": 0.012,
    "VNM": 0.012,
    "BGR": 0.008,
}
# Household size distributions (sizes 1..6).
_HH_SIZE = {
    "DEU": (0.42, 0.37, 0.105, 0.075, 0.025, 0.005),
    "asylum": (0.30, 0.12, 0.12, 0.16, 0.15, 0.15),
    "ERI": (0.50, 0.15, 0.12, 0.10, 0.08, 0.05),
    "UKR": (0.25, 0.30, 0.25, 0.15, 0.04, 0.01),
    "TUR": (0.30, 0.20, 0.20, 0.20, 0.07, 0.03),
    "EU": (0.45, 0.25, 0.15, 0.10, 0.04, 0.01),
    "other": (0.30, 0.30, 0.20, 0.15, 0.04, 0.01),
}
# Arrival in the district (household), as (from year, to year, weight).
_ARRIVALS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "DEU": ((1950, 2015, 0.70), (2015, 2028, 0.30)),
    "SYR": ((2014.5, 2017, 0.55), (2017, 2020, 0.20), (2020, 2024, 0.15), (2024, 2028, 0.10)),
    "AFG": ((2015, 2017, 0.40), (2017, 2021, 0.15), (2021.6, 2024, 0.30), (2024, 2028, 0.15)),
    "IRQ": ((2015, 2017.5, 0.60), (2017.5, 2022, 0.25), (2022, 2028, 0.15)),
    "ERI": ((2015, 2019, 0.65), (2019, 2028, 0.35)),
    "UKR": ((2005, 2022.1, 0.10), (2022.16, 2023, 0.60), (2023, 2025, 0.22), (2025, 2028, 0.08)),
    "TUR": ((1995, 2015, 0.35), (2015, 2022, 0.25), (2022, 2028, 0.40)),
    "POL": ((2004, 2015, 0.35), (2015, 2028, 0.65)),
    "ROU": ((2007, 2015, 0.25), (2015, 2028, 0.75)),
    "BGR": ((2007, 2015, 0.25), (2015, 2028, 0.75)),
    "RUS": ((1995, 2015, 0.50), (2015, 2022, 0.20), (2022, 2028, 0.30)),
    "VNM": ((1990, 2015, 0.60), (2015, 2028, 0.40)),
}
_DEPARTURE_P = {"DEU": 0.08, "EU": 0.20, "UKR": 0.25, "other": 0.12}
_SINGLE_PARENT_P = {"UKR": 0.55}  # default 0.18
_ADOPT_NAME_P = {
    "DEU": 0.75,
    "TUR": 0.85,
    "UKR": 0.75,
    "RUS": 0.75,
    "BGR": 0.75,
    "POL": 0.75,
    "ROU": 0.75,
    "VNM": 0.0,
}  # default (Arabic, Afghan, Eritrean naming): 0.05
_RECOGNITION_P = {"SYR": 0.9, "ERI": 0.85, "AFG": 0.7, "IRQ": 0.5, "TUR": 0.4, "RUS": 0.5}
_NATURALISATION_P = {
    "SYR": 0.40,
    "AFG": 0.20,
    "IRQ": 0.25,
    "ERI": 0.20,
    "TUR": 0.20,
    "RUS": 0.20,
    "VNM": 0.25,
    "UKR": 0.05,
    "POL": 0.03,
    "ROU": 0.03,
    "BGR": 0.03,
}

# Approximate population (thousands) of the Gemeinden of Landkreis Dahme-Spreewald; a Gemeinde
# missing here (another district's catalogue) gets weight 1.
GEMEINDE_SIZE = {
    "12061005": 0.5, "12061017": 0.8, "12061020": 8.0, "12061061": 0.6, "12061097": 0.7,
    "12061112": 6.6, "12061164": 2.6, "12061192": 2.4, "12061216": 2.3, "12061217": 7.2,
    "12061219": 3.4, "12061224": 0.6, "12061244": 0.6, "12061260": 38.5, "12061265": 0.6,
    "12061308": 1.4, "12061316": 14.0, "12061320": 9.5, "12061328": 0.8, "12061329": 4.0,
    "12061332": 9.8, "12061344": 0.5, "12061352": 0.9, "12061405": 0.6, "12061428": 0.6,
    "12061433": 19.0, "12061435": 1.0, "12061444": 8.6, "12061448": 0.7, "12061450": 3.6,
    "12061470": 0.8, "12061471": 1.0, "12061476": 0.9, "12061492": 1.9, "12061510": 1.7,
    "12061540": 10.7, "12061572": 11.3,
}  # fmt: skip

ROLE_HEAD, ROLE_PARTNER, ROLE_CHILD = 0, 1, 2
SEX_CODES = ("m", "w", "d")


@dataclass(frozen=True)
class Gemeinde:
    ags: str
    name: str


def load_gemeinden(seeds_dir: Path) -> tuple[Gemeinde, ...]:
    """The Gemeinden catalogue (dbt seed `gemeinden.csv`, AGS;name;kind)."""
    with (seeds_dir / "gemeinden.csv").open(encoding="utf-8", newline="") as f:
        return tuple(Gemeinde(r["ags"], r["name"]) for r in csv.DictReader(f, delimiter=";"))


@dataclass
class Population:
    """Person-level arrays (length n) plus the lookup tables they index into."""

    seed: int
    n: int
    gemeinden: tuple[Gemeinde, ...]
    given_table: np.ndarray  # object: all given names of all pools
    family_table: np.ndarray  # object: masculine forms, then feminine forms
    n_family: int  # offset of the feminine forms in family_table
    # household
    hh: np.ndarray
    hh_size: np.ndarray  # per household
    hh_street: np.ndarray  # object, per household
    shelter_address: np.ndarray  # object, per Gemeinde (shared accommodation)
    role: np.ndarray
    # person
    name_origin: np.ndarray  # index into names.ORIGINS (pool the names come from)
    origin: np.ndarray  # nationality at birth (index into names.ORIGINS)
    sex: np.ndarray  # 0 m, 1 w, 2 d
    birth: np.ndarray
    by: np.ndarray
    bm: np.ndarray
    bd: np.ndarray
    given1: np.ndarray
    given2: np.ndarray  # -1: none
    family: np.ndarray  # index into family_table
    birth_family: np.ndarray  # -1: no other birth name
    ags: np.ndarray  # index into gemeinden
    arrival: np.ndarray
    entry: np.ndarray
    departure: np.ndarray
    born_here: np.ndarray
    asylum: np.ndarray
    shelter_until: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    s3: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    naturalised: np.ndarray
    sgb_start: np.ndarray
    sgb_end: np.ndarray
    takeup_exit: np.ndarray  # date (spell end) or NEVER
    takeup_mid: np.ndarray  # date or NEVER
    takeup_u: np.ndarray  # uniform deciding the kind of a take-up
    not_employable: np.ndarray
    unemployed_u: np.ndarray
    kita_start: np.ndarray
    kita_end: np.ndarray
    kita_day_care: np.ndarray  # Kindertagespflege instead of Kita
    language_u: np.ndarray
    school_entry: np.ndarray
    school_track: np.ndarray  # 0 GYM, 1 OS, 2 GES, 3 FS
    leave_grade: np.ndarray
    leave_qual: np.ndarray  # index into LEAVING_QUALIFICATIONS
    osz: np.ndarray
    course_start: np.ndarray
    course_end: np.ndarray
    course_type: np.ndarray  # index into COURSE_TYPES
    dtz: np.ndarray  # -1 no exam, else index into DTZ_RESULTS
    orientation: np.ndarray  # -1 none, 0 N, 1 J
    azr_known: np.ndarray
    case_start: np.ndarray
    case_end: np.ndarray
    topic: np.ndarray  # index into TOPICS
    note_u: np.ndarray
    azr: np.ndarray  # int64, 0 for Germans
    phone: np.ndarray  # object, None for children
    birth_place: np.ndarray  # object
    legal_u: np.ndarray
    # look-alikes the linkage must keep apart (`_twins`, `_look_alike_names`): per person the
    # index of the look-alike (the first-born twin, the father of a junior), else -1
    lookalike: np.ndarray
    lookalike_kind: np.ndarray  # 0 none, LOOKALIKE_TWIN, LOOKALIKE_JUNIOR

    @cached_property
    def person_id_table(self) -> np.ndarray:
        """Ground-truth person ids ("P0000042"), one per person."""
        return np.array([f"P{i:07d}" for i in range(self.n)], dtype=object)

    def person_ids(self, idx: np.ndarray) -> np.ndarray:
        return self.person_id_table[idx]

    def given_names(self, idx: np.ndarray) -> np.ndarray:
        """Canonical given names (all of them, space separated)."""
        first = self.given_table[self.given1[idx]]
        g2 = self.given2[idx]
        out = first.copy()
        has2 = g2 >= 0
        if has2.any():
            out[has2] = first[has2] + " " + self.given_table[g2[has2]]
        return out

    def family_names(self, idx: np.ndarray) -> np.ndarray:
        return self.family_table[self.family[idx]]

    def birth_names(self, idx: np.ndarray) -> np.ndarray:
        bf = self.birth_family[idx]
        out = np.full(len(idx), None, dtype=object)
        has = bf >= 0
        out[has] = self.family_table[bf[has]]
        return out


COURSE_TYPES = ("Allgemein", "Jugend", "Eltern", "Frauen", "Alpha", "Intensiv")
_COURSE_MONTHS = (9.0, 10.0, 10.0, 10.0, 13.0, 5.0)
DTZ_RESULTS = ("B1", "A2", "unter A2")
LEAVING_QUALIFICATIONS = ("ohne", "BBR", "EBR", "FOR", "AHR")
SCHOOL_TRACKS = ("GYM", "OS", "GES", "FS")
TOPICS = ("Aufenthalt", "Arbeit", "Sprache", "Wohnen", "Gesundheit", "Familie", "Finanzen")
_TOPIC_P = (0.25, 0.20, 0.15, 0.15, 0.08, 0.10, 0.07)


def _uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + rng.random(len(lo)) * (hi - lo)


def _mixture(
    rng: np.random.Generator, n: int, parts: tuple[tuple[float, float, float], ...]
) -> np.ndarray:
    """n draws from a mixture of uniform intervals (lo, hi, weight)."""
    w = np.array([p[2] for p in parts])
    comp = rng.choice(len(parts), size=n, p=w / w.sum())
    lo = np.array([p[0] for p in parts], dtype=np.float64)[comp]
    hi = np.array([p[1] for p in parts], dtype=np.float64)[comp]
    return _uniform_between(rng, lo, hi)


def _group(origin: str) -> str:
    if origin == "DEU":
        return "DEU"
    if origin in names.EU_ORIGINS:
        return "EU"
    if origin == "UKR":
        return "UKR"
    return "other"


def _household_sizes(rng: np.random.Generator, origin: str, n_persons: int) -> np.ndarray:
    key = (
        "asylum"
        if origin in {"SYR", "AFG", "IRQ"}
        else origin
        if origin in _HH_SIZE
        else "EU"
        if origin in names.EU_ORIGINS
        else "other"
    )
    p = np.array(_HH_SIZE[key])
    mean = float((np.arange(1, 7) * p).sum())
    sizes = np.zeros(0, dtype=np.int64)
    while sizes.sum() < n_persons:
        k = int(n_persons / mean * 1.2) + 8
        sizes = np.concatenate([sizes, rng.choice(np.arange(1, 7), size=k, p=p)])
    cs = np.cumsum(sizes)
    cut = int(np.searchsorted(cs, n_persons))
    sizes = sizes[: cut + 1].copy()
    sizes[-1] -= int(cs[cut]) - n_persons
    return sizes[sizes > 0]


def _phone(prefix: int, area: int, digits: int, mobile: bool, international: bool) -> str:
    """ "0152 12345678", "+49 3375 123456" or "03375 123456"."""
    if mobile:
        return f"{names.MOBILE_PREFIXES[prefix]} {digits}"
    local = 100_000 + digits % 900_000
    if international:
        return f"+49 {names.AREA_CODES[area]} {local}"
    return f"0{names.AREA_CODES[area]} {local}"


def _name_tables() -> tuple[np.ndarray, np.ndarray, dict[str, tuple[int, int, int, int]], dict]:
    """Global given/family tables and per-origin offsets."""
    given: list[str] = []
    family: list[str] = []
    family_origin: list[str] = []
    goff: dict[str, tuple[int, int, int, int]] = {}
    foff: dict[str, tuple[int, int]] = {}
    for o in names.ORIGINS:
        pool = names.POOLS[o]
        goff[o] = (len(given), len(pool.male), len(given) + len(pool.male), len(pool.female))
        given.extend(pool.male)
        given.extend(pool.female)
        foff[o] = (len(family), len(pool.family))
        family.extend(pool.family)
        family_origin.extend([o] * len(pool.family))
    fem = [names.feminine(f, o) for f, o in zip(family, family_origin, strict=True)]
    return (
        np.array(given, dtype=object),
        np.array(family + fem, dtype=object),
        goff,
        foff,
    )


# Look-alikes (docs/linkage.md, "Look-alikes in the synthetic district"): the persons the
# linkage must NOT join although name and date nearly agree. Rates per eligible pair: about
# 1.7 % of maternities are twins (Destatis), so an adjacent pair of children in a household
# is a twin pair in roughly 2.5 % of cases; a son bearing his father's given names is rare in
# Germany and more common in some naming traditions, 2 % of father-son pairs.
LOOKALIKE_TWIN, LOOKALIKE_JUNIOR = 1, 2
TWIN_P = 0.025
JUNIOR_P = 0.02


def _lookalike_rng(seed: int) -> np.random.Generator:
    """A stream of its own, so adding look-alikes leaves every other draw as it was."""
    return np.random.default_rng(np.random.SeedSequence([seed, 11]))


def _twins(
    rng: np.random.Generator, hh: np.ndarray, role: np.ndarray, child_age: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Make some adjacent children of a household twins (same age, so the same birth date).

    Changes `child_age` in place; returns the look-alike index and kind per person (the
    second twin points at the first). Triplets are not drawn: a twin is never paired again.
    """
    n = len(hh)
    lookalike = np.full(n, -1, dtype=np.int64)
    kind = np.zeros(n, dtype=np.int64)
    if n < 2:
        return lookalike, kind
    u = rng.random(n)
    first = np.flatnonzero(
        (role[:-1] == ROLE_CHILD)
        & (role[1:] == ROLE_CHILD)
        & (hh[:-1] == hh[1:])
        & (u[:-1] < TWIN_P)
    )
    first = first[np.diff(first, prepend=-2) > 1]  # no chains: k, k+1 and k+1, k+2
    child_age[first + 1] = child_age[first]
    lookalike[first + 1] = first
    kind[first + 1] = LOOKALIKE_TWIN
    return lookalike, kind


def _look_alike_names(
    rng: np.random.Generator,
    hh: np.ndarray,
    role: np.ndarray,
    sex: np.ndarray,
    starts: np.ndarray,
    given1: np.ndarray,
    given2: np.ndarray,
    g_off: np.ndarray,
    g_n: np.ndarray,
    lookalike: np.ndarray,
    kind: np.ndarray,
) -> None:
    """Twins get different first given names; some sons get their father's (in place).

    Parents do not give twins the same name, and a twin pair with the same name and date
    could not be told apart by anyone. The junior's father is the household head (male).
    """
    twin2 = np.flatnonzero(kind == LOOKALIKE_TWIN)
    twin1 = lookalike[twin2]
    same = given1[twin2] == given1[twin1]
    fix = twin2[same]
    given1[fix] = g_off[fix] + (given1[fix] - g_off[fix] + 1) % g_n[fix]
    head = starts[hh]
    u = rng.random(len(hh))
    twin = kind == LOOKALIKE_TWIN
    twin[twin1] = True
    junior = np.flatnonzero(
        (role == ROLE_CHILD) & (sex == 0) & (sex[head] == 0) & ~twin & (u < JUNIOR_P)
    )
    given1[junior] = given1[head[junior]]
    given2[junior] = given2[head[junior]]
    lookalike[junior] = head[junior]
    kind[junior] = LOOKALIKE_JUNIOR


@lru_cache(maxsize=2)
def build_population(seed: int, persons: int, seeds_dir: Path) -> Population:
    """Draw the population for a seed (cached: several months of one seed share it)."""
    if persons < 1:
        raise ValueError("persons must be at least 1")
    gemeinden = load_gemeinden(seeds_dir)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    origins = list(ORIGIN_SHARES)
    shares = np.array([ORIGIN_SHARES[o] for o in origins])
    counts = rng.multinomial(persons, shares / shares.sum())

    # --- households -------------------------------------------------------------------------
    hh_sizes_l, hh_origin_l = [], []
    for o, c in zip(origins, counts, strict=True):
        if c == 0:
            continue
        s = _household_sizes(rng, o, int(c))
        hh_sizes_l.append(s)
        hh_origin_l.append(np.full(len(s), names.ORIGINS.index(o), dtype=np.int64))
    hh_size = np.concatenate(hh_sizes_l)
    hh_origin = np.concatenate(hh_origin_l)
    H = len(hh_size)
    origin_str = np.array(names.ORIGINS, dtype=object)[hh_origin]
    is_deu_h = hh_origin == 0
    sp_p = np.array([_SINGLE_PARENT_P.get(o, 0.18) for o in origin_str])
    single_parent = (hh_size >= 2) & (rng.random(H) < sp_p)
    # 0 single, 1 couple, 2 couple with children, 3 single parent
    hh_type = np.where(
        hh_size == 1, 0, np.where(single_parent, 3, np.where(hh_size == 2, 1, 2))
    ).astype(np.int64)

    hh = np.repeat(np.arange(H), hh_size)
    n = len(hh)
    starts = np.cumsum(hh_size) - hh_size
    pos = np.arange(n) - starts[hh]
    t_p = hh_type[hh]
    role = np.where(
        pos == 0, ROLE_HEAD, np.where((pos == 1) & ((t_p == 1) | (t_p == 2)), ROLE_PARTNER, 2)
    ).astype(np.int64)

    # --- ages ---------------------------------------------------------------------------------
    head_age = np.empty(H)
    for t, deu_parts, foreign_parts in (
        (0, ((18, 35, 0.28), (35, 65, 0.30), (65, 97, 0.42)), ((18, 35, 0.60), (35, 60, 0.30), (60, 85, 0.10))),
        (1, ((22, 45, 0.16), (45, 65, 0.34), (65, 94, 0.50)), ((20, 40, 0.45), (40, 65, 0.40), (65, 85, 0.15))),
        (2, ((28, 60, 1.0),), ((24, 56, 1.0),)),
        (3, ((28, 60, 1.0),), ((24, 56, 1.0),)),
    ):  # fmt: skip
        for deu, parts in ((True, deu_parts), (False, foreign_parts)):
            m = (hh_type == t) & (is_deu_h == deu)
            head_age[m] = _mixture(rng, int(m.sum()), parts)
    partner_age = np.clip(head_age + rng.normal(-2.5, 3.0, H), 18.5, 98.0)
    parent_min = np.where(hh_type == 2, np.minimum(head_age, partner_age), head_age)
    # children up to 17, in German families also young adults still living with their parents
    child_hi = np.minimum(np.where(is_deu_h, 22.0, 19.0), parent_min - 19.0)
    child_age = -1.0 + rng.random(n) * (child_hi[hh] + 1.0)
    look_rng = _lookalike_rng(seed)
    lookalike, lookalike_kind = _twins(look_rng, hh, role, child_age)
    age = np.where(
        role == ROLE_HEAD, head_age[hh], np.where(role == ROLE_PARTNER, partner_age[hh], child_age)
    )
    birth = REF - np.floor(age * 365.2425).astype(np.int64)
    # Nobody is born on the first or last day of a month: those dates are also period bounds,
    # which reports print, and birth dates serve as canaries in the privacy tests.
    birth = birth + (ymd(birth)[2] == 1)
    birth = birth - (ymd(birth + 1)[2] == 1)
    by, bm, bd = ymd(birth)

    # --- sex ----------------------------------------------------------------------------------
    asylum_origin_h = np.isin(origin_str, list(names.ASYLUM_ORIGINS))
    male_single_p = np.where(asylum_origin_h, 0.75, 0.5)
    head_male = np.where(
        hh_type == 0,
        rng.random(H) < male_single_p,
        np.where(hh_type == 3, rng.random(H) < 0.15, rng.random(H) < 0.96),
    )
    u_sex = rng.random(n)
    sex = np.where(
        role == ROLE_HEAD,
        np.where(head_male[hh], 0, 1),
        np.where(
            role == ROLE_PARTNER,
            np.where(u_sex < 0.97, np.where(head_male[hh], 1, 0), np.where(head_male[hh], 0, 1)),
            (u_sex < 0.5).astype(np.int64),
        ),
    ).astype(np.int64)
    sex[rng.random(n) < 0.0025] = 2

    # --- names --------------------------------------------------------------------------------
    given_table, family_table, goff, foff = _name_tables()
    n_family = len(family_table) // 2
    name_origin = hh_origin[hh]
    g_off_m = np.array([goff[o][0] for o in names.ORIGINS])
    g_n_m = np.array([goff[o][1] for o in names.ORIGINS])
    g_off_f = np.array([goff[o][2] for o in names.ORIGINS])
    g_n_f = np.array([goff[o][3] for o in names.ORIGINS])
    as_female = (sex == 1) | ((sex == 2) & (rng.random(n) < 0.5))
    g_off = np.where(as_female, g_off_f[name_origin], g_off_m[name_origin])
    g_n = np.where(as_female, g_n_f[name_origin], g_n_m[name_origin])
    i1 = np.floor(rng.random(n) * g_n).astype(np.int64)
    # Germans mostly bear a name of their generation
    era = np.searchsorted(np.array(names.GERMAN_GENERATION_BOUNDS), by, side="right")
    u_era = rng.random(n)
    for female in (False, True):
        bounds = np.array(names.german_generation_slices(female))
        m = (name_origin == 0) & (as_female == female) & (rng.random(n) < 0.85)
        lo, hi = bounds[era[m], 0], bounds[era[m], 1]
        i1[m] = lo + np.floor(u_era[m] * (hi - lo)).astype(np.int64)
    given1 = g_off + i1
    i2 = (i1 + 1 + np.floor(rng.random(n) * (g_n - 1)).astype(np.int64)) % g_n
    vnm = names.ORIGINS.index("VNM")
    p_second = np.where(name_origin == 0, np.where(by < 1990, 0.35, 0.15), 0.08)
    p_second = np.where(name_origin == vnm, 0.0, p_second)
    given2 = np.where(rng.random(n) < p_second, g_off + i2, -1)
    _look_alike_names(
        look_rng, hh, role, sex, starts, given1, given2, g_off, g_n, lookalike, lookalike_kind
    )

    f_off = np.array([foff[o][0] for o in names.ORIGINS])
    f_n = np.array([foff[o][1] for o in names.ORIGINS])
    own_base = f_off[name_origin] + np.floor(rng.random(n) * f_n[name_origin]).astype(np.int64)
    head_idx = starts[hh]
    adopt_p = np.array([_ADOPT_NAME_P.get(o, 0.05) for o in names.ORIGINS])[name_origin]
    adopts = (role == ROLE_PARTNER) & (rng.random(n) < adopt_p)
    # a single mother may still bear her former husband's name (birth name differs)
    divorced = (role == ROLE_HEAD) & (t_p == 3) & (sex == 1) & (rng.random(n) < 0.6 * adopt_p)
    other_base = f_off[name_origin] + np.floor(rng.random(n) * f_n[name_origin]).astype(np.int64)
    current_base = np.where(adopts, own_base[head_idx], np.where(divorced, other_base, own_base))
    current_base = np.where(role == ROLE_CHILD, current_base[head_idx], current_base)
    has_birth_name = (adopts | divorced) & (current_base != own_base)
    fem = (sex == 1).astype(np.int64)
    family = current_base + n_family * fem
    birth_family = np.where(has_birth_name, own_base + n_family * fem, -1)

    # --- where they live ----------------------------------------------------------------------
    sizes_k = np.array([GEMEINDE_SIZE.get(g.ags, 1.0) for g in gemeinden])
    w_deu = sizes_k / sizes_k.sum()
    w_for = sizes_k**1.35 / (sizes_k**1.35).sum()
    hh_ags = np.where(
        is_deu_h,
        rng.choice(len(gemeinden), size=H, p=w_deu),
        rng.choice(len(gemeinden), size=H, p=w_for),
    )
    st_i = rng.integers(0, len(names.STREETS), H)
    st_no = rng.integers(1, 120, H)
    st_letter = rng.random(H) < 0.08
    hh_street = np.array(
        [
            f"{names.STREETS[s]} {no}{'a' if let else ''}"
            for s, no, let in zip(st_i.tolist(), st_no.tolist(), st_letter.tolist(), strict=True)
        ],
        dtype=object,
    )
    shelter_address = np.array(
        [
            f"{names.SHELTER_STREETS[g % len(names.SHELTER_STREETS)]} {3 + (g * 7) % 40}"
            for g in range(len(gemeinden))
        ],
        dtype=object,
    )

    # --- arrival, entry, departure --------------------------------------------------------------
    arrival_h = np.empty(H, dtype=np.int64)
    for oi, o in enumerate(names.ORIGINS):
        m = hh_origin == oi
        if m.any():
            arrival_h[m] = from_years(_mixture(rng, int(m.sum()), _ARRIVALS[o]))
    arrival_h = np.minimum(arrival_h, HORIZON_END - 1)
    tur, rus, ukr = (names.ORIGINS.index(x) for x in ("TUR", "RUS", "UKR"))
    asylum_h = asylum_origin_h | (
        (hh_origin == tur) & (arrival_h >= day("2016-01-01")) & (rng.random(H) < 0.6)
    )
    asylum_h |= (hh_origin == rus) & (arrival_h >= day("2022-01-01")) & (rng.random(H) < 0.5)
    ukr_war_h = (hh_origin == ukr) & (arrival_h >= UKR_WAR)
    eu_h = np.isin(origin_str, list(names.EU_ORIGINS))
    pre_p = np.where(asylum_h, 0.3, np.where(is_deu_h, 0.0, 0.35))
    pre_len = np.where(
        asylum_h, _uniform_between(rng, np.full(H, 0.2), np.full(H, 2.5)), 5 * rng.random(H)
    )
    pre_h = np.where(rng.random(H) < pre_p, years(pre_len), 0)
    pre_h = np.where(ukr_war_h, np.minimum(pre_h, np.maximum(arrival_h - UKR_WAR, 0)), pre_h)
    entry_h = arrival_h - pre_h
    reunion_h = asylum_h & (hh_size >= 2) & (rng.random(H) < 0.3)
    delay = np.where(
        reunion_h[hh] & (role != ROLE_HEAD), years(0.5 + 2.5 * rng.random(n)), 0
    ).astype(np.int64)
    arrival = np.maximum(arrival_h[hh] + delay, birth)
    born_here = arrival == birth
    entry = np.maximum(np.where(delay > 0, arrival, entry_h[hh]), birth)

    group_h = np.array([_group(o) for o in origin_str], dtype=object)
    dep_p = np.array([_DEPARTURE_P[g] for g in group_h])
    dep_lo = np.maximum(FLOW_START, arrival_h + 90)
    departs = (rng.random(H) < dep_p) & (dep_lo < HORIZON_END)
    departure_h = np.where(
        departs, dep_lo + np.floor(rng.random(H) * (HORIZON_END - dep_lo)).astype(np.int64), NEVER
    )
    departure = departure_h[hh]
    shelter_until_h = np.where(
        asylum_h & (rng.random(H) < 0.75), arrival_h + months(6 + 24 * rng.random(H)), arrival_h
    )

    # --- residence status path (household decisions) ------------------------------------------
    s1 = np.full(H, S_NONE)
    s2 = np.full(H, S_NONE)
    s3 = np.full(H, S_NONE)
    t1 = np.full(H, NEVER)
    t2 = np.full(H, NEVER)
    s1[eu_h] = s2[eu_h] = s3[eu_h] = S_FZEU
    # refugees from Ukraine: temporary protection (§ 24), some change to another title later
    u = rng.random(H)
    s1[ukr_war_h] = S_AE24
    t1[ukr_war_h] = entry_h[ukr_war_h] + years(2 + 2 * u[ukr_war_h])
    s2[ukr_war_h] = np.where(rng.random(int(ukr_war_h.sum())) < 0.8, S_AE24, S_AE)
    s3[ukr_war_h] = s2[ukr_war_h]
    # asylum seekers: Gestattung until the decision, then recognised (AE) or tolerated (DUL)
    a = asylum_h
    na = int(a.sum())
    recent = entry_h[a] >= day("2023-01-01")
    decision_months = np.where(recent, 6 + 30 * rng.random(na), 4 + 20 * rng.random(na))
    rec_p = np.array([_RECOGNITION_P.get(o, 0.5) for o in origin_str[a]])
    s1[a] = S_GEST
    t1[a] = entry_h[a] + months(decision_months)
    s2[a] = np.where(rng.random(na) < rec_p, S_AE, S_DUL)
    t2[a] = t1[a] + years(4 + 4 * rng.random(na))
    u3 = rng.random(na)
    s3[a] = np.where(
        s2[a] == S_AE,
        np.where(u3 < 0.55, S_NE, np.where(u3 < 0.65, S_DAEU, S_AE)),
        np.where(u3 < 0.35, S_AE, S_DUL),
    )
    # other third-country nationals: residence permit, later settlement permit
    o_ = ~is_deu_h & ~eu_h & ~ukr_war_h & ~asylum_h
    no = int(o_.sum())
    s1[o_] = S_AE
    t1[o_] = entry_h[o_] + years(3 + 5 * rng.random(no))
    u2 = rng.random(no)
    s2[o_] = np.where(u2 < 0.6, S_NE, np.where(u2 < 0.75, S_DAEU, S_AE))
    s3[o_] = s2[o_]

    # naturalisation (whole household), not for the tolerated
    nat_p = np.array([_NATURALISATION_P.get(o, 0.0) for o in origin_str])
    nat_ok = ~is_deu_h & ((s2 != S_DUL) | (s3 == S_AE))
    nat_h = entry_h + years(5.5 + 3.5 * rng.random(H))
    nat_h = np.where(asylum_h & (s2 == S_AE), np.maximum(nat_h, t1 + years(1.0)), nat_h)
    nat_h = np.where(asylum_h & (s2 == S_DUL), np.maximum(nat_h, t2 + years(1.0)), nat_h)
    nat_h = np.where(
        nat_ok & (rng.random(H) < nat_p) & (nat_h < HORIZON_END) & (nat_h < departure_h),
        nat_h,
        NEVER,
    )
    nat_person = nat_h[hh]
    origin = name_origin.copy()
    origin[(name_origin != 0) & (birth >= nat_person)] = 0  # born German after naturalisation
    naturalised = np.where(
        (origin != 0) & (birth < nat_person) & (arrival <= nat_person), nat_person, NEVER
    )

    # --- SGB II spells (Bedarfsgemeinschaft = household) --------------------------------------
    sgb_start_h = np.full(H, NEVER)
    sgb_end_h = np.full(H, NEVER)
    us = rng.random(H)
    dur = rng.exponential(1.0, H)
    long_term = rng.random(H) < 0.55  # many refugee households stay dependent for years
    # Germans: one spell somewhere in 2008-2030 for a third of households
    m = is_deu_h & (us < 0.37)
    sgb_start_h[m] = from_years(2008 + 22 * rng.random(int(m.sum())))
    sgb_end_h[m] = sgb_start_h[m] + years(0.25 + 4.5 * dur[m])
    # recognised refugees: from the decision on
    m = asylum_h & (s2 == S_AE) & (us < 0.9)
    sgb_start_h[m] = t1[m] + rng.integers(0, 60, int(m.sum()))
    sgb_end_h[m] = sgb_start_h[m] + years(0.5 + np.where(long_term[m], 14.0, 4.0) * dur[m])
    m = asylum_h & (s2 == S_DUL) & (s3 == S_AE) & (us < 0.7)
    sgb_start_h[m] = t2[m] + rng.integers(0, 60, int(m.sum()))
    sgb_end_h[m] = sgb_start_h[m] + years(0.5 + np.where(long_term[m], 10.0, 4.0) * dur[m])
    m = ukr_war_h & (us < 0.85)
    sgb_start_h[m] = np.maximum(arrival_h[m], UKR_SGB2) + rng.integers(0, 90, int(m.sum()))
    sgb_end_h[m] = sgb_start_h[m] + years(0.5 + np.where(long_term[m], 12.0, 4.0) * dur[m])
    m = o_ & (us < 0.3)
    sgb_start_h[m] = arrival_h[m] + years(6 * rng.random(int(m.sum())))
    sgb_end_h[m] = sgb_start_h[m] + years(0.25 + 3.0 * dur[m])
    m = eu_h & (us < 0.3)
    sgb_start_h[m] = arrival_h[m] + years(5 * rng.random(int(m.sum())))
    sgb_end_h[m] = sgb_start_h[m] + years(0.25 + 3.0 * dur[m])
    # naturalisation requires a secured livelihood: the spell ended half a year before
    sgb_end_h = np.where(nat_h < NEVER, np.minimum(sgb_end_h, nat_h - 180), sgb_end_h)
    none = sgb_end_h <= sgb_start_h
    sgb_start_h[none] = NEVER
    sgb_end_h[none] = NEVER
    sgb_start = sgb_start_h[hh]
    sgb_end = sgb_end_h[hh]
    in_spell = sgb_start < NEVER
    # take-ups: the head leaves the spell for a job (spell end), some take up work during it
    takeup_exit = np.where(
        in_spell & (role == ROLE_HEAD) & (rng.random(n) < 0.55) & (sgb_end < HORIZON_END),
        sgb_end,
        NEVER,
    )
    span = np.where(in_spell, sgb_end - sgb_start, 0)
    takeup_mid = np.where(
        in_spell & (role != ROLE_CHILD) & (rng.random(n) < np.where(role == ROLE_HEAD, 0.2, 0.1)),
        sgb_start + np.floor(rng.random(n) * span).astype(np.int64),
        NEVER,
    )
    takeup_u = rng.random(n)
    not_employable = rng.random(n) < 0.05
    unemployed_u = rng.random(n)

    # --- Kita -------------------------------------------------------------------------------------
    deu = origin == 0
    school_delay = (rng.random(n) < 0.08).astype(np.int64)
    eff_by = by + ((bm > 9) | ((bm == 9) & (bd > 30))).astype(np.int64) + school_delay
    school_entry = first_of(eff_by + 6, 8)
    uk = rng.random(n)
    ever = uk < np.where(deu, 0.95, np.where(np.isin(name_origin, [ukr]), 0.7, 0.8))
    early = rng.random(n) < np.where(deu, 0.8, 0.35)
    start_age = np.where(
        early,
        np.where(deu, 0.9 + 0.7 * rng.random(n), 1.0 + 1.5 * rng.random(n)),
        np.where(deu, 2.6 + 0.8 * rng.random(n), 3.0 + 1.5 * rng.random(n)),
    )
    kita_start = np.maximum(birth + years(start_age), arrival + 30 + rng.integers(0, 210, n))
    kita_end = school_entry - 1
    valid = ever & (kita_start < kita_end)
    kita_start = np.where(valid, kita_start, NEVER)
    kita_end = np.where(valid, kita_end, NEVER)
    kita_day_care = rng.random(n) < np.where(start_age < 3, 0.25, 0.04)
    language_u = rng.random(n)

    # --- school -----------------------------------------------------------------------------------
    ut = rng.random(n)
    track = np.where(
        deu,
        np.searchsorted(np.cumsum([0.42, 0.40, 0.12, 0.06]), ut, side="right"),
        np.searchsorted(np.cumsum([0.22, 0.50, 0.18, 0.10]), ut, side="right"),
    )
    track = np.minimum(track, 3)
    uq = rng.random(n)
    late_arrival = ~deu & ~born_here & ((arrival - birth) > years(12))
    leave_grade = np.full(n, 10, dtype=np.int64)
    leave_qual = np.full(n, 3, dtype=np.int64)  # FOR
    # Gymnasium (12 years in Brandenburg)
    g = track == 0
    leave_grade[g] = np.where(uq[g] < 0.08, 10, 12)
    leave_qual[g] = np.where(uq[g] < 0.08, 3, np.where(uq[g] < 0.96, 4, 3))
    # Gesamtschule
    g = track == 2
    leave_grade[g] = np.where(uq[g] < 0.3, 13, 10)
    leave_qual[g] = np.where(
        uq[g] < 0.3,
        4,
        np.where(uq[g] < 0.72, 3, np.where(uq[g] < 0.9, 2, np.where(uq[g] < 0.96, 1, 0))),
    )
    # Oberschule
    g = track == 1
    q_cut = np.where(
        late_arrival[g][:, None], [0.35, 0.6, 0.78], [0.5, 0.8, 0.92]
    )  # FOR, EBR, BBR, ohne
    leave_qual[g] = np.where(
        uq[g] < q_cut[:, 0],
        3,
        np.where(uq[g] < q_cut[:, 1], 2, np.where(uq[g] < q_cut[:, 2], 1, 0)),
    )
    leave_grade[g] = np.where(leave_qual[g] <= 1, 9, 10)
    # Förderschule
    g = track == 3
    leave_qual[g] = np.where(uq[g] < 0.6, 0, 1)
    leave_grade[g] = 10
    osz = (leave_qual >= 1) & (leave_qual <= 3) & (rng.random(n) < 0.55)

    # --- integration course -----------------------------------------------------------------------
    third_country = (origin != 0) & ~np.isin(
        name_origin, [names.ORIGINS.index(x) for x in names.EU_ORIGINS]
    )
    a_p = asylum_h[hh]
    eligible_from = np.full(n, NEVER)
    p_course = np.zeros(n)
    m = third_country & a_p & (s2[hh] == S_AE)
    eligible_from[m] = np.maximum(t1[hh][m], arrival[m])
    p_course[m] = 0.75
    m = third_country & a_p & (s2[hh] == S_DUL) & (s3[hh] == S_AE)
    eligible_from[m] = np.maximum(t2[hh][m], arrival[m])
    p_course[m] = 0.6
    early_course = (
        third_country
        & a_p
        & (rng.random(n) < 0.3)
        & np.isin(name_origin, [names.ORIGINS.index(x) for x in ("SYR", "ERI", "AFG")])
    )
    eligible_from = np.where(early_course, entry + months(3 + 9 * rng.random(n)), eligible_from)
    p_course = np.where(early_course, 1.0, p_course)
    m = third_country & ~a_p
    eligible_from[m] = arrival[m]
    p_course[m] = np.where(ukr_war_h[hh][m], 0.8, 0.45)
    course_start = np.maximum(eligible_from, birth + years(16.0)) + months(1 + 14 * rng.random(n))
    takes = (rng.random(n) < p_course) & (eligible_from < NEVER)
    uc = rng.random(n)
    with_children = (hh_type[hh] >= 2) & (role != ROLE_CHILD)
    age_at_course = (course_start - birth) / 365.2425
    course_type = np.where(
        (age_at_course < 27) & (uc < 0.2),
        1,
        np.where(
            (sex == 1) & with_children & (uc < 0.35),
            np.where(uc < 0.28, 2, 3),
            np.where(
                np.isin(name_origin, [names.ORIGINS.index(x) for x in ("AFG", "ERI", "SYR")])
                & (uc > 0.8),
                4,
                np.where(uc > 0.96, 5, 0),
            ),
        ),
    )
    course_months = np.array(_COURSE_MONTHS)[course_type] + 2 * rng.random(n) - 1
    course_end = course_start + months(course_months)
    takes &= course_end + 182 < naturalised  # foreigners: listed until results are in
    course_start = np.where(takes, course_start, NEVER)
    course_end = np.where(takes, course_end, NEVER)
    ud = rng.random(n)
    dtz = np.where(
        rng.random(n) < 0.9, np.where(ud < 0.55, 0, np.where(ud < 0.85, 1, 2)), -1
    ).astype(np.int64)
    orientation = np.where(dtz >= 0, (rng.random(n) < 0.85).astype(np.int64), -1)
    azr_known = rng.random(n) < 0.8

    # --- counselling (MBE/JMD) --------------------------------------------------------------------
    p_case = np.where(third_country & (a_p | ukr_war_h[hh]), 0.55, np.where(origin != 0, 0.2, 0.0))
    case_start = arrival + months(48 * rng.random(n))
    case_start = np.maximum(case_start, birth + years(12.0))
    case_end = case_start + months(3 + 21 * rng.random(n))
    has_case = (rng.random(n) < p_case) & (case_end < naturalised)
    case_start = np.where(has_case, case_start, NEVER)
    case_end = np.where(has_case, case_end, NEVER)
    topic = rng.choice(len(TOPICS), size=n, p=np.array(_TOPIC_P))
    note_u = rng.random(n)

    # --- identifiers ------------------------------------------------------------------------------
    foreign_ever = origin != 0
    azr = np.zeros(n, dtype=np.int64)
    k = int(foreign_ever.sum())
    cand = rng.integers(10**11, 10**12, size=k * 2 + 16)
    _, first = np.unique(cand, return_index=True)
    uniq = cand[np.sort(first)][:k]
    azr[foreign_ever] = uniq
    adult = age >= 15
    mobile = rng.random(n) < np.where(name_origin == 0, 0.6, 0.9)
    pref = rng.integers(0, len(names.MOBILE_PREFIXES), n)
    area = rng.integers(0, len(names.AREA_CODES), n)
    digits = rng.integers(10**6, 10**8, n)
    intl = rng.random(n) < 0.5
    phone = np.array(
        [
            _phone(p, a, d, mob, it) if ad else None
            for ad, mob, p, a, d, it in zip(
                adult.tolist(),
                mobile.tolist(),
                pref.tolist(),
                area.tolist(),
                digits.tolist(),
                intl.tolist(),
                strict=True,
            )
        ],
        dtype=object,
    )
    de_places = np.array(names.BIRTH_PLACES_DE, dtype=object)
    place = de_places[rng.integers(0, len(de_places), n)]
    born_abroad = (name_origin != 0) & (entry > birth)
    pi = rng.integers(0, 1000, n)
    for oi, o in enumerate(names.ORIGINS):
        m = born_abroad & (name_origin == oi)
        if o in names.BIRTH_PLACES and m.any():
            opts = np.array(names.BIRTH_PLACES[o], dtype=object)
            place[m] = opts[pi[m] % len(opts)]
    legal_u = rng.random(n)

    p_ = hh  # household index per person
    return Population(
        seed=seed,
        n=n,
        gemeinden=gemeinden,
        given_table=given_table,
        family_table=family_table,
        n_family=n_family,
        hh=hh,
        hh_size=hh_size,
        hh_street=hh_street,
        shelter_address=shelter_address,
        role=role,
        name_origin=name_origin,
        origin=origin,
        sex=sex,
        birth=birth,
        by=by,
        bm=bm,
        bd=bd,
        given1=given1,
        given2=given2,
        family=family,
        birth_family=birth_family,
        ags=hh_ags[p_],
        arrival=arrival,
        entry=entry,
        departure=departure,
        born_here=born_here,
        asylum=asylum_h[p_],
        shelter_until=shelter_until_h[p_],
        s1=s1[p_],
        s2=s2[p_],
        s3=s3[p_],
        t1=t1[p_],
        t2=t2[p_],
        naturalised=naturalised,
        sgb_start=sgb_start,
        sgb_end=sgb_end,
        takeup_exit=takeup_exit,
        takeup_mid=takeup_mid,
        takeup_u=takeup_u,
        not_employable=not_employable,
        unemployed_u=unemployed_u,
        kita_start=kita_start,
        kita_end=kita_end,
        kita_day_care=kita_day_care,
        language_u=language_u,
        school_entry=school_entry,
        school_track=track,
        leave_grade=leave_grade,
        leave_qual=leave_qual,
        osz=osz,
        course_start=course_start,
        course_end=course_end,
        course_type=course_type,
        dtz=dtz,
        orientation=orientation,
        azr_known=azr_known,
        case_start=case_start,
        case_end=case_end,
        topic=topic,
        note_u=note_u,
        azr=azr,
        phone=phone,
        birth_place=place,
        legal_u=legal_u,
        lookalike=lookalike,
        lookalike_kind=lookalike_kind,
    )
