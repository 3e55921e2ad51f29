"""Who appears in each agency's monthly extract, with which values: agency-specific content.

Each builder returns the extract's content by canonical field name (the `field` of the agency
config); the writer puts it into the file exactly as the config says (headers, order, formats,
encoding). Values are typed arrays: dates as day numbers (NEVER = empty), booleans as int8
(-1 = empty), integers as int64, strings as object arrays (None = empty).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kiim import names
from kiim.synthetic.errors import AgencyDraws, ErrorRates, apply_errors
from kiim.synthetic.population import (
    COURSE_TYPES,
    DTZ_RESULTS,
    LEAVING_QUALIFICATIONS,
    ROLE_CHILD,
    ROLE_HEAD,
    ROLE_PARTNER,
    S_AE,
    S_AE24,
    S_DAEU,
    S_DEU,
    S_DUL,
    S_FZEU,
    S_GEST,
    S_NE,
    S_NONE,
    SCHOOL_TRACKS,
    SEX_CODES,
    STATUS_CODES,
    TOPICS,
    Population,
)
from kiim.synthetic.timeline import NEVER, Period, age_at, ymd

RECORD_ID_FORMAT = {
    "ewo": "EWO-{:0{w}d}",
    "abh": "ABH-{:0{w}d}",
    "jobcenter": "JC7-{:0{w}d}",
    "sozialamt": "SOZ-AS-{:0{w}d}",
    "integrationskurs": "IK-TN-{:0{w}d}",
    "schulamt": "SCH-{:0{w}d}",
    "kita": "KITA-{:0{w}d}",
    "beratung": "BER-{:0{w}d}",
}

LEGAL_GROUNDS: dict[int, tuple[str, ...]] = {
    S_NE: ("§ 9 AufenthG", "§ 26 Abs. 3 AufenthG", "§ 26 Abs. 4 AufenthG"),
    S_DAEU: ("§ 9a AufenthG",),
    S_FZEU: ("§ 2 Abs. 2 Nr. 1 FreizügG/EU", "§ 2 Abs. 2 Nr. 7 FreizügG/EU", "§ 4 FreizügG/EU"),
    S_AE: (
        "§ 25 Abs. 2 AufenthG", "§ 25 Abs. 1 AufenthG", "§ 25 Abs. 3 AufenthG", "§ 28 AufenthG",
        "§ 30 AufenthG", "§ 32 AufenthG", "§ 18a AufenthG", "§ 16a AufenthG", "§ 25b AufenthG",
        "§ 104c AufenthG",
    ),
    S_AE24: ("§ 24 AufenthG",),
    S_DUL: ("§ 60a Abs. 2 AufenthG", "§ 60d AufenthG"),
    S_GEST: ("§ 55 AsylG",),
    S_DEU: ("§ 10 StAG",),
}  # fmt: skip
_TOPIC_TEXT = {
    "Aufenthalt": "Verlängerung der Aufenthaltserlaubnis",
    "Arbeit": "Arbeitssuche",
    "Sprache": "Anmeldung zum Sprachkurs",
    "Wohnen": "Wohnungssuche",
    "Gesundheit": "Krankenversicherung",
    "Familie": "Familiennachzug",
    "Finanzen": "Kindergeld",
}


@dataclass
class ExtractContent:
    """One agency's extract for one period, before formatting."""

    agency: str
    persons: np.ndarray  # person index per row, rows ordered by record number
    record_ids: list[str]
    values: dict[str, np.ndarray]
    errors: list[list[str]]
    extra_identifiers: set[str] = field(default_factory=set)  # in notes, guardians, ...
    birth_unknown: np.ndarray | None = None  # per row: 1 = 00.MM.YYYY, 2 = 00.00.YYYY


@dataclass
class PeriodState:
    """The population at one month: who lives here, how old, which status and nationality."""

    pop: Population
    period: Period
    present: np.ndarray  # bool per person
    age: np.ndarray  # completed years at the last day of the month
    status: np.ndarray  # status code index at the last day of the month
    nationality: np.ndarray  # object: ISO alpha-3 at the last day of the month
    in_shelter: np.ndarray  # bool: lives in shared accommodation

    @classmethod
    def of(cls, pop: Population, period: Period) -> PeriodState:
        t = period.end
        present = (pop.arrival <= period.end) & (pop.departure >= period.start)
        age = age_at(pop.by, pop.bm, pop.bd, t)
        status = np.where(t < pop.t1, pop.s1, np.where(t < pop.t2, pop.s2, pop.s3))
        status = np.where(pop.origin == 0, S_NONE, status)
        status = np.where(pop.naturalised <= t, S_DEU, status)
        codes = np.array(names.ORIGINS, dtype=object)
        nationality = np.where(
            (pop.origin == 0) | (pop.naturalised <= t), "DEU", codes[pop.origin]
        ).astype(object)
        in_shelter = pop.asylum & (t < pop.shelter_until)
        return cls(pop, period, present, age, status, nationality, in_shelter)

    def address(self, idx: np.ndarray) -> np.ndarray:
        pop = self.pop
        home = pop.hh_street[pop.hh[idx]]
        shelter = pop.shelter_address[pop.ags[idx]]
        return np.where(self.in_shelter[idx], shelter, home).astype(object)


def _in(dates: np.ndarray, period: Period) -> np.ndarray:
    return (dates >= period.start) & (dates <= period.end)


def _dates_or_never(mask: np.ndarray, dates: np.ndarray) -> np.ndarray:
    return np.where(mask, dates, NEVER).astype(np.int64)


def _bool(mask: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    out = mask.astype(np.int8)
    if null is not None:
        out[null] = -1
    return out


def _pick(options: tuple[str, ...], u: np.ndarray) -> np.ndarray:
    arr = np.array(options, dtype=object)
    return arr[np.minimum((u * len(arr)).astype(np.int64), len(arr) - 1)]


def _finish(
    agency: str,
    st: PeriodState,
    rows: np.ndarray,
    values: dict[str, Callable[[np.ndarray], np.ndarray]],
    rates: ErrorRates,
    draws: AgencyDraws,
    extra_fn: Callable[[np.ndarray, dict[str, np.ndarray], set[str]], None] | None = None,
) -> ExtractContent:
    """Order rows by record number, add identity columns (with errors) and record ids."""
    pop = st.pop
    perm = draws.permutation()
    numbers = perm[rows] + 1
    order = np.argsort(numbers, kind="stable")
    rows = rows[order]
    numbers = numbers[order]
    width = max(7, len(str(pop.n)))
    fmt = RECORD_ID_FORMAT.get(agency, agency[:4].upper() + "-{:0{w}d}")
    record_ids = [fmt.format(x, w=width) for x in numbers.tolist()]
    written = apply_errors(pop, rows, rates, draws)
    out: dict[str, np.ndarray] = {
        "record_id": np.array(record_ids, dtype=object),
        "family_name": written.family,
        "given_names": written.given,
        "birth_date": written.birth,
        "sex": np.array(SEX_CODES, dtype=object)[pop.sex[rows]],
        "nationality": st.nationality[rows],
        "ags": np.array([g.ags for g in pop.gemeinden], dtype=object)[pop.ags[rows]],
    }
    for k, v in values.items():
        out[k] = v(rows)
    extra: set[str] = set()
    if extra_fn is not None:
        extra_fn(rows, out, extra)
    return ExtractContent(
        agency, rows, record_ids, out, written.errors, extra, written.birth_unknown
    )


def ewo(st: PeriodState, rates: ErrorRates, draws: AgencyDraws) -> ExtractContent:
    """Every resident of the month, Germans included; those leaving carry the move-out date."""
    pop, p = st.pop, st.period
    rows = np.flatnonzero(st.present)
    return _finish(
        "ewo",
        st,
        rows,
        {
            "birth_name": pop.birth_names,
            "birth_place": lambda r: pop.birth_place[r],
            "address": st.address,
            "move_in_date": lambda r: _dates_or_never(~pop.born_here[r], pop.arrival[r]),
            "move_out_date": lambda r: _dates_or_never(_in(pop.departure[r], p), pop.departure[r]),
            "religion": lambda r: _pick(names.RELIGION_CODES, draws.u("religion")[r]),
        },
        rates,
        draws,
    )


def abh(st: PeriodState, rates: ErrorRates, draws: AgencyDraws) -> ExtractContent:
    """Foreign nationals and naturalised persons (status DEU, naturalisation date set)."""
    pop, p = st.pop, st.period
    rows = np.flatnonzero(st.present & (pop.origin != 0))

    def legal(r: np.ndarray) -> np.ndarray:
        out = np.full(len(r), None, dtype=object)
        s = st.status[r]
        for code, options in LEGAL_GROUNDS.items():
            m = s == code
            if m.any():
                out[m] = _pick(options, pop.legal_u[r][m])
        return out

    return _finish(
        "abh",
        st,
        rows,
        {
            "azr_number": lambda r: pop.azr[r].astype(str).astype(object),
            "residence_status": lambda r: np.array(STATUS_CODES, dtype=object)[st.status[r]],
            "legal_ground": legal,
            "entry_date": lambda r: pop.entry[r],
            "naturalisation_date": lambda r: _dates_or_never(
                pop.naturalised[r] <= p.end, pop.naturalised[r]
            ),
        },
        rates,
        draws,
    )


def sgb2_mask(st: PeriodState) -> np.ndarray:
    """Persons receiving SGB II in the month (the Bedarfsgemeinschaft's spell covers it)."""
    pop, p = st.pop, st.period
    return (
        st.present
        & (pop.sgb_start <= p.end)
        & (pop.sgb_end >= p.start)
        & (st.age < 67)
        & ~np.isin(st.status, [S_GEST, S_DUL])
    )


def employable_mask(st: PeriodState) -> np.ndarray:
    return (st.age >= 15) & (st.age < 67) & ~st.pop.not_employable


def jobcenter(st: PeriodState, rates: ErrorRates, draws: AgencyDraws) -> ExtractContent:
    """SGB II recipients: employable adults and the children of their household."""
    pop, p = st.pop, st.period
    rows = np.flatnonzero(sgb2_mask(st))

    def takeup(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        elb = employable_mask(st)[r]
        exit_ = _in(pop.takeup_exit[r], p)
        mid = _in(pop.takeup_mid[r], p)
        date = np.where(exit_, pop.takeup_exit[r], np.where(mid, pop.takeup_mid[r], NEVER))
        date = np.where(elb, date, NEVER).astype(np.int64)
        u = pop.takeup_u[r]
        young = st.age[r] < 25
        kind = np.where(
            young & (u < 0.45),
            "Ausbildung",
            np.where(~young & (u < 0.06), "Selbststaendigkeit", "Beschaeftigung"),
        ).astype(object)
        kind[date == NEVER] = None
        return date, kind

    def unemployed(r: np.ndarray) -> np.ndarray:
        elb = employable_mask(st)[r]
        date, _ = takeup(r)
        return _bool((pop.unemployed_u[r] < 0.45) & (date == NEVER), null=~elb)

    def phone(r: np.ndarray) -> np.ndarray:
        ph = pop.phone[r].copy()
        ph[draws.u("phone-missing")[r] < 0.15] = None
        return ph

    return _finish(
        "jobcenter",
        st,
        rows,
        {
            "phone": phone,
            "household_id": lambda r: np.array(
                [f"BG-{h + 1:07d}" for h in pop.hh[r].tolist()], dtype=object
            ),
            "sgb2_benefit": lambda r: np.ones(len(r), dtype=np.int8),
            "employable": lambda r: _bool(employable_mask(st)[r]),
            "unemployed": unemployed,
            "take_up_date": lambda r: takeup(r)[0],
            "take_up_kind": lambda r: takeup(r)[1],
        },
        rates,
        draws,
        extra_fn=lambda r, out, extra: extra.update(v for v in out["household_id"]),
    )


def sozialamt(st: PeriodState, rates: ErrorRates, draws: AgencyDraws) -> ExtractContent:
    """AsylbLG: persons with Gestattung or Duldung; recent arrivals in shared accommodation."""
    pop = st.pop
    rows = np.flatnonzero(st.present & np.isin(st.status, [S_GEST, S_DUL]))
    return _finish(
        "sozialamt",
        st,
        rows,
        {
            "address": st.address,
            "benefit_start_date": lambda r: pop.arrival[r],
            "accommodation": lambda r: np.where(st.in_shelter[r], "GU", "WO").astype(object),
        },
        rates,
        draws,
    )


def integrationskurs(st: PeriodState, rates: ErrorRates, draws: AgencyDraws) -> ExtractContent:
    """Course participants from course start until six months after its end (results)."""
    pop, p = st.pop, st.period
    listed = (pop.course_start <= p.end) & (pop.course_end + 182 >= p.start)
    rows = np.flatnonzero(st.present & listed)

    def finished(r: np.ndarray) -> np.ndarray:
        return pop.course_end[r] <= p.end

    def known_azr(r: np.ndarray) -> np.ndarray:
        out = pop.azr[r].astype(str).astype(object)
        out[~pop.azr_known[r]] = None  # the provider does not always know the AZR number
        return out

    def dtz(r: np.ndarray) -> np.ndarray:
        out = np.array(DTZ_RESULTS, dtype=object)[np.maximum(pop.dtz[r], 0)]
        out[~finished(r) | (pop.dtz[r] < 0)] = None
        return out

    return _finish(
        "integrationskurs",
        st,
        rows,
        {
            "azr_number": known_azr,
            "course_type": lambda r: np.array(COURSE_TYPES, dtype=object)[pop.course_type[r]],
            "course_start_date": lambda r: pop.course_start[r],
            "course_end_date": lambda r: pop.course_end[r],
            "dtz_result": dtz,
            "orientation_passed": lambda r: _bool(
                pop.orientation[r] == 1, null=~finished(r) | (pop.orientation[r] < 0)
            ),
        },
        rates,
        draws,
    )


def _school(st: PeriodState) -> dict[str, np.ndarray]:
    """Grade, school type and leaving for everybody (masked to pupils by the caller)."""
    pop, p = st.pop, st.period
    school_year = p.year if p.month >= 8 else p.year - 1
    entry_year = ymd(pop.school_entry)[0]
    grade = school_year - entry_year + 1
    general = (grade >= 1) & (grade <= pop.leave_grade)
    osz_years = grade - pop.leave_grade
    in_osz = pop.osz & (osz_years >= 1) & (osz_years <= 2)
    leaving = general & (grade == pop.leave_grade) & (p.month == 7)
    tracks = np.array(SCHOOL_TRACKS, dtype=object)
    school_type = np.where(
        pop.school_track == 3, "FS", np.where(grade <= 6, "GS", tracks[pop.school_track])
    ).astype(object)
    school_type = np.where(in_osz, "OSZ", school_type).astype(object)
    grade_shown = np.where(in_osz, 10 + osz_years, grade)
    return {
        "pupil": st.present & (general | in_osz),
        "grade": grade_shown.astype(np.int64),
        "school_type": school_type,
        "leaving": leaving,
    }


def schulamt(st: PeriodState, rates: ErrorRates, draws: AgencyDraws) -> ExtractContent:
    """Pupils by school type and grade; DaZ phase for recent arrivals; leavers in July."""
    pop, p = st.pop, st.period
    s = _school(st)
    rows = np.flatnonzero(s["pupil"])

    def daz(r: np.ndarray) -> np.ndarray:
        since = (p.end - pop.arrival[r]) / (365.2425 / 12)
        foreign = (pop.origin[r] != 0) & ~pop.born_here[r]
        phase = np.where(
            since < 12, "1", np.where(since < 24, "2", np.where(since < 36, "3", "keine"))
        )
        return np.where(foreign, phase, "keine").astype(object)

    def qualification(r: np.ndarray) -> np.ndarray:
        q = np.array(LEAVING_QUALIFICATIONS, dtype=object)[pop.leave_qual[r]]
        q[~s["leaving"][r]] = None
        return q

    def guardians(r: np.ndarray) -> np.ndarray:
        out = np.full(len(r), None, dtype=object)
        minors = np.flatnonzero((st.age[r] < 18) & (pop.role[r] == ROLE_CHILD))
        if len(minors) == 0:
            return out
        head = np.searchsorted(pop.hh, pop.hh[r[minors]], side="left")
        partner = head + 1
        has_partner = (partner < pop.n) & (pop.hh[np.minimum(partner, pop.n - 1)] == pop.hh[head])
        has_partner &= pop.role[np.minimum(partner, pop.n - 1)] == ROLE_PARTNER
        head_names = _full_names(pop, head)
        partner_safe = np.where(has_partner, partner, head)
        partner_names = _full_names(pop, partner_safe)
        head_here = st.present[head]
        partner_here = has_partner & st.present[partner_safe]
        for j, i in enumerate(minors.tolist()):
            parts = [str(head_names[j])] if head_here[j] else []
            if partner_here[j]:
                parts.append(str(partner_names[j]))
            if parts:
                out[i] = ", ".join(parts)
        return out

    def extra(_r: np.ndarray, out: dict[str, np.ndarray], ids: set[str]) -> None:
        for v in out["guardians"]:
            if v is not None:
                ids.add(v)
                for person in str(v).split(", "):
                    ids.add(person)
                    ids.update(person.split(" "))

    return _finish(
        "schulamt",
        st,
        rows,
        {
            "guardians": guardians,
            "school_type": lambda r: s["school_type"][r],
            "grade": lambda r: s["grade"][r],
            "daz_phase": daz,
            "left_school": lambda r: _bool(s["leaving"][r]),
            "leaving_qualification": qualification,
        },
        rates,
        draws,
        extra_fn=extra,
    )


def _full_names(pop: Population, idx: np.ndarray) -> np.ndarray:
    return (pop.given_names(idx) + " " + pop.family_names(idx)).astype(object)


def kita(st: PeriodState, rates: ErrorRates, draws: AgencyDraws) -> ExtractContent:
    """Children in Kita or Kindertagespflege; language support assessed from age three."""
    pop, p = st.pop, st.period
    rows = np.flatnonzero(st.present & (pop.kita_start <= p.end) & (pop.kita_end >= p.start))

    def need(r: np.ndarray) -> np.ndarray:
        p_need = np.where(pop.origin[r] != 0, 0.55, 0.12)
        return _bool(pop.language_u[r] < p_need, null=st.age[r] < 3)

    return _finish(
        "kita",
        st,
        rows,
        {
            "care_type": lambda r: np.where(
                pop.kita_day_care[r], "Kindertagespflege", "Kita"
            ).astype(object),
            "care_start_date": lambda r: pop.kita_start[r],
            "language_support_need": need,
        },
        rates,
        draws,
    )


def _ascii(s: str) -> str:
    folded = names.umlaut_variant(s, plain=False)
    return "".join(c for c in folded.lower() if c.isascii() and c.isalnum())


def beratung(st: PeriodState, rates: ErrorRates, draws: AgencyDraws) -> ExtractContent:
    """Open MBE/JMD cases with the counsellor's free-text note (full of personal data)."""
    pop, p = st.pop, st.period
    rows = np.flatnonzero(st.present & (pop.case_start <= p.end) & (pop.case_end >= p.start))
    age_at_start = (pop.case_start - pop.birth) / 365.2425

    def extra(r: np.ndarray, out: dict[str, np.ndarray], ids: set[str]) -> None:
        notes = np.full(len(r), None, dtype=object)
        addresses = st.address(r)
        gemeinde = [g.name.split(" (")[0] for g in pop.gemeinden]
        for j, i in enumerate(r.tolist()):
            facts = _NoteFacts(
                family=str(out["family_name"][j]),
                given=str(out["given_names"][j]),
                topic=str(out["topic"][j]),
                address=str(addresses[j]),
                town=gemeinde[pop.ags[i]],
            )
            notes[j] = _note(pop, i, facts, ids)
        out["note"] = notes

    return _finish(
        "beratung",
        st,
        rows,
        {
            "service": lambda r: np.where(age_at_start[r] < 27, "JMD", "MBE").astype(object),
            "case_start_date": lambda r: pop.case_start[r],
            "topic": lambda r: np.array(TOPICS, dtype=object)[pop.topic[r]],
        },
        rates,
        draws,
        extra_fn=extra,
    )


def _relative(pop: Population, i: int) -> tuple[str, int] | None:
    """A household member to mention in a note: (relation, person index)."""
    h = int(pop.hh[i])
    head = int(np.searchsorted(pop.hh, h, side="left"))
    size = int(pop.hh_size[h])
    others = [j for j in range(head, head + size) if j != i]
    if not others:
        return None
    j = others[int(pop.note_u[i] * 997) % len(others)]
    female = pop.sex[j] == 1
    if pop.role[i] == ROLE_CHILD and pop.role[j] in (ROLE_HEAD, ROLE_PARTNER):
        rel = "Mutter" if female else "Vater"
    elif pop.role[j] == ROLE_CHILD and pop.role[i] != ROLE_CHILD:
        rel = "Tochter" if female else "Sohn"
    elif pop.role[j] == ROLE_CHILD:
        rel = "Schwester" if female else "Bruder"
    else:
        rel = "Ehefrau" if female else "Ehemann"
    return rel, j


@dataclass(frozen=True)
class _NoteFacts:
    """What the counsellor writes about: the name as this office spells it, and where."""

    family: str
    given: str
    topic: str
    address: str
    town: str


def _note(pop: Population, i: int, facts: _NoteFacts, ids: set[str]) -> str | None:
    """A counsellor's note in German: names, phone, e-mail, address, a relative, a topic.

    Every identifying value that ends up in the text is added to `ids` (canaries).
    """
    family, given, address, town = facts.family, facts.given, facts.address, facts.town
    u = float(pop.note_u[i])
    template = int(u * 7)
    anrede = {0: "Herr ", 1: "Frau "}.get(int(pop.sex[i]), "")
    phone = pop.phone[i]
    topic_text = _TOPIC_TEXT.get(facts.topic, facts.topic)
    first = given.split(" ")[0]
    email = (
        f"{_ascii(first)}.{_ascii(family)}{int(u * 10_000) % 90 + 10}@"
        + (names.EMAIL_DOMAINS[int(u * 100_003) % len(names.EMAIL_DOMAINS)])
    )
    rel = _relative(pop, i)
    if template in (2, 4) and rel is None:
        template = 3
    if template in (0, 1) and phone is None:
        template = 3
    if template == 5:
        return "Erstgespräch, Unterlagen vollständig."
    if template == 6:
        return None
    if template in (0, 3, 4):
        ids.add(address)
    if template == 0:
        ids.add(str(phone))
        return (
            f"{anrede}{given} {family} (Tel. {phone}) wohnt jetzt {address} in {town}, "
            f"Termin wg. {topic_text}."
        )
    if template == 1:
        ids.add(str(phone))
        return f"Rückruf erbeten unter {phone}. {anrede}{family} bringt Bescheid vom Jobcenter mit."
    if template == 3:
        return (
            f"Termin mit {given} {family}, Anschrift {address}, {town}. "
            f"Unterlagen zu {topic_text} fehlen noch."
        )
    assert rel is not None
    relation, j = rel
    rel_given = str(pop.given_table[pop.given1[j]])
    rel_family = str(pop.family_table[pop.family[j]])
    ids.update({f"{rel_given} {rel_family}", rel_given, rel_family, email})
    if template == 2:
        return (
            f"E-Mail von {email}: Frage zu {topic_text}. {relation} {rel_given} {rel_family} "
            "begleitet zum Termin."
        )
    return f"Hausbesuch {address} in {town}; {relation} {rel_given} übersetzt. Kontakt: {email}"


BUILDERS: dict[str, Callable[[PeriodState, ErrorRates, AgencyDraws], ExtractContent]] = {
    "ewo": ewo,
    "abh": abh,
    "jobcenter": jobcenter,
    "sozialamt": sozialamt,
    "integrationskurs": integrationskurs,
    "schulamt": schulamt,
    "kita": kita,
    "beratung": beratung,
}
