"""The pain-over-time chart, drawn on the server as SVG (no script, readable offline)."""

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class PainPoint:
    day: int
    pain: int


def pain_chart(points: Sequence[PainPoint], days: int, title: str, width: int = 320) -> str:
    """An inline SVG line chart of pain (0-10) by recovery day; `title` is its text alternative."""
    height, left, bottom, top, right = 160, 28, 24, 8, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    last_day = max([days, *(p.day for p in points)])

    def x(day: int) -> float:
        return left + plot_w * (max(day, 1) - 1) / max(last_day - 1, 1)

    def y(pain: int) -> float:
        return top + plot_h * (1 - pain / 10)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="pain-chart-title" class="chart">',
        f'<title id="pain-chart-title">{escape(title)}</title>',
    ]
    for level in (0, 5, 10):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
            'stroke="#d5dbe3"/>'
            f'<text x="{left - 6}" y="{y(level) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#4a5563">{level}</text>'
        )
    for day in (1, last_day):
        parts.append(
            f'<text x="{x(day):.1f}" y="{height - 6}" text-anchor="middle" font-size="11" '
            f'fill="#4a5563">{day}</text>'
        )
    ordered = sorted(points, key=lambda p: p.day)
    if ordered:
        path = " ".join(f"{x(p.day):.1f},{y(p.pain):.1f}" for p in ordered)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f5f8b" stroke-width="2"/>')
        parts += [
            f'<circle cx="{x(p.day):.1f}" cy="{y(p.pain):.1f}" r="3" fill="#1f5f8b"/>'
            for p in ordered
        ]
    parts.append("</svg>")
    return "".join(parts)
