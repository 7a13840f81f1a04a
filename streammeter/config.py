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

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            settle_lag_hours=_int_env("STREAMMETER_SETTLE_LAG_HOURS", 12),
            history_days=_int_env("STREAMMETER_HISTORY_DAYS", 90),
            max_limit=_int_env("STREAMMETER_MAX_LIMIT", 1000),
        )
