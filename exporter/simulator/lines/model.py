"""Vocabulary of the physical-connection resource and the in-memory record the store keeps.

The enumerations are the project's shared ones (``exporter.vocabulary``); the simulator speaks
the wire, so its status list spells ``Allocation Failed`` with the space the API sends.
"""

from __future__ import annotations

import json
import math
from typing import Any

from exporter import vocabulary
from exporter.vocabulary import BUSINESS_STATUSES, FILTER_KEYS, LOA_STATUSES, wire_status

STATUSES: tuple[str, ...] = tuple(wire_status(s) for s in vocabulary.STATUSES)
ALLOCATION_FAILED = vocabulary.ALLOCATION_FAILED_WIRE
LINE_OPERATORS: tuple[str, ...] = ("CT", "CU", "CM", "CO", "Equinix", "Other")
# The API reference's list for Create/Modify; responses also show 40G/100G ports.
DOCUMENTED_PORT_TYPES: tuple[str, ...] = (
    "100Base-T",
    "1000Base-T",
    "1000Base-LX",
    "10GBase-T",
    "10GBase-LR",
)
PORT_TYPES: tuple[str, ...] = (*DOCUMENTED_PORT_TYPES, "40GBase-LR", "100GBase-LR")
DEDICATED = "PhysicalConnection"
HOSTED = "VirtualPhysicalConnection"

__all__ = [
    "ALLOCATION_FAILED",
    "BUSINESS_STATUSES",
    "DEDICATED",
    "DOCUMENTED_PORT_TYPES",
    "FILTER_KEYS",
    "HOSTED",
    "LINE_OPERATORS",
    "LOA_STATUSES",
    "PORT_TYPES",
    "STATUSES",
    "Connection",
    "render",
]


def render(fields: dict[str, Any]) -> bytes:
    """A record's wire JSON. Raises ValueError naming the first field that cannot be sent
    (not JSON, such as NaN, or not UTF-8, such as a lone surrogate), so a bad change is
    refused before it is stored rather than breaking every later answer."""
    try:
        return json.dumps(
            fields, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except (ValueError, TypeError):
        for key, value in fields.items():
            try:
                json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
            except (ValueError, TypeError) as exc:
                reason = "not a finite number" if _has_nan(value) else str(exc).splitlines()[0]
                raise ValueError(f"{key}: value cannot be sent as JSON ({reason})") from None
        raise


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


class Connection:
    """One physical connection: its owner, region and vendor fields (JSON-ready, wire names).

    The serialized JSON is cached because rendering a 50-record page is then a join of bytes;
    every change goes through :meth:`update` which drops the cache.
    """

    __slots__ = (
        "_json",
        "account",
        "due",
        "due_stale",
        "expired_end_time",
        "fields",
        "region",
        "status_since",
    )

    def __init__(self, account: str, region: str, fields: dict[str, Any], since: float) -> None:
        self.account = account
        self.region = region
        self.fields = fields
        self.status_since = since
        self.expired_end_time: str | None = None
        self._json: bytes | None = None
        # When the lifecycle clock next has something to do here (computed lazily).
        self.due: float | None = None
        self.due_stale = True

    @property
    def id(self) -> str:
        return str(self.fields["PhysicalConnectionId"])

    @property
    def status(self) -> str:
        return str(self.fields.get("Status", ""))

    def json(self) -> bytes:
        if self._json is None:
            self._json = render(self.fields)
        return self._json

    def update(self, changes: dict[str, Any], now: float) -> None:
        """Apply field changes; ``None`` removes a field. A status change restarts its timer.

        All or nothing: the changed record is rendered first, and a change it cannot render
        raises ValueError with the record untouched."""
        fields = dict(self.fields)
        status_changed = False
        for key, value in changes.items():
            if key == "PhysicalConnectionId":
                continue
            if value is None:
                fields.pop(key, None)
                continue
            if key == "Status":
                value = wire_status(str(value))
                status_changed = value != fields.get("Status")
            fields[key] = value
        rendered = render(fields)
        self.fields = fields
        if status_changed:
            self.status_since = now
        self._json = rendered
        self.due_stale = True

    def snapshot(self) -> dict[str, Any]:
        """A deep-enough copy for callers outside the store's lock."""
        return json.loads(self.json())  # type: ignore[no-any-return]
