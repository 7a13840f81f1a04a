"""Talking to a running server (`--url`), for when `serve` owns the store file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import typer


class Remote:
    def __init__(self, url: str, token: str | None) -> None:
        token = token or os.environ.get("STREAMMETER_TOKEN")
        if not token or ":" not in token:
            raise typer.BadParameter(
                "--url needs --token TOKEN_ID:SECRET (or STREAMMETER_TOKEN) of the environment"
            )
        token_id, _, secret = token.partition(":")
        self.client = httpx.Client(base_url=url.rstrip("/"), auth=(token_id, secret), timeout=300)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # the server died, restarted or is unreachable
            raise typer.BadParameter(
                f"lost the connection to the server at {self.client.base_url} before it "
                f"answered ({exc or type(exc).__name__}). Each file or batch is imported whole "
                "or not at all, and never twice: run the same command again."
            ) from None

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                messages = response.json()["error"]["messages"]
            except (ValueError, KeyError, TypeError):
                messages = [response.text]
            raise typer.BadParameter(
                f"server answered {response.status_code}: {'; '.join(messages)}"
            )
        return response.json()

    def import_file(
        self, path: Path, fmt: str | None, origin: bool = False, fields: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"name": str(path.resolve()), "origin": origin}
        params |= ({"format": fmt} if fmt else {}) | ({"fields": fields} if fields else {})
        with path.open("rb") as handle:
            return self._check(self._send("POST", "/v1/imports", params=params, content=handle))[
                "data"
            ]

    def upsert_assets(self, path: Path) -> int:
        return self._check(self._send("POST", "/v1/assets", content=path.read_bytes()))["data"][
            "upserted"
        ]

    def delivery_usage(self, params: list[tuple[str, str]]) -> dict[str, Any]:
        return self._check(self._send("GET", "/video/v1/delivery-usage", params=params))
