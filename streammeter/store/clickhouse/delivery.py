"""The Mux delivery-usage query on ClickHouse (docs/design/clickhouse.md, "The Mux query").

Records, rollups, the rolling window and the catalog are all sharded by (environment, asset),
so every asset's rows live on one shard and a shard can rank its own assets completely. The
query therefore runs on each shard at once, against its local tables, instead of through the
Distributed tables (which would merge 200,000 partial groups on one node):

1. each shard sums its assets over the window (the rolling total and the hours at its edges,
   or the calendar levels: `query/windows.rolling_split`), keeps registered assets with usage,
   and returns its top `offset + limit + 1` by total, numbers only, with the count of all of
   them (`rows_before_limit`: one statement gives both);
2. the shards' lists are merged by total. Ties are ordered by `asset_id`, which the shards do
   not sort on: a shard whose list might stop inside the tie group at the page's last total
   is asked again for every asset at or above that total;
3. the tiers and current catalog version of the page's candidates are read on their shard,
   the catalog columns of each (asset, version) once (versions are never rewritten, so they
   are cached in process), and the candidates ordered by (total descending, asset_id).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from streammeter.query.windows import TablePart, rolling_split
from streammeter.store.base import UsageRow
from streammeter.store.clickhouse.conn import Connection, in_list, inline
from streammeter.store.clickhouse.rolling import calendar_scan, rolling_scan, summed

ASSET_COLUMNS = (
    "asset_id", "live_stream_id", "passthrough", "created_at", "deleted_at", "asset_state",
    "asset_duration", "asset_resolution_tier", "asset_encoding_tier", "asset_video_quality",
)  # fmt: skip

Ranked = tuple[int, int]  # asset_key, total
Fill = tuple[int, tuple[int, int] | None]  # generation of the rolling window, its hours
Table = Callable[[str], str]  # a table's name where a statement runs (local on a shard)
CATALOG_CACHE_ROWS = 20_000  # catalog rows (asset, version) kept for pages
_STATE_LOCK = threading.Lock()  # creating a store's pool and caches on first use


@dataclass(frozen=True)
class _Question:
    """One delivery-usage query, and the SQL it takes on one shard."""

    env_key: int
    where: str  # the environment, and the asset when filtered by one
    live_stream_id: str | None
    gen: int  # the rolling window's generation read ("rolling" parts)
    parts: list[TablePart]

    def scans(self, table: Table, where: str, *, tiers: bool = True) -> list[str]:
        return [
            rolling_scan(table("usage_rolling"), self.gen, sign, where, tiers=tiers)
            if level == "rolling"
            else calendar_scan(table(level), lo, hi, sign, where, tiers=tiers)
            for level, lo, hi, sign in self.parts
        ]

    def ranked_sql(self, table: Table, tail: str) -> str:
        """(asset_key, total) of the shard's registered assets with usage, then `tail`."""
        registered = f"SELECT asset_key FROM {table('assets')} WHERE env_key = {self.env_key}"
        if self.live_stream_id is not None:
            registered = (
                f"SELECT asset_key FROM (SELECT asset_key, live_stream_id FROM "
                f"{table('assets')} WHERE env_key = {self.env_key} "
                "ORDER BY version DESC LIMIT 1 BY asset_key) AS current "
                f"WHERE live_stream_id = {inline(self.live_stream_id)}"
            )
        totals = summed(self.scans(table, self.where, tiers=False), tiers=False)
        return (
            f"SELECT asset_key, total FROM ({totals}) AS sums "
            f"WHERE total > 0 AND asset_key IN ({registered}) {tail}"
        )

    def page_sql(self, table: Table, keys: Sequence[int]) -> str:
        """(asset_key, t1..t5, current catalog version) of the candidates `keys`."""
        where = f"{self.where} AND asset_key IN {in_list(keys)}"
        return (
            f"SELECT asset_key, t1, t2, t3, t4, t5, version "
            f"FROM ({summed(self.scans(table, where))}) AS sums ANY INNER JOIN ("
            f"SELECT asset_key, max(version) AS version FROM {table('assets')} "
            f"WHERE env_key = {self.env_key} AND asset_key IN {in_list(keys)} "
            "GROUP BY asset_key) AS catalog USING (asset_key)"
        )


class ClickHouseDeliveryMixin:
    """delivery_usage, ranked on every shard at once."""

    _q: Any
    _local: Any
    cluster: str | None

    def delivery_usage(
        self,
        env_key: int,
        start_hour: int,
        end_hour: int,
        *,
        asset_id: str | None = None,
        live_stream_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[UsageRow], int]:
        where = f"env_key = {int(env_key)}"
        if asset_id is not None:
            found = self._q(
                f"SELECT asset_key FROM assets WHERE {where} AND asset_id = %(a)s LIMIT 1",
                {"a": asset_id},
            )
            if not found:
                return [], 0
            where += f" AND asset_key = {int(found[0][0])}"
        if limit <= 0:
            return [], 0

        def question(fill: Fill) -> _Question:
            parts = rolling_split(start_hour, end_hour, fill[1])
            return _Question(int(env_key), where, live_stream_id, fill[0], parts)

        # The newest generation of the rolling window filled for the environment. On a
        # cluster, the one seen last is used at once and checked while the shards work: a
        # generation stays readable until two moves later (docs/design/clickhouse.md).
        seen = self._fills_seen()
        guess = seen.get(env_key) if self.cluster else None
        if guess is not None:
            check = lambda: self._newest_fill(env_key)  # noqa: E731
            answer = self._ranked_page(question(guess), limit, offset, check, guess)
            if answer is not None:
                return answer
        seen[env_key] = fill = self._newest_fill(env_key)
        answer = self._ranked_page(question(fill), limit, offset)
        assert answer is not None
        return answer

    def _ranked_page(
        self,
        q: _Question,
        limit: int,
        offset: int,
        check: Callable[[], Fill] | None = None,
        guess: Fill | None = None,
    ) -> tuple[list[UsageRow], int] | None:
        """The page and row count; None when `check()`, run while the shards rank, does not
        confirm the generation guessed."""
        if not q.parts:
            return [], 0
        # 1. Each shard's top `want` (asset_key, total), and how many it has (numbers only:
        # 18.16 sorts every column a query carries).
        want = offset + limit + 1
        tops, checked = self._on_each_shard_while(
            lambda _, conn, table: _counted(
                conn,
                q.ranked_sql(table, f"ORDER BY total DESC LIMIT {want}"),
                q.ranked_sql(table, ""),
            ),
            check,
        )
        if check is not None and checked != guess:
            return None
        count = sum(n for _, n in tops)
        if count <= offset:
            return [], count
        lists = [rows for rows, _ in tops]
        totals = sorted((total for rows in lists for _, total in rows), reverse=True)
        last_total = totals[min(offset + limit, count) - 1]
        # 2. A shard whose list is cut inside the tie group of the page's last total: all of it.
        cut = [i for i, rows in enumerate(lists) if len(rows) == want and rows[-1][1] >= last_total]
        if cut:
            again = self._on_each_shard(
                lambda _, conn, table: _ints(
                    conn.execute(q.ranked_sql(table, f"AND total >= {last_total}"))
                ),
                only=cut,
            )
            for i, rows in zip(cut, again, strict=True):
                lists[i] = rows
        every = sorted(
            ((r, i) for i, rows in enumerate(lists) for r in rows), key=lambda x: -x[0][1]
        )
        first_total = every[offset][0][1]
        before = sum(1 for r, _ in every if r[1] > first_total)
        # 3. The page's candidates (its totals, every tie included): tiers and catalog version
        # on their shard, catalog columns by version; ordered by (total descending, asset_id).
        by_shard: dict[int, list[int]] = {}
        for (key, total), shard in every:
            if last_total <= total <= first_total:
                by_shard.setdefault(shard, []).append(key)
        candidates = [
            row
            for rows in self._on_each_shard(
                lambda shard, conn, table: conn.execute(q.page_sql(table, by_shard[shard])),
                only=sorted(by_shard),
            )
            for row in rows
        ]
        total_of = {key: total for (key, total), _ in every}
        catalog = self._catalog_versions(q.env_key, [(row[0], row[6]) for row in candidates])
        candidates.sort(key=lambda row: (-total_of[row[0]], catalog[row[0]]["asset_id"]))
        usage = [
            UsageRow(
                asset=dict(catalog[key]),
                tiers_us={code: int(us) for code, us in enumerate(tiers, start=1) if us},
                total_us=int(total_of[key]),
            )
            for key, *tiers, _ in candidates[offset - before : offset - before + limit]
        ]
        return usage, count

    def _newest_fill(self, env_key: int) -> Fill:
        """(gen, (lo_hour, hi_hour)) of the newest generation filled for the environment, or
        (0, None): the calendar levels only."""
        rows = self._q(
            f"SELECT gen, lo_hour, hi_hour FROM rolling_fills WHERE env_key = {int(env_key)} "
            "ORDER BY gen DESC LIMIT 1"
        )
        if not rows:
            return 0, None
        return int(rows[0][0]), (int(rows[0][1]), int(rows[0][2]))

    def _fills_seen(self) -> dict[int, Fill]:
        with _STATE_LOCK:
            if getattr(self, "_fills", None) is None:
                self._fills: dict[int, Fill] = {}
            return self._fills

    def _catalog_versions(
        self, env_key: int, versions: Sequence[tuple[int, int]]
    ) -> dict[int, dict[str, Any]]:
        """asset_key -> catalog columns of the given (asset_key, version) rows. A version of an
        asset is never rewritten (a change is a new version), so rows read once are kept in a
        bounded in-process cache, exact whatever other processes write."""
        cache = self._catalog_cache()
        found, missing = {}, []
        with self._catalog_lock:
            for key, version in versions:
                row = cache.get((env_key, key, version))
                if row is None:
                    missing.append((key, version))
                else:
                    cache.move_to_end((env_key, key, version))
                    found[key] = row
        for start in range(0, len(missing), 2000):
            rows = self._q(
                f"SELECT asset_key, version, {', '.join(ASSET_COLUMNS)} FROM assets "
                f"WHERE env_key = {int(env_key)} "
                f"AND (asset_key, version) IN {in_list(missing[start : start + 2000])}"
            )
            with self._catalog_lock:
                for key, version, *columns in rows:
                    row = dict(zip(ASSET_COLUMNS, columns, strict=True))
                    found[int(key)] = cache[(env_key, int(key), int(version))] = row
                while len(cache) > CATALOG_CACHE_ROWS:
                    cache.popitem(last=False)
        return found

    def _catalog_cache(self) -> OrderedDict[tuple[int, int, int], dict[str, Any]]:
        with _STATE_LOCK:
            if getattr(self, "_catalog_rows", None) is None:
                self._catalog_lock = threading.Lock()
                self._catalog_rows: OrderedDict[tuple[int, int, int], dict[str, Any]] = (
                    OrderedDict()
                )
            return self._catalog_rows

    # -- one statement on every shard ------------------------------------------------------
    def _on_each_shard(
        self,
        run: Callable[[int, Connection, Table], Any],
        only: Sequence[int] | None = None,
    ) -> list[Any]:
        """`run(shard index, connection, table_name)` on each shard (one replica of each, or
        those of `only`) at once; `table_name(name)` is the shard's local table. Results in
        the order of the shards."""
        shards = self._shard_nodes()
        picked = list(range(len(shards))) if only is None else list(only)
        if not self.cluster:
            return [run(i, self._conn, lambda name: name) for i in picked]  # type: ignore[attr-defined]

        def on(index: int) -> Any:
            return run(index, self._shard_connection(*shards[index]), lambda name: f"{name}_local")

        if len(picked) == 1:
            return [on(picked[0])]
        return list(self._shard_pool(len(shards)).map(on, picked))

    def _on_each_shard_while(
        self, run: Callable[[int, Connection, Table], Any], meanwhile: Callable[[], Any] | None
    ) -> tuple[list[Any], Any]:
        """`_on_each_shard(run)`, and `meanwhile()` in this thread while the shards work."""
        if meanwhile is None or not self.cluster:
            return self._on_each_shard(run), meanwhile() if meanwhile else None
        shards = self._shard_nodes()
        pool = self._shard_pool(len(shards))
        local: Table = lambda name: f"{name}_local"  # noqa: E731
        futures = [
            pool.submit(lambda i=i: run(i, self._shard_connection(*shards[i]), local))
            for i in range(len(shards))
        ]
        checked = meanwhile()
        return [future.result() for future in futures], checked

    def _shard_nodes(self) -> list[tuple[str, int]]:
        """(host, tcp port) of the first replica of each shard."""
        cached = getattr(self, "_shard_node_list", None)
        if cached is not None:
            return cached
        if not self.cluster:
            nodes = [self._nodes()[0]]  # type: ignore[attr-defined]
        else:
            conn = self._chdb_or(*self._nodes()[0])  # type: ignore[attr-defined]
            try:
                rows = conn.execute(
                    "SELECT host_address, port FROM system.clusters WHERE cluster = "
                    f"{inline(self.cluster)} AND replica_num = 1 ORDER BY shard_num"
                )
            finally:
                conn.close()
            nodes = [(host, int(port)) for host, port in rows]
        self._shard_node_list = nodes
        return nodes

    def _shard_connection(self, host: str, port: int) -> Connection:
        """This thread's connection to a shard's node (with the store's database)."""
        conns = getattr(self._local, "shard_conns", None)
        if conns is None:
            conns = self._local.shard_conns = {}
        if (host, port) not in conns:
            conns[(host, port)] = self._new_connection(host=host, port=port)  # type: ignore[attr-defined]
        return conns[(host, port)]

    def _shard_pool(self, size: int) -> ThreadPoolExecutor:
        with _STATE_LOCK:
            if getattr(self, "_pool", None) is None:
                self._pool = ThreadPoolExecutor(size, thread_name_prefix="clickhouse-shard")
            return self._pool

    def _close_shard_pool(self) -> None:
        with _STATE_LOCK:
            pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None:
            pool.shutdown(wait=True)


def _ints(rows: list[tuple]) -> list[Ranked]:
    return [(int(key), int(total)) for key, total in rows]


def _counted(conn: Connection, top_sql: str, all_sql: str) -> tuple[list[Ranked], int]:
    """The rows of `top_sql` and how many rows its LIMIT cut from (one statement where the
    engine reports it, else a count of `all_sql`)."""
    rows, before_limit = conn.execute_counted(top_sql)
    if before_limit is None:
        before_limit = int(conn.execute(f"SELECT count() FROM ({all_sql}) AS ranked")[0][0])
    return _ints(rows), before_limit
