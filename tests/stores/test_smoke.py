"""The settings reach a real store: an aggregate saved is read back, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

if TYPE_CHECKING:
    from ledger.settings import DatabaseSettings


class Note(Aggregate):
    """A minimal aggregate, only for the smoke test."""

    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Amended")
    def amend(self, text: str) -> None:
        self.text = text


class NoteBook(Application[object]):
    name = "smoke"


def test_an_aggregate_saved_through_the_settings_is_read_back(
    store_settings: DatabaseSettings,
) -> None:
    """Saved by one application instance, read back by another on the same store."""
    writer = NoteBook(env=store_settings.eventsourcing_env())
    note = Note("hello")
    note.amend("hello, world")
    writer.save(note)
    writer.close()

    reader = NoteBook(env=store_settings.eventsourcing_env())
    copy = reader.repository.get(note.id)
    assert copy.text == "hello, world"
    assert copy.version == 2
    assert reader.recorder.max_notification_id() == 2
    reader.close()
