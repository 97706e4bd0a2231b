"""``expressconnect-exporter demo``: simulator and exporter in one process, no cloud account.

The simulator runs on its own thread and event loop (``SimulatorThread``), the
exporter runs as the real daemon on the main thread against it, with an embedded configuration
that refreshes every 15 s so that the demo scenario's changes show up quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import exporter
from exporter.config import Config, parse_config, split_listen_address
from exporter.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from exporter.simulator import Simulator

log = logging.getLogger(__name__)

DEFAULT_REGIONS = ("cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1")
DEFAULT_CONNECTIONS = 300
DEFAULT_SEED = 42
SIM_ACCESS_KEY_ID = "sim-access-key-id"
SIM_ACCESS_KEY_SECRET = "sim-access-key-secret"  # the simulator's published demo key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        default="127.0.0.1:9756",
        metavar="HOST:PORT",
        help="exporter address (default %(default)s)",
    )
    parser.add_argument(
        "--simulator-listen",
        default="127.0.0.1:18080",
        metavar="HOST:PORT",
        help="simulator address (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="fleet seed")
    parser.add_argument(
        "--connections", type=int, default=DEFAULT_CONNECTIONS, help="connections in the fleet"
    )
    parser.add_argument(
        "--regions",
        default=",".join(DEFAULT_REGIONS),
        help="comma-separated region IDs (default %(default)s)",
    )
    parser.add_argument(
        "--interval", default="15s", help="exporter refresh interval (default %(default)s)"
    )
    parser.add_argument(
        "--with-alerting",
        action="store_true",
        help="also run Prometheus and Alertmanager (when installed) with the shipped rules",
    )
    parser.add_argument("--prometheus-listen", default="127.0.0.1:9090", metavar="HOST:PORT")
    parser.add_argument("--alertmanager-listen", default="127.0.0.1:9093", metavar="HOST:PORT")
    parser.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help="scenario YAML (default: the bundled demo scenario)",
    )


def find_demo_scenario() -> Path | None:
    """The demo scenario shipped as package data (``config/demo-scenario.yml`` links to it)."""
    candidate = Path(exporter.__file__).resolve().parent / "data" / "demo-scenario.yml"
    return candidate if candidate.is_file() else None


def demo_config(endpoint: str, regions: list[str], interval: float, listen: str) -> Config:
    """The embedded exporter configuration, pointed at the simulator."""
    data: dict[str, Any] = {
        "web": {"listen_address": listen},
        "refresh": {
            "interval": interval,
            "timeout": min(interval, 60.0),
            "max_staleness": max(interval * 4, 120.0),
        },
        "api": {"endpoint": endpoint, "request_timeout": min(interval, 10.0)},
        "accounts": [
            {
                "name": "demo",
                "credentials": {
                    "type": "access_key",
                    "access_key_id": SIM_ACCESS_KEY_ID,
                    "access_key_secret": SIM_ACCESS_KEY_SECRET,
                },
                "regions": regions,
            }
        ],
        # Short intervals, so a BGP flap and a saturation show within the demo's scenario.
        "collectors": {
            "virtual_border_routers": {"interval": interval},
            "traffic": {"interval": max(interval, 60.0)},
            # The demo's failover test shows within a minute (10m by default).
            "health_checks": {"interval": max(interval, 60.0)},
            "failover_tests": {"interval": max(interval, 60.0)},
        },
        "labels": {"tags": ["env", "owner"]},
        "log": {"level": "info", "format": "logfmt"},
    }
    return parse_config(data, "<demo config>")


DRILL_MINUTES = 4320  # the longest JobDuration the API allows (72 real minutes at 60x)
DRILL_SECONDS = 3 * 3600.0  # the drilled leg's BGP session stays down this long (real time)


@dataclass(frozen=True, slots=True)
class Drill:
    """The demo's failover test: one leg of a redundant pair down on purpose."""

    physical_connection_id: str
    job_id: str
    bgp_peer_id: str


def start_drill(simulator: Simulator) -> Drill | None:
    """Run a failover test on one leg of a redundant pair, and take that leg's BGP session down
    as a real test would (the simulator does not do it by itself): the demo then shows a line
    down on purpose whose pages stay quiet (ExpressConnectFailoverTestRunning holds them back).

    The leg is the last Enabled, Normal line whose partner is Enabled too and which has an
    Established IPv4 session: the demo scenario's steps pick lines from the front of the
    fleet, so they leave this one alone. A test the fleet already runs there is reused."""
    lines = {str(c["PhysicalConnectionId"]): c for c in simulator.connections()}
    for pc_id, line in reversed(lines.items()):
        partner = lines.get(str(line.get("RedundantPhysicalConnectionId") or ""))
        if partner is None or line.get("BusinessStatus") != "Normal":
            continue
        if line.get("Status") != "Enabled" or partner.get("Status") != "Enabled":
            continue
        peers = [
            str(peer["BgpPeerId"])
            for vbr in simulator.vbrs(connection=pc_id)
            for peer in simulator.bgp_peers(vbr=str(vbr["VbrId"]))
            if peer.get("BgpStatus") == "Established" and peer.get("IpVersion") == "ipv4"
        ]
        if not peers:
            continue
        try:
            job_id = simulator.resilience.running_job(pc_id)
        except KeyError:
            job_id = simulator.resilience.add_failover_test(
                [pc_id], duration=DRILL_MINUTES, name="demo-drill"
            )
        simulator.flap_bgp_peer(peers[0], DRILL_SECONDS)
        return Drill(pc_id, job_id, peers[0])
    return None


def run(args: argparse.Namespace) -> int:
    """Start both, print where to look, serve until Ctrl-C / SIGTERM."""
    from exporter.daemon import run_daemon
    from exporter.logs import setup_logging
    from exporter.simulator import Simulator, SimulatorThread

    setup_logging(args.log_level or "info", "logfmt")
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    interval = parse_duration(args.interval)
    sim_host, sim_port = split_listen_address(args.simulator_listen)
    split_listen_address(args.listen)
    scenario = args.scenario or find_demo_scenario()
    if scenario is None:
        log.info("no demo scenario found: the generated fleet will not change by itself")
    config = demo_config("http://placeholder", regions, interval, args.listen)  # fail early

    simulator = Simulator(
        seed=args.seed,
        connections=args.connections,
        regions=regions,
        scenario=str(scenario) if scenario else None,
    )
    with SimulatorThread(simulator, sim_host or "127.0.0.1", sim_port) as url:
        sim_url = url.rstrip("/")
        config = demo_config(sim_url, regions, interval, args.listen)
        first = simulator.connections()[:1]
        example = str(first[0]["PhysicalConnectionId"]) if first else None
        drill = start_drill(simulator)
        if drill:
            log.info(
                "failover test %s runs on %s: its BGP session %s is down on purpose, its pages"
                " are held back",
                drill.job_id,
                drill.physical_connection_id,
                drill.bgp_peer_id,
            )
        if not args.with_alerting:
            _print_banner(config, sim_url, args.connections, regions, scenario, example)
            return asyncio.run(run_daemon(lambda: config))
        from exporter.demo_alerting import AlertingUnavailable, alerting

        try:
            stack = alerting(args.listen, args.prometheus_listen, args.alertmanager_listen)
            with stack as urls:
                _print_banner(config, sim_url, args.connections, regions, scenario, example)
                print(f"  prometheus:         {urls.prometheus}/alerts", flush=True)
                print(f"  alertmanager:       {urls.alertmanager}/", flush=True)
                return asyncio.run(run_daemon(lambda: config))
        except AlertingUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2


def _print_banner(
    config: Config,
    sim_url: str,
    connections: int,
    regions: list[str],
    scenario: Path | None,
    example_id: str | None,
) -> None:
    host = config.web.listen_host or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    base = f"http://{host}:{config.web.listen_port}"
    lines = [
        f"expressconnect-exporter demo: {connections} simulated connections in"
        f" {len(regions)} regions ({', '.join(regions)}),"
        f" refreshed every {format_duration(config.refresh.interval)}",
        f"  scenario:           {scenario if scenario else '(none)'}",
        f"  exporter:           {base}/",
        f"  metrics:            {base}{config.web.telemetry_path}",
        f"  simulator API:      {sim_url}/",
        f"  simulator control:  {sim_url}/_sim/connections  {sim_url}/_sim/scenario"
        f"  {sim_url}/_sim/requests",
    ]
    if example_id:
        lines.append(
            "  try:               "
            f" curl -s -X PATCH {sim_url}/_sim/connections/{example_id}"
            """ -H 'Content-Type: application/json' -d '{"BusinessStatus": "FinancialLocked"}'"""
        )
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)
