"""A front process of `serve --workers N` on a DuckDB store (docs/design/fronts.md).

Fronts share the public listening socket. Each one

- verifies the access token of every request that carries one (remembered, as the owner does,
  until the next write that is not an import) and spends from its rate-limit bucket;
- answers a repeated `GET /video/v1/delivery-usage` from its own answer cache
  (query/mux_cache.py, the owner's write generations read from a shared file, a window's hour
  revisions asked of the owner), so cached answers cost the owner nothing;
- passes every other request to the owner, on its private Unix socket, unchanged, streaming
  the body both ways;
- adds what it answered itself to the owner's `GET /metrics`.

Run by the owner (`api/owner.py`), never by hand: `python -m streammeter.api.front --fd N ...`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator
from functools import partial

import httpx
import uvicorn
from prometheus_client import CollectorRegistry, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.types import Message, Receive, Scope, Send

from streammeter.api.limits import (
    RateLimiter,
    error_response,
    is_wowza,
    limit_message,
    retry_after,
)
from streammeter.api.metrics import REGISTRY, REQUEST_LATENCY
from streammeter.api.owner import INTERNAL_PREFIX
from streammeter.config import Settings
from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.query.delivery_usage import HOUR, InvalidParameters, parse_query
from streammeter.query.mux_cache import UsageCache
from streammeter.store.base import TokenInfo
from streammeter.store.generations import SharedGenerations

USAGE_PATH = "/video/v1/delivery-usage"
# Not passed on: they describe one connection, or the server that sends them.
_HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"te", b"trailer"}
_SERVER_HEADERS = _HOP_BY_HOP | {b"date", b"server"}
_OWNER_URL = "http://owner"


class OwnerView:
    """What a front's `UsageCache` needs of the store, from the owner: the write generations
    and the floors of recent writes (shared file), and a window's hour revisions (asked on the
    private socket)."""

    def __init__(self, client: httpx.Client, generations: SharedGenerations) -> None:
        self._client, self._generations = client, generations

    def write_generations(self) -> tuple[int, int]:
        return self._generations.read()

    def changed_floor(self, since: int, until: int) -> int | None:
        return self._generations.floor_since(since, until)

    def hour_revisions(self, env_key: int, lo_hour: int, hi_hour: int) -> dict[int, int]:
        params = {"env": env_key, "lo": lo_hour, "hi": hi_hour}
        response = self._client.get(f"{INTERNAL_PREFIX}/hour-revisions", params=params)
        response.raise_for_status()
        return {hour: revision for hour, revision in response.json()}


class _NotCacheable(Exception):
    """The owner did not answer 200: the request is passed on as it is instead (and the
    owner's answer, an error envelope, is sent)."""


class FrontApp:
    """The ASGI app of a front process."""

    def __init__(self, owner_socket: str, generations: SharedGenerations, settings: Settings):
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self._sync = httpx.Client(
            transport=httpx.HTTPTransport(uds=owner_socket), base_url=_OWNER_URL, timeout=None
        )
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=owner_socket),
            base_url=_OWNER_URL,
            timeout=None,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        # With STREAMMETER_MUX_CACHE_MB=0 nothing is cached, but callers are still remembered.
        self.cache = UsageCache(OwnerView(self._sync, generations), settings.mux_cache_mb << 20)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            await self._answer(scope, receive, send)
        except httpx.TransportError:  # raised before anything was sent
            response = error_response(
                scope["path"], 502, "bad_gateway", "Bad Gateway",
                "the store's owner process did not answer; retry shortly",
            )  # fmt: skip
            await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        token = await self._token(scope)
        if token is not None:
            wait = self.limiter.acquire("token:" + token.token_id)
            if wait > 0:
                await self._too_many(scope, receive, send, wait)
                return
            if scope["method"] == "GET" and scope["path"] == USAGE_PATH:
                body, asked_owner = await self._usage(scope, token)
                if body is not None:
                    await _send_json(send, body)
                    if not asked_owner:  # else the owner counted it
                        REQUEST_LATENCY.labels("GET", USAGE_PATH, "200").observe(
                            time.perf_counter() - started
                        )
                    return
        if scope["method"] == "GET" and scope["path"] == "/metrics":
            await self._metrics(send)
            return
        await self._pass_on(scope, receive, send)

    # -- callers -----------------------------------------------------------------------------
    async def _token(self, scope: Scope) -> TokenInfo | None:
        """The verified token of a Mux or native request that sends one, else None."""
        if is_wowza(scope["path"]):
            return None  # Wowza credentials: verified and limited by the owner
        header = _header(scope, b"authorization")
        if header[:6].lower() != "basic ":
            return None
        token = self.cache.token(header)
        if token is None:
            catalog = self.cache.catalog_generation()  # read first (query/mux_cache.py)
            answer = await self._client.post(
                f"{INTERNAL_PREFIX}/token", headers={"authorization": header}
            )
            if answer.status_code != 200:
                return None  # the owner answers the request itself, with its error
            info = answer.json()
            token = TokenInfo(**(info | {"scopes": frozenset(info["scopes"])}))
            self.cache.remember_token(header, token, catalog)
        return token

    async def _too_many(self, scope: Scope, receive: Receive, send: Send, wait: float) -> None:
        response = error_response(
            scope["path"], 429, "too_many_requests", "Too Many Requests",
            limit_message(self.limiter.per_minute, wait), {"Retry-After": retry_after(wait)},
        )  # fmt: skip
        await response(scope, receive, send)

    # -- the cached Mux answers ----------------------------------------------------------------
    async def _usage(self, scope: Scope, token: TokenInfo) -> tuple[bytes | None, bool]:
        """The answer from the cache (asked of the owner on a miss), or None to pass the
        request on (a scope or parameter error: the owner words it); and whether the owner
        was asked."""
        readable = "read" in token.scopes or "admin" in token.scopes
        if self.cache.max_bytes <= 0 or not readable:
            return None, False  # no cache (STREAMMETER_MUX_CACHE_MB=0), or a 403 to word
        items = QueryParams(scope["query_string"]).multi_items()
        try:
            query = parse_query(items, now_us() // US_PER_SECOND, self.settings)
        except InvalidParameters:
            return None, False
        start, end, key = query.start // HOUR, query.end // HOUR, (token.env_key, query)
        body = self.cache.peek(token.env_key, start, end, key)
        if body is not None:
            return body, False
        asked: list[bool] = []
        fetch = partial(self._fetch_usage, scope, asked)
        try:
            body = await run_in_threadpool(
                self.cache.get_or_compute, token.env_key, start, end, key, fetch
            )
        except (_NotCacheable, httpx.HTTPStatusError):
            return None, True
        return body, bool(asked)

    def _fetch_usage(self, scope: Scope, asked: list[bool]) -> bytes:
        asked.append(True)
        url = USAGE_PATH + "?" + scope["query_string"].decode("latin-1")
        answer = self._sync.get(url, headers={"authorization": _header(scope, b"authorization")})
        if answer.status_code != 200:
            raise _NotCacheable
        return answer.content

    # -- everything else ---------------------------------------------------------------------
    async def _pass_on(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k not in _HOP_BY_HOP]
        has_body = any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        target = scope.get("raw_path") or scope["path"].encode()
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        request = self._client.build_request(
            scope["method"],
            target.decode("latin-1"),
            headers=headers,
            content=_body(receive) if has_body else None,
        )
        answer = await self._client.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status_code,
                    "headers": [
                        (k.lower(), v)
                        for k, v in answer.headers.raw
                        if k.lower() not in _SERVER_HEADERS
                    ],
                }
            )
            async for chunk in answer.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await answer.aclose()

    async def _metrics(self, send: Send) -> None:
        answer = await self._client.get("/metrics")
        body = merged_metrics(answer.text, REGISTRY) if answer.is_success else answer.content
        headers = [
            (b"content-type", answer.headers.get("content-type", "text/plain").encode()),
            (b"content-length", b"%d" % len(body)),
        ]
        start = {"type": "http.response.start", "status": answer.status_code, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body})

    # -- lifetime ------------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._client.aclose()
                self._sync.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _send_json(send: Send, body: bytes, status: int = 200) -> None:
    headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def merged_metrics(owner_text: str, registry: CollectorRegistry) -> bytes:
    """The owner's exposition with this process's counters and histograms added in: samples
    with the same name and labels are summed (`_created` keeps the earliest), others appended."""
    families: dict[str, Metric] = {f.name: f for f in text_string_to_metric_families(owner_text)}
    for mine in registry.collect():
        family = families.get(mine.name)
        if family is None:
            families[mine.name] = mine
            continue
        index = {(s.name, tuple(sorted(s.labels.items()))): i for i, s in enumerate(family.samples)}
        for sample in mine.samples:
            at = index.get((sample.name, tuple(sorted(sample.labels.items()))))
            if at is None:
                family.samples.append(sample)
            elif sample.name.endswith("_created"):
                old = family.samples[at]
                family.samples[at] = old._replace(value=min(old.value, sample.value))
            else:
                old = family.samples[at]
                family.samples[at] = old._replace(value=old.value + sample.value)

    class _Merged:
        def collect(self):  # type: ignore[no-untyped-def]
            return list(families.values())

    merged = CollectorRegistry()
    merged.register(_Merged())  # type: ignore[arg-type]
    return generate_latest(merged)


def _exit_with_owner(owner_pid: int) -> None:
    """Stop this front (as SIGTERM would) once the owner is gone, even if it was killed."""
    while os.getppid() == owner_pid:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streammeter.api.front")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket")
    parser.add_argument("--owner-socket", required=True)
    parser.add_argument("--generations", required=True)
    parser.add_argument("--owner-pid", type=int, required=True)
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    listener = socket.socket(fileno=args.fd)
    generations = SharedGenerations(args.generations)
    app = FrontApp(args.owner_socket, generations, Settings.from_env())
    config = uvicorn.Config(
        app, log_level="info", access_log=args.access_log, lifespan="on", proxy_headers=False
    )
    threading.Thread(target=_exit_with_owner, args=(args.owner_pid,), daemon=True).start()
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
