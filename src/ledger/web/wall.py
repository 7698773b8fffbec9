"""What the wall board (`/ops`) and the finance page (`/finance`) show beside their tables: the
figures, read from the views, and their charts (`ledger.web.charts`).

- The wall: big counters per state of the live board (a breached clock whose breach was waived
  counted apart, as waived), the next tickets to breach (at risk or on track, soonest deadline
  first, with the business time left), breaches and breach rate per tier of the tickets received
  in the last 7 and 30 days (a chart and a table), median and 90th-percentile response time per
  tier (last 30 days; the figures drawn again at most once a minute), and the alert deliveries
  that failed. `/ops/wall` sends it alone, for the page to put in place at each refresh.
- Finance: points consumed and expired per month of the last months (each contract's month, from
  the statements) and points expiring per month of the next months (lots with points left).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.figures import AT_RISK, BREACHED, ON_TRACK, PAUSED, POINTS
from ledger.lookahead import expiring_lots
from ledger.projections.credit_usage import CreditUsageView
from ledger.projections.revenue import RevenueView
from ledger.projections.sla_breaches import SlaBreachView, waived_open
from ledger.reports import revenue_totals
from ledger.web.charts import Series, bar_chart
from ledger.web.observability import alert_counts

if TYPE_CHECKING:
    from markupsafe import Markup

    from ledger.web.services import Services

TIERS = ("premium", "advanced", "basic")
NEXT_TO_BREACH = 8  # tickets listed as the next to breach
WINDOWS = (7, 30)  # days of the breach figures
MONTHS_BACK = 6  # months of points consumed and expired on /finance
MONTHS_AHEAD = 6  # months of points expiring on /finance
WAIVED = "waived"
FIGURES_SECONDS = 60  # the breach figures are drawn again at most once a minute
FIGURES_KEY = "ledger.web.wall.figures"  # where they are kept, in Services.extras
# The wall's counters, in order: (key, label).
COUNTERS = (
    (BREACHED, "breached"),
    (WAIVED, "breached, waived"),
    (AT_RISK, "at risk"),
    (PAUSED, "on hold"),
    (ON_TRACK, "on track"),
)


def wall_of(services: Services, at: datetime, tier: str | None = None) -> dict[str, Any]:
    """The wall's figures at `at` (the views read as they are: the board brought them up to
    date; on the standby when one is set, as the board is), of one tier or all."""
    with services.read_views.lease() as db:
        view = SlaBreachView(db)
        counts = view.counts(at, tier=tier)
        waived = waived_open(view, at, tier=tier)
        upcoming = view.page(at, limit=NEXT_TO_BREACH, states=[AT_RISK, ON_TRACK], tier=tier)
        figures_at, windows = _windows(services, view, at, tier)
    shown = [tier] if tier else list(TIERS)
    counters = {**counts, BREACHED: counts[BREACHED] - waived, WAIVED: waived}
    figures = [
        {
            "tier": name,
            **{f"breached_{d}": windows[d].get(name, {}).get("breached", 0) for d in WINDOWS},
            **{f"waived_{d}": windows[d].get(name, {}).get("waived", 0) for d in WINDOWS},
            **{f"rate_{d}": windows[d].get(name, {}).get("breach_rate") for d in WINDOWS},
            "responses": windows[WINDOWS[-1]].get(name, {}).get("responses", 0),
            "median_seconds": windows[WINDOWS[-1]].get(name, {}).get("median_response_seconds"),
            "p90_seconds": windows[WINDOWS[-1]].get(name, {}).get("p90_response_seconds"),
        }
        for name in shown
    ]
    return {
        "at": at,
        "figures_at": figures_at,
        "figures_seconds": FIGURES_SECONDS,
        "tier": tier,
        "counters": [(key, label, counters[key]) for key, label in COUNTERS],
        "next": upcoming["rows"],
        "figures": figures,
        "charts": _breach_charts(figures),
        "alerts": alert_counts(services),
    }


def _windows(
    services: Services, view: SlaBreachView, at: datetime, tier: str | None
) -> tuple[datetime, dict[int, dict[str, dict[str, Any]]]]:
    """The breach figures per tier of the last 7 and 30 days, and the instant they were drawn
    at: drawn again when older than FIGURES_SECONDS (kept per process and tier: they scan the
    tickets of 30 days, while the counters read kept counts at every refresh)."""
    kept = services.extras.setdefault(FIGURES_KEY, {})
    assert isinstance(kept, dict)  # noqa: S101 - only this module writes it
    found = kept.get(tier)
    if found is not None and time.monotonic() - found[0] < FIGURES_SECONDS:
        return found[1], found[2]
    windows = {
        days: {
            row["key"]: row
            for row in view.stats("tier", at, since=at - timedelta(days=days), until=at)
        }
        for days in WINDOWS
    }
    kept[tier] = (time.monotonic(), at, windows)
    return at, windows


def _percent(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else (rate * 100).quantize(Decimal("0.1"))


def _breach_charts(figures: list[dict[str, Any]]) -> list[Markup]:
    tiers = [f["tier"] for f in figures]
    breaches = bar_chart(
        "breaches-per-tier", "Breaches per tier",
        "Response deadlines breached (waived ones apart) of the tickets received in the last "
        "7 and the last 30 days, per tier.",
        tiers, [Series(f"last {d} days", [f[f"breached_{d}"] for f in figures]) for d in WINDOWS],
    )  # fmt: skip
    rates = bar_chart(
        "breach-rate-per-tier", "Breach rate per tier",
        "Breached of the clocks met or breached, in percent, of the tickets received in the "
        "last 7 and the last 30 days, per tier; no bar where no clock was met or breached.",
        tiers,
        [Series(f"last {d} days", [_percent(f[f"rate_{d}"]) for f in figures]) for d in WINDOWS],
        unit="%",
    )  # fmt: skip
    return [breaches, rates]


def _month(at: datetime, offset: int) -> str:
    """The month `offset` months from `at`'s (UTC) month, as `YYYY-MM`."""
    index = at.year * 12 + at.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def points_charts(services: Services, at: datetime, *, check: bool = False) -> dict[str, Any]:
    """`charts`: points consumed and expired per month of the last MONTHS_BACK months (this
    one included; the statements, each contract's month), and points left in lots expiring in
    each of the next MONTHS_AHEAD months (UTC months, this one from `at`); `where`: where the
    lots were read. The credit-usage view is read as it is (the page brought it up to date),
    where the statements were read (the standby's unless `check`), and the lots from the
    standby's log when one is set."""
    past = [_month(at, -n) for n in reversed(range(MONTHS_BACK))]
    consumed, expired = [], []
    with (services.views if check else services.read_views).lease() as db:
        view = CreditUsageView(db)
        for period in past:
            statements = view.statement(period=period)
            consumed.append(sum(int(s[POINTS]["consumed"]) for s in statements))
            expired.append(sum(int(s[POINTS]["expired"]) for s in statements))
    ahead = [_month(at, n) for n in range(MONTHS_AHEAD)]
    end_index = at.year * 12 + at.month - 1 + MONTHS_AHEAD
    end = datetime(end_index // 12, end_index % 12 + 1, 1, tzinfo=UTC)
    expiring = dict.fromkeys(ahead, 0)
    where = services.log_read()
    for lot in expiring_lots(services.replayed, at=at, within=end - at):
        month = lot["expires_at"].astimezone(UTC).strftime("%Y-%m")
        if lot["unit"] == POINTS and month in expiring:
            expiring[month] += int(lot["left"])
    charts = [
        bar_chart(
            "points-per-month", "Points consumed and expired per month",
            f"Support points consumed and expired in each of the last {MONTHS_BACK} months, "
            "all contracts, from the credit statements (each contract's month).",
            past, [Series("consumed", consumed), Series("expired", expired)],
        ),
        bar_chart(
            "points-expiring", "Points expiring per month",
            f"Support points left in lots that expire in each of the next {MONTHS_AHEAD} "
            "months (UTC months), all contracts, unless used before.",
            ahead, [Series("expiring", list(expiring.values()))],
        ),
    ]  # fmt: skip
    return {"charts": charts, "where": where}


def revenue_of(
    services: Services, period: str | None, term: int | None, *, check: bool = False
) -> dict[str, Any]:
    """The revenue of every contract for the month or term, and its totals per currency (the
    credit-usage view read as it is: the page brought it up to date), where the statements
    were read (the standby's unless `check`)."""
    with (services.views if check else services.read_views).lease() as db:
        rows = RevenueView(db).revenue(period=period, term=term)
    return {"rows": rows, "totals": revenue_totals(rows)}
