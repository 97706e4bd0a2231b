"""A quiet simulated fleet fires no alert: one simulated hour of the exporter's own exposition,
evaluated by the real promtool against the shipped rules (``config/alerts/*.yml``, unchanged).

The hour is driven, not waited for. The simulator runs on its own thread with its clock standing
still (time scale 1e-9) and the test moves it one minute per step (``advance_clock``, which also
applies due lifecycle changes). CloudMonitor stamps its datapoints in wall-clock time, so the
test gives the CloudMonitor handlers the same stepped clock (their only clock reads here) and
gives the in-process exporter the same clock too. Each minute the exporter runs the passes that
are due at their configured intervals (5m, and 10m for health checks and failover tests, as
its scheduler would) against the simulator over HTTP, and its whole ``/metrics`` body is taken
as a 1-minute scrape would take it (``up`` = 1, ``job``/``instance`` added as Prometheus adds
them).

promtool unit tests start at Unix time 0, so the hour starts at time 0 there: every value of a
``*_timestamp_seconds`` family (the naming convention of this exporter) is shifted by the hour's
start, which keeps every ``time() - x`` and ``x - y`` in the rules what it was. The one
comparison with an absolute number, ``enabled_timestamp_seconds > 0`` (was the line ever
Enabled), is redundant for a line Enabled at every step, which the test checks.

The quiet fleet is the seeded generator's fleet with what it plants on purpose taken out: a
quiet fleet has no locked or expiring line and nothing in a state that exists to be reported
(provisioning, rejected, terminating...), so only its Enabled lines stay, unlocked and renewed
for a year. The resilience findings the generator plants are taken out through the simulator's
own methods (``quiet_resilience``): the running drill is removed, the HA group stuck Creating
is Active, every VBR on a redundant pair's legs gets a switching health check, a pair on one
access point has its second leg (and lines hosted on it) moved to another, and a pair not
drilled within the quarter gets a 60-minute drill 30 days ago. Everything else is the
simulator's own: its VBRs, BGP sessions (a steady peer receives at most 60 of its 110 routes,
and a pair's legs mirror each other's sessions and route counts), CloudMonitor figures and
health-check figures. The hour is 13:30-14:30 China time, the daily traffic peak.

What is asserted, at every one of the 61 evaluations: no alert of any severity fires, and
promtool passes. The fleet is checked to hold what the rules look at (lines with two VBRs,
redundant pairs with BGP sessions on both legs, health checks, failover tests, HA groups), so
the silence is not that of an empty fleet: a line that saturated, a pair whose legs' route
counts diverged, a peer near its route limit or a drill left running would fail the test.
The busiest line, summed from the exposition, stays under 80 % of its bandwidth (on the fleet
before VBRs shared their line: 119 %, and the critical LineSaturated fired at minute 10).
"""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.collectors import COLLECTORS
from exporter.collectors.physical_connections import BANDWIDTH
from exporter.collectors.traffic import TRAFFIC
from exporter.collectors.virtual_border_routers import VBR_INFO
from exporter.config import parse_config
from exporter.simulator import Simulator, SimulatorThread
from exporter.simulator.cms import actions as cms_actions
from exporter.simulator.cms import methods as cms_methods
from exporter.simulator.lines.fleet import access_points
from tests.harness import require_binary

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "config" / "alerts").glob("*.yml"))
SEED = 0
CONNECTIONS = 40  # per region over the simulator's four default regions
STEP = 60  # seconds between scrapes and rule evaluations (config/prometheus.yml)
MINUTES = 60
PEAK_UTC = 5.5 * 3600  # 13:30 China time: the hour covers the daily traffic peak
RENEWED = "now+365d"
QUARTER = 90 * 86400.0  # a redundant pair is drilled at least once a quarter
DRILLED = 30 * 86400.0  # when a pair not drilled within the quarter last was (a 60-minute test)
JOB = {"job": "expressconnect", "instance": "127.0.0.1:9756"}


class SteppedClock:
    """The hour's clock: stands still until the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SteppedTime:
    """What a module reading the ``time`` module sees: the stepped clock for ``time()``, the
    real module for the rest."""

    def __init__(self, clock: SteppedClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def quiet_fleet(sim: Simulator) -> None:
    """Keep the Enabled lines, unlocked and renewed; drop the rest (and links to them)."""
    lines = sim.connections()
    kept = {c["PhysicalConnectionId"] for c in lines if c["Status"] == "Enabled"}
    for line in lines:
        pc_id = line["PhysicalConnectionId"]
        if pc_id not in kept:
            sim.remove_connection(pc_id)
    for line in lines:
        pc_id = line["PhysicalConnectionId"]
        if pc_id not in kept:
            continue
        fields: dict[str, Any] = {"BusinessStatus": "Normal", "EndTime": RENEWED}
        partner = line.get("RedundantPhysicalConnectionId")
        if partner and partner not in kept:
            fields["RedundantPhysicalConnectionId"] = None
        sim.set_fields(pc_id, fields)
    quiet_resilience(sim)


def quiet_resilience(sim: Simulator) -> None:
    """Take out the resilience findings the generator plants, through the simulator's own
    methods: no drill running, no HA group stuck Creating, and every redundant pair on two
    access points, drilled within the quarter, with a switching health check on each VBR."""
    resilience = sim.resilience
    now = sim.now()
    for job in resilience.jobs():
        if resilience.job_status(job.job_id) in ("Starting", "Testing", "Stopping"):
            resilience.remove_failover_test(job.job_id)
    for group in resilience.groups():
        if group.status != "Active":
            resilience.update_vbr_ha(group.ha_id, {"Status": "Active"})
    lines = {c["PhysicalConnectionId"]: c for c in sim.connections()}
    for pc_id, line in lines.items():
        partner = line.get("RedundantPhysicalConnectionId")
        if not partner or pc_id > partner:
            continue
        legs = (pc_id, partner)
        if line["AccessPointId"] == lines[partner]["AccessPointId"]:
            _, region = sim.owner(partner)
            other = next(ap for ap in access_points(region) if ap != line["AccessPointId"])
            for moved in (partner, *_hosted_on(lines, partner)):
                sim.set_fields(moved, {"AccessPointId": other})
        drilled = [
            job.started
            for leg in legs
            for job in resilience.jobs(connection=leg)
            if job.started is not None and resilience.job_status(job.job_id) == "Stopped"
        ]
        if max(drilled, default=0.0) < now - QUARTER:
            resilience.add_failover_test([pc_id], name="quarterly-drill", start_time=now - DRILLED)
        for leg in legs:
            for vbr in sim.vbrs(connection=leg):
                resilience.set_health_check(vbr["VbrId"], {"HealthCheckOnly": False})


def _hosted_on(lines: dict[str, dict[str, Any]], parent: str) -> list[str]:
    return [pc_id for pc_id, c in lines.items() if c.get("ParentPhysicalConnectionId") == parent]


def start_of_hour(now: float) -> float:
    """The next 13:30 China time after ``now``."""
    day = math.floor(now / 86400) * 86400
    start = day + PEAK_UTC
    return start if start > now else start + 86400


def exporter_config(url: str, regions: tuple[str, ...]) -> Any:
    return parse_config(
        {
            "web": {"listen_address": "127.0.0.1:0"},
            "api": {"endpoint": url, "max_requests_per_second": 1000},
            "accounts": [
                {
                    "name": "default",
                    "credentials": {
                        "type": "access_key",
                        "access_key_id": "sim-access-key-id",
                        "access_key_secret": "sim-access-key-secret",
                    },
                    "regions": list(regions),
                }
            ],
        },
        "quiet-fleet",
    )


async def record_hour(sim: Simulator, url: str, clock: SteppedClock) -> list[bytes]:
    """The exporter's body at each of the hour's 61 scrapes (minute 0 to 60)."""
    bodies: list[bytes] = []
    exporter = Exporter(exporter_config(url, sim.regions), clock=clock)
    await exporter.open()
    try:
        keys = [status.key for status in exporter.region_statuses()]
        intervals = exporter._plan.jobs(keys)  # what its scheduler would run them at
        order = [c.name for c in COLLECTORS]
        for minute in range(MINUTES + 1):
            if minute:
                clock.now += STEP
                sim.advance_clock(STEP)
            elapsed = minute * STEP
            for name in order:  # a collector may read an earlier one's snapshot
                due = [
                    key
                    for key in keys
                    if key[2] == name and elapsed % intervals[("pass", *key)] == 0
                ]
                results = await asyncio.gather(*(exporter.refresh(*key) for key in due))
                failed = [r.key for r in results if r is None or not r.up]
                assert not failed, f"minute {minute}: passes failed: {failed}"
            bodies.append(exporter.body())
    finally:
        await exporter.stop()
    return bodies


def _series_name(name: str, labels: dict[str, str]) -> str:
    def quoted(value: str) -> str:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'

    inner = ",".join(f"{key}={quoted(value)}" for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def samples(body: bytes) -> Iterator[tuple[str, dict[str, str], float]]:
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            yield sample.name, dict(sample.labels), sample.value


def input_series(bodies: list[bytes], start: float) -> list[dict[str, str]]:
    """promtool ``input_series``: one value per scrape, ``_`` where the series was absent."""
    values: dict[str, list[str]] = {}
    for step, body in enumerate(bodies):
        scraped = [("up", {}, 1.0), *samples(body)]
        for name, labels, value in scraped:
            if name.endswith("_timestamp_seconds"):
                value -= start
            row = values.setdefault(_series_name(name, {**labels, **JOB}), ["_"] * len(bodies))
            row[step] = repr(float(value))
    return [{"series": key, "values": " ".join(row)} for key, row in values.items()]


def shipped_rules() -> tuple[list[str], dict[tuple[str, str], str]]:
    """Group names in file order, and each alert's ``for`` per (alertname, severity)."""
    groups: list[str] = []
    holds: dict[tuple[str, str], str] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            groups.append(group["name"])
            for rule in group["rules"]:
                if "alert" in rule:
                    holds[rule["alert"], rule["labels"]["severity"]] = rule.get("for", "0s")
    return groups, holds


def unit_test_file(series: list[dict[str, str]]) -> dict[str, Any]:
    """No alert firing at any of the hour's evaluations. Groups are evaluated in file order,
    so a rule reading an earlier group's record sees this minute's (as on a Prometheus that
    is not behind)."""
    groups, holds = shipped_rules()
    names = sorted({name for name, _ in holds})
    return {
        "rule_files": [str(path) for path in RULE_FILES],
        "evaluation_interval": f"{STEP}s",
        "group_eval_order": groups,
        "tests": [
            {
                "interval": f"{STEP}s",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": f"{minute}m", "alertname": name, "exp_alerts": []}
                    for minute in range(MINUTES + 1)
                    for name in names
                ],
            }
        ],
    }


def fired(promtool_output: str) -> dict[tuple[str, str], str]:
    """(alertname, severity) -> the first evaluation at which promtool saw it firing."""
    first: dict[tuple[str, str], str] = {}
    for block in promtool_output.split("alertname: ")[1:]:
        name, _, rest = block.partition(", time: ")
        at = rest.split(",", 1)[0]
        for severity in re.findall(r'severity="(\w+)"', rest):
            first.setdefault((name, severity), at)
    return first


def fleet_shape(sim: Simulator) -> dict[str, int]:
    """What the quiet fleet holds that the traffic sums and the resilience rules look at."""
    lines = sim.connections()
    per_line = Counter(v["PhysicalConnectionId"] for v in sim.vbrs())
    jobs = {
        j.job_id for c in lines for j in sim.resilience.jobs(connection=c["PhysicalConnectionId"])
    }
    with_bgp = {v["PhysicalConnectionId"] for v in sim.vbrs() if sim.bgp_peers(vbr=v["VbrId"])}
    return {
        "lines": len(lines),
        "lines with 2+ VBRs": sum(1 for n in per_line.values() if n >= 2),
        "redundant lines": sum(1 for c in lines if c.get("RedundantPhysicalConnectionId")),
        "pair legs with BGP on both": sum(
            1
            for c in lines
            if {c["PhysicalConnectionId"], c.get("RedundantPhysicalConnectionId")} <= with_bgp
        ),
        "VBR HA groups": len(sim.resilience.groups()),
        "BGP sessions": len(sim.bgp_peers()),
        "health checks": len(sim.resilience.health_checks()),
        "failover tests": len(jobs),
    }


def busiest_line(bodies: list[bytes]) -> float:
    """The highest share of its bandwidth any line carried in one direction in any scrape,
    from the exposition alone (the VBRs' traffic summed per line)."""
    busiest = 0.0
    for body in bodies:
        line_of: dict[str, str] = {}
        bandwidth: dict[str, float] = {}
        traffic: Counter[tuple[str, str]] = Counter()
        for name, labels, value in samples(body):
            if name == VBR_INFO:
                line_of[labels["vbr_id"]] = labels["physical_connection_id"]
            elif name == BANDWIDTH:
                bandwidth[labels["physical_connection_id"]] = value
        for name, labels, value in samples(body):
            if name == TRAFFIC:
                traffic[line_of[labels["vbr_id"]], labels["direction"]] += value
        for (line, _), value in traffic.items():
            busiest = max(busiest, value / bandwidth[line])
    return busiest


def test_a_quiet_simulated_hour_fires_no_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promtool = require_binary("promtool")
    sim = Simulator(seed=SEED, connections=CONNECTIONS, time_scale=1e-9)
    start = start_of_hour(sim.now())
    sim.advance_clock(start - sim.now())
    quiet_fleet(sim)
    shape = fleet_shape(sim)
    assert all(shape.values()), shape
    clock = SteppedClock(start)
    for module in (cms_actions, cms_methods):  # the query's window, the newest point's time
        monkeypatch.setattr(module, "time", SteppedTime(clock))
    with SimulatorThread(sim) as url:
        bodies = asyncio.run(record_hour(sim, url, clock))
    statuses = {c["Status"] for c in sim.connections()}
    assert statuses == {"Enabled"}, f"a quiet line left Enabled: {statuses}"
    busiest = busiest_line(bodies)
    print(f"quiet fleet {shape}; busiest line {busiest:.1%} of its bandwidth")

    tests = tmp_path / "quiet_hour_test.yml"
    tests.write_text(yaml.safe_dump(unit_test_file(input_series(bodies, start)), sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", str(tests)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    seen = fired(output)
    assert result.returncode == 0 or seen, output[-3000:]  # promtool itself failed
    pages = {key: at for key, at in seen.items() if key[1] == "critical"}
    assert not pages, f"a quiet hour pages: {pages}; everything that fired: {seen}"
    assert not seen, f"a quiet hour fires (first at): {seen}"
    assert result.returncode == 0, output[-3000:]
    assert 0.1 < busiest < 0.8, f"busiest line at {busiest:.1%}"
