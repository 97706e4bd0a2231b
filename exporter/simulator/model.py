"""Vocabulary of the physical-connection resource (facts sheet and vendor document)."""

from __future__ import annotations

import json
from typing import Any

STATUSES: tuple[str, ...] = (
    "Initial",
    "Approved",
    "Allocating",
    "Allocated",
    "Confirmed",
    "Enabled",
    "Rejected",
    "Canceled",
    "Allocation Failed",
    "Terminating",
    "Terminated",
)
ALLOCATION_FAILED = "Allocation Failed"
BUSINESS_STATUSES: tuple[str, ...] = ("Normal", "FinancialLocked", "SecurityLocked")
LOA_STATUSES: tuple[str, ...] = (
    "Applying",
    "Accept",
    "Available",
    "Rejected",
    "Completing",
    "Complete",
    "Deleted",
)
LINE_OPERATORS: tuple[str, ...] = ("CT", "CU", "CM", "CO", "Equinix", "Other")
# The vendor document's list for Create/Modify; the facts sheet adds 40G/100G seen in responses.
DOCUMENTED_PORT_TYPES: tuple[str, ...] = (
    "100Base-T",
    "1000Base-T",
    "1000Base-LX",
    "10GBase-T",
    "10GBase-LR",
)
PORT_TYPES: tuple[str, ...] = (*DOCUMENTED_PORT_TYPES, "40GBase-LR", "100GBase-LR")
FILTER_KEYS: tuple[str, ...] = (
    "PhysicalConnectionId",
    "AccessPointId",
    "Type",
    "LineOperator",
    "Spec",
    "Status",
    "Name",
    "ProductType",
)
DEDICATED = "PhysicalConnection"
HOSTED = "VirtualPhysicalConnection"


def normalize_status(value: str) -> str:
    """The vendor writes ``AllocationFailed`` in one place and ``Allocation Failed`` in another."""
    return ALLOCATION_FAILED if value == "AllocationFailed" else value


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
            self._json = json.dumps(self.fields, ensure_ascii=False, separators=(",", ":")).encode()
        return self._json

    def update(self, changes: dict[str, Any], now: float) -> None:
        """Apply field changes; ``None`` removes a field. A status change restarts its timer."""
        for key, value in changes.items():
            if key == "PhysicalConnectionId":
                continue
            if value is None:
                self.fields.pop(key, None)
                continue
            if key == "Status":
                value = normalize_status(str(value))
                if value != self.fields.get("Status"):
                    self.status_since = now
            self.fields[key] = value
        self._json = None
        self.due_stale = True

    def snapshot(self) -> dict[str, Any]:
        """A deep-enough copy for callers outside the store's lock."""
        return json.loads(self.json())  # type: ignore[no-any-return]
