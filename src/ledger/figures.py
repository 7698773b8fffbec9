"""Every figure of the reports, declared once: its key, its label for people, what it counts.

The credit statement (per contract and unit: opening, the flows of the window, closing, and the
fees), the breach statistics (per group of tickets) and the states of the breach board. The
views compute them (`ledger.projections`), the audit re-derives them from an export
(`ledger.audit.rederive`), and everything that shows them reads the lists below: the CSV, the
API's schema, the pages, the CLI's tables and option choices. A new figure is a line here, its
computation in the view and its re-derivation; a test fails while the re-derivation misses a
figure declared here.

This module imports nothing of ledger, so that every layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a figure's values are: an exact decimal; one, or None when there is nothing to
# measure; a whole number; one, or None; text; a UUID; an instant; a group (text, or a whole
# number). Every duration is whole seconds (a key ending `_seconds`), every rate a fraction
# 0..1 (a key ending `_rate`); tables for people show them as `12h 05m` and `25%`.
AMOUNT = "amount"
OPTIONAL_AMOUNT = "optional amount"
COUNT = "count"
OPTIONAL_COUNT = "optional count"
TEXT = "text"
ID = "id"
INSTANT = "instant"
GROUP = "group"


@dataclass(frozen=True)
class Figure:
    """A figure of a report: its key in JSON and CSV, its label in tables, what it counts, and
    what its values are (AMOUNT, COUNT, ...)."""

    name: str
    label: str
    meaning: str
    kind: str = AMOUNT


# -- the credit statement --------------------------------------------------------------------------

# The double-entry accounts of the credit movements, per contract and unit.
GRANTED = "granted"
PURCHASED = "purchased"
AVAILABLE = "available"
CONSUMED = "consumed"
EXPIRED = "expired"


@dataclass(frozen=True)
class Flow(Figure):
    """A statement figure that sums, within the window, the movements from one account to
    another."""

    source: str = AVAILABLE
    target: str = AVAILABLE

    @property
    def sign(self) -> int:
        """+1 when the flow enters what is available, -1 when it leaves it."""
        if self.target == AVAILABLE:
            return 1
        if self.source == AVAILABLE:
            return -1
        msg = f"flow {self.name} neither enters nor leaves {AVAILABLE}"  # pragma: no cover
        raise ValueError(msg)  # pragma: no cover


POINTS = "points"
SESSIONS = "sessions"
UNITS = (
    Figure(POINTS, "points", "support points"),
    Figure(SESSIONS, "training sessions", "online training sessions (30 min)"),
)
UNIT_NAMES = tuple(u.name for u in UNITS)

OPENING = Figure("opening", "opening", "the balance available before the window")
FLOWS = (
    Flow("granted", "granted", "granted with a term or an upgrade", source=GRANTED),
    Flow("purchased", "purchased", "bought in packages", source=PURCHASED),
    Flow("consumed", "consumed", "used for support or training", target=CONSUMED),
    Flow("reversed", "reversed", "returned by a reversal of a consumption", source=CONSUMED),
    Flow("expired", "expired", "expired unused", target=EXPIRED),
)
CLOSING = Figure("closing", "closing", "the balance available before the window's end")
# A statement's figures of each unit, in order: opening + each flow (signed) = closing.
STATEMENT_FIGURES = (OPENING.name, *(f.name for f in FLOWS), CLOSING.name)

# The statement's own fields, as the CSV and the tables show them beside the figures.
STATEMENT_HEADING = (
    Figure("customer", "customer", "the customer of the contract", TEXT),
    Figure("contract_id", "contract", "the contract's id", ID),
    Figure("currency", "currency", "the contract's currency", TEXT),
    Figure("start", "from", "the window's first instant", INSTANT),
    Figure("end", "until", "the instant the window ends (not in it)", INSTANT),
)
FEES_TOTAL = Figure(
    "fees_total",
    "fees",
    "the fees of the window: a term's statement those paying for the term, whenever charged; "
    "a month's those charged within the month",
)
PACKAGES_TOTAL = Figure("packages_total", "packages", "the prices of packages bought in the window")
# Which fees a statement lists (its `fees_basis`): those paying for the term, or those charged
# within the month.
FEES_FOR_TERM = "paying_for_term"
FEES_CHARGED_IN_PERIOD = "charged_in_period"
# The money totals of a list of statements, per currency (the API's `totals`, the tables' and
# the CSV's last rows).
MONEY_TOTALS = (FEES_TOTAL, PACKAGES_TOTAL)
# The fields of each fee assessed within the window (a statement's `fees`).
FEE_FIELDS = ("term_number", "kind", "fee", "fee_share", "remaining_share", "assessed_at")


def unit_column(unit: str, figure: str) -> str:
    """The key of a unit's figure in a flat statement row (`points_opening`)."""
    return f"{unit}_{figure}"


# A statement as one flat row (the CSV): (key, label) of each column, in order.
STATEMENT_LABELLED_COLUMNS = [
    *[(f.name, f.label) for f in STATEMENT_HEADING],
    *[(unit_column(u, f), f"{u} {f}") for u in UNIT_NAMES for f in STATEMENT_FIGURES],
    (FEES_TOTAL.name, FEES_TOTAL.label),
    (PACKAGES_TOTAL.name, PACKAGES_TOTAL.label),
]
STATEMENT_COLUMNS = [key for key, _ in STATEMENT_LABELLED_COLUMNS]


# -- revenue -------------------------------------------------------------------------------------

# A revenue row's own fields (per contract, in its currency), then its figures, in order; the
# rules are in docs/decisions.md ("Revenue") and ledger.domain.revenue.
REVENUE_HEADING = (
    Figure("customer", "customer", "the customer of the contract", TEXT),
    Figure("contract_id", "contract", "the contract's id", ID),
    Figure("currency", "currency", "the contract's currency", TEXT),
    Figure("start", "from", "the window's first instant", INSTANT),
    Figure("end", "until", "the instant the window ends (not in it)", INSTANT),
)
REVENUE_FIGURES = (
    Figure(
        "fees_deferred_opening",
        "fees deferred (opening)",
        "fees billed, not yet earned, at the window's start",
    ),
    Figure("fees_billed", "fees billed", "fees billed within the window"),
    Figure(
        "fees_recognised",
        "fees recognised",
        "fees earned within the window: each over its service period's local days",
    ),
    Figure(
        "fees_deferred_closing",
        "fees deferred (closing)",
        "fees billed, not yet earned, at the window's end",
    ),
    Figure(
        "packages_deferred_opening",
        "packages deferred (opening)",
        "package value not yet used or expired at the window's start",
    ),
    Figure("packages_billed", "packages billed", "package prices billed within the window"),
    Figure(
        "packages_recognised_consumed",
        "packages recognised",
        "value of package points consumed within the window, net of reversals",
    ),
    Figure(
        "packages_breakage",
        "breakage",
        "value of package points that expired unused within the window",
    ),
    Figure(
        "packages_deferred_closing",
        "packages deferred (closing)",
        "package value not yet used or expired at the window's end",
    ),
)
REVENUE_FIGURE_NAMES = tuple(f.name for f in REVENUE_FIGURES)
REVENUE_LABELLED_COLUMNS = [
    *[(f.name, f.label) for f in REVENUE_HEADING],
    *[(f.name, f.label) for f in REVENUE_FIGURES],
]


# -- the breach statistics -------------------------------------------------------------------------

BREACH_STATS = (
    Figure("tickets", "tickets", "requests opened (not declined) in the group", COUNT),
    Figure("met", "met", "clocks stopped by a response in time", COUNT),
    Figure("breached", "breached", "clocks breached by then, waived ones apart", COUNT),
    Figure("waived", "waived", "breaches waived", COUNT),
    Figure(
        "breach_rate",
        "breach rate",
        "breached / (met + breached): a fraction 0..1 to four places (0.2500 is 25%)",
        OPTIONAL_AMOUNT,
    ),
    Figure("responses", "responses", "first responses recorded", COUNT),
    Figure(
        "median_response_seconds",
        "median response",
        "median business seconds to respond",
        OPTIONAL_COUNT,
    ),
    Figure(
        "p90_response_seconds",
        "p90 response",
        "90th percentile (nearest rank) of the same, in business seconds",
        OPTIONAL_COUNT,
    ),
)
BREACH_STAT_FIGURES = tuple(f.name for f in BREACH_STATS)
# The key of a row of breach statistics: the group (a tier, customer, severity or month).
BREACH_STAT_KEY = Figure("key", "group", "the group: a tier, customer, severity or month", GROUP)
BREACH_STAT_LABELLED_COLUMNS = [
    (BREACH_STAT_KEY.name, BREACH_STAT_KEY.label),
    *[(f.name, f.label) for f in BREACH_STATS],
]


# -- the breach board ------------------------------------------------------------------------------

# The state of a ticket's clock on the board (`--state`), and the word for every state.
ON_TRACK = "on_track"
AT_RISK = "at_risk"
BREACHED = "breached"
MET = "met"
PAUSED = "paused"
DECLINED = "declined"
STATES = (ON_TRACK, AT_RISK, BREACHED, MET, PAUSED, DECLINED)
ALL = "all"

# A row of the board (key, label), in order: the CSV of the CLI and the API carries every
# column, a table for people some of them.
BOARD_LABELLED_COLUMNS = [
    ("key", "ticket"), ("customer", "customer"), ("tier", "tier"), ("severity", "sev"),
    ("priority", "prio"), ("state", "state"), ("received_at", "received"), ("due_at", "due"),
    ("business_seconds_left", "business time left"), ("responded_at", "responded"),
    ("ticket_id", "ticket id"), ("contract_id", "contract"), ("status", "status"),
    ("clock", "clock"), ("warning_at", "warning"), ("original_due_at", "first due"),
    ("used_seconds", "business s used"), ("breach_recorded", "breach recorded"),
    ("breach_waived", "waived"), ("declined_reason", "declined because"),
]  # fmt: skip
BOARD_COLUMNS = [key for key, _ in BOARD_LABELLED_COLUMNS]
BREACH_STAT_COLUMNS = [key for key, _ in BREACH_STAT_LABELLED_COLUMNS]

# The groups of the breach statistics (`--by`): each name and the view's column it groups by.
GROUPINGS = {
    "tier": "tier",
    "customer": "customer",
    "severity": "severity",
    "month": "received_month",
}
