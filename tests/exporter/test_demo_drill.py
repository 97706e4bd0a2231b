"""The demo's failover test (exporter/demo.py ``start_drill``): one leg of a redundant pair is
under test and its BGP session is down on purpose, on a line the demo scenario's steps leave
alone (so the drill's quiet line is not also locked, terminated or saturated by them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.demo import DEFAULT_CONNECTIONS, DEFAULT_REGIONS, DEFAULT_SEED, start_drill
from exporter.simulator import Simulator

SCENARIO = Path(__file__).resolve().parents[2] / "exporter" / "data" / "demo-scenario.yml"


@pytest.mark.parametrize(
    ("connections", "regions"),
    [(DEFAULT_CONNECTIONS, list(DEFAULT_REGIONS)), (20, ["cn-hangzhou"])],
)
def test_the_drill_takes_one_leg_of_a_pair_down_under_a_running_test(
    connections: int, regions: list[str]
) -> None:
    sim = Simulator(seed=DEFAULT_SEED, connections=connections, regions=regions)
    drill = start_drill(sim)
    assert drill is not None
    line = sim.connection(drill.physical_connection_id)
    partner = sim.connection(line["RedundantPhysicalConnectionId"])
    assert (line["Status"], line["BusinessStatus"], partner["Status"]) == (
        "Enabled",
        "Normal",
        "Enabled",
    )
    assert sim.resilience.running_job(drill.physical_connection_id) == drill.job_id
    assert sim.bgp_peer(drill.bgp_peer_id)["BgpStatus"] != "Established"
    (owner,) = {
        sim.vbr_info(v["VbrId"]).physical_connection_id
        for v in sim.vbrs(connection=drill.physical_connection_id)
    }
    assert owner == drill.physical_connection_id

    # The scenario's line steps select Enabled, Normal lines by index from the front.
    steps = yaml.safe_load(SCENARIO.read_text())["steps"]
    selected = {
        sim.select(step["set"]["select"])
        for step in steps
        if "set" in step and step["set"]["select"].get("Status") == "Enabled"
    }
    assert selected and drill.physical_connection_id not in selected
