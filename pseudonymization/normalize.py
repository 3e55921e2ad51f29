"""Name normalisation before hashing and encoding.

A keyed hash is all-or-nothing: "Müller" and "MUELLER" must become the same string before
hashing, or the same person gets two pseudonyms. The rules, in order (README.md explains the
choices):

1. Unicode NFKC (ligatures, full-width and compatibility forms become plain letters), then
   upper case (so case never matters, and "ß" becomes "SS").
2. German folding: Ä -> AE, Ö -> OE, Ü -> UE, ß/ẞ -> SS (also the lower-case forms), and the
   letters that Unicode does not decompose: Æ -> AE, Œ -> OE, Ø -> OE, Ł -> L, Đ/Ð -> D,
   Þ -> TH, Ħ -> H.
3. Other accents are stripped (NFKD, combining marks dropped): É -> E, Ş -> S, Ć -> C.
4. Apostrophes, hyphens, punctuation, symbols and white space become a space; digits and
   letters of other scripts are dropped, so the result contains only A-Z and single spaces.
5. Name particles are dropped as separate words (see `PARTICLES`), unless the name consists
   of particles only (then it is kept whole, so a family name "De" does not vanish).
6. Empty results become None: an empty name carries no information and must never turn into
   a link key that every nameless record shares.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymization._arrow import map_distinct, to_string_array

# Dropped when they stand as a separate word ("AL HASSAN" -> "HASSAN", "VON DER LEYEN" ->
# "LEYEN") because offices write them inconsistently: with or without, joined by a hyphen
# or a space, in any case. Deliberately NOT in the list, because they are frequent names in
# their own right: LE, LA (Vietnamese and French surnames), DU, DO (Chinese, Vietnamese),
# DAS (Bengali), BEN (given name), AN (Vietnamese), Y (initial).
PARTICLES: frozenset[str] = frozenset(
    {
        # Arabic article and its assimilated spellings
        "AL",
        "EL",
        "UL",
        "AS",
        "AD",
        # Arabic filiation and kunya
        "BIN",
        "BINT",
        "IBN",
        "ABU",
        "ABOU",
        # German, Dutch, Romance nobiliary and locative particles
        "VON",
        "VOM",
        "ZU",
        "ZUM",
        "ZUR",
        "VAN",
        "DER",
        "DEN",
        "TER",
        "TEN",
        "DE",
        "DES",
        "DEL",
        "DELLA",
        "DI",
        "DA",
        "DOS",
    }
)

_FOLD = str.maketrans(
    {
        "Ä": "AE",
        "Ö": "OE",
        "Ü": "UE",
        "ä": "AE",
        "ö": "OE",
        "ü": "UE",
        "ß": "SS",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "AE",
        "Œ": "OE",
        "œ": "OE",
        "Ø": "OE",
        "ø": "OE",
        "Ł": "L",
        "ł": "L",
        "Đ": "D",
        "đ": "D",
        "Ð": "D",
        "ð": "D",
        "Þ": "TH",
        "þ": "TH",
        "Ħ": "H",
        "ħ": "H",
    }
)


class _FinalMap(dict[int, str]):
    """str.translate table built lazily: A-Z stay, marks/digits/letters vanish, rest -> space."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if "A" <= char <= "Z":
            result = char
        elif unicodedata.category(char)[0] in "MLN" and unicodedata.category(char) != "Lm":
            result = ""  # combining marks, digits, letters of other scripts
        else:
            result = " "  # punctuation, hyphens, apostrophes (also modifier letters), spaces
        self[code] = result
        return result


_FINAL = _FinalMap()


def normalize_name(s: str | None) -> str | None:
    """Normalise one name: only A-Z and single spaces, particles dropped, None if empty.

    Examples:
        >>> normalize_name("  Müller-Lüdenscheidt ")
        'MUELLER LUEDENSCHEIDT'
        >>> normalize_name("al-Hassan"), normalize_name("José María de la Cruz")
        ('HASSAN', 'JOSE MARIA LA CRUZ')
        >>> normalize_name("Straße"), normalize_name("STRASSE")
        ('STRASSE', 'STRASSE')
    """
    if s is None:
        return None
    text = unicodedata.normalize("NFKC", s).upper().translate(_FOLD)
    text = unicodedata.normalize("NFKD", text).translate(_FINAL)
    tokens = text.split()
    kept = [t for t in tokens if t not in PARTICLES]
    if kept:
        tokens = kept
    return " ".join(tokens) or None


def given_name_tokens(s: str | None) -> list[str]:
    """The given names of a person as separate normalised tokens ("Anna-Lena Marie" -> 3).

    Examples:
        >>> given_name_tokens("Anna-Lena  Marie")
        ['ANNA', 'LENA', 'MARIE']
    """
    normalised = normalize_name(s)
    return normalised.split() if normalised else []


def first_given_name(s: str | None) -> str | None:
    """The first normalised given name, or None ("Mohammed Ali" -> "MOHAMMED")."""
    tokens = given_name_tokens(s)
    return tokens[0] if tokens else None


# A normalised name that still holds a particle as a separate word needs the scalar rule
# (particles are dropped unless the name has nothing else).
_PARTICLE_WORD = "(^| )(" + "|".join(sorted(PARTICLES)) + ")( |$)"


def normalize_distinct(values: pa.StringArray) -> pa.StringArray:
    """`normalize_name` of every element, with the common case done by Arrow kernels.

    For plain ASCII (nearly every name an office delivers) the rules reduce to: upper case,
    digits dropped, every other non-letter run becomes one space, trimmed. Arrow does that
    for the whole column in C++; the few values that are not ASCII or still contain a
    particle word go through `normalize_name`, so both paths give identical results
    (tested). Meant for columns of distinct values: the scalar fallback is per element.
    """
    if len(values) == 0:
        return pa.array([], type=pa.string())
    plain = pc.fill_null(pc.string_is_ascii(values), False)
    spaced = pc.replace_substring_regex(
        pc.replace_substring_regex(pc.ascii_upper(values), "[0-9]+", ""), "[^A-Z]+", " "
    )
    fast = pc.utf8_trim(spaced, " ")
    slow = pc.or_(
        pc.invert(plain), pc.fill_null(pc.match_substring_regex(fast, _PARTICLE_WORD), False)
    )
    slow = pc.and_(slow, pc.is_valid(values))
    fast = pc.if_else(pc.equal(fast, ""), pa.scalar(None, pa.string()), fast)
    slow_idx = np.flatnonzero(slow.to_numpy(zero_copy_only=False))
    if len(slow_idx) == 0:
        return fast
    redone = pa.array(
        [normalize_name(v) for v in values.take(pa.array(slow_idx)).to_pylist()], pa.string()
    )
    return pc.replace_with_mask(fast, slow, redone)


def normalize_names(values: Any) -> pa.StringArray:
    """Vectorised `normalize_name` (computed once per distinct value); nulls stay null."""
    arr = to_string_array(values)
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    encoded = arr.dictionary_encode()
    return pc.take(normalize_distinct(encoded.dictionary), encoded.indices)


def first_given_names(values: Any) -> pa.StringArray:
    """Vectorised `first_given_name` (computed once per distinct value)."""
    return map_distinct(values, first_given_name)
