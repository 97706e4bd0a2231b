"""Typing API fields: text, numbers within bounds, ISO 8601 times, tag lists.

A field that is missing, of the wrong type or out of range becomes "absent" (``""`` or
``None``) rather than failing the record: one odd value must not hide a whole line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

NO_EXTRA: Mapping[str, Any] = MappingProxyType({})
# Unix times outside 1970..5138 are not times the API means.
_MAX_TIMESTAMP = 1e11


def text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def number(value: object) -> float | None:
    """A finite number from a JSON number or numeric string (the SDKs send both)."""
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        found = float(value)
    except (ValueError, OverflowError):  # not a number, or an int beyond any float
        return None
    return found if math.isfinite(found) else None


def bounded(value: object, low: float, high: float) -> float | None:
    """``number`` within ``[low, high]``; absurd values are treated as absent."""
    found = number(value)
    if found is None or not low <= found <= high:
        return None
    return found


def timestamp(value: object) -> float | None:
    """Unix seconds from the API's ISO 8601 text; no zone (old docs) or ``Z`` both mean UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1]
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    seconds = parsed.timestamp()
    return seconds if 0 <= seconds <= _MAX_TIMESTAMP else None


def tags(value: object, inner: str) -> Mapping[str, str]:
    """``{inner: [{"Key": .., "Value": ..}]}`` → mapping.

    DescribePhysicalConnections wraps the list in ``tags`` (lower case), the VBR action in
    ``Tags``; ``Tag`` is accepted too, as old samples show it.
    """
    if not isinstance(value, Mapping):
        return MappingProxyType({})
    items = value.get(inner, value.get("Tag", []))
    found: dict[str, str] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("Key"), str):
                found[item["Key"]] = text(item.get("Value"))
    return MappingProxyType(found)
