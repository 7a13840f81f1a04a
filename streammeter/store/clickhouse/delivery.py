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
from typing import Any

from streammeter.query.windows import rolling_split
from streammeter.store.base import UsageRow
from streammeter.store.clickhouse.conn import Connection, in_list, literal
from streammeter.store.clickhouse.rolling import calendar_scan, rolling_scan, summed

ASSET_COLUMNS = (
    "asset_id", "live_stream_id", "passthrough", "created_at", "deleted_at", "asset_state",
    "asset_duration", "asset_resolution_tier", "asset_encoding_tier", "asset_video_quality",
)  # fmt: skip

Ranked = tuple[int, int]  # asset_key, total
CATALOG_CACHE_ROWS = 20_000  # catalog rows (asset, version) kept for pages


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
        env = f"env_key = {int(env_key)}"
        if asset_id is not None:
            found = self._q(
                f"SELECT asset_key FROM assets WHERE {env} AND asset_id = %(a)s LIMIT 1",
                {"a": asset_id},
            )
            if not found:
                return [], 0
            env += f" AND asset_key = {int(found[0][0])}"
        newest = self._q(
            f"SELECT gen, lo_hour, hi_hour FROM rolling_fills WHERE env_key = {int(env_key)} "
            "ORDER BY gen DESC LIMIT 1"
        )
        gen, rolling = 0, None
        if newest:
            gen, rolling = int(newest[0][0]), (int(newest[0][1]), int(newest[0][2]))
        parts = rolling_split(start_hour, end_hour, rolling)
        if not parts or limit <= 0:
            return [], 0

        def scans(table: Callable[[str], str], where: str, tiers: bool = True) -> list[str]:
            return [
                rolling_scan(table("usage_rolling"), gen, sign, where, tiers=tiers)
                if level == "rolling"
                else calendar_scan(table(level), lo, hi, sign, where, tiers=tiers)
                for level, lo, hi, sign in parts
            ]

        def ranked_sql(table: Callable[[str], str], tail: str) -> str:
            registered = f"SELECT asset_key FROM {table('assets')} WHERE env_key = {int(env_key)}"
            if live_stream_id is not None:
                registered = (
                    f"SELECT asset_key FROM (SELECT asset_key, live_stream_id FROM "
                    f"{table('assets')} WHERE env_key = {int(env_key)} "
                    "ORDER BY version DESC LIMIT 1 BY asset_key) AS current "
                    f"WHERE live_stream_id = {literal(live_stream_id)}"
                )
            return (
                f"SELECT asset_key, total FROM ({summed(scans(table, env, False), tiers=False)}) "
                f"AS sums "
                f"WHERE total > 0 AND asset_key IN ({registered}) {tail}"
            )

        def page_sql(table: Callable[[str], str], keys: Sequence[int]) -> str:
            """Tiers and current catalog version of the candidates (on their shard)."""
            where = f"{env} AND asset_key IN {in_list(keys)}"
            return (
                f"SELECT asset_key, t1, t2, t3, t4, t5, version "
                f"FROM ({summed(scans(table, where))}) AS sums ANY INNER JOIN ("
                f"SELECT asset_key, max(version) AS version FROM {table('assets')} "
                f"WHERE env_key = {int(env_key)} AND asset_key IN {in_list(keys)} "
                "GROUP BY asset_key) AS catalog USING (asset_key)"
            )

        # 1. Each shard's top `want` (asset_key, total), and how many it has (numbers only:
        # 18.16 sorts every column it carries).
        want = offset + limit + 1
        tops = self._on_each_shard(
            lambda _, conn, table: _counted(
                conn, ranked_sql(table, f"ORDER BY total DESC LIMIT {want}"), ranked_sql(table, "")
            )
        )
        count = sum(n for _, n in tops)
        if count <= offset:
            return [], count
        lists = [rows for rows, _ in tops]
        last_total = sorted((r[1] for rows in lists for r in rows), reverse=True)[
            min(offset + limit, count) - 1
        ]
        # 2. A shard whose list is cut inside the tie group of the page's last total: all of it.
        cut = [i for i, rows in enumerate(lists) if len(rows) == want and rows[-1][1] >= last_total]
        if cut:
            again = self._on_each_shard(
                lambda _, conn, table: _ints(
                    conn.execute(ranked_sql(table, f"AND total >= {last_total}"))
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
        # 3. The candidates for the page (its totals, all ties included): their tiers and
        # catalog columns, each on its shard; ordered by (total descending, asset_id).
        by_shard: dict[int, list[int]] = {}
        for (key, total), shard in every:
            if last_total <= total <= first_total:
                by_shard.setdefault(shard, []).append(key)
        candidates = [
            row
            for rows in self._on_each_shard(
                lambda shard, conn, table: conn.execute(page_sql(table, by_shard[shard])),
                only=sorted(by_shard),
            )
            for row in rows
        ]
        totals = {key: total for (key, total), _ in every}
        catalog = self._catalog_versions(env_key, [(row[0], row[6]) for row in candidates])
        candidates.sort(key=lambda row: (-totals[row[0]], catalog[row[0]]["asset_id"]))
        usage = [
            UsageRow(
                asset=dict(catalog[key]),
                tiers_us={code: int(us) for code, us in enumerate(tiers, start=1) if us},
                total_us=int(totals[key]),
            )
            for key, *tiers, _ in candidates[offset - before : offset - before + limit]
        ]
        return usage, count

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
        cache = getattr(self, "_catalog_rows", None)
        if cache is None:
            self._catalog_lock = threading.Lock()
            cache = self._catalog_rows = OrderedDict()
        return cache

    # -- one statement on every shard ------------------------------------------------------
    def _on_each_shard(
        self,
        run: Callable[[int, Connection, Callable[[str], str]], Any],
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
                    f"{literal(self.cluster)} AND replica_num = 1 ORDER BY shard_num"
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
        pool = getattr(self, "_pool", None)
        if pool is None:
            pool = self._pool = ThreadPoolExecutor(size, thread_name_prefix="clickhouse-shard")
        return pool

    def _close_shard_pool(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)
            self._pool = None


def _ints(rows: list[tuple]) -> list[Ranked]:
    return [(int(key), int(total)) for key, total in rows]


def _counted(conn: Connection, top_sql: str, all_sql: str) -> tuple[list[Ranked], int]:
    """The rows of `top_sql` and how many rows its LIMIT cut from (one statement where the
    engine reports it, else a count of `all_sql`)."""
    rows, before_limit = conn.execute_counted(top_sql)
    if before_limit is None:
        before_limit = int(conn.execute(f"SELECT count() FROM ({all_sql}) AS ranked")[0][0])
    return _ints(rows), before_limit
