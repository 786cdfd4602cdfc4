"""Bar charts for the clinic report, drawn on the server as SVG (no script, no library)."""

from collections.abc import Sequence
from xml.sax.saxutils import escape


def bar_chart(
    bars: Sequence[tuple[str, float | None]],
    maximum: float,
    chart_id: str,
    title: str,
    description: str,
    width: int = 640,
) -> str:
    """An inline SVG of vertical bars, one per (label, value); a None value draws no bar.

    `title` and `description` are its text alternative (read by screen readers
    through aria-labelledby/aria-describedby); the page shows the same figures in a table.
    """
    height, left, bottom, top, right = 200, 36, 36, 16, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    scale = maximum if maximum > 0 else 1
    slot = plot_w / max(len(bars), 1)
    parts = _opening(width, height, chart_id, title, description)
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d5dbe3"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#4a5563">{_short(scale * fraction)}</text>'
        )
    # Past a quarter of labels they would overlap: every n-th one is enough to read the axis.
    label_every = -(-len(bars) // 13) if bars else 1
    for index, (label, value) in enumerate(bars):
        middle = left + slot * (index + 0.5)
        if value is not None:
            bar_h = plot_h * min(value, scale) / scale
            parts.append(
                f'<rect x="{middle - slot * 0.35:.1f}" y="{top + plot_h - bar_h:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{bar_h:.1f}" fill="#1f5f8b"/>'
            )
        if index % label_every:
            continue
        parts.append(
            f'<text x="{middle:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="11" fill="#1d2530">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


ROW = 34  # a horizontal bar's row: its label (12 px text) above, the bar (14 px) below
LABEL_CHARACTERS = 90


def row_chart(
    bars: Sequence[tuple[str, float]],
    maximum: float,
    chart_id: str,
    title: str,
    description: str,
    width: int = 640,
) -> str:
    """An inline SVG of horizontal bars, one row per (label, value), the label on a line
    of its own above its bar: labels of any length never overlap, in any language
    (text-anchor start follows the page's direction only in HTML, so the SVG is drawn
    left to right and a right-to-left label still reads from its own start)."""
    top, left, right = 8, 4, 48
    height = top + ROW * max(len(bars), 1)
    plot_w = width - left - right
    scale = maximum if maximum > 0 else 1
    parts = _opening(width, height, chart_id, title, description)
    for index, (label, value) in enumerate(bars):
        y = top + ROW * index
        shown = label if len(label) <= LABEL_CHARACTERS else label[: LABEL_CHARACTERS - 1] + "…"
        bar_w = plot_w * min(value, scale) / scale
        parts.append(
            f'<text x="{left}" y="{y + 11}" font-size="12" fill="#1d2530">{escape(shown)}</text>'
            f'<rect x="{left}" y="{y + 15}" width="{bar_w:.1f}" height="14" fill="#1f5f8b"/>'
            f'<text x="{left + bar_w + 6:.1f}" y="{y + 26}" font-size="11" '
            f'fill="#4a5563">{_short(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _opening(width: int, height: int, chart_id: str, title: str, description: str) -> list[str]:
    """The picture and its text alternative, read through aria-labelledby/-describedby."""
    ident = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ident}-title" aria-describedby="{ident}-desc" class="chart">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]


def _short(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
