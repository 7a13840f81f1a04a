"""Asset catalog files: NDJSON or CSV with exactly the Mux field names."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streammeter.model.catalog import Asset, asset_error_message
from streammeter.sources.generic import open_content


class CatalogFileError(ValueError):
    """Lines that are not valid assets; nothing of the file is imported."""


def read_asset_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, raw fields) per asset; CSV empty cells are absent fields."""
    with open_content(path) as stream:
        text = stream.read().decode("utf-8")
    name = path.name.lower().removesuffix(".gz")
    rows: list[tuple[int, dict[str, Any]]] = []
    if name.endswith(".csv"):
        reader = csv.DictReader(text.splitlines())
        for number, row in enumerate(reader, start=2):
            rows.append((number, {k: v for k, v in row.items() if v not in ("", None)}))
        return rows
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except ValueError as exc:
                raise CatalogFileError(f"line {number}: invalid JSON: {exc}") from None
    return rows


def read_assets(path: Path) -> list[Asset]:
    """Validate every asset of the file; raise with one message per bad line."""
    assets, errors = [], []
    for number, row in read_asset_rows(path):
        try:
            assets.append(Asset.model_validate(row))
        except ValidationError as exc:
            errors.append(f"line {number}: {asset_error_message(exc)}")
    if errors:
        raise CatalogFileError("\n".join(errors))
    return assets
