"""Exporter benchmark (run by hand, numbers go into the report; never a timed test assertion).

    python bench/bench_exporter.py [--lines 10000] [--regions 20] [--latency 0.05] [--rate 10]
                                   [--scrapers 50] [--duration 10] [--vbr-interval 1800]
    python bench/bench_exporter.py --quick        # --lines 2000 --regions 4 --duration 5

Every collector is on (``exporter.collectors.COLLECTORS``: physical_connections,
virtual_border_routers, traffic, health_checks and failover_tests), each in its own job per
(account, region, collector). Each API has its own rate limit per account (``exporter/apis.py``):
lines, VBRs and failover tests share VPC's (``--rate``), traffic has CloudMonitor's
(``--cms-rate``), health checks CEN's (``--rate`` too, its own bucket).

1. Refresh. The simulator (its own process) serves N lines over R regions, with their VBRs, BGP
   peers, CEN health checks, failover test jobs and VBR HA groups, ``latency`` added to every
   API request; the exporter daemon (its own process) is timed from its own
   per-(region, collector) metrics (first pass start to last pass end) against the rate-limit
   bound ``requests / rate of that collector's API`` (at least the round trips one region
   needs). A round whose calls in sequence times the exporter's mean request duration exceed
   that bound is flagged latency-bound (traffic: each metric's pages chained by NextToken).
   The collectors are switched on in stages (SIGHUP reloads), so that no first round
   waits for another collector's data or shares its rate limit with another one:
   a. the first round of lines, alone (the exporter starts with VBRs, hence everything that
      reads them, off);
   b. the first VBR round (VBR and BGP peer listings' pages), alone;
   c. the first rounds of traffic, health_checks and failover_tests at once, every region's
      VBR inventory already there, one collector per rate limit; each is set against its own
      bound, and traffic's CloudMonitor calls against 8 × (regions with VBRs + ceil(VBRs /
      1000)) (``--cms-scope``, ``--traffic-query``). The VBR interval (``--vbr-interval``,
      default 30 min) is long so that no VBR round competes with failover_tests for VPC's
      limit, and failover_tests' (``--failover-interval``, default 1 h) so that the regions
      done first do not start their second pass inside the first round (about one call per VBR:
      12 min at full size, longer than the collector's own 10 min);
   d. lines and VBRs at once (after the scrapes: a reload that changes refresh.interval and
      the VBR interval, restarting those jobs), against their summed requests;
   e. a new exporter with lines, VBRs and traffic on from the start: the first round of all
      three against the larger of the VPC and CloudMonitor bounds (traffic reads CloudMonitor
      at once; only joining its points waits for the VBR inventory).
2. Scrapes. ``scrapers`` concurrent clients scrape ``/metrics`` the way Prometheus does
   (OpenMetrics accepted, gzip) for ``duration`` seconds, against three servers, each its own
   process: the exporter (right after round c); a bare aiohttp handler sending the same bytes;
   a naive exporter rendering a prometheus_client registry per scrape.
3. Memory. Peak RSS (VmHWM: the whole life of the process, refresh included) of the exporter
   and of the bare handler, each read after its 50 scrapers ran, and the highest VmRSS sampled
   while they ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from bench.benchlib import (
    LOOPBACK,
    ROOT,
    SCRAPE_HEADERS,
    free_port,
    http,
    proc_status_mb,
    spawn,
    stop,
    wait_http,
)
from bench.rounds import (
    COLLECTORS,
    DEPENDENTS,
    FAILOVER,
    PC,
    TRAFFIC,
    VBR,
    ExporterState,
    Round,
    cms_line,
    make_round,
    read_state,
    region_total,
    wait_round,
    wait_rounds,
)
from exporter.region_ids import REGION_IDS
from exporter.scheduler import MAX_STAGGER_SECONDS

GRACE_SECONDS = 30.0
ACCESS_KEY = {
    "type": "access_key",
    "access_key_id": "sim-access-key-id",
    "access_key_secret": "sim-access-key-secret",
}


# ---------------------------------------------------------------- comparison servers (children)


def serve_bare(path: Path, port: int) -> None:
    """The floor: an aiohttp handler that sends prepared bytes and does nothing else."""
    from aiohttp import web

    body = path.read_bytes()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8",
                "Content-Encoding": "gzip",
            }
        )
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/metrics", handler)
    web.run_app(app, host=LOOPBACK, port=port, access_log=None, print=None)


def serve_naive(path: Path, port: int) -> None:
    """The usual design: a custom collector whose families are rendered on every scrape."""
    from aiohttp import web
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.parser import text_string_to_metric_families

    families = list(text_string_to_metric_families(path.read_text()))

    class Snapshot:
        def collect(self) -> Any:
            return iter(families)

    registry = CollectorRegistry()
    registry.register(Snapshot())

    async def handler(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = gzip.compress(encoder(registry))
        return web.Response(
            body=body, headers={"Content-Type": content_type, "Content-Encoding": "gzip"}
        )

    app = web.Application()
    app.router.add_get("/metrics", handler)
    web.run_app(app, host=LOOPBACK, port=port, access_log=None, print=None)


# ---------------------------------------------------------------- load


async def _rss_sampler(pid: int, done: asyncio.Event, peak: list[float]) -> None:
    while not done.is_set():
        peak[0] = max(peak[0], proc_status_mb(pid, "VmRSS"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.25)


async def load(url: str, scrapers: int, duration: float, pid: int) -> dict[str, float]:
    """``scrapers`` keep-alive clients for ``duration`` s; the server's RSS sampled meanwhile."""
    import aiohttp

    latencies: list[float] = []
    sizes: list[int] = []
    deadline = time.monotonic() + duration

    async def scraper(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            async with session.get(url, headers=SCRAPE_HEADERS) as response:
                body = await response.read()
                assert response.status == 200, response.status
            latencies.append(time.monotonic() - started)
            sizes.append(len(body))

    done, peak = asyncio.Event(), [0.0]
    sampler = asyncio.create_task(_rss_sampler(pid, done, peak))
    connector = aiohttp.TCPConnector(limit=scrapers)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=False, timeout=timeout
    ) as session:
        started = time.monotonic()
        tasks = [asyncio.create_task(scraper(session)) for _ in range(scrapers)]
        # A scrape still running this long after the deadline is abandoned (a naive server
        # at full size needs minutes per round of 50): the rate counts finished scrapes only.
        _, unfinished = await asyncio.wait(tasks, timeout=duration + GRACE_SECONDS)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.monotonic() - started
    done.set()
    await sampler
    latencies.sort()
    count = len(latencies)
    if not latencies:
        latencies = [float("inf")]
        sizes = [0]
    return {
        "scrapes": count,
        "unfinished": len(unfinished),
        "per_second": count / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "bytes": statistics.mean(sizes),
        "rss_sampled_mb": peak[0],
        "hwm_mb": proc_status_mb(pid, "VmHWM"),
    }


# ---------------------------------------------------------------- the run


def _apply_quick(args: argparse.Namespace, given: set[str]) -> None:
    """--quick shrinks the fleet, but a size the user gave explicitly still wins."""
    for flag, attr, value in (
        ("--lines", "lines", 2000),
        ("--regions", "regions", 4),
        ("--duration", "duration", 5.0),
    ):
        if flag not in given and not (flag == "--lines" and "--connections" in given):
            setattr(args, attr, value)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", "--connections", dest="lines", type=int, default=10_000)
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=10.0, help="max_requests_per_second")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--scrapers", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--vbr-interval",
        type=float,
        default=1800.0,
        help="seconds (default 30m: no VBR round while the other collectors' first rounds run)",
    )
    parser.add_argument(
        "--failover-interval",
        type=float,
        default=3600.0,
        help="seconds (default 1h: longer than a full-size round, about one VPC call per VBR; "
        "with the collector's own 10m, the regions done first would start their second pass "
        "inside the first round)",
    )
    parser.add_argument(
        "--cms-rate", type=float, default=50.0, help="cms_max_requests_per_second (traffic)"
    )
    parser.add_argument(
        "--cms-scope",
        choices=("global", "regional"),
        default="global",
        help="the simulator's CloudMonitor scope (every region's VBRs on any endpoint, or own)",
    )
    parser.add_argument(
        "--traffic-query",
        choices=("namespace", "named"),
        default="namespace",
        help="collectors.traffic.query",
    )
    parser.add_argument(
        "--quick", action="store_true", help="--lines 2000 --regions 4 --duration 5 (unless given)"
    )
    parser.add_argument(
        "--exporter-only", action="store_true", help="skip the bare and naive comparisons"
    )
    parser.add_argument(
        "--no-naive", action="store_true", help="skip the naive comparison (minutes at full size)"
    )
    parser.add_argument("--serve-bare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-naive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        _apply_quick(args, set(sys.argv[1:]))
    if not 1 <= args.regions <= len(REGION_IDS) or args.lines < 0 or args.rate <= 0:
        parser.error(f"--regions must be 1..{len(REGION_IDS)}, --lines >= 0, --rate > 0")
    return args


def exporter_config(
    args: argparse.Namespace,
    regions: list[str],
    sim_url: str,
    port: int,
    *,
    refresh_interval: str = "1h",
    on: Collection[str] = COLLECTORS,
    vbr_interval: float | None = None,
) -> dict[str, Any]:
    """The exporter's configuration with the collectors ``on`` switched on (the others off)."""
    collectors: dict[str, dict[str, Any]] = {c: {"enabled": c in on} for c in COLLECTORS}
    collectors[VBR]["interval"] = vbr_interval or args.vbr_interval
    collectors[FAILOVER]["interval"] = args.failover_interval
    collectors[TRAFFIC]["query"] = args.traffic_query
    staleness = max(3 * 3600.0, collectors[VBR]["interval"], args.failover_interval)
    return {
        "web": {"listen_address": f"{LOOPBACK}:{port}"},
        "refresh": {"interval": refresh_interval, "timeout": "30m", "max_staleness": staleness},
        "api": {
            "endpoint": sim_url,
            "page_size": args.page_size,
            "max_requests_per_second": args.rate,
            "retries": 4,
            "request_timeout": "30s",
            "max_records_per_region": 100_000,
            "cms_max_requests_per_second": args.cms_rate,
            # The region in the path tells the simulator which region's endpoint is asked.
            "cms_endpoint": sim_url + "/{region_id}",
        },
        "collectors": collectors,
        "accounts": [{"name": "bench", "credentials": ACCESS_KEY, "regions": list(regions)}],
        "labels": {"tags": ["env", "team"]},
        "log": {"level": "warning"},
    }


def start_simulator(
    args: argparse.Namespace, regions: list[str], work: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    proc = spawn(
        [
            "-m",
            "exporter",
            "simulate",
            "--listen",
            f"{LOOPBACK}:{port}",
            "--connections",
            str(args.lines),
            "--regions",
            ",".join(regions),
            "--no-lifecycle",
            "--cms-scope",
            args.cms_scope,
            "--seed",
            "1",
        ],
        work / "simulator.log",
    )
    wait_http(url + "/_sim/health", proc=proc)
    fault = json.dumps({"kind": "latency", "seconds": args.latency}).encode()
    http(url + "/_sim/faults", fault, {"Content-Type": "application/json"})
    return proc, url


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            http(url + "/readyz", timeout=10)
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"exporter not ready; see {log}") from None
            time.sleep(0.05)


# Exported totals and the simulator's own counts of the same objects (``fleet_truth``).
TRUTH = (
    ("expressconnect_region_physical_connections", "connections"),
    ("expressconnect_region_virtual_border_routers", "vbrs"),
    ("expressconnect_region_bgp_peers", "bgp_peers"),
    ("expressconnect_vbr_health_check_info", "health_checks"),
    ("expressconnect_failover_test_info", "failover_tests"),
    ("expressconnect_vbr_ha_info", "vbr_ha"),
)


def fleet_truth(sim_url: str) -> dict[str, Any]:
    """What the simulator holds: its health counts, and its health checks, failover test jobs
    and VBR HA groups (every region of the simulator is one of the bench's)."""
    truth: dict[str, Any] = json.loads(http(sim_url + "/_sim/health"))
    for key, path in (
        ("health_checks", "health-checks"),
        ("failover_tests", "failover-tests"),
        ("vbr_ha", "vbr-ha"),
    ):
        truth[key] = len(json.loads(http(f"{sim_url}/_sim/{path}")))
    return truth


def check_fleet(state: ExporterState, truth: dict[str, Any], args: argparse.Namespace) -> None:
    """Everything the simulator holds is exported, and every pass succeeded."""
    failed = sorted(key for key, (up, _, _) in state.passes.items() if up != 1)
    assert not failed, f"passes failed: {failed}"
    assert len(state.passes) == len(COLLECTORS) * args.regions, sorted(state.passes)
    for family, key in TRUTH:
        exported = region_total(state, family)
        assert exported == truth[key], (family, exported, truth[key])


def scrape_comparisons(
    args: argparse.Namespace, work: Path, procs: list[subprocess.Popen[bytes]]
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    comparisons = [("bare aiohttp", "--serve-bare", work / "metrics.om.gz")]
    if not args.no_naive:
        comparisons.append(("naive render-per-scrape", "--serve-naive", work / "metrics.txt"))
    for name, flag, body in comparisons:
        port = free_port()
        proc = spawn(
            [str(Path(__file__)), flag, str(body), "--port", str(port)], work / f"{flag[2:]}.log"
        )
        procs.append(proc)
        # The naive server parses the whole exposition before it answers: minutes at full size.
        wait_http(f"http://{LOOPBACK}:{port}/metrics", timeout=1800, proc=proc)
        results[name] = asyncio.run(
            load(f"http://{LOOPBACK}:{port}/metrics", args.scrapers, args.duration, proc.pid)
        )
        stop(proc)
    return results


@dataclass
class Exporter:
    """The exporter child, its URL and its configuration file (rewritten before a reload)."""

    proc: subprocess.Popen[bytes]
    url: str
    config_path: Path
    port: int

    def reload(self, config: dict[str, Any]) -> float:
        """Write ``config``, SIGHUP; returns the moment before the signal (Unix time)."""
        self.config_path.write_text(yaml.safe_dump(config))
        moment = time.time()
        self.proc.send_signal(signal.SIGHUP)
        return moment


def start_exporter(
    args: argparse.Namespace,
    regions: list[str],
    sim_url: str,
    work: Path,
    on: Collection[str] = (PC,),
    name: str = "exporter",
) -> tuple[Exporter, float]:
    """An exporter with the collectors ``on`` (by default lines alone: VBRs off, so what reads
    them too), its configuration and log named after ``name``; ready after s."""
    port = free_port()
    config_path = work / f"{name}.yml"
    config_path.write_text(yaml.safe_dump(exporter_config(args, regions, sim_url, port, on=on)))
    launched = time.monotonic()
    log = work / f"{name}.log"
    proc = spawn(["-m", "exporter", "--config.file", str(config_path)], log)
    url = f"http://{LOOPBACK}:{port}"
    wait_ready(url, proc, log, 1800)
    return Exporter(proc, url, config_path, port), time.monotonic() - launched


def refresh_rounds(
    args: argparse.Namespace, regions: list[str], sim_url: str, exp: Exporter
) -> tuple[list[Round], list[str], ExporterState]:
    """Rounds a (lines alone), b (VBRs alone) and c (the collectors that read VBRs, at once,
    one per rate limit), each started by the reload that switches it on; the CloudMonitor
    line; the last read."""
    first = read_state(exp.url)
    rounds = [make_round("lines alone (first round)", (PC,), ExporterState(), first, args)]
    print(rounds[-1].line(), flush=True)
    moment = exp.reload(exporter_config(args, regions, sim_url, exp.port, on=(PC, VBR)))
    vbr = wait_round(exp.url, VBR, moment, 900)
    rounds.append(make_round("VBRs + BGP peers alone (first round)", (VBR,), first, vbr, args))
    print(rounds[-1].line(), flush=True)
    moment = exp.reload(exporter_config(args, regions, sim_url, exp.port))
    # failover_tests: about one VPC call per VBR, at --rate (12 min for 7,400 VBRs at 10/s).
    vbrs = region_total(vbr, "expressconnect_region_virtual_border_routers")
    firsts = wait_rounds(exp.url, DEPENDENTS, moment, 900 + 3 * vbrs / args.rate)
    for collector in DEPENDENTS:
        rounds.append(
            make_round(f"{collector} (first round)", (collector,), vbr, firsts[collector], args)
        )
        print(rounds[-1].line(), flush=True)
    notes = [cms_line(args, vbr, firsts[TRAFFIC])]
    print(notes[0], flush=True)
    return rounds, notes, read_state(exp.url)


def combined_round(
    args: argparse.Namespace, regions: list[str], sim_url: str, exp: Exporter, last: ExporterState
) -> Round:
    """Lines and VBRs restarted at once by a reload that changes both intervals (the VBR one to
    at least 30 min, and not its own, so its next round cannot start inside this one).

    If the next VBR round may start before or meanwhile (a short ``--vbr-interval``), the
    reload waits for its end: a job restarted while its pass runs only runs again once that
    pass has ended, and the round would time the rest of that pass.
    """
    if last.window(VBR).start + args.vbr_interval < time.time() + 300:
        wait_round(exp.url, VBR, last.window(VBR).end, 2 * args.vbr_interval + 600)
    before = read_state(exp.url)
    interval = max(1800.0, 2 * args.vbr_interval)
    config = exporter_config(
        args, regions, sim_url, exp.port, refresh_interval="2h", vbr_interval=interval
    )
    moment = exp.reload(config)
    wait_round(exp.url, PC, moment, 900)
    after = wait_round(exp.url, VBR, moment, 900)
    return make_round("lines + VBRs at once", (PC, VBR), before, after, args)


def cold_round(args: argparse.Namespace, regions: list[str], sim_url: str, work: Path) -> Round:
    """Stage e: a new exporter with lines, VBRs and traffic on from the start (nothing read
    yet), against the larger of the VPC bound (lines and VBRs) and the CloudMonitor bound
    (traffic): traffic reads at once and only its join waits for the VBR inventory, so the
    round should last no longer than the VPC part."""
    on = (PC, VBR, TRAFFIC)
    exp, _ = start_exporter(args, regions, sim_url, work, on, name="cold")
    try:
        wait_rounds(exp.url, on, 0.0, 1800)
        state = read_state(exp.url)
    finally:
        stop(exp.proc)
    return make_round("lines + VBRs + traffic, cold start", on, ExporterState(), state, args)


def report_refresh(
    args: argparse.Namespace, rounds: list[Round], notes: list[str], ready_after: float
) -> None:
    print(
        f"fleet: {args.lines} lines, {args.regions} regions, {args.latency * 1000:.0f} ms "
        f"added latency, page size {args.page_size}, rate limits VPC and CEN {args.rate:g}/s, "
        f"CloudMonitor {args.cms_rate:g}/s, VBR interval {args.vbr_interval:g} s"
    )
    print(
        f"refresh (bound = requests / rate limit; first round ready {ready_after:.2f} s after "
        "launch):"
    )
    for item in rounds:
        print(item.line())
    print(
        f"  (every wall includes the scheduler's stagger: a new job's first pass starts up to "
        f"{MAX_STAGGER_SECONDS:g} s late, exporter/scheduler.py)"
    )
    for note in notes:
        print(note)


def report_scrapes(
    args: argparse.Namespace,
    results: dict[str, dict[str, float]],
    body_gz: bytes,
    memory: dict[str, float],
) -> None:
    plain = gzip.decompress(body_gz)
    series = sum(1 for line in plain.decode().splitlines() if line and line[0] != "#")
    print(
        f"/metrics: {series} series, {len(plain) / 1e6:.1f} MB plain, "
        f"{len(body_gz) / 1e6:.2f} MB gzip (OpenMetrics, as Prometheus asks)"
    )
    meanwhile = memory["requests_during_scrapes"]
    print(
        f"{args.scrapers} concurrent scrapers for {args.duration:g} s each "
        f"({meanwhile:.0f} API requests by the exporter meanwhile):"
    )
    for name, result in results.items():
        print(
            f"  {name:24s} {result['per_second']:8.1f} scrapes/s  "
            f"p50 {result['p50_ms']:8.1f} ms  p99 {result['p99_ms']:8.1f} ms  "
            f"({result['scrapes']:.0f} scrapes, {result['unfinished']:.0f} abandoned)  "
            f"peak RSS {result['hwm_mb']:6.1f} MB "
            f"(sampled during scrapes {result['rss_sampled_mb']:6.1f} MB)"
        )


def report_ratios(
    args: argparse.Namespace, results: dict[str, dict[str, float]], memory: dict[str, float]
) -> None:
    if "bare aiohttp" in results:
        exporter, bare = results["exporter"], results["bare aiohttp"]
        naive = results.get("naive render-per-scrape")
        versus_naive = (
            f"; vs naive: {exporter['per_second'] / naive['per_second']:.1f}x (target >= 20)"
            if naive
            else ""
        )
        print(
            f"exporter vs bare: {exporter['per_second'] / bare['per_second']:.2f}x "
            f"(target >= 0.7){versus_naive}"
        )
        print(
            f"peak RSS exporter / bare, both with {args.scrapers} scrapers: "
            f"{exporter['hwm_mb'] / bare['hwm_mb']:.2f}x VmHWM (target <= 1.4), "
            f"{exporter['rss_sampled_mb'] / bare['rss_sampled_mb']:.2f}x sampled during "
            "scrapes"
        )
    print(
        f"exporter peak RSS: {memory['after_refresh']:.1f} MB after the first rounds, "
        f"{results['exporter']['hwm_mb']:.1f} MB after scrapes, {memory['end']:.1f} MB at the "
        "end (after the lines + VBRs round)"
    )


def run(args: argparse.Namespace, work: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    regions = list(REGION_IDS[: args.regions])
    sim, sim_url = start_simulator(args, regions, work)
    procs.append(sim)
    truth = fleet_truth(sim_url)
    exp, ready_after = start_exporter(args, regions, sim_url, work)
    procs.append(exp.proc)
    rounds, notes, state = refresh_rounds(args, regions, sim_url, exp)
    check_fleet(state, truth, args)
    # Scrapes at once: no first round is left, and the next VBR round is --vbr-interval away.
    body_gz = http(exp.url + "/metrics", headers=SCRAPE_HEADERS)
    (work / "metrics.om.gz").write_bytes(body_gz)
    memory = {"after_refresh": proc_status_mb(exp.proc.pid, "VmHWM")}
    results = {
        "exporter": asyncio.run(
            load(exp.url + "/metrics", args.scrapers, args.duration, exp.proc.pid)
        )
    }
    print(f"exporter under load: {results['exporter']}", flush=True)
    during = read_state(exp.url)
    memory["requests_during_scrapes"] = sum(
        during.collector_requests(c) - state.collector_requests(c) for c in COLLECTORS
    )
    rounds.append(combined_round(args, regions, sim_url, exp, state))
    (work / "metrics.txt").write_bytes(http(exp.url + "/metrics"))
    memory["end"] = proc_status_mb(exp.proc.pid, "VmHWM")
    stop(exp.proc)
    rounds.append(cold_round(args, regions, sim_url, work))
    if not args.exporter_only:
        results.update(scrape_comparisons(args, work, procs))
    report_refresh(args, rounds, notes, ready_after)
    report_scrapes(args, results, body_gz, memory)
    report_ratios(args, results, memory)
    print(f"logs and bodies in {work}")


def main() -> int:
    args = parse_args()
    # Stopped by a signal (even from a shell that ignores SIGINT): the children are stopped too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.serve_bare:
        serve_bare(args.serve_bare, args.port)
        return 0
    if args.serve_naive:
        serve_naive(args.serve_naive, args.port)
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-exporter-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        run(args, work, procs)
    finally:
        for proc in procs:
            stop(proc)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    raise SystemExit(main())
