"""The Mux query's rolling window on ClickHouse (docs/design/clickhouse.md, "The Mux query").

As in DuckDB (docs/design/rollups.md), the store keeps one total per asset, split by tier, over
the widest window the Mux API accepts, so a 90-day query reads one row per asset plus the hours
at its edges. DuckDB moves that window in one transaction; ClickHouse has none, so each
position of the window is a **generation** `gen`:

- `rolling_gens` lists the generations and their hours; `done = 1` once every environment that
  existed when it was made is filled.
- A generation is filled one environment at a time, under that environment's writer lock: its
  rows are computed from the calendar rollups, then a `rolling_fills` row says they are
  complete. Readers use the newest generation filled for their environment and fall back to
  the calendar rollups when there is none (e.g. an environment created since).
- Every writer that changes rollups of an environment (imports, catalog changes) adds the same
  deltas to each generation filled for it, under the same lock: a generation stays equal to
  the calendar rollups over its hours. `recover` and `rebuild` refill them.
- Old generations are dropped by partition (the current and the previous one are kept, so a
  query that picked the previous one a moment ago still finds it).
"""

from __future__ import annotations

from typing import Any

from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.query.windows import split_window
from streammeter.store.clickhouse.schema import ROLLING_MEASURES
from streammeter.store.clickhouse.sql import attributed_sql

_SUMS = ", ".join(ROLLING_MEASURES)
_TIER_CODES = range(1, 6)


def calendar_scan(
    table: str, lo: int, hi: int, sign: int, where: str, *, tiers: bool = True
) -> str:
    """(asset_key, d, d1..d5) rows of a calendar rollup table over bucket hours [lo, hi):
    delivered µs of segments and parts of assets, in total and per tier (unless not
    `tiers`: d only), times `sign`."""
    neg = "-" if sign < 0 else ""
    per_tier = (
        "".join(f", {neg}delivered_us * (tier = {code}) AS d{code}" for code in _TIER_CODES)
        if tiers
        else ""
    )
    return (
        f"SELECT asset_key, {neg}delivered_us AS d{per_tier} FROM {table} "
        f"WHERE {where} AND bucket >= {int(lo)} AND bucket < {int(hi)} "
        "AND tier > 0 AND asset_key != 0"
    )


def rolling_scan(table: str, gen: int, sign: int, where: str, *, tiers: bool = True) -> str:
    """(asset_key, d, d1..d5) rows of one generation of the rolling table, times `sign` (d
    only unless `tiers`)."""
    neg = "-" if sign < 0 else ""
    columns = ", ".join(
        f"{neg}{measure} AS d{'' if measure == 'total' else measure[1:]}"
        for measure in (ROLLING_MEASURES if tiers else ROLLING_MEASURES[:1])
    )
    return f"SELECT asset_key, {columns} FROM {table} WHERE {where} AND gen = {int(gen)}"


def summed(scans: list[str], *, tiers: bool = True) -> str:
    """Per asset: sums of the (asset_key, d, d1..d5) rows of `scans`, as total (and t1..t5)."""
    per_tier = "".join(f", sum(d{code}) AS t{code}" for code in _TIER_CODES) if tiers else ""
    return (
        f"SELECT asset_key, sum(d) AS total{per_tier} "
        f"FROM ({' UNION ALL '.join(scans)}) AS usage GROUP BY asset_key"
    )


class ClickHouseRollingMixin:
    """rolling_window, set_rolling_window, and the upkeep of generations by writers."""

    _q: Any
    _conn: Any
    database: str
    cluster: str | None

    def rolling_window(self) -> tuple[int, int]:
        done = self._newest_generation(done_only=True)
        return (done[1], done[2]) if done else (0, 0)

    def set_rolling_window(self, start_hour: int, end_hour: int) -> bool:
        lock = self._lock("rolling")  # type: ignore[attr-defined]
        lock.acquire()
        try:
            newest = self._newest_generation(done_only=False)
            envs = [env.env_key for env in self.list_environments()]  # type: ignore[attr-defined]
            if newest and (newest[1], newest[2]) == (start_hour, end_hour):
                gen = newest[0]
                filled = {row[0] for row in self._q(
                    f"SELECT DISTINCT env_key FROM rolling_fills WHERE gen = {int(gen)}"
                )}  # fmt: skip
                todo = [key for key in envs if key not in filled]
                if not todo and newest[3]:
                    return False
            else:
                gen = (newest[0] if newest else 0) + 1
                self._mark_generation(gen, start_hour, end_hour, done=False)
                todo = envs
            for env_key in todo:
                with self._env_lock(env_key):  # type: ignore[attr-defined]
                    self._fill_generation(env_key, gen, start_hour, end_hour)
            previous = self._newest_generation(done_only=True)
            self._mark_generation(gen, start_hour, end_hour, done=True)
            if previous and previous[0] < gen:
                self._drop_generations_before(previous[0])
            return True
        finally:
            lock.release()

    # -- generations -----------------------------------------------------------------------
    def _newest_generation(self, *, done_only: bool) -> tuple[int, int, int, int] | None:
        """(gen, lo_hour, hi_hour, done) of the newest generation (done ones only)."""
        having = "HAVING max(done) = 1 " if done_only else ""
        rows = self._q(
            "SELECT gen, any(lo_hour), any(hi_hour), max(done) FROM rolling_gens "
            f"GROUP BY gen {having}ORDER BY gen DESC LIMIT 1"
        )
        return tuple(int(v) for v in rows[0]) if rows else None  # type: ignore[return-value]

    def _mark_generation(self, gen: int, lo: int, hi: int, *, done: bool) -> None:
        self._conn.insert(
            "rolling_gens", ["gen", "lo_hour", "hi_hour", "done", "at"],
            [(gen, lo, hi, int(done), _now_s())],
        )  # fmt: skip

    def _generations(self, env_key: int) -> list[tuple[int, int, int]]:
        """(gen, lo_hour, hi_hour) of the generations filled for the environment."""
        rows = self._q(
            "SELECT DISTINCT gen, lo_hour, hi_hour FROM rolling_fills "
            f"WHERE env_key = {int(env_key)} ORDER BY gen"
        )
        return [(int(g), int(lo), int(hi)) for g, lo, hi in rows]

    def _fill_generation(self, env_key: int, gen: int, lo: int, hi: int) -> None:
        """Make the environment's rows of `gen` equal the calendar rollups over [lo, hi)
        (under its writer lock): retract what is there (a mover that died, or a refill),
        then add the sums; then record the fill (once)."""
        where = f"env_key = {int(env_key)}"
        negated = ", ".join(f"-sum({m})" for m in ROLLING_MEASURES)
        nonzero = " OR ".join(f"sum({m}) != 0" for m in ROLLING_MEASURES)
        self._q(
            f"INSERT INTO usage_rolling (env_key, gen, asset_key, {_SUMS}) "
            f"SELECT env_key, gen, asset_key, {negated} FROM usage_rolling "
            f"WHERE {where} AND gen = {int(gen)} GROUP BY env_key, gen, asset_key "
            f"HAVING {nonzero}"
        )
        scans = [calendar_scan(t, a, b, 1, where) for t, a, b in split_window(lo, hi)]
        if scans:
            self._q(
                f"INSERT INTO usage_rolling (env_key, gen, asset_key, {_SUMS}) "
                f"SELECT {int(env_key)}, {int(gen)}, asset_key, total, t1, t2, t3, t4, t5 "
                f"FROM ({summed(scans)}) AS sums WHERE total != 0"
            )
        if gen not in {g for g, _, _ in self._generations(env_key)}:
            self._conn.insert(
                "rolling_fills", ["env_key", "gen", "lo_hour", "hi_hour", "at"],
                [(env_key, gen, lo, hi, _now_s())],
            )  # fmt: skip

    def _refill_generations(self, env_key: int) -> None:
        """After `recover` or `rebuild` changed rollups wholesale (under the writer lock)."""
        for gen, lo, hi in self._generations(env_key):
            self._fill_generation(env_key, gen, lo, hi)

    def _apply_rolling(
        self,
        env_key: int,
        where: str,
        params: dict[str, Any],
        sign: int,
        hours: tuple[int, int] | None = None,
    ) -> None:
        """Add the deltas of the records matching `where` to every generation filled for the
        environment (its writer holds the lock); `hours` (first, last): skip generations the
        records cannot touch."""
        gens = [
            (gen, lo, hi)
            for gen, lo, hi in self._generations(env_key)
            if hours is None or (hours[0] < hi and lo <= hours[1])
        ]
        if not gens:
            return
        windows = "[" + ", ".join(f"({g}, {lo}, {hi})" for g, lo, hi in gens) + "]"
        s = int(sign)
        tiers = ", ".join(f"{s} * sumIf(seconds_us, tier = {c})" for c in _TIER_CODES)
        self._q(
            f"""
            INSERT INTO usage_rolling (env_key, gen, asset_key, {_SUMS})
            SELECT env_key, tupleElement(w, 1) AS g, asset_key, {s} * sum(seconds_us), {tiers}
            FROM (
                SELECT env_key, hour, asset_key, tier, seconds_us, arrayJoin({windows}) AS w
                FROM ({attributed_sql(where)}) AS attributed
                WHERE origin = 0 AND tier > 0 AND asset_key != 0
            ) AS spread
            WHERE hour >= tupleElement(w, 2) AND hour < tupleElement(w, 3)
            GROUP BY env_key, g, asset_key
            """,
            {"envs": (env_key,), **params},
        )

    def _drop_generations_before(self, gen: int) -> None:
        """Drop the partitions of every generation older than `gen`, on every node."""
        suffix = "_local" if self.cluster else ""
        for host, port in self._nodes():  # type: ignore[attr-defined]
            conn = self._chdb_or(host, port)  # type: ignore[attr-defined]
            try:
                for table in ("usage_rolling", "rolling_fills"):
                    rows = conn.execute(
                        "SELECT DISTINCT partition FROM system.parts WHERE active "
                        f"AND database = '{self.database}' AND table = '{table}{suffix}'"
                    )
                    for (partition,) in rows:
                        if int(partition) < gen:
                            conn.execute(
                                f"ALTER TABLE {self.database}.{table}{suffix} "
                                f"DROP PARTITION {int(partition)}"
                            )
            finally:
                conn.close()


def _now_s() -> int:
    return now_us() // US_PER_SECOND
