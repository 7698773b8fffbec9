"""Revenue recognition: what a fee or a package earns by an instant (docs/decisions.md).

- A fee pays for a service period (a term; an upgrade's, the rest of its term). It is
  recognised evenly over the period's local days in the contract's zone: every local day
  counts as one day whatever its hours (23 or 25 across a DST change), and a partial day
  counts by its share of that day's real duration. Nothing is recognised before the fee is
  billed; a fee billed late catches up at once what its period had already run.
- A package's price is spread over its points (price / points per point). A point consumed
  earns its value, a reversal takes it back, a point that expires unused is breakage.
- Every figure is a cumulative amount by an instant, rounded half up to the cent; a window's
  figure is the difference of the cumulative amounts at its ends, so windows add up exactly
  and what a fee or package earns in all adds up to its amount to the cent.

Pure arithmetic: no clock, no I/O; the view, its check and the audit's re-derivation call it
with the facts each has read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

CONSUMED = "consumed"  # points drawn from the lot (a reversal is a negative consumption)
EXPIRED = "expired"  # points of the lot that expired unused

# The figures of a revenue row, in order (their declaration for people: ledger.figures).
FEE_FIGURES = ("fees_deferred_opening", "fees_billed", "fees_recognised", "fees_deferred_closing")
PACKAGE_FIGURES = (
    "packages_deferred_opening",
    "packages_billed",
    "packages_recognised_consumed",
    "packages_breakage",
    "packages_deferred_closing",
)


@dataclass(frozen=True)
class BilledFee:
    """A fee billed at `billed_at` for the service period [`starts_at`, `ends_at`)."""

    amount: Decimal
    billed_at: datetime
    starts_at: datetime
    ends_at: datetime


@dataclass
class PackageLot:
    """A package bought at `bought_at`: `points` for `price`, and its points' moves."""

    price: Decimal
    points: Decimal
    bought_at: datetime
    moves: list[tuple[datetime, str, Decimal]] = field(default_factory=list)

    def move(self, at: datetime, kind: str, points: Decimal) -> None:
        """Record points consumed (negative: reversed) or expired at `at`."""
        self.moves.append((at, kind, points))


def _cents(value: Fraction) -> Decimal:
    """An exact amount rounded half up (away from zero) to the cent."""
    hundredths = value * 100
    whole = floor(abs(hundredths) + Fraction(1, 2))
    return (Decimal(whole if hundredths >= 0 else -whole) / 100).quantize(Decimal("0.01"))


def local_day_position(at: datetime, zone: ZoneInfo) -> Fraction:
    """Where `at` lies on the contract's local days: the local date's ordinal plus the share of
    that day's real duration elapsed (a difference of two positions is a number of days)."""
    local = at.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(UTC)
    following = local.date() + timedelta(days=1)
    next_midnight = datetime(
        following.year, following.month, following.day, tzinfo=zone
    ).astimezone(UTC)
    elapsed = at.astimezone(UTC) - midnight
    length = next_midnight - midnight
    micro = timedelta(microseconds=1)
    return local.date().toordinal() + Fraction(elapsed // micro, length // micro)


def fee_billed(fee: BilledFee, by: datetime) -> Decimal:
    """The fee's amount if billed before `by`, else nothing."""
    return fee.amount if fee.billed_at < by else Decimal("0.00")


def fee_recognised(fee: BilledFee, by: datetime, zone: ZoneInfo) -> Decimal:
    """What the fee has earned before `by`: its share of the service period's local days
    elapsed, once it is billed."""
    if fee.billed_at >= by:
        return Decimal("0.00")
    if by >= fee.ends_at or fee.ends_at <= fee.starts_at:
        return fee.amount
    if by <= fee.starts_at:
        return Decimal("0.00")
    start = local_day_position(fee.starts_at, zone)
    share = (local_day_position(by, zone) - start) / (local_day_position(fee.ends_at, zone) - start)
    return _cents(Fraction(fee.amount) * share)


def package_figures(lot: PackageLot, by: datetime) -> tuple[Decimal, Decimal, Decimal]:
    """(billed, recognised as consumed, breakage) of a package before `by`: each point's value
    is price / points; the value of every point gone (consumed net of reversals, or expired)
    is rounded once, so a lot used up has earned its price to the cent."""
    if lot.bought_at >= by:
        return Decimal("0.00"), Decimal("0.00"), Decimal("0.00")
    consumed = sum((p for at, kind, p in lot.moves if at < by and kind == CONSUMED), Decimal(0))
    expired = sum((p for at, kind, p in lot.moves if at < by and kind == EXPIRED), Decimal(0))
    if lot.points <= 0:
        return lot.price, Decimal("0.00"), Decimal("0.00")
    unit = Fraction(lot.price) / Fraction(lot.points)
    gone = _cents(unit * Fraction(consumed + expired))
    breakage = _cents(unit * Fraction(expired))
    return lot.price, gone - breakage, breakage


def revenue_figures(
    fees: list[BilledFee],
    packages: list[PackageLot],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
) -> dict[str, Decimal]:
    """The revenue of a contract for the window [start, end): per fees and packages, deferred
    at the window's start, billed, recognised (and breakage) within it, deferred at its end;
    opening + billed - recognised - breakage = closing holds by construction."""

    def fees_at(by: datetime) -> tuple[Decimal, Decimal]:
        billed = sum((fee_billed(f, by) for f in fees), Decimal("0.00"))
        earned = sum((fee_recognised(f, by, zone) for f in fees), Decimal("0.00"))
        return billed, earned

    def packages_at(by: datetime) -> tuple[Decimal, Decimal, Decimal]:
        sums = [package_figures(lot, by) for lot in packages]
        return (
            sum((s[0] for s in sums), Decimal("0.00")),
            sum((s[1] for s in sums), Decimal("0.00")),
            sum((s[2] for s in sums), Decimal("0.00")),
        )

    (fb0, fr0), (fb1, fr1) = fees_at(start), fees_at(end)
    (pb0, pc0, pk0), (pb1, pc1, pk1) = packages_at(start), packages_at(end)
    return {
        "fees_deferred_opening": fb0 - fr0,
        "fees_billed": fb1 - fb0,
        "fees_recognised": fr1 - fr0,
        "fees_deferred_closing": fb1 - fr1,
        "packages_deferred_opening": pb0 - pc0 - pk0,
        "packages_billed": pb1 - pb0,
        "packages_recognised_consumed": pc1 - pc0,
        "packages_breakage": pk1 - pk0,
        "packages_deferred_closing": pb1 - pc1 - pk1,
    }


def identity_holds(row: dict[str, Decimal]) -> bool:
    """deferred_opening + billed - recognised - breakage = deferred_closing, for fees and for
    packages."""
    fees = (
        row["fees_deferred_opening"] + row["fees_billed"] - row["fees_recognised"]
        == row["fees_deferred_closing"]
    )
    packages = (
        row["packages_deferred_opening"]
        + row["packages_billed"]
        - row["packages_recognised_consumed"]
        - row["packages_breakage"]
        == row["packages_deferred_closing"]
    )
    return fees and packages
