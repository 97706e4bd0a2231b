"""VBR and BGP actions on the wire (every signing mode, paging edges, faults), the generated
VBR fleet, and the VBR/BGP scenario steps."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.simulator import Simulator
from exporter.simulator.scenario import ScenarioError
from exporter.vocabulary import VBR_FILTER_KEYS
from tests.simulator.conftest import control, send

ACTIONS = {
    "DescribeVirtualBorderRouters": ("VirtualBorderRouterSet", "VirtualBorderRouterType"),
    "DescribeBgpPeers": ("BgpPeers", "BgpPeer"),
    "DescribeBgpGroups": ("BgpGroups", "BgpGroup"),
}
DEMO = Path(__file__).resolve().parents[3] / "exporter" / "data" / "demo-scenario.yml"


def items(answer_json: dict[str, Any], action: str) -> list[dict[str, Any]]:
    outer, inner = ACTIONS[action]
    return answer_json[outer][inner]  # type: ignore[no-any-return]


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize(
    ("sig", "method", "form"), [("v1", "GET", False), ("v1", "POST", True), ("v3", "POST", False)]
)
def test_signed_every_way(
    shared_sim: tuple[Simulator, str], action: str, sig: str, method: str, form: bool
) -> None:
    sim, url = shared_sim
    answer = send(
        url,
        action,
        {"RegionId": "cn-hangzhou", "PageSize": "50"},
        sig=sig,
        method=method,
        form=form,
    )
    assert answer.status == 200, answer.body
    data = answer.json
    assert set(data) == {"RequestId", "PageNumber", "PageSize", "TotalCount", ACTIONS[action][0]}
    expected = (
        sim.vbrs(region="cn-hangzhou")
        if action == "DescribeVirtualBorderRouters"
        else sim.bgp_peers(region="cn-hangzhou")
    )
    assert data["TotalCount"] == len(expected) == len(items(data, action)) > 0


def test_paging_edges(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    region = {"RegionId": "cn-beijing"}
    first = send(url, "DescribeBgpPeers", {**region, "PageSize": "3"}).json
    second = send(url, "DescribeBgpPeers", {**region, "PageSize": "3", "PageNumber": "2"}).json
    assert len(items(first, "DescribeBgpPeers")) == 3 and first["TotalCount"] > 3
    assert items(first, "DescribeBgpPeers")[0] != items(second, "DescribeBgpPeers")[0]
    past = send(url, "DescribeVirtualBorderRouters", {**region, "PageNumber": "999"}).json
    assert items(past, "DescribeVirtualBorderRouters") == [] and past["TotalCount"] > 0
    for bad in ({"PageSize": "0"}, {"PageSize": "51"}, {"PageNumber": "x"}, {"IsDefault": "yes"}):
        answer = send(url, "DescribeBgpGroups", {**region, **bad})
        assert (answer.status, answer.code) == (400, "InvalidParameter")
        assert next(iter(bad)) in answer.json["Message"]
    answer = send(url, "DescribeVirtualBorderRouters", {**region, "IncludeCrossAccountVbr": "True"})
    assert answer.status == 200
    assert send(url, "DescribeBgpPeers", {}).code == "MissingParameter"


def test_documented_filter_keys_and_bad_names(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    for key in VBR_FILTER_KEYS:
        params = {"RegionId": "cn-hangzhou", "Filter.1.Key": key, "Filter.1.Value.1": "x"}
        assert send(url, "DescribeVirtualBorderRouters", params).status == 200, key
    # Filter keys are case-sensitive: only the documented spelling.
    params = {"RegionId": "cn-hangzhou", "Filter.2.Key": "EccId", "Filter.2.Value.1": "x"}
    answer = send(url, "DescribeVirtualBorderRouters", params)
    assert (answer.status, answer.code) == (404, "InvalidFilterKey.ValueNotSupported")
    assert answer.json["Message"].endswith("Filter.2.key")
    answer = send(
        url, "DescribeVirtualBorderRouters", {"RegionId": "cn-hangzhou", "Filter.9.Key": "Name"}
    )
    assert answer.code == "InvalidParameter"


def test_faults_on_vbr_actions(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    region = {"RegionId": "cn-hangzhou", "PageSize": "2"}
    sim.add_fault({"kind": "Throttling.User", "action": "DescribeBgpPeers", "page": 2, "count": 1})
    assert send(url, "DescribeBgpPeers", region).status == 200
    assert send(url, "DescribeBgpPeers", {**region, "PageNumber": "2"}).code == "Throttling.User"
    sim.add_fault(
        {
            "kind": "total_count_change",
            "action": "DescribeVirtualBorderRouters",
            "delta": 2,
            "count": 1,
        }
    )
    total = len(sim.vbrs(region="cn-hangzhou"))
    assert send(url, "DescribeVirtualBorderRouters", region).json["TotalCount"] == total + 2
    before = [p["BgpPeerId"] for p in sim.bgp_peers(region="cn-hangzhou")]
    sim.add_fault({"kind": "shift_records", "action": "DescribeBgpPeers", "count": 1})
    shifted = send(url, "DescribeBgpPeers", region).json
    assert [p["BgpPeerId"] for p in items(shifted, "DescribeBgpPeers")] == [before[-1], before[0]]


def test_generated_fleet() -> None:
    sim = Simulator(seed=2, connections=200, lifecycle=False)
    lines = {c["PhysicalConnectionId"]: c for c in sim.connections()}
    per_line: dict[str, int] = {}
    for vbr in sim.vbrs():
        per_line[vbr["PhysicalConnectionId"]] = per_line.get(vbr["PhysicalConnectionId"], 0) + 1
    enabled = [i for i, c in lines.items() if c["Status"] == "Enabled"]
    assert set(per_line) <= set(enabled)  # only Enabled lines have VBRs
    counts = [per_line.get(i, 0) for i in enabled]
    assert {0, 1, 2} == set(counts) and counts.count(0) < len(counts) / 3
    hosted = [i for i in per_line if lines[i]["ProductType"] == "VirtualPhysicalConnection"]
    assert hosted and all(per_line[i] == 1 for i in hosted)
    infos = sim.vbr_infos()
    # most VBRs have a health check (the resilience growth adds them), not all
    assert 0.6 < sum(i.health_check for i in infos) / len(infos) < 0.95
    peers = sim.bgp_peers()
    v6 = {p["RouterId"] for p in peers if p["IpVersion"] == "ipv6"}
    assert v6 == {v["VbrId"] for v in sim.vbrs() if v["EnableIpv6"]} and v6
    assert len({v["VbrId"] for v in sim.vbrs()}) == len(infos)
    assert len({p["BgpPeerId"] for p in peers}) == len(peers)


def test_generated_routes_stay_below_the_limit_and_match_across_a_pair() -> None:
    """A steady peer receives well under 80 % of its RouteLimit, and the legs of a redundant
    pair (same on-prem network) carry the same sessions receiving the same routes (unless the
    leg generated first has no VBR)."""
    sim = Simulator(seed=2, connections=200, lifecycle=False)
    peers = sim.bgp_peers()
    assert all(p["ReceivedRouteCount"] <= 0.6 * int(p["RouteLimit"]) for p in peers)
    lines = {c["PhysicalConnectionId"]: c for c in sim.connections()}

    def sessions(pc_id: str) -> list[tuple[str, int, int]]:
        return sorted(
            (p["IpVersion"], p["ReceivedRouteCount"], p["AdvertisedRouteCount"])
            for v in sim.vbrs(connection=pc_id)
            for p in sim.bgp_peers(vbr=v["VbrId"])
        )

    compared = 0
    for pc_id, line in lines.items():
        partner = lines.get(line.get("RedundantPhysicalConnectionId") or "")
        healthy = [c for c in (line, partner) if c and c["BusinessStatus"] == "Normal"]
        if partner is None or pc_id > partner["PhysicalConnectionId"] or len(healthy) < 2:
            continue
        legs = [sessions(c["PhysicalConnectionId"]) for c in healthy]
        if line["Status"] == partner["Status"] == "Enabled" and all(legs):  # VBRs on both
            assert legs[0] == legs[1], pc_id
            compared += 1
    assert compared >= 3


def test_vbrs_leave_the_lines_as_they_were() -> None:
    """Lines, their order and their IDs do not depend on the VBRs generated beside them."""
    from exporter.simulator.lines.fleet import generate_fleet

    sim = Simulator(seed=9, connections=60, regions=["cn-hangzhou", "cn-beijing"], lifecycle=False)
    alone = generate_fleet(
        seed=9,
        account="default",
        uid=1234567890123456,
        count=60,
        regions=["cn-hangzhou", "cn-beijing"],
        now=sim.now(),
    )
    assert [c["PhysicalConnectionId"] for c in sim.connections()] == [c.id for c in alone]


def test_health_check_flag(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    vbr_id = sim.vbrs()[0]["VbrId"]
    flag = sim.vbr_info(vbr_id).health_check
    status, changed = control(url, "PATCH", f"vbrs/{vbr_id}", {"health_check": not flag})
    assert status == 200 and changed["health_check"] is (not flag)
    assert sim.vbr_info(vbr_id).health_check is (not flag)
    assert control(url, "GET", f"vbrs/{vbr_id}")[1]["health_check"] is (not flag)
    assert control(url, "PATCH", f"vbrs/{vbr_id}", {"health_check": "yes"})[0] == 400
    listed = control(url, "GET", "vbrs?region=cn-hangzhou")[1]
    assert {e["region"] for e in listed} == {"cn-hangzhou"} and "health_check" in listed[0]
    assert control(url, "GET", "bgp-peers?vbr=" + vbr_id)[1][0]["peer"]["RouterId"] == vbr_id
    assert (
        control(url, "POST", "vbrs/select", {"Status": "active", "index": 1})[1]["id"]
        == (sim.vbrs()[1]["VbrId"])
    )
    assert control(url, "POST", "bgp-peers/select", {"BgpStatus": "Nope"})[0] == 404
    health = control(url, "GET", "health")[1]
    assert health["vbrs"] == len(sim.vbrs()) and health["bgp_peers"] == len(sim.bgp_peers())


async def test_vbr_scenario_steps() -> None:
    established = {"BgpStatus": "Established", "IpVersion": "ipv4"}
    scenario = {
        "steps": [
            {
                "at": "0s",
                "set_vbr": {"select": {"Status": "active", "index": 0}, "Status": "deleting"},
            },
            {"at": "0s", "set_bgp_peer": {"select": {**established, "index": 1}, "RouteLimit": 20}},
            {"at": "0s", "flap": {"select": {**established, "index": 2}, "seconds": "300ms"}},
            {"at": "0s", "remove_bgp_peer": {"select": {**established, "index": 3}}},
            {"at": "0s", "remove_vbr": {"select": {"Status": "active", "index": -1}}},
            {
                "at": "0s",
                "add_vbr": {
                    "select": {"Status": "Enabled", "index": 0},
                    "id": "vbr-bp1scenarioadded00001",
                    "peers": 2,
                    "Name": "added",
                },
            },
            {
                "at": "0s",
                "add_bgp_peer": {"vbr": "vbr-bp1scenarioadded00001", "ip_version": "ipv6"},
            },
        ]
    }
    sim = Simulator(seed=9, connections=20, scenario=scenario, lifecycle=False)
    targets = [s["target"] for s in sim.scenario_status()["steps"]]
    assert targets[0] == sim.select_vbr({"Status": "active"})
    assert targets[2] == sim.select_bgp_peer({**established, "index": 2})
    assert targets[5] == sim.select({"Status": "Enabled"})
    removed_vbr = targets[4]
    async with sim.serve():
        for _ in range(100):
            if sim.scenario_status()["done"] == len(targets):
                break
            await asyncio.sleep(0.01)
        assert sim.vbr(targets[0])["Status"] == "deleting"
        assert sim.bgp_peer(targets[1])["RouteLimit"] == "20"
        assert sim.bgp_peer(targets[2])["BgpStatus"] == "Down"
        assert targets[3] not in {p["BgpPeerId"] for p in sim.bgp_peers()}
        assert removed_vbr not in {v["VbrId"] for v in sim.vbrs()}
        added = sim.bgp_peers(vbr="vbr-bp1scenarioadded00001")
        assert [p["IpVersion"] for p in added] == ["ipv4", "ipv6", "ipv6"]
        assert sim.vbr("vbr-bp1scenarioadded00001")["Name"] == "added"
        for _ in range(200):
            if sim.bgp_peer(targets[2])["BgpStatus"] == "Established":
                break
            await asyncio.sleep(0.02)
        assert sim.bgp_peer(targets[2])["BgpStatus"] == "Established"


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"flap": {"select": {"BgpStatus": "Nope"}, "seconds": 1}}, "steps.0"),
        ({"flap": {"seconds": 1}}, "exactly one of id or select"),
        ({"flap": {"id": "bgp-x", "seconds": "soon"}}, "not a duration"),
        ({"add_vbr": {"peers": 1}}, "exactly one of connection or select"),
        ({"add_vbr": {"connection": "pc-x", "peers": 3}}, "peers"),
        ({"add_bgp_peer": {"select": {"Status": "gone"}}}, "steps.0"),
        ({"set_vbr": {"Name": "x"}}, "exactly one of id or select"),
    ],
)
def test_vbr_scenario_errors_are_one_line(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        Simulator(seed=1, connections=10, scenario={"steps": [step]})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("seed", "connections"), [(0, 40), (42, 300)])
def test_demo_scenario_flaps_a_healthy_session(seed: int, connections: int) -> None:
    sim = Simulator(seed=seed, connections=connections, scenario=DEMO, lifecycle=False)
    status = sim.scenario_status()["steps"]
    flaps = [(n, s) for n, s in enumerate(status) if "flap" in s]
    assert len(flaps) == 1
    n, step = flaps[0]
    peer = step["target"]
    assert sim.bgp_peer(peer)["BgpStatus"] == "Established"
    # The demo's other steps lock, expire or terminate lines: none of them is this session's.
    line = sim.vbr(sim.bgp_peer(peer)["RouterId"])["PhysicalConnectionId"]
    assert line not in {s["target"] for s in status}
    assert sim.scenario is not None
    sim.run_step(sim.scenario.steps[n], peer)
    assert sim.bgp_peer(peer)["BgpStatus"] == "Down"
    assert 30 <= sim.scenario.steps[n].flap.seconds <= 180  # type: ignore[union-attr]


def test_readme_scenario_example_is_valid() -> None:
    """The scenario example in the simulator's README loads (every step kind it shows)."""
    from exporter.simulator.scenario import STEP_KINDS, load_scenario

    readme = (
        Path(__file__).resolve().parents[3] / "exporter" / "simulator" / "README.md"
    ).read_text()
    section = readme.split("## Scenarios", 1)[1]
    example = section.split("```yaml", 1)[1].split("```", 1)[0]
    scenario = load_scenario(yaml.safe_load(example))
    shown = {step.kind() for step in scenario.steps}
    assert set(STEP_KINDS) - shown == {"rate_limit", "clear_rate_limits"}  # in a comment there
