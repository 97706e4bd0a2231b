"""Every fault mode, scoping by account/region/action/page, count and probability, rate limits."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from exporter.simulator import Account, Simulator, SimulatorThread
from exporter.simulator.errors import COMMON

from .conftest import AK, SECRET, control, describe, send, wait_for


@pytest.mark.parametrize("kind", sorted(COMMON))
def test_error_faults(fresh_sim: tuple[Simulator, str], kind: str) -> None:
    sim, url = fresh_sim
    sim.add_fault({"kind": kind, "count": 2})
    for _ in range(2):
        answer = describe(url, "cn-hangzhou")
        assert (answer.status, answer.code) == (COMMON[kind][0], kind)
        assert answer.json["Message"] == COMMON[kind][1]
        assert set(answer.json) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert describe(url, "cn-hangzhou").status == 200  # count used up
    assert sim.list_faults() == []


def test_fault_scoping(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.add_fault({"kind": "ServiceUnavailable", "region": "cn-beijing"})
    sim.add_fault({"kind": "InternalError", "action": "DescribeRegions"})
    sim.add_fault({"kind": "Throttling", "account": "someone-else"})
    sim.add_fault({"kind": "Throttling.Api", "page": 3})
    assert describe(url, "cn-hangzhou").status == 200
    assert describe(url, "cn-beijing").code == "ServiceUnavailable"
    assert send(url, "DescribeRegions", {}).code == "InternalError"
    assert describe(url, "cn-hangzhou", PageSize="1", PageNumber="2").status == 200
    assert describe(url, "cn-hangzhou", PageSize="1", PageNumber="3").code == "Throttling.Api"


def test_probability_is_seeded(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.add_fault({"kind": "Throttling.User", "probability": 0.5})
    codes = [describe(url, "cn-hangzhou").code for _ in range(40)]
    throttled = codes.count("Throttling.User")
    assert 5 < throttled < 35
    assert codes.count(None) == 40 - throttled


def test_faults_need_authentication_first(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.add_fault({"kind": "InternalError"})
    assert (
        send(url, "DescribePhysicalConnections", {"RegionId": "cn-hangzhou"}, secret="bad").code
        == "SignatureDoesNotMatch"
    )


def test_latency(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.add_fault({"kind": "latency", "seconds": 0.3, "count": 1})
    started = time.monotonic()
    assert describe(url, "cn-hangzhou").status == 200
    assert time.monotonic() - started >= 0.3


def test_hang_past_client_timeout(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.add_fault({"kind": "hang", "count": 1})  # 600 s by default
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        send(url, "DescribePhysicalConnections", {"RegionId": "cn-hangzhou"}, timeout=0.5)
    assert describe(url, "cn-hangzhou").status == 200
    assert sim.counters()["faults_fired"] == {"hang": 1}


def test_connection_reset(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.add_fault({"kind": "reset", "count": 1})
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        describe(url, "cn-hangzhou")
    assert describe(url, "cn-hangzhou").status == 200
    assert sim.requests(limit=2)[0].code == "ConnectionReset"


@pytest.mark.parametrize("kind", ["malformed_json", "truncated_json"])
def test_broken_json(fresh_sim: tuple[Simulator, str], kind: str) -> None:
    sim, url = fresh_sim
    good = describe(url, "cn-hangzhou").body
    sim.add_fault({"kind": kind, "count": 1})
    broken = describe(url, "cn-hangzhou")
    assert broken.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.body)
    if kind == "truncated_json":
        assert len(broken.body) < len(good) and broken.body.startswith(b'{"RequestId":')


def test_total_count_changes_mid_paging(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.add_fault({"kind": "total_count_change", "page": 2, "delta": 3})
    first = describe(url, "cn-hangzhou", PageSize="4", PageNumber="1").json
    second = describe(url, "cn-hangzhou", PageSize="4", PageNumber="2").json
    assert second["TotalCount"] == first["TotalCount"] + 3


def test_records_move_between_pages(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    before = [r["PhysicalConnectionId"] for r in sim.connections(region="cn-hangzhou")]
    sim.add_fault({"kind": "shift_records", "page": 2, "delta": 1, "count": 1})
    seen = []
    for page in (1, 2, 3):
        data = describe(url, "cn-hangzhou", PageSize="4", PageNumber=str(page)).json
        seen += [
            r["PhysicalConnectionId"]
            for r in data["PhysicalConnectionSet"]["PhysicalConnectionType"]
        ]
    assert len(seen) == len(before) == 10
    assert len(set(seen)) < len(seen)  # one record seen twice...
    assert set(before) - set(seen)  # ...and one never seen


def test_rate_limit_per_account_region_action() -> None:
    sim = Simulator(seed=1, connections=8, lifecycle=False)
    sim.add_rate_limit({"rate": 1, "burst": 2})
    with SimulatorThread(sim) as url:
        codes = [describe(url, "cn-hangzhou").code for _ in range(3)]
        assert codes == [None, None, "Throttling.User"]
        assert describe(url, "cn-beijing").code is None  # another region has its own bucket
        assert send(url, "DescribeRegions", {}).code is None  # another action too
        # The bucket refills at one token a second: polling until a request passes shows it
        # (refused requests take no token, so polling does not delay the refill).
        started = time.monotonic()
        wait_for(lambda: describe(url, "cn-hangzhou").code is None, "the bucket to refill")
        assert time.monotonic() - started > 0.3  # it was empty, not just slow to notice


def test_rate_limit_scoped_to_account() -> None:
    accounts = [Account("a", AK, SECRET), Account("b", "b-ak", "b-secret")]
    sim = Simulator(seed=1, connections=4, accounts=accounts, lifecycle=False)
    sim.add_rate_limit({"rate": 0.01, "burst": 1, "account": "a"})
    with SimulatorThread(sim) as url:
        assert [describe(url, "cn-hangzhou").code for _ in range(2)] == [None, "Throttling.User"]
        b = [
            send(
                url,
                "DescribePhysicalConnections",
                {"RegionId": "cn-hangzhou"},
                ak="b-ak",
                secret="b-secret",
            ).code
            for _ in range(3)
        ]
        assert b == [None, None, None]


def test_unexpected_exception_is_internal_error_not_traceback(
    fresh_sim: tuple[Simulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, url = fresh_sim

    def boom(call: object) -> bytes:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(sim.api, "handle", boom)
    answer = describe(url, "cn-hangzhou")
    assert (answer.status, answer.code) == (500, "InternalError")
    assert b"secret internals" not in answer.body and b"Traceback" not in answer.body


def test_faults_over_the_control_plane(fresh_sim: tuple[Simulator, str]) -> None:
    _, url = fresh_sim
    status, created = control(url, "POST", "faults", {"kind": "Throttling", "count": 5})
    assert status == 201
    status, listed = control(url, "GET", "faults")
    assert listed[0]["id"] == created["id"] and listed[0]["remaining"] == 5
    assert describe(url, "cn-hangzhou").code == "Throttling"
    assert control(url, "DELETE", f"faults/{created['id']}")[0] == 200
    assert control(url, "DELETE", f"faults/{created['id']}")[0] == 404
    assert describe(url, "cn-hangzhou").status == 200
    status, err = control(url, "POST", "faults", {"kind": "Gremlins"})
    assert status == 400 and "kind" in err["error"]
    status, err = control(url, "POST", "faults", {"kind": "latency", "probability": 2})
    assert status == 400 and "probability" in err["error"]
    control(url, "POST", "faults", {"kind": "InternalError"})
    assert control(url, "DELETE", "faults")[0] == 200
    assert describe(url, "cn-hangzhou").status == 200
    status, limits = control(url, "POST", "rate-limits", {"rate": 100})
    assert status == 201 and limits == [{"rate": 100.0, "status": 400}]
    assert control(url, "DELETE", "rate-limits")[1] == {"cleared": True}


def test_bad_requests_get_vendor_bodies(fresh_sim: tuple[Simulator, str]) -> None:
    _, url = fresh_sim
    big = urllib.request.Request(
        f"{url}/",
        data=b"x=" + b"a" * 2_000_000,
        method="POST",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(big)
    body = json.loads(info.value.read())
    assert info.value.code == 400 and body["Code"] == "InvalidParameter" and body["RequestId"]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{url}/?RegionId=cn-hangzhou")
    body = json.loads(info.value.read())
    assert (info.value.code, body["Code"]) == (400, "MissingParameter")
    assert '"Action"' in body["Message"]


def test_error_status_can_be_overridden(fresh_sim: tuple[Simulator, str]) -> None:
    """Throttling's HTTP 400 is unverified (some clients see 503): both can be simulated."""
    sim, url = fresh_sim
    sim.add_fault({"kind": "Throttling", "count": 1, "status": 503})
    answer = describe(url, "cn-hangzhou")
    assert (answer.status, answer.code) == (503, "Throttling")
    sim.add_rate_limit({"rate": 0.01, "burst": 1, "status": 503})
    assert describe(url, "cn-hangzhou").status == 200
    answer = describe(url, "cn-hangzhou")
    assert (answer.status, answer.code) == (503, "Throttling.User")
