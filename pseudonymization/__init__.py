"""Standalone pseudonymisation toolkit of kiim: keys, keyed hashes, normalisation, phonetics,
Bloom-filter encodings and free-text scrubbing.

Independent of Airflow, dbt and the `kiim` package, so it can be reviewed, tested and reused
on its own. A thin public API (re-exported here); see README.md for the reasoning.

`Scrubber` and `Finding` are loaded lazily: importing Presidio and spaCy takes seconds, and
most callers (hashing, encoding) never need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pseudonymization.bloom import (
    clk_encode,
    clk_encode_reference,
    dice,
    from_binary_array,
    to_binary_array,
)
from pseudonymization.keyed_hash import combine, keyed_hash, keyed_hash_reference
from pseudonymization.keys import (
    MissingKeyError,
    create_key_file,
    derive_key,
    key_id,
    load_key,
)
from pseudonymization.normalize import (
    PARTICLES,
    first_given_name,
    first_given_names,
    given_name_tokens,
    normalize_name,
    normalize_names,
)
from pseudonymization.phonetic import cologne, cologne_codes

if TYPE_CHECKING:
    from pseudonymization.scrub import Finding, Scrubber

__all__ = [
    "PARTICLES",
    "Finding",
    "MissingKeyError",
    "Scrubber",
    "clk_encode",
    "clk_encode_reference",
    "cologne",
    "cologne_codes",
    "combine",
    "create_key_file",
    "derive_key",
    "dice",
    "first_given_name",
    "first_given_names",
    "from_binary_array",
    "given_name_tokens",
    "key_id",
    "keyed_hash",
    "keyed_hash_reference",
    "load_key",
    "normalize_name",
    "normalize_names",
    "to_binary_array",
]


def __getattr__(name: str) -> Any:
    if name in ("Scrubber", "Finding"):
        from pseudonymization import scrub

        return getattr(scrub, name)
    raise AttributeError(f"module 'pseudonymization' has no attribute {name!r}")
