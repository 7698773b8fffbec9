"""The `ledger` command on a SQLite file: releases, contracts, tickets, credits and events.

Every instant is given with `--at` (business time in 2025), so the figures are deterministic;
`--as-of` reads recording time, which is taken from the events themselves.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from tests.e2e.cli import Result, run

if TYPE_CHECKING:
    from pathlib import Path

ZERO = "00000000-0000-0000-0000-000000000000"
SIGNED_AT = "2025-01-02T09:00:00Z"
# Monday 3 March 2025, 09:15 in Berlin (CET): eligible requests are received from here on.
MONDAY = "2025-03-03T08:15:00Z"


class Ledger:
    """The `ledger` command on one SQLite file, with shortcuts for the common steps."""

    def __init__(self, database: Path) -> None:
        self.env = {"LEDGER_DATABASE_URL": f"sqlite:///{database}"}

    def __call__(self, *args: str, timeout: float = 60) -> Result:
        """`ledger ARGS... --json` on this file."""
        return run(*args, "--json", env=self.env, timeout=timeout)

    def ok(self, *args: str) -> Any:
        """The JSON output of a command that must succeed."""
        result = self(*args)
        assert result.code == 0, result.err
        return result.json

    def sign(
        self, customer: str, tier: str = "premium", licenses: int = 2, list_price: str = "10000"
    ) -> str:
        """A contract whose first term runs through 2025 (Berlin time); returns its id."""
        data = self.ok(
            "contract", "sign", "--customer", customer, "--tier", tier,
            "--licenses", str(licenses), "--list-price", list_price,
            "--start", "2025-01-01", "--at", SIGNED_AT,
        )  # fmt: skip
        return str(data["contract_id"])

    def event_types(self, aggregate_id: str) -> list[str]:
        """The types of an aggregate's events, checking they come in version order."""
        events = self.ok("events", aggregate_id)
        assert [e["version"] for e in events] == list(range(1, len(events) + 1))
        assert {e["aggregate_id"] for e in events} == {aggregate_id}
        return [e["type"] for e in events]

    def open_ticket(
        self, contract_id: str, key: str, *, severity: str = "1", at: str = MONDAY
    ) -> Any:
        """Open a ticket for the named contact ann@acme.example on 24.2.1 (Linux)."""
        return self.ok(
            "ticket", "open", "--contract", contract_id, "--reporter", "ann@acme.example",
            "--severity", severity, "--version", "24.2.1", "--platform", "linux",
            "--key", key, "--at", at,
        )  # fmt: skip


def publish_releases(ledger: Ledger) -> None:
    """24.1 and 24.2 are the supported lines throughout 2025."""
    ledger.ok("releases", "publish", "24.1.0", "--at", "2024-03-01T10:00:00Z")
    ledger.ok("releases", "publish", "24.2.1", "--at", "2024-09-01T10:00:00Z")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """One SQLite file for the module, with the 24.1 and 24.2 releases published."""
    shared = Ledger(tmp_path_factory.mktemp("core") / "ledger.db")
    publish_releases(shared)
    return shared


# -- releases ------------------------------------------------------------------------------


def test_releases_publish_and_list_give_versions_and_supported_lines(tmp_path: Path) -> None:
    """Publishing returns the release; the list names every release and the supported lines."""
    ledger = Ledger(tmp_path / "ledger.db")
    published = ledger.ok("releases", "publish", "24.1.0", "--at", "2024-03-01T10:00:00+01:00")
    assert published == {
        "version": "24.1.0",
        "line": "24.1",
        "prerelease": False,
        "published_at": "2024-03-01T09:00:00Z",
        "withdrawn_at": None,
        "withdrawal_reason": None,
    }
    beta = ledger.ok("releases", "publish", "24.2.0", "--beta", "--at", "2024-08-01T10:00:00Z")
    assert beta["prerelease"] is True
    ledger.ok("releases", "publish", "24.2.1", "--at", "2024-09-01T10:00:00Z")

    listing = ledger.ok("releases", "list", "--at", "2025-03-01T00:00:00Z")

    assert listing["supported_lines"] == ["24.2", "24.1"]
    assert sorted(r["version"] for r in listing["releases"]) == ["24.1.0", "24.2.0", "24.2.1"]
    before = ledger.ok("releases", "list", "--at", "2024-06-01T00:00:00Z")
    assert before["supported_lines"] == ["24.1"]


# -- contracts -----------------------------------------------------------------------------


def test_signing_records_the_term_and_grants_its_credits(ledger: Ledger) -> None:
    """Premium with 2 licenses: fee 65 % of list price, 64 points and 6 training sessions."""
    contract_id = ledger.sign("Signing GmbH")
    assert UUID(contract_id)

    shown = ledger.ok("contract", "show", contract_id, "--at", "2025-02-01T00:00:00Z")
    balance = ledger.ok("credits", "balance", contract_id, "--at", "2025-02-01T00:00:00Z")

    assert shown["contract_id"] == contract_id
    assert shown["customer"] == "Signing GmbH"
    assert (shown["status"], shown["tier"], shown["licenses"]) == ("active", "premium", 2)
    assert (shown["list_price"], shown["currency"]) == ("10000", "EUR")
    assert (shown["timezone"], shown["holiday_region"]) == ("Europe/Berlin", "DE")
    [term] = shown["terms"]
    assert term["number"] == 1
    assert term["kind"] == "initial"
    assert term["starts_at"] == "2024-12-31T23:00:00Z"
    assert term["ends_at"] == "2025-12-31T23:00:00Z"
    assert (term["fee_share"], term["fee"]) == ("0.65", "6500")
    assert balance["points_available"] == "64"
    assert balance["sessions_available"] == "6"
    assert ledger.event_types(contract_id) == ["Contract.Signed"]


def test_sign_takes_license_kind_timezone_and_holiday_region(ledger: Ledger) -> None:
    """The optional calendar and license settings of a contract are kept as given."""
    data = ledger.ok(
        "contract", "sign", "--customer", "Campus", "--tier", "basic", "--licenses", "1",
        "--list-price", "800.50", "--start", "2025-01-01", "--license-kind", "educational",
        "--timezone", "America/New_York", "--holiday-region", "US-CA", "--at", SIGNED_AT,
    )  # fmt: skip

    shown = ledger.ok("contract", "show", data["contract_id"])

    assert shown["license_kind"] == "educational"
    assert (shown["timezone"], shown["holiday_region"]) == ("America/New_York", "US-CA")
    assert shown["terms"][0]["starts_at"] == "2025-01-01T05:00:00Z"
    assert shown["terms"][0]["fee"] == "200.13"


def test_contacts_are_added_and_removed_and_earlier_states_stay_readable(ledger: Ledger) -> None:
    """Contacts change by events; `show --version` and `--as-of` give the contract as it was."""
    contract_id = ledger.sign("Contacts AG")
    added = ledger.ok(
        "contract", "contacts", "add", contract_id, "Ann@Acme.example",
        "--at", "2025-01-03T09:00:00Z",
    )  # fmt: skip
    assert added == {"contract_id": contract_id, "named_contacts": ["ann@acme.example"]}
    both = ledger.ok(
        "contract", "contacts", "add", contract_id, "bob@acme.example",
        "--at", "2025-01-04T09:00:00Z",
    )  # fmt: skip
    assert both["named_contacts"] == ["ann@acme.example", "bob@acme.example"]
    removed = ledger.ok(
        "contract", "contacts", "remove", contract_id, "ann@acme.example",
        "--at", "2025-01-05T09:00:00Z",
    )  # fmt: skip
    assert removed["named_contacts"] == ["bob@acme.example"]

    events = ledger.ok("events", contract_id)
    assert [e["type"] for e in events] == [
        "Contract.Signed",
        "Contract.ContactAdded",
        "Contract.ContactAdded",
        "Contract.ContactRemoved",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    assert events[1]["data"] == {"email": "ann@acme.example", "added_at": "2025-01-03T09:00:00Z"}
    assert ledger.ok("contract", "show", contract_id)["version"] == 4
    first = ledger.ok("contract", "show", contract_id, "--version", "1")
    assert (first["version"], first["named_contacts"]) == (1, [])
    second = ledger.ok("contract", "show", contract_id, "--as-of", events[2]["recorded_at"])
    assert second["version"] == 3
    assert second["named_contacts"] == ["ann@acme.example", "bob@acme.example"]


def test_an_upgrade_applies_at_once_pro_rata(ledger: Ledger) -> None:
    """Advanced to Premium halfway through the term: half the fee and credit differences."""
    contract_id = ledger.sign("Upgrade KG", tier="advanced", licenses=1)

    upgraded = ledger.ok(
        "contract", "upgrade", contract_id, "--tier", "premium", "--at", "2025-07-02T11:00:00Z"
    )
    balance = ledger.ok("credits", "balance", contract_id, "--at", "2025-07-03T00:00:00Z")

    assert upgraded["contract_id"] == contract_id
    assert (upgraded["outcome"], upgraded["tier"], upgraded["pending_tier"]) == (
        "upgraded",
        "premium",
        None,
    )
    [adjustment] = upgraded["adjustments"]
    assert adjustment["term_number"] == 1
    assert adjustment["remaining_share"] == "0.5"
    assert (adjustment["fee"], adjustment["points"], adjustment["sessions"]) == ("1250", "8", 1)
    assert balance["points_available"] == "24"
    assert balance["sessions_available"] == "2"
    assert ledger.event_types(contract_id)[-1] == "Contract.Upgraded"


def test_a_downgrade_waits_for_the_renewal(ledger: Ledger) -> None:
    """A lower tier is scheduled (and can be called off); the renewal's term has it."""
    contract_id = ledger.sign("Downgrade SE", licenses=1)
    scheduled = ledger.ok(
        "contract", "upgrade", contract_id, "--tier", "basic", "--at", "2025-06-01T10:00:00Z"
    )
    assert (scheduled["outcome"], scheduled["tier"], scheduled["pending_tier"]) == (
        "downgrade_scheduled",
        "premium",
        "basic",
    )
    cancelled = ledger.ok(
        "contract", "upgrade", contract_id, "--tier", "premium", "--at", "2025-06-02T10:00:00Z"
    )
    assert (cancelled["outcome"], cancelled["pending_tier"]) == ("downgrade_cancelled", None)
    ledger.ok(
        "contract", "upgrade", contract_id, "--tier", "advanced", "--at", "2025-06-03T10:00:00Z"
    )

    renewed = ledger.ok("contract", "renew", contract_id, "--at", "2025-11-01T10:00:00Z")

    assert renewed["contract_id"] == contract_id
    term = renewed["term"]
    assert (term["number"], term["kind"], term["tier"]) == (2, "renewal", "advanced")
    assert (term["starts_at"], term["ends_at"]) == ("2025-12-31T23:00:00Z", "2026-12-31T23:00:00Z")
    assert (term["fee_share"], term["fee"]) == ("0.4", "4000")
    assert ledger.event_types(contract_id) == [
        "Contract.Signed",
        "Contract.DowngradeScheduled",
        "Contract.DowngradeCancelled",
        "Contract.DowngradeScheduled",
        "Contract.Renewed",
    ]


def test_a_lapsed_agreement_is_reinstated_at_80_percent_and_then_terminated(
    ledger: Ledger,
) -> None:
    """Lapse records the ended term; reinstatement starts today at 80 %; termination ends it."""
    contract_id = ledger.sign("Lapse Ltd", tier="basic", licenses=1, list_price="1000")

    lapsed = ledger.ok("contract", "lapse", contract_id, "--at", "2026-01-05T10:00:00Z")
    assert lapsed == {
        "contract_id": contract_id,
        "term_number": 1,
        "ended_at": "2025-12-31T23:00:00Z",
        "late": True,
    }
    reinstated = ledger.ok("contract", "reinstate", contract_id, "--at", "2026-01-10T10:00:00Z")
    term = reinstated["term"]
    assert (term["number"], term["kind"]) == (2, "reinstatement")
    assert (term["starts_at"], term["ends_at"]) == ("2026-01-09T23:00:00Z", "2027-01-09T23:00:00Z")
    assert (term["fee_share"], term["fee"]) == ("0.8", "800")
    terminated = ledger.ok(
        "contract", "terminate", contract_id, "--reason", "customer left",
        "--at", "2026-02-01T10:00:00Z",
    )  # fmt: skip

    assert terminated["status"] == "terminated"
    assert terminated["terminated_at"] == "2026-02-01T10:00:00Z"
    assert terminated["termination_reason"] == "customer left"
    assert terminated["valid"] is False
    assert ledger.event_types(contract_id) == [
        "Contract.Signed",
        "Contract.Lapsed",
        "Contract.Reinstated",
        "Contract.Terminated",
    ]


def test_renew_on_an_ended_term_reinstates(ledger: Ledger) -> None:
    """Renewing after the term ended without renewal is a reinstatement at 80 %."""
    contract_id = ledger.sign("Late Renewal BV", tier="basic", licenses=1, list_price="1000")

    renewed = ledger.ok("contract", "renew", contract_id, "--at", "2026-01-10T10:00:00Z")

    assert (renewed["term"]["kind"], renewed["term"]["fee_share"]) == ("reinstatement", "0.8")
    assert ledger.event_types(contract_id)[1:] == ["Contract.Lapsed", "Contract.Reinstated"]


def test_an_appointment_moves_the_deadline_of_an_open_ticket(ledger: Ledger) -> None:
    """A Saturday appointment adds covered time; booking and cancelling recompute open clocks."""
    contract_id = ledger.sign("Weekend Oy")
    ledger.ok("contract", "contacts", "add", contract_id, "ann@acme.example", "--at", SIGNED_AT)
    # Friday 16:00 Berlin, 8 business hours: 2 on Friday, 6 on Monday.
    opened = ledger.open_ticket(contract_id, "weekend-1", at="2025-03-07T15:00:00Z")
    assert opened["due_at"] == "2025-03-10T13:00:00Z"
    window = ["--from", "2025-03-08T09:00:00+01:00", "--to", "2025-03-08T13:00:00+01:00"]

    booked = ledger.ok(
        "contract", "appointment", "book", contract_id, *window, "--at", "2025-03-07T15:30:00Z"
    )
    moved = ledger.ok("ticket", "show", "weekend-1")["due_at"]
    cancelled = ledger.ok(
        "contract", "appointment", "cancel", contract_id, *window, "--at", "2025-03-07T16:00:00Z"
    )
    back = ledger.ok("ticket", "show", "weekend-1")

    assert booked == {
        "contract_id": contract_id,
        "action": "booked",
        "recalculated_tickets": [opened["ticket_id"]],
    }
    assert moved == "2025-03-10T09:00:00Z"
    assert (cancelled["action"], cancelled["recalculated_tickets"]) == (
        "cancelled",
        [opened["ticket_id"]],
    )
    assert back["due_at"] == "2025-03-10T13:00:00Z"
    assert ledger.event_types(opened["ticket_id"]) == [
        "Ticket.Opened",
        "Ticket.DeadlineRecalculated",
        "Ticket.DeadlineRecalculated",
    ]


# -- tickets -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(ledger: Ledger) -> str:
    """A Premium contract with ann@acme.example as its named contact."""
    contract_id = ledger.sign("Served GmbH")
    ledger.ok("contract", "contacts", "add", contract_id, "ann@acme.example", "--at", SIGNED_AT)
    return contract_id


def test_an_eligible_request_opens_with_its_deadline_and_its_key_makes_it_idempotent(
    ledger: Ledger, served: str
) -> None:
    """Premium severity 1 at Mon 09:15 Berlin is due 8 business hours on; a repeat adds nothing.

    Opening a ticket writes the ticket alone; the contract counts it among its open clocks."""
    events_before = ledger.ok("events", served)
    clocks_before = ledger.ok("contract", "show", served)["open_clocks"]

    first = ledger.open_ticket(served, "idem-1")
    again = ledger.open_ticket(served, "idem-1")

    assert first == {
        "ticket_id": first["ticket_id"],
        "status": "open",
        "reason": None,
        "message": None,
        "details": {},
        "due_at": "2025-03-03T16:15:00Z",
        "recorded": True,
        "contract_id": served,
        "customer": first["customer"],
    }
    assert first["customer"]
    assert again == {**first, "recorded": False}
    assert ledger.ok("events", served) == events_before
    assert ledger.ok("contract", "show", served)["open_clocks"] == clocks_before + 1
    assert ledger.event_types(first["ticket_id"]) == ["Ticket.Opened"]


def test_a_request_from_someone_not_named_is_declined_with_exit_3_and_recorded(
    ledger: Ledger, served: str
) -> None:
    """The decline names the contacts to ask; the request is kept as a declined ticket."""
    events_before = ledger.ok("events", served)

    result = ledger(
        "ticket", "open", "--contract", served, "--reporter", "eve@acme.example",
        "--severity", "1", "--version", "24.2.1", "--platform", "linux",
        "--key", "declined-1", "--at", MONDAY,
    )  # fmt: skip

    assert result.code == 3
    declined = result.json
    assert declined["status"] == "declined"
    assert declined["reason"] == "not_a_named_contact"
    assert declined["details"] == {"named_contacts": ["ann@acme.example"]}
    assert "ann@acme.example" in declined["message"]
    assert (declined["due_at"], declined["recorded"]) == (None, True)
    shown = ledger.ok("ticket", "show", "declined-1")
    assert shown["ticket_id"] == declined["ticket_id"]
    assert (shown["status"], shown["reason"]) == ("declined", "not_a_named_contact")
    assert shown["reporter"] == "eve@acme.example"
    assert ledger.event_types(declined["ticket_id"]) == ["Ticket.RequestDeclined"]
    assert ledger.ok("events", served) == events_before


def test_a_ticket_goes_through_its_lifecycle(ledger: Ledger, served: str) -> None:
    """Hold pauses the clock, resume and a new severity move the deadline, a response stops it."""
    clocks_before = ledger.ok("contract", "show", served)["open_clocks"]
    ticket_id = ledger.open_ticket(served, "life-1")["ticket_id"]
    assert ledger.ok("contract", "show", served)["open_clocks"] == clocks_before + 1

    opened = ledger.ok("ticket", "show", ticket_id)
    assert (opened["status"], opened["clock"], opened["severity"]) == ("open", "running", 1)
    assert opened["key"] == "life-1"
    assert (opened["product_version"], opened["release_line"]) == ("24.2.1", "24.2")
    assert (opened["tier"], opened["target_seconds"]) == ("premium", 8 * 3600)
    assert opened["due_at"] == opened["original_due_at"] == "2025-03-03T16:15:00Z"
    assert [(w["share"], w["at"]) for w in opened["warnings"]] == [
        ("0.5", "2025-03-03T12:15:00Z"),
        ("0.75", "2025-03-03T14:15:00Z"),
    ]
    # One business hour used, then on hold until Tuesday 09:00 Berlin.
    held = ledger.ok("ticket", "hold", ticket_id, "--at", "2025-03-03T09:15:00Z")
    assert (held["status"], held["clock"], held["due_at"]) == ("on_hold", "paused", None)
    resumed = ledger.ok("ticket", "resume", ticket_id, "--at", "2025-03-04T08:00:00Z")
    assert (resumed["status"], resumed["clock"]) == ("open", "running")
    assert resumed["due_at"] == "2025-03-04T15:00:00Z"
    # Two hours used by Tuesday 10:00 Berlin; severity 2 leaves 10 of 12 hours.
    changed = ledger.ok("ticket", "severity", ticket_id, "2", "--at", "2025-03-04T09:00:00Z")
    assert (changed["severity"], changed["target_seconds"]) == (2, 12 * 3600)
    assert changed["due_at"] == "2025-03-05T09:00:00Z"
    assert changed["original_due_at"] == "2025-03-03T16:15:00Z"
    responded = ledger.ok("ticket", "respond", ticket_id, "--at", "2025-03-04T10:00:00Z")
    assert (responded["result"], responded["outcome"], responded["clock"]) == (
        "met",
        "met",
        "stopped",
    )
    assert responded["responded_at"] == "2025-03-04T10:00:00Z"
    assistance = ledger.ok("ticket", "remote-assistance", ticket_id, "--at", "2025-03-04T10:30:00Z")
    assert assistance["remote_assistance"] == ["2025-03-04T10:30:00Z"]
    patched = ledger.ok("ticket", "patch", ticket_id, "--at", "2025-03-04T10:45:00Z")
    assert patched["patches"] == [{"release_line": "24.2", "requested_at": "2025-03-04T10:45:00Z"}]
    resolved = ledger.ok("ticket", "resolve", ticket_id, "--at", "2025-03-04T11:00:00Z")
    assert (resolved["status"], resolved["resolved_at"]) == ("resolved", "2025-03-04T11:00:00Z")
    reopened = ledger.ok("ticket", "reopen", ticket_id, "--at", "2025-03-04T12:00:00Z")
    assert (reopened["status"], reopened["resolved_at"]) == ("open", None)
    ledger.ok("ticket", "resolve", ticket_id, "--at", "2025-03-04T13:00:00Z")
    closed = ledger.ok("ticket", "close", ticket_id, "--at", "2025-03-04T14:00:00Z")
    assert (closed["status"], closed["closed_at"]) == ("closed", "2025-03-04T14:00:00Z")

    final = ledger.ok("ticket", "show", ticket_id)
    assert (final["status"], final["outcome"], final["breached"]) == ("closed", "met", False)
    assert ledger.event_types(ticket_id) == [
        "Ticket.Opened",
        "Ticket.Held",
        "Ticket.Resumed",
        "Ticket.SeverityChanged",
        "Ticket.FirstResponseRecorded",
        "Ticket.RemoteAssistanceRequested",
        "Ticket.PatchRequested",
        "Ticket.Resolved",
        "Ticket.Reopened",
        "Ticket.Resolved",
        "Ticket.Closed",
    ]
    assert ledger.ok("contract", "show", served)["open_clocks"] == clocks_before
    assert not [t for t in ledger.event_types(served) if "Ticket" in t]


def test_a_late_first_response_is_a_breach(ledger: Ledger, served: str) -> None:
    """Resolving after the deadline without a response records the response as breached."""
    ticket_id = ledger.open_ticket(served, "late-1", severity="3")["ticket_id"]

    resolved = ledger.ok("ticket", "resolve", ticket_id, "--at", "2025-03-10T08:00:00Z")

    assert (resolved["result"], resolved["outcome"], resolved["breached"]) == (
        "breached",
        "breached",
        True,
    )
    assert resolved["due_at"] == "2025-03-05T12:15:00Z"


# -- credits -------------------------------------------------------------------------------


def test_credits_are_purchased_consumed_reversed_and_trained_with_exact_decimals(
    ledger: Ledger,
) -> None:
    """Points come from the lot expiring first; reversals return them; a repeat records nothing."""
    contract_id = ledger.sign("Credits Oy")

    purchased = ledger.ok(
        "credits", "purchase", contract_id, "--points", "20", "--price", "1500.00",
        "--key", "pkg-1", "--expires", "2025-06-30", "--at", "2025-02-03T10:00:00Z",
    )  # fmt: skip
    assert purchased["lot_id"] == "purchase-1"
    assert purchased["recorded"] is True
    assert (purchased["amount"], purchased["remaining"], purchased["price"]) == ("20", "20", "1500")
    assert purchased["expires_at"] == "2025-06-30T22:00:00Z"
    consume = [
        "credits", "consume", contract_id, "--points", "12.5", "--activity", "remote session",
        "--key", "use-1", "--at", "2025-02-04T10:00:00Z",
    ]  # fmt: skip
    consumed = ledger.ok(*consume)
    assert consumed["key"] == "use-1"
    assert consumed["recorded"] is True
    assert (consumed["points"], consumed["activity"]) == ("12.5", "remote session")
    assert consumed["draws"] == [{"lot_id": "purchase-1", "amount": "12.5", "returned": "0"}]
    assert consumed["balance"] == "71.5"
    repeated = ledger.ok(*consume)
    assert (repeated["recorded"], repeated["balance"]) == (False, "71.5")
    partly = ledger.ok(
        "credits", "reverse", contract_id, "--key", "use-1", "--points", "2.5",
        "--reason", "booked twice", "--at", "2025-02-05T10:00:00Z",
    )  # fmt: skip
    assert (partly["points"], partly["reason"], partly["recorded"]) == ("2.5", "booked twice", True)
    assert partly["balance"] == "74"
    rest = ledger.ok(
        "credits", "reverse", contract_id, "--key", "use-1", "--reason", "not our fault",
        "--at", "2025-02-06T10:00:00Z",
    )  # fmt: skip
    assert (rest["points"], rest["balance"]) == ("10", "84")
    training = ledger.ok("credits", "training", contract_id, "--at", "2025-02-07T10:00:00Z")
    assert (training["recorded"], training["minutes"], training["sessions_left"]) == (True, 30, "5")

    balance = ledger.ok("credits", "balance", contract_id, "--at", "2025-02-10T00:00:00Z")
    assert (balance["points_available"], balance["sessions_available"]) == ("84", "5")
    lots = {lot["lot_id"]: lot for lot in balance["lots"]}
    assert lots["purchase-1"]["remaining"] == "20"
    assert lots["term-1-sessions"]["remaining"] == "5"
    summer = ledger.ok("credits", "balance", contract_id, "--at", "2025-07-01T00:00:00Z")
    assert summer["points_available"] == "64"
    assert {lot["lot_id"]: lot["state"] for lot in summer["lots"]}["purchase-1"] == "expired"


# -- refusals ------------------------------------------------------------------------------


class World:
    """The contracts refusals are tried on, and what each probe printed before any refusal."""

    def __init__(self, ledger: Ledger, names: dict[str, str]) -> None:
        self.ledger = ledger
        self.names = names
        self.first: dict[tuple[str, ...], Result] = {}

    def args(self, template: list[str]) -> list[str]:
        """A command with the placeholders P, B, T, TID and ZERO replaced."""
        return [self.names.get(a, a) for a in template]

    def baseline(self, probe: list[str]) -> Result:
        """What `probe` printed the first time it was asked (before the refusals it watches)."""
        if tuple(probe) not in self.first:
            self.first[tuple(probe)] = self.ledger(*probe)
        return self.first[tuple(probe)]


@pytest.fixture(scope="module")
def world(ledger: Ledger) -> World:
    """Premium with a contact, a 10-point consumption and a ticket; Basic with its one contact."""
    premium = ledger.sign("Refused AG")
    ledger.ok("contract", "contacts", "add", premium, "ann@acme.example", "--at", SIGNED_AT)
    ledger.ok(
        "credits", "consume", premium, "--points", "10", "--activity", "analysis",
        "--key", "used", "--at", "2025-02-03T10:00:00Z",
    )  # fmt: skip
    ticket_id = ledger.open_ticket(premium, "refused-ticket")["ticket_id"]
    basic = ledger.sign("Refused Basic", tier="basic", licenses=1, list_price="1000")
    ledger.ok("contract", "contacts", "add", basic, "ann@acme.example", "--at", SIGNED_AT)
    names = {"P": premium, "B": basic, "T": "refused-ticket", "TID": ticket_id, "ZERO": ZERO}
    return World(ledger, names)


LATER = "2025-03-10T10:00:00Z"
CONSUME = ["credits", "consume", "P", "--activity", "analysis", "--key", "new-1"]
PURCHASE = ["credits", "purchase", "P", "--price", "10", "--key", "pkg-0"]
BALANCE = ["credits", "balance", "P", "--at", LATER]
EVENTS_P = ["events", "P"]
OPEN = ["ticket", "open", "--contract", "P", "--reporter", "ann@acme.example"]
OPEN_REST = ["--version", "24.2.1", "--platform", "linux"]

REFUSALS = [
    pytest.param(
        ["credits", "consume", "ZERO", *CONSUME[3:], "--points", "1", "--at", LATER],
        "unknown_contract",
        ["events", "ZERO"],
        id="unknown-contract",
    ),
    pytest.param(
        [*OPEN[:2], "--contract", "ZERO", *OPEN[4:], *OPEN_REST, "--key", "orphan", "--at", LATER],
        "unknown_contract",
        ["ticket", "show", "orphan"],
        id="ticket-for-unknown-contract",
    ),
    pytest.param(
        ["credits", "consume", "not-a-uuid", "--points", "1", "--activity", "a", "--key", "k"],
        "unknown_contract",  # not an id: a customer's name, and no customer has it
        BALANCE,
        id="name-of-no-customer",
    ),
    pytest.param(
        [*CONSUME, "--points", "0", "--at", LATER], "invalid_amount", BALANCE, id="zero-points"
    ),
    pytest.param(
        [*CONSUME, "--points", "-5", "--at", LATER],
        "invalid_amount",
        BALANCE,
        id="negative-points",
    ),
    pytest.param(
        [*PURCHASE, "--points", "0", "--at", LATER],
        "invalid_amount",
        BALANCE,
        id="zero-points-purchase",
    ),
    pytest.param(
        [*CONSUME, "--points", "1", "--at", "2025-03-10T10:00:00"],
        "naive_datetime",
        BALANCE,
        id="naive-at",
    ),
    pytest.param(
        ["contract", "contacts", "add", "P", "bob@acme.example", "--at", "2025-03-10T10:00:00"],
        "naive_datetime",
        EVENTS_P,
        id="naive-at-contact",
    ),
    pytest.param(
        ["contract", "upgrade", "P", "--tier", "gold", "--at", LATER],
        "unknown_tier",
        EVENTS_P,
        id="unknown-tier",
    ),
    pytest.param(
        [*OPEN, "--severity", "4", *OPEN_REST, "--key", "sev-4", "--at", LATER],
        "unknown_severity",
        ["ticket", "show", "sev-4"],
        id="unknown-severity-open",
    ),
    pytest.param(
        ["ticket", "severity", "T", "4", "--at", LATER],
        "unknown_severity",
        ["events", "TID"],
        id="unknown-severity-change",
    ),
    pytest.param(
        ["contract", "contacts", "add", "P", "ANN@acme.example", "--at", LATER],
        "duplicate_contact",
        EVENTS_P,
        id="duplicate-contact",
    ),
    pytest.param(
        ["contract", "contacts", "add", "B", "bob@acme.example", "--at", LATER],
        "contact_limit_reached",
        ["events", "B"],
        id="contact-limit",
    ),
    pytest.param(
        [*CONSUME, "--points", "1", "--at", "2026-01-15T10:00:00Z"],
        "no_valid_agreement",
        BALANCE,
        id="term-ended",
    ),
    pytest.param(
        [*CONSUME[:5], "--key", "used", "--points", "5", "--at", LATER],
        "idempotency_conflict",
        BALANCE,
        id="idempotency-conflict-consume",
    ),
    pytest.param(
        [*OPEN, "--severity", "2", *OPEN_REST, "--key", "T", "--at", MONDAY],
        "idempotency_conflict",
        ["events", "TID"],
        id="idempotency-conflict-open",
    ),
    pytest.param(
        [*CONSUME, "--points", "54.01", "--at", LATER],
        "insufficient_credits",
        BALANCE,
        id="insufficient-credits",
    ),
    pytest.param(
        ["credits", "reverse", "P", "--key", "never", "--reason", "x", "--at", LATER],
        "unknown_consumption",
        BALANCE,
        id="unknown-consumption",
    ),
]


@pytest.mark.parametrize(("command", "code", "probe"), REFUSALS)
def test_a_refused_command_prints_its_code_exits_1_and_records_nothing(
    ledger: Ledger, world: World, command: list[str], code: str, probe: list[str]
) -> None:
    """Each error exits 1 with its code as JSON on standard error, and the record is unchanged."""
    before = world.baseline(world.args(probe))

    result = ledger(*world.args(command))

    assert result.code == 1, result.err
    assert result.error["code"] == code
    assert result.error["message"]
    assert result.out == ""
    after = ledger(*world.args(probe))
    assert (after.code, after.out) == (before.code, before.out)


def test_insufficient_credits_names_what_is_available(ledger: Ledger, world: World) -> None:
    """The error carries the points available and requested, written like every other decimal."""
    result = ledger(*world.args(CONSUME), "--points", "100", "--at", LATER)
    balance = ledger.ok(*world.args(BALANCE))

    assert result.code == 1
    assert result.error["message"] == "cannot consume 100 points: 54 available"
    assert Decimal(result.error["available"]) == Decimal(balance["points_available"]) == 54
    assert Decimal(result.error["requested"]) == 100
    assert (result.error["available"], result.error["requested"]) == ("54", "100")


def test_an_unknown_aggregate_has_no_events(ledger: Ledger) -> None:
    """`events` of an id that was never recorded is an error, not an empty list."""
    result = ledger("events", ZERO)

    assert result.code == 1
    assert result.error["code"] == "unknown_aggregate"


@pytest.mark.parametrize(
    "args",
    [
        ["credits", "consume", ZERO, "--points", "1"],
        ["contract", "sign", "--customer", "X"],
        ["ticket", "open", "--contract", ZERO],
        ["ticket", "frobnicate"],
    ],
    ids=["missing-options", "missing-sign-options", "missing-open-options", "no-such"],
)
def test_a_usage_error_exits_2(ledger: Ledger, args: list[str]) -> None:
    """Missing options and unknown commands are usage errors."""
    result = ledger(*args)

    assert result.code == 2
    assert result.out == ""


def test_a_value_of_the_wrong_type_is_refused_with_exit_1(ledger: Ledger) -> None:
    """A value click's type refuses (`--version one`) is `invalid_input`, exit 1, as a value
    the ledger's parsers refuse is."""
    result = ledger("contract", "show", ZERO, "--version", "one")

    assert result.code == 1
    assert result.out == ""
    assert result.error["code"] == "invalid_input"
    assert "--version" in result.error["message"]


HELP = [
    ["releases"],
    ["releases", "publish"],
    ["releases", "list"],
    ["contract"],
    ["contract", "sign"],
    ["contract", "contacts"],
    ["contract", "contacts", "add"],
    ["contract", "contacts", "remove"],
    ["contract", "renew"],
    ["contract", "reinstate"],
    ["contract", "lapse"],
    ["contract", "terminate"],
    ["contract", "upgrade"],
    ["contract", "appointment"],
    ["contract", "appointment", "book"],
    ["contract", "appointment", "cancel"],
    ["contract", "show"],
    ["ticket"],
    ["ticket", "open"],
    ["ticket", "respond"],
    ["ticket", "hold"],
    ["ticket", "resume"],
    ["ticket", "resolve"],
    ["ticket", "reopen"],
    ["ticket", "close"],
    ["ticket", "severity"],
    ["ticket", "remote-assistance"],
    ["ticket", "patch"],
    ["ticket", "show"],
    ["credits"],
    ["credits", "purchase"],
    ["credits", "consume"],
    ["credits", "reverse"],
    ["credits", "training"],
    ["credits", "balance"],
    ["events"],
]


@pytest.mark.parametrize("command", HELP, ids=" ".join)
def test_every_ledger_command_has_help(command: list[str]) -> None:
    """`--help` works on every command and group of the ledger and mentions --json on commands."""
    result = run(*command, "--help")

    assert result.code == 0, result.err
    assert "Usage:" in result.out
    if command[-1] not in {"releases", "contract", "contacts", "appointment", "ticket", "credits"}:
        assert "--json" in result.out


def test_an_unreachable_database_exits_4() -> None:
    """A PostgreSQL server that does not answer is `store_unavailable`, exit 4, in bounded time."""
    env = {"LEDGER_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"}
    started = time.monotonic()

    result = run("contract", "show", ZERO, "--json", env=env, timeout=60)

    assert result.code == 4
    assert result.error["code"] == "store_unavailable"
    assert time.monotonic() - started < 30
