"""Request limits (docs/security.md): body and header sizes, and per-token rate limits.

- `RequestLimits`, an ASGI middleware, answers **413** to a body larger than
  `STREAMMETER_MAX_BODY_BYTES` (by its `Content-Length`, or counted as it streams) and **431**
  to headers larger than `STREAMMETER_MAX_HEADER_BYTES` in all, before any route runs.
- `RateLimiter` is a token bucket per access token: `STREAMMETER_RATE_LIMIT_PER_MINUTE`
  requests a minute, `STREAMMETER_RATE_LIMIT_BURST` at once. It is consulted after the
  credentials verify, so only a token's holder can spend its budget; over it, **429** with
  `Retry-After` (whole seconds).

Errors use the envelope of the API the path belongs to: Wowza's `meta` under `/api/`, Mux's
`{"error": {"type", "messages"}}` elsewhere.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streammeter.api.errors import ApiError, JSONResponse
from streammeter.config import Settings

WOWZA_PREFIX = "/api/"
_MAX_BUCKETS = 100_000  # idle (full) buckets are dropped past this many


def is_wowza(path: str) -> bool:
    return path.startswith(WOWZA_PREFIX)


def wowza_body(status: int, code: str, title: str, message: str, description: str) -> dict:
    return {
        "meta": {
            "status": status,
            "code": code,
            "title": title,
            "message": message,
            "description": description,
            "links": [],
        }
    }


def error_response(
    path: str,
    status: int,
    mux_type: str,
    title: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """`message` in the envelope of the API `path` belongs to."""
    if is_wowza(path):
        code = f"ERR-{status}-" + title.title().replace(" ", "")
        body: dict[str, Any] = wowza_body(status, code, title, f"{title}.", message)
    else:
        body = {"error": {"type": mux_type, "messages": [message]}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


# -- rate limits ------------------------------------------------------------------------------
class RateLimiter:
    """Token buckets by key: `per_minute` requests a minute, `burst` at once (default: one
    minute's worth). Thread-safe (sync routes run in a thread pool)."""

    def __init__(
        self, per_minute: int, burst: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = max(per_minute, 0)
        self.rate = self.per_minute / 60.0
        self.capacity = float(burst if burst > 0 else self.per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0 when it may go on, else the seconds to wait."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > _MAX_BUCKETS:
                self._prune(now)
        return wait

    def _prune(self, now: float) -> None:
        refill = self.capacity / self.rate
        self._buckets = {
            key: (tokens, last)
            for key, (tokens, last) in self._buckets.items()
            if now - last < refill
        }


def limiter(request: Any) -> RateLimiter | None:
    return getattr(request.app.state, "rate_limiter", None)


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


def limit_message(per_minute: int, wait: float) -> str:
    return (
        f"Too many requests: this token may send {per_minute} requests per minute; "
        f"retry in {retry_after(wait)} s"
    )


def check_token_rate(request: Any, token_id: str) -> None:
    """Spend one request of a verified Mux/native token; ApiError 429 when over its limit.
    Behind front processes (api/owner.py) the fronts keep the token buckets."""
    if getattr(request.app.state, "fronts_limit_tokens", False):
        return
    rate = limiter(request)
    if rate is None or not rate.enabled:
        return
    wait = rate.acquire("token:" + token_id)
    if wait > 0:
        raise ApiError(
            429,
            "too_many_requests",
            [limit_message(rate.per_minute, wait)],
            headers={"Retry-After": retry_after(wait)},
        )


def wowza_credential_key(headers: Mapping[str, str]) -> str:
    """The bucket of verified Wowza credentials: the bearer token, else the access key.
    Hashed, so that no credential is kept in memory longer than the request."""
    authorization = (headers.get("authorization") or "").strip()
    credential = authorization or "wsc:" + (headers.get("wsc-access-key") or "").strip()
    return "wowza:" + hashlib.sha256(credential.encode()).hexdigest()


def wowza_rate_limited(request: Any) -> JSONResponse | None:
    """The 429 answer (Wowza's envelope) when the request's verified credentials are over
    their limit, else None."""
    rate = limiter(request)
    if rate is None or not rate.enabled:
        return None
    wait = rate.acquire(wowza_credential_key(request.headers))
    if wait <= 0:
        return None
    return error_response(
        request.url.path,
        429,
        "too_many_requests",
        "Too Many Requests",
        limit_message(rate.per_minute, wait),
        {"Retry-After": retry_after(wait)},
    )


# -- sizes ------------------------------------------------------------------------------------
class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload_too_large", [f"the body is larger than {limit} bytes"])


class RequestLimits:
    """Rejects oversized headers (431) and bodies (413) before, or while, the app reads them."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_headers = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if self.max_headers and sum(len(k) + len(v) for k, v in headers) > self.max_headers:
            response = error_response(
                path, 431, "request_header_fields_too_large", "Request Header Fields Too Large",
                f"the request headers are larger than {self.max_headers} bytes in all",
            )  # fmt: skip
            await response(scope, receive, send)
            return
        if not self.max_body:
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in headers if k == b"content-length"), b"")
        if length.strip().isdigit() and int(length) > self.max_body:
            await self._too_large(path, scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(path, scope, receive, send)

    async def _too_large(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            path, 413, "payload_too_large", "Payload Too Large",
            f"the body is larger than {self.max_body} bytes",
        )  # fmt: skip
        await response(scope, receive, send)


def install(app: Any) -> None:
    """The size middleware and the rate limiter, from `app.state.settings`."""
    settings: Settings = app.state.settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
    )
