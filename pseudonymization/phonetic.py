"""Kölner Phonetik (Cologne phonetics) codes for transliteration-tolerant link keys.

Offices transliterate the same name differently (Mohammed / Muhammad / Mohamed, Oleksandr /
Aleksandr / Alexander). Kölner Phonetik maps letters to sound classes tuned for German
pronunciation, so these variants share one code (662 and 0548627). The codes are never
stored in clear: the pipeline feeds them into keyed hashes and Bloom filters.

Names are normalised first (`normalize_name`), so particles, umlaut spellings and accents
are treated exactly as in the other encodings.

`cologne` is the scalar reference: it calls the `cologne-phonetics` library, which applies
17 regular expressions per word (about 100 µs per name, the largest single cost of encoding a
month). The column functions (`cologne_words`, `cologne_codes`) apply the same rules once to
all distinct words of a column joined by newlines: the context rules (d/t, x, c) stay regular
expressions, rewritten so the engine scans for the letter first; the context-free ones become
one `str.translate`; the two clean-up rules (repeated digits, inner zeros) are numpy masks.
About 1 µs per word; tests pin it to the library on random words and all generator names.
"""

from __future__ import annotations

import re
from typing import Any, overload

import cologne_phonetics
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymization._arrow import to_string_array
from pseudonymization.normalize import normalize_distinct, normalize_name

# The library's context rules in its order, for one word per line: "^" with re.M is the start
# of every word, and a lookbehind written after the letter ("x(?<![ckq]x)" for "(?<![ckq])x")
# matches the same positions, but lets the engine skip to the next "x" instead of testing
# every position.
_CONTEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[dt](?![csz])"), "2"),
    (re.compile(r"[dt](?=[csz])"), "8"),
    (re.compile(r"x(?<![ckq]x)"), "48"),
    (re.compile(r"x(?<=[ckq]x)"), "x8"),  # the library keeps the x until the [hx] rule
    (re.compile(r"^c(?=[ahkloqrux])|c(?<![sz]c)(?=[ahkoqux])", re.M), "4"),
    (re.compile(r"c(?![ahkoqux])|c(?<=[sz]c)|^c(?![ahkloqrux])", re.M), "8"),
)
_NOT_LETTER = re.compile(r"[^a-z\n]+")
# the library's remaining rules are context-free except "p(?=h)" -> 3, done by replacing "ph"
# (the h is deleted right after anyway)
_LETTER_CODES = str.maketrans(
    {
        **dict.fromkeys("bp", "1"),
        **dict.fromkeys("fvw", "3"),
        **dict.fromkeys("hx", None),
        **dict.fromkeys("aeijouy", "0"),
        **dict.fromkeys("gkq", "4"),
        "l": "5",
        **dict.fromkeys("mn", "6"),
        "r": "7",
        **dict.fromkeys("sz", "8"),
    }
)
_NEWLINE, _ZERO = ord("\n"), ord("0")


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


def _code_words(words: list[str]) -> list[str]:
    """Kölner Phonetik of single words (letters only), "" where nothing is codable."""
    text = "\n".join(words).lower()
    letters = text.replace("\n", "")
    if not (letters.isascii() and letters.isalpha()):
        text = _NOT_LETTER.sub("", text)  # the library's first rule: drop everything else
    for pattern, replacement in _CONTEXT_RULES:
        text = pattern.sub(replacement, text)
    digits = np.frombuffer(text.replace("ph", "3").translate(_LETTER_CODES).encode(), np.uint8)
    if len(digits):
        # repeated digits collapse to one; then zeros go except at the start of a word
        keep = np.ones(len(digits), dtype=bool)
        keep[1:] = digits[1:] != digits[:-1]
        keep |= digits == _NEWLINE
        digits = digits[keep]
        keep = digits != _ZERO
        keep[0] = True
        keep[1:] |= digits[:-1] == _NEWLINE
        digits = digits[keep]
    return digits.tobytes().decode("ascii").split("\n")


def cologne_words(words: Any) -> pa.StringArray:
    """Kölner Phonetik of a column of single normalised words (A-Z); null if not codable.

    Equal to `cologne` for such words; each distinct word is coded once.
    """
    arr = to_string_array(words)
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    encoded = arr.dictionary_encode()
    distinct = encoded.dictionary
    if pc.any(pc.match_substring_regex(distinct, r"\s")).as_py():
        raise ValueError("cologne_words expects single normalised words")
    codes = pa.array(_code_words(distinct.to_pylist()), pa.string())
    codes = pc.if_else(pc.equal(codes, ""), pa.scalar(None, pa.string()), codes)
    return pc.take(codes, encoded.indices)


def name_word_codes(names: pa.StringArray) -> tuple[np.ndarray, pa.StringArray]:
    """Per word of normalised names: (index of its name, its code or null)."""
    words = pc.split_pattern(names, " ")
    parents = pc.list_parent_indices(words).to_numpy(zero_copy_only=False)
    return parents.astype(np.int64), cologne_words(pc.list_flatten(words))


def cologne_codes(values: Any) -> pa.StringArray:
    """Vectorised `cologne`: computed once per distinct name (names repeat a lot)."""
    arr = to_string_array(values)
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    encoded = arr.dictionary_encode()
    names = normalize_distinct(encoded.dictionary)
    parents, codes = name_word_codes(names.fill_null(""))
    valid = pc.is_valid(codes).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[valid], minlength=len(names))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, codes.filter(valid)), " ")
    joined = pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)
    return pc.take(joined, encoded.indices)
