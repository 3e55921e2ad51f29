"""Tiny inline-SVG charts for the German HTML report (no JavaScript, no external resources).

Two shapes are enough for the integration report: a line chart of the district value over the
reporting months and a horizontal bar chart comparing the Gemeinden. Withheld values are drawn
as a "•" with the tooltip "geheimgehalten", never as a zero bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from kiim.fmt import de_num

COLOURS = ("#1b5e8c", "#c0580f", "#2e7d32", "#7b1fa2", "#5d4037", "#00838f")
SUPPRESSED_MARK = "•"
SUPPRESSED_TITLE = "geheimgehalten"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    suppressed: bool = False


def _nice_max(value: float) -> float:
    """A round axis maximum just above `value` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def bar_chart(bars: Sequence[Bar], *, unit: str, title: str) -> str:
    """Horizontal bars, one per Gemeinde; values labelled in German format."""
    label_w, bar_w, row_h, top = 210, 330, 18, 8
    height = top + row_h * len(bars) + 24
    width = label_w + bar_w + 90
    visible = [b.value for b in bars if b.value is not None and not b.suppressed]
    vmax = _nice_max(max(visible, default=0.0))
    parts = [
        f'<svg role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(bar.label)}</text>'
        )
        if bar.suppressed:
            parts.append(
                f'<text x="{label_w + 4}" y="{y + 12}" fill="#555">'
                f"<title>{SUPPRESSED_TITLE}</title>{SUPPRESSED_MARK} {SUPPRESSED_TITLE}</text>"
            )
        elif bar.value is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + 12}" fill="#555">–</text>')
        else:
            w = bar_w * bar.value / vmax
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                f'fill="{COLOURS[0]}"><title>{escape(bar.label)}: {de_num(bar.value)} '
                f"{escape(unit)}</title></rect>"
            )
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{de_num(bar.value)}</text>')
    axis_y = top + row_h * len(bars) + 4
    parts.append(
        f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + bar_w}" y2="{axis_y}" stroke="#999"/>'
    )
    for frac in (0, 0.5, 1):
        x = label_w + bar_w * frac
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#555">'
            f"{de_num(vmax * frac)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    x_labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *, unit: str, title: str
) -> str:
    """One line per series over the months; gaps (withheld or missing) break the line."""
    left, right, top, bottom = 50, 170, 10, 30
    plot_w, plot_h = max(120, 60 * (len(x_labels) - 1)), 160
    width, height = left + plot_w + right, top + plot_h + bottom
    values = [v for s in series.values() for v in s if v is not None]
    vmax = _nice_max(max(values, default=0.0))
    step = plot_w / max(1, len(x_labels) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + plot_h * (1 - v / vmax)

    parts = [
        f'<svg role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#999"/>',
    ]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
            f"{de_num(vmax * frac)}</text>"
        )
    for i, label in enumerate(x_labels):
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'fill="#555">{escape(label)}</text>'
        )
    for n, (name, vals) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        segment: list[str] = []
        for i, v in enumerate([*vals, None]):
            if v is None:
                if len(segment) > 1:
                    parts.append(
                        f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                        f'points="{" ".join(segment)}"/>'
                    )
                segment = []
                continue
            x, y = xy(i, v)
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                f"{escape(name)}, {escape(x_labels[i])}: {de_num(v)} {escape(unit)}</title></circle>"
            )
        ly = top + 12 + 16 * n
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + plot_w + 26}" y="{ly + 1}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
