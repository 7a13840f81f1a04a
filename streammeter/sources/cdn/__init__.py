"""CDN and origin access logs: each format's parser yields `EdgeRequest`s (or reasons).

Exports load lazily, so importing `streammeter.sources.cdn.request` alone (as the resolver
does) does not pull in every parser.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "EdgeRequest": "streammeter.sources.cdn.request",
    "ParsedLine": "streammeter.sources.cdn.request",
    "FORMATS": "streammeter.sources.cdn.formats",
    "SourceFormat": "streammeter.sources.cdn.formats",
    "detect_format": "streammeter.sources.cdn.formats",
    "parse_cmcd": "streammeter.sources.cdn.cmcd",
    "parse_cmcd_headers": "streammeter.sources.cdn.cmcd",
    "parse_cmcd_query": "streammeter.sources.cdn.cmcd",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
