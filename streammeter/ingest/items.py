"""The shape every source's records take on their way into an import."""

from typing import Any

#: (line number, raw text, DeliveryRecord or the RecordError saying why not, notes)
NormalizedItem = tuple[int, str, Any, list[str]]
