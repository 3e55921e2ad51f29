"""Dates as int64 day numbers (days since 1970-01-01), vectorised.

Why plain integers: every life event of every person is compared with period bounds many
times per month generated; integer arrays keep that fast and make "never" a simple sentinel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

NEVER = np.int64(2**40)  # sentinel "no such event" (far beyond any date)
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DAYS_PER_YEAR = 365.2425


def day(iso: str) -> int:
    """Day number of an ISO date string."""
    return int(np.datetime64(iso, "D").astype(np.int64))


def from_years(years: np.ndarray) -> np.ndarray:
    """Fractional calendar years (2015.5) -> day numbers (approximate, fine for sampling)."""
    return np.floor((np.asarray(years, dtype=np.float64) - 1970.0) * DAYS_PER_YEAR).astype(np.int64)


def years(n: np.ndarray | float) -> np.ndarray:
    """A duration in years -> days."""
    return np.floor(np.asarray(n, dtype=np.float64) * DAYS_PER_YEAR).astype(np.int64)


def months(n: np.ndarray | float) -> np.ndarray:
    """A duration in months -> days."""
    return np.floor(np.asarray(n, dtype=np.float64) * DAYS_PER_YEAR / 12.0).astype(np.int64)


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day components of day numbers."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    year = m.astype("datetime64[Y]").astype(np.int64) + 1970
    month = m.astype(np.int64) % 12 + 1
    dom = (d - m.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, dom


def first_of(year: np.ndarray, month: int) -> np.ndarray:
    """Day number of the first of `month` in each `year`."""
    y = (np.asarray(year, dtype=np.int64) - 1970).astype("datetime64[Y]")
    return (y.astype("datetime64[M]") + (month - 1)).astype("datetime64[D]").astype(np.int64)


def age_at(by: np.ndarray, bm: np.ndarray, bd: np.ndarray, at: int) -> np.ndarray:
    """Completed years of age on day `at` (a birthday counts on the day)."""
    ty, tm, td = (int(x[0]) for x in ymd(np.array([at])))
    before = (bm > tm) | ((bm == tm) & (bd > td))
    return ty - by - before.astype(np.int64)


@dataclass(frozen=True)
class Period:
    """A reporting month: first and last day (inclusive)."""

    label: str
    start: int
    end: int

    @property
    def year(self) -> int:
        return int(self.label[:4])

    @property
    def month(self) -> int:
        return int(self.label[5:7])


def parse_period(period: str) -> Period:
    """'2026-10' -> Period; anything else is a ValueError."""
    if not PERIOD_RE.match(period):
        raise ValueError(f"period must look like YYYY-MM (e.g. 2026-10), got {period!r}")
    start = np.datetime64(period, "M")
    return Period(
        label=period,
        start=int(start.astype("datetime64[D]").astype(np.int64)),
        end=int((start + 1).astype("datetime64[D]").astype(np.int64)) - 1,
    )
