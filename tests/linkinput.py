"""Hand-built `LinkInput`s for the matching unit tests: every attribute missing unless given."""

from __future__ import annotations

from typing import Any

import numpy as np

from kiim.link_match import LinkInput


def link_input(agency: list[int] | np.ndarray, **given: Any) -> LinkInput:
    """A period of `len(agency)` records; `given` sets LinkInput fields (lists become arrays).

    Keys default to none, filters to all zeros (no filter), attributes to 0 (missing).
    """
    n = len(agency)
    fields: dict[str, Any] = {
        "keys": {},
        "clk": np.zeros((n, 16), dtype=np.uint64),
        **{a: np.zeros(n, dtype=np.int64) for a in ("sex", "nationality", "ags", "prior")},
        "birth_year": np.zeros(n, dtype=np.int64),
        "birth_month": np.zeros(n, dtype=np.int64),
    }
    for name, value in given.items():
        fields[name] = np.asarray(value) if isinstance(value, list) else value
    return LinkInput(agency=np.asarray(agency), **fields)
