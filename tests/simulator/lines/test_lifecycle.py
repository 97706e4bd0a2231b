"""The lifecycle clock, time scale, scenarios and the demo scenario."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from exporter.simulator import Simulator
from exporter.simulator.lines.lifecycle import next_status
from exporter.simulator.scenario import ScenarioError, parse_duration

DEMO = Path(__file__).resolve().parents[3] / "config" / "demo-scenario.yml"


def fresh_application(sim: Simulator, name: str) -> str:
    return sim.add_connection(
        "cn-hangzhou",
        fields={"Status": "Initial", "Name": name, "EndTime": None, "EnabledTime": None},
    )


def test_application_moves_to_confirmed_or_fails() -> None:
    sim = Simulator(seed=4, connections=0)
    ids = [fresh_application(sim, f"app-{i}") for i in range(40)]
    sim.advance_clock("20m")
    assert {sim.connection(i)["Status"] for i in ids} == {"Initial"}
    sim.advance_clock("2d")  # long enough for every step, applied in order in one tick
    finals = {sim.connection(i)["Status"] for i in ids}
    assert "Confirmed" in finals
    assert finals <= {"Confirmed", "Rejected", "Allocation Failed"}
    assert finals & {"Rejected", "Allocation Failed"}  # ~1 in 10 at each risky step
    confirmed = next(i for i in ids if sim.connection(i)["Status"] == "Confirmed")
    assert sim.connection(confirmed)["LoaStatus"] == "Completing"


def test_each_step_and_its_dwell_time() -> None:
    sim = Simulator(seed=4, connections=0)
    pc_id = next(
        i
        for i in (fresh_application(sim, f"a{n}") for n in range(30))
        if next_status(i, "Initial") == "Approved" and next_status(i, "Allocating") == "Allocated"
    )
    seen = []
    for _ in range(5):
        sim.advance_clock("31m")
        seen.append(sim.connection(pc_id)["Status"])
    assert seen == ["Approved", "Allocating", "Allocating", "Allocated", "Allocated"]
    sim.advance_clock("2h")
    assert sim.connection(pc_id)["Status"] == "Confirmed"
    sim.advance_clock("30d")
    assert sim.connection(pc_id)["Status"] == "Confirmed"  # waits for EnablePhysicalConnection


def test_terminating_and_expiry() -> None:
    sim = Simulator(seed=4, connections=0)
    ending = sim.add_connection("cn-hangzhou", fields={"Status": "Terminating"})
    expiring = sim.add_connection("cn-hangzhou", fields={"EndTime": "now+2h"})
    sim.advance_clock("59m")
    assert sim.connection(ending)["Status"] == "Terminating"
    assert sim.connection(expiring)["BusinessStatus"] == "Normal"
    sim.advance_clock("2h")
    assert sim.connection(ending)["Status"] == "Terminated"
    assert sim.connection(expiring)["BusinessStatus"] == "FinancialLocked"
    # An unlock by hand sticks until the EndTime changes and passes again.
    sim.set_fields(expiring, {"BusinessStatus": "Normal"})
    sim.advance_clock("1h")
    assert sim.connection(expiring)["BusinessStatus"] == "Normal"


def test_lifecycle_can_be_switched_off() -> None:
    sim = Simulator(seed=4, connections=0, lifecycle=False)
    pc_id = fresh_application(sim, "still")
    sim.advance_clock("30d")
    assert sim.connection(pc_id)["Status"] == "Initial"


def test_time_scale() -> None:
    sim = Simulator(seed=1, connections=0, time_scale=3600)
    start = sim.now()
    time.sleep(0.2)
    assert sim.now() - start >= 0.2 * 3600
    sim.set_time_scale(1)
    start = sim.now()
    time.sleep(0.1)
    assert sim.now() - start < 60


def test_durations() -> None:
    assert [parse_duration(v) for v in ("30s", "5m", "1h", "7d", "1w", "250ms", 12)] == [
        30,
        300,
        3600,
        604800,
        604800,
        0.25,
        12,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


async def test_scenario_runs_on_time() -> None:
    scenario = {
        "steps": [
            {
                "at": "0s",
                "set": {
                    "select": {"Status": "Enabled", "index": 0},
                    "BusinessStatus": "FinancialLocked",
                },
            },
            {
                "at": "0.3s",
                "set": {"select": {"Status": "Enabled", "index": 0}, "BusinessStatus": "Normal"},
            },
            {"at": "0s", "fault": {"kind": "Throttling.User", "count": 1}},
            {"at": "0s", "advance": "1h"},
            {
                "at": "0s",
                "add": {
                    "region": "cn-beijing",
                    "id": "pc-2z1scenarioadded00001",
                    "Status": "Initial",
                },
            },
            {"at": "0.1s", "remove": {"id": "pc-2z1scenarioadded00001"}},
            {"at": "0s", "rate_limit": {"rate": 1000}},
            {"at": "0.1s", "clear_rate_limits": True},
            {"at": "0s", "time_scale": 2},
        ]
    }
    sim = Simulator(seed=9, connections=20, scenario=scenario)
    target = sim.select({"Status": "Enabled", "index": 0})
    start = sim.now()
    async with sim.serve():
        await asyncio.sleep(0.15)
        assert sim.connection(target)["BusinessStatus"] == "FinancialLocked"
        assert sim.now() - start >= 3600
        assert sim.clock.time_scale == 2
        assert len(sim.list_faults()) == 1
        assert "pc-2z1scenarioadded00001" not in {
            r["PhysicalConnectionId"] for r in sim.connections()
        }
        await asyncio.sleep(0.3)
        assert sim.connection(target)["BusinessStatus"] == "Normal"
        status = sim.scenario_status()
        assert status["done"] == 9
        assert status["steps"][0]["target"] == target


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"steps": [{"at": "1x", "advance": "1h"}]}, "not a duration"),
        ({"steps": [{"at": "1s"}]}, "exactly one of"),
        ({"steps": [{"at": "1s", "advance": "1h", "time_scale": 2}]}, "exactly one of"),
        ({"steps": [{"set": {"select": {"Status": "Nope"}, "Name": "x"}}]}, "steps.0"),
        ({"steps": [{"set": {"Name": "x"}}]}, "exactly one of id or select"),
        ({"steps": [{"fault": {"kind": "Gremlins"}}]}, "steps.0.fault.kind"),
        ({"stepz": []}, "stepz"),
        ({"steps": [{"add": {"region": "mars-1"}}]}, "unknown region"),
        ({"steps": [{"add": {"region": "cn-hangzhou", "account": "ghost"}}]}, "ghost"),
    ],
)
def test_scenario_errors_are_one_line(scenario: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        Simulator(seed=1, connections=10, scenario=scenario)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("seed", "connections"), [(0, 40), (42, 300)])
def test_demo_scenario_resolves(seed: int, connections: int) -> None:
    sim = Simulator(
        seed=seed,
        connections=connections,
        regions=["cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1"],
        scenario=DEMO,
    )
    steps = sim.scenario_status()["steps"]
    kinds = {next(k for k in s if k not in ("at", "target", "done")) for s in steps}
    assert {"set", "fault", "add", "time_scale"} <= kinds
    for step in steps:
        sim.run_step(sim.scenario.steps[steps.index(step)], step["target"])  # type: ignore[union-attr]
    locked = [r for r in sim.connections() if r["BusinessStatus"] != "Normal"]
    assert locked


def test_alerts_scenario_targets_distinct_lines() -> None:
    path = DEMO.parent / "scenarios" / "alerts-e2e.yml"
    sim = Simulator(scenario=path)  # the default fleet the scenario is written for
    targets = [s["target"] for s in sim.scenario_status()["steps"] if s["target"]]
    assert len(targets) == len(set(targets)) == 7
    redundant = sim.connection(targets[5])
    assert "RedundantPhysicalConnectionId" in redundant


def test_selector_has() -> None:
    sim = Simulator(seed=3, connections=40, lifecycle=False)
    pc_id = sim.select({"has": ["RedundantPhysicalConnectionId"], "index": -1})
    assert "RedundantPhysicalConnectionId" in sim.connection(pc_id)


async def test_server_ticks_the_lifecycle_in_the_background() -> None:
    sim = Simulator(seed=4, connections=0, time_scale=7200)  # two simulated hours per second
    pc_id = fresh_application(sim, "moving")
    async with sim.serve():
        for _ in range(40):
            await asyncio.sleep(0.1)
            if sim.connection(pc_id)["Status"] != "Initial":
                break
    assert sim.connection(pc_id)["Status"] != "Initial"
