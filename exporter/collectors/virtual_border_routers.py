"""Collector ``virtual_border_routers``: VBRs and their BGP sessions → whether a line can carry
traffic.

One pass reads every VBR (DescribeVirtualBorderRouters) and every BGP peer (DescribeBgpPeers,
grouped by ``RouterId``) of the region, both fully paged, into one snapshot: if either listing
fails, nothing of the pass is published. The BGP ``AuthKey`` is a password: it is never read
into a record, so it cannot reach a label, a log line or an error.
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
    NotReady,
    PassContext,
    PassSnapshot,
    UnknownValue,
    list_all,
    per_id,
)
from exporter.collectors.fields import bounded, tags, text
from exporter.collectors.physical_connections import BYTES_PER_MBIT
from exporter.families import (
    CountFamily,
    Family,
    RecordFamilies,
    gauge,
    gauge_with_context,
    info,
    state_set,
)
from exporter.vocabulary import BGP_PEER_STATUSES, BGP_STATUS_UNKNOWN, BGP_STATUSES, VBR_STATUSES

NAME = "virtual_border_routers"

VBR_INFO = "expressconnect_vbr_info"
VBR_STATUS = "expressconnect_vbr_status"
VBR_BANDWIDTH = "expressconnect_vbr_bandwidth_bytes_per_second"
BGP_INFO = "expressconnect_bgp_peer_info"
BGP_PEER_STATUS = "expressconnect_bgp_peer_status"
BGP_STATUS = "expressconnect_bgp_peer_bgp_status"
BGP_RECEIVED = "expressconnect_bgp_peer_received_routes"
BGP_ADVERTISED = "expressconnect_bgp_peer_advertised_routes"
BGP_ROUTE_LIMIT = "expressconnect_bgp_peer_route_limit"
BGP_STATUS_CHANGE = "expressconnect_bgp_peer_bgp_status_change_timestamp_seconds"
REGION_VBRS = "expressconnect_region_virtual_border_routers"
REGION_PEERS = "expressconnect_region_bgp_peers"

# Route counts and limits beyond this are not BGP tables any router holds: bad fields.
_MAX_ROUTES = 1e9
_MAX_BANDWIDTH_MBPS = 10_000_000.0

VBR_INFO_FIELDS: tuple[tuple[str, str], ...] = (
    ("physical_connection_id", "PhysicalConnectionId"),
    ("name", "Name"),
    ("type", "Type"),
    ("vlan_id", "VlanId"),
    ("local_gateway_ip", "LocalGatewayIp"),
    ("peer_gateway_ip", "PeerGatewayIp"),
    ("local_ipv6_gateway_ip", "LocalIpv6GatewayIp"),
    ("peer_ipv6_gateway_ip", "PeerIpv6GatewayIp"),
    ("access_point_id", "AccessPointId"),
    ("circuit_code", "CircuitCode"),
    ("physical_connection_owner_uid", "PhysicalConnectionOwnerUid"),
)
PEER_INFO_LABELS = (
    "bgp_group_id",
    "name",
    "peer_ip_address",
    "peer_asn",
    "local_asn",
    "ip_version",
    "enable_bfd",
)


@dataclass(frozen=True, slots=True)
class VirtualBorderRouter:
    """One VBR, typed; ``info`` holds its descriptive labels in ``VBR_INFO_FIELDS`` order."""

    id: str
    status: str
    info: tuple[tuple[str, str], ...]
    bandwidth_mbps: float | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class BgpPeer:
    """One BGP session; ``status`` is its session state (what ``Stateful`` remembers)."""

    id: str
    vbr_id: str
    peer_status: str
    status: str
    info: tuple[tuple[str, str], ...]
    received_routes: float | None = None
    advertised_routes: float | None = None
    route_limit: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VbrSnapshot(PassSnapshot):
    """Every VBR and BGP peer of one account in one region, from one pass (sorted by ID)."""

    vbrs: tuple[VirtualBorderRouter, ...]
    peers: tuple[BgpPeer, ...]


def _required_id(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"record without {key}")
    return value


def parse_vbr(record: Mapping[str, Any]) -> VirtualBorderRouter:
    return VirtualBorderRouter(
        id=_required_id(record, "VbrId"),
        status=sys.intern(text(record.get("Status"))),
        info=tuple((label, sys.intern(text(record.get(key)))) for label, key in VBR_INFO_FIELDS),
        bandwidth_mbps=bounded(record.get("Bandwidth"), 0.0, _MAX_BANDWIDTH_MBPS),
        tags=tags(record.get("Tags"), "Tags"),
    )


def parse_peer(record: Mapping[str, Any]) -> BgpPeer:
    """Type one peer; ASNs and RouteLimit come as strings (numbers accepted), AuthKey is not
    read at all."""
    bfd = record.get("EnableBfd")
    values = (
        text(record.get("BgpGroupId")),
        text(record.get("Name")),
        text(record.get("PeerIpAddress")),
        text(record.get("PeerAsn")),
        text(record.get("LocalAsn")),
        text(record.get("IpVersion")).lower(),
        "true" if bfd is True or text(bfd).lower() == "true" else "false",
    )
    return BgpPeer(
        id=_required_id(record, "BgpPeerId"),
        vbr_id=text(record.get("RouterId")),
        peer_status=sys.intern(text(record.get("Status"))),
        status=sys.intern(text(record.get("BgpStatus")) or BGP_STATUS_UNKNOWN),
        info=tuple(zip(PEER_INFO_LABELS, map(sys.intern, values), strict=True)),
        received_routes=bounded(record.get("ReceivedRouteCount"), 0.0, _MAX_ROUTES),
        advertised_routes=bounded(record.get("AdvertisedRouteCount"), 0.0, _MAX_ROUTES),
        route_limit=bounded(record.get("RouteLimit"), 0.0, _MAX_ROUTES),
    )


VBRS = Listing(
    action="DescribeVirtualBorderRouters",
    wrapper="VirtualBorderRouterSet",
    item="VirtualBorderRouterType",
    parse=parse_vbr,
)
PEERS = Listing(
    action="DescribeBgpPeers",
    wrapper="BgpPeers",
    item="BgpPeer",
    parse=parse_peer,
)


async def collect(ctx: PassContext) -> VbrSnapshot:
    """Both listings complete, or an exception: a pass never mixes old VBRs with new peers."""
    started = time.monotonic()
    vbrs = await list_all(ctx, VBRS)
    peers = await list_all(ctx, PEERS)
    return VbrSnapshot(
        account=ctx.account,
        region_id=ctx.region_id,
        vbrs=tuple(vbrs),
        peers=tuple(sorted(peers, key=lambda peer: (peer.vbr_id, peer.id))),
        completed_at=ctx.clock(),
        duration_seconds=time.monotonic() - started,
    )


def vbr_inventory(ctx: PassContext) -> VbrSnapshot:
    """The VBRs of this pass's region, for a collector that joins with them (its ``needs``).

    ``NotReady`` until this collector's first good snapshot of the region: such a pass is
    skipped, not failed.
    """
    snapshot = ctx.sibling(NAME)
    if not isinstance(snapshot, VbrSnapshot):
        raise NotReady("no virtual border router inventory for this region yet")
    return snapshot


def _bandwidth(vbr: VirtualBorderRouter) -> float | None:
    return None if vbr.bandwidth_mbps is None else vbr.bandwidth_mbps * BYTES_PER_MBIT


VBR_FAMILIES: tuple[Family[VirtualBorderRouter], ...] = (
    info(
        VBR_INFO,
        "Virtual border router (one VLAN on a physical connection): 1, with its attributes.",
        [label for label, _ in VBR_INFO_FIELDS],
        lambda vbr: vbr.info,
        with_tags=lambda vbr: vbr.tags,
    ),
    state_set(
        VBR_STATUS,
        "Virtual border router status as a state set (as the API spells it, lower case).",
        "status",
        VBR_STATUSES,
        lambda vbr: vbr.status,
    ),
    gauge(
        VBR_BANDWIDTH,
        "Virtual border router bandwidth (the API's Mbit/s times 125000), when it has one.",
        _bandwidth,
    ),
)

PEER_FAMILIES: tuple[Family[BgpPeer], ...] = (
    info(
        BGP_INFO,
        "BGP peer (session) of a virtual border router: 1, with its attributes.",
        PEER_INFO_LABELS,
        lambda peer: peer.info,
    ),
    state_set(
        BGP_PEER_STATUS,
        "BGP peer configuration status as a state set.",
        "status",
        BGP_PEER_STATUSES,
        lambda peer: peer.peer_status,
    ),
    state_set(
        BGP_STATUS,
        "BGP session state as a state set; only Established carries routes.",
        "bgp_status",
        (*BGP_STATUSES, BGP_STATUS_UNKNOWN),
        lambda peer: peer.status,
    ),
    gauge(
        BGP_RECEIVED,
        "Routes received from the BGP peer (ReceivedRouteCount).",
        lambda peer: peer.received_routes,
    ),
    gauge(
        BGP_ADVERTISED,
        "Routes advertised to the BGP peer (AdvertisedRouteCount).",
        lambda peer: peer.advertised_routes,
    ),
    gauge(
        BGP_ROUTE_LIMIT,
        "Most routes the BGP peer may send (RouteLimit).",
        lambda peer: peer.route_limit,
    ),
    gauge_with_context(
        BGP_STATUS_CHANGE,
        "When this exporter first saw the BGP session's current state, as Unix time.",
        lambda peer, ctx: ctx.since.get(peer.id),
    ),
)


def _unknown(snapshot: VbrSnapshot) -> Iterable[UnknownValue]:
    for vbr in snapshot.vbrs:
        if vbr.status and vbr.status not in VBR_STATUSES:
            yield UnknownValue("VbrStatus", vbr.status, vbr.id)
    for peer in snapshot.peers:
        if peer.peer_status and peer.peer_status not in BGP_PEER_STATUSES:
            yield UnknownValue("BgpPeerStatus", peer.peer_status, peer.id)
        if peer.status not in BGP_STATUSES and peer.status != BGP_STATUS_UNKNOWN:
            yield UnknownValue("BgpStatus", peer.status, peer.id)


COLLECTOR: Collector[VbrSnapshot] = Collector(
    name=NAME,
    api="vpc",
    collect=collect,
    default_interval=60.0,
    records=(
        per_id("vbr_id", lambda snapshot: snapshot.vbrs, VBR_FAMILIES),
        RecordFamilies(
            records=lambda snapshot: snapshot.peers,
            identity=lambda peer: (("vbr_id", peer.vbr_id), ("bgp_peer_id", peer.id)),
            families=PEER_FAMILIES,
        ),
    ),
    counts=(
        CountFamily(
            REGION_VBRS,
            "Number of virtual border routers exported for this account and region.",
            lambda snapshot: len(snapshot.vbrs),
        ),
        CountFamily(
            REGION_PEERS,
            "Number of BGP peers exported for this account and region.",
            lambda snapshot: len(snapshot.peers),
        ),
    ),
    states=lambda snapshot: snapshot.peers,
    state_kind="bgp_peer",
    unknown=_unknown,
    enum_fields=("VbrStatus", "BgpPeerStatus", "BgpStatus"),
)
