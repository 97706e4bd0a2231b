"""The control plane under /_sim/ and the Python methods it mirrors."""

from __future__ import annotations

import time
import urllib.request

from exporter.simulator import Simulator

from .conftest import STS_TOKEN, control, describe, send


def test_connections_routes(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    status, listed = control(url, "GET", "connections?region=cn-hangzhou")
    assert status == 200 and len(listed) == 10
    assert {item["account"] for item in listed} == {"default"}
    pc_id = listed[0]["connection"]["PhysicalConnectionId"]
    status, one = control(url, "GET", f"connections/{pc_id}")
    assert one["region"] == "cn-hangzhou" and one["connection"]["PhysicalConnectionId"] == pc_id
    # Set any field; null removes one; now+N is a simulated-clock timestamp.
    status, changed = control(
        url,
        "PATCH",
        f"connections/{pc_id}",
        {
            "BusinessStatus": "FinancialLocked",
            "Bandwidth": 4000,
            "Description": None,
            "EndTime": "now+2d",
        },
    )
    record = changed["connection"]
    assert status == 200 and record["BusinessStatus"] == "FinancialLocked"
    assert record["Bandwidth"] == 4000 and "Description" not in record
    end = time.mktime(time.strptime(record["EndTime"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(end - (sim.now() + 2 * 86400)) < 60
    # The API shows the change at once (cached JSON invalidated).
    page = describe(
        url, "cn-hangzhou", **{"Filter.1.Key": "PhysicalConnectionId", "Filter.1.Value.1": pc_id}
    ).json
    assert page["PhysicalConnectionSet"]["PhysicalConnectionType"][0]["Bandwidth"] == 4000
    status, added = control(
        url,
        "POST",
        "connections",
        {
            "region": "cn-hangzhou",
            "id": "pc-bp1addedbycontrol0001",
            "fields": {"Status": "Initial", "Name": "added-line"},
        },
    )
    assert status == 201 and added["id"] == "pc-bp1addedbycontrol0001"
    assert describe(url, "cn-hangzhou").json["TotalCount"] == 11
    assert control(url, "DELETE", f"connections/{pc_id}")[0] == 200
    assert describe(url, "cn-hangzhou").json["TotalCount"] == 10
    assert control(url, "GET", f"connections/{pc_id}")[0] == 404
    assert control(url, "PATCH", "connections/pc-nope", {"Status": "Enabled"})[0] == 404
    status, err = control(url, "POST", "connections", {"fields": {}})
    assert status == 400 and "region" in err["error"]
    status, err = control(url, "POST", "connections", {"region": "mars-1"})
    assert status == 400 and "mars-1" in err["error"]


def test_select_route(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    status, picked = control(url, "POST", "select", {"Status": "Enabled", "index": 1})
    enabled = [r["PhysicalConnectionId"] for r in sim.connections() if r["Status"] == "Enabled"]
    assert status == 200 and picked["id"] == enabled[1]
    assert control(url, "POST", "select", {"Status": "Enabled", "region": "cn-beijing"})[1][
        "id"
    ] == sim.select({"Status": "Enabled", "region": "cn-beijing"})
    assert control(url, "POST", "select", {"Status": "Nope"})[0] == 404


def test_clock_routes(fresh_sim: tuple[Simulator, str]) -> None:
    _sim, url = fresh_sim
    status, before = control(url, "GET", "clock")
    assert status == 200 and before["time_scale"] == 1.0
    status, after = control(url, "POST", "clock", {"advance": "1d", "time_scale": 60})
    assert after["time_scale"] == 60.0
    assert 86400 <= after["now"] - before["now"] < 86400 + 60
    assert control(url, "POST", "clock", {"advance": "soon"})[0] == 400
    assert control(url, "POST", "clock", {"warp": 9})[0] == 400


def test_request_log_and_counters_hide_secrets(fresh_sim: tuple[Simulator, str]) -> None:
    _sim, url = fresh_sim
    describe(url, "cn-hangzhou")
    send(
        url,
        "DescribePhysicalConnections",
        {"RegionId": "cn-hangzhou"},
        ak="STS.sim-sts-access-key-id",
        secret="sim-sts-access-key-secret",
        token=STS_TOKEN,
    )
    send(url, "DescribePhysicalConnections", {"RegionId": "cn-beijing"}, secret="wrong")
    status, log = control(url, "GET", "requests?limit=10")
    assert status == 200 and len(log) == 3
    assert [r["code"] for r in log] == ["OK", "OK", "SignatureDoesNotMatch"]
    assert log[1]["access_key_id"] == "STS.sim-sts-access-key-id"
    assert log[0]["signature_version"] == "v1" and log[0]["account"] == "default"
    raw = urllib.request.urlopen(f"{url}/_sim/requests").read().decode()
    assert 'Signature"' not in raw and STS_TOKEN not in raw and "sim-access-key-secret" not in raw
    status, counters = control(url, "GET", "counters")
    assert counters["requests_total"] == 3
    assert {
        "account": "default",
        "region": "cn-hangzhou",
        "action": "DescribePhysicalConnections",
        "code": "OK",
        "count": 2,
    } in counters["requests"]
    assert control(url, "DELETE", "requests")[0] == 200
    assert control(url, "GET", "counters")[1]["requests_total"] == 0


def test_misc_routes(fresh_sim: tuple[Simulator, str]) -> None:
    _, url = fresh_sim
    assert control(url, "GET", "health")[1]["connections"] == 40
    accounts = control(url, "GET", "accounts")[1]
    assert accounts[0]["access_key_id"] == "sim-access-key-id" and "secret" not in str(accounts)
    assert control(url, "GET", "nothing-here")[0] == 404
    request = urllib.request.Request(f"{url}/_sim/faults", data=b"{not json", method="POST")
    try:
        urllib.request.urlopen(request)
        raise AssertionError("bad JSON accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
    assert control(url, "POST", "tick")[0] == 200
    assert control(url, "GET", "scenario")[1] == {"steps": [], "done": 0}


def test_rejected_patch_changes_nothing(fresh_sim: tuple[Simulator, str]) -> None:
    """A PATCH answered 400 leaves the record as it was, and the API keeps answering."""
    sim, url = fresh_sim
    pc_id = sim.connections(region="cn-hangzhou")[0]["PhysicalConnectionId"]
    before = sim.connection(pc_id)
    # A lone surrogate parses as JSON but cannot be sent as UTF-8; NaN is not JSON at all.
    for bad in ({"Name": "\ud800", "Bandwidth": 1}, {"Bandwidth": float("nan")}):
        status, err = control(url, "PATCH", f"connections/{pc_id}", bad)
        assert status == 400, err
        assert "\n" not in err["error"] and next(iter(bad)) in err["error"]
        assert sim.connection(pc_id) == before
        assert describe(url, "cn-hangzhou").status == 200
