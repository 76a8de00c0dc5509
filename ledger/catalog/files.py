"""Catalog entries from files: CSV (a header row of the catalog's field names, UTF-8, an empty
cell for an absent value) or JSON (a list of entries, or an object with `entries`). The
starting set shipped with Stele is in `seed/`, one CSV per catalog (see docs/catalogs.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from domain.catalog import NAMES
from domain.errors import InvalidInputError

SEED_DIR = Path(__file__).parent / "seed"


def load_entries(path: Path) -> list[dict[str, Any]]:
    """The entries in a CSV or JSON file (checked later, against the catalog's schema)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"{path} is not JSON: {exc}") from None
        entries = value.get("entries") if isinstance(value, dict) else value
        if not isinstance(entries, list):
            raise InvalidInputError(f"{path} must hold a list of entries")
        return entries
    if path.suffix.lower() != ".csv":
        raise InvalidInputError("catalog files are .csv or .json", file=str(path))
    rows = list(csv.DictReader(text.splitlines()))
    if any(None in row for row in rows):
        raise InvalidInputError(f"{path}: a row has more cells than the header")
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in rows]


def seed() -> dict[str, list[dict[str, Any]]]:
    """The starting set: every catalog's entries, by name."""
    return {name: load_entries(SEED_DIR / f"{name}.csv") for name in NAMES}
