"""How a rebuild reads the log a batch ahead: in a thread, or in a process of its own.

A rebuild applies one batch while the next is read and decoded. In a thread, decoding (the
library's JSON decoder, about 13 µs an event) takes turns with the fold for Python's one
interpreter lock, so the two add up. A view that folds extracts (`Projection.extract`) can
have them made in a process of its own instead: that process reads the log, decodes each event
with the application's mapper, extracts it and ships the batch pickled (an extract costs about
half a microsecond to read back; a decoded event cost more than decoding it). On PostgreSQL,
for a rebuild of at least `PROCESS_FROM` positions, decoding then runs on the other core,
beside the fold and the database.

Both yield the same batches: (notifications or None, [(position, extract)], end), each
batch ending at `end` (its last notification, or where the reading stops: a multiple of the
checkpoints' interval or the rebuild's end), so checkpoints fall where the live runner's do.
"""

from __future__ import annotations

import gc
import os
import pickle
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast

from ledger.errors import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ledger.projections.base import Projection
    from ledger.store import Notification

# A rebuild reading at least this many positions of a PostgreSQL log decodes in a process (its
# start, about half a second, is worth it well before then).
PROCESS_FROM = 100_000

# While a rebuild (or a replay) runs, the cyclic collector runs after this many more container
# objects than were freed, not after 700 (CPython's default): a batch's decoded events live until
# the batch is applied, so by the default every batch was traversed by each generation's
# collection in turn, a quarter of a rebuild's CPU (sla_breaches, 100k events: 2.34 s of CPU, 1.85
# s at 50,000). Memory stays bounded: reference counting frees the rows, events and batches;
# only cycles wait longer.
BULK_COLLECTION_THRESHOLD = 50_000

# A batch reads at most this many times its size in positions of the log: each query's range
# stays bounded whatever the planner thinks of it. Without statistics on the events' table (a
# log just loaded or restored, a server without autovacuum) PostgreSQL reads the followed
# events of the whole range and sorts them for every batch; reading to the log's head, a
# rebuild of `deadlines` over 1M events took 42 s instead of 15.
READ_SPAN = 4

Batch = tuple["Sequence[Notification] | None", list[tuple[int, Any]], int]


@dataclass(frozen=True)
class Reading:
    """What a rebuild reads: the events `projection` follows after position `after` up to
    `stop_at`, at most `size` a batch, no batch reading past a multiple of `every` (the
    checkpoints' interval; 0: none)."""

    projection: type[Projection]
    after: int
    stop_at: int
    size: int
    every: int

    def stop(self, start: int) -> int:
        """Where the batch read from `start` stops at the latest."""
        every, stop_at = self.every, min(self.stop_at, start - 1 + self.size * READ_SPAN)
        return stop_at if not every else min(stop_at, ((start - 1) // every + 1) * every)


def topics_of(projection: type[Projection]) -> tuple[str, ...]:
    """The topics a view reads (none named: every one, for a raw view)."""
    return () if projection.raw else tuple(sorted(projection.topics()))


def read_batch(app: Any, reading: Reading, start: int) -> Batch:
    """The batch from `start`: the followed notifications (every one for a raw view), each
    decoded and extracted, and where the batch ends."""
    projection = reading.projection
    topics = topics_of(projection)
    stop, size = reading.stop(start), reading.size
    batch = app.recorder.select_notifications(start=start, limit=size, stop=stop, topics=topics)
    end = batch[-1].id if len(batch) == size else stop
    return batch, extracts_of(app, projection, batch), end


def extracts_of(
    app: Any, projection: type[Projection], batch: Sequence[Notification]
) -> list[tuple[int, Any]]:
    """The (position, extract) pairs of a batch's followed notifications (a raw view gets the
    notifications as stored)."""
    if projection.raw:
        return [(n.id, n) for n in batch]
    followed, to_event, extract = (
        projection.topics(),
        app.mapper.to_domain_event,
        projection.extract,
    )
    return [(n.id, extract(to_event(n))) for n in batch if n.topic in followed]


def read_ahead(app: Any, reading: Reading, *, backend: str) -> Iterator[Batch]:
    """The batches: in a process of its own when the view folds extracts, the store is
    PostgreSQL and the rebuild reads at least `PROCESS_FROM` positions; else in a thread."""
    far = reading.stop_at - reading.after >= PROCESS_FROM
    if reading.projection.extracts() and backend == "postgresql" and far:
        return in_process(app, reading)
    return in_thread(app, reading)


def in_thread(app: Any, reading: Reading) -> Iterator[Batch]:
    """The batches, each read in a thread while the caller applies the one before."""
    name, stop_at = reading.projection.name, reading.stop_at
    with ThreadPoolExecutor(1, thread_name_prefix=f"read-{name}") as reader:
        ahead = reader.submit(read_batch, app, reading, reading.after + 1)
        while True:
            batch = ahead.result()
            end = batch[2]
            if end < stop_at:
                ahead = reader.submit(read_batch, app, reading, end + 1)
            yield batch
            if end >= stop_at:
                return


def in_process(app: Any, reading: Reading) -> Iterator[Batch]:
    """The batches, read, decoded and extracted in a process of its own (this
    module's `main`: the caller's application class on the same store) while the
    caller applies the one before; the process is stopped when the caller stops early. A batch
    comes without its notifications (None): a caller that needs them reads them again."""
    name, stop_at = reading.projection.name, reading.stop_at
    env = {**dict(app.env), "CREATE_TABLE": "n"}  # the store as the caller's; no DDL
    child = subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-c", f"from {__name__} import main; main()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        stdin, stdout = cast("IO[bytes]", child.stdin), cast("IO[bytes]", child.stdout)  # piped
        try:
            stdin.write(pickle.dumps((type(app), env, reading), pickle.HIGHEST_PROTOCOL))
            stdin.close()
        except BrokenPipeError:
            pass  # it ended at once: said below
        while True:
            head = stdout.read(_FRAME.size)
            body = stdout.read(_FRAME.unpack(head)[0]) if len(head) == _FRAME.size else b""
            if not body:
                raise StoreUnavailableError(
                    f"the process reading the log for {name} ended without a word (exit code "
                    f"{child.wait()}); run the rebuild again"
                )
            kind, payload = pickle.loads(body)  # noqa: S301 - our own child, our own pipe
            if kind == "failed":
                raise StoreUnavailableError(
                    f"the process reading the log for {name} failed: {payload}"
                )
            extracts, end = payload
            yield None, extracts, end
            if end >= stop_at:
                return
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


_FRAME = struct.Struct("!Q")  # each message: its length, then the pickled message


def main() -> None:  # pragma: no cover - runs in the child process (tests/stores/test_rebuild.py)
    """The child: read the job from stdin; read, decode and extract every batch, and write each
    pickled to stdout (a failure as its message). Whatever else prints goes to stderr."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    gc.set_threshold(BULK_COLLECTION_THRESHOLD)  # as the parent's (`runner.fewer_collections`)

    def send(message: tuple[str, Any]) -> None:
        body = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        out.write(_FRAME.pack(len(body)) + body)
        out.flush()

    try:
        app_class, env, reading = pickle.load(sys.stdin.buffer)  # noqa: S301 - from the parent
        app = app_class(env=env)
        try:
            start = reading.after + 1
            while start <= reading.stop_at:
                _, extracts, end = read_batch(app, reading, start)
                send(("batch", (extracts, end)))
                start = end + 1
        finally:
            app.close()
    except BrokenPipeError:
        return  # the parent stopped reading: it has what it wanted, or stopped
    except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it
        send(("failed", f"{type(exc).__name__}: {exc}"))
