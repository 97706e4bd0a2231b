"""CloudMonitor in the simulator: the wire (signed both ways, GET and POST, Datapoints a
string), parameter checks, the synthetic figures (deterministic, consistent, health checks
only where configured, no traffic on VBRs that are down), overrides with their history, the
control plane, call counters and scenario steps (the demo's saturation included)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.simulator import Account, Simulator, SimulatorThread
from exporter.simulator.cms.actions import endpoint_region
from exporter.simulator.cms.metrics import METRICS
from exporter.simulator.cms.state import CmsState, newest_point_ms
from exporter.simulator.scenario import ScenarioError
from tests.simulator.conftest import Answer, control, send

NS = "acs_physical_connection"
CMS = "2019-01-01"
METRICS_IN = "RateInFromIDCToVpc"
DEMO = Path(__file__).resolve().parents[3] / "exporter" / "data" / "demo-scenario.yml"


def cms(url: str, action: str, params: dict[str, str], **kw: Any) -> Answer:
    return send(url, action, params, version=CMS, **kw)


def metric_params(metric: str, vbr_ids: list[str], **extra: str) -> dict[str, str]:
    dims = json.dumps([{"instanceId": v} for v in vbr_ids])
    return {"Namespace": NS, "MetricName": metric, "Dimensions": dims, **extra}


def datapoints(answer: Answer) -> list[dict[str, Any]]:
    assert answer.status == 200, answer.body
    body = answer.json
    assert body["Success"] is True and body["Code"] == "200"
    assert isinstance(body["Datapoints"], str)
    return json.loads(body["Datapoints"])  # type: ignore[no-any-return]


def newest(sim: Simulator, url: str, metric: str, vbr_ids: list[str]) -> dict[str, float]:
    got = datapoints(cms(url, "DescribeMetricLast", metric_params(metric, vbr_ids)))
    return {p["instanceId"]: p["Value"] for p in got}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=5, connections=40, lifecycle=False)
    sim.cms_settings({"qps": None})
    with SimulatorThread(sim) as url:
        yield sim, url


def active(sim: Simulator, health_check: bool | None = None) -> list[str]:
    return [
        v["VbrId"]
        for v in sim.vbrs()
        if v["Status"] == "active"
        and v["PhysicalConnectionBusinessStatus"] == "Normal"
        and (health_check is None or sim.vbr_info(v["VbrId"]).health_check == health_check)
    ]


# -- wire ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sig", "method", "form"),
    [("v1", "GET", False), ("v1", "POST", True), ("v3", "POST", False), ("v3", "GET", False)],
)
def test_signed_every_way(served: tuple[Simulator, str], sig: str, method: str, form: bool) -> None:
    sim, url = served
    ids = active(sim)[:2]
    answer = cms(
        url, "DescribeMetricLast", metric_params(METRICS_IN, ids), sig=sig, method=method, form=form
    )
    assert [p["instanceId"] for p in datapoints(answer)] == ids
    raw = answer.body.decode()
    assert '"Datapoints":"[{\\"timestamp\\":' in raw  # an escaped string, not an array
    assert '"Code":"200"' in raw and '"Period":"60"' in raw


def test_last_pages_by_instance(served: tuple[Simulator, str]) -> None:
    sim, url = served
    ids = active(sim)[:3]
    first = cms(url, "DescribeMetricLast", metric_params(METRICS_IN, ids, Length="2"))
    token = first.json["NextToken"]
    second = cms(
        url, "DescribeMetricLast", metric_params(METRICS_IN, ids, Length="2", NextToken=token)
    )
    assert "NextToken" not in second.json
    got = datapoints(first) + datapoints(second)
    assert [p["instanceId"] for p in got] == ids


def test_any_region_on_any_host_and_no_region_id(served: tuple[Simulator, str]) -> None:
    sim, url = served
    by_region: dict[str, str] = {}
    for vbr_id in active(sim):
        by_region.setdefault(sim.vbr_info(vbr_id).region, vbr_id)
    assert len(by_region) >= 3
    ids = list(by_region.values())
    got = newest(sim, url, METRICS_IN, ids)
    assert set(got) == set(ids)
    # A RegionId, if a client sends one anyway, changes nothing.
    params = metric_params(METRICS_IN, ids, RegionId="cn-hangzhou")
    assert {p["instanceId"] for p in datapoints(cms(url, "DescribeMetricLast", params))} == set(ids)


def test_versions_tell_the_apis_apart(served: tuple[Simulator, str]) -> None:
    sim, url = served
    vpc_version = send(url, "DescribeMetricLast", metric_params(METRICS_IN, active(sim)[:1]))
    assert vpc_version.status == 404 and vpc_version.json["Code"] == "InvalidAction.NotFound"
    cms_version = cms(url, "DescribePhysicalConnections", {"RegionId": "cn-hangzhou"})
    assert cms_version.status == 404 and cms_version.json["Code"] == "InvalidAction.NotFound"
    assert cms_version.json["HostId"] == "metrics.aliyuncs.com"


def test_other_accounts_vbrs_are_not_visible() -> None:
    accounts = [
        Account(name="a", access_key_id="ak-a", access_key_secret="sa", uid=111),
        Account(name="b", access_key_id="ak-b", access_key_secret="sb", uid=222),
    ]
    sim = Simulator(seed=3, connections=20, accounts=accounts, lifecycle=False)
    with SimulatorThread(sim) as url:
        mine = [i.vbr_id for i in sim.vbr_infos(account="a")][:2]
        theirs = [i.vbr_id for i in sim.vbr_infos(account="b")][:2]
        answer = cms(
            url,
            "DescribeMetricLast",
            metric_params(METRICS_IN, mine + theirs),
            ak="ak-a",
            secret="sa",
        )
        got = datapoints(answer)
        assert {p["instanceId"] for p in got} == set(mine)
        assert {p["userId"] for p in got} == {"111"}
        assert sim.cms_calls() == {"a": {"DescribeMetricLast": 1}}


@pytest.mark.parametrize(
    ("params", "code", "fragment"),
    [
        ({"Period": "90"}, "ParameterInvalid", "multiple of 60"),
        ({"Period": "abc"}, "ParameterInvalid", "Period"),
        ({"Length": "1441"}, "ParameterInvalid", "Length"),
        ({"StartTime": "2000", "EndTime": "1000"}, "ParameterInvalid", "later than"),
        ({"StartTime": "0", "EndTime": str(40 * 86400 * 1000)}, "ParameterInvalid", "31 days"),
        ({"StartTime": "yesterday"}, "ParameterInvalid", "StartTime"),
        ({"Dimensions": "[{"}, "ParameterInvalid", "Dimensions"),
        ({"Dimensions": '["vbr-x"]'}, "ParameterInvalid", "Dimensions"),
        ({"NextToken": "zz"}, "ParameterInvalid", "NextToken"),
        ({"NextToken": "1.2.3.0000000000000000"}, "ParameterInvalid", "different request"),
        ({"Namespace": ""}, "ParameterInvalid", "Namespace"),
        ({"MetricName": "Nope"}, "ResourceNotFound", "Nope"),
        ({"Namespace": "acs_cen"}, "ResourceNotFound", "acs_cen"),
    ],
)
def test_bad_parameters_name_the_problem(
    served: tuple[Simulator, str], params: dict[str, str], code: str, fragment: str
) -> None:
    sim, url = served
    answer = cms(
        url, "DescribeMetricList", {**metric_params(METRICS_IN, active(sim)[:1]), **params}
    )
    body = answer.json
    assert answer.status == (404 if code == "ResourceNotFound" else 400)
    assert body["Code"] == code and body["Success"] is False
    assert fragment in body["Message"] and "\n" not in body["Message"]


def test_datapoints_accept_text_times_and_one_object(served: tuple[Simulator, str]) -> None:
    sim, url = served
    vbr_id = active(sim)[0]
    end = newest_point_ms(time.time(), 60) - 10 * 60_000
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end / 1000))
    params = {
        "Namespace": NS,
        "MetricName": "PkgsInFromIDCToVpc",
        "Dimensions": json.dumps({"instanceId": vbr_id}),
        "StartTime": str(end - 5 * 60_000),
        "EndTime": text,
    }
    got = datapoints(cms(url, "DescribeMetricList", params))
    assert [p["timestamp"] for p in got] == [end - k * 60_000 for k in range(4, -1, -1)]


def test_period_300_and_extra_statistics() -> None:
    sim = Simulator(seed=5, connections=20, lifecycle=False)
    sim.cms_settings({"extra_statistics": True})
    with SimulatorThread(sim) as url:
        vbr_id = active(sim)[0]
        answer = cms(url, "DescribeMetricLast", metric_params(METRICS_IN, [vbr_id], Period="300"))
        (point,) = datapoints(answer)
        assert answer.json["Period"] == "300" and point["timestamp"] % 300_000 == 0
        assert point["Value"] == point["Average"] == point["Maximum"] == point["Minimum"]
        assert point["Value"] == sim.vbr_metric_value(vbr_id, METRICS_IN, point["timestamp"], 300)


# -- figures ------------------------------------------------------------------------------------
def test_deterministic_per_seed() -> None:
    stamp = newest_point_ms(time.time(), 60) - 30 * 60_000
    figures = []
    for seed in (9, 9, 10):
        sim = Simulator(seed=seed, connections=20, lifecycle=False)
        vbr_id = sim.vbr_infos()[0].vbr_id
        figures.append({m: sim.vbr_metric_value(vbr_id, m, stamp) for m in METRICS})
    assert figures[0] == figures[1]
    assert figures[0] != figures[2]


def test_figures_are_consistent(served: tuple[Simulator, str]) -> None:
    sim, url = served
    ids = active(sim)
    for direction in (
        ("RateInFromIDCToVpc", "PkgsInFromIDCToVpc", "PkgsDropInFromIDCToVpc"),
        ("RateOutFromVpcToIDC", "PkgsOutFromVpcToIDC", "PkgsDropOutFromVpcToIDC"),
    ):
        rates, packets, drops = (newest(sim, url, m, ids) for m in direction)
        for vbr_id in ids:
            bandwidth = _bandwidth_bps(sim, vbr_id)
            assert 0 < rates[vbr_id] < 0.9 * bandwidth  # the daily curve stays below saturation
            packet_size = rates[vbr_id] / 8 / packets[vbr_id]
            assert 390 <= packet_size <= 1210
            assert drops[vbr_id] == 0


def _bandwidth_bps(sim: Simulator, vbr_id: str) -> float:
    vbr = sim.vbr(vbr_id)
    line = sim.connection(vbr["PhysicalConnectionId"])
    return float(vbr.get("Bandwidth") or line["Bandwidth"]) * 1e6


def test_health_check_metrics_only_where_configured(served: tuple[Simulator, str]) -> None:
    sim, url = served
    with_check, without = active(sim, True), active(sim, False)
    assert with_check and without
    for metric in ("VbrHealthyCheckLatency", "VbrHealthyCheckLossRate"):
        got = newest(sim, url, metric, with_check + without)
        assert set(got) == set(with_check)
    latency = newest(sim, url, "VbrHealthyCheckLatency", with_check)
    assert all(500 <= v <= 40_000 for v in latency.values())  # microseconds


def test_vbrs_that_are_down_carry_no_traffic(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.cms_settings({"qps": None})
    ids = active(sim, True)[:3]
    vbr_down, line_down, locked = ids
    sim.set_vbr(vbr_down, {"Status": "deleting"})
    sim.set_fields(sim.vbr(line_down)["PhysicalConnectionId"], {"Status": "Terminating"})
    sim.set_fields(sim.vbr(locked)["PhysicalConnectionId"], {"BusinessStatus": "FinancialLocked"})
    for metric in ("RateInFromIDCToVpc", "PkgsOutFromVpcToIDC", "PkgsDropInFromIDCToVpc"):
        assert newest(sim, url, metric, ids) == dict.fromkeys(ids, 0.0)
    assert newest(sim, url, "VbrHealthyCheckLossRate", ids) == dict.fromkeys(ids, 100.0)
    assert newest(sim, url, "VbrHealthyCheckLatency", ids) == {}


def test_junk_bandwidth_reads_as_one_gigabit(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    vbr_id = next(v for v in active(sim) if "Bandwidth" not in sim.vbr(v))  # a dedicated line
    sim.set_fields(sim.vbr(vbr_id)["PhysicalConnectionId"], {"Bandwidth": "lots"})
    sim.set_vbr_metrics(vbr_id, {"utilisation": 50})
    assert newest(sim, url, METRICS_IN, [vbr_id]) == {vbr_id: 500_000_000.0}


# -- overrides ----------------------------------------------------------------------------------
def test_control_plane_overrides(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    sim.cms_settings({"qps": None})
    vbr_id = active(sim, True)[0]
    plain = Simulator(seed=7, connections=40, lifecycle=False)  # the same fleet, no overrides
    bandwidth = _bandwidth_bps(sim, vbr_id)

    status, body = control(url, "PATCH", f"vbrs/{vbr_id}/metrics", {"utilisation": 97})
    assert status == 200 and body["override"] == {"utilisation_in": 97.0, "utilisation_out": 97.0}
    assert newest(sim, url, "RateInFromIDCToVpc", [vbr_id]) == {vbr_id: round(0.97 * bandwidth)}
    assert newest(sim, url, "RateOutFromVpcToIDC", [vbr_id]) == {vbr_id: round(0.97 * bandwidth)}
    assert newest(sim, url, "PkgsDropInFromIDCToVpc", [vbr_id])[vbr_id] > 0
    assert newest(sim, url, "PkgsDropOutFromVpcToIDC", [vbr_id])[vbr_id] > 0

    status, _ = control(
        url,
        "PATCH",
        f"vbrs/{vbr_id}/metrics",
        {"utilisation_in": 85, "loss": 3.5, "latency_us": 90000},
    )
    assert status == 200
    assert newest(sim, url, "PkgsDropInFromIDCToVpc", [vbr_id]) == {vbr_id: 0.0}  # below 90 %
    assert newest(sim, url, "PkgsDropOutFromVpcToIDC", [vbr_id])[vbr_id] > 0  # still 97 %
    assert newest(sim, url, "VbrHealthyCheckLossRate", [vbr_id]) == {vbr_id: 3.5}
    assert newest(sim, url, "VbrHealthyCheckLatency", [vbr_id]) == {vbr_id: 90000.0}
    status, body = control(url, "GET", f"vbrs/{vbr_id}/metrics")
    assert body["override"]["loss"] == 3.5 and body["health_check"] is True
    assert body["latest"]["VbrHealthyCheckLossRate"] == 3.5

    control(url, "PATCH", f"vbrs/{vbr_id}/metrics", {"no_data": True})
    assert all(newest(sim, url, m, [vbr_id]) == {} for m in METRICS)

    status, _ = control(url, "DELETE", f"vbrs/{vbr_id}/metrics")
    assert status == 200
    got = datapoints(cms(url, "DescribeMetricLast", metric_params(METRICS_IN, [vbr_id])))
    stamp = got[0]["timestamp"]
    assert got[0]["Value"] == plain.vbr_metric_value(vbr_id, METRICS_IN, stamp)
    assert sim.vbr_metrics_override(vbr_id) == {}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"utilisation": 101}, 400, "utilisation_in"),
        ({"utilisation": "high"}, 400, "number"),
        ({"loudness": 3}, 400, "loudness"),
        ({"no_data": "yes"}, 400, "no_data"),
        ({"loss": 5}, 400, "health check"),  # a VBR without a health check
    ],
)
def test_bad_overrides_are_refused(
    served: tuple[Simulator, str], body: dict[str, Any], status: int, fragment: str
) -> None:
    sim, url = served
    vbr_id = active(sim, False)[0]
    got_status, got = control(url, "PATCH", f"vbrs/{vbr_id}/metrics", body)
    assert got_status == status and fragment in got["error"]
    assert sim.vbr_metrics_override(vbr_id) == {}
    assert control(url, "PATCH", "vbrs/vbr-nope/metrics", {"utilisation": 5})[0] == 404


def test_override_history_begins_and_ends_at_the_newest_point() -> None:
    state = CmsState()
    t0 = 1_700_000_030.0  # 30 s into a minute
    state.set("vbr-a", {"utilisation": 97}, now=t0)
    state.clear("vbr-a", now=t0 + 300)
    first = newest_point_ms(t0, 60)  # the newest point when the override was set shows it
    last_ = newest_point_ms(t0 + 300, 60)  # ... and the newest one when cleared does not
    assert state.at("vbr-a", first - 60_000, 60).utilisation_in is None
    assert state.at("vbr-a", first, 60).utilisation_in == 97.0
    assert state.at("vbr-a", last_ - 60_000, 60).utilisation_in == 97.0
    assert state.at("vbr-a", last_, 60).utilisation_in is None


# -- calls and faults ---------------------------------------------------------------------------
def test_calls_are_counted_per_account_and_action(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    ids = active(sim)[:2]
    for _ in range(3):
        cms(url, "DescribeMetricLast", metric_params(METRICS_IN, ids))
    cms(url, "DescribeMetricList", metric_params(METRICS_IN, ids))
    cms(url, "DescribeMetricList", metric_params("Nope", ids))  # errors count too
    send(url, "DescribeVirtualBorderRouters", {"RegionId": "cn-hangzhou"})  # not CMS
    expected = {"default": {"DescribeMetricLast": 3, "DescribeMetricList": 2}}
    assert sim.cms_calls() == expected
    status, body = control(url, "GET", "cms/calls")
    assert status == 200 and body == {"calls": expected, "total": 5}
    assert control(url, "GET", "cms/calls?account=other")[1] == {"calls": {}, "total": 0}
    sim.clear_requests()
    assert sim.cms_calls() == {}


def test_faults_target_cms_actions(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    params = metric_params(METRICS_IN, active(sim)[:1])
    sim.add_fault({"kind": "Throttling.User", "action": "DescribeMetricLast", "count": 1})
    answer = cms(url, "DescribeMetricLast", params)
    assert answer.status == 400 and answer.json["Code"] == "Throttling.User"
    assert (
        answer.json["HostId"] == "metrics.aliyuncs.com"
        and "product=Cms" in answer.json["Recommend"]
    )
    sim.add_fault({"kind": "success_false", "action": "DescribeMetricLast", "count": 1})
    answer = cms(url, "DescribeMetricLast", params)
    assert answer.status == 200
    assert answer.json["Success"] is False and answer.json["Code"] == "400"
    assert "Datapoints" not in answer.json
    sim.add_fault({"kind": "success_false", "code": "ParameterInvalid", "status": 400, "count": 1})
    answer = cms(url, "DescribeMetricList", params)
    assert answer.status == 400 and answer.json["Code"] == "ParameterInvalid"
    assert len(datapoints(cms(url, "DescribeMetricLast", params))) == 1
    counted = {r["code"] for r in sim.counters()["requests"] if r["action"] == "DescribeMetricLast"}
    assert counted == {"Throttling.User", "400", "OK"}


def test_settings_route(fresh_sim: tuple[Simulator, str]) -> None:
    _, url = fresh_sim
    status, body = control(url, "GET", "cms/settings")
    assert status == 200 and body == {
        "errors_as_200": False,
        "extra_statistics": False,
        "qps": 50.0,
        "scope": "global",
    }
    status, body = control(url, "PATCH", "cms/settings", {"qps": None, "errors_as_200": True})
    assert status == 200 and body["qps"] is None and body["errors_as_200"] is True
    status, body = control(url, "PATCH", "cms/settings", {"qps": 0})
    assert status == 400 and "qps" in body["error"]
    status, body = control(url, "PATCH", "cms/settings", {"speed": 1})
    assert status == 400 and "speed" in body["error"]
    status, body = control(url, "PATCH", "cms/settings", {"scope": "local"})
    assert status == 400 and "scope" in body["error"]
    status, body = control(url, "PATCH", "cms/settings", {"scope": "regional"})
    assert status == 200 and body["scope"] == "regional"


def test_endpoint_region_from_host_or_path() -> None:
    assert endpoint_region("metrics.cn-shanghai.aliyuncs.com", "/") == "cn-shanghai"
    assert endpoint_region("127.0.0.1:8080", "/cn-beijing") == "cn-beijing"
    assert endpoint_region("127.0.0.1:8080", "/") is None
    assert endpoint_region("metrics.aliyuncs.com", "/") is None


def _whole_namespace(url: str) -> set[str]:
    """Instances of one namespace-wide read (no Dimensions), every page."""
    params = {"Namespace": NS, "MetricName": METRICS_IN, "Length": "5"}
    seen: set[str] = set()
    while True:
        answer = cms(url, "DescribeMetricLast", params)
        seen |= {p["instanceId"] for p in datapoints(answer)}
        token = answer.json.get("NextToken")
        if not token:
            return seen
        params = {**params, "NextToken": token}


def test_scope_global_answers_every_region_regional_only_its_own(
    fresh_sim: tuple[Simulator, str],
) -> None:
    sim, url = fresh_sim
    sim.cms_settings({"qps": None})
    by_region: dict[str, set[str]] = {}
    for vbr_id in active(sim):
        by_region.setdefault(sim.vbr_info(vbr_id).region, set()).add(vbr_id)
    assert len(by_region) >= 3
    region, own = sorted(by_region.items())[0]
    everything = _whole_namespace(f"{url}/{region}")  # global, the default
    assert everything >= set().union(*by_region.values())
    sim.cms_settings({"scope": "regional"})
    regional = _whole_namespace(f"{url}/{region}")
    assert regional >= own
    assert regional == {v for v in everything if sim.vbr_info(v).region == region}
    assert _whole_namespace(url) == everything  # a central endpoint answers every region


# -- scenarios ----------------------------------------------------------------------------------
def test_scenario_steps_set_and_clear_metrics() -> None:
    steps = [
        {
            "at": 0,
            "set_vbr_metrics": {
                "select": {"Status": "active", "index": 1},
                "utilisation_out": 99,
                "drops": 7,
            },
        },
        {"at": 1, "clear_vbr_metrics": {"select": {"Status": "active", "index": 1}}},
    ]
    sim = Simulator(seed=2, connections=20, lifecycle=False, scenario={"steps": steps})
    status = sim.scenario_status()["steps"]
    target = status[0]["target"]
    assert target == status[1]["target"] == sim.select_vbr({"Status": "active", "index": 1})
    assert sim.scenario is not None
    sim.run_step(sim.scenario.steps[0], target)
    assert sim.vbr_metrics_override(target) == {
        "utilisation_out": 99.0,
        "drops_in": 7.0,
        "drops_out": 7.0,
    }
    assert sim.vbr_metric_value(target, "PkgsDropInFromIDCToVpc") == 7.0
    sim.run_step(sim.scenario.steps[1], target)
    assert sim.vbr_metrics_override(target) == {}


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"set_vbr_metrics": {"select": {"Status": "active"}, "utilisation": 120}},
            "utilisation_in",
        ),
        ({"set_vbr_metrics": {"select": {"Status": "active"}, "speed": 1}}, "speed"),
        ({"set_vbr_metrics": {"utilisation": 50}}, "exactly one of id or select"),
        ({"clear_vbr_metrics": {"select": {"Status": "gone"}}}, "steps.0"),
        ({"clear_vbr_metrics": {"id": "vbr-x", "utilisation": 5}}, "unexpected fields"),
    ],
)
def test_metric_step_errors_are_one_line(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        Simulator(seed=1, connections=10, scenario={"steps": [step]})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("seed", "connections"), [(0, 40), (42, 300)])
def test_demo_saturates_a_quiet_line_then_recovers(seed: int, connections: int) -> None:
    sim = Simulator(seed=seed, connections=connections, scenario=DEMO, lifecycle=False)
    status = sim.scenario_status()["steps"]
    mine = [n for n, s in enumerate(status) if "set_vbr_metrics" in s or "clear_vbr_metrics" in s]
    assert len(mine) == 2
    vbr_id = status[mine[0]]["target"]
    assert status[mine[1]]["target"] == vbr_id
    line = sim.vbr(vbr_id)["PhysicalConnectionId"]
    others = {s["target"] for n, s in enumerate(status) if n not in mine and s["target"]}
    flapped = {sim.bgp_peer(t)["RouterId"] for t in others if t.startswith("bgp-")}
    touched = {t for t in others if t.startswith("pc-")}
    touched |= {sim.vbr(v)["PhysicalConnectionId"] for v in flapped}
    assert line not in touched
    assert sim.scenario is not None
    for n, step in enumerate(sim.scenario.steps):  # every step, in order
        sim.run_step(step, status[n]["target"])
        if n == mine[0]:
            rate = sim.vbr_metric_value(vbr_id, "RateInFromIDCToVpc")
            assert rate == round(0.97 * _bandwidth_bps(sim, vbr_id))
            assert (sim.vbr_metric_value(vbr_id, "PkgsDropOutFromVpcToIDC") or 0) > 0
    assert sim.vbr_metrics_override(vbr_id) == {}
    assert (sim.vbr_metric_value(vbr_id, "RateInFromIDCToVpc") or 0) > 0
    assert sim.vbr_metric_value(vbr_id, "PkgsDropInFromIDCToVpc") == 0.0
