"""The audit chain's table: one link per stored notification, kept by the projection runner.

`audit_chain` holds, for every notification of the log (every topic, bytes as stored), its
position, originator id and version, topic, and the hash-chain link there in lowercase hex.
The links and their encoding are in `ledger.hashchain`, their verification in
`ledger.audit.chain`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.hashchain import GENESIS, links_of, stored
from ledger.projections.base import Projection

if TYPE_CHECKING:
    from ledger.projections.db import Transaction, ViewDatabase


class HashChainProjection(Projection):
    """Keeps `audit_chain`: one link per stored notification, every topic, bytes as stored."""

    name = "audit_chain"
    shape = 1
    raw = True
    follows = ()

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        super().__init__(db, prefix=prefix)
        self.chain = self.table("audit_chain")

    def ddl(self) -> list[str]:
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {self.chain} ("
                "position BIGINT PRIMARY KEY, originator_id TEXT NOT NULL, "
                "originator_version BIGINT NOT NULL, topic TEXT NOT NULL, link TEXT NOT NULL)"
            )
        ]

    def tables(self) -> list[str]:
        return [self.chain]

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        head = tx.fetchone(
            f"SELECT position, link FROM {self.chain} ORDER BY position DESC LIMIT 1"
        )
        previous, after = (GENESIS, 0) if head is None else (bytes.fromhex(head[1]), int(head[0]))
        notifications = [n for _, n in events]
        if notifications[0].id <= after:
            msg = f"the chain already reaches position {after}; cannot link {notifications[0].id}"
            raise ValueError(msg)
        links = links_of(previous, [stored(n) for n in notifications])
        rows = [
            (n.id, str(n.originator_id), n.originator_version, n.topic, link.hex())
            for n, link in zip(notifications, links, strict=True)
        ]
        columns = "position, originator_id, originator_version, topic, link"
        if tx.db.backend == "postgresql":
            with tx.cursor.copy(f"COPY {self.chain} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            tx.executemany(f"INSERT INTO {self.chain} ({columns}) VALUES (?, ?, ?, ?, ?)", rows)
