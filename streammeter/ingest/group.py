"""Group commit for `POST /v1/events` (docs/reliability.md, docs/performance.md).

A store's import costs about the same for 1,000 records as for 20,000: the statements of a
transaction (rollups of every level, entity keys, hour revisions, commit) run once per
transaction. So the batches of an environment that wait while one is imported are imported
together next, in one transaction (`importer.import_batches`), each keeping its own receipt
and per-record answer. A batch is answered only once its group committed.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

from streammeter.ingest.columnar import plain_rows
from streammeter.ingest.importer import BatchResult, PreparedBatch, import_batches, prepare_batch
from streammeter.store.base import Store

MAX_GROUP_RECORDS = 20_000  # one import chunk (importer.CHUNK_RECORDS)
MAX_GROUP_BATCHES = 100


def _not_in_columns(body: bytes) -> None:
    """For a store that takes records only: every batch goes the reference path."""
    return None


@dataclass(eq=False, slots=True)
class _Waiter:
    """A batch in the queue, then its answer."""

    batch: PreparedBatch
    result: BatchResult | None = None
    error: Exception | None = None
    done: bool = False


class GroupCommitter:
    """Imports `POST /v1/events` batches: per environment, the first batch that finds no
    import running leads; it imports the queued batches, oldest first, in groups of at most
    `max_records` records and `max_batches` batches, until its own is done, then hands over.

    Memory stays bounded: each queued batch holds a server thread (the thread pool's size),
    and a group at most `max_records` records."""

    def __init__(
        self,
        store: Store,
        *,
        max_records: int = MAX_GROUP_RECORDS,
        max_batches: int = MAX_GROUP_BATCHES,
    ) -> None:
        self._store, self._max_records, self._max_batches = store, max_records, max_batches
        # plain batches counted in columns where the store takes them as rows
        # (docs/design/columnar-batches.md)
        self._count_plain = plain_rows if store.counts_rows else _not_in_columns
        self._cond = threading.Condition()
        self._queues: dict[int, deque[_Waiter]] = {}
        self._leaders: set[int] = set()
        self._pending: Counter[int] = Counter()

    def submit(self, env_key: int, body: bytes) -> BatchResult:
        """Import one batch (blocking) as `importer.import_batch` does, answered once its group
        committed: the same receipt, outcomes and errors."""
        waiter = _Waiter(
            prepare_batch(body, self._count_plain)
        )  # unreadable or too large: raised here, alone
        with self._cond:
            self._queues.setdefault(env_key, deque()).append(waiter)
            self._pending[env_key] += 1
            while not waiter.done and env_key in self._leaders:
                self._cond.wait()
            lead = not waiter.done
            if lead:
                self._leaders.add(env_key)
        if lead:
            self._lead(env_key, waiter)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    def pending(self, env_key: int) -> int:
        """Batches of the environment submitted and not answered yet."""
        with self._cond:
            return self._pending[env_key]

    def _lead(self, env_key: int, own: _Waiter) -> None:
        try:
            while not own.done:
                self._commit(env_key, self._take(env_key))
        finally:
            with self._cond:
                self._leaders.discard(env_key)
                if not self._queues.get(env_key):
                    self._queues.pop(env_key, None)
                self._cond.notify_all()  # a waiting batch takes the lead

    def _take(self, env_key: int) -> list[_Waiter]:
        """The next group: the oldest batches, within the bounds (at least one)."""
        with self._cond:
            queue = self._queues[env_key]
            group = [queue.popleft()]
            records = group[0].batch.records
            while queue and len(group) < self._max_batches:
                size = queue[0].batch.records
                if records + size > self._max_records:
                    break
                records += size
                group.append(queue.popleft())
            return group

    def _commit(self, env_key: int, group: list[_Waiter]) -> None:
        try:
            results = import_batches(self._store, env_key, [w.batch for w in group])
        except Exception as exc:  # import_batches answers per batch; never leave one waiting
            results = [exc] * len(group)
        with self._cond:
            for waiter, result in zip(group, results, strict=True):
                if isinstance(result, Exception):
                    waiter.error = result
                else:
                    waiter.result = result
                waiter.done = True
            self._pending[env_key] -= len(group)
            self._cond.notify_all()
