"""Deterministic VBRs and BGP peers on a generated fleet of lines.

A separate random stream per (seed, account) keeps the lines themselves exactly as they were
before VBRs existed, so scenarios that select lines still name the same ones. Of the Enabled
lines (hosted ones too) in generation order, every fifth has no VBR and about one in four of
the others has two (a hosted line at most one); each VBR has an IPv4 peer and about one in
three an IPv6 peer as well; about half have a health check configured. A steady peer receives
1-60 routes, well below the 80 % of its RouteLimit (110) where a session is near its limit.

The two legs of a redundant pair carry the same on-prem network: when the leg generated first
has VBRs, the second gets as many, with the same IPv6 sessions, and its peers receive and
advertise the same route counts (drawn once per pair, not per peer). A first leg without VBRs
leaves the second as the positions above make it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from exporter.simulator.lines.fleet import DAY, id_prefix, iso, resource_groups
from exporter.simulator.lines.lifecycle import parse_time
from exporter.simulator.lines.model import HOSTED, Connection
from exporter.simulator.vbr.model import BgpPeer, Vbr

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_ENV = ("prod", "prod", "staging", "dev")


def _suffix(rng: random.Random, n: int = 18) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(n))


def new_id(rng: random.Random, kind: str, region: str) -> str:
    """``vbr-bp1…``, ``bgp-bp1…``, ``bgpg-bp1…``, ``ri-bp1…``, ``vtb-bp1…``, ``cen-…``."""
    return f"{kind}-{id_prefix(region)}1{_suffix(rng)}"


def vbr_count(n: int, conn: Connection) -> int:
    """VBRs on the ``n``-th Enabled line (by position, so every fleet has each kind)."""
    if n % 5 == 3:
        return 0
    count = 2 if n % 4 == 1 else 1
    return 1 if conn.fields.get("ProductType") == HOSTED else count


def generate_vbrs(
    *, seed: int, account: str, uid: int, conns: Iterable[Connection], now: float
) -> tuple[list[Vbr], list[BgpPeer]]:
    """VBRs and peers for one account's generated lines, in generation order."""
    rng = random.Random(f"{seed}:{account}:vbr")
    vbrs: list[Vbr] = []
    peers: list[BgpPeer] = []
    # A pair's first leg, by line ID: its VBRs' peers (their route counts), for the second leg.
    first_legs: dict[str, list[list[BgpPeer]]] = {}
    n = 0
    for conn in conns:
        if conn.status != "Enabled":
            continue
        partner = str(conn.fields.get("RedundantPhysicalConnectionId") or "")
        mirrored = first_legs.get(partner)
        count = vbr_count(n, conn) if mirrored is None else len(mirrored)
        layout: list[list[BgpPeer]] = []
        for j in range(count):
            ipv6 = len(mirrored[j]) > 1 if mirrored is not None else rng.random() < 0.35
            vbr = new_vbr(rng, conn, account, uid, now, ipv6=ipv6, index=j)
            vbrs.append(vbr)
            sessions = [new_peer(rng, vbr, "ipv4")]
            if vbr.fields["EnableIpv6"]:
                sessions.append(new_peer(rng, vbr, "ipv6"))
            if mirrored is not None:
                for mine, theirs in zip(sessions, mirrored[j], strict=True):
                    for key in ("ReceivedRouteCount", "AdvertisedRouteCount"):
                        mine.fields[key] = theirs.fields[key]
            peers.extend(sessions)
            layout.append(sessions)
        if partner and mirrored is None and layout:
            first_legs[conn.id] = layout
        n += 1
    return vbrs, peers


def _created(rng: random.Random, conn: Connection, now: float) -> float:
    enabled = parse_time(conn.fields.get("EnabledTime")) or now - 30 * DAY
    return min(now - 60, enabled + rng.uniform(0.1, 10) * DAY)


def new_vbr(
    rng: random.Random,
    conn: Connection,
    account: str,
    uid: int,
    now: float,
    *,
    ipv6: bool,
    index: int = 0,
) -> Vbr:
    """A generated active VBR on ``conn``; the line's own fields are filled at answer time."""
    region = conn.region
    created = iso(_created(rng, conn, now))
    hosted = conn.fields.get("ProductType") == HOSTED
    vlan = int(conn.fields.get("VlanId", 0)) if hosted else rng.randint(1, 2999)
    net = rng.randrange(64 * 256)
    v4 = f"10.{net // 256 + 64}.{net % 256}"
    v6 = f"2408:4004:{rng.randrange(0x10000):x}:{rng.randrange(0x10000):x}"
    short = region.split("-", 1)[1][:3]
    line_name = str(conn.fields.get("Name", conn.id))
    fields: dict[str, Any] = {
        "VbrId": new_id(rng, "vbr", region),
        "Name": f"{short}-vbr-{rng.randrange(10000):04d}",
        "Description": f"VBR {index + 1} on {line_name}",
        "Status": "active",
        "Type": "pconnVBR",
        "VlanId": vlan,
        "VlanInterfaceId": new_id(rng, "ri", region),
        "PhysicalConnectionId": conn.id,
        "PhysicalConnectionOwnerUid": str(uid),
        "PhysicalConnectionStatus": conn.status,
        "PhysicalConnectionBusinessStatus": "",
        "AccessPointId": "",
        "CircuitCode": "",
        "LocalGatewayIp": f"{v4}.1",
        "PeerGatewayIp": f"{v4}.2",
        "PeeringSubnetMask": "255.255.255.252",
        "EnableIpv6": ipv6,
        "LocalIpv6GatewayIp": f"{v6}::1" if ipv6 else "",
        "PeerIpv6GatewayIp": f"{v6}::2" if ipv6 else "",
        "PeeringIpv6SubnetMask": f"{v6}::/64" if ipv6 else "",
        "MinRxInterval": 300,
        "MinTxInterval": 300,
        "DetectMultiplier": 3,
        "Mtu": 1500,
        "RouteTableId": new_id(rng, "vtb", region),
        "CreationTime": created,
        "ActivationTime": created,
        "TerminationTime": "",
        "RecoveryTime": "",
        "PConnVbrChargeType": "",
        "PConnVbrExpireTime": "",
        "EccId": "",
        "CloudBoxInstanceId": "",
        "EcrId": "",
        "EcrOwnerId": "",
        "EcrAttatchStatus": "",
        "SitelinkEnable": False,
        "ResourceGroupId": rng.choice(resource_groups(account)),
        "AssociatedPhysicalConnections": {"AssociatedPhysicalConnection": []},
        "AssociatedCens": {"AssociatedCen": _cens(rng, uid)},
        "Tags": {"Tags": [{"Key": "env", "Value": rng.choice(_ENV)}] if rng.random() < 0.8 else []},
    }
    if hosted:
        fields["Bandwidth"] = conn.fields.get("Bandwidth")
    return Vbr(account, region, conn.id, fields, health_check=rng.random() < 0.5)


def _cens(rng: random.Random, uid: int) -> list[dict[str, Any]]:
    if rng.random() >= 0.4:
        return []
    return [{"CenId": f"cen-{_suffix(rng)}", "CenOwnerId": uid, "CenStatus": "Attached"}]


def new_peer(rng: random.Random, vbr: Vbr, ip_version: str) -> BgpPeer:
    """An Established peer on ``vbr`` at the VBR's customer-side address."""
    f = vbr.fields
    v6 = ip_version == "ipv6"
    address = str(f.get("PeerIpv6GatewayIp" if v6 else "PeerGatewayIp", ""))
    peer_asn = (
        rng.randint(4200000001, 4200099999) if rng.random() < 0.15 else rng.randint(64512, 65534)
    )
    fields: dict[str, Any] = {
        "BgpPeerId": new_id(rng, "bgp", vbr.region),
        "Name": f"{f.get('Name', vbr.id)}-{ip_version}",
        "Description": "",
        "BgpGroupId": new_id(rng, "bgpg", vbr.region),
        "RouterId": vbr.id,
        "RegionId": vbr.region,
        "PeerIpAddress": address,
        "PeerAsn": str(peer_asn),
        "LocalAsn": "45104",
        "IpVersion": ip_version,
        "Status": "Available",
        "BgpStatus": "Established",
        "AuthKey": "",
        "Hold": "30",
        "Keepalive": "10",
        "RouteLimit": "110",
        "IsFake": False,
        "EnableBfd": rng.random() < 0.6,
        "BfdMultiHop": 255,
        "AdvertisedRouteCount": rng.randint(1, 30),
        "ReceivedRouteCount": rng.randint(1, 60),
        "GmtModified": str(f.get("CreationTime", "")),
    }
    return BgpPeer(vbr.account, vbr.region, vbr.id, fields)
