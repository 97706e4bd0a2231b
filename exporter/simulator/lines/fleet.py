"""Deterministic fleet generator: realistic physical connections from (seed, account, count).

The same seed always gives the same IDs and fields (times are offsets from the simulator's
clock at start), so scenarios and tests can name connections. The mix is chosen so that a fleet
of 40 or more covers every status and business status, and EndTimes fall within 7 and 30 days
for some lines, which is what the exporter's alerts are about.
"""

from __future__ import annotations

import hashlib
import random
import string
import time
from collections.abc import Sequence
from typing import Any

from exporter.simulator.lines.model import (
    DEDICATED,
    HOSTED,
    STATUSES,
    Connection,
)

DEFAULT_REGIONS: tuple[str, ...] = ("cn-hangzhou", "cn-beijing", "cn-shanghai", "ap-southeast-1")

# Region code letters the real IDs carry (pc-bp1... is Hangzhou); others get a stable made-up pair.
_ID_PREFIX = {
    "cn-hangzhou": "bp",
    "cn-beijing": "2z",
    "cn-shanghai": "uf",
    "cn-shenzhen": "wz",
    "cn-qingdao": "m5",
    "cn-zhangjiakou": "8v",
    "cn-huhehaote": "hp",
    "cn-hongkong": "j6",
    "ap-southeast-1": "t4",
    "ap-northeast-1": "6w",
    "us-west-1": "rj",
    "us-east-1": "0x",
    "eu-central-1": "gw",
    "eu-west-1": "d7",
}
# Real access-point IDs where known (Singapore's is misspelt by the vendor, kept so).
_ACCESS_POINTS = {
    "cn-hangzhou": ("ap-cn-hangzhou-yh-B", "ap-cn-hangzhou-xs-A", "ap-cn-hangzhou-jg-C"),
    "cn-beijing": ("ap-cn-beijing-dx-A", "ap-cn-beijing-ft-A", "ap-cn-beijing-yq-B"),
    "cn-shanghai": ("ap-cn-shanghai-nh-A", "ap-cn-shanghai-zj-B", "ap-cn-shanghai-jq-C"),
    "ap-southeast-1": ("ap-sg-singpore-A", "ap-sg-singpore-B", "ap-sg-singpore-C"),
    "cn-hangzhou-finance": ("ap-cn-hangzhou-finance-yh-E",),
}
_SITES = ("dx", "ft", "yh", "xs", "gs", "nh", "jq", "zj", "yq", "sh")
_ROLES = ("core", "backup", "idc", "office", "edge", "dr", "lab")
_ENV = ("prod", "prod", "staging", "dev")
_TEAMS = ("netops", "payments", "search", "platform", "data")
_ALPHABET = string.ascii_lowercase + string.digits
_PENDING_CYCLE = tuple(s for s in STATUSES if s != "Enabled")
_LOA = {
    "Initial": "Applying",
    "Approved": "Accept",
    "Allocating": "Accept",
    "Allocated": "Available",
    "Confirmed": "Completing",
    "Rejected": "Rejected",
    "Canceled": "Deleted",
    "Allocation Failed": "Rejected",
    "Terminating": "Complete",
    "Terminated": "Deleted",
    "Enabled": "Available",
}
DAY = 86400.0


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _stable_pair(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return _ALPHABET[digest[0] % 36] + _ALPHABET[digest[1] % 36]


def id_prefix(region: str) -> str:
    return _ID_PREFIX.get(region) or _stable_pair(region)


def access_points(region: str) -> tuple[str, ...]:
    """The access points of a region: what Create accepts and what generated lines use."""
    known = _ACCESS_POINTS.get(region)
    if known:
        return known
    digest = hashlib.sha256(region.encode()).digest()
    return tuple(f"ap-{region}-{_SITES[digest[i] % len(_SITES)]}-{'ABC'[i]}" for i in range(3))


def new_connection_id(rng: random.Random, region: str) -> str:
    return f"pc-{id_prefix(region)}1" + "".join(rng.choice(_ALPHABET) for _ in range(18))


def resource_groups(account: str) -> tuple[str, ...]:
    return tuple(
        "rg-acfm" + hashlib.sha256(f"{account}:{i}".encode()).hexdigest()[:11] for i in range(3)
    )


def spec_for(bandwidth: int) -> str:
    return f"{bandwidth}M" if bandwidth < 1000 else f"{bandwidth // 1000}G"


def generate_fleet(
    *,
    seed: int,
    account: str,
    uid: int,
    count: int,
    regions: Sequence[str],
    now: float,
) -> list[Connection]:
    """``count`` connections of one account spread round-robin over ``regions``."""
    rng = random.Random(f"{seed}:{account}")
    groups = resource_groups(account)
    out: list[Connection] = []
    parents: dict[str, list[Connection]] = {}
    pending = 0
    for i in range(count):
        # Mix by position within the region as well, so every region gets every kind of line.
        slot = i // len(regions) + i % len(regions)
        region = regions[i % len(regions)]
        status = "Enabled"
        if slot % 4 == 1:
            status = _PENDING_CYCLE[pending % len(_PENDING_CYCLE)]
            pending += 1
        candidates = parents.get(region, [])
        hosted = slot % 10 == 7 and bool(candidates)
        fields = _base_fields(rng, i, region, status, groups)
        if hosted:
            parent = candidates[rng.randrange(len(candidates))]
            _make_hosted(rng, fields, parent, uid)
            parent.fields["VirtualPhysicalConnectionCount"] += 1
        conn = Connection(account, region, fields, now)
        _set_times(rng, i, i // len(regions) + 3 * (i % len(regions)), conn, now)
        out.append(conn)
        if not hosted and status == "Enabled":
            parents.setdefault(region, []).append(conn)
    _pair_redundant(out)
    return out


def _base_fields(
    rng: random.Random, i: int, region: str, status: str, groups: tuple[str, ...]
) -> dict[str, Any]:
    pc_id = new_connection_id(rng, region)
    operator = rng.choice(("CT", "CT", "CU", "CM", "CO", "Equinix", "Other"))
    if region.startswith(("cn-",)) and operator in ("Equinix", "Other"):
        operator = "CO"
    if not region.startswith("cn-") and operator in ("CT", "CU", "CM", "CO"):
        operator = rng.choice(("Equinix", "Other", "CT"))
    bandwidth = rng.choice((50, 100, 200, 500, 1000, 1000, 2000, 5000, 10000, 10240))
    if bandwidth <= 100:
        port = "100Base-T"
    elif bandwidth <= 1000:
        port = rng.choice(("1000Base-T", "1000Base-LX"))
    elif bandwidth == 10240:
        port = rng.choice(("40GBase-LR", "100GBase-LR"))
    else:
        port = rng.choice(("10GBase-T", "10GBase-LR"))
    business = "Normal"
    if status == "Enabled" and i % 13 == 6:
        business = "FinancialLocked"
    elif status == "Enabled" and i % 17 == 8:
        business = "SecurityLocked"
    short = region.split("-", 1)[1][:3]
    site = rng.choice(_SITES)
    fields: dict[str, Any] = {
        "PhysicalConnectionId": pc_id,
        "Name": f"{short}-{rng.choice(_ROLES)}-{i:04d}",
        "Description": f"Line to {site.upper()} data center via {operator}",
        "AccessPointId": rng.choice(access_points(region)),
        "AccessPointType": "VPC",
        "Type": "VPC",
        "ProductType": DEDICATED,
        "Status": status,
        "BusinessStatus": business,
        "LoaStatus": _LOA[status],
        "Bandwidth": bandwidth,
        "Spec": spec_for(bandwidth) if i % 11 else "Large",
        "ExpectSpec": spec_for(bandwidth),
        "PortType": port,
        "PortNumber": f"1/{rng.randint(1, 2)}/{rng.randint(1, 48)}",
        "LineOperator": operator,
        "ChargeType": "PostPaid" if i % 23 == 11 else "Prepaid",
        "OrderMode": "PayByPhysicalConnectionOwner",
        "HasReservationData": "false",
        "ResourceGroupId": groups[rng.randrange(len(groups))],
        "QosId": f"qos-{id_prefix(region)}1" + "".join(rng.choice(_ALPHABET) for _ in range(17)),
        "CircuitCode": f"{operator.lower()}{rng.randint(100000, 999999)}",
        "AdLocation": f"Building {rng.randint(1, 20)}, {site.upper()} Campus, {region}",
        "AdDetailLocation": f"Room {rng.randint(1, 9)}0{rng.randint(1, 9)}, Rack "
        f"R{rng.randint(1, 40):02d}, Position {rng.randint(1, 42)}",
        "PeerLocation": f"Customer DC {rng.randint(1, 30)}, {region}",
        "VirtualPhysicalConnectionCount": 0,
        "DownDelayTime": 0,
        "Tags": {
            "tags": [
                {"Key": "env", "Value": rng.choice(_ENV)},
                {"Key": "team", "Value": rng.choice(_TEAMS)},
            ]
        },
    }
    if port.endswith("-LR") or port.endswith("-LX"):
        fields["OpticalModuleModel"] = f"{port}-SFP+"
    # Some records lack optional fields, as real ones do.
    if i % 6 == 2:
        del fields["Description"]
    if i % 7 == 4:
        del fields["CircuitCode"]
    if i % 5 == 4:
        del fields["Tags"]
    if i % 9 == 5:
        del fields["QosId"]
        del fields["AdDetailLocation"]
    return fields


def _make_hosted(rng: random.Random, fields: dict[str, Any], parent: Connection, uid: int) -> None:
    bandwidth = rng.choice((50, 100, 200, 500))
    fields.update(
        {
            "ProductType": HOSTED,
            "ParentPhysicalConnectionId": parent.id,
            "ParentPhysicalConnectionAliUid": uid,
            "AccessPointId": parent.fields["AccessPointId"],
            "PortType": parent.fields["PortType"],
            "PortNumber": parent.fields["PortNumber"],
            "LineOperator": parent.fields["LineOperator"],
            "Bandwidth": bandwidth,
            "Spec": spec_for(bandwidth),
            "ExpectSpec": spec_for(bandwidth),
            "VlanId": str(rng.randint(1, 2999)),
            "VpconnStatus": "Enabled" if fields["Status"] == "Enabled" else "Confirmed",
            "OrderMode": rng.choice(
                ("PayByVirtualPhysicalConnectionOwner", "PayByPhysicalConnectionOwner")
            ),
        }
    )
    fields.pop("VirtualPhysicalConnectionCount", None)
    fields.pop("OpticalModuleModel", None)


def _set_times(rng: random.Random, i: int, slot: int, conn: Connection, now: float) -> None:
    fields = conn.fields
    created = now - rng.uniform(30, 1500) * DAY
    fields["CreationTime"] = iso(created)
    status = conn.status
    if status in ("Enabled", "Terminating", "Terminated"):
        enabled = created + rng.uniform(1, 20) * DAY
        fields["EnabledTime"] = iso(enabled)
        if fields["ChargeType"] != "Prepaid":
            return
        bucket = slot % 10
        if status == "Terminated" or i % 50 == 23:
            end = now - rng.uniform(1, 20) * DAY
        elif bucket == 0:
            end = now + rng.uniform(0.2, 7) * DAY
        elif bucket == 1:
            end = now + rng.uniform(8, 30) * DAY
        else:
            end = now + rng.uniform(31, 720) * DAY
        fields["EndTime"] = iso(end)
        if end < now and status == "Enabled":
            fields["BusinessStatus"] = "FinancialLocked"
            conn.expired_end_time = fields["EndTime"]
        if i % 7 == 3 and end > now:
            fields["HasReservationData"] = "true"
            fields["ReservationActiveTime"] = fields["EndTime"]
            fields["ReservationInternetChargeType"] = "PayByBandwidth"
            fields["ReservationOrderType"] = "RENEW"


def _pair_redundant(conns: list[Connection]) -> None:
    """Every sixth usable dedicated line per region gets a redundant partner (both ways)."""
    by_region: dict[str, list[Connection]] = {}
    for conn in conns:
        if conn.fields["ProductType"] == DEDICATED and conn.status in (
            "Enabled",
            "Allocated",
            "Confirmed",
        ):
            by_region.setdefault(conn.region, []).append(conn)
    for group in by_region.values():
        for j in range(0, len(group) - 1, 6):
            a, b = group[j], group[j + 1]
            a.fields["RedundantPhysicalConnectionId"] = b.id
            b.fields["RedundantPhysicalConnectionId"] = a.id
