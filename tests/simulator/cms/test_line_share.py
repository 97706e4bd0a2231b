"""A line's VBRs share its bandwidth: left alone, no line's VBRs together reach the 80 % at which
the shipped rules call it busy, at any time of day; overrides and scenario steps still saturate a
line whatever else runs on it."""

from __future__ import annotations

from collections import defaultdict

import pytest

from exporter.simulator import Simulator

RATES = ("RateInFromIDCToVpc", "RateOutFromVpcToIDC")
DAY_MS = 86_400_000
STEP_MS = 300_000  # every 5-minute point of a day
BUSY = 0.8  # ExpressConnectLineSaturated's lower threshold


def lines_with_vbrs(sim: Simulator) -> dict[str, list[str]]:
    """Enabled lines with at least one VBR -> their VBR IDs."""
    enabled = {c["PhysicalConnectionId"] for c in sim.connections() if c["Status"] == "Enabled"}
    out: dict[str, list[str]] = defaultdict(list)
    for vbr in sim.vbrs():
        if vbr["PhysicalConnectionId"] in enabled and vbr["Status"] == "active":
            out[vbr["PhysicalConnectionId"]].append(vbr["VbrId"])
    return out


def line_bps(sim: Simulator, pc_id: str) -> float:
    return float(sim.connection(pc_id)["Bandwidth"]) * 1e6


@pytest.mark.parametrize(("seed", "connections"), [(0, 40), (42, 120)])
def test_the_vbrs_of_a_line_stay_under_its_bandwidth_all_day(seed: int, connections: int) -> None:
    sim = Simulator(seed=seed, connections=connections, lifecycle=False)
    for pc_id in sim.connections():
        sim.set_fields(pc_id["PhysicalConnectionId"], {"BusinessStatus": "Normal"})
    lines = lines_with_vbrs(sim)
    shared = [pc_id for pc_id, vbrs in lines.items() if len(vbrs) >= 2]
    assert shared, "the fleet must hold lines with two VBRs"
    busiest = 0.0
    start = 1_764_892_800_000  # 2025-12-05T00:00Z, a whole day of points from here
    for pc_id, vbrs in lines.items():
        for metric in RATES:
            for ts in range(start, start + DAY_MS, STEP_MS):
                total = sum(sim.vbr_metric_value(v, metric, ts) or 0.0 for v in vbrs)
                busiest = max(busiest, total / line_bps(sim, pc_id))
    assert 0.5 < busiest < BUSY, f"busiest line at {busiest:.1%}"


def test_an_override_saturates_a_shared_line_and_a_lone_vbr_has_the_whole_line() -> None:
    sim = Simulator(seed=0, connections=40, lifecycle=False)
    lines = lines_with_vbrs(sim)
    pc_id, (first, second, *_) = next((k, v) for k, v in lines.items() if len(v) >= 2)
    bandwidth = line_bps(sim, pc_id)
    sim.set_vbr_metrics(first, {"utilisation": 97})
    assert sim.vbr_metric_value(first, "RateInFromIDCToVpc") == round(0.97 * bandwidth)
    assert (sim.vbr_metric_value(first, "PkgsDropInFromIDCToVpc") or 0) > 0
    sim.clear_vbr_metrics(first)
    ts = 1_764_892_800_000 + 6 * 3_600_000  # 14:00 China time, near every VBR's peak
    shared = sim.vbr_metric_value(second, "RateOutFromVpcToIDC", ts) or 0.0
    sim.remove_vbr(first)
    alone = sim.vbr_metric_value(second, "RateOutFromVpcToIDC", ts) or 0.0
    assert alone == pytest.approx(2 * shared, abs=1.0)
