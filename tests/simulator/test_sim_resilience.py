"""Resilience state of the simulator: grown data, control plane, scenario steps."""

from __future__ import annotations

from exporter.simulator import Simulator
from exporter.simulator.lines.fleet import DAY, iso
from exporter.simulator.lines.lifecycle import parse_time
from exporter.simulator.resilience.growth import redundant_pairs
from exporter.simulator.scenario import ScenarioError, load_scenario

from .conftest import control

ACCOUNT = "default"


def test_grown_data_is_deterministic_and_covers_every_case() -> None:
    sim = Simulator(seed=7, connections=40, lifecycle=False)
    again = Simulator(seed=7, connections=40, lifecycle=False)
    assert [v["HealthCheckSourceIp"] for _, v in sim.resilience.health_checks()] == [
        v["HealthCheckSourceIp"] for _, v in again.resilience.health_checks()
    ]
    assert [j.job_id for j in sim.resilience.jobs()] == [j.job_id for j in again.resilience.jobs()]
    assert [g.ha_id for g in sim.resilience.groups()] == [
        g.ha_id for g in again.resilience.groups()
    ]
    other = Simulator(seed=8, connections=40, lifecycle=False)
    assert [j.job_id for j in other.resilience.jobs()] != [j.job_id for j in sim.resilience.jobs()]
    r = sim.resilience
    infos = sim.vbr_infos()
    configured = [i for i in infos if i.health_check]
    assert len(configured) > len(infos) / 2 and len(configured) < len(infos)
    only = [view for _, view in r.health_checks() if view["HealthCheckOnly"]]
    assert only and len(only) < len(configured)
    statuses = [r.job_status(j.job_id) for j in r.jobs()]
    assert statuses.count("Testing") == 1 and statuses.count("Init") == 1
    now = sim.now()
    lines = {c["PhysicalConnectionId"]: c for c in sim.connections()}
    pairs = redundant_pairs(sim.store)
    assert len(pairs) >= 3
    last: dict[str, float] = {}
    for job in r.jobs():
        view = r.job_view(job.job_id)
        if view["Status"] == "Stopped":
            stop = parse_time(view["StopTime"])
            assert stop is not None
            for pc in view["ResourceId"]:
                assert lines[pc]["Status"] == "Enabled"
                last[pc] = max(last.get(pc, 0.0), stop)
    ages = []
    for a, b in pairs:
        newest = max(last.get(a.id, 0.0), last.get(b.id, 0.0))
        ages.append(None if newest == 0.0 else (now - newest) / DAY)
    assert any(a is not None and a < 60 for a in ages)
    assert any(a is not None and a > 180 for a in ages)
    assert None in ages
    on_pairs = {c.id for pair in pairs for c in pair}
    assert any(not i.health_check for i in infos if i.physical_connection_id in on_pairs)
    assert {g.status for g in r.groups()} == {"Creating", "Active"}


def test_control_plane_failover_test(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    line = sim.select({"Status": "Enabled", "region": "cn-beijing"})
    status, made = control(
        url,
        "POST",
        "failover-tests",
        {"connections": [line], "job_type": "StartLater", "duration": 30},
    )
    assert status == 201 and made["job"]["Status"] == "Init" and made["job"]["StartTime"] == ""
    job_id = made["id"]
    assert control(url, "POST", f"failover-tests/{job_id}/stop")[0] == 400  # not running
    status, started = control(url, "POST", f"failover-tests/{job_id}/start")
    assert status == 200 and started["job"]["Status"] == "Starting"
    planned = parse_time(started["job"]["StartTime"])
    assert planned is not None and started["job"]["StopTime"] == iso(planned + 30 * 60)
    sim.advance_clock(10)
    assert control(url, "GET", f"failover-tests/{job_id}")[1]["job"]["Status"] == "Testing"
    assert sim.resilience.running_job(line) == job_id
    assert control(url, "POST", f"failover-tests/{job_id}/start")[0] == 400
    status, stopping = control(url, "POST", f"failover-tests/{job_id}/stop")
    assert status == 200 and stopping["job"]["Status"] == "Stopping"
    sim.advance_clock(10)
    stopped = control(url, "GET", f"failover-tests/{job_id}")[1]["job"]
    assert stopped["Status"] == "Stopped" and stopped["StopTime"].endswith("Z")
    listed = control(url, "GET", f"failover-tests?connection={line}")[1]
    assert job_id in [e["job"]["JobId"] for e in listed]
    assert all(line in e["job"]["ResourceId"] for e in listed)
    # auto stop after JobDuration, and the settings
    now_job = control(url, "POST", "failover-tests", {"connections": [line], "duration": 1})[1][
        "id"
    ]
    sim.advance_clock("2m")
    assert sim.resilience.job_status(now_job) == "Stopped"
    assert control(url, "PATCH", "resilience/settings", {"init_times": "absent"})[0] == 200
    assert control(url, "PATCH", "resilience/settings", {"init_times": "maybe"})[0] == 400
    assert control(url, "PATCH", "resilience/settings", {"nope": 1})[0] == 400
    later = control(
        url, "POST", "failover-tests", {"connections": [line], "job_type": "StartLater"}
    )
    assert "StartTime" not in later[1]["job"]
    # bad input changes nothing
    before = len(sim.resilience.jobs())
    for body in (
        {"connections": []},
        {"connections": line},
        {"connections": [line], "duration": 5000},
        {"connections": [line], "job_type": "Sometime"},
        {"connections": [line, sim.select({"Status": "Enabled", "region": "cn-hangzhou"})]},
        {"connections": [line], "colour": "red"},
    ):
        assert control(url, "POST", "failover-tests", body)[0] == 400, body
    assert control(url, "POST", "failover-tests", {"connections": ["pc-none"]})[0] == 404
    assert len(sim.resilience.jobs()) == before
    assert control(url, "DELETE", f"failover-tests/{job_id}")[0] == 200
    assert control(url, "GET", f"failover-tests/{job_id}")[0] == 404


def test_control_plane_health_checks_and_ha(fresh_sim: tuple[Simulator, str]) -> None:
    sim, url = fresh_sim
    vbr_id = next(i.vbr_id for i in sim.vbr_infos() if i.health_check)
    status, changed = control(
        url, "PATCH", f"health-checks/{vbr_id}", {"HealthCheckOnly": True, "HealthyThreshold": 3}
    )
    assert status == 200 and changed["health_check"]["HealthCheckOnly"] is True
    assert sim.resilience.health_check_view(vbr_id)["HealthyThreshold"] == 3  # type: ignore[index]
    assert control(url, "PATCH", f"health-checks/{vbr_id}", {"HealthCheckInterval": 9})[0] == 400
    assert control(url, "PATCH", f"health-checks/{vbr_id}", {"Colour": 1})[0] == 400
    assert control(url, "DELETE", f"health-checks/{vbr_id}")[0] == 200
    got = control(url, "GET", f"health-checks/{vbr_id}")[1]
    assert got["configured"] is False and sim.vbr_info(vbr_id).health_check is False
    assert control(url, "DELETE", f"health-checks/{vbr_id}")[0] == 400
    assert control(url, "PATCH", f"health-checks/{vbr_id}", {})[0] == 200  # defaults again
    assert sim.vbr_info(vbr_id).health_check is True
    assert control(url, "GET", "health-checks/vbr-none")[0] == 404
    # a VBR HA group between two VBRs on different lines of one region, neither grouped
    free = [
        i
        for i in sim.vbr_infos(ACCOUNT, "cn-hangzhou")
        if sim.resilience.group_of(i.vbr_id) is None
    ]
    a = free[0]
    b = next(i for i in free if i.physical_connection_id != a.physical_connection_id)
    status, made = control(
        url, "POST", "vbr-ha", {"vbr": a.vbr_id, "peer_vbr": b.vbr_id, "name": "x"}
    )
    assert status == 201 and made["group"]["Status"] == "Creating"
    assert control(url, "POST", "vbr-ha", {"vbr": a.vbr_id, "peer_vbr": b.vbr_id})[0] == 400
    assert control(url, "POST", "vbr-ha", {"vbr": a.vbr_id})[0] == 400
    patched = control(url, "PATCH", f"vbr-ha/{made['id']}", {"Status": "Active"})[1]
    assert patched["group"]["Status"] == "Active"
    assert control(url, "PATCH", f"vbr-ha/{made['id']}", {"Status": "Gone"})[0] == 400
    listed = control(url, "GET", "vbr-ha?region=cn-hangzhou")[1]
    assert made["id"] in [e["group"]["VbrHaId"] for e in listed]
    assert control(url, "DELETE", f"vbr-ha/{made['id']}")[0] == 200


def test_scenario_steps() -> None:
    sim = Simulator(seed=7, connections=40, lifecycle=False)
    line = sim.select({"Status": "Enabled", "region": "cn-shanghai"})
    scenario = load_scenario(
        {
            "steps": [
                {"start_failover_test": {"connections": [line], "duration": 30, "name": "s"}},
                {"stop_failover_test": {"connection": line}},
                {
                    "set_health_check": {
                        "select": {"Status": "active", "index": 0},
                        "HealthCheckOnly": True,
                    }
                },
                {"remove_health_check": {"select": {"Status": "active", "index": 1}}},
            ]
        }
    )
    steps = scenario.steps
    sim.run_step(steps[0])
    job = sim.resilience.running_job(line)
    sim.run_step(steps[1])
    assert sim.resilience.job_status(job) in ("Stopping", "Stopped")
    sim.run_step(steps[2])
    first = sim.select_vbr({"Status": "active", "index": 0})
    assert sim.resilience.health_check_view(first)["HealthCheckOnly"] is True  # type: ignore[index]
    sim.run_step(steps[3])
    assert (
        sim.resilience.health_check_view(sim.select_vbr({"Status": "active", "index": 1})) is None
    )
    free = [
        i
        for i in sim.vbr_infos(ACCOUNT, "cn-hangzhou")
        if sim.resilience.group_of(i.vbr_id) is None
    ]
    a = free[0]
    b = next(i for i in free if i.physical_connection_id != a.physical_connection_id)
    ha = load_scenario(
        {
            "steps": [
                {
                    "add_vbr_ha": {
                        "vbr": a.vbr_id,
                        "peer_connection": b.physical_connection_id,
                        "id": "vbrha-x",
                    }
                },
                {"set_vbr_ha": {"id": "vbrha-x", "Status": "Active"}},
            ]
        }
    ).steps
    sim.run_step(ha[0])
    assert sim.resilience.group_view("vbrha-x")["Status"] == "Creating"
    sim.run_step(ha[1])
    assert sim.resilience.group_view("vbrha-x")["Status"] == "Active"
    for bad in (
        {"stop_failover_test": {"connection": line, "id": "ftj-x"}},
        {"set_health_check": {}},
        {"add_vbr_ha": {"vbr": "a"}},
        {"start_failover_test": {"connections": [line], "duration": 0}},
    ):
        try:
            load_scenario({"steps": [bad]})
        except ScenarioError:
            continue
        raise AssertionError(f"accepted {bad}")
