"""Kölner Phonetik (Cologne phonetics) codes for transliteration-tolerant link keys.

Offices transliterate the same name differently (Mohammed / Muhammad / Mohamed, Oleksandr /
Aleksandr / Alexander). Kölner Phonetik maps letters to sound classes tuned for German
pronunciation, so these variants share one code (662 and 0548627). The codes are never
stored in clear: the pipeline feeds them into keyed hashes and Bloom filters.

Names are normalised first (`normalize_name`), so particles, umlaut spellings and accents
are treated exactly as in the other encodings.
"""

from __future__ import annotations

from typing import Any, overload

import cologne_phonetics
import pyarrow as pa

from pseudonymization._arrow import map_distinct
from pseudonymization.normalize import normalize_name


@overload
def cologne(s: None) -> None: ...
@overload
def cologne(s: str) -> str | None: ...
def cologne(s: str | None) -> str | None:
    """Kölner Phonetik code of a name; one code per word, separated by a space.

    Returns None for null input and for names without any codable letter (an empty code
    would otherwise link every such record with every other).

    Examples:
        >>> cologne("Mohammed"), cologne("Muhammad"), cologne("Alexander")
        ('662', '662', '0548627')
        >>> cologne("Müller-Lüdenscheidt")
        '657 52682'
    """
    normalised = normalize_name(s)
    if normalised is None:
        return None
    codes = [code for _, code in cologne_phonetics.encode(normalised.lower()) if code]
    return " ".join(codes) or None


def cologne_codes(values: Any) -> pa.StringArray:
    """Vectorised `cologne`: computed once per distinct name (names repeat a lot)."""
    return map_distinct(values, cologne)
