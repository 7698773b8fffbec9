"""SupportLedger: the use cases and queries of the ledger, nothing else.

Each use case loads the aggregates it needs, calls their commands, and saves every touched
aggregate in one `save()`: one transaction, all events or none. A stale write (another writer
got there first) raises IntegrityError; the use case is then re-run from a fresh load, a bounded
number of times. Instants come in as `at=`; the application never reads a clock.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic

from ledger.calendars import contract_calendar, holiday_source
from ledger.domain.base import clean_text, email_address, instant
from ledger.domain.contract import Contract
from ledger.domain.credit_account import (
    POINTS,
    SESSIONS,
    CreditAccount,
    CreditConsumption,
    idempotency_key,
)
from ledger.domain.eligibility import check_eligibility
from ledger.domain.errors import (
    ConcurrentModificationError,
    IdempotencyConflictError,
    InvalidInputError,
    LedgerError,
    UnknownAggregateError,
    UnknownConsumptionError,
    UnknownContractError,
    UnknownTicketError,
)
from ledger.domain.releases import ReleaseCatalog, parse_version
from ledger.domain.terms import Tier, parse_severity
from ledger.domain.ticket import Ticket
from ledger.logs import get_logger
from ledger.projections.db import ViewPool
from ledger.projections.deadlines import DeadlinesView
from ledger.store import (
    SNAPSHOTS_WITH_EVENTS,
    LedgerTranscoder,
    NothingAfter,
    ReferenceCopies,
    SavedAggregates,
    Snapshots,
    schema_lock,
    tune_factory,
)
from ledger.terms import DEFAULT_VERSION, load_terms

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date

    from eventsourcing.persistence import InfrastructureFactory, Transcoder
    from eventsourcing.utils import Environment

    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.terms import Terms
    from ledger.settings import DatabaseSettings

T = TypeVar("T")
A = TypeVar("A", bound="Aggregate")
log = get_logger("ledger.application")

TICKET_OPENED = get_topic(Ticket.Opened)
TICKET_RESPONDED = get_topic(Ticket.FirstResponseRecorded)
UNANSWERED_BATCH = 1000  # notifications read at a time when looking for a contract's tickets
VIEW_CONNECTIONS = 2  # idle connections to the read models kept open

# A late scheduler fact is one recorded more than this after it fell due.
LATE_AFTER_SECONDS = 60


@dataclass(frozen=True)
class DueFact:
    """A fact the scheduler records when its instant comes (see ledger.projections.deadlines)."""

    kind: str  # warning | breach | lapse | term_grant | lot_expiry
    aggregate_id: UUID
    detail: str
    contract_id: UUID
    due_at: datetime


@dataclass(frozen=True)
class FactOutcome:
    """What became of a due fact: recorded now, or why not (already recorded, moved, ...)."""

    fact: DueFact
    recorded: bool
    late: bool
    reason: str | None = None


@dataclass(frozen=True)
class TicketOpening:
    """The answer to a support request: opened (with its deadline) or declined (with why)."""

    ticket_id: UUID
    status: str
    reason: str | None = None
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    due_at: datetime | None = None
    recorded: bool = True

    @property
    def declined(self) -> bool:
        """Whether the request was declined."""
        return self.status == "declined"


def snapshot_due(aggregate_id: UUID, version: int, count: int, interval: int) -> bool:
    """Whether a save of `count` events, up to `version`, crosses a snapshot point.

    The points lie every `interval` versions, shifted per aggregate by its id: aggregates that
    move in step (every account granted its new term on the same morning, every lot of a
    batch expiring together) reach them in different saves, so no one save writes hundreds
    of snapshots (the scheduler benchmark stalled for 2 s every 45 s on that).
    """
    shift = aggregate_id.int % interval
    return (version + shift) // interval > (version - count + shift) // interval


# Classes known to be `Aggregate`s (an isinstance check through the ABC costs more).
_AGGREGATE_CLASSES: set[type] = set()


class SupportLedger(Application[UUID]):
    """The ledger of support contracts, tickets, credit accounts and releases."""

    name = "ledger"
    # Aggregates stay cached between commands; every read still fast-forwards the cached copy
    # with the events recorded since (one query), so another process's writes are always seen.
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000"}  # noqa: RUF012 - read by the library as is
    snapshotting_intervals = {  # noqa: RUF012 - the library reads this class attribute as is
        Contract: 50,
        CreditAccount: 50,
        ReleaseCatalog: 50,
    }
    max_attempts = 10

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        settings: DatabaseSettings | None = None,
    ) -> None:
        merged = dict(settings.eventsourcing_env()) if settings is not None else {}
        merged.update(env or {})
        with schema_lock(settings):
            super().__init__(env=merged)
        self._saved = SavedAggregates()
        self._references = ReferenceCopies()
        self._local = threading.local()
        # Connections to the read models (the deadlines view, see `open_clocks`).
        self._views = (
            ViewPool(settings, keep=VIEW_CONNECTIONS)
            if settings is not None and settings.backend in ("sqlite", "postgresql")
            else None
        )

    def close(self) -> None:
        """Close the store's connections and the read models' connections."""
        if self._views is not None:
            self._views.close()
        super().close()

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        """The library's factory for the configured store, with ledger's store settings."""
        factory = super().construct_factory(env)
        if getattr(getattr(factory, "datastore", None), "enable_db_functions", False):
            # The library's database-function insert skips ledger's recorder, and with it
            # the read-version check every decision on a copy relies on.
            factory.close()
            msg = "POSTGRES_ENABLE_DB_FUNCTIONS must be off: it skips the read-version check"
            raise ValueError(msg)
        return tune_factory(factory)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoding (same bytes), encoding faster (see ledger.store)."""
        transcoder = LedgerTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    # -- plumbing ------------------------------------------------------------------------------
    #
    # Loads come in three kinds.
    # - write: an aggregate the use case will save may start from this process's copy of it
    #   as last saved, without a read; a stale copy makes the save fail on the version, and
    #   the use case is run again from fresh reads.
    # - checked: an aggregate a saving use case decides on without writing it (the release
    #   catalog, a contract's calendar) comes from an immutable copy; its version is checked
    #   by the store when the use case's events are committed (see ledger.store), so a stale
    #   copy fails the commit the same way.
    # - read: queries read the store (the library's cache, fast-forwarded with one query).
    # A refusal that rests on a copy is checked again on fresh reads before it is reported,
    # since nothing committed would reveal that the copy was stale.

    def _retrying(self, use_case: str, attempt: Callable[[], T]) -> T:
        """Run `attempt` again from a fresh load while another writer keeps getting there first."""
        fresh = False
        for number in range(1, self.max_attempts + 1):
            self._local.fresh = fresh
            self._local.copies = set()
            self._local.expected = {}
            self._local.nothing_after = None
            try:
                return attempt()
            except IntegrityError:
                if number == self.max_attempts:
                    break
                log.debug("write_conflict_retried", use_case=use_case, attempt=number)
                time.sleep(random.uniform(0, 0.002 * 2**number))  # noqa: S311 - jitter, not crypto
            except LedgerError:
                copies = self._local.copies
                if fresh or not copies:
                    raise
                self._saved.forget(copies)
                self._references.forget(copies)
                fresh = True
        raise ConcurrentModificationError(
            f"{use_case}: other writers kept changing the same records; gave up after "
            f"{self.max_attempts} attempts, nothing was recorded"
        )

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save in one transaction, checking the versions the use case decided on.

        The saved aggregates are remembered for the next use case; on a conflict they, and
        the checked copies, are forgotten.
        """
        saving = [o.id for o in objs if o is not None and hasattr(o, "id")]
        expected: dict[UUID, int] = {}
        if decided := getattr(self._local, "expected", None):
            expected = {k: v for k, v in decided.items() if k not in saving}
            if expected:
                kwargs["expected_versions"] = sorted(expected.items())
        if (read_up_to := getattr(self._local, "nothing_after", None)) is not None:
            kwargs["nothing_after"] = read_up_to
        try:
            recordings = self._save_all(objs, kwargs)
        except IntegrityError:
            self._saved.forget(saving)
            self._references.forget(expected)
            raise
        self._saved.put_all([o for o in objs if o is not None and hasattr(o, "collect_events")])
        # A copy this process decides on must not outlive its own write (it would fail the
        # next commit that checks it, and cost that command a rerun).
        self._references.forget(saving)
        return recordings

    def _save_all(self, objs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        """The library's `save()`, collecting the pending events of our aggregates directly.

        The library asks of every object whether it is an event or an aggregate through
        runtime-checkable protocols, which costs Python 3.11 about 13 µs per aggregate and
        save; an `Aggregate` is known to be one. Anything else takes the library's path.
        """
        for obj in objs:
            if type(obj) not in _AGGREGATE_CLASSES:
                if not isinstance(obj, Aggregate):
                    return super().save(*objs, **kwargs)
                _AGGREGATE_CLASSES.add(type(obj))
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            processing_event.events.extend(obj.collect_events())
            processing_event.aggregates[obj.id] = obj
        processing_event.saved_kwargs.update(kwargs)
        snapshots = self._snapshots_due(processing_event)
        if (
            snapshots
            and self.snapshots is not None
            and isinstance(self.recorder, SNAPSHOTS_WITH_EVENTS)
        ):
            # Written by the recorder in the events' transaction (SQLite; see ledger.store).
            stored = [self.snapshots.mapper.to_stored_event(s) for s in snapshots]
            processing_event.saved_kwargs["snapshots"] = Snapshots(self.snapshots.recorder, stored)
            snapshots = []
        recordings = self._record(processing_event)
        if snapshots and self.snapshots is not None:
            self.snapshots.put(snapshots)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated by the library, still called by it
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot the aggregates just saved (the library's path, for other objects)."""
        snapshots = self._snapshots_due(processing_event)
        if snapshots and self.snapshots is not None:
            self.snapshots.put(snapshots)

    def _snapshots_due(self, processing_event: ProcessingEvent[UUID]) -> list[Any]:
        """Snapshots of the aggregates being saved, from the objects in hand.

        A snapshot is taken at the saved version whenever a save crosses one of the aggregate's
        snapshot points (see `snapshot_due`). The library re-reads each aggregate from the store
        to snapshot it; the object being saved is exactly that state already, so reading it
        again would only cost the command a round trip.
        """
        if self.snapshots is None:
            return []
        counts: dict[UUID, int] = {}
        for event in processing_event.events:
            counts[event.originator_id] = counts.get(event.originator_id, 0) + 1
        snapshots = []
        for aggregate_id, count in counts.items():
            aggregate: Any = processing_event.aggregates.get(aggregate_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate else None
            if interval and snapshot_due(aggregate_id, aggregate.version, count, interval):
                snapshots.append(type(aggregate).Snapshot.take(aggregate))
        return snapshots

    def _get(
        self,
        aggregate_id: UUID,
        kind: type[A],
        error: type[Exception],
        what: str,
        *,
        write: bool = False,
        checked: bool = False,
    ) -> A:
        found = self._find(aggregate_id, write=write, checked=checked)
        if found is None:
            raise error(f"no {what} {aggregate_id}")
        if not isinstance(found, kind):
            raise error(f"{aggregate_id} is not a {what}")
        return found

    def _find(
        self, aggregate_id: UUID, *, write: bool = False, checked: bool = False
    ) -> Any | None:
        if checked:
            return self._checked(aggregate_id)
        if write and not getattr(self._local, "fresh", False):
            saved = self._saved.take(aggregate_id)
            if saved is not None:
                copies = getattr(self._local, "copies", None)
                if copies is not None:
                    copies.add(aggregate_id)
                return saved
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _checked(self, aggregate_id: UUID) -> Any | None:
        """An immutable copy whose version the commit will check (None: not recorded yet)."""
        found = None if getattr(self._local, "fresh", False) else self._references.get(aggregate_id)
        if found is None:
            try:
                found = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                found = None
            else:
                self._references.put(found)
        expected = getattr(self._local, "expected", None)
        if expected is not None:
            expected[aggregate_id] = found.version if found is not None else 0
            self._local.copies.add(aggregate_id)
        return found

    def _contract(
        self, contract_id: UUID, *, write: bool = False, checked: bool = False
    ) -> Contract:
        return self._get(
            contract_id, Contract, UnknownContractError, "contract", write=write, checked=checked
        )

    def _account(self, contract_id: UUID, *, write: bool = False) -> CreditAccount:
        return self._get(
            CreditAccount.create_id(contract_id),
            CreditAccount,
            UnknownContractError,
            "credit account of contract",
            write=write,
        )

    def ticket_id(self, reference: str | UUID) -> UUID:
        """A ticket id from its id or its external key."""
        if isinstance(reference, UUID):
            return reference
        text = str(reference).strip()
        try:
            return UUID(text)
        except ValueError:
            return Ticket.create_id(text)

    def _ticket(
        self, reference: str | UUID, *, write: bool = False, checked: bool = False
    ) -> Ticket:
        ticket_id = self.ticket_id(reference)
        return self._get(
            ticket_id, Ticket, UnknownTicketError, "ticket", write=write, checked=checked
        )

    def _catalog(self, *, write: bool = False, checked: bool = False) -> ReleaseCatalog | None:
        found = self._find(ReleaseCatalog.ID, write=write, checked=checked)
        return found if isinstance(found, ReleaseCatalog) else None

    @staticmethod
    def terms_of(contract: Contract, at: datetime | None = None) -> Terms:
        """The terms the contract's term (at `at`, or its latest) was signed under."""
        term = (contract.term_at(at) if at is not None else None) or contract.latest_term
        return load_terms(term.terms_version)

    def calendar_of(
        self, contract: Contract, *, with_appointments: bool = True
    ) -> BusinessCalendar:
        """The contract's calendar: its tier's coverage, zone, holidays and appointments."""
        terms = self.terms_of(contract)
        return contract_calendar(
            terms.tier(contract.tier),
            timezone=contract.timezone,
            holiday_region=contract.holiday_region or None,
            appointments=contract.appointment_windows() if with_appointments else (),
        )

    def _recalculate_open_clocks(
        self, contract: Contract, reason: str, at: datetime
    ) -> list[Ticket]:
        """Recompute the open clocks of a contract whose calendar changed; return the moved ones.

        The clocks are the tickets opened under the contract up to a position of the log with
        no first response (see `open_clocks`); the save then requires that no ticket was
        opened after that position, so none is left on the old calendar (a ticket opened
        later read the contract's calendar and fails its own commit when this one commits
        first). A clock that does not move is not written, so its version is checked at
        commit instead: the decision that it does not move holds only for the ticket as it
        stands then (another process may have changed its target or paused it meanwhile).
        """
        calendar = self.calendar_of(contract)
        expected = self._local.expected
        tickets, position = self._unanswered_tickets(contract.id)
        self._local.nothing_after = NothingAfter(
            position, (TICKET_OPENED,), partial(self._opened_under, contract.id)
        )
        moved = []
        for ticket_id in sorted(tickets):
            ticket = self._find(ticket_id, write=True)
            if not isinstance(ticket, Ticket):
                continue
            terms = load_terms(ticket.terms_version)
            if ticket.recalculate(
                reason=reason,
                at=at,
                calendar=calendar,
                calendar_revision=contract.calendar_revision,
                thresholds=terms.warning_thresholds,
            ):
                moved.append(ticket)
            else:
                expected[ticket.id] = ticket.version
        return moved

    def open_clocks(self, contract_id: UUID) -> list[UUID]:
        """The tickets opened under a contract whose response clock has not stopped (no first
        response recorded), as the log stands now."""
        self._contract(contract_id)
        return sorted(self._unanswered_tickets(contract_id)[0])

    def _unanswered_tickets(self, contract_id: UUID) -> tuple[set[UUID], int]:
        """The tickets opened under a contract with no first response, up to a position of
        the log (returned with them).

        A contract does not keep a list of its tickets: opening a ticket writes the ticket
        alone, so tickets opened at once under one contract never conflict. They are found
        in the deadlines view (which the scheduler keeps current), then in the log after the
        view's position: all of the log when the view has never run.
        """
        position, found = 0, set()
        if self._views is not None:
            with self._views.lease() as db:
                position, in_view = DeadlinesView(db).unanswered_tickets(contract_id)
            found = {UUID(ticket_id) for ticket_id in in_view}
        while batch := self.recorder.select_notifications(
            position + 1, UNANSWERED_BATCH, topics=(TICKET_OPENED, TICKET_RESPONDED)
        ):
            for notification in batch:
                ticket_id = cast("UUID", notification.originator_id)
                if notification.topic != TICKET_OPENED:
                    found.discard(ticket_id)
                elif self._opened_under(contract_id, notification):
                    found.add(ticket_id)
            position = batch[-1].id
        return found, position

    def _opened_under(self, contract_id: UUID, stored: StoredEvent) -> bool:
        """Whether a stored `Ticket.Opened` is of a ticket under the contract."""
        return bool(cast("Any", self.mapper.to_domain_event(stored)).contract_id == contract_id)

    @staticmethod
    def _schedule_terms(contract: Contract, account: CreditAccount, at: datetime) -> None:
        """Tell the account every term of the contract not granted yet, with what it grants.

        A term already noted is noted again only if what it grants changed (its tier went up).
        """
        for term in contract.terms:
            known = account.terms.get(term.number)
            if known is not None and known.granted:
                continue
            tier_terms = load_terms(term.terms_version).tier(term.tier)
            account.schedule_term(
                term_number=term.number,
                starts_at=term.starts_at,
                ends_at=term.ends_at,
                points=tier_terms.support_credits_per_license * term.licenses,
                sessions=tier_terms.training_sessions_per_license * term.licenses,
                at=at,
            )

    # -- releases ------------------------------------------------------------------------------

    def publish_release(self, version: str, *, prerelease: bool, at: datetime) -> dict[str, Any]:
        """Publish a product release."""

        text = parse_version(version, require_patch=True).text

        def attempt() -> dict[str, Any]:
            catalog = self._catalog(write=True) or ReleaseCatalog.start()
            catalog.publish(text, prerelease=prerelease, at=at)
            self.save(catalog)
            return {"version": text, **catalog.releases[text]}

        result = self._retrying("publish_release", attempt)
        log.info("release_published", version=result["version"], prerelease=result["prerelease"])
        return result

    def withdraw_release(self, version: str, *, reason: str, at: datetime) -> dict[str, Any]:
        """Withdraw a published release."""

        def attempt() -> dict[str, Any]:
            catalog = self._catalog(write=True) or ReleaseCatalog.start()
            catalog.withdraw(version, reason=reason, at=at)
            self.save(catalog)
            text = parse_version(version).text
            return {"version": text, **catalog.releases[text]}

        result = self._retrying("withdraw_release", attempt)
        log.info("release_withdrawn", version=result["version"])
        return result

    def get_catalog(self) -> ReleaseCatalog | None:
        """The release catalog (None before the first release)."""
        return self._catalog()

    # -- contracts -----------------------------------------------------------------------------

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
    ) -> UUID:
        """Sign an agreement: assess the fee and grant the first term's credits in one save."""
        terms = load_terms(terms_version or DEFAULT_VERSION)
        region = terms.default_holiday_region if holiday_region is None else holiday_region
        holiday_source(region)  # refuse an unknown region before anything is recorded
        contract_id = Contract.create_id(key) if key else uuid4()

        def attempt() -> UUID:
            existing = self._find(contract_id) if key else None
            if existing is not None:
                same = (
                    isinstance(existing, Contract)
                    and existing.customer == customer.strip()
                    and existing.terms[0].tier == Tier.parse(tier).value
                    and existing.terms[0].licenses == licenses
                    and existing.terms[0].list_price == list_price
                )
                if same:
                    return contract_id
                raise IdempotencyConflictError(f"key {key!r} was used to sign a different contract")
            contract = Contract.sign(
                terms=terms,
                customer=customer,
                tier=tier,
                licenses=licenses,
                license_kind=license_kind,
                list_price=list_price,
                start=start,
                timezone=timezone,
                holiday_region=region,
                at=at,
                contract_id=contract_id,
            )
            account = CreditAccount.open(contract_id=contract.id, customer=contract.customer, at=at)
            self._schedule_terms(contract, account, at)
            account.grant_term(term_number=1, at=at)  # signing grants the first term at once
            self.save(contract, account)
            return contract.id

        result = self._retrying("sign_contract", attempt)
        log.info("contract_signed", contract_id=str(result), tier=Tier.parse(tier).value)
        return result

    def renew_contract(
        self,
        contract_id: UUID,
        *,
        at: datetime,
        licenses: int | None = None,
        list_price: Decimal | None = None,
    ) -> dict[str, Any]:
        """Order the next term; on a lapsed agreement this is a reinstatement at 80 %."""

        def attempt() -> dict[str, Any]:
            contract = self._contract(contract_id, write=True)
            if contract.status == "lapsed" or contract.ended_without_renewal(instant(at)):
                return self._reinstate(contract, at=at, licenses=licenses, list_price=list_price)
            contract.renew(
                terms=load_terms(DEFAULT_VERSION), at=at, licenses=licenses, list_price=list_price
            )
            account = self._account(contract_id, write=True)
            self._schedule_terms(contract, account, instant(at))
            account.grant_due(at=at)
            self.save(contract, account)
            return contract.latest_term.as_dict()

        term = self._retrying("renew_contract", attempt)
        log.info(
            "contract_renewed", contract_id=str(contract_id), term=term["number"], kind=term["kind"]
        )
        return term

    def reinstate_contract(
        self,
        contract_id: UUID,
        *,
        at: datetime,
        licenses: int | None = None,
        list_price: Decimal | None = None,
    ) -> dict[str, Any]:
        """Take up a lapsed agreement again (80 % of list price)."""

        def attempt() -> dict[str, Any]:
            return self._reinstate(
                self._contract(contract_id, write=True),
                at=at,
                licenses=licenses,
                list_price=list_price,
            )

        term = self._retrying("reinstate_contract", attempt)
        log.info("contract_reinstated", contract_id=str(contract_id), term=term["number"])
        return term

    def _reinstate(
        self, contract: Contract, *, at: datetime, licenses: int | None, list_price: Decimal | None
    ) -> dict[str, Any]:
        when = instant(at)
        if contract.ended_without_renewal(when):
            contract.lapse(at=when, late=self._late(contract.latest_term.ends_at, when))
        contract.reinstate(
            terms=load_terms(DEFAULT_VERSION), at=when, licenses=licenses, list_price=list_price
        )
        account = self._account(contract.id, write=True)
        self._schedule_terms(contract, account, when)
        account.grant_due(at=when)
        self.save(contract, account)
        return contract.latest_term.as_dict()

    @staticmethod
    def _late(due: datetime, at: datetime) -> bool:
        return (at - due).total_seconds() > LATE_AFTER_SECONDS

    def lapse_contract(
        self, contract_id: UUID, *, at: datetime, late: bool | None = None
    ) -> dict[str, Any]:
        """Record that the latest term ended without renewal."""

        def attempt() -> dict[str, Any]:
            contract = self._contract(contract_id, write=True)
            when = instant(at)
            is_late = self._late(contract.latest_term.ends_at, when) if late is None else late
            contract.lapse(at=when, late=is_late)
            self.save(contract)
            return contract.lapses[-1].as_dict()

        lapse = self._retrying("lapse_contract", attempt)
        log.info(
            "contract_lapsed",
            contract_id=str(contract_id),
            term=lapse["term_number"],
            late=lapse["late"],
        )
        return lapse

    def terminate_contract(self, contract_id: UUID, *, reason: str, at: datetime) -> None:
        """End an agreement now; what remains of its lots expires with it."""

        def attempt() -> None:
            contract = self._contract(contract_id, write=True)
            contract.terminate(reason=reason, at=at)
            account = self._account(contract_id, write=True)
            account.end_agreement(reason=reason, at=at)
            # What remains of every lot expires at the termination: recorded with it.
            when = instant(at)
            for lot_id, due in list(account.due_expiries(when)):
                account.expire_lot(lot_id=lot_id, at=when, late=due < when)
            self.save(contract, account)

        self._retrying("terminate_contract", attempt)
        log.info("contract_terminated", contract_id=str(contract_id))

    def change_tier(self, contract_id: UUID, *, tier: str, at: datetime) -> str:
        """Upgrade now (pro rata) or schedule a downgrade for renewal; returns what happened."""

        def attempt() -> str:
            contract = self._contract(contract_id, write=True)
            revision = contract.calendar_revision
            terms = self.terms_of(contract, instant(at))
            outcome = contract.change_tier(terms=terms, to_tier=tier, at=at)
            touched: list[Any] = [contract]
            if outcome == "upgraded":
                account = self._account(contract_id, write=True)
                account.grant_due(at=at)
                self._schedule_terms(contract, account, instant(at))  # terms not begun: new tier
                for adjustment in contract.upgrades[-1].adjustments:
                    if adjustment.points > 0 or adjustment.sessions > 0:
                        account.grant_upgrade(
                            term_number=adjustment.term_number,
                            points=adjustment.points,
                            sessions=adjustment.sessions,
                            expires_at=adjustment.expires_at,
                            at=at,
                        )
                touched.append(account)
            if contract.calendar_revision != revision:
                touched.extend(
                    self._recalculate_open_clocks(contract, f"tier changed to {tier}", instant(at))
                )
            self.save(*touched)
            return outcome

        outcome = self._retrying("change_tier", attempt)
        log.info("contract_tier_changed", contract_id=str(contract_id), tier=tier, outcome=outcome)
        return outcome

    def add_contact(self, contract_id: UUID, *, email: str, at: datetime) -> list[str]:
        """Name a contact; returns the named contacts."""

        def attempt() -> list[str]:
            contract = self._contract(contract_id, write=True)
            contract.add_contact(email=email, terms=self.terms_of(contract, instant(at)), at=at)
            self.save(contract)
            return contract.contacts_at(instant(at))

        return self._retrying("add_contact", attempt)

    def remove_contact(self, contract_id: UUID, *, email: str, at: datetime) -> list[str]:
        """Remove a named contact; returns the named contacts."""

        def attempt() -> list[str]:
            contract = self._contract(contract_id, write=True)
            contract.remove_contact(email=email, at=at)
            self.save(contract)
            return contract.contacts_at(instant(at))

        return self._retrying("remove_contact", attempt)

    def assign_representative(self, contract_id: UUID, *, name: str, at: datetime) -> None:
        """Assign the technical account representative (Premium)."""

        def attempt() -> None:
            contract = self._contract(contract_id, write=True)
            contract.assign_representative(
                name=name, terms=self.terms_of(contract, instant(at)), at=at
            )
            self.save(contract)

        self._retrying("assign_representative", attempt)

    def unassign_representative(self, contract_id: UUID, *, at: datetime) -> None:
        """Unassign the technical account representative."""

        def attempt() -> None:
            contract = self._contract(contract_id, write=True)
            contract.unassign_representative(at=at)
            self.save(contract)

        self._retrying("unassign_representative", attempt)

    def book_appointment(
        self, contract_id: UUID, *, starts_at: datetime, ends_at: datetime, at: datetime
    ) -> list[UUID]:
        """Book an appointment window; open clocks are recomputed in the same save.

        Returns the tickets whose deadlines moved.
        """

        def attempt() -> list[UUID]:
            contract = self._contract(contract_id, write=True)
            contract.book_appointment(
                starts_at=starts_at,
                ends_at=ends_at,
                terms=self.terms_of(contract, instant(at)),
                regular=self.calendar_of(contract, with_appointments=False),
                at=at,
            )
            reason = f"appointment booked {_window(starts_at, ends_at)}"
            moved = self._recalculate_open_clocks(contract, reason, instant(at))
            self.save(contract, *moved)
            return [t.id for t in moved]

        moved = self._retrying("book_appointment", attempt)
        log.info("appointment_booked", contract_id=str(contract_id), recalculated=len(moved))
        return moved

    def cancel_appointment(
        self, contract_id: UUID, *, starts_at: datetime, ends_at: datetime, at: datetime
    ) -> list[UUID]:
        """Cancel an appointment window; open clocks are recomputed in the same save."""

        def attempt() -> list[UUID]:
            contract = self._contract(contract_id, write=True)
            contract.cancel_appointment(starts_at=starts_at, ends_at=ends_at, at=at)
            reason = f"appointment cancelled {_window(starts_at, ends_at)}"
            moved = self._recalculate_open_clocks(contract, reason, instant(at))
            self.save(contract, *moved)
            return [t.id for t in moved]

        moved = self._retrying("cancel_appointment", attempt)
        log.info("appointment_cancelled", contract_id=str(contract_id), recalculated=len(moved))
        return moved

    def get_contract(
        self, contract_id: UUID, *, version: int | None = None, as_of: datetime | None = None
    ) -> Contract:
        """A contract now, at a version, or as it was recorded at an instant."""
        return self._historic(
            contract_id, Contract, UnknownContractError, "contract", version=version, as_of=as_of
        )

    # -- tickets -------------------------------------------------------------------------------

    def open_ticket(
        self,
        *,
        contract_id: UUID,
        reporter: str,
        version: str,
        platform: str,
        at: datetime,
        severity: int | str | None = None,
        license_kind: str | None = None,
        key: str | None = None,
    ) -> TicketOpening:
        """Receive a support request: open it with its deadline, or decline and record why.

        The external key makes ingestion idempotent: the same key with the same request returns
        the first answer and records nothing; with a different request it is an error.
        """
        received_at = instant(at, "received_at")
        address = email_address(reporter, "reporter")
        product = parse_version(version)
        platform_name = str(platform).strip().lower()
        if not platform_name:
            raise InvalidInputError("platform: name the platform, e.g. windows or linux")
        external_key = clean_text(key, "key") if key is not None else f"t-{uuid4().hex}"
        if not external_key or len(external_key) > 200:
            raise InvalidInputError("key: between 1 and 200 characters")
        ticket_id = Ticket.create_id(external_key)

        tries = [0]

        def attempt() -> TicketOpening:
            tries[0] += 1
            contract = self._contract(contract_id, checked=True)
            terms = self.terms_of(contract, received_at)
            level = terms.default_severity if severity is None else parse_severity(severity)
            kind = (license_kind or contract.license_kind).strip().lower()
            # A repeated key is caught by the save (the ticket's id is taken); look it up only
            # when retrying.
            existing = self._find(ticket_id) if tries[0] > 1 else None
            if existing is not None:
                return self._replayed_opening(
                    existing,
                    (contract_id, address, level, product.text, platform_name, kind),
                    external_key,
                )
            decline = check_eligibility(
                contract=contract,
                catalog=self._catalog(checked=True),
                terms=terms,
                reporter=address,
                version=product,
                platform=platform_name,
                license_kind=kind,
                received_at=received_at,
            )
            if decline is not None:
                ticket = Ticket.decline(
                    external_key=external_key,
                    contract_id=contract.id,
                    customer=contract.customer,
                    reporter=address,
                    severity=level,
                    product_version=product.text,
                    platform=platform_name,
                    license_kind=kind,
                    received_at=received_at,
                    reason=decline.reason,
                    message=decline.message,
                    details=decline.details,
                )
                self.save(ticket)
                return TicketOpening(
                    ticket.id, "declined", decline.reason, decline.message, decline.details
                )
            ticket = Ticket.open(
                external_key=external_key,
                contract_id=contract.id,
                customer=contract.customer,
                tier_terms=terms.tier(contract.tier_at(received_at)),
                terms_version=terms.version,
                thresholds=terms.warning_thresholds,
                reporter=address,
                severity=level,
                version=product,
                platform=platform_name,
                license_kind=kind,
                received_at=received_at,
                calendar=self.calendar_of(contract),
                calendar_revision=contract.calendar_revision,
            )
            self.save(ticket)
            return TicketOpening(ticket.id, "open", due_at=ticket.due_at)

        opening = self._retrying("open_ticket", attempt)
        if opening.recorded:
            log.info(
                "ticket_opened" if not opening.declined else "ticket_declined",
                ticket_id=str(opening.ticket_id),
                contract_id=str(contract_id),
                reason=opening.reason,
            )
        return opening

    @staticmethod
    def _replayed_opening(existing: Any, request: tuple[Any, ...], key: str) -> TicketOpening:
        if not isinstance(existing, Ticket):
            raise IdempotencyConflictError(f"key {key!r} belongs to something other than a ticket")
        recorded = (
            existing.contract_id,
            existing.reporter,
            existing.opened_severity,
            existing.product_version,
            existing.platform,
            existing.license_kind,
        )
        if recorded != request:
            raise IdempotencyConflictError(
                f"key {key!r} was used for a different request (ticket {existing.id}); "
                "use a new key for a new request"
            )
        if existing.status == "declined":
            return TicketOpening(
                existing.id,
                "declined",
                existing.reason,
                existing.message,
                existing.details,
                recorded=False,
            )
        return TicketOpening(existing.id, existing.status, due_at=existing.due_at, recorded=False)

    def _ticket_command(
        self,
        use_case: str,
        reference: str | UUID,
        command: Callable[[Ticket, Contract], T],
    ) -> T:
        def attempt() -> T:
            ticket = self._ticket(reference, write=True)
            contract = self._contract(ticket.contract_id, checked=True)
            result = command(ticket, contract)
            self.save(ticket)
            return result

        result = self._retrying(use_case, attempt)
        log.info(use_case, ticket_id=str(self.ticket_id(reference)))
        return result

    def _thresholds(self, ticket: Ticket) -> Sequence[Decimal]:
        if ticket.status == "declined":  # the ticket's own command refuses, with its reason
            return ()
        return load_terms(ticket.terms_version).warning_thresholds

    def record_first_response(self, reference: str | UUID, *, at: datetime) -> str:
        """Stop the response clock; returns `met` or `breached`."""

        def command(ticket: Ticket, contract: Contract) -> str:
            return ticket.record_first_response(at=at, calendar=self.calendar_of(contract))

        return self._ticket_command("ticket_responded", reference, command)

    def hold_ticket(self, reference: str | UUID, *, at: datetime) -> None:
        """Put a ticket on hold at the customer's request (the clock pauses)."""

        def command(ticket: Ticket, contract: Contract) -> None:
            ticket.hold(
                at=at, calendar=self.calendar_of(contract), thresholds=self._thresholds(ticket)
            )

        self._ticket_command("ticket_held", reference, command)

    def resume_ticket(self, reference: str | UUID, *, at: datetime) -> None:
        """End a hold (the clock runs again)."""

        def command(ticket: Ticket, contract: Contract) -> None:
            ticket.resume(
                at=at, calendar=self.calendar_of(contract), thresholds=self._thresholds(ticket)
            )

        self._ticket_command("ticket_resumed", reference, command)

    def change_severity(self, reference: str | UUID, *, severity: int | str, at: datetime) -> None:
        """Change a ticket's severity: same start, new target, new deadline."""
        level = parse_severity(severity)

        def command(ticket: Ticket, contract: Contract) -> None:
            ticket.require_opened("change the severity")
            ticket.change_severity(
                severity=level,
                tier_terms=load_terms(ticket.terms_version).tier(ticket.tier),
                at=at,
                calendar=self.calendar_of(contract),
                thresholds=self._thresholds(ticket),
            )

        self._ticket_command("ticket_severity_changed", reference, command)

    def request_remote_assistance(self, reference: str | UUID, *, at: datetime) -> None:
        """Ask for remote assistance (Premium and Advanced)."""

        def command(ticket: Ticket, contract: Contract) -> None:
            terms = self.terms_of(contract, instant(at))
            ticket.request_remote_assistance(
                tier_terms=terms.tier(contract.tier_at(instant(at))), at=at
            )

        self._ticket_command("remote_assistance_requested", reference, command)

    def request_patch(self, reference: str | UUID, *, at: datetime) -> None:
        """Ask for a patch (severity 1 or 2 on a supported line)."""

        def command(ticket: Ticket, contract: Contract) -> None:
            terms = self.terms_of(contract, instant(at))
            catalog = self._catalog(checked=True)
            lines = (
                catalog.supported_lines(instant(at), terms.eligibility.supported_release_lines)
                if catalog
                else []
            )
            ticket.request_patch(
                supported_lines=lines, patch_severities=terms.eligibility.patch_severities, at=at
            )

        self._ticket_command("patch_requested", reference, command)

    def resolve_ticket(self, reference: str | UUID, *, at: datetime) -> str | None:
        """Resolve a ticket (a resolution without response is the first response)."""

        def command(ticket: Ticket, contract: Contract) -> str | None:
            return ticket.resolve(at=at, calendar=self.calendar_of(contract))

        return self._ticket_command("ticket_resolved", reference, command)

    def reopen_ticket(self, reference: str | UUID, *, at: datetime) -> None:
        """Reopen a resolved ticket."""
        self._ticket_command("ticket_reopened", reference, lambda t, _c: t.reopen(at=at))

    def close_ticket(self, reference: str | UUID, *, at: datetime) -> None:
        """Close a resolved ticket."""
        self._ticket_command("ticket_closed", reference, lambda t, _c: t.close(at=at))

    def waive_breach(self, reference: str | UUID, *, reason: str, actor: str, at: datetime) -> None:
        """Waive a breach, with reason and actor (the breach stays on record)."""
        self._ticket_command(
            "breach_waived",
            reference,
            lambda t, _c: t.waive_breach(reason=reason, actor=actor, at=at),
        )

    def record_warning(
        self, reference: str | UUID, *, share: Decimal, at: datetime, late: bool
    ) -> bool:
        """Record a reached warning (the scheduler's); False when it no longer applies."""
        return self._ticket_command(
            "warning_reached",
            reference,
            lambda t, _c: t.record_warning(share=share, at=at, late=late),
        )

    def record_breach(self, reference: str | UUID, *, at: datetime, late: bool) -> bool:
        """Record a breached deadline (the scheduler's); False when it no longer applies."""
        return self._ticket_command(
            "response_deadline_breached", reference, lambda t, _c: t.record_breach(at=at, late=late)
        )

    def record_due(self, facts: Sequence[DueFact], *, at: datetime) -> list[FactOutcome]:
        """Record facts whose instants have come, in one save (the scheduler's use case).

        Each fact goes through its aggregate's own command, which records it once: a warning
        or breach already recorded, a clock stopped meanwhile, a renewed term or an expired
        lot make it a no-op with its reason. A fact is late when recorded more than a minute
        after its instant. A breach is recorded at the first instant after the deadline.
        """
        when = instant(at)

        def attempt() -> list[FactOutcome]:
            loaded: dict[UUID, Any] = {}
            touched: dict[UUID, Any] = {}
            outcomes = []
            for fact in facts:
                late = self._late(fact.due_at, when)
                try:
                    recorded = self._record_fact(fact, when, late, loaded)
                except LedgerError as exc:
                    outcomes.append(FactOutcome(fact, recorded=False, late=late, reason=exc.code))
                    continue
                if recorded:
                    aggregate = loaded[self._fact_aggregate(fact)]
                    touched[aggregate.id] = aggregate
                outcomes.append(
                    FactOutcome(
                        fact,
                        recorded=recorded,
                        late=late,
                        reason=None if recorded else "no_longer_due",
                    )
                )
            if touched:
                self.save(*touched.values())
            return outcomes

        return self._retrying("record_due", attempt)

    def read_ahead(self, facts: Sequence[DueFact], *, budget: float = 0.05) -> int:
        """Read the aggregates `facts` will be recorded on before they fall due (the scheduler's).

        They are kept as this process's copies, so that recording the facts reads nothing from
        the store; a copy that another process outdates meanwhile costs a retry, never a wrong
        fact (the save checks its version). Reads for at most about `budget` seconds; returns
        how many of `facts`, from the first, were dealt with (the caller passes the rest later).
        """
        started = time.perf_counter()
        for done, fact in enumerate(facts):
            if time.perf_counter() - started > budget:
                return done
            aggregate_id = self._fact_aggregate(fact)
            if self._saved.holds(aggregate_id):
                continue
            try:
                self._saved.offer(self.repository.get(aggregate_id))
            except AggregateNotFoundError:
                continue
        return len(facts)

    @staticmethod
    def _fact_aggregate(fact: DueFact) -> UUID:
        return fact.contract_id if fact.kind == "lapse" else fact.aggregate_id

    def _record_fact(
        self, fact: DueFact, when: datetime, late: bool, loaded: dict[UUID, Any]
    ) -> bool:
        aggregate_id = self._fact_aggregate(fact)
        if aggregate_id not in loaded:
            kind = {"warning": Ticket, "breach": Ticket, "lapse": Contract}.get(
                fact.kind, CreditAccount
            )
            loaded[aggregate_id] = self._get(
                aggregate_id, kind, UnknownAggregateError, kind.__name__, write=True
            )
        aggregate = loaded[aggregate_id]
        if fact.kind == "warning":
            return bool(aggregate.record_warning(share=Decimal(fact.detail), at=when, late=late))
        if fact.kind == "breach":
            first_after = fact.due_at + timedelta(microseconds=1)
            return bool(aggregate.record_breach(at=max(when, first_after), late=late))
        if fact.kind == "lapse":
            if not aggregate.ended_without_renewal(when):
                return False
            aggregate.lapse(at=when, late=late)
            return True
        if fact.kind == "term_grant":
            return bool(aggregate.grant_due(at=when))
        if fact.kind == "lot_expiry":
            lot = aggregate.lots.get(fact.detail)
            ends = None if lot is None else aggregate.lot_ends_at(lot)
            if lot is None or lot.expired or ends is None or ends > when:
                return False
            return bool(aggregate.expire_lot(lot_id=fact.detail, at=when, late=late))
        raise InvalidInputError(f"unknown kind of due fact: {fact.kind!r}")

    def get_ticket(
        self, reference: str | UUID, *, version: int | None = None, as_of: datetime | None = None
    ) -> Ticket:
        """A ticket (by id or external key) now, at a version, or as recorded at an instant."""
        return self._historic(
            self.ticket_id(reference),
            Ticket,
            UnknownTicketError,
            "ticket",
            version=version,
            as_of=as_of,
        )

    # -- credits -------------------------------------------------------------------------------

    def _account_command(
        self, use_case: str, contract_id: UUID, command: Callable[[CreditAccount], T]
    ) -> T:
        """Run a command on a contract's account alone (it knows its agreement's terms)."""

        def attempt() -> T:
            account = self._account(contract_id, write=True)
            result = command(account)
            self.save(account)
            return result

        return self._retrying(use_case, attempt)

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

        def command(account: CreditAccount) -> dict[str, Any]:
            lot_id, recorded = account.purchase(
                points=points, price=price, currency=self._currency(contract_id), key=key,
                expires_at=expires_at, at=at,
            )  # fmt: skip
            return {"lot_id": lot_id, "recorded": recorded, **account.lots[lot_id].as_dict()}

        result = self._account_command("purchase_credits", contract_id, command)
        if result["recorded"]:
            log.info(
                "credits_purchased", contract_id=str(contract_id), points=str(result["amount"])
            )
        return result

    def _currency(self, contract_id: UUID) -> str:
        return self._contract(contract_id, checked=True).currency

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
        """Use points for a support activity; idempotent by key, never below zero.

        The account draws the points and a CreditConsumption keyed by the idempotency key records
        them, in one save. A repeated key is found by that record: on a write conflict, or when
        the account refuses (the first request may have used the points it now lacks).
        """
        when = instant(at)
        ticket_id = self.ticket_id(ticket) if ticket is not None else None
        account_id = CreditAccount.create_id(contract_id)
        consumption_id = CreditConsumption.create_id(account_id, idempotency_key(key))
        tries = [0]

        def repeat_of() -> dict[str, Any] | None:
            existing = self._find(consumption_id)
            if not isinstance(existing, CreditConsumption):
                return None
            existing.check_repeat(points=points, activity=activity, ticket_id=ticket_id)
            account = self._account(contract_id)
            return self._consumption_data(existing, account, when, recorded=False)

        def attempt() -> dict[str, Any]:
            tries[0] += 1
            if tries[0] > 1 and (repeated := repeat_of()) is not None:
                return repeated
            account = self._account(contract_id, write=True)
            if ticket_id is not None:
                found = self._ticket(ticket_id, checked=True)
                if found.contract_id != account.contract_id:
                    raise UnknownTicketError(f"ticket {ticket_id} belongs to another contract")
            try:
                draws = account.consume(
                    points=points, activity=activity, key=key, ticket_id=ticket_id, at=when
                )
            except LedgerError:
                if (repeated := repeat_of()) is not None:
                    return repeated
                raise
            consumption = CreditConsumption.record(
                account_id=account.id, contract_id=account.contract_id, key=key, points=points,
                activity=activity, ticket_id=ticket_id, draws=draws, at=when,
            )  # fmt: skip
            self.save(account, consumption)
            return self._consumption_data(consumption, account, when, recorded=True)

        result = self._retrying("consume_credits", attempt)
        if result["recorded"]:
            log.info("credits_consumed", contract_id=str(contract_id), points=str(result["points"]))
        return result

    @staticmethod
    def _consumption_data(
        consumption: CreditConsumption, account: CreditAccount, at: datetime, *, recorded: bool
    ) -> dict[str, Any]:
        return {
            "key": consumption.key,
            "recorded": recorded,
            "points": consumption.points,
            "activity": consumption.activity,
            "ticket_id": consumption.ticket_id,
            "draws": [draw.as_dict() for draw in consumption.draws],
            "reversed": consumption.reversed,
            "consumed_at": consumption.consumed_at,
            "balance": account.available(POINTS, at),
        }

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
        when = instant(at)
        account_id = CreditAccount.create_id(contract_id)
        consumption_id = CreditConsumption.create_id(account_id, idempotency_key(key))

        def attempt() -> dict[str, Any]:
            account = self._account(contract_id, write=True)
            consumption = self._get(
                consumption_id,
                CreditConsumption,
                UnknownConsumptionError,
                f"consumption under key {key!r}",
                write=True,
            )
            reversal, recorded = consumption.reverse(
                points=points, reason=reason, at=when, lot_expired=account.lot_expired
            )
            if recorded:
                account.record_reversal(
                    key=consumption.key, points=reversal.points, reason=reversal.reason,
                    returns=[back.as_dict() for back in reversal.returns], at=when,
                )  # fmt: skip
                self.save(consumption, account)
            return {
                "key": consumption.key,
                "recorded": recorded,
                **reversal.as_dict(),
                "balance": account.available(POINTS, when),
            }

        result = self._retrying("reverse_consumption", attempt)
        if result["recorded"]:
            log.info(
                "consumption_reversed", contract_id=str(contract_id), points=str(result["points"])
            )
        return result

    def get_consumption(self, contract_id: UUID, key: str) -> CreditConsumption:
        """A consumption by its idempotency key."""
        consumption_id = CreditConsumption.create_id(
            CreditAccount.create_id(contract_id), idempotency_key(key)
        )
        return self._get(
            consumption_id,
            CreditConsumption,
            UnknownConsumptionError,
            f"consumption under key {key!r}",
        )

    def hold_training(
        self, contract_id: UUID, *, at: datetime, key: str | None = None, topic: str = ""
    ) -> dict[str, Any]:
        """Hold one 30-minute online training session."""
        session_key = key or uuid4().hex
        minutes = self.terms_of(self._contract(contract_id), instant(at)).session_minutes

        def command(account: CreditAccount) -> dict[str, Any]:
            session, recorded = account.hold_training(
                key=session_key, topic=topic, minutes=minutes, at=at
            )
            return {
                "key": session_key,
                "recorded": recorded,
                **session.as_dict(),
                "sessions_left": account.available(SESSIONS, instant(at)),
            }

        return self._account_command("training_session_held", contract_id, command)

    def grant_due_terms(self, contract_id: UUID, *, at: datetime) -> list[int]:
        """Grant the terms that have begun and were not granted yet (the scheduler's)."""
        return self._account_command("term_granted", contract_id, lambda a: a.grant_due(at=at))

    def expire_lot(self, contract_id: UUID, *, lot_id: str, at: datetime, late: bool) -> bool:
        """Record a lot's expiry (the scheduler's); False when already recorded."""
        return self._account_command(
            "lot_expired", contract_id, lambda a: a.expire_lot(lot_id=lot_id, at=at, late=late)
        )

    def get_account(
        self, contract_id: UUID, *, version: int | None = None, as_of: datetime | None = None
    ) -> CreditAccount:
        """A contract's credit account now, at a version, or as recorded at an instant."""
        self._contract(contract_id)
        return self._historic(
            CreditAccount.create_id(contract_id),
            CreditAccount,
            UnknownContractError,
            "credit account",
            version=version,
            as_of=as_of,
        )

    # -- history -------------------------------------------------------------------------------

    def _historic(
        self,
        aggregate_id: UUID,
        kind: type[A],
        error: type[Exception],
        what: str,
        *,
        version: int | None,
        as_of: datetime | None,
    ) -> A:
        if as_of is not None:
            when = instant(as_of, "as of")
            recorded = [
                e.originator_version
                for e in self.events.get(aggregate_id)
                if cast("Any", e).timestamp <= when
            ]
            if not recorded:
                raise error(f"no {what} {aggregate_id} was recorded by {when.isoformat()}")
            version = recorded[-1] if version is None else min(version, recorded[-1])
        if version is not None and version < 1:
            raise InvalidInputError(f"version: versions start at 1, got {version}")
        try:
            found: Any = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise error(
                f"no {what} {aggregate_id}" + (f" at version {version}" if version else "")
            ) from None
        if not isinstance(found, kind):
            raise error(f"{aggregate_id} is not a {what}")
        if version is not None and found.version != version:
            raise error(f"{what} {aggregate_id} has no version {version}; it is at {found.version}")
        return found

    def list_events(self, aggregate_id: UUID) -> list[Any]:
        """Every event of one aggregate, oldest first."""
        events = list(self.events.get(aggregate_id))
        if not events:
            raise UnknownAggregateError(f"nothing was recorded for {aggregate_id}")
        return events


def _window(start: datetime, end: datetime) -> str:
    return f"{instant(start, 'from').isoformat()} to {instant(end, 'to').isoformat()}"
