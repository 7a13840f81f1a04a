"""The HTTP service: Mux-compatible delivery usage and the native catalog/ingest API."""

from streammeter.api.app import create_app

__all__ = ["create_app"]
