"""Free-text scrubbing with Presidio, fully offline.

No spaCy model can be installed on these machines (the registry's German model is a
placeholder), so there is no NER and no generic PERSON detection. What works instead:

* Presidio's `NoOpNlpEngine` (no model, no download) with pattern recognizers: phone numbers
  (libphonenumber plus a German pattern for "0176 2345678", "+49 3375 123456",
  "03375/123456"), e-mail, IBAN, dates (numeric and "3. März 1985"), German street
  addresses ("Bahnhofstr. 12", "Am Markt 3a", "Berliner Straße 5", "15711 Königs
  Wusterhausen"), German ID numbers (tax id, social security, ID card, passport, health
  insurance) and long digit runs (case and AZR numbers);
* a per-record deny list built from the record's own names (family, given, birth name),
  matched case-insensitively as whole words, also in umlaut-folded and accent-free spelling
  and with a genitive "s": the names a note is most likely to contain are exactly the ones
  the record itself delivers.

Matches are replaced by German placeholders (<PERSON>, <TELEFON>, <EMAIL>, <ADRESSE>,
<DATUM>, <IBAN>, <KENNUNG>, <URL>). `scan` reports findings without the matched text, for
validation of columns that are declared non-identifying.
"""

from __future__ import annotations

import os

# tldextract (used by Presidio's e-mail and URL recognizers) would download the public
# suffix list on first use; an empty URL list makes it use its bundled snapshot.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import functools
import multiprocessing
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,
)
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import (
    DateRecognizer,
    DeHealthInsuranceRecognizer,
    DeIdCardRecognizer,
    DePassportRecognizer,
    DeSocialSecurityRecognizer,
    DeTaxIdRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
)

from pseudonymization.normalize import PARTICLES

PLACEHOLDERS: dict[str, str] = {
    "PERSON": "<PERSON>",
    "PHONE_NUMBER": "<TELEFON>",
    "EMAIL_ADDRESS": "<EMAIL>",
    "ADDRESS": "<ADRESSE>",
    "DATE_TIME": "<DATUM>",
    "IBAN_CODE": "<IBAN>",
    "URL": "<URL>",
    "ID_NUMBER": "<KENNUNG>",
}
_DEFAULT_PLACEHOLDER = "<KENNUNG>"  # German ID recognizers (DE_TAX_ID, DE_ID_CARD, ...)
MIN_SCORE = 0.3

_CASE_SENSITIVE = re.DOTALL | re.MULTILINE  # Presidio's default adds IGNORECASE
_STREET_WORDS = (
    r"(?i:stra(?:ß|ss)e|str\.|weg|allee|platz|ring|gasse|damm|ufer|chaussee|pfad|steig|"
    r"graben|markt|promenade|zeile|hof|berg|siedlung|winkel|twiete)"
)
# a house number: 1-3 whole digits (no backtracking into "2023", and "Heidelberg 2022" is a
# year, not an address), optional letter or range ("3a", "3-5")
_HOUSE_NO = r"\d{1,3}(?!\d)(?:\s?[a-zA-Z]\b)?(?:\s?[-/]\s?\d{1,3}(?!\d)(?:\s?[a-zA-Z]\b)?)?"
# ... that is not a quantity ("am Montag 14 Uhr", "im Jahr 2023", "seit 3 Wochen")
_NOT_QUANTITY = (
    r"(?!\s?(?:Uhr|Jahr|Jahre|Jahren|Monat|Monate|Monaten|Woche|Wochen|Tag|Tage|Tagen|"
    r"Stunden|Minuten|Euro|EUR|€|%|Prozent|Kinder|Personen)\b)"
)
_NOT_STREET = (
    r"(?!(?:Jahr|Jahre|Monat|Woche|Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|"
    r"Sonntag|Alter|Raum|Zimmer|Kurs|Modul|Termin|Zeitraum|Rahmen|Vorjahr|Anfang|Ende)\b)"
)
_CAP = r"[A-ZÄÖÜ][\wäöüßÄÖÜ-]*"
_MONTHS = (
    r"(?:Januar|Jan|Jänner|Februar|Feb|März|Maerz|Mär|April|Apr|Mai|Juni|Jun|Juli|Jul|"
    r"August|Aug|September|Sept|Sep|Oktober|Okt|November|Nov|Dezember|Dez)"
)


def _address_recognizer() -> PatternRecognizer:
    """German street addresses; case-sensitive, because capitals mark the street name."""
    patterns = [
        # "Bahnhofstr. 12", "Karl-Marx-Straße 5b", "Hauptstrasse 3-5"
        Pattern(
            "street compound",
            rf"\b[A-ZÄÖÜ][\wäöüßÄÖÜ-]*?{_STREET_WORDS}\s?{_HOUSE_NO}{_NOT_QUANTITY}",
            0.7,
        ),
        # "Berliner Straße 5", "Lübbener Chaussee 12", "Straße des Friedens 3"
        Pattern(
            "street separate",
            rf"\b{_CAP}\s+(?:Stra(?:ß|ss)e|Str\.|Weg|Allee|Platz|Ring|Gasse|Damm|Ufer|"
            rf"Chaussee|Pfad|Steig|Markt|Promenade)(?:\s+(?:des|der|am|an\sder)\s+{_CAP})?"
            rf"\s?{_HOUSE_NO}{_NOT_QUANTITY}",
            0.7,
        ),
        Pattern(
            "street of",
            rf"\b(?:Stra(?:ß|ss)e|Platz|Allee)\s+(?:des|der|am|zum|zur)\s+{_CAP}\s?{_HOUSE_NO}",
            0.7,
        ),
        # "Am Markt 3a", "An der Kirche 5", "Zum Hafen 2", "Unter den Linden 77"
        Pattern(
            "street preposition",
            r"\b(?i:am|an\s+der|an\s+den|an\s+dem|auf\s+der|auf\s+dem|im|in\s+der|in\s+den|"
            r"zum|zur|unter\s+den|hinter\s+der|hinter\s+dem|vor\s+dem|alt)\s+"
            rf"{_NOT_STREET}{_CAP}(?:\s+{_CAP})?\s?{_HOUSE_NO}{_NOT_QUANTITY}",
            0.6,
        ),
        # "15711 Königs Wusterhausen" (postcode + place)
        Pattern(
            "postcode place",
            r"\b\d{5}\s+(?!Euro\b|EUR\b)[A-ZÄÖÜ][a-zäöüß]+(?:[\s-][A-ZÄÖÜ][a-zäöüß]+)?",
            0.6,
        ),
    ]
    return PatternRecognizer(
        supported_entity="ADDRESS",
        patterns=patterns,
        supported_language="de",
        name="DeAddress",
        global_regex_flags=_CASE_SENSITIVE,
    )


def _german_phone_recognizer() -> PatternRecognizer:
    """German phone numbers in the spellings offices type, valid or not."""
    pattern = r"(?<![\w+])(?:\+49|0049|0)[\s\-/]?\(?0?\d{2,5}\)?(?:[\s\-/]?\d{2,8}){1,4}(?![\w])"
    return PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        patterns=[Pattern("german phone", pattern, 0.6)],
        supported_language="de",
        name="DePhonePattern",
    )


def _date_recognizer_de() -> PatternRecognizer:
    patterns = [
        Pattern(
            "german text date",
            rf"\b(?:0?[1-9]|[12]\d|3[01])\.\s?{_MONTHS}\.?(?:\s?(?:\d{{4}}|\d{{2}})\b)?",
            0.6,
        ),
        Pattern("month year", rf"\b{_MONTHS}\s\d{{4}}\b", 0.4),
    ]
    return PatternRecognizer(
        supported_entity="DATE_TIME", patterns=patterns, supported_language="de", name="DeDate"
    )


def _id_number_recognizer() -> PatternRecognizer:
    """Case, customer and AZR numbers: six or more digits, or any number after a keyword.

    Presidio runs patterns with the `regex` module, which allows the variable-length
    look-behind that keeps the keyword ("Aktenzeichen <KENNUNG>") readable.
    """
    keyword = (
        r"(?:Aktenzeichen|Az\.|AZ|Akte|Kundennummer|Kunden-Nr\.|Kd\.-Nr\.|Fallnummer|"
        r"Fall-Nr\.|Vorgangsnummer|Vorgang|Teilnehmernummer|TN-Nr\.|AZR-Nummer|AZR|"
        r"Schülernummer|Personalausweis(?:nummer)?|Pass(?:nummer)?|Steuer-ID|BG-Nummer|"
        r"Nr\.)"
    )
    return PatternRecognizer(
        supported_entity="ID_NUMBER",
        patterns=[
            Pattern("long number", r"\b[A-Z]{0,3}[-/]?\d{6,}\b", 0.4),
            Pattern(
                "number after keyword",
                rf"(?<=\b{keyword}\s?:?\s?)[A-Z0-9][\w/.-]*\d[\w/-]*",
                0.6,
            ),
        ],
        supported_language="de",
        name="IdNumber",
    )


@dataclass(frozen=True)
class Finding:
    """One detected span. Deliberately holds no matched text, so it is safe to log."""

    entity_type: str
    start: int
    end: int
    score: float


def _fold_variants(name: str) -> set[str]:
    """A name as written, with umlauts folded (ü -> ue) and with accents stripped."""
    folded = (
        name.replace("ä", "ae")
        .replace("ö", "oe")
        .replace("ü", "ue")
        .replace("Ä", "Ae")
        .replace("Ö", "Oe")
        .replace("Ü", "Ue")
        .replace("ß", "ss")
    )
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    )
    return {name, folded, stripped}


def deny_terms(names: Iterable[str | None]) -> list[str]:
    """Words to remove for a record: each name whole and its parts, minus particles.

    Parts shorter than two letters and particles ("von", "al", "de") are left out: they
    are ordinary words in a note and carry no identifying value on their own.
    """
    terms: set[str] = set()
    for name in names:
        if not name or not name.strip():
            continue
        name = unicodedata.normalize("NFC", name.strip())
        parts = [p.strip('.,;:()"') for p in re.split(r"[\s\-'’`´]+", name)]
        terms.update(_fold_variants(name))
        for part in parts:
            if len(part) < 2 or part.upper() in PARTICLES or not any(c.isalpha() for c in part):
                continue
            terms.update(_fold_variants(part))
    return sorted(terms, key=len, reverse=True)


def _deny_regex(terms: Sequence[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?:s|'s|’s)?(?!\w)", re.IGNORECASE)


class Scrubber:
    """Presidio analyzer (built once; creating it takes about a second) plus deny lists."""

    def __init__(self, language: str = "de") -> None:
        self.language = language
        nlp_engine = NoOpNlpEngine(models=[{"lang_code": language, "model_name": "none"}])
        registry = RecognizerRegistry(supported_languages=[language])
        recognizers: list[EntityRecognizer] = [
            EmailRecognizer(supported_language=language),
            PhoneRecognizer(supported_language=language, supported_regions=("DE",), leniency=1),
            _german_phone_recognizer(),
            IbanRecognizer(supported_language=language),
            DateRecognizer(supported_language=language),
            _date_recognizer_de(),
            _address_recognizer(),
            _id_number_recognizer(),
            UrlRecognizer(supported_language=language),
            DeTaxIdRecognizer(supported_language=language),
            DeSocialSecurityRecognizer(supported_language=language),
            DeIdCardRecognizer(supported_language=language),
            DePassportRecognizer(supported_language=language),
            DeHealthInsuranceRecognizer(supported_language=language),
        ]
        for recognizer in recognizers:
            recognizer.supported_language = language
            registry.add_recognizer(recognizer)
        self._analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=nlp_engine, supported_languages=[language]
        )
        # The first analysis loads phone metadata and the bundled suffix list (~0.5 s);
        # do it here so per-text timings are steady.
        self.scan("Tel. 0176 2345678, a@b.de, 01.02.2003")

    def scan(self, text: str | None) -> list[Finding]:
        """PII spans Presidio finds in `text` (no deny list), ordered by position."""
        if not text or not text.strip():
            return []
        results = self._analyzer.analyze(
            text=text, language=self.language, score_threshold=MIN_SCORE
        )
        findings = {Finding(r.entity_type, r.start, r.end, float(r.score)) for r in results}
        return sorted(findings, key=lambda f: (f.start, -f.end, f.entity_type))

    def scrub(self, text: str | None, deny: Iterable[str | None] = ()) -> str | None:
        """`text` with every finding and every deny-list name replaced by a placeholder."""
        if text is None:
            return None
        spans = [(f.start, f.end, f.score, f.entity_type) for f in self.scan(text)]
        pattern = _deny_regex(deny_terms(deny))
        if pattern is not None:
            spans += [(m.start(), m.end(), 1.0, "PERSON") for m in pattern.finditer(text)]
        return _replace(text, spans)

    def scrub_many(
        self,
        texts: Iterable[str | None],
        deny_lists: Iterable[Iterable[str | None]],
        *,
        workers: int | None = None,
    ) -> list[str | None]:
        """`scrub` per text with its own record's names, over all cores for large batches.

        `workers`: None picks by batch size (`PARALLEL_MIN_TEXTS` per worker, at most one per
        core); a number asks for that many worker processes (1: in this process).
        """
        pairs = [(text, list(deny)) for text, deny in zip(texts, deny_lists, strict=True)]
        return self._map(_scrub_one, pairs, workers)

    def scan_many(
        self, texts: Iterable[str | None], *, workers: int | None = None
    ) -> list[list[Finding]]:
        """`scan` per text, over all cores for large batches (`workers` as in `scrub_many`)."""
        return self._map(_scan_one, list(texts), workers)

    def _map(
        self, func: Callable[[Scrubber, _T], _R], items: list[_T], workers: int | None
    ) -> list[_R]:
        """`func(self, item)` per item, in worker processes when the batch is large.

        Presidio's pattern recognizers are pure Python (~4 ms per counselling note), so a
        state-sized month (~30 000 notes) would spend two minutes on one core. Workers come
        from a fork server (a fresh single-threaded process) and build their own scrubber:
        forking the calling process itself deadlocked under Airflow, whose task process
        runs threads (a lock held by another thread at the fork stays locked in the child).
        Only items and results cross process boundaries.
        """
        if workers is None:
            workers = min(len(os.sched_getaffinity(0)), len(items) // PARALLEL_MIN_TEXTS)
        cores = max(1, min(workers, len(items)))
        if cores == 1:
            return [func(self, item) for item in items]
        chunks = [items[i::cores] for i in range(cores)]
        context = _worker_context()
        with context.Pool(cores, initializer=_start_worker, initargs=(self.language,)) as pool:
            parts = pool.map(functools.partial(_run_chunk, func), chunks)
        out: list[_R] = [None] * len(items)  # type: ignore[list-item]
        for i, part in enumerate(parts):
            out[i::cores] = part
        return out


# Texts per worker below which a worker costs more than it saves: starting one and building
# its scrubber takes 1-2 s, a text ~4 ms.
PARALLEL_MIN_TEXTS = 1_000
_T = TypeVar("_T")
_R = TypeVar("_R")
# A worker process's own scrubber, built by `_start_worker`; never set in the caller.
_WORKER_SCRUBBER: Scrubber | None = None


def _worker_context() -> multiprocessing.context.BaseContext:
    """Fork server where the platform has one (workers start with Presidio imported)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def _start_worker(language: str) -> None:
    global _WORKER_SCRUBBER
    _WORKER_SCRUBBER = Scrubber(language)


def _run_chunk(func: Callable[[Scrubber, Any], Any], items: list[Any]) -> list[Any]:
    if _WORKER_SCRUBBER is None:  # pragma: no cover - the pool's initializer sets it
        raise RuntimeError("scrub worker started without a scrubber")
    return [func(_WORKER_SCRUBBER, item) for item in items]


def _scrub_one(scrubber: Scrubber, item: tuple[str | None, list[str | None]]) -> str | None:
    return scrubber.scrub(item[0], item[1])


def _scan_one(scrubber: Scrubber, text: str | None) -> list[Finding]:
    return scrubber.scan(text)


def _replace(text: str, spans: list[tuple[int, int, float, str]]) -> str:
    """Replace overlapping spans as one region, labelled by its strongest (then longest) span."""
    if not spans:
        return text
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[list] = []
    for start, end, score, entity in spans:
        if merged and start < merged[-1][1]:
            region = merged[-1]
            region[1] = max(region[1], end)
            if (score, end - start) > (region[2], region[4]):
                region[2], region[3], region[4] = score, entity, end - start
        else:
            merged.append([start, end, score, entity, end - start])
    out: list[str] = []
    pos = 0
    for start, end, _, entity, _ in merged:
        out.append(text[pos:start])
        out.append(PLACEHOLDERS.get(entity, _DEFAULT_PLACEHOLDER))
        pos = end
    out.append(text[pos:])
    return "".join(out)
