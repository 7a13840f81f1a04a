"""Connections to ClickHouse: a server over the native protocol (clickhouse-driver), or the
in-process engine `chdb` (tests only). Both run the same SQL text.

Parameters are substituted here, client side, into SQL literals (`{name}` placeholders are
never used; `%(name)s` is), so the two engines see byte-identical statements. A connection
is used by one thread at a time: the store keeps one per thread (clickhouse-driver clients
are not thread safe).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 9000
DEFAULT_DATABASE = "streammeter"
# Settings sent with every statement. Inserts into Distributed tables are synchronous: when the
# INSERT returns, the rows are on their shards and visible to the next read (exact dedupe).
SESSION_SETTINGS = {"insert_distributed_sync": 1, "max_query_size": 64 * 1024 * 1024}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ClickHouseURL:
    """`clickhouse://user:password@host:port/database?cluster=NAME` (port: native TCP)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    user: str = "default"
    password: str = ""
    database: str = DEFAULT_DATABASE
    cluster: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> ClickHouseURL:
        parts = urlsplit(url)
        if parts.scheme not in ("clickhouse", "chdb"):
            raise ValueError(f"not a clickhouse:// URL: {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        database = unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE
        cluster = query.pop("cluster", None) or None
        for name in (database, cluster):
            if name is not None and not _IDENT.match(name):
                raise ValueError(f"database and cluster names must be identifiers, got {name!r}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or DEFAULT_PORT,
            user=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=database,
            cluster=cluster,
            extra=query,
        )

    def redacted(self) -> str:
        auth = self.user + (":***" if self.password else "")
        tail = f"?cluster={self.cluster}" if self.cluster else ""
        return f"clickhouse://{auth}@{self.host}:{self.port}/{self.database}{tail}"


def literal(value: Any) -> str:
    """A Python value as a ClickHouse SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return "'" + escaped + "'"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return "(" + ", ".join(literal(v) for v in items) + ")"
    raise TypeError(f"cannot write {type(value).__name__} as a SQL literal")


def substitute(sql: str, params: Mapping[str, Any] | None) -> str:
    """`sql` with `%(name)s` replaced by literals. Always %-formatted, so a literal `%` in the
    text is written `%%` (as `in_list` writes the values it inlines)."""
    return sql % {name: literal(value) for name, value in (params or {}).items()}


def inline(value: Any) -> str:
    """A literal to write straight into SQL text (`%` doubled: the text is %-formatted)."""
    return literal(value).replace("%", "%%")


def in_list(values: Sequence[Any]) -> str:
    """`(v1, v2, ...)` for `x IN ...`, to inline into SQL text; an impossible list when
    empty."""
    if not values:
        return "(NULL)"
    return "(" + ", ".join(inline(v) for v in values) + ")"


class Connection(Protocol):
    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]: ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def execute_counted(self, sql: str) -> tuple[list[tuple], int | None]:
        """The rows of a SELECT ending in LIMIT, and how many rows its LIMIT cut from (the
        server's `rows_before_limit`), or None where the engine does not report it."""
        ...

    def close(self) -> None: ...


def _transient_read_error(exc: Exception) -> bool:
    """Errors of ClickHouse 18.16 between its own servers that the same read does not meet
    again: the temporary table a GLOBAL IN sends to a shard lost (code 60, "Table
    default._data1 doesn't exist"), or a shard's connection out of step (code 101,
    "Unexpected packet Data received from client"), both seen under request floods."""
    code, message = getattr(exc, "code", None), str(exc)
    return (code == 60 and "._data" in message) or (
        code == 101 and "Unexpected packet" in message
    )


class DriverConnection:
    """One clickhouse-driver client (native protocol)."""

    def __init__(self, url: ClickHouseURL, *, database: str | None = None, host: str | None = None,
                 port: int | None = None) -> None:  # fmt: skip
        try:
            from clickhouse_driver import Client
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the ClickHouse store needs clickhouse-driver: "
                "pip install 'streammeter[clickhouse]'"
            ) from exc
        self._client = Client(
            host=host or url.host,
            port=port or url.port,
            user=url.user,
            password=url.password,
            database=url.database if database is None else database,
            settings=dict(SESSION_SETTINGS),
            connect_timeout=10,
            send_receive_timeout=600,
        )

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        text = substitute(sql, params)
        try:
            return self._client.execute(text)
        except Exception as exc:
            if not (_transient_read_error(exc) and text.lstrip().upper().startswith("SELECT")):
                raise
            return self._client.execute(text)  # a read: running it again is safe

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._client.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", list(rows))

    def execute_counted(self, sql: str) -> tuple[list[tuple], int | None]:
        rows = self.execute(sql)
        info = self._client.last_query.profile_info if self._client.last_query else None
        if info is None or not info.calculated_rows_before_limit:
            return rows, None
        return rows, int(info.rows_before_limit)

    def iterate(
        self, sql: str, params: Mapping[str, Any] | None = None, block_rows: int = 65_536
    ) -> Iterator[tuple]:
        """The rows of a SELECT as the server streams them (blocks of `block_rows`): memory
        does not grow with the result. The connection runs nothing else meanwhile."""
        return self._client.execute_iter(
            substitute(sql, params), settings={"max_block_size": block_rows}
        )

    def close(self) -> None:
        self._client.disconnect()


class ChdbConnection:
    """The in-process engine (chdb): same SQL, one session directory. Tests only."""

    def __init__(self, path: str, database: str = DEFAULT_DATABASE) -> None:
        from chdb import session as chs

        self._session = chs.Session(path)
        self._session.query(f"SET max_query_size = {SESSION_SETTINGS['max_query_size']}")
        self._session.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        self._session.query(f"USE {database}")

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        text = substitute(sql, params)
        result = self._session.query(text, "ArrowTable")
        if result is None or not hasattr(result, "num_columns") or result.num_columns == 0:
            return []
        columns = [column.to_pylist() for column in result.columns]
        return list(zip(*columns, strict=True))

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        for start in range(0, len(rows), 5000):
            values = ", ".join(literal(tuple(row)) for row in rows[start : start + 5000])
            self._session.query(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}")

    def execute_counted(self, sql: str) -> tuple[list[tuple], int | None]:
        return self.execute(sql), None

    def close(self) -> None:
        self._session.close()
