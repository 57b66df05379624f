"""Server-rendered SVG bar charts (no script: the CSP allows only same-origin files, and none is needed).

Labels are escaped; the chart is Markup ready for a Jinja template.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 420, 180, 36, 28, 10


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str = "", alt: bool = False) -> Markup:
    """One bar per label; a missing value leaves a gap (no data that week)."""
    top = max([v for v in values if v is not None] or [0]) or 1
    slot = (WIDTH - LEFT - 4) / max(len(values), 1)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}"/>',
        f'<text x="2" y="{TOP + 4}">{_fmt(top)}{escape(unit)}</text>',
        f'<text x="2" y="{HEIGHT - BOTTOM}">0</text>',
    ]
    plot = HEIGHT - BOTTOM - TOP
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + index * slot + 1
        if value is not None:
            height = plot * value / top
            parts.append(
                f'<rect class="bar{" alt" if alt else ""}" x="{x:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" '
                f'width="{max(slot - 2, 1):.1f}" height="{height:.1f}"><title>{escape(label)}: {_fmt(value)}{escape(unit)}</title></rect>'
            )
        if len(labels) <= 14 or index % max(len(labels) // 12, 1) == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
