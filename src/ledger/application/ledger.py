"""SupportLedger: the persistence set-up, and one or two lines per use case of the area modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.application import (
    alerts,
    clocks,
    contracts,
    directory,
    queries,
    releases,
    tickets,
)
from ledger.application import credits as accounts
from ledger.application import facts as scheduled
from ledger.application.uow import WRITE_DEADLINE, UnitsOfWork
from ledger.domain.alerts import AlertSubscriptions
from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount
from ledger.domain.releases import ReleaseCatalog
from ledger.store import LedgerApplication

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date, datetime
    from decimal import Decimal
    from uuid import UUID

    from ledger.application.clocks import UnansweredTickets
    from ledger.application.directory import ContractDirectory
    from ledger.application.facts import DueFact, FactOutcome
    from ledger.application.tickets import TicketOpening
    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.credit_account import CreditConsumption
    from ledger.domain.terms import Terms
    from ledger.domain.ticket import Ticket
    from ledger.settings import DatabaseSettings


class _Facade:
    """What the area facades below share: the application's units of work."""

    work: UnitsOfWork


class ScheduledFacts(_Facade):
    """What the scheduler records, through `application.facts`."""

    def record_warning(
        self, reference: str | UUID, *, share: Decimal, at: datetime, late: bool
    ) -> bool:
        """Record a reached warning (the scheduler's); False when it no longer applies."""
        return scheduled.record_warning(self.work, reference, share=share, at=at, late=late)

    def record_breach(self, reference: str | UUID, *, at: datetime, late: bool) -> bool:
        """Record a breached deadline (the scheduler's); False when it no longer applies."""
        return scheduled.record_breach(self.work, reference, at=at, late=late)

    def record_due(self, facts: Sequence[DueFact], *, at: datetime) -> list[FactOutcome]:
        """Record facts whose instants have come, in one save (the scheduler's use case)."""
        return scheduled.record_due(self.work, facts, at=at)

    def read_ahead(self, facts: Sequence[DueFact], *, budget: float = 0.05) -> int:
        """Read the aggregates `facts` will be recorded on before they fall due."""
        return scheduled.read_ahead(self.work, facts, budget=budget)

    def grant_due_terms(self, contract_id: UUID, *, at: datetime) -> list[int]:
        """Grant the terms that have begun and were not granted yet (the scheduler's)."""
        return scheduled.grant_due_terms(self.work, contract_id, at=at)

    def expire_lot(self, contract_id: UUID, *, lot_id: str, at: datetime, late: bool) -> bool:
        """Record a lot's expiry (the scheduler's); False when already recorded."""
        return scheduled.expire_lot(self.work, contract_id, lot_id=lot_id, at=at, late=late)


class AlertRegistry(_Facade):
    """Alert subscriptions, through `application.alerts`."""

    def subscribe_alerts(self, **subscription: Any) -> dict[str, Any]:
        """Add an alert subscription (see `application.alerts.subscribe_alerts`)."""
        return alerts.subscribe_alerts(self.work, **subscription)

    def remove_subscription(
        self, subscription_id: UUID, *, actor: str, at: datetime
    ) -> dict[str, Any]:
        """Remove an alert subscription."""
        return alerts.remove_subscription(self.work, subscription_id, actor=actor, at=at)

    def get_subscriptions(self) -> AlertSubscriptions:
        """Every alert subscription, as the registry stands."""
        return alerts.get_subscriptions(self.work)


class SupportLedger(ScheduledFacts, AlertRegistry, LedgerApplication):
    """The ledger of support contracts, tickets, credit accounts and releases (with what the
    scheduler records and the alert subscriptions, in the facades above)."""

    name = "ledger"
    # Aggregates stay cached between commands; every read still fast-forwards the cached copy
    # with the events recorded since (one query), so another process's writes are always seen.
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000"}  # noqa: RUF012 - read by the library as is
    snapshotting_intervals = {  # noqa: RUF012 - the library reads this class attribute as is
        Contract: 50,
        CreditAccount: 50,
        ReleaseCatalog: 50,
        AlertSubscriptions: 50,
    }
    write_deadline = WRITE_DEADLINE  # seconds a use case keeps retrying write conflicts

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        settings: DatabaseSettings | None = None,
        unanswered: UnansweredTickets | None = None,
        recording_clock: Callable[[], datetime] | None = None,
        contracts_view: ContractDirectory | None = None,
    ) -> None:
        """The ledger on the configured store; `unanswered` and `contracts_view` (read models,
        closed with the ledger) find a contract's open clocks, and contracts by name or
        contact, faster than the log alone; `recording_clock` stamps the events' recording
        time (the demo's clock; default: the wall clock)."""
        super().__init__(env, settings=settings, recording_clock=recording_clock)
        self.work = UnitsOfWork(self, deadline=self.write_deadline)
        self._unanswered = unanswered
        self._directory = contracts_view

    def close(self) -> None:
        """Close the store's connections and the read models' connections."""
        if self._unanswered is not None:
            self._unanswered.close()
        if self._directory is not None:
            self._directory.close()
        super().close()

    # -- the rules' look-ups -------------------------------------------------------------------

    @staticmethod
    def terms_of(contract: Contract, at: datetime | None = None) -> Terms:
        """The terms the contract's term (at `at`, or its latest) was signed under."""
        return queries.terms_of(contract, at)

    def calendar_of(
        self, contract: Contract, *, with_appointments: bool = True
    ) -> BusinessCalendar:
        """The contract's calendar: its tier's coverage, zone, holidays and appointments."""
        return queries.calendar_of(contract, with_appointments=with_appointments)

    def ticket_id(self, reference: str | UUID) -> UUID:
        """A ticket id from its id or its external key."""
        return queries.ticket_id(reference)

    def open_clocks(self, contract_id: UUID) -> list[UUID]:
        """The tickets opened under a contract whose response clock has not stopped (no first
        response recorded), as the log stands now."""
        queries.get_contract(self, contract_id)
        return sorted(self.unanswered_tickets(contract_id)[0])

    def unanswered_tickets(self, contract_id: UUID) -> tuple[set[UUID], int]:
        """The contract's tickets with no first response, up to a position of the log."""
        return clocks.unanswered_tickets(self, self._unanswered, contract_id)

    # -- releases ------------------------------------------------------------------------------

    def publish_release(self, version: str, *, prerelease: bool, at: datetime) -> dict[str, Any]:
        """Publish a product release."""
        return releases.publish_release(self.work, version, prerelease=prerelease, at=at)

    def withdraw_release(self, version: str, *, reason: str, at: datetime) -> dict[str, Any]:
        """Withdraw a published release."""
        return releases.withdraw_release(self.work, version, reason=reason, at=at)

    def get_catalog(self) -> ReleaseCatalog | None:
        """The release catalog (None before the first release)."""
        return queries.get_catalog(self)

    # -- contracts -----------------------------------------------------------------------------

    def contract_id(self, reference: str | UUID, name: str = "contract") -> UUID:
        """A contract id from its id or its customer's name (any case, whole or a unique
        prefix); `name` names the input in the error."""
        return directory.resolve_contract(self, self._directory, reference, name)

    def customers_of(self, contract_ids: list[UUID]) -> dict[UUID, str]:
        """The customer's name of each contract among `contract_ids` (unknown ones left out)."""
        return directory.customers_of(self, self._directory, contract_ids)

    def contracts_naming(self, email: str) -> list[tuple[UUID, str]]:
        """The contracts (id, customer) that name the contact `email` now."""
        return directory.contracts_naming(self, self._directory, email)

    def sign_contract(
        self,
        *,
        customer: str,
        tier: str,
        licenses: int,
        license_kind: str,
        list_price: Decimal,
        start: date,
        at: datetime,
        timezone: str | None = None,
        holiday_region: str | None = None,
        terms_version: str | None = None,
        key: str | None = None,
        currency: str | None = None,
    ) -> UUID:
        """Sign an agreement: assess the fee and grant the first term's credits in one save."""
        return contracts.sign_contract(
            self.work, customer=customer, tier=tier, licenses=licenses,
            license_kind=license_kind, list_price=list_price, start=start, at=at,
            timezone=timezone, holiday_region=holiday_region, terms_version=terms_version,
            key=key, currency=currency,
        )  # fmt: skip

    def renew_contract(
        self,
        contract_id: UUID,
        *,
        at: datetime,
        licenses: int | None = None,
        list_price: Decimal | None = None,
    ) -> dict[str, Any]:
        """Order the next term; on a lapsed agreement this is a reinstatement at 80 %."""
        return contracts.renew_contract(
            self.work, contract_id, at=at, licenses=licenses, list_price=list_price
        )

    def reinstate_contract(
        self,
        contract_id: UUID,
        *,
        at: datetime,
        licenses: int | None = None,
        list_price: Decimal | None = None,
    ) -> dict[str, Any]:
        """Take up a lapsed agreement again (80 % of list price)."""
        return contracts.reinstate_contract(
            self.work, contract_id, at=at, licenses=licenses, list_price=list_price
        )

    def lapse_contract(
        self, contract_id: UUID, *, at: datetime, late: bool | None = None
    ) -> dict[str, Any]:
        """Record that the latest term ended without renewal."""
        return contracts.lapse_contract(self.work, contract_id, at=at, late=late)

    def terminate_contract(self, contract_id: UUID, *, reason: str, at: datetime) -> None:
        """End an agreement now; what remains of its lots expires with it."""
        contracts.terminate_contract(self.work, contract_id, reason=reason, at=at)

    def change_tier(self, contract_id: UUID, *, tier: str, at: datetime) -> str:
        """Upgrade now (pro rata) or schedule a downgrade for renewal; returns what happened."""
        return contracts.change_tier(
            self.work, self.unanswered_tickets, contract_id, tier=tier, at=at
        )

    def add_contact(self, contract_id: UUID, *, email: str, at: datetime) -> list[str]:
        """Name a contact; returns the named contacts."""
        return contracts.add_contact(self.work, contract_id, email=email, at=at)

    def remove_contact(self, contract_id: UUID, *, email: str, at: datetime) -> list[str]:
        """Remove a named contact; returns the named contacts."""
        return contracts.remove_contact(self.work, contract_id, email=email, at=at)

    def assign_representative(self, contract_id: UUID, *, name: str, at: datetime) -> None:
        """Assign the technical account representative (Premium)."""
        contracts.assign_representative(self.work, contract_id, name=name, at=at)

    def unassign_representative(self, contract_id: UUID, *, at: datetime) -> None:
        """Unassign the technical account representative."""
        contracts.unassign_representative(self.work, contract_id, at=at)

    def book_appointment(
        self, contract_id: UUID, *, starts_at: datetime, ends_at: datetime, at: datetime
    ) -> list[UUID]:
        """Book an appointment window; open clocks are recomputed in the same save.

        Returns the tickets whose deadlines moved.
        """
        return contracts.book_appointment(
            self.work, self.unanswered_tickets, contract_id,
            starts_at=starts_at, ends_at=ends_at, at=at,
        )  # fmt: skip

    def cancel_appointment(
        self, contract_id: UUID, *, starts_at: datetime, ends_at: datetime, at: datetime
    ) -> list[UUID]:
        """Cancel an appointment window; open clocks are recomputed in the same save."""
        return contracts.cancel_appointment(
            self.work, self.unanswered_tickets, contract_id,
            starts_at=starts_at, ends_at=ends_at, at=at,
        )  # fmt: skip

    def get_contract(
        self, contract_id: UUID, *, version: int | None = None, as_of: datetime | None = None
    ) -> Contract:
        """A contract now, at a version, or as it was recorded at an instant."""
        return queries.get_contract(self, contract_id, version=version, as_of=as_of)

    # -- tickets -------------------------------------------------------------------------------

    def open_ticket(
        self,
        *,
        contract_id: UUID | str | None,
        reporter: str,
        version: str,
        platform: str,
        at: datetime,
        severity: int | str | None = None,
        license_kind: str | None = None,
        key: str | None = None,
    ) -> TicketOpening:
        """Receive a support request: open it with its deadline, or decline and record why.

        The contract is named by id or customer's name; without one, it is the agreement that
        names the reporter (none: declined `no_valid_agreement` and recorded; several: refused
        `ambiguous_contract`, listing them)."""
        if contract_id is None:
            found = self.contracts_naming(reporter)
            if not found:
                return tickets.decline_unmatched(
                    self.work, reporter=reporter, version=version, platform=platform, at=at,
                    severity=severity, license_kind=license_kind, key=key,
                )  # fmt: skip
            contract_id = directory.only_agreement(found, reporter)
        return tickets.open_ticket(
            self.work, contract_id=self.contract_id(contract_id), reporter=reporter,
            version=version, platform=platform, at=at, severity=severity,
            license_kind=license_kind, key=key,
        )  # fmt: skip

    def record_first_response(self, reference: str | UUID, *, at: datetime) -> str:
        """Stop the response clock; returns `met` or `breached`."""
        return tickets.record_first_response(self.work, reference, at=at)

    def hold_ticket(self, reference: str | UUID, *, at: datetime) -> None:
        """Put a ticket on hold at the customer's request (the clock pauses)."""
        tickets.hold_ticket(self.work, reference, at=at)

    def resume_ticket(self, reference: str | UUID, *, at: datetime) -> None:
        """End a hold (the clock runs again)."""
        tickets.resume_ticket(self.work, reference, at=at)

    def change_severity(self, reference: str | UUID, *, severity: int | str, at: datetime) -> None:
        """Change a ticket's severity: same start, new target, new deadline."""
        tickets.change_severity(self.work, reference, severity=severity, at=at)

    def request_remote_assistance(self, reference: str | UUID, *, at: datetime) -> None:
        """Ask for remote assistance (Premium and Advanced)."""
        tickets.request_remote_assistance(self.work, reference, at=at)

    def request_priority_troubleshooting(self, reference: str | UUID, *, at: datetime) -> None:
        """Ask for priority troubleshooting (Premium and Advanced)."""
        tickets.request_priority_troubleshooting(self.work, reference, at=at)

    def request_patch(self, reference: str | UUID, *, at: datetime) -> None:
        """Ask for a patch (severity 1 or 2 on a supported line)."""
        tickets.request_patch(self.work, reference, at=at)

    def resolve_ticket(self, reference: str | UUID, *, at: datetime) -> str | None:
        """Resolve a ticket (a resolution without response is the first response)."""
        return tickets.resolve_ticket(self.work, reference, at=at)

    def reopen_ticket(self, reference: str | UUID, *, at: datetime) -> None:
        """Reopen a resolved ticket."""
        tickets.reopen_ticket(self.work, reference, at=at)

    def close_ticket(self, reference: str | UUID, *, at: datetime) -> None:
        """Close a resolved ticket."""
        tickets.close_ticket(self.work, reference, at=at)

    def waive_breach(self, reference: str | UUID, *, reason: str, actor: str, at: datetime) -> None:
        """Waive a breach, with reason and actor (the breach stays on record)."""
        tickets.waive_breach(self.work, reference, reason=reason, actor=actor, at=at)

    def get_ticket(
        self, reference: str | UUID, *, version: int | None = None, as_of: datetime | None = None
    ) -> Ticket:
        """A ticket (by id or external key) now, at a version, or as recorded at an instant."""
        return queries.get_ticket(self, reference, version=version, as_of=as_of)

    # -- credits -------------------------------------------------------------------------------

    def purchase_credits(
        self,
        contract_id: UUID,
        *,
        points: Decimal,
        price: Decimal,
        key: str,
        at: datetime,
        expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Buy a package of points; idempotent by key."""
        return accounts.purchase_credits(
            self.work, contract_id, points=points, price=price, key=key, at=at,
            expires_at=expires_at,
        )  # fmt: skip

    def consume_credits(
        self,
        contract_id: UUID,
        *,
        points: Decimal,
        activity: str,
        key: str,
        at: datetime,
        ticket: str | UUID | None = None,
    ) -> dict[str, Any]:
        """Use points for a support activity; idempotent by key, never below zero."""
        return accounts.consume_credits(
            self.work, contract_id, points=points, activity=activity, key=key, at=at,
            ticket=ticket,
        )  # fmt: skip

    def reverse_consumption(
        self,
        contract_id: UUID,
        *,
        key: str,
        reason: str,
        at: datetime,
        points: Decimal | None = None,
    ) -> dict[str, Any]:
        """Return points of a consumption to the lots they came from."""
        return accounts.reverse_consumption(
            self.work, contract_id, key=key, reason=reason, at=at, points=points
        )

    def set_alert_threshold(
        self, contract_id: UUID, *, points: Decimal, actor: str, at: datetime
    ) -> dict[str, Any]:
        """Set the points below which `balance_low` is recorded, once per crossing."""
        return accounts.set_alert_threshold(
            self.work, contract_id, points=points, actor=actor, at=at
        )

    def get_consumption(self, contract_id: UUID, key: str) -> CreditConsumption:
        """A consumption by its idempotency key."""
        return queries.get_consumption(self, contract_id, key)

    def hold_training(
        self, contract_id: UUID, *, at: datetime, key: str | None = None, topic: str = ""
    ) -> dict[str, Any]:
        """Hold one 30-minute online training session."""
        return accounts.hold_training(self.work, contract_id, at=at, key=key, topic=topic)

    def get_account(
        self, contract_id: UUID, *, version: int | None = None, as_of: datetime | None = None
    ) -> CreditAccount:
        """A contract's credit account now, at a version, or as recorded at an instant."""
        return queries.get_account(self, contract_id, version=version, as_of=as_of)

    # -- history -------------------------------------------------------------------------------

    def aggregate_id(self, reference: str | UUID, *, account: bool = False) -> UUID:
        """An aggregate's id from its id, or a contract's from its customer's name; with
        `account`, the credit account of the contract so named."""
        return directory.aggregate_id(self, self._directory, reference, account=account)

    def list_events(self, aggregate_id: UUID) -> list[Any]:
        """Every event of one aggregate, oldest first."""
        return queries.list_events(self, aggregate_id)
