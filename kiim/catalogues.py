"""Code lists that agency columns refer to by name (`catalogue: ags`).

The lists live as dbt seeds so that validation and the marts read the very same file.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from kiim.workspace import REPO_ROOT

SEEDS = REPO_ROOT / "dbt_project" / "seeds"
CATALOGUE_FILES = {"ags": "gemeinden.csv", "nationality": "nationalities.csv"}
CATALOGUE_KEY = {"ags": "ags", "nationality": "code"}


@cache
def catalogue_codes(name: str, seeds_dir: Path = SEEDS) -> frozenset[str]:
    """Allowed codes of a named catalogue."""
    if name not in CATALOGUE_FILES:
        raise KeyError(f"unknown catalogue '{name}'; known: {sorted(CATALOGUE_FILES)}")
    with (seeds_dir / CATALOGUE_FILES[name]).open(encoding="utf-8", newline="") as f:
        return frozenset(row[CATALOGUE_KEY[name]] for row in csv.DictReader(f, delimiter=";"))
