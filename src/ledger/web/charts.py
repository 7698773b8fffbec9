"""Charts for the pages, drawn on the server as SVG from figures (nothing loaded from elsewhere,
no script): grouped bar charts, each with a <title> and <desc>, `role="img"` labelled by them,
and the same figures as a table (the text alternative, under the chart).

The SVG scales to the width it is given (a viewBox, no fixed width), so a chart never makes a
page scroll sideways; colours are presentation attributes (allowed by the pages' CSP, which
forbids inline styles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from collections.abc import Sequence

WIDTH, HEIGHT = 640, 260  # the viewBox: the chart scales to the width of its box
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 44  # margins for the axis labels
COLOURS = ("#1f5f8b", "#c76b00", "#4d7c0f", "#6b4c9a")  # series, in order (not the state colours)
TICKS = 4
_ID = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Series:
    """One series of a chart: its name and a value per category (None: no figure)."""

    name: str
    values: Sequence[Decimal | int | None]


def _number(value: Decimal | float | None) -> str:
    """A figure as the table and the labels show it: whole numbers without places."""
    if value is None:
        return "-"
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.normalize():,f}"


def _scale_top(largest: Decimal) -> Decimal:
    """The top of the value axis: the least of 1, 2, 2.5 or 5 times a power of ten, TICKS
    times, at or above the largest value (100 for a rate of 100 %)."""
    for exponent in range(30):
        for mantissa in (1, 2, Decimal("2.5"), 5):
            step = mantissa * Decimal(10) ** exponent
            if step * TICKS >= largest:
                return step * TICKS
    return largest


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
) -> Markup:
    """A grouped bar chart (one group per category, one bar per series) as a <figure>: the SVG
    and its legend, then the figures as a table."""
    if any(len(s.values) != len(categories) for s in series):
        raise ValueError("every series needs one value per category")
    slug = _ID.sub("-", chart_id.lower()).strip("-") or "chart"
    values = [Decimal(str(v)) for s in series for v in s.values if v is not None]
    top = _scale_top(max(values, default=Decimal(0)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        (
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{slug}-title {slug}-desc" preserveAspectRatio="xMidYMid meet">'
        ),
        f'<title id="{slug}-title">{escape(title)}</title>',
        f'<desc id="{slug}-desc">{escape(description)}</desc>',
    ]
    for tick in range(TICKS + 1):
        value = top * tick / TICKS
        y = TOP + plot_h - plot_h * tick / TICKS
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d9d9d9" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#5f6368">{_number(value)}{escape(unit)}</text>'
        )
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.7 / max(len(series), 1)
    for c, category in enumerate(categories):
        x0 = LEFT + group_w * c + group_w * 0.15
        for s, one in enumerate(series):
            figure = one.values[c]
            if figure is None:
                continue
            height = float(plot_h * Decimal(str(figure)) / top)
            x, y = x0 + bar_w * s, TOP + plot_h - height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.92:.1f}" '
                f'height="{height:.1f}" fill="{COLOURS[s % len(COLOURS)]}">'
                f"<title>{escape(category)}, {escape(one.name)}: "
                f"{_number(figure)}{escape(unit)}</title></rect>"
            )
        parts.append(
            f'<text x="{LEFT + group_w * (c + 0.5):.1f}" y="{HEIGHT - BOTTOM + 18}" '
            f'text-anchor="middle" font-size="13" fill="#1f1f1f">{escape(category)}</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<li><svg class="key" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" '
        f'height="10" fill="{COLOURS[s % len(COLOURS)]}"/></svg> {escape(one.name)}</li>'
        for s, one in enumerate(series)
    )
    head = "".join(f"<th scope='col'>{escape(one.name)}</th>" for one in series)
    rows = "".join(
        f"<tr><th scope='row'>{escape(category)}</th>"
        + "".join(
            f"<td class='num'>{_number(one.values[c])}{escape(unit) if one.values[c] is not None else ''}</td>"  # noqa: E501
            for one in series
        )
        + "</tr>"
        for c, category in enumerate(categories)
    )
    return Markup(  # noqa: S704 - every value above is escaped
        f'<figure class="chart" id="{slug}">'
        f"<figcaption>{escape(title)}</figcaption>"
        f"{''.join(parts)}"
        f'<ul class="legend">{legend}</ul>'
        f'<table class="chart-data"><caption>{escape(title)}: the figures</caption>'
        f"<thead><tr><th scope='col'></th>{head}</tr></thead><tbody>{rows}</tbody></table>"
        "</figure>"
    )
