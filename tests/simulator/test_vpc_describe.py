"""DescribePhysicalConnections and DescribeRegions: shapes, paging, filters; the fleet itself."""

from __future__ import annotations

import math
import re
import time
from collections import Counter

import pytest

from exporter.region_ids import REGION_IDS
from exporter.simulator import Simulator, SimulatorThread
from exporter.simulator.lines.model import BUSINESS_STATUSES, STATUSES

from .conftest import all_pages, describe, send


@pytest.mark.parametrize("count", [0, 1, 49, 50, 51, 137])
def test_paging_boundaries(count: int) -> None:
    sim = Simulator(seed=11, connections=count, regions=["cn-shanghai"], lifecycle=False)
    expected = [r["PhysicalConnectionId"] for r in sim.connections(region="cn-shanghai")]
    with SimulatorThread(sim) as url:
        pages = []
        for page in range(1, math.ceil(count / 50) + 2):
            data = describe(url, "cn-shanghai", PageSize="50", PageNumber=str(page)).json
            assert data["TotalCount"] == count
            assert (data["PageNumber"], data["PageSize"]) == (page, 50)
            pages.append(
                [
                    r["PhysicalConnectionId"]
                    for r in data["PhysicalConnectionSet"]["PhysicalConnectionType"]
                ]
            )
        # Every page is full but the last; one past the end is empty.
        assert [len(p) for p in pages[:-1]] == [
            min(50, count - 50 * i) for i in range(len(pages) - 1)
        ] or count == 0
        assert pages[-1] == []
        assert [i for p in pages for i in p] == expected
        # The order is stable from one listing to the next.
        assert [r["PhysicalConnectionId"] for r in all_pages(url, "cn-shanghai")] == expected


def test_default_page_size_and_bounds(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    data = describe(url, "cn-hangzhou").json
    assert (data["PageNumber"], data["PageSize"], data["TotalCount"]) == (1, 10, 10)
    assert len(data["PhysicalConnectionSet"]["PhysicalConnectionType"]) == 10
    assert describe(url, "cn-hangzhou", PageSize="1").json["PageSize"] == 1
    for bad in ("0", "51", "ten", "-1"):
        answer = describe(url, "cn-hangzhou", PageSize=bad)
        assert (answer.status, answer.code) == (400, "InvalidParameter"), bad
        assert "PageSize" in answer.json["Message"]
    assert describe(url, "cn-hangzhou", PageNumber="0").code == "InvalidParameter"


def test_region_errors(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    missing = send(url, "DescribePhysicalConnections", {})
    assert (missing.status, missing.code) == (400, "MissingParameter")
    assert '"RegionId"' in missing.json["Message"]
    unknown = describe(url, "cn-hangzou")
    assert (unknown.status, unknown.code) == (404, "InvalidRegionId.NotFound")
    empty = describe(url, "eu-west-1").json
    assert empty["TotalCount"] == 0


def test_wire_types_match_the_facts_sheet(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    records = [
        r
        for region in ("cn-hangzhou", "cn-beijing", "cn-shanghai", "ap-southeast-1")
        for r in all_pages(url, region)
    ]
    assert len(records) == 40
    for r in records:
        assert re.fullmatch(r"pc-[a-z0-9]{2}1[a-z0-9]{18}", r["PhysicalConnectionId"])
        assert re.fullmatch(r"ap-[a-z0-9-]+-[A-Z]", r["AccessPointId"])
        assert isinstance(r["PortNumber"], str) and isinstance(r["HasReservationData"], str)
        assert isinstance(r["Bandwidth"], int)
        assert r["HasReservationData"] in ("true", "false")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["CreationTime"])
        if "Tags" in r:
            assert set(r["Tags"]) == {"tags"}
            assert all(set(t) == {"Key", "Value"} for t in r["Tags"]["tags"])
        if r["ProductType"] == "VirtualPhysicalConnection":
            assert isinstance(r["VlanId"], str)
    assert {"ap-sg-singpore-A", "ap-sg-singpore-B", "ap-sg-singpore-C"} & {
        r["AccessPointId"] for r in records
    }


def test_filters_and_or(shared_sim: tuple[Simulator, str]) -> None:
    sim, url = shared_sim
    everything = sim.connections(region="cn-hangzhou")

    def ids(**params: str) -> set[str]:
        return {r["PhysicalConnectionId"] for r in all_pages(url, "cn-hangzhou", **params)}

    def expect(pred: object) -> set[str]:
        return {r["PhysicalConnectionId"] for r in everything if pred(r)}  # type: ignore[operator]

    statuses = sorted({r["Status"] for r in everything})
    assert len(statuses) >= 2
    two = statuses[:2]
    got = ids(**{"Filter.1.Key": "Status", "Filter.1.Value.1": two[0], "Filter.1.Value.2": two[1]})
    assert got == expect(lambda r: r["Status"] in two) and got
    operator = everything[0]["LineOperator"]
    got = ids(
        **{
            "Filter.1.Key": "Status",
            "Filter.1.Value.1": "Enabled",
            "Filter.2.Key": "LineOperator",
            "Filter.2.Value.1": operator,
        }
    )
    assert got == expect(lambda r: r["Status"] == "Enabled" and r["LineOperator"] == operator)
    one = everything[3]["PhysicalConnectionId"]
    assert ids(**{"Filter.1.Key": "PhysicalConnectionId", "Filter.1.Value.1": one}) == {one}
    for key in ("AccessPointId", "Type", "Spec", "Name", "ProductType"):
        value = everything[0][key]
        assert ids(**{"Filter.1.Key": key, "Filter.1.Value.1": value}) == expect(
            lambda r, k=key, v=value: r.get(k) == v
        )
    group = everything[0]["ResourceGroupId"]
    assert ids(ResourceGroupId=group) == expect(lambda r: r["ResourceGroupId"] == group)


def test_filter_allocation_failed_both_spellings(shared_sim: tuple[Simulator, str]) -> None:
    sim, url = shared_sim
    failed = {
        r["PhysicalConnectionId"] for r in sim.connections() if r["Status"] == "Allocation Failed"
    }
    assert failed
    region = sim.owner(next(iter(failed)))[1]
    for spelling in ("AllocationFailed", "Allocation Failed"):
        got = {
            r["PhysicalConnectionId"]
            for r in all_pages(
                url, region, **{"Filter.1.Key": "Status", "Filter.1.Value.1": spelling}
            )
        }
        assert got == {i for i in failed if sim.owner(i)[1] == region}


def test_unknown_filter_key(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    answer = describe(url, "cn-hangzhou", **{"Filter.1.Key": "Bandwidth", "Filter.1.Value.1": "2"})
    assert (answer.status, answer.code) == (404, "InvalidFilterKey.ValueNotSupported")
    assert answer.json["Message"] == "Specified filter key is not supported: Filter.1.key"
    too_many = describe(
        url, "cn-hangzhou", **{"Filter.6.Key": "Status", "Filter.6.Value.1": "Enabled"}
    )
    assert too_many.code == "InvalidParameter"


def test_tags_filter(shared_sim: tuple[Simulator, str]) -> None:
    sim, url = shared_sim
    everything = sim.connections(region="cn-beijing")
    tagged = [r for r in everything if "Tags" in r]
    env = tagged[0]["Tags"]["tags"][0]["Value"]
    got = {
        r["PhysicalConnectionId"]
        for r in all_pages(url, "cn-beijing", **{"Tags.1.Key": "env", "Tags.1.Value": env})
    }
    want = {
        r["PhysicalConnectionId"]
        for r in tagged
        if {"Key": "env", "Value": env} in r["Tags"]["tags"]
    }
    assert got == want and got
    any_env = {
        r["PhysicalConnectionId"] for r in all_pages(url, "cn-beijing", **{"Tags.1.Key": "env"})
    }
    assert any_env == {r["PhysicalConnectionId"] for r in tagged}
    assert len(any_env) < len(everything)  # some records carry no tags at all


def test_include_reservation_data_accepts_python_true(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    for value in ("True", "true", "false", "False"):
        assert describe(url, "cn-hangzhou", IncludeReservationData=value).status == 200
    assert describe(url, "cn-hangzhou", IncludeReservationData="yes").code == "InvalidParameter"


def test_describe_regions(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    data = send(url, "DescribeRegions", {}).json
    regions = data["Regions"]["Region"]
    assert [r["RegionId"] for r in regions] == list(REGION_IDS)
    by_id = {r["RegionId"]: r for r in regions}
    assert by_id["cn-hangzhou"]["RegionEndpoint"] == "vpc.aliyuncs.com"
    assert by_id["ap-southeast-1"]["RegionEndpoint"] == "vpc.ap-southeast-1.aliyuncs.com"
    assert all(r["LocalName"] for r in regions)


def test_unknown_action_and_version(shared_sim: tuple[Simulator, str]) -> None:
    _, url = shared_sim
    answer = send(url, "DescribeVpcs", {"RegionId": "cn-hangzhou"})
    assert (answer.status, answer.code) == (404, "InvalidAction.NotFound")
    answer = send(
        url, "DescribePhysicalConnections", {"RegionId": "cn-hangzhou"}, version="2014-05-26"
    )
    assert (answer.status, answer.code) == (400, "InvalidVersion")


# -- the generated fleet ---------------------------------------------------------------------


def test_fleet_is_deterministic_and_covers_every_status() -> None:
    a = Simulator(seed=5, connections=40, lifecycle=False).connections()
    b = Simulator(seed=5, connections=40, lifecycle=False).connections()
    c = Simulator(seed=6, connections=40, lifecycle=False).connections()
    strip = lambda rs: [{k: v for k, v in r.items() if not k.endswith("Time")} for r in rs]  # noqa: E731
    assert strip(a) == strip(b)
    assert [r["PhysicalConnectionId"] for r in a] != [r["PhysicalConnectionId"] for r in c]
    assert set(Counter(r["Status"] for r in a)) == set(STATUSES)
    assert "Allocation Failed" in {r["Status"] for r in a}
    assert set(Counter(r["BusinessStatus"] for r in a)) == set(BUSINESS_STATUSES)


def test_fleet_realism() -> None:
    sim = Simulator(seed=1, connections=200, lifecycle=False)
    records = sim.connections()
    now = time.time()
    days = [
        (time.mktime(time.strptime(r["EndTime"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone - now)
        / 86400
        for r in records
        if "EndTime" in r and r["Status"] == "Enabled"
    ]
    assert (
        any(0 < d <= 7 for d in days)
        and any(7 < d <= 30 for d in days)
        and any(d > 30 for d in days)
    )
    by_id = {r["PhysicalConnectionId"]: r for r in records}
    hosted = [r for r in records if r["ProductType"] == "VirtualPhysicalConnection"]
    assert hosted
    for r in hosted:
        parent = by_id[r["ParentPhysicalConnectionId"]]
        assert parent["ProductType"] == "PhysicalConnection"
        assert parent["VirtualPhysicalConnectionCount"] >= 1
        assert (
            sim.owner(parent["PhysicalConnectionId"])[1] == sim.owner(r["PhysicalConnectionId"])[1]
        )
    pairs = [r for r in records if "RedundantPhysicalConnectionId" in r]
    assert pairs
    for r in pairs:
        assert (
            by_id[r["RedundantPhysicalConnectionId"]]["RedundantPhysicalConnectionId"]
            == r["PhysicalConnectionId"]
        )
    for optional in ("Description", "CircuitCode", "Tags", "EndTime", "QosId"):
        present = sum(optional in r for r in records)
        assert 0 < present < len(records), optional
    assert len({r["ResourceGroupId"] for r in records}) > 1
    assert any(r["HasReservationData"] == "true" for r in records)
