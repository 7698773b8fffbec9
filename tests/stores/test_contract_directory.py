"""Names, not ids, on SQLite and PostgreSQL: the contract directory, the resolver, the list,
intake by e-mail and priority troubleshooting on the board."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import (
    AmbiguousContractError,
    InvalidInputError,
    NotIncludedInTierError,
    TicketDeclinedError,
    TicketStateError,
    UnknownContractError,
)
from ledger.domain.ticket import Ticket
from ledger.projections.contracts import ContractDirectoryProjection
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import run_projections, verify
from ledger.projections.sla_breaches import SlaBreachProjection, SlaBreachView
from ledger.reports import contract_list, credit_history
from ledger.wiring import open_ledger

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings

NOW = datetime.now(UTC).replace(microsecond=0)
SIGNED = NOW - timedelta(days=40)
START = SIGNED.date()
VERSION = f"{NOW.year % 100}.1.0"


@pytest.fixture
def app(store_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    application = open_ledger(store_settings)
    yield application
    application.close()


def sign(app: SupportLedger, customer: str, tier: str = "premium", start: date = START) -> UUID:
    return app.sign_contract(
        customer=customer, tier=tier, licenses=2, license_kind="commercial",
        list_price=Decimal(10000), start=start, at=SIGNED,
    )  # fmt: skip


def directory(settings: DatabaseSettings, app: SupportLedger) -> None:
    """Bring the contract directory up to the head of the log."""
    (outcome,) = run_projections(settings, app, [ContractDirectoryProjection], once=True)
    assert outcome.status == "caught_up", outcome.error


@pytest.fixture
def three(app: SupportLedger) -> dict[str, UUID]:
    """Acme GmbH (Premium), Acme Labs (Basic) and Cobalt AG (Advanced, ended a year ago)."""
    app.publish_release(VERSION, prerelease=False, at=SIGNED)
    ids = {
        "gmbh": sign(app, "Acme GmbH"),
        "labs": sign(app, "Acme Labs", "basic"),
        "cobalt": sign(app, "Cobalt AG", "advanced", START - timedelta(days=800)),
    }
    app.add_contact(ids["gmbh"], email="ops@acme.example", at=SIGNED)
    app.add_contact(ids["labs"], email="lab@acme.example", at=SIGNED)
    return ids


@pytest.mark.parametrize("viewed", [False, True], ids=["from-the-log", "from-the-view"])
def test_a_contract_is_found_by_the_customers_name_in_any_case_or_a_unique_prefix(
    app: SupportLedger, three: dict[str, UUID], store_settings: DatabaseSettings, viewed: bool
) -> None:
    """Whole names and unique prefixes resolve, in any case, before and after the view ran."""
    if viewed:
        directory(store_settings, app)
    assert app.contract_id("acme gmbh") == three["gmbh"]
    assert app.contract_id("  ACME   Labs ") == three["labs"]
    assert app.contract_id("cob") == three["cobalt"]
    assert app.contract_id(str(three["cobalt"])) == three["cobalt"]


def test_a_name_that_fits_several_contracts_is_refused_listing_them(
    app: SupportLedger, three: dict[str, UUID], store_settings: DatabaseSettings
) -> None:
    """A prefix of two customers' names is ambiguous; the refusal names both contracts."""
    directory(store_settings, app)
    with pytest.raises(AmbiguousContractError) as refused:
        app.contract_id("acme", "CONTRACT")
    assert refused.value.code == "ambiguous_contract"
    assert "Acme GmbH" in refused.value.message
    assert "Acme Labs" in refused.value.message
    assert {c["contract_id"] for c in refused.value.details["candidates"]} == {
        str(three["gmbh"]),
        str(three["labs"]),
    }


def test_an_exact_name_wins_over_a_longer_name_it_starts(
    app: SupportLedger, store_settings: DatabaseSettings
) -> None:
    """`Acme` names Acme even when Acme Labs exists too; a contract signed after the view
    ran is found from the log."""
    acme = sign(app, "Acme")
    directory(store_settings, app)
    labs = sign(app, "Acme Labs")
    assert app.contract_id("ACME") == acme
    assert app.contract_id("acme l") == labs


def test_unknown_names_and_empty_references_are_refused(
    app: SupportLedger, three: dict[str, UUID]
) -> None:
    """A name no customer has is unknown_contract; an empty one invalid_input."""
    del three
    with pytest.raises(UnknownContractError, match="Nobody"):
        app.contract_id("Nobody")
    with pytest.raises(InvalidInputError):
        app.contract_id("   ")


def test_the_list_shows_each_contract_with_its_term_status_contacts_and_balance(
    app: SupportLedger, three: dict[str, UUID], store_settings: DatabaseSettings
) -> None:
    """Rows by customer: tier, licenses, term, status (ended: lapse not recorded), contacts,
    account and points available; filters by name part, tier and status."""
    app.consume_credits(three["gmbh"], points=Decimal(8), activity="analysis", key="W-1", at=NOW)
    page = contract_list(store_settings, app, NOW)
    rows = {r["customer"]: r for r in page["rows"]}
    assert [r["customer"] for r in page["rows"]] == ["Acme GmbH", "Acme Labs", "Cobalt AG"]
    assert page["next"] is None
    gmbh = rows["Acme GmbH"]
    assert (gmbh["tier"], gmbh["licenses"], gmbh["status"], gmbh["current_term"]) == (
        "premium", 2, "active", 1,
    )  # fmt: skip
    assert gmbh["named_contacts"] == ["ops@acme.example"]
    assert gmbh["credit_balance"] == Decimal(56)
    assert gmbh["account_id"] == str(CreditAccount.create_id(three["gmbh"]))
    assert rows["Cobalt AG"]["status"] == "lapse_pending"
    assert rows["Cobalt AG"]["current_term"] is None

    def customers(**filters: str) -> list[str]:
        return [r["customer"] for r in contract_list(store_settings, app, NOW, **filters)["rows"]]

    assert customers(customer="ME g") == ["Acme GmbH"]
    assert customers(customer="%") == []
    assert customers(tier="BASIC") == ["Acme Labs"]
    assert customers(status="lapse_pending") == ["Cobalt AG"]
    app.lapse_contract(three["cobalt"], at=NOW)
    assert customers(status="lapsed") == ["Cobalt AG"]
    app.terminate_contract(three["labs"], reason="moved", at=NOW)
    assert customers(status="terminated") == ["Acme Labs"]


def test_the_list_comes_in_pages_and_refuses_a_bad_cursor_or_filter(
    app: SupportLedger, store_settings: DatabaseSettings
) -> None:
    """Pages of `limit` follow each other through `next` without gaps or repeats."""
    names = [f"Customer {n:02d}" for n in range(7)]
    for name in reversed(names):
        sign(app, name)
    seen, after = [], None
    while True:
        page = contract_list(store_settings, app, NOW, limit=3, after=after)
        seen += [r["customer"] for r in page["rows"]]
        after = page["next"]
        if after is None:
            break
    assert seen == names
    with pytest.raises(InvalidInputError, match="after"):
        contract_list(store_settings, app, NOW, after="not-a-cursor")
    with pytest.raises(InvalidInputError, match="status"):
        contract_list(store_settings, app, NOW, status="sleeping")
    with pytest.raises(InvalidInputError, match="limit"):
        contract_list(store_settings, app, NOW, limit=0)


def test_the_directory_equals_a_rebuild_from_the_log(
    app: SupportLedger, three: dict[str, UUID], store_settings: DatabaseSettings
) -> None:
    """Built in small batches, the view equals a rebuild from scratch."""
    app.change_tier(three["labs"], tier="advanced", at=NOW)
    app.remove_contact(three["gmbh"], email="ops@acme.example", at=NOW)
    run_projections(store_settings, app, [ContractDirectoryProjection], once=True, batch_size=2)
    head = app.recorder.max_notification_id()
    assert verify(store_settings, app, ContractDirectoryProjection) == (head, [])


def test_a_request_is_opened_under_the_one_agreement_naming_the_reporter(
    app: SupportLedger, three: dict[str, UUID], store_settings: DatabaseSettings
) -> None:
    """Without a contract, the agreement naming the reporter takes the request."""
    directory(store_settings, app)
    opening = app.open_ticket(
        contract_id=None, reporter="OPS@acme.example", version=VERSION, platform="linux",
        at=NOW, key="MAIL-1",
    )  # fmt: skip
    assert opening.status == "open"
    assert (opening.contract_id, opening.customer) == (three["gmbh"], "Acme GmbH")
    assert app.get_ticket("MAIL-1").contract_id == three["gmbh"]


def test_a_request_no_agreement_names_is_declined_and_recorded(app: SupportLedger) -> None:
    """None: declined no_valid_agreement, kept as a ticket of no contract; the same key again
    records nothing more; commands on it are refused."""
    before = app.recorder.max_notification_id() or 0
    opening = app.open_ticket(
        contract_id=None, reporter="stranger@else.example", version="1.0.0",
        platform="linux", at=NOW, key="MAIL-2",
    )  # fmt: skip
    assert (opening.status, opening.reason) == ("declined", "no_valid_agreement")
    assert (app.recorder.max_notification_id() or 0) == before + 1
    ticket = app.get_ticket("MAIL-2")
    assert ticket.contract_id is None
    assert ticket.reporter == "stranger@else.example"
    assert [type(e) for e in app.list_events(ticket.id)] == [Ticket.UnmatchedRequestDeclined]
    again = app.open_ticket(
        contract_id=None, reporter="stranger@else.example", version="1.0.0",
        platform="linux", at=NOW, key="MAIL-2",
    )  # fmt: skip
    assert (again.ticket_id, again.recorded) == (ticket.id, False)
    assert (app.recorder.max_notification_id() or 0) == before + 1
    with pytest.raises(TicketDeclinedError):
        app.request_priority_troubleshooting("MAIL-2", at=NOW)


def test_a_reporter_named_by_several_agreements_must_name_the_contract(
    app: SupportLedger, three: dict[str, UUID], store_settings: DatabaseSettings
) -> None:
    """Several: refused (ambiguous_contract, listing them), nothing recorded."""
    directory(store_settings, app)
    app.remove_contact(three["labs"], email="lab@acme.example", at=NOW)
    app.add_contact(three["labs"], email="ops@acme.example", at=NOW)
    before = app.recorder.max_notification_id()
    with pytest.raises(AmbiguousContractError, match="Acme Labs") as refused:
        app.open_ticket(
            contract_id=None, reporter="ops@acme.example", version=VERSION, platform="linux",
            at=NOW,
        )  # fmt: skip
    assert "--contract" in refused.value.message
    assert app.recorder.max_notification_id() == before
    named = app.open_ticket(
        contract_id="acme labs", reporter="ops@acme.example", version=VERSION,
        platform="linux", at=NOW,
    )  # fmt: skip
    assert named.status == "open"


def test_priority_troubleshooting_is_premium_and_advanced_only_and_shows_on_the_board(
    app: SupportLedger, three: dict[str, UUID], store_settings: DatabaseSettings
) -> None:
    """Premium: recorded once, flagged on the board from then on; Basic: refused, nothing
    recorded."""
    for key, reporter, contract in (
        ("P-1", "ops@acme.example", three["gmbh"]),
        ("B-1", "lab@acme.example", three["labs"]),
    ):
        app.open_ticket(
            contract_id=contract, reporter=reporter, version=VERSION, platform="linux",
            at=NOW - timedelta(minutes=5), key=key,
        )  # fmt: skip
    app.request_priority_troubleshooting("P-1", at=NOW)
    assert app.get_ticket("P-1").priority_troubleshooting == [NOW]
    with pytest.raises(TicketStateError):
        app.request_priority_troubleshooting("P-1", at=NOW)
    before = app.recorder.max_notification_id()
    with pytest.raises(NotIncludedInTierError):
        app.request_priority_troubleshooting("B-1", at=NOW)
    assert app.recorder.max_notification_id() == before
    run_projections(store_settings, app, [SlaBreachProjection], once=True)
    db = ViewDatabase(store_settings)
    try:
        board = SlaBreachView(db)
        flags = {r["key"]: r["priority"] for r in board.board(NOW, states={"all"})}
        earlier = {r["key"]: r["priority"] for r in board.board(NOW - timedelta(minutes=1))}
        assert [r["key"] for r in board.board(NOW, customer="cme gm")] == ["P-1"]
    finally:
        db.close()
    assert flags == {"P-1": True, "B-1": False}
    assert earlier["P-1"] is False


def test_credit_history_lists_every_movement_with_keys_tickets_and_balances(
    app: SupportLedger, three: dict[str, UUID], store_settings: DatabaseSettings
) -> None:
    """Grants, draws (with their key and ticket) and reversals, the balance after each."""
    app.open_ticket(
        contract_id=three["gmbh"], reporter="ops@acme.example", version=VERSION,
        platform="linux", at=NOW - timedelta(hours=1), key="T-9",
    )  # fmt: skip
    app.consume_credits(
        three["gmbh"], points=Decimal(10), activity="fix", key="W-9", at=NOW, ticket="T-9"
    )
    app.reverse_consumption(three["gmbh"], key="W-9", reason="goodwill", at=NOW, points=Decimal(4))
    history = credit_history(store_settings, app, three["gmbh"])
    assert history["customer"] == "Acme GmbH"
    assert history["account_id"] == CreditAccount.create_id(three["gmbh"])
    points = [r for r in history["rows"] if r["unit"] == "points"]
    seen = [(r["kind"], r["amount"], r["available_after"], r["key"], r["ticket"]) for r in points]
    assert seen == [
        ("term_grant", Decimal(64), Decimal(64), None, None),
        ("consumption", Decimal(10), Decimal(54), "W-9", "T-9"),
        ("reversal", Decimal(4), Decimal(58), "W-9", None),
    ]  # fmt: skip
    assert app.aggregate_id("acme gmbh", account=True) == history["account_id"]
