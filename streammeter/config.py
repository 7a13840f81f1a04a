"""Server settings, read from the environment (docs/configuration.md lists them all)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {value!r}") from None


@dataclass(frozen=True)
class Settings:
    #: Mux windows must end at least this many hours before now (Mux: 12).
    settle_lag_hours: int = 12
    #: Mux windows may start at most this many days ago (Mux: 90).
    history_days: int = 90
    #: Largest `limit` the delivery-usage endpoint accepts (Mux documents none).
    max_limit: int = 1000
    #: Memory for cached delivery-usage answers, MiB (query/mux_cache.py); 0: no cache.
    mux_cache_mb: int = 64
    #: Requests per minute per access token (token bucket); 0: no limit (docs/security.md).
    rate_limit_per_minute: int = 0
    #: Requests a token may send at once before the per-minute rate applies (0: one minute's).
    rate_limit_burst: int = 0
    #: Largest request body in bytes (answered 413); 0: no limit. Batches have their own cap.
    max_body_bytes: int = 1 << 30
    #: Largest total size of the request headers in bytes (answered 431).
    max_header_bytes: int = 16 * 1024

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            settle_lag_hours=_int_env("STREAMMETER_SETTLE_LAG_HOURS", 12),
            history_days=_int_env("STREAMMETER_HISTORY_DAYS", 90),
            max_limit=_int_env("STREAMMETER_MAX_LIMIT", 1000),
            mux_cache_mb=_int_env("STREAMMETER_MUX_CACHE_MB", 64),
            rate_limit_per_minute=_int_env("STREAMMETER_RATE_LIMIT_PER_MINUTE", 0),
            rate_limit_burst=_int_env("STREAMMETER_RATE_LIMIT_BURST", 0),
            max_body_bytes=_int_env("STREAMMETER_MAX_BODY_BYTES", 1 << 30),
            max_header_bytes=_int_env("STREAMMETER_MAX_HEADER_BYTES", 16 * 1024),
        )
