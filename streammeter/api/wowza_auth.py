"""Wowza Video credentials (vendor-apis.md 3.1, 3.6; docs/api/wowza-usage.md).

- `Authorization: Bearer <JWT>` on every version: HS256, signed with `STREAMMETER_JWT_SECRET`
  when set, else the store's own generated secret; the `account` claim selects the data; `exp`
  (and `nbf`) are checked against the service clock. Issued by
  `streammeter tokens create --account ACCOUNT --jwt`.
- On `/api/v1.8` only, the legacy Streaming Cloud keys: the plain pair `wsc-api-key` +
  `wsc-access-key`, or HMAC: `wsc-access-key`, `wsc-timestamp` (Unix seconds, within 5 minutes
  of the server clock) and `wsc-signature` = hex(HMAC-SHA256(api key,
  "{timestamp}:{request path}:{api key}")), the request path without query string or trailing
  slash (e.g. `/api/v1.8/usage/account`). Issued by `streammeter tokens create --account A`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from typing import Any

import jwt

from streammeter.query.wowza import LEGACY_KEY_VERSIONS, WowzaError
from streammeter.store.base import AccountInfo, Store

JWT_ALGORITHM = "HS256"
SECRET_ENV = "STREAMMETER_JWT_SECRET"
ACCOUNT_CLAIM = "account"
HMAC_MAX_SKEW_S = 300
DEFAULT_JWT_DAYS = 365


def signing_secret(store: Store) -> str:
    """`STREAMMETER_JWT_SECRET`, else the secret generated in the store on first use."""
    return os.environ.get(SECRET_ENV) or store.jwt_secret()


def issue_jwt(
    store: Store, account_id: str, *, now_s: int, expires_in_s: int | None
) -> tuple[str, dict[str, Any]]:
    """A signed token for `account_id` and its claims; no `exp` when `expires_in_s` is None."""
    claims: dict[str, Any] = {
        ACCOUNT_CLAIM: account_id,
        "sub": account_id,
        "iat": now_s,
        "jti": secrets.token_hex(8),
    }
    if expires_in_s is not None:
        claims["exp"] = now_s + expires_in_s
    return jwt.encode(claims, signing_secret(store), algorithm=JWT_ALGORITHM), claims


def hmac_signature(api_key: str, timestamp: str | int, request_path: str) -> str:
    """The `wsc-signature` of a request, as the official Streaming Cloud SDKs compute it."""
    path = request_path.split("?", 1)[0].rstrip("/")
    data = f"{timestamp}:{path}:{api_key}"
    return hmac.new(api_key.encode(), data.encode(), hashlib.sha256).hexdigest()


def _account(store: Store, account_id: str) -> AccountInfo:
    account = store.get_account(account_id)
    if account is None:
        raise WowzaError(
            "ERR-403-RecordUnaccessible", f"the account {account_id!r} is not in this service"
        )
    return account


def _from_jwt(store: Store, token: str, now_s: int) -> AccountInfo:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise WowzaError("ERR-401-InvalidToken", "the bearer token is not a JWT") from None
    if header.get("alg") != JWT_ALGORITHM:
        raise WowzaError("ERR-401-InvalidToken", f"tokens are signed with {JWT_ALGORITHM}")
    try:
        claims = jwt.decode(
            token,
            signing_secret(store),
            algorithms=[JWT_ALGORITHM],
            # Times are checked below against the service clock (STREAMMETER_NOW).
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        raise WowzaError("ERR-401-InvalidToken", "the signature does not verify") from None
    for name in ("exp", "nbf"):
        if name in claims and (
            isinstance(claims[name], bool) or not isinstance(claims[name], int | float)
        ):
            raise WowzaError("ERR-401-InvalidToken", f"the {name} claim is not a number")
    if "exp" in claims and now_s >= claims["exp"]:
        raise WowzaError("ERR-401-ExpiredToken", "the token's exp has passed; create a new one")
    if "nbf" in claims and now_s < claims["nbf"]:
        raise WowzaError("ERR-401-InvalidToken", "the token is not valid yet (nbf)")
    account_id = claims.get(ACCOUNT_CLAIM)
    if not isinstance(account_id, str) or not account_id:
        raise WowzaError("ERR-401-InvalidToken", f"the token has no {ACCOUNT_CLAIM} claim")
    return _account(store, account_id)


def _from_legacy(store: Store, headers: Mapping[str, str], path: str, now_s: int) -> AccountInfo:
    access_key = headers.get("wsc-access-key")
    signature = headers.get("wsc-signature")
    if signature:
        if not access_key:
            raise WowzaError("ERR-401-NoAccessKey", "HMAC requests need wsc-access-key")
        key = store.get_legacy_key(access_key)
        if key is None:
            raise WowzaError("ERR-401-InvalidAccessKey")
        timestamp = headers.get("wsc-timestamp") or ""
        if not timestamp.strip().isdigit():
            raise WowzaError("ERR-401-InvalidApiKey", "wsc-timestamp must be Unix seconds")
        if abs(now_s - int(timestamp)) > HMAC_MAX_SKEW_S:
            raise WowzaError(
                "ERR-401-InvalidApiKey",
                f"wsc-timestamp is more than {HMAC_MAX_SKEW_S} seconds from the server clock",
            )
        expected = hmac_signature(key.api_key, timestamp.strip(), path)
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise WowzaError(
                "ERR-401-InvalidApiKey",
                'wsc-signature must be hex(HMAC-SHA256(api key, "timestamp:path:api key"))',
            )
        return _account(store, key.account_id)
    api_key = headers.get("wsc-api-key")
    if not api_key:
        raise WowzaError("ERR-401-NoApiKey")
    if not access_key:
        raise WowzaError("ERR-401-NoAccessKey")
    key = store.get_legacy_key(access_key)
    if key is None:
        raise WowzaError("ERR-401-InvalidAccessKey")
    if not hmac.compare_digest(key.api_key.encode(), api_key.strip().encode()):
        raise WowzaError("ERR-401-InvalidApiKey")
    return _account(store, key.account_id)


def authenticate(
    store: Store, headers: Mapping[str, str], path: str, version: str, now_s: int
) -> AccountInfo:
    """The account the request's credentials select; WowzaError (401/403) otherwise.

    `headers` must look names up case-insensitively (Starlette's do)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise WowzaError("ERR-401-InvalidToken", "send Authorization: Bearer <JWT>")
        return _from_jwt(store, token.strip(), now_s)
    legacy = any(headers.get(name) for name in ("wsc-api-key", "wsc-access-key", "wsc-signature"))
    if version in LEGACY_KEY_VERSIONS:
        if not legacy:
            raise WowzaError(
                "ERR-401-NoApiKey",
                "send Authorization: Bearer <JWT>, or wsc-api-key and wsc-access-key",
            )
        return _from_legacy(store, headers, path, now_s)
    raise WowzaError(
        "ERR-401-InvalidToken",
        f"{version} accepts only Authorization: Bearer <JWT>"
        + ("; wsc- keys work on v1.8 only" if legacy else ""),
    )
