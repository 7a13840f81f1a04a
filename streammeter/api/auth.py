"""Access tokens sent as HTTP Basic (token id : secret), as Mux clients do."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from streammeter.api.errors import forbidden, unauthorized
from streammeter.api.limits import check_token_rate
from streammeter.store.base import Store, TokenInfo

SCOPES = ("read", "ingest", "admin")


def authenticate(request: Request) -> TokenInfo:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        raise unauthorized()
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized() from None
    token_id, sep, secret = decoded.partition(":")
    if not sep:
        raise unauthorized()
    store: Store = request.app.state.store
    token = store.verify_token(token_id, secret)
    if token is None:
        raise unauthorized()
    check_token_rate(request, token.token_id)  # 429 over the token's limit (docs/security.md)
    return token


def require(scope: str):  # type: ignore[no-untyped-def]
    """A FastAPI dependency: the caller's token, which must carry `scope` (admin implies all)."""

    def dependency(request: Request) -> TokenInfo:
        token = authenticate(request)
        if scope not in token.scopes and "admin" not in token.scopes:
            raise forbidden(scope)
        return token

    return dependency
