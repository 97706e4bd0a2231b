"""Collector ``physical_connections``: DescribePhysicalConnections → what each line is sold as.

Status, business status (locks), bandwidth, expiry and descriptive attributes, one snapshot per
(account, region) from one complete paging pass. Nothing downstream sees the API's JSON shape;
fields the API adds later are kept in ``PhysicalConnection.extra``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from exporter.collectors.base import (
    Collector,
    Listing,
    PassContext,
    PassSnapshot,
    UnknownValue,
    filter_params,
    list_all,
    per_id,
)
from exporter.collectors.fields import NO_EXTRA, bounded, tags, text, timestamp
from exporter.families import (
    CountFamily,
    Family,
    RenderContext,
    gauge,
    gauge_with_context,
    info,
    state_set,
)
from exporter.vocabulary import BUSINESS_STATUSES, STATUSES, canonical_status

NAME = "physical_connections"
ACTION = "DescribePhysicalConnections"
BYTES_PER_MBIT = 125_000
# Bandwidth above 10 Tbit/s is not a line: a bad field, dropped like an unparsable one.
_MAX_BANDWIDTH_MBPS = 10_000_000.0

INFO = "expressconnect_physical_connection_info"
STATUS = "expressconnect_physical_connection_status"
BUSINESS_STATUS = "expressconnect_physical_connection_business_status"
BANDWIDTH = "expressconnect_physical_connection_bandwidth_bytes_per_second"
EXPIRY = "expressconnect_physical_connection_expiry_timestamp_seconds"
CREATION = "expressconnect_physical_connection_creation_timestamp_seconds"
ENABLED = "expressconnect_physical_connection_enabled_timestamp_seconds"
STATUS_CHANGE = "expressconnect_physical_connection_status_change_timestamp_seconds"
REGION_COUNT = "expressconnect_region_physical_connections"

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

# Every documented field; anything else in a record is kept in ``extra``.
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
    # Fields the API added later: kept, never fatal. (Documented fields the metrics don't use
    # are not held: 10,000 full records would cost ~40 MB.)
    extra: Mapping[str, Any] = field(default_factory=lambda: NO_EXTRA, compare=False)

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


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionSnapshot(PassSnapshot):
    """Every connection of one account in one region, from one complete pass (sorted by ID)."""

    connections: tuple[PhysicalConnection, ...]


def parse_connection(record: Mapping[str, Any]) -> PhysicalConnection:
    """Type one API record; raises ``ValueError`` only when it has no PhysicalConnectionId."""
    conn_id = record.get("PhysicalConnectionId")
    if not isinstance(conn_id, str) or not conn_id:
        raise ValueError("record without PhysicalConnectionId")
    # Interned: most of these values repeat across thousands of connections.
    info_values = {label: sys.intern(text(record.get(key))) for label, key in INFO_FIELDS}
    extra = {key: value for key, value in record.items() if key not in DOCUMENTED_FIELDS}
    return PhysicalConnection(
        id=conn_id,
        status=sys.intern(canonical_status(text(record.get("Status")))),
        business_status=sys.intern(text(record.get("BusinessStatus"))),
        bandwidth_mbps=bounded(record.get("Bandwidth"), 0.0, _MAX_BANDWIDTH_MBPS),
        creation_time=timestamp(record.get("CreationTime")),
        enabled_time=timestamp(record.get("EnabledTime")),
        end_time=timestamp(record.get("EndTime")),
        tags=tags(record.get("Tags"), "tags"),
        extra=MappingProxyType(extra) if extra else NO_EXTRA,
        **info_values,
    )


LISTING = Listing(
    action=ACTION,
    wrapper="PhysicalConnectionSet",
    item="PhysicalConnectionType",
    parse=parse_connection,
)


async def collect(ctx: PassContext) -> RegionSnapshot:
    """A complete snapshot of the region or an exception (``PassError`` / ``ApiError``)."""
    started = time.monotonic()
    connections = await list_all(ctx, LISTING, filter_params(ctx.filters))
    return RegionSnapshot(
        account=ctx.account,
        region_id=ctx.region_id,
        connections=tuple(connections),
        completed_at=ctx.clock(),
        duration_seconds=time.monotonic() - started,
    )


def _bandwidth(conn: PhysicalConnection) -> float | None:
    return None if conn.bandwidth_mbps is None else conn.bandwidth_mbps * BYTES_PER_MBIT


def _since(conn: PhysicalConnection, ctx: RenderContext) -> float | None:
    return ctx.since.get(conn.id)


FAMILIES: tuple[Family[PhysicalConnection], ...] = (
    info(
        INFO,
        "Express Connect physical connection: 1, with its descriptive attributes as labels.",
        [label for label, _ in INFO_FIELDS],
        PhysicalConnection.info_labels,
        with_tags=lambda conn: conn.tags,
    ),
    state_set(
        STATUS,
        "Physical connection lifecycle status as a state set: 1 for the current status.",
        "status",
        STATUSES,
        lambda conn: conn.status,
    ),
    state_set(
        BUSINESS_STATUS,
        "Physical connection business status as a state set: 1 for the current one.",
        "business_status",
        BUSINESS_STATUSES,
        lambda conn: conn.business_status,
    ),
    gauge(BANDWIDTH, "Physical connection bandwidth (the API's Mbit/s times 125000).", _bandwidth),
    gauge(
        EXPIRY,
        "Physical connection expiry time (EndTime) as Unix time; absent when there is none.",
        lambda conn: conn.end_time,
    ),
    gauge(
        CREATION,
        "Physical connection creation time (CreationTime) as Unix time.",
        lambda conn: conn.creation_time,
    ),
    gauge(
        ENABLED,
        "Physical connection enabled time (EnabledTime) as Unix time.",
        lambda conn: conn.enabled_time,
    ),
    gauge_with_context(
        STATUS_CHANGE,
        "When this exporter first saw the connection's current status, as Unix time.",
        _since,
    ),
)


def _unknown(snapshot: RegionSnapshot) -> Iterable[UnknownValue]:
    for conn in snapshot.connections:
        for api_field, value in conn.unknown_enums():
            yield UnknownValue(api_field, value, conn.id)


COLLECTOR: Collector[RegionSnapshot] = Collector(
    name=NAME,
    api="vpc",
    collect=collect,
    timeout_policy="refresh",
    records=(per_id("physical_connection_id", lambda snapshot: snapshot.connections, FAMILIES),),
    counts=(
        CountFamily(
            REGION_COUNT,
            "Number of physical connections exported for this account and region.",
            lambda snapshot: len(snapshot.connections),
        ),
    ),
    states=lambda snapshot: snapshot.connections,
    unknown=_unknown,
    enum_fields=("Status", "BusinessStatus"),
)
