"""A ticket's response clock drawn as a timeline: server-side SVG, nothing loaded from elsewhere.

The marks (received, holds, severity changes, warnings, deadline, response, now) come from
the ticket's view and its history (`ledger.presenters`); each mark is numbered on the drawing
and listed, with its instant, under it: that list is the drawing's text alternative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from collections.abc import Callable

WIDTH, HEIGHT = 800, 96
LEFT, RIGHT = 24, 776
BAR_Y, BAR_HEIGHT = 44, 14
COLOURS = {
    "received": "#20262e", "hold": "#5f6368", "severity": "#6b3fa0", "warning": "#a15c00",
    "deadline": "#b3261e", "original deadline": "#b3261e", "response": "#1e6b35",
    "now": "#1f5fbf",
}  # fmt: skip


@dataclass(frozen=True)
class Mark:
    """One instant on the timeline: what happened and how to say it."""

    number: int
    at: datetime
    kind: str
    label: str


def _severity_changes(history: list[dict[str, Any]]) -> list[tuple[datetime, str]]:
    found = []
    for step in history:
        event = step["event"]
        if event["type"].endswith("SeverityChanged"):
            data = event["data"]
            found.append((step["at"], f"severity {data['previous_severity']} → {data['severity']}"))
    return found


def _holds(view: dict[str, Any], at: datetime) -> list[tuple[datetime, datetime, bool]]:
    """The stretches the clock stood still before the response: (from, to, still on hold)."""
    periods = view.get("periods") or []
    holds = []
    for before, after in pairwise(periods):
        if before["end"] is not None:
            holds.append((before["end"], after["start"], False))
    if periods and periods[-1]["end"] is not None and view.get("responded_at") is None:
        holds.append((periods[-1]["end"], at, True))
    return holds


def _percent(share: Any) -> str:
    return f"{(Decimal(str(share)) * 100).normalize():f} %"


def ticket_marks(view: dict[str, Any], history: list[dict[str, Any]], at: datetime) -> list[Mark]:
    """Every instant of the ticket's response clock, in time order, numbered from 1."""
    found: list[tuple[datetime, str, str]] = [(view["received_at"], "received", "received")]
    for start, end, still in _holds(view, at):
        found.append((start, "hold", "put on hold" + (" (still on hold)" if still else "")))
        if not still:
            found.append((end, "hold", "resumed"))
    found += [(when, "severity", text) for when, text in _severity_changes(history)]
    for warning in view.get("warnings") or []:
        if warning["at"] is not None:
            state = "reached" if warning["reached"] else "not reached yet"
            found.append((warning["at"], "warning", f"{_percent(warning['share'])} used ({state})"))
    original, due = view.get("original_due_at"), view.get("due_at")
    if original is not None and original != due:
        found.append((original, "original deadline", "first deadline (before a change)"))
    if due is not None:
        found.append((due, "deadline", "response due"))
    if view.get("responded_at") is not None:
        found.append((view["responded_at"], "response", "first response"))
    elif view.get("status") != "declined":
        found.append((at, "now", "now (no response yet)"))
    found.sort(key=lambda item: item[0])
    return [Mark(n, when, kind, label) for n, (when, kind, label) in enumerate(found, 1)]


def timeline_svg(
    view: dict[str, Any],
    marks: list[Mark],
    at: datetime,
    title: str,
    label: Callable[[datetime], str] | None = None,
) -> Markup:
    """The marks on a line from the first to the last, running time as a bar, holds grey;
    the two ends labelled by `label` (the pages' own format of an instant; default UTC)."""
    said = label or (lambda when: when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    if not marks:
        return Markup("")
    start, end = marks[0].at, max(m.at for m in marks)
    span = max((end - start).total_seconds(), 1.0)

    def x(when: datetime) -> float:
        return round(LEFT + (RIGHT - LEFT) * (when - start).total_seconds() / span, 1)

    parts = [
        (
            f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            'aria-labelledby="timeline-title timeline-desc" preserveAspectRatio="xMinYMid meet">'
        ),
        f'<title id="timeline-title">{escape(title)}</title>',
        (
            '<desc id="timeline-desc">The numbered marks are listed with their instants below '
            "the drawing.</desc>"
        ),
        (
            f'<line x1="{LEFT}" y1="{BAR_Y + BAR_HEIGHT / 2}" x2="{RIGHT}" '
            f'y2="{BAR_Y + BAR_HEIGHT / 2}" stroke="#9aa0a6" stroke-width="1"/>'
        ),
    ]
    for period in view.get("periods") or []:
        stop = period["end"] or view.get("responded_at") or at
        parts.append(
            f'<rect class="running" x="{x(period["start"])}" y="{BAR_Y}" '
            f'width="{max(x(stop) - x(period["start"]), 1)}" height="{BAR_HEIGHT}" '
            'fill="#1e6b35" fill-opacity="0.35"/>'
        )
    for hold_start, hold_end, _ in _holds(view, at):
        parts.append(
            f'<rect class="hold" x="{x(hold_start)}" y="{BAR_Y}" '
            f'width="{max(x(hold_end) - x(hold_start), 1)}" height="{BAR_HEIGHT}" '
            'fill="#5f6368" fill-opacity="0.5"/>'
        )
    for index, mark in enumerate(marks):
        colour = COLOURS.get(mark.kind, "#20262e")
        position = x(mark.at)
        label_y = 16 if index % 2 == 0 else 32
        parts.append(
            f'<g class="mark" data-kind="{escape(mark.kind)}">'
            f'<line x1="{position}" y1="{label_y + 4}" x2="{position}" '
            f'y2="{BAR_Y + BAR_HEIGHT + 8}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<text x="{position}" y="{label_y}" text-anchor="middle" font-size="13" '
            f'fill="{colour}">{mark.number}</text></g>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 4}" font-size="12" fill="#3c4043">'
        f"{escape(said(start))}</text>"
        f'<text x="{RIGHT}" y="{HEIGHT - 4}" font-size="12" text-anchor="end" fill="#3c4043">'
        f"{escape(said(end))}</text></svg>"
    )
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or a number
