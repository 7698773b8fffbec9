"""The alert outbox: each fact x matching subscription becomes one message, exactly once.

`AlertOutboxProjection` follows the log like every view (the runner applies each batch and its
position in one transaction), keeping what it needs to match and describe facts (subscriptions,
tickets, contracts) and writing one row per message into `alert_messages`. A subscription
receives the facts recorded after it: the log's order decides. A message's id is a uuid5 of the
subscription and the fact (the event's aggregate and version), so it is the same on every
rebuild, and `alert_messages` is not dropped by a rebuild (rows are inserted once, by id).

The queue: workers claim due messages (a claim column with a lease; on PostgreSQL the rows are
picked with FOR UPDATE SKIP LOCKED), send them, then acknowledge (delivered) or schedule the
next attempt (exponential backoff with jitter) until the give-up age, when they are failed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from ledger.domain.alerts import AlertSubscriptions
from ledger.domain.base import NAMESPACE, show
from ledger.domain.calendar import to_us
from ledger.domain.contract import Contract
from ledger.domain.contract_watch import ContractWatch
from ledger.domain.errors import LedgerError
from ledger.domain.ticket import Ticket
from ledger.parsing import format_instant
from ledger.projections.base import Projection
from ledger.projections.db import instant

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.projections.db import Transaction, ViewDatabase

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
HELD = "held"  # a settling outcome only: still pending, after the quiet hours

MESSAGES_DDL = [
    (
        "CREATE TABLE IF NOT EXISTS alert_messages ("
        "id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "channel TEXT NOT NULL, audience TEXT NOT NULL, fact_position BIGINT NOT NULL, "
        "fact_at BIGINT, recorded_at BIGINT NOT NULL, queued_at BIGINT NOT NULL, "
        "payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
        "next_at BIGINT NOT NULL, claimed_by TEXT, claimed_until BIGINT, "
        "first_attempt_at BIGINT, delivered_at BIGINT, last_error TEXT, "
        "quiet BOOLEAN NOT NULL DEFAULT FALSE)"
    ),
    "CREATE INDEX IF NOT EXISTS alert_messages_due ON alert_messages (status, next_at)",
    "CREATE INDEX IF NOT EXISTS alert_messages_sub ON alert_messages (subscription_id)",
]


class UnknownDeliveryError(LedgerError):
    """No alert message has that id."""

    code = "unknown_delivery"
    kind = "not_found"


class DeliveryNotRetryableError(LedgerError):
    """Only a failed (or cancelled) message can be retried by hand."""

    code = "delivery_not_retryable"
    kind = "conflict"


def message_id(subscription_id: str, fact_id: str) -> str:
    """The stable id of the message telling `subscription_id` about `fact_id`."""
    return str(uuid5(NAMESPACE, f"alert:{subscription_id}:{fact_id}"))


def _share_kind(share: Decimal) -> str | None:
    return {Decimal("0.5"): "warning_50", Decimal("0.75"): "warning_75"}.get(Decimal(share))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


class AlertOutboxProjection(Projection):
    """Facts x subscriptions -> messages in `alert_messages` (see the module's docstring)."""

    name = "alert_outbox"
    shape = 1
    follows = (
        AlertSubscriptions.SubscriptionAdded,
        AlertSubscriptions.SubscriptionRemoved,
        Ticket.Opened,
        Ticket.RequestDeclined,
        Ticket.SeverityChanged,
        Ticket.Held,
        Ticket.Resumed,
        Ticket.DeadlineRecalculated,
        Ticket.WarningReached,
        Ticket.ResponseDeadlineBreached,
        Ticket.BreachWaived,
        Contract.Signed,
        Contract.Upgraded,
        Contract.Lapsed,
        ContractWatch.BalanceFellLow,
        ContractWatch.LotsExpiring,
        ContractWatch.TermEnding,
    )

    def ddl(self) -> list[str]:
        """The matching tables (rebuilt with the view) and the messages (kept)."""
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {self.table('alert_subs')} ("
                "id TEXT PRIMARY KEY, kinds TEXT NOT NULL, tier TEXT, customer TEXT, "
                "channel TEXT NOT NULL, audience TEXT NOT NULL, target TEXT NOT NULL, "
                "secret_ref TEXT, removed BOOLEAN NOT NULL, quiet BOOLEAN NOT NULL)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.table('alert_tickets')} ("
                "id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, external_key TEXT NOT NULL, "
                "customer TEXT NOT NULL, tier TEXT, severity INTEGER, target_seconds BIGINT, "
                "due_at BIGINT)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.table('alert_contracts')} ("
                "id TEXT PRIMARY KEY, customer TEXT NOT NULL, tier TEXT NOT NULL)"
            ),
            *([] if self.prefix else MESSAGES_DDL),
        ]

    def tables(self) -> list[str]:
        """The matching tables; `alert_messages` outlives rebuilds (ids keep it exact)."""
        return [self.table(t) for t in ("alert_subs", "alert_tickets", "alert_contracts")]

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        """Keep the matching tables and queue one message per fact and matching subscription."""
        subs = self._subscriptions(tx)
        messages: list[tuple[Any, ...]] = []
        queued = to_us(datetime.now(UTC))  # when the outbox learned of the facts
        for position, event in events:
            fact = self._follow(tx, event, subs)
            if fact is not None:
                messages.extend(self._messages(position, event, fact, subs, queued))
        if messages and not self.prefix:
            tx.executemany(
                "INSERT INTO alert_messages (id, subscription_id, kind, channel, audience, "
                "fact_position, fact_at, recorded_at, queued_at, payload, status, attempts, "
                "next_at, quiet) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                messages,
            )

    # -- the matching tables ---------------------------------------------------------------------

    def _subscriptions(self, tx: Transaction) -> dict[str, dict[str, Any]]:
        rows = tx.fetchall(
            f"SELECT id, kinds, tier, customer, channel, audience, quiet "
            f"FROM {self.table('alert_subs')} WHERE removed = ?",
            (False,),
        )
        return {
            r[0]: {
                "kinds": frozenset(r[1].split(",")),
                "tier": r[2],
                "customer": r[3],
                "channel": r[4],
                "audience": r[5],
                "quiet": bool(r[6]),
            }
            for r in rows
        }

    def _follow(
        self, tx: Transaction, event: Any, subs: dict[str, dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Update the matching tables; the fact to tell (kind, fields), if the event is one."""
        if isinstance(event, AlertSubscriptions.SubscriptionAdded):
            self._add_subscription(tx, event, subs)
            return None
        if isinstance(event, AlertSubscriptions.SubscriptionRemoved):
            tx.execute(
                f"UPDATE {self.table('alert_subs')} SET removed = ? WHERE id = ?",
                (True, str(event.subscription_id)),
            )
            subs.pop(str(event.subscription_id), None)
            return None
        if isinstance(event, Contract.Signed | Contract.Upgraded):
            self._keep_contract(tx, event)
            return None
        if isinstance(event, Contract.Lapsed):
            contract = self._contract(tx, event.originator_id)
            return {
                "kind": "lapsed", "at": event.ended_at, "contract_id": str(event.originator_id),
                "customer": contract[0] if contract else "",
                "tier": contract[1] if contract else None,
                "term_number": event.term_number, "late": event.late,
            }  # fmt: skip
        if isinstance(event, ContractWatch.BalanceFellLow):
            return self._contract_fact(
                tx, event.contract_id, "balance_low", event.recorded_at,
                threshold=show(event.threshold), available=show(event.available),
                cause=event.cause,
            )  # fmt: skip
        if isinstance(event, ContractWatch.LotsExpiring):
            return self._contract_fact(
                tx, event.contract_id, "lots_expiring", event.recorded_at, lot_id=event.lot_id,
                points=show(event.points), expires_at=event.expires_at, due_at=event.due_at,
                late=event.late,
            )  # fmt: skip
        if isinstance(event, ContractWatch.TermEnding):
            return self._contract_fact(
                tx, event.contract_id, "term_ending", event.recorded_at,
                term_number=event.term_number, ends_at=event.ends_at, due_at=event.due_at,
                late=event.late,
            )  # fmt: skip
        if isinstance(event, Ticket.Opened | Ticket.RequestDeclined):
            self._keep_ticket(tx, event)
            if isinstance(event, Ticket.Opened):
                return None
            return self._ticket_fact(
                tx, event, "ticket_declined", event.received_at,
                reason=event.reason, message=event.message, reporter=event.reporter,
            )  # fmt: skip
        if isinstance(event, Ticket.SeverityChanged):
            tx.execute(
                f"UPDATE {self.table('alert_tickets')} SET severity = ?, target_seconds = ?, "
                "due_at = ? WHERE id = ?",
                (event.severity, event.target_seconds, _us(event.due_at), str(event.originator_id)),
            )
            return None
        if isinstance(event, Ticket.Held | Ticket.Resumed | Ticket.DeadlineRecalculated):
            tx.execute(
                f"UPDATE {self.table('alert_tickets')} SET due_at = ? WHERE id = ?",
                (_us(event.due_at), str(event.originator_id)),
            )
            return None
        if isinstance(event, Ticket.WarningReached):
            kind = _share_kind(event.share)
            if kind is None:
                return None
            return self._ticket_fact(
                tx, event, kind, event.warning_at, share=str(event.share), late=event.late
            )
        if isinstance(event, Ticket.ResponseDeadlineBreached):
            return self._ticket_fact(
                tx, event, "breach", event.recorded_at, due=event.due_at, late=event.late
            )
        if isinstance(event, Ticket.BreachWaived):
            return self._ticket_fact(
                tx, event, "breach_waived", event.waived_at, reason=event.reason, actor=event.actor
            )
        return None  # pragma: no cover - every followed class is handled above

    def _add_subscription(
        self, tx: Transaction, event: Any, subs: dict[str, dict[str, Any]]
    ) -> None:
        sid = str(event.subscription_id)
        tx.execute(
            f"INSERT INTO {self.table('alert_subs')} (id, kinds, tier, customer, channel, "
            "audience, target, secret_ref, removed, quiet) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (sid, ",".join(event.kinds), event.tier, event.customer, event.channel,
             event.audience, event.target, event.secret_ref, False, event.quiet_hours),
        )  # fmt: skip
        subs[sid] = {
            "kinds": frozenset(event.kinds),
            "tier": event.tier,
            "customer": event.customer,
            "channel": event.channel,
            "audience": event.audience,
            "quiet": event.quiet_hours,
        }

    def _keep_contract(self, tx: Transaction, event: Any) -> None:
        if isinstance(event, Contract.Signed):
            tx.execute(
                f"INSERT INTO {self.table('alert_contracts')} (id, customer, tier) "
                "VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (str(event.originator_id), event.customer, event.tier),
            )
        else:
            tx.execute(
                f"UPDATE {self.table('alert_contracts')} SET tier = ? WHERE id = ?",
                (event.to_tier, str(event.originator_id)),
            )

    def _contract(self, tx: Transaction, contract_id: UUID) -> tuple[Any, ...] | None:
        return tx.fetchone(
            f"SELECT customer, tier FROM {self.table('alert_contracts')} WHERE id = ?",
            (str(contract_id),),
        )

    def _contract_fact(
        self, tx: Transaction, contract_id: UUID, kind: str, at: datetime, **extra: Any
    ) -> dict[str, Any]:
        """A fact about a contract (not a ticket): its customer and tier, and `extra`."""
        contract = self._contract(tx, contract_id)
        return {
            "kind": kind, "at": at, "contract_id": str(contract_id),
            "customer": contract[0] if contract else "",
            "tier": contract[1] if contract else None, **extra,
        }  # fmt: skip

    def _keep_ticket(self, tx: Transaction, event: Any) -> None:
        opened = isinstance(event, Ticket.Opened)
        contract = None if opened else self._contract(tx, event.contract_id)
        tier = event.tier if opened else (contract[1] if contract else None)
        tx.execute(
            f"INSERT INTO {self.table('alert_tickets')} (id, contract_id, external_key, customer, "
            "tier, severity, target_seconds, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (str(event.originator_id), str(event.contract_id), event.external_key,
             event.customer, tier, event.severity,
             event.target_seconds if opened else None, _us(event.due_at) if opened else None),
        )  # fmt: skip

    def _ticket_fact(
        self, tx: Transaction, event: Any, kind: str, at: datetime, **extra: Any
    ) -> dict[str, Any]:
        row = tx.fetchone(
            f"SELECT contract_id, external_key, customer, tier, severity, target_seconds, due_at "
            f"FROM {self.table('alert_tickets')} WHERE id = ?",
            (str(event.originator_id),),
        )
        fact: dict[str, Any] = {"kind": kind, "at": at, "ticket_id": str(event.originator_id)}
        if row is not None:
            contract_id, key, customer, tier, severity, target, due_us = row
            fact.update(
                contract_id=contract_id, ticket_key=key, customer=customer, tier=tier,
                severity=severity, due_at=instant(due_us),
            )  # fmt: skip
            share = extra.pop("share", None)
            if share is not None and target is not None:
                left = int(Decimal(target) * (1 - Decimal(share)))
                fact.update(share=share, business_seconds_left=left)
        due = extra.pop("due", None)
        if due is not None:
            fact["due_at"] = due
            # Recorded at the first instant after the deadline, unless recorded late.
            fact["business_seconds_over"] = None if extra.get("late") else 0
        fact.update(extra)
        return fact

    # -- the messages ----------------------------------------------------------------------------

    def _messages(
        self,
        position: int,
        event: Any,
        fact: dict[str, Any],
        subs: dict[str, dict[str, Any]],
        queued: int,
    ) -> list[tuple[Any, ...]]:
        fact_id = f"{event.originator_id}:{event.originator_version}"
        kind = fact["kind"]
        tier = fact.get("tier")
        customer = str(fact.get("customer") or "").lower()
        recorded_us = to_us(event.timestamp)
        rows = []
        for sid, sub in subs.items():
            if kind not in sub["kinds"]:
                continue
            if sub["tier"] is not None and sub["tier"] != tier:
                continue
            if sub["customer"] is not None and sub["customer"].lower() not in customer:
                continue
            mid = message_id(sid, fact_id)
            payload = _payload(mid, sid, fact_id, fact, event.timestamp)
            rows.append(
                (mid, sid, kind, sub["channel"], sub["audience"], position,
                 _us(fact["at"]), recorded_us, queued, payload, PENDING, queued,
                 sub["quiet"] and kind != "breach")
            )  # fmt: skip
        return rows


def _us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def _payload(mid: str, sid: str, fact_id: str, fact: dict[str, Any], recorded: datetime) -> str:
    """The message's body (without the link, which the worker adds from its settings)."""
    body: dict[str, Any] = {
        "id": mid,
        "kind": fact["kind"],
        "subscription_id": sid,
        "fact_id": fact_id,
        "occurred_at": _iso(fact["at"]),
        "recorded_at": _iso(recorded),
    }
    for key, value in fact.items():
        if key in ("kind", "at"):
            continue
        body[key] = _iso(value) if hasattr(value, "isoformat") else value
    return json.dumps(body, sort_keys=True)


# -- the queue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A message claimed for delivery."""

    id: str
    subscription_id: str
    kind: str
    channel: str
    payload: dict[str, Any]
    attempts: int
    first_attempt_at: datetime | None
    recorded_at: datetime
    quiet: bool = False  # held outside the contract's covered hours


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, from `base` up to `cap`, given up after `give_up`."""

    base: float = 10.0
    cap: float = 3600.0
    give_up: float = 24 * 3600.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds before attempt `attempts + 1` (half fixed, half jitter)."""
        ceiling = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        return float(ceiling / 2 + (rng or random).uniform(0, ceiling / 2))


def ensure_outbox(db: ViewDatabase) -> None:
    """Create the messages table (the worker and the readers may come before the projection)."""
    db.create(MESSAGES_DDL)


def claim(
    db: ViewDatabase, owner: str, now: datetime, *, limit: int, lease: float
) -> list[Message]:
    """Claim up to `limit` due messages for `lease` seconds (one worker gets each)."""
    now_us = to_us(now)
    lock = " FOR UPDATE SKIP LOCKED" if db.backend == "postgresql" else ""
    with db.transaction() as tx:
        rows = tx.fetchall(
            "UPDATE alert_messages SET claimed_by = ?, claimed_until = ? WHERE id IN ("
            "SELECT id FROM alert_messages WHERE status = ? AND next_at <= ? AND "
            "(claimed_until IS NULL OR claimed_until < ?) ORDER BY next_at LIMIT ?"
            f"{lock}) RETURNING id, subscription_id, kind, channel, payload, attempts, "
            "first_attempt_at, recorded_at, quiet",
            (owner, now_us + int(lease * 1_000_000), PENDING, now_us, now_us, limit),
        )
    return [
        Message(
            id=r[0],
            subscription_id=r[1],
            kind=r[2],
            channel=r[3],
            payload=json.loads(r[4]),
            attempts=int(r[5]),
            first_attempt_at=instant(r[6]),
            recorded_at=instant(r[7]),  # type: ignore[arg-type]
            quiet=bool(r[8]),
        )
        for r in rows
    ]


def settle(
    db: ViewDatabase,
    now: datetime,
    policy: RetryPolicy,
    *,
    delivered: Sequence[Message] = (),
    refused: Sequence[tuple[Message, str]] = (),
    cancelled: Sequence[Message] = (),
    held: Sequence[tuple[Message, datetime]] = (),
) -> dict[str, str]:
    """Record how a batch of attempts went, in one transaction: acknowledged (2xx), refused (the
    next attempt after a backoff, or failed past the give-up age) or cancelled (the subscription
    was removed). Returns each message's new status; a message settled meanwhile is left."""
    now_us = to_us(now)
    statuses: dict[str, str] = {}
    with db.transaction() as tx:
        for message in delivered:
            changed = tx.execute(
                "UPDATE alert_messages SET status = ?, delivered_at = ?, "
                "attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, ?), "
                "claimed_by = NULL, claimed_until = NULL, last_error = NULL "
                "WHERE id = ? AND status = ?",
                (DELIVERED, now_us, now_us, message.id, PENDING),
            )
            if changed:
                statuses[message.id] = DELIVERED
        for message, error in refused:
            first = message.first_attempt_at or now
            attempts = message.attempts + 1
            given_up = (now - first).total_seconds() >= policy.give_up
            status = FAILED if given_up else PENDING
            next_at = now + timedelta(seconds=policy.delay(attempts))
            changed = tx.execute(
                "UPDATE alert_messages SET status = ?, attempts = ?, first_attempt_at = ?, "
                "next_at = ?, claimed_by = NULL, claimed_until = NULL, last_error = ? "
                "WHERE id = ? AND status = ?",
                (status, attempts, to_us(first), to_us(next_at), error[:1000], message.id,
                 PENDING),
            )  # fmt: skip
            if changed:
                statuses[message.id] = status
        for message in cancelled:
            changed = tx.execute(
                "UPDATE alert_messages SET status = ?, claimed_by = NULL, claimed_until = NULL, "
                "last_error = ? WHERE id = ? AND status = ?",
                (CANCELLED, "the subscription was removed", message.id, PENDING),
            )
            if changed:
                statuses[message.id] = CANCELLED
        for message, until in held:
            changed = tx.execute(
                "UPDATE alert_messages SET next_at = ?, claimed_by = NULL, claimed_until = NULL, "
                "last_error = ? WHERE id = ? AND status = ?",
                (to_us(until), f"held for quiet hours until {format_instant(until)}",
                 message.id, PENDING),
            )  # fmt: skip
            if changed:
                statuses[message.id] = HELD
    return statuses


def retry(db: ViewDatabase, delivery_id: str, now: datetime) -> dict[str, Any]:
    """Send a failed (or cancelled) message again, from a fresh backoff."""
    ensure_outbox(db)
    with db.transaction() as tx:
        row = tx.fetchone("SELECT status FROM alert_messages WHERE id = ?", (delivery_id,))
        if row is None:
            raise UnknownDeliveryError(f"no alert delivery {delivery_id}")
        if row[0] not in (FAILED, CANCELLED):
            raise DeliveryNotRetryableError(
                f"delivery {delivery_id} is {row[0]}; only failed or cancelled ones are retried"
            )
        tx.execute(
            "UPDATE alert_messages SET status = ?, attempts = 0, first_attempt_at = NULL, "
            "next_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            (PENDING, to_us(now), delivery_id),
        )
    return deliveries(db, delivery_id=delivery_id)[0]


COLUMNS = (
    "id, subscription_id, kind, channel, audience, status, attempts, fact_at, recorded_at, "
    "delivered_at, next_at, last_error, payload"
)


def deliveries(
    db: ViewDatabase,
    *,
    status: str | None = None,
    subscription_id: str | None = None,
    audience: str | None = None,
    delivery_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Messages, newest first, filtered by status, subscription, audience or id."""
    ensure_outbox(db)
    where, params = [], []
    for column, value in (
        ("status", status), ("subscription_id", subscription_id), ("audience", audience),
        ("id", delivery_id),
    ):  # fmt: skip
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = db.read(
        f"SELECT {COLUMNS} FROM alert_messages{clause} ORDER BY fact_position DESC, id LIMIT ?",
        (*params, limit),
    )
    return [
        {
            "id": r[0],
            "subscription_id": r[1],
            "kind": r[2],
            "channel": r[3],
            "audience": r[4],
            "status": r[5],
            "attempts": int(r[6]),
            "fact_at": instant(r[7]),
            "recorded_at": instant(r[8]),
            "delivered_at": instant(r[9]),
            "next_at": instant(r[10]) if r[5] == PENDING else None,
            "last_error": r[11],
            "ticket_key": json.loads(r[12]).get("ticket_key"),
            "customer": json.loads(r[12]).get("customer"),
        }
        for r in rows
    ]


def counts(db: ViewDatabase) -> dict[str, int]:
    """Messages by status (every status present, 0 when none)."""
    ensure_outbox(db)
    rows = db.read("SELECT status, COUNT(*) FROM alert_messages GROUP BY status")
    found = {str(r[0]): int(r[1]) for r in rows}
    return {s: found.get(s, 0) for s in (PENDING, DELIVERED, FAILED, CANCELLED)}


def subscription_row(db: ViewDatabase, subscription_id: str) -> dict[str, Any] | None:
    """A subscription as the outbox knows it (channel, target, secret reference, removed)."""
    rows = db.select(
        "SELECT channel, target, secret_ref, removed FROM alert_subs WHERE id = ?",
        (subscription_id,),
    )
    if not rows:
        return None
    channel, target, secret_ref, removed = rows[0]
    return {
        "channel": channel,
        "target": target,
        "secret_ref": secret_ref,
        "removed": bool(removed),
    }
