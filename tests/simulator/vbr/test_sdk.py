"""VBRs, BGP peers and BGP groups read with the official SDK (alibabacloud-vpc20160428).

The SDK's models take whatever JSON type arrives, so ``to_map()`` shows the wire types: the
tests check them against what the SDK declares (VlanId int, ASNs/RouteLimit/Hold/Keepalive
strings, IsFake a bool on peers and a "true"/"false" string on groups).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_vpc20160428 import models as vpc
from alibabacloud_vpc20160428.client import Client

from exporter.simulator import Simulator, SimulatorThread
from exporter.vocabulary import BGP_STATUSES, VBR_STATUSES
from tests.simulator.conftest import NO_RETRY, control, sdk_client, wait_for

REGION = "cn-shanghai"
MODES = [(None, False), ("v2", False), (None, True), ("v2", True)]
Filter = vpc.DescribeVirtualBorderRoutersRequestFilter


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=5, connections=150, regions=[REGION], lifecycle=False)
    with SimulatorThread(sim) as url:
        yield sim, url


@pytest.fixture
def fresh() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=5, connections=30, regions=[REGION])
    with SimulatorThread(sim) as url:
        yield sim, url


def all_vbrs(sdk: Client, **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        request = vpc.DescribeVirtualBorderRoutersRequest(
            region_id=REGION, page_size=50, page_number=page, **kw
        )
        body = sdk.describe_virtual_border_routers_with_options(request, NO_RETRY).body
        assert (body.page_number, body.page_size) == (page, 50) and body.request_id
        out += [v.to_map() for v in body.virtual_border_router_set.virtual_border_router_type]
        if page * 50 >= body.total_count:
            assert len(out) == body.total_count
            return out
        page += 1


def all_peers(sdk: Client, groups: bool = False, **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        if groups:
            body: Any = sdk.describe_bgp_groups_with_options(
                vpc.DescribeBgpGroupsRequest(
                    region_id=REGION, page_size=50, page_number=page, **kw
                ),
                NO_RETRY,
            ).body
            out += [g.to_map() for g in body.bgp_groups.bgp_group]
        else:
            body = sdk.describe_bgp_peers_with_options(
                vpc.DescribeBgpPeersRequest(region_id=REGION, page_size=50, page_number=page, **kw),
                NO_RETRY,
            ).body
            out += [p.to_map() for p in body.bgp_peers.bgp_peer]
        if page * 50 >= body.total_count:
            assert len(out) == body.total_count
            return out
        page += 1


def vbr_filter(key: str, *values: str) -> list[Any]:
    return [Filter(key=key, value=list(values))]


@pytest.mark.parametrize(("algorithm", "sts"), MODES)
def test_vbrs_page_through_the_sdk(
    served: tuple[Simulator, str], algorithm: str | None, sts: bool
) -> None:
    sim, url = served
    seen = all_vbrs(sdk_client(url, algorithm, sts))
    expected = sim.vbrs(region=REGION)
    assert len(seen) == len(expected) > 100  # more than two pages
    lines = {c["PhysicalConnectionId"]: c for c in sim.connections(region=REGION)}
    for model, record in zip(seen, expected, strict=True):
        for key, value in model.items():
            assert value == record[key], key
        assert type(model["VlanId"]) is int and model["Status"] in VBR_STATUSES
        assert type(model["EnableIpv6"]) is bool and type(model["Mtu"]) is int
        assert set(model["Tags"]) == {"Tags"}  # capital T inside, unlike connections
        line = lines[model["PhysicalConnectionId"]]
        assert model["PhysicalConnectionStatus"] == line["Status"]
        assert model["PhysicalConnectionBusinessStatus"] == line["BusinessStatus"]
        assert model["AccessPointId"] == line["AccessPointId"]
        assert model["CircuitCode"] == line.get("CircuitCode", "")
        assert model["PhysicalConnectionOwnerUid"] == "1234567890123456"
        if line["ProductType"] == "VirtualPhysicalConnection":
            assert model["Bandwidth"] == line["Bandwidth"]
            assert model["VlanId"] == int(line["VlanId"])
        else:
            assert "Bandwidth" not in model
    assert any(m["Tags"]["Tags"] for m in seen)
    assert any("Bandwidth" in m for m in seen)  # hosted lines have VBRs too


@pytest.mark.parametrize(("algorithm", "sts"), [(None, False), ("v2", True)])
def test_peers_and_groups_page_through_the_sdk(
    served: tuple[Simulator, str], algorithm: str | None, sts: bool
) -> None:
    sim, url = served
    sdk = sdk_client(url, algorithm, sts)
    peers = all_peers(sdk)
    assert peers == sim.bgp_peers(region=REGION) and len(peers) > 100
    vbr_ids = {v["VbrId"] for v in sim.vbrs(region=REGION)}
    for peer in peers:
        for key in ("PeerAsn", "LocalAsn", "RouteLimit", "Hold", "Keepalive", "AuthKey"):
            assert type(peer[key]) is str, key
        for key in ("ReceivedRouteCount", "AdvertisedRouteCount", "BfdMultiHop"):
            assert type(peer[key]) is int, key
        assert type(peer["IsFake"]) is bool and type(peer["EnableBfd"]) is bool
        assert peer["AuthKey"] == "" and peer["RouterId"] in vbr_ids
        assert peer["BgpStatus"] in BGP_STATUSES and peer["RegionId"] == REGION
    assert {p["IpVersion"] for p in peers} == {"ipv4", "ipv6"}
    groups = all_peers(sdk, groups=True)
    assert [g["BgpGroupId"] for g in groups] == [p["BgpGroupId"] for p in peers]
    for group, peer in zip(groups, peers, strict=True):
        assert group["IsFake"] == "false" and all(type(v) is str for v in group.values())
        assert (group["RouterId"], group["PeerAsn"]) == (peer["RouterId"], peer["PeerAsn"])


def test_vbr_filters(served: tuple[Simulator, str]) -> None:
    sim, url = served
    sdk = sdk_client(url)
    vbrs = sim.vbrs(region=REGION)
    two = [vbrs[0]["VbrId"], vbrs[7]["VbrId"]]
    assert [v["VbrId"] for v in all_vbrs(sdk, filter=vbr_filter("VbrId", *two))] == two
    # Values ORed within a key, keys ANDed; values match whatever their case.
    line = vbrs[3]["PhysicalConnectionId"]
    on_line = [v["VbrId"] for v in vbrs if v["PhysicalConnectionId"] == line]
    both = vbr_filter("PhysicalConnectionId", line) + vbr_filter("Status", "ACTIVE")
    assert [v["VbrId"] for v in all_vbrs(sdk, filter=both)] == on_line
    assert len(all_vbrs(sdk, filter=vbr_filter("type", "PCONNVBR"))) == len(vbrs)
    assert all_vbrs(sdk, filter=vbr_filter("eccId", "ecc-none")) == []
    ap = vbrs[0]["AccessPointId"]
    by_ap = all_vbrs(sdk, filter=vbr_filter("AccessPointId", ap.upper()))
    assert {v["AccessPointId"] for v in by_ap} == {ap}
    assert len(by_ap) == sum(v["AccessPointId"] == ap for v in vbrs)
    name = vbrs[5]["Name"]
    assert [v["Name"] for v in all_vbrs(sdk, filter=vbr_filter("Name", name))] == [name]
    tags = [vpc.DescribeVirtualBorderRoutersRequestTags(key="env", value="staging")]
    staged = [v for v in vbrs if {"Key": "env", "Value": "staging"} in v["Tags"]["Tags"]]
    assert len(all_vbrs(sdk, tags=tags)) == len(staged) > 0


def test_errors(served: tuple[Simulator, str]) -> None:
    _, url = served
    sdk = sdk_client(url)
    request = vpc.DescribeVirtualBorderRoutersRequest(
        region_id=REGION, filter=vbr_filter("Color", "red")
    )
    with pytest.raises(ClientException) as info:
        sdk.describe_virtual_border_routers_with_options(request, NO_RETRY)
    assert (info.value.status_code, info.value.code) == (404, "InvalidFilterKey.ValueNotSupported")
    assert "Filter.1.key" in info.value.message
    for call in (
        lambda: sdk.describe_virtual_border_routers_with_options(
            vpc.DescribeVirtualBorderRoutersRequest(region_id="mars-1"), NO_RETRY
        ),
        lambda: sdk.describe_bgp_peers_with_options(
            vpc.DescribeBgpPeersRequest(region_id="mars-1"), NO_RETRY
        ),
        lambda: sdk.describe_bgp_groups_with_options(
            vpc.DescribeBgpGroupsRequest(region_id="mars-1"), NO_RETRY
        ),
    ):
        with pytest.raises(ClientException) as info:
            call()
        assert (info.value.status_code, info.value.code) == (404, "InvalidRegionId.NotFound")
    with pytest.raises(ClientException) as info:
        sdk.describe_bgp_peers_with_options(
            vpc.DescribeBgpPeersRequest(region_id=REGION, page_size=51), NO_RETRY
        )
    assert info.value.code == "InvalidParameter" and "PageSize" in info.value.message


def test_peer_and_group_filters(served: tuple[Simulator, str]) -> None:
    sim, url = served
    sdk = sdk_client(url)
    vbr = next(v["VbrId"] for v in sim.vbrs(region=REGION) if v["EnableIpv6"])
    mine = [p for p in sim.bgp_peers(region=REGION) if p["RouterId"] == vbr]
    assert len(mine) == 2
    assert all_peers(sdk, router_id=vbr) == mine
    assert all_peers(sdk, bgp_peer_id=mine[1]["BgpPeerId"]) == [mine[1]]
    assert all_peers(sdk, bgp_group_id=mine[0]["BgpGroupId"]) == [mine[0]]
    assert all_peers(sdk, router_id=vbr, bgp_group_id=mine[0]["BgpGroupId"]) == [mine[0]]
    assert all_peers(sdk, router_id="vbr-nothere") == []
    groups = all_peers(sdk, groups=True, router_id=vbr)
    assert [g["BgpGroupId"] for g in groups] == [p["BgpGroupId"] for p in mine]
    assert all_peers(sdk, is_default=True) == []  # no default groups are simulated
    assert len(all_peers(sdk, is_default=False)) == len(sim.bgp_peers(region=REGION))
    default = sdk.describe_bgp_peers_with_options(
        vpc.DescribeBgpPeersRequest(region_id=REGION), NO_RETRY
    ).body
    assert default.page_size == 10 and len(default.bgp_peers.bgp_peer) == 10


def test_same_seed_same_vbrs_and_peers() -> None:
    ids = []
    for seed in (3, 3, 4):
        sim = Simulator(seed=seed, connections=20, regions=[REGION], lifecycle=False)
        with SimulatorThread(sim) as url:
            sdk = sdk_client(url)
            vbrs, peers = all_vbrs(sdk), all_peers(sdk)
        strip = [
            {k: v for k, v in r.items() if not k.endswith("Time") and k != "GmtModified"}
            for r in vbrs + peers
        ]
        ids.append(strip)
    assert ids[0] == ids[1] and ids[0]
    assert [r.get("VbrId") for r in ids[0]] != [r.get("VbrId") for r in ids[2]]


def test_lines_drive_their_sessions(served: tuple[Simulator, str]) -> None:
    """No locked or non-Enabled line has an Established session, in the generated fleet."""
    sim, url = served
    lines = {c["PhysicalConnectionId"]: c for c in sim.connections(region=REGION)}
    vbr_line = {v["VbrId"]: lines[v["PhysicalConnectionId"]] for v in all_vbrs(sdk_client(url))}
    states: set[tuple[str, str, str]] = set()
    for peer in all_peers(sdk_client(url)):
        line = vbr_line[peer["RouterId"]]
        states.add((line["Status"], line["BusinessStatus"], peer["BgpStatus"]))
        if peer["BgpStatus"] != "Established":
            assert peer["ReceivedRouteCount"] == peer["AdvertisedRouteCount"] == 0
    healthy = {s for s in states if s[:2] == ("Enabled", "Normal")}
    assert healthy == {("Enabled", "Normal", "Established")}
    locked = states - healthy
    assert locked and {s[2] for s in locked} == {"Idle"}


def test_lifecycle_takes_vbrs_and_sessions_along(fresh: tuple[Simulator, str]) -> None:
    sim, url = fresh
    sdk = sdk_client(url)
    peer = sim.select_bgp_peer({"BgpStatus": "Established", "IpVersion": "ipv4"})
    vbr_id = sim.bgp_peer(peer)["RouterId"]
    pc_id = sim.vbr(vbr_id)["PhysicalConnectionId"]

    def shown() -> tuple[str, str, str, int]:
        vbr = all_vbrs(sdk, filter=vbr_filter("VbrId", vbr_id))[0]
        (session,) = all_peers(sdk, bgp_peer_id=peer)
        return (
            vbr["Status"],
            vbr["PhysicalConnectionBusinessStatus"],
            session["BgpStatus"],
            session["ReceivedRouteCount"],
        )

    routes = sim.bgp_peer(peer)["ReceivedRouteCount"]
    assert shown() == ("active", "Normal", "Established", routes)
    sim.set_fields(pc_id, {"BusinessStatus": "FinancialLocked"})
    assert shown() == ("active", "FinancialLocked", "Idle", 0)
    sim.set_fields(pc_id, {"BusinessStatus": "Normal"})
    assert shown() == ("active", "Normal", "Established", routes)
    sim.set_fields(pc_id, {"Status": "Terminating"})
    assert shown()[::2] == ("terminating", "Down")
    sim.advance_clock("2h")  # the lifecycle clock terminates the line
    assert sim.connection(pc_id)["Status"] == "Terminated"
    assert shown()[::2] == ("terminated", "Down")
    assert (
        all_vbrs(sdk, filter=vbr_filter("PhysicalConnectionId", pc_id))[0][
            "PhysicalConnectionStatus"
        ]
        == "Terminated"
    )


def test_control_plane_changes_and_flaps(fresh: tuple[Simulator, str]) -> None:
    sim, url = fresh
    sdk = sdk_client(url)
    peer = sim.select_bgp_peer({"BgpStatus": "Established", "index": 1})
    vbr_id = sim.bgp_peer(peer)["RouterId"]

    def session() -> dict[str, Any]:
        (one,) = all_peers(sdk, bgp_peer_id=peer)
        return one

    status, changed = control(
        url,
        "PATCH",
        f"bgp-peers/{peer}",
        {"ReceivedRouteCount": 480, "AdvertisedRouteCount": 7, "RouteLimit": 500},
    )
    assert status == 200 and changed["peer"]["RouteLimit"] == "500"
    got = session()
    assert (got["ReceivedRouteCount"], got["AdvertisedRouteCount"], got["RouteLimit"]) == (
        480,
        7,
        "500",
    )
    # AuthKey: "" by default, settable, and its group shows it too.
    assert got["AuthKey"] == ""
    assert control(url, "PATCH", f"bgp-peers/{peer}", {"AuthKey": "s3cret-md5"})[0] == 200
    assert session()["AuthKey"] == "s3cret-md5"
    status, err = control(url, "PATCH", f"bgp-peers/{peer}", {"AuthKey": 918273645})
    assert status == 400 and "918273645" not in err["error"]  # never echo a secret
    assert session()["AuthKey"] == "s3cret-md5"
    group = sim.bgp_peer(peer)["BgpGroupId"]
    assert all_peers(sdk, groups=True, bgp_group_id=group)[0]["AuthKey"] == "s3cret-md5"
    # A rejected change changes nothing.
    before = sim.bgp_peer(peer)
    status, err = control(
        url, "PATCH", f"bgp-peers/{peer}", {"ReceivedRouteCount": 1, "BgpStatus": "Bogus"}
    )
    assert status == 400 and "BgpStatus" in err["error"] and sim.bgp_peer(peer) == before
    assert control(url, "PATCH", f"vbrs/{vbr_id}", {"Name": "x", "Status": "gone"})[0] == 400
    assert control(url, "PATCH", f"vbrs/{vbr_id}", {"CircuitCode": "x"})[0] == 400
    assert sim.vbr(vbr_id)["Name"] != "x"
    # Session state and VBR status by hand.
    assert control(url, "PATCH", f"bgp-peers/{peer}", {"BgpStatus": "Active"})[0] == 200
    assert (session()["BgpStatus"], session()["ReceivedRouteCount"]) == ("Active", 0)
    control(url, "PATCH", f"bgp-peers/{peer}", {"BgpStatus": "Established"})
    assert control(url, "PATCH", f"vbrs/{vbr_id}", {"Status": "deleting"})[0] == 200
    assert all_vbrs(sdk, filter=vbr_filter("Status", "deleting"))[0]["VbrId"] == vbr_id
    assert session()["BgpStatus"] == "Down"  # a VBR that is not active carries no session
    control(url, "PATCH", f"vbrs/{vbr_id}", {"Status": "active"})
    # A flap: down now, back by itself.
    status, flapped = control(url, "POST", f"bgp-peers/{peer}/flap", {"seconds": "600ms"})
    assert status == 200 and flapped["peer"]["BgpStatus"] == "Down"
    assert session()["BgpStatus"] == "Down"
    wait_for(lambda: session()["BgpStatus"] == "Established", "the flap to end")
    assert session()["ReceivedRouteCount"] == 480
    assert control(url, "POST", f"bgp-peers/{peer}/flap", {"seconds": 0})[0] == 400
    assert (
        control(url, "POST", f"bgp-peers/{peer}/flap", {"seconds": 1, "status": "Established"})[0]
        == 400
    )


def test_add_and_remove_vbrs_and_peers(fresh: tuple[Simulator, str]) -> None:
    sim, url = fresh
    sdk = sdk_client(url)
    pc_id = sim.select({"Status": "Enabled", "BusinessStatus": "Normal", "index": 2})
    status, added = control(
        url,
        "POST",
        "vbrs",
        {
            "connection": pc_id,
            "id": "vbr-uf1addedbycontrol00001",
            "peers": 2,
            "fields": {"VlanId": 42},
        },
    )
    assert status == 201 and added["vbr"]["VlanId"] == 42
    vbr_id = added["id"]
    mine = all_peers(sdk, router_id=vbr_id)
    assert [p["IpVersion"] for p in mine] == ["ipv4", "ipv6"]
    assert {p["BgpStatus"] for p in mine} == {"Established"}
    status, peer = control(url, "POST", "bgp-peers", {"vbr": vbr_id, "fields": {"PeerAsn": 65010}})
    assert status == 201 and peer["peer"]["PeerAsn"] == "65010"
    assert len(all_peers(sdk, router_id=vbr_id)) == 3
    assert control(url, "DELETE", f"bgp-peers/{peer['id']}")[0] == 200
    assert control(url, "DELETE", f"bgp-peers/{peer['id']}")[0] == 404
    assert control(url, "DELETE", f"vbrs/{vbr_id}")[0] == 200
    assert all_peers(sdk, router_id=vbr_id) == []  # its peers went with it
    assert all_vbrs(sdk, filter=vbr_filter("VbrId", vbr_id)) == []
    # A removed line takes its VBRs and peers along.
    line = sim.vbrs()[0]["PhysicalConnectionId"]
    sim.remove_connection(line)
    assert all_vbrs(sdk, filter=vbr_filter("PhysicalConnectionId", line)) == []
    assert control(url, "POST", "vbrs", {"connection": "pc-nope"})[0] == 404
    assert control(url, "POST", "vbrs", {"connection": pc_id, "peers": 3})[0] == 400
    assert control(url, "POST", "bgp-peers", {"vbr": "vbr-nope"})[0] == 404
