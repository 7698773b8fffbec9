"""Write tests/data/demo_events.json: the demo's stored events, a few more, and their states.

Run once with the code whose state shape is the reference (it was run before the domain's
state became typed dataclasses): `python tests/data/make_domain_fixture.py DB`. It records
the demo as first told (`now` = 14 March 2025, 18:00 in Berlin) into the SQLite file DB, adds
the commands the demo never gives (renewal, downgrade, cancelled appointment, reopened
ticket, termination...), and writes every stored event, a snapshot of every contract and
credit account as the library takes it, and a plain summary of every aggregate's state (see
`tests/unit/test_demo_states.py`). The demo has since gained the requests of its last evening
(ACME-6, COB-4, Acme's health check), which the fixture does not hold: it stays as it was.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.console import Console

from ledger.application import SupportLedger
from ledger.demo import run_demo
from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import LedgerError
from ledger.settings import parse_database_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.unit.state_summary import summary

OUT = Path(__file__).with_name("demo_events.json")
STORY_TOLD = datetime(2025, 3, 14, 17, tzinfo=UTC)  # Friday 14 March 2025, 18:00 in Berlin


def at(day: int, hour: int) -> datetime:
    """An instant after the demo's two weeks."""
    return datetime(2025, 3, day, hour, tzinfo=UTC)


def more(app: SupportLedger, ids: dict[str, UUID]) -> None:
    """The commands the demo does not give, so their events are folded too."""
    acme, borealis, cobalt = ids["Acme Automotive"], ids["Borealis Rail"], ids["Cobalt Labs"]
    steps: list[Any] = [
        lambda: app.renew_contract(acme, at=at(20, 9)),
        lambda: app.remove_contact(borealis, email="lead@borealis.example", at=at(20, 10)),
        lambda: app.change_tier(borealis, tier="basic", at=at(20, 11)),
        lambda: app.change_tier(borealis, tier="advanced", at=at(20, 12)),
        lambda: app.change_tier(borealis, tier="basic", at=at(20, 13)),
        lambda: app.change_tier(borealis, tier=app.get_contract(borealis).tier, at=at(20, 14)),
        lambda: app.unassign_representative(acme, at=at(20, 14)),
        lambda: app.book_appointment(acme, starts_at=at(29, 9), ends_at=at(29, 11), at=at(21, 9)),
        lambda: app.cancel_appointment(
            acme, starts_at=at(29, 9), ends_at=at(29, 11), at=at(21, 10)
        ),
        lambda: app.terminate_contract(cobalt, reason="customer left", at=at(22, 9)),
    ]
    for step in steps:
        step()
    for key in ("ACME-1", "ACME-2", "ACME-3", "BOREALIS-1", "BOREALIS-2", "COBALT-1"):
        with suppress(LedgerError):
            app.resolve_ticket(key, at=at(23, 9))
            app.reopen_ticket(key, at=at(23, 10))


def layout(data: dict[str, Any]) -> str:
    """The fixture as JSON, one event, snapshot or state a line."""

    def line(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    parts = [
        f'"{key}": [\n  ' + ",\n  ".join(line(r) for r in data[key]) + "\n ]"
        for key in ("events", "snapshots")
    ]
    states = ",\n  ".join(f"{json.dumps(k)}: {line(v)}" for k, v in sorted(data["states"].items()))
    parts.append('"states": {\n  ' + states + "\n }")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def main(database: str) -> None:
    path = Path(database)
    # The story as first told (3-14 March 2025), which the commands below follow.
    quiet = Console(file=open("/dev/null", "w"))  # noqa: PTH123, SIM115
    run_demo(str(path), quiet, now=STORY_TOLD)
    app = SupportLedger(settings=parse_database_url(f"sqlite:///{path.resolve()}"))
    try:
        connection = sqlite3.connect(path)
        signed = [
            (UUID(bytes=row[0]) if isinstance(row[0], bytes) else UUID(row[0]), row[1])
            for row in connection.execute(
                "SELECT originator_id, state FROM stored_events WHERE topic = ?",
                ("ledger.domain.contract:Contract.Signed",),
            )
        ]
        ids = {json.loads(state)["customer"]: cid for cid, state in signed}
        more(app, ids)
        rows = connection.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "ORDER BY rowid"
        ).fetchall()
        events = [
            {
                "originator_id": str(UUID(bytes=r[0]) if isinstance(r[0], bytes) else UUID(r[0])),
                "originator_version": r[1],
                "topic": r[2],
                "state": json.loads(r[3]),
            }
            for r in rows
        ]
        aggregate_ids = sorted({e["originator_id"] for e in events})
        states = {}
        snapshots = []
        for aggregate_id in aggregate_ids:
            aggregate = app.repository.get(UUID(aggregate_id))
            states[aggregate_id] = summary(aggregate)
            if isinstance(aggregate, Contract | CreditAccount):
                snapshot = type(aggregate).Snapshot.take(aggregate)
                stored = app.snapshots.mapper.to_stored_event(snapshot)  # type: ignore[union-attr]
                snapshots.append(
                    {
                        "originator_id": aggregate_id,
                        "originator_version": stored.originator_version,
                        "topic": stored.topic,
                        "state": json.loads(stored.state),
                    }
                )
    finally:
        app.close()
    OUT.write_text(layout({"events": events, "snapshots": snapshots, "states": states}))
    print(f"{len(events)} events, {len(snapshots)} snapshots, {len(states)} aggregates -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
