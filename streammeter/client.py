"""A small Python client for streammeter (docs/client.md).

    from streammeter.client import Client

    with Client("http://127.0.0.1:8000", token=("TOKEN_ID", "SECRET")) as sm:
        for row in sm.iter_usage(start="2026-11-01T00:00:00Z", end="2026-11-08T00:00:00Z",
                                 granularity="day", timezone="Europe/Paris", group_by=["asset"]):
            print(row.bucket_start, row.asset_id, row.delivered_seconds)

`AsyncClient` has the same methods, as coroutines and async iterators. Requests that fail with
429 or 5xx, or cannot connect, are retried with exponential backoff (honouring `Retry-After`);
other errors raise `ApiError` with the status, the error type and the server's messages.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "ApiError",
    "AsyncClient",
    "Change",
    "Client",
    "ConnectionFailed",
    "DeliveryUsageRow",
    "StreammeterError",
    "UsageRow",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class StreammeterError(Exception):
    """Base of the client's errors."""


class ApiError(StreammeterError):
    """The server answered with an error: `status`, `type` (e.g. `invalid_parameters`) and
    `messages` from its error envelope."""

    def __init__(self, status: int, type_: str, messages: list[str], method: str, url: str):
        self.status, self.type, self.messages = status, type_, messages
        self.method, self.url = method, url
        detail = "; ".join(messages) or "no message"
        super().__init__(f"{method} {url} -> {status} {type_}: {detail}")


class ConnectionFailed(StreammeterError):
    """The server could not be reached, after every retry."""


@dataclass(frozen=True)
class UsageRow:
    """A row of `GET /v1/usage`. Group columns are None unless grouped by them."""

    bucket_start: str
    bucket_end: str
    status: str
    revision: int
    delivered_seconds: float
    bytes: int
    egress_seconds: float
    egress_bytes: int
    requests: int
    delivered_seconds_by_tier: dict[str, float] = field(default_factory=dict)
    asset_id: str | None = None
    live_stream_id: str | None = None
    tier: str | None = None
    environment: str | None = None
    resource: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UsageRow:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["delivered_seconds_by_tier"] = dict(data.get("delivered_seconds_by_tier") or {})
        return cls(**known)


@dataclass(frozen=True)
class DeliveryUsageRow:
    """A row of Mux's delivery usage (`GET /video/v1/delivery-usage`)."""

    asset_id: str
    delivered_seconds: float
    delivered_seconds_by_resolution: dict[str, float]
    asset_duration: float | None = None
    asset_state: str | None = None
    asset_resolution_tier: str | None = None
    live_stream_id: str | None = None
    created_at: str | None = None
    deleted_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeliveryUsageRow:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "raw"}
        known.setdefault("delivered_seconds", 0.0)
        known["delivered_seconds_by_resolution"] = dict(
            data.get("delivered_seconds_by_resolution") or {}
        )
        return cls(**known, raw=dict(data))


@dataclass(frozen=True)
class Change:
    """An hour whose numbers changed (`GET /v1/usage/changes`)."""

    hour: str
    hour_epoch: int
    revision: int
    status: str
    changed_at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _error(response: httpx.Response) -> ApiError:
    type_, messages = "error", [response.reason_phrase or ""]
    try:
        body = response.json()
        error = body.get("error", {}) if isinstance(body, dict) else {}
        type_ = error.get("type", type_)
        messages = list(error.get("messages") or messages)
    except ValueError:
        if response.text:
            messages = [response.text[:500]]
    return ApiError(
        response.status_code, type_, messages, response.request.method, str(response.request.url)
    )


def _usage_params(
    start: str | int, end: str | int, granularity: str, timezone: str,
    group_by: Sequence[str], asset_ids: Sequence[str], live_stream_ids: Sequence[str],
    tiers: Sequence[str], limit: int,
) -> dict[str, Any]:  # fmt: skip
    params: dict[str, Any] = {
        "from": str(start), "to": str(end), "granularity": granularity, "timezone": timezone,
        "limit": limit,
    }  # fmt: skip
    for name, values in (("group_by", group_by), ("asset_id", asset_ids),
                         ("live_stream_id", live_stream_ids), ("tier", tiers)):  # fmt: skip
        if values:
            params[name] = list(values)
    return params


class _Base:
    def __init__(
        self,
        base_url: str,
        token: tuple[str, str] | None,
        retries: int,
        backoff: float,
        max_backoff: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        hinted = _retry_after(response) if response is not None else None
        if hinted is not None:
            return min(hinted, self.max_backoff)
        exp = self.backoff * (2**attempt)
        return min(self.max_backoff, exp * (0.5 + random.random() / 2))


class Client(_Base):
    """Synchronous client. `transport` is for tests (e.g. `httpx.MockTransport`)."""

    def __init__(
        self,
        base_url: str,
        token: tuple[str, str] | None = None,
        *,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, retries, backoff, max_backoff)
        self._http = httpx.Client(
            base_url=self.base_url, auth=token, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with retries; raises ApiError / ConnectionFailed."""
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise ConnectionFailed(f"{method} {self.base_url}{path}: {exc}") from exc
                time.sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                time.sleep(self._delay(attempt, response))
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")

    def usage_page(self, **params: Any) -> dict[str, Any]:
        """One raw page of `GET /v1/usage` (JSON)."""
        return self.request("GET", "/v1/usage", params=params).json()

    def iter_usage(
        self,
        start: str | int,
        end: str | int,
        *,
        granularity: str = "day",
        timezone: str = "UTC",
        group_by: Sequence[str] = (),
        asset_ids: Sequence[str] = (),
        live_stream_ids: Sequence[str] = (),
        tiers: Sequence[str] = (),
        page_size: int = 1000,
    ) -> Iterator[UsageRow]:
        """Every row of `GET /v1/usage`, following cursors."""
        params = _usage_params(start, end, granularity, timezone, group_by, asset_ids,
                               live_stream_ids, tiers, page_size)  # fmt: skip
        while True:
            body = self.usage_page(**params)
            for row in body["data"]:
                yield UsageRow.from_json(row)
            if not body.get("next_cursor"):
                return
            params["cursor"] = body["next_cursor"]

    def changes(self, since: int = 0) -> tuple[list[Change], int]:
        """Every hour changed since revision `since`, and the current revision."""
        out, params = [], {"since": since}
        while True:
            body = self.request("GET", "/v1/usage/changes", params=params).json()
            out += [Change.from_json(c) for c in body["data"]]
            if not body.get("next_cursor"):
                return out, int(body["revision"])
            params["cursor"] = body["next_cursor"]

    def explain(self, asset_id: str, hour: str | int, tier: str | None = None) -> dict[str, Any]:
        params = {"asset_id": asset_id, "hour": str(hour)} | ({"tier": tier} if tier else {})
        return self.request("GET", "/v1/usage/explain", params=params).json()["data"]

    def iter_delivery_usage(
        self,
        timeframe: tuple[int, int] | None = None,
        *,
        asset_id: str | None = None,
        live_stream_id: str | None = None,
        page_size: int = 100,
    ) -> Iterator[DeliveryUsageRow]:
        """Every row of the Mux-compatible delivery usage, page by page."""
        page = 1
        seen = 0
        while True:
            params = _mux_params(timeframe, asset_id, live_stream_id, page, page_size)
            body = self.request("GET", "/video/v1/delivery-usage", params=params).json()
            rows = body.get("data") or []
            for row in rows:
                yield DeliveryUsageRow.from_json(row)
            seen += len(rows)
            if not rows or seen >= int(body.get("total_row_count") or 0):
                return
            page += 1


def _mux_params(
    timeframe: tuple[int, int] | None, asset_id: str | None, live_stream_id: str | None,
    page: int, limit: int,
) -> list[tuple[str, str | int]]:  # fmt: skip
    params: list[tuple[str, str | int]] = [("page", page), ("limit", limit)]
    if timeframe:
        params += [("timeframe[]", timeframe[0]), ("timeframe[]", timeframe[1])]
    if asset_id:
        params.append(("asset_id", asset_id))
    if live_stream_id:
        params.append(("live_stream_id", live_stream_id))
    return params


class AsyncClient(_Base):
    """Asynchronous client: the same methods as `Client`, awaited / async-iterated."""

    def __init__(
        self,
        base_url: str,
        token: tuple[str, str] | None = None,
        *,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, retries, backoff, max_backoff)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, auth=token, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise ConnectionFailed(f"{method} {self.base_url}{path}: {exc}") from exc
                await asyncio.sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, response))
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")

    async def iter_usage(
        self,
        start: str | int,
        end: str | int,
        *,
        granularity: str = "day",
        timezone: str = "UTC",
        group_by: Sequence[str] = (),
        asset_ids: Sequence[str] = (),
        live_stream_ids: Sequence[str] = (),
        tiers: Sequence[str] = (),
        page_size: int = 1000,
    ) -> AsyncIterator[UsageRow]:
        params = _usage_params(start, end, granularity, timezone, group_by, asset_ids,
                               live_stream_ids, tiers, page_size)  # fmt: skip
        while True:
            body = (await self.request("GET", "/v1/usage", params=params)).json()
            for row in body["data"]:
                yield UsageRow.from_json(row)
            if not body.get("next_cursor"):
                return
            params["cursor"] = body["next_cursor"]

    async def changes(self, since: int = 0) -> tuple[list[Change], int]:
        out, params = [], {"since": since}
        while True:
            body = (await self.request("GET", "/v1/usage/changes", params=params)).json()
            out += [Change.from_json(c) for c in body["data"]]
            if not body.get("next_cursor"):
                return out, int(body["revision"])
            params["cursor"] = body["next_cursor"]

    async def explain(
        self, asset_id: str, hour: str | int, tier: str | None = None
    ) -> dict[str, Any]:
        params = {"asset_id": asset_id, "hour": str(hour)} | ({"tier": tier} if tier else {})
        return (await self.request("GET", "/v1/usage/explain", params=params)).json()["data"]

    async def iter_delivery_usage(
        self,
        timeframe: tuple[int, int] | None = None,
        *,
        asset_id: str | None = None,
        live_stream_id: str | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[DeliveryUsageRow]:
        page, seen = 1, 0
        while True:
            params = _mux_params(timeframe, asset_id, live_stream_id, page, page_size)
            response = await self.request("GET", "/video/v1/delivery-usage", params=params)
            body = response.json()
            rows = body.get("data") or []
            for row in rows:
                yield DeliveryUsageRow.from_json(row)
            seen += len(rows)
            if not rows or seen >= int(body.get("total_row_count") or 0):
                return
            page += 1
