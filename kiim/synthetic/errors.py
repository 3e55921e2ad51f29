"""How each office gets a person's name and birth date wrong: the synthetic error model.

An error is decided once per person and office (not per month): an office that misspelt a
name keeps the misspelling in every monthly extract, as a real register does. Each rate is the
probability that the error is made *where it can be made* (a transliteration needs a name with
known variant spellings, a day/month swap a day <= 12, a dropped second given name a second
given name, ...). Every applied error is written to the ground truth.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache

import numpy as np

from kiim import names
from kiim.synthetic.population import Population

ERROR_TYPES: tuple[str, ...] = (
    "birth_name",  # the office still uses the birth name after a marriage
    "transliteration",  # another romanisation (Mohammed/Muhammad, Oleksandr/Alexander)
    "hyphen",  # Al-Hassan / Al Hassan / Alhassan
    "umlaut",  # Müller / Mueller / Muller
    "second_given_dropped",  # "Anna Maria" -> "Anna"
    "typo",  # one character inserted, deleted or replaced
    "name_swap",  # family and given name exchanged
    "day_month_swap",  # 04.03.1990 -> 03.04.1990
    "partial_date",  # only the year (00.00.1990) or year and month (00.03.1990) recorded
)
# Share of partial dates that lack the month as well (00.00.YYYY rather than 00.MM.YYYY).
PARTIAL_WITHOUT_MONTH = 0.7


@dataclass(frozen=True)
class ErrorRates:
    """Probabilities per error type for one agency (0 = never)."""

    birth_name: float = 0.0
    transliteration: float = 0.0
    hyphen: float = 0.0
    umlaut: float = 0.0
    second_given_dropped: float = 0.0
    typo: float = 0.0
    name_swap: float = 0.0
    day_month_swap: float = 0.0
    partial_date: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"error rate {f.name} must be within [0, 1], got {v}")

    def rate(self, kind: str) -> float:
        return float(getattr(self, kind))

    @classmethod
    def uniform(cls, rate: float) -> ErrorRates:
        return cls(**{k: rate for k in ERROR_TYPES})

    @property
    def any(self) -> bool:
        return any(self.rate(k) > 0 for k in ERROR_TYPES)


_REALISTIC: dict[str, ErrorRates] = {
    # the register copies the passport: few errors, no outdated names
    "ewo": ErrorRates(
        transliteration=0.03, hyphen=0.02, typo=0.005, name_swap=0.002, day_month_swap=0.002,
        partial_date=0.005,
    ),
    "abh": ErrorRates(
        birth_name=0.05, transliteration=0.05, hyphen=0.10, umlaut=0.02,
        second_given_dropped=0.05, typo=0.01, name_swap=0.01, day_month_swap=0.005,
        partial_date=0.002,
    ),
    "jobcenter": ErrorRates(
        birth_name=0.15, transliteration=0.25, hyphen=0.20, umlaut=0.02,
        second_given_dropped=0.30, typo=0.02, name_swap=0.02, day_month_swap=0.01,
        partial_date=0.01,
    ),
    "sozialamt": ErrorRates(
        birth_name=0.10, transliteration=0.30, hyphen=0.25, umlaut=0.05,
        second_given_dropped=0.30, typo=0.03, name_swap=0.03, day_month_swap=0.01,
        partial_date=0.02,
    ),
    "integrationskurs": ErrorRates(
        birth_name=0.10, transliteration=0.35, hyphen=0.25, umlaut=0.15,
        second_given_dropped=0.40, typo=0.03, name_swap=0.02, day_month_swap=0.01,
        partial_date=0.01,
    ),
    "schulamt": ErrorRates(
        birth_name=0.05, transliteration=0.15, hyphen=0.15, umlaut=0.02,
        second_given_dropped=0.20, typo=0.01, name_swap=0.005, day_month_swap=0.005,
        partial_date=0.005,
    ),
    "kita": ErrorRates(
        birth_name=0.05, transliteration=0.15, hyphen=0.15, umlaut=0.02,
        second_given_dropped=0.20, typo=0.01, name_swap=0.005, day_month_swap=0.005,
        partial_date=0.005,
    ),
    "beratung": ErrorRates(
        birth_name=0.10, transliteration=0.40, hyphen=0.30, umlaut=0.10,
        second_given_dropped=0.40, typo=0.04, name_swap=0.03, day_month_swap=0.02,
        partial_date=0.03,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ErrorModel:
    """Per-agency error rates; agencies not listed use `default`."""

    rates: Mapping[str, ErrorRates] = field(default_factory=dict)
    default: ErrorRates = ErrorRates()

    def for_agency(self, agency: str) -> ErrorRates:
        return self.rates.get(agency, self.default)

    @classmethod
    def none(cls) -> ErrorModel:
        """Every office writes names and birth dates exactly (linkage upper bound)."""
        return cls()

    @classmethod
    def realistic(cls) -> ErrorModel:
        """Defaults: the register is clean, counselling and course providers the least so."""
        return cls(rates=dict(_REALISTIC), default=ErrorRates.uniform(0.02))


def agency_code(agency: str) -> int:
    return zlib.crc32(agency.encode("utf-8"))


class AgencyDraws:
    """Random numbers per person for one agency, independent of the period.

    Each stream is a full-population array from its own seeded Generator, so a person's draw
    does not depend on who else appears in a month's extract.
    """

    def __init__(self, seed: int, agency: str, n: int):
        self.seed = seed
        self.code = agency_code(agency)
        self.n = n
        self._cache: dict[str, np.ndarray] = {}

    def _rng(self, stream: str) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence([self.seed, 2, self.code, zlib.crc32(stream.encode())])
        )

    def u(self, stream: str) -> np.ndarray:
        if stream not in self._cache:
            self._cache[stream] = self._rng(stream).random(self.n)
        return self._cache[stream]

    def permutation(self) -> np.ndarray:
        return self._rng("record-number").permutation(self.n)


@cache
def _variant_table(
    given: tuple[str, ...], given_origin: tuple[str, ...], family: tuple[str, ...],
    family_origin: tuple[str, ...], n_family: int,
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:  # fmt: skip
    gv = tuple(names.variants(g, o) for g, o in zip(given, given_origin, strict=True))
    fv = tuple(
        names.variants(f, o, feminine_form=i >= n_family)
        for i, (f, o) in enumerate(zip(family, family_origin, strict=True))
    )
    return gv, fv


def _table_origins(pop: Population) -> tuple[tuple[str, ...], tuple[str, ...]]:
    g_or: list[str] = []
    f_or: list[str] = []
    for o in names.ORIGINS:
        pool = names.POOLS[o]
        g_or.extend([o] * (len(pool.male) + len(pool.female)))
        f_or.extend([o] * len(pool.family))
    return tuple(g_or), tuple(f_or + f_or)


def variant_tables(
    pop: Population,
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """Per given-table and family-table entry: its other spellings."""
    g_or, f_or = _table_origins(pop)
    return _variant_table(
        tuple(pop.given_table.tolist()), g_or, tuple(pop.family_table.tolist()), f_or, pop.n_family
    )


_TYPO_LETTERS = "abcdefghiklmnoprstuvwyz"


def _typo(s: str, u_op: float, u_pos: float, u_char: float) -> str:
    if len(s) < 3:
        return s + _TYPO_LETTERS[int(u_char * len(_TYPO_LETTERS))]
    pos = 1 + int(u_pos * (len(s) - 1))  # never the first letter
    ch = _TYPO_LETTERS[int(u_char * len(_TYPO_LETTERS))]
    if u_op < 0.5:  # substitute
        pos = min(pos, len(s) - 1)
        if s[pos].lower() == ch:
            ch = _TYPO_LETTERS[(_TYPO_LETTERS.index(ch) + 1) % len(_TYPO_LETTERS)]
        return s[:pos] + ch + s[pos + 1 :]
    if u_op < 0.75:  # delete
        pos = min(pos, len(s) - 1)
        return s[:pos] + s[pos + 1 :]
    return s[:pos] + ch + s[pos:]  # insert


@dataclass
class WrittenIdentity:
    """Names and birth dates as one agency writes them, per row, and the errors made."""

    family: np.ndarray  # object
    given: np.ndarray  # object
    birth: np.ndarray  # int64 day numbers
    errors: list[list[str]]
    # 0: the date as written; 1: day unknown (00.MM.YYYY); 2: day and month unknown (00.00.YYYY)
    birth_unknown: np.ndarray | None = None


def apply_errors(
    pop: Population, rows: np.ndarray, rates: ErrorRates, draws: AgencyDraws
) -> WrittenIdentity:
    """Write the canonical identity of `rows` (person indices) with this agency's errors."""
    family = pop.family_names(rows).copy()
    given = pop.given_names(rows).copy()
    birth = pop.birth[rows].copy()
    errors: list[list[str]] = [[] for _ in range(len(rows))]
    if not rates.any or len(rows) == 0:
        return WrittenIdentity(family, given, birth, errors)

    gv, fv = variant_tables(pop)
    g_has = np.array([len(v) > 0 for v in gv])
    f_has = np.array([len(v) > 0 for v in fv])
    g_uml = np.array([names.has_umlaut(g) for g in pop.given_table])
    f_uml = np.array([names.has_umlaut(f) for f in pop.family_table])
    f_sep = np.array([names.has_separator(f) for f in pop.family_table])
    g_sep = np.array([" " in g for g in pop.given_table])

    g1 = pop.given1[rows]
    g2 = pop.given2[rows]
    fam_i = pop.family[rows]
    bf = pop.birth_family[rows]
    g2_ok = g2 >= 0
    g2_safe = np.where(g2_ok, g2, 0)
    bd, bm = pop.bd[rows], pop.bm[rows]
    eligible = {
        "birth_name": bf >= 0,
        "transliteration": f_has[fam_i] | g_has[g1] | (g2_ok & g_has[g2_safe]),
        "hyphen": f_sep[fam_i],
        "umlaut": f_uml[fam_i] | g_uml[g1] | (g2_ok & g_uml[g2_safe]),
        "second_given_dropped": g2_ok | g_sep[g1],
        "typo": np.ones(len(rows), dtype=bool),
        "name_swap": np.ones(len(rows), dtype=bool),
        # only where the swapped date is earlier than the true one: a swap never produces a
        # birth date in the future, and never a month's first day (a period bound)
        "day_month_swap": bd < bm,
        "partial_date": np.ones(len(rows), dtype=bool),
    }
    hit = {
        k: eligible[k] & (draws.u(k)[rows] < rates.rate(k)) if rates.rate(k) > 0 else None
        for k in ERROR_TYPES
    }
    active = [(k, m) for k, m in hit.items() if m is not None and m.any()]
    if not active:
        return WrittenIdentity(family, given, birth, errors)
    candidates = np.zeros(len(rows), dtype=bool)
    for _, m in active:
        candidates |= m
    uc = draws.u("choice")[rows]
    u_style = draws.u("style")[rows]
    u_target = draws.u("typo-target")[rows]
    u_op = draws.u("typo-op")[rows]
    u_pos = draws.u("typo-pos")[rows]
    u_chr = draws.u("typo-char")[rows]
    on = {k: m for k, m in active}
    unknown = np.zeros(len(rows), dtype=np.int8)
    ft, gt = pop.family_table, pop.given_table
    for r in np.flatnonzero(candidates).tolist():
        fam = str(family[r])
        tokens = [str(gt[g1[r]])] + ([str(gt[g2[r]])] if g2[r] >= 0 else [])
        errs = errors[r]
        k_choice = int(uc[r] * 1_000_003)
        if "birth_name" in on and on["birth_name"][r]:
            fam = str(ft[bf[r]])
            errs.append("birth_name")
        if "transliteration" in on and on["transliteration"][r]:
            changed = False
            f_idx = bf[r] if "birth_name" in errs else fam_i[r]
            if fv[f_idx]:
                fam = fv[f_idx][k_choice % len(fv[f_idx])]
                changed = True
            for j, gi in enumerate((g1[r], g2[r])):
                if gi >= 0 and gv[gi]:
                    tokens[j] = gv[gi][(k_choice // 7 + j) % len(gv[gi])]
                    changed = True
            if changed:
                errs.append("transliteration")
        if "hyphen" in on and on["hyphen"][r] and names.has_separator(fam):
            fam = names.separator_variant(fam, k_choice)
            errs.append("hyphen")
        if "umlaut" in on and on["umlaut"][r]:
            plain = u_style[r] < 0.3
            new_fam = names.umlaut_variant(fam, plain)
            new_tokens = [names.umlaut_variant(t, plain) for t in tokens]
            if new_fam != fam or new_tokens != tokens:
                fam, tokens = new_fam, new_tokens
                errs.append("umlaut")
        if "second_given_dropped" in on and on["second_given_dropped"][r]:
            words = " ".join(tokens).split(" ")
            if len(words) > 1:
                tokens = [words[0]]
                errs.append("second_given_dropped")
        giv = " ".join(tokens)
        if "typo" in on and on["typo"][r]:
            if u_target[r] < 0.6:
                fam = _typo(fam, u_op[r], u_pos[r], u_chr[r])
            else:
                giv = _typo(giv, u_op[r], u_pos[r], u_chr[r])
            errs.append("typo")
        if "name_swap" in on and on["name_swap"][r]:
            fam, giv = giv, fam
            errs.append("name_swap")
        if "day_month_swap" in on and on["day_month_swap"][r]:
            d = np.datetime64(int(birth[r]), "D").astype(object)
            swapped = d.replace(day=d.month, month=d.day)
            birth[r] = int(np.datetime64(swapped, "D").astype(np.int64))
            errs.append("day_month_swap")
        if "partial_date" in on and on["partial_date"][r]:
            unknown[r] = 2 if draws.u("partial-month")[rows[r]] < PARTIAL_WITHOUT_MONTH else 1
            errs.append("partial_date")
        family[r] = fam
        given[r] = giv
    return WrittenIdentity(family, given, birth, errors, unknown if unknown.any() else None)
