"""German number and date formats for everything a German user reads (1.234,5 and 21.11.2026)."""

from __future__ import annotations

from datetime import date, datetime


def de_int(n: int | None) -> str:
    return "–" if n is None else f"{n:,}".replace(",", ".")


def de_num(x: float | None, decimals: int = 1) -> str:
    if x is None:
        return "–"
    s = f"{x:,.{decimals}f}"
    return s.replace(",", "\0").replace(".", ",").replace("\0", ".")


def de_date(d: date | datetime | str | None) -> str:
    if d is None:
        return "–"
    if isinstance(d, str):
        d = datetime.fromisoformat(d)
    return d.strftime("%d.%m.%Y %H:%M") if isinstance(d, datetime) else d.strftime("%d.%m.%Y")
