"""What one account/region looks like after a complete paging pass, as frozen values.

The collector builds these from API records; the exposition renders them. Nothing downstream
sees the API's JSON shape; fields the API adds later are kept in ``PhysicalConnection.extra``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
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
    "AllocationFailed",
    "Terminating",
    "Terminated",
)
BUSINESS_STATUSES: tuple[str, ...] = ("Normal", "FinancialLocked", "SecurityLocked")

# The docs spell one status with a space; the vendor document also writes it without.
_STATUS_ALIASES = {"Allocation Failed": "AllocationFailed"}

# Info label → API field. The dataclass attribute has the label's name.
INFO_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("type", "Type"),
    ("product_type", "ProductType"),
    ("access_point_id", "AccessPointId"),
    ("line_operator", "LineOperator"),
    ("port_type", "PortType"),
    ("port_number", "PortNumber"),
    ("spec", "Spec"),
    ("circuit_code", "CircuitCode"),
    ("peer_location", "PeerLocation"),
    ("ad_location", "AdLocation"),
    ("charge_type", "ChargeType"),
    ("redundant_physical_connection_id", "RedundantPhysicalConnectionId"),
    ("parent_physical_connection_id", "ParentPhysicalConnectionId"),
    ("resource_group_id", "ResourceGroupId"),
    ("loa_status", "LoaStatus"),
)


# Every field the facts sheet documents; anything else in a record is kept in ``extra``.
DOCUMENTED_FIELDS = frozenset(
    {api_field for _, api_field in INFO_FIELDS}
    | {
        "PhysicalConnectionId", "Description", "AccessPointType", "Status", "BusinessStatus",
        "Bandwidth", "ExpectSpec", "OrderMode", "CreationTime", "EnabledTime", "EndTime",
        "ReservationActiveTime", "HasReservationData", "ReservationInternetChargeType",
        "ReservationOrderType", "QosId", "AdDetailLocation", "OpticalModuleModel",
        "VpconnStatus", "ParentPhysicalConnectionAliUid", "VirtualPhysicalConnectionCount",
        "DownDelayTime", "VlanId", "Tags",
    }
)  # fmt: skip
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PhysicalConnection:
    """One record of DescribePhysicalConnections, typed; absent text fields are ``""``."""

    id: str
    name: str = ""
    type: str = ""
    product_type: str = ""
    access_point_id: str = ""
    line_operator: str = ""
    port_type: str = ""
    port_number: str = ""
    spec: str = ""
    circuit_code: str = ""
    peer_location: str = ""
    ad_location: str = ""
    charge_type: str = ""
    redundant_physical_connection_id: str = ""
    parent_physical_connection_id: str = ""
    resource_group_id: str = ""
    loa_status: str = ""
    status: str = ""
    business_status: str = ""
    bandwidth_mbps: float | None = None
    creation_time: float | None = None
    enabled_time: float | None = None
    end_time: float | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Fields the API added after the facts sheet was written: kept, never fatal. (Documented
    # fields the metrics don't use are not held: 10,000 full records would cost ~40 MB.)
    extra: Mapping[str, Any] = field(default_factory=lambda: _NO_EXTRA, compare=False)

    def info_labels(self) -> tuple[tuple[str, str], ...]:
        return tuple((label, getattr(self, label)) for label, _ in INFO_FIELDS)

    def unknown_enums(self) -> tuple[tuple[str, str], ...]:
        """(API field, value) for each enumeration value outside the documented set."""
        found = []
        if self.status and self.status not in STATUSES:
            found.append(("Status", self.status))
        if self.business_status and self.business_status not in BUSINESS_STATUSES:
            found.append(("BusinessStatus", self.business_status))
        return tuple(found)


@dataclass(frozen=True, slots=True)
class RegionSnapshot:
    """Every connection of one account in one region, from one complete pass (sorted by ID)."""

    account: str
    region_id: str
    connections: tuple[PhysicalConnection, ...]
    completed_at: float
    duration_seconds: float


@dataclass(frozen=True, slots=True)
class RegionStatus:
    """What the exporter knows about one account/region: the last good snapshot and the last pass.

    ``snapshot`` survives failed passes (it is what ``/metrics`` keeps serving) until
    ``max_staleness`` passes, when ``stale`` turns on and its connection series are dropped.
    """

    account: str
    region_id: str
    snapshot: RegionSnapshot | None = None
    passes: int = 0
    up: bool = False
    stale: bool = False
    last_attempt: float | None = None
    last_success: float | None = None
    last_duration: float | None = None
    last_error: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.region_id)

    @property
    def exposed_connections(self) -> tuple[PhysicalConnection, ...]:
        if self.snapshot is None or self.stale:
            return ()
        return self.snapshot.connections


def parse_timestamp(value: object) -> float | None:
    """Unix seconds from the API's ISO 8601 text; no zone (old docs) or ``Z`` both mean UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def normalise_status(value: str) -> str:
    return _STATUS_ALIASES.get(value, value)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _tags(value: object) -> Mapping[str, str]:
    """``{"tags": [{"Key": .., "Value": ..}]}`` (lower-case inner key) → mapping."""
    if not isinstance(value, Mapping):
        return MappingProxyType({})
    items = value.get("tags", value.get("Tag", []))
    tags: dict[str, str] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("Key"), str):
                tags[item["Key"]] = _text(item.get("Value"))
    return MappingProxyType(tags)


def parse_connection(record: Mapping[str, Any]) -> PhysicalConnection:
    """Type one API record; raises ``ValueError`` only when it has no PhysicalConnectionId."""
    conn_id = record.get("PhysicalConnectionId")
    if not isinstance(conn_id, str) or not conn_id:
        raise ValueError("record without PhysicalConnectionId")
    # Interned: most of these values repeat across thousands of connections.
    info = {label: sys.intern(_text(record.get(api_field))) for label, api_field in INFO_FIELDS}
    extra = {key: value for key, value in record.items() if key not in DOCUMENTED_FIELDS}
    return PhysicalConnection(
        id=conn_id,
        status=sys.intern(normalise_status(_text(record.get("Status")))),
        business_status=sys.intern(_text(record.get("BusinessStatus"))),
        bandwidth_mbps=_number(record.get("Bandwidth")),
        creation_time=parse_timestamp(record.get("CreationTime")),
        enabled_time=parse_timestamp(record.get("EnabledTime")),
        end_time=parse_timestamp(record.get("EndTime")),
        tags=_tags(record.get("Tags")),
        extra=MappingProxyType(extra) if extra else _NO_EXTRA,
        **info,
    )
