"""Virtual border routers (VBRs) and BGP peers: the stored records and what the API shows.

A VBR sits on a physical connection and a BGP peer on a VBR. What the API shows is derived at
answer time from the stored record *and* the line under it, so the line's lifecycle drives them
without any bookkeeping: a line that is not Enabled takes its VBRs with it (terminating,
terminated, unconfirmed) and its sessions down; a locked line (BusinessStatus not Normal)
idles its sessions. A session that is not Established carries no routes.

Each peer is alone in its own BGP group, so a group is a projection of its peer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from exporter.simulator.lines.model import HOSTED, Connection, render
from exporter.vocabulary import BGP_PEER_STATUSES, BGP_STATUSES, IP_VERSIONS, VBR_STATUSES

ACTIVE = "active"
ESTABLISHED = "Established"
# Besides the documented session states: the empty string old samples show, and the two BGP
# states a client should treat as "not established" without knowing them.
SETTABLE_BGP_STATUSES: tuple[str, ...] = (*BGP_STATUSES, "", "OpenSent", "OpenConfirm")
# VBR status while its line is not Enabled (the VBR's own status shows only on Enabled lines).
_LINE_VBR_STATUS = {
    "Terminating": "terminating",
    "Terminated": "terminated",
    "Canceled": "terminated",
}
# Fields taken from the line at answer time (never stored on their own).
LINE_FIELDS: tuple[str, ...] = (
    "PhysicalConnectionId",
    "PhysicalConnectionStatus",
    "PhysicalConnectionBusinessStatus",
    "PhysicalConnectionOwnerUid",
    "AccessPointId",
    "CircuitCode",
)
# A peer's fields that belong to its BGP group, with the group's wire type.
GROUP_FIELDS: tuple[str, ...] = (
    "BgpGroupId",
    "Name",
    "Description",
    "RouterId",
    "RegionId",
    "PeerAsn",
    "LocalAsn",
    "AuthKey",
    "Hold",
    "Keepalive",
    "RouteLimit",
    "IsFake",
    "IpVersion",
    "Status",
)


class Vbr:
    """One VBR: owner, region, the line it sits on, its stored wire fields and whether a health
    check is configured (which decides whether health-check metrics have data)."""

    __slots__ = ("account", "fields", "health_check", "pc_id", "region")

    def __init__(
        self, account: str, region: str, pc_id: str, fields: dict[str, Any], health_check: bool
    ) -> None:
        self.account = account
        self.region = region
        self.pc_id = pc_id
        self.fields = fields
        self.health_check = health_check

    @property
    def id(self) -> str:
        return str(self.fields["VbrId"])


class BgpPeer:
    """One BGP peer (session) on a VBR. ``flap_until`` (real epoch seconds) holds a temporary
    session state, ``flap_status``, that ends by itself."""

    __slots__ = ("account", "fields", "flap_status", "flap_until", "region", "vbr_id")

    def __init__(self, account: str, region: str, vbr_id: str, fields: dict[str, Any]) -> None:
        self.account = account
        self.region = region
        self.vbr_id = vbr_id
        self.fields = fields
        self.flap_until: float | None = None
        self.flap_status = "Down"

    @property
    def id(self) -> str:
        return str(self.fields["BgpPeerId"])

    def flapping(self, now: float) -> bool:
        return self.flap_until is not None and now < self.flap_until


# -- what the API shows ---------------------------------------------------------------------
def vbr_status(vbr: Vbr, conn: Connection) -> str:
    if conn.status == "Enabled":
        return str(vbr.fields.get("Status", ACTIVE))
    return _LINE_VBR_STATUS.get(conn.status, "unconfirmed")


def vbr_view(vbr: Vbr, conn: Connection, owner_uid: int) -> dict[str, Any]:
    """The VBR as DescribeVirtualBorderRouters shows it, with the line's current state."""
    view = dict(vbr.fields)
    view.update(
        Status=vbr_status(vbr, conn),
        PhysicalConnectionId=conn.id,
        PhysicalConnectionOwnerUid=str(owner_uid),
        PhysicalConnectionStatus=conn.status,
        PhysicalConnectionBusinessStatus=conn.fields.get("BusinessStatus", ""),
        AccessPointId=conn.fields.get("AccessPointId", ""),
        CircuitCode=conn.fields.get("CircuitCode", ""),
    )
    if conn.fields.get("ProductType") == HOSTED:
        view["Bandwidth"] = conn.fields.get("Bandwidth")
    return view


def session_state(peer: BgpPeer, vbr: Vbr, conn: Connection, now: float) -> str:
    """BgpStatus: the line and VBR first (down or idle), then a running flap, then the
    peer's own state."""
    if conn.status != "Enabled" or vbr_status(vbr, conn) != ACTIVE:
        return "Down"
    if conn.fields.get("BusinessStatus") != "Normal":
        return "Idle"
    if peer.flapping(now):
        return peer.flap_status
    return str(peer.fields.get("BgpStatus", ""))


def peer_view(peer: BgpPeer, vbr: Vbr, conn: Connection, now: float) -> dict[str, Any]:
    view = dict(peer.fields)
    state = session_state(peer, vbr, conn, now)
    view["BgpStatus"] = state
    view["RegionId"] = conn.region
    if state != ESTABLISHED:
        view["ReceivedRouteCount"] = 0
        view["AdvertisedRouteCount"] = 0
    return view


def group_view(peer: Mapping[str, Any]) -> dict[str, Any]:
    """The peer's BGP group as DescribeBgpGroups shows it (IsFake a string there)."""
    group = {k: peer.get(k, "") for k in GROUP_FIELDS}
    group["IsFake"] = "true" if peer.get("IsFake") is True else "false"
    return group


# -- changes from the control plane ---------------------------------------------------------
def _int(low: int, high: int) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{key}: must be an integer in {low}..{high}, got {value!r}")
        return value

    return check


def _digits(low: int, high: int) -> Callable[[str, Any], Any]:
    """Numbers the API sends as strings (ASNs, RouteLimit, Hold, Keepalive): int or digits."""

    def check(key: str, value: Any) -> str:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"{key}: must be a number in {low}..{high}, got {value!r}")
        return str(int(text))

    return check


def _one_of(choices: tuple[str, ...], fold: bool = False) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> str:
        if isinstance(value, str):
            for choice in choices:
                if value == choice or (fold and value.lower() == choice.lower()):
                    return choice
        raise ValueError(f"{key}: must be one of {', '.join(map(repr, choices))}, got {value!r}")

    return check


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: must be true or false, got {value!r}")
    return value


def _text(key: str, value: Any) -> str:
    """Any string; the error names the type only, as the value may be a secret (AuthKey)."""
    if not isinstance(value, str):
        raise ValueError(f"{key}: must be a string, got {type(value).__name__}")
    return value


VBR_RULES: dict[str, Callable[[str, Any], Any]] = {
    "Status": _one_of(VBR_STATUSES, fold=True),
    "Name": _text,
    "Description": _text,
    "Type": _text,
    "VlanId": _int(0, 2999),
    "EnableIpv6": _bool,
    "Bandwidth": _int(1, 1_000_000),
    "MinRxInterval": _int(200, 1000),
    "MinTxInterval": _int(200, 1000),
    "DetectMultiplier": _int(3, 10),
    "Mtu": _int(68, 9216),
}
PEER_RULES: dict[str, Callable[[str, Any], Any]] = {
    "BgpStatus": _one_of(SETTABLE_BGP_STATUSES),
    "Status": _one_of(BGP_PEER_STATUSES),
    "ReceivedRouteCount": _int(0, 10_000_000),
    "AdvertisedRouteCount": _int(0, 10_000_000),
    "RouteLimit": _digits(0, 10_000_000),
    "Hold": _digits(0, 65535),
    "Keepalive": _digits(0, 65535),
    "PeerAsn": _digits(1, 4294967295),
    "LocalAsn": _digits(1, 4294967295),
    "AuthKey": _text,
    "Name": _text,
    "Description": _text,
    "PeerIpAddress": _text,
    "GmtModified": _text,
    "IpVersion": _one_of(IP_VERSIONS, fold=True),
    "IsFake": _bool,
    "EnableBfd": _bool,
    "BfdMultiHop": _int(1, 255),
}
VBR_FIXED: frozenset[str] = frozenset({"VbrId", *LINE_FIELDS})
PEER_FIXED: frozenset[str] = frozenset({"BgpPeerId", "BgpGroupId", "RouterId", "RegionId"})


def checked_changes(
    changes: Mapping[str, Any],
    rules: Mapping[str, Callable[[str, Any], Any]],
    fixed: frozenset[str],
    what: str,
) -> dict[str, Any]:
    """Validated, normalized changes (``None`` removes a free-form field); ValueError names
    the first bad field. Typed fields cannot be removed, identity and line fields not set."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{what} field names must be non-empty strings")
        if key in fixed:
            raise ValueError(f"{key}: cannot be changed on a {what}")
        rule = rules.get(key)
        if rule is not None and value is None:
            raise ValueError(f"{key}: cannot be removed from a {what}")
        out[key] = value if rule is None or value is None else rule(key, value)
    return out


def apply_changes(fields: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The fields after the changes, checked to be sendable; the input is left untouched."""
    new = dict(fields)
    for key, value in changes.items():
        if value is None:
            new.pop(key, None)
        else:
            new[key] = value
    render(new)  # raises ValueError naming a field that cannot be sent
    return new


def wall_clock() -> float:
    """Real time, which flaps run on (like scenario steps), whatever the simulated clock does."""
    return time.time()
