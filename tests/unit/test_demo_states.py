"""The demo's stored events fold into the same states as before the state was typed.

`tests/data/demo_events.json` holds every event the demo records (and the commands it never
gives), a library snapshot of each contract and credit account, and each aggregate's state,
all written by `tests/data/make_domain_fixture.py` with the code whose state held dicts.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from tests.unit.state_summary import summary

FIXTURE = json.loads(
    (Path(__file__).parents[1] / "data" / "demo_events.json").read_text(encoding="utf-8")
)


def mapper() -> Mapper[UUID]:
    """The library's mapper with the transcodings the ledger's store registers."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def stored(record: dict[str, Any]) -> StoredEvent:
    """A stored event (or snapshot) of the fixture, as the store returns it."""
    return StoredEvent(
        originator_id=UUID(record["originator_id"]),
        originator_version=record["originator_version"],
        topic=record["topic"],
        state=json.dumps(record["state"], separators=(",", ":")).encode(),
    )


def folded() -> dict[str, Any]:
    """Every aggregate of the fixture, folded from its events by the code of today."""
    decode = mapper()
    aggregates: dict[str, Any] = {}
    for record in FIXTURE["events"]:
        event = decode.to_domain_event(stored(record))
        key = record["originator_id"]
        aggregates[key] = event.mutate(aggregates.get(key))
    return aggregates


AGGREGATES = folded()
# State added after the fixture was written, and the value it has on the demo's aggregates.
ADDED_SINCE: dict[str, dict[str, Any]] = {"Ticket": {"priority_troubleshooting": []}}


def kept(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary as today's state keeps it: a credit account (version 3) without the lots whose
    expiry is recorded, nor the packages used up; a purchase record per package not expired;
    the trainings held since the last expiry of sessions; its counts of purchases and
    upgrades. Other aggregates as they are."""
    if summary["class"] != "CreditAccount":
        return summary
    state = dict(summary["state"])
    lots = state["lots"]
    state["purchase_count"] = len(state["purchases"])
    state["upgrade_count"] = sum(
        1 for lot in lots.values() if (lot["kind"], lot["unit"]) == ("upgrade", "points")
    )
    state["purchases"] = {
        key: {
            "lot_id": lot_id, "points": lots[lot_id]["amount"], "price": lots[lot_id]["price"],
            "currency": lots[lot_id]["currency"], "expires_at": lots[lot_id]["expires_at"],
            "purchased_at": lots[lot_id]["available_from"],
        }
        for key, lot_id in state["purchases"].items()
        if not lots[lot_id]["expired"]
    }  # fmt: skip
    ended = state["ended_at"] and datetime.fromisoformat(state["ended_at"]["datetime"])
    ends = []
    for lot in lots.values():
        if lot["expired"] and lot["unit"] == "sessions":
            own = datetime.fromisoformat(lot["expires_at"]["datetime"])
            cut = ended and max(ended, datetime.fromisoformat(lot["available_from"]["datetime"]))
            ends.append(min(own, cut) if cut else own)
    state["trainings"] = {
        key: training for key, training in state["trainings"].items()
        if not ends or datetime.fromisoformat(training["held_at"]["datetime"]) >= max(ends)
    }  # fmt: skip
    state["lots"] = {
        lot_id: lot for lot_id, lot in lots.items()
        if not lot["expired"]
        and not (lot["kind"] == "purchase" and lot["remaining"] == {"decimal": "0"})
    }  # fmt: skip
    return {**summary, "state": state}


@pytest.mark.parametrize("aggregate_id", sorted(FIXTURE["states"]))
def test_every_aggregate_of_the_demo_folds_into_the_state_it_had(aggregate_id: str) -> None:
    """Typed state holds exactly what the dicts held, key for key, for every demo aggregate
    (and state added since, with the value an aggregate of the demo has; less what a credit
    account no longer keeps)."""
    found = summary(AGGREGATES[aggregate_id])
    for name, value in ADDED_SINCE.get(found["class"], {}).items():
        if name in found["state"]:
            assert found["state"].pop(name) == value
    assert found == kept(FIXTURE["states"][aggregate_id])


@pytest.mark.parametrize(
    "record", FIXTURE["snapshots"], ids=[s["originator_id"] for s in FIXTURE["snapshots"]]
)
def test_a_snapshot_taken_before_the_state_was_typed_loads_into_the_same_state(
    record: dict[str, Any],
) -> None:
    """A stored snapshot of the old dict-shaped state (version 1 or 2 of a credit account:
    every lot it ever held) is upcast into the typed state, as today's state keeps it."""
    snapshot = mapper().to_domain_event(stored(record))
    aggregate = snapshot.mutate(None)
    assert summary(aggregate) == kept(FIXTURE["states"][record["originator_id"]])


@pytest.mark.parametrize(
    "record", FIXTURE["snapshots"], ids=[s["originator_id"] for s in FIXTURE["snapshots"]]
)
def test_a_snapshot_of_the_state_survives_the_json_transcoder(record: dict[str, Any]) -> None:
    """A snapshot taken today is encoded by the store's transcoder and loads the same state."""
    aggregate = AGGREGATES[record["originator_id"]]
    snapshot_class = getattr(type(aggregate), "Snapshot", Snapshot)
    transcode = mapper()
    again = transcode.to_domain_event(transcode.to_stored_event(snapshot_class.take(aggregate)))
    loaded = again.mutate(None)
    assert summary(loaded) == summary(aggregate)
    assert vars(loaded).keys() == vars(aggregate).keys()
    assert loaded.version == aggregate.version


def records_kept_as_dicts(aggregate: Any) -> list[str]:
    """The attributes of an aggregate that hold records as dicts rather than value objects."""
    found = []
    for name, value in vars(aggregate).items():
        if name in {"_pending_events", "details"}:  # details: a declined request's, free form
            continue
        items = value.values() if isinstance(value, dict) else value
        if isinstance(items, list | tuple | type({}.values())) and any(
            isinstance(item, dict) for item in items
        ):
            found.append(name)
    return found


TYPED = ("Contract", "CreditAccount", "CreditConsumption", "Ticket")  # the release catalog: not yet


@pytest.mark.parametrize(
    "aggregate_id",
    sorted(k for k, v in FIXTURE["states"].items() if v["class"] in TYPED),
)
def test_the_state_of_every_aggregate_is_held_in_value_objects(aggregate_id: str) -> None:
    """No contract, account, consumption or ticket keeps a record as a dict with string keys,
    and their statuses are enums."""
    aggregate = AGGREGATES[aggregate_id]
    assert records_kept_as_dicts(aggregate) == []
    if hasattr(aggregate, "status"):
        assert isinstance(aggregate.status, Enum)
