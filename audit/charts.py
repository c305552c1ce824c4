"""Bar charts as inline SVG for the dashboard: no script, no external resource, readable on a phone.

Colours are SVG presentation attributes (not ``style``), so the pages' Content-Security-Policy needs no
``unsafe-inline``. Every chart has a ``<title>``, a ``<desc>`` and a ``<title>`` per bar (the value on hover
and for screen readers); the page shows the same numbers in a table under it. Both come as
:class:`~markupsafe.Markup` (every value in them escaped), ready for the pages' templates.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 640
HEIGHT = 220
_LEFT = 40
_BOTTOM = 40
_TOP = 16


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int]
    colour: str


def bar_chart(
    title: str,
    labels: list[str],
    series: list[Series],
    *,
    chart_id: str,
    empty: str = "No data",
) -> Markup:
    """A stacked bar chart: one bar per label, one segment per series; with no value above zero,
    the chart says ``empty`` across its plot instead of drawing nothing."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max([*totals, 1])
    plot_w = WIDTH - _LEFT - 8
    plot_h = HEIGHT - _BOTTOM - _TOP
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.7, 1.0)
    parts = [
        f'<svg id="{html.escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{html.escape(chart_id)}-t" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{html.escape(chart_id)}-t">{html.escape(title)}</title>',
        f"<desc>{html.escape(', '.join(s.name for s in series))}</desc>",
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{WIDTH - 8}" y2="{_TOP + plot_h}" stroke="#888"/>',
        f'<text x="4" y="{_TOP + 10}" font-size="11" fill="#444">{peak}</text>',
        f'<text x="4" y="{_TOP + plot_h}" font-size="11" fill="#444">0</text>',
    ]
    step = max(len(labels) // 8, 1)
    for i, label in enumerate(labels):
        x = _LEFT + i * slot + (slot - bar_w) / 2
        y: float = _TOP + plot_h
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{html.escape(label)} — {html.escape(s.name)}: '
                f"{value}</title></rect>"
            )
        if i % step == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - _BOTTOM + 14}" font-size="10" '
                f'fill="#444">{html.escape(label)}</text>'
            )
    if not any(totals):
        parts.append(
            f'<text class="empty" x="{_LEFT + plot_w / 2:.0f}" y="{_TOP + plot_h / 2:.0f}" '
            f'font-size="14" fill="#444" text-anchor="middle">{html.escape(empty)}</text>'
        )
    legend_x = _LEFT
    for s in series:
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 14}" width="10" height="10" fill="{s.colour}"/>'
            f'<text x="{legend_x + 14}" y="{HEIGHT - 5}" font-size="11" fill="#222">'
            f"{html.escape(s.name)}</text>"
        )
        legend_x += 14 + 7 * len(s.name) + 16
    parts.append("</svg>")
    # Every value above went through html.escape: the chart is safe to place in a page as is.
    return Markup("".join(parts))  # noqa: S704


def data_table(labels: list[str], series: list[Series]) -> Markup:
    """The chart's numbers as a table (shown under the chart)."""
    head = "".join(f"<th>{html.escape(s.name)}</th>" for s in series)
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td>{s.values[i]}</td>" for s in series)
        + "</tr>"
        for i, label in enumerate(labels)
        if any(s.values[i] for s in series)
    )
    return Markup(f'<table class="data"><tr><th></th>{head}</tr>{rows}</table>')  # noqa: S704
