"""Access logs to delivery records: parse, prefetch the index for a chunk, resolve."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from streammeter.counting.resolve import resolve
from streammeter.index.entry import IndexObject, Rendition
from streammeter.index.patterns import match_pattern
from streammeter.ingest.items import NormalizedItem
from streammeter.ingest.targets import TargetClassifier
from streammeter.sources.cdn.request import EdgeRequest, ParsedLine
from streammeter.sources.generic import RecordError
from streammeter.store.base import Store


class StoreIndexView:
    """The index facts for one chunk of requests, fetched from the store in a few queries."""

    def __init__(self, store: Store, env_key: int, paths: Sequence[str], patterns: list[Any]):
        self._store, self._env_key = store, env_key
        self._objects = store.lookup_index(env_key, paths)
        self._playback: dict[str, str] = {}
        pattern_renditions: dict[tuple[str, str], Rendition] = {}
        for path in paths:
            if path not in self._objects and patterns:
                matched = match_pattern(patterns, path)
                if matched is not None:
                    self._objects[path] = [matched.object]
                    if matched.playback_id:
                        self._playback[path] = matched.playback_id
                    if matched.rendition is not None and matched.object.rendition_id:
                        key = (matched.object.asset_id, matched.object.rendition_id)
                        pattern_renditions[key] = matched.rendition
        keys = {
            (e.asset_id, e.rendition_id)
            for entries in self._objects.values()
            for e in entries
            if e.rendition_id and (e.asset_id, e.rendition_id) not in pattern_renditions
        }
        self._renditions = store.rendition_map(env_key, sorted(keys)) if keys else {}
        self._renditions.update(pattern_renditions)
        self._by_asset: dict[str, list[Rendition]] = {}

    def objects(self, path: str) -> Sequence[IndexObject]:
        return self._objects.get(path, ())

    def rendition(self, asset_id: str, rendition_id: str) -> Rendition | None:
        return self._renditions.get((asset_id, rendition_id))

    def playback_id(self, path: str) -> str | None:
        return self._playback.get(path)

    def renditions(self, asset_id: str) -> Sequence[Rendition]:
        if asset_id not in self._by_asset:
            self._by_asset[asset_id] = self._store.renditions(self._env_key, asset_id)
        return self._by_asset[asset_id]


def resolve_lines(
    store: Store,
    env_key: int,
    lines: Iterable[ParsedLine],
    *,
    origin: bool = False,
    chunk: int = 20_000,
) -> Iterator[NormalizedItem]:
    """Parsed log lines to delivery records, a chunk at a time (bounded memory)."""
    patterns = store.url_patterns(env_key)
    # Origin pulls are primary or additional-target egress by who pulled (counting.md 3).
    classify = TargetClassifier(store.delivery_targets(env_key)) if origin else None
    pending: list[ParsedLine] = []

    def flush() -> Iterator[NormalizedItem]:
        paths = sorted({v.path for _, _, v in pending if isinstance(v, EdgeRequest)})
        view = StoreIndexView(store, env_key, paths, patterns)
        for line_no, raw, value in pending:
            if isinstance(value, RecordError):
                yield line_no, raw, value, []
                continue
            resolved = resolve(value, view, origin=origin)
            if classify is not None:
                record = resolved.record
                record.target, record.additional_target = classify(
                    value.host, value.client_ip, value.user_agent
                )
            yield line_no, raw, resolved.record, resolved.notes
        pending.clear()

    for item in lines:
        pending.append(item)
        if len(pending) >= chunk:
            yield from flush()
    if pending:
        yield from flush()
