"""Exporter benchmark (run by hand, numbers go into the report; never a timed test assertion).

    python bench/bench_exporter.py [--lines 10000] [--regions 20] [--latency 0.05] [--rate 10]
                                   [--scrapers 50] [--duration 10] [--vbr-interval 60]
    python bench/bench_exporter.py --quick        # --lines 2000 --regions 4 --duration 5

Every collector is on (physical_connections, virtual_border_routers and traffic), each in its
own job per (account, region, collector); the first two share the account's API rate limit,
traffic has CloudMonitor's own (``--cms-rate``).

1. Refresh. The simulator (its own process) serves N lines over R regions, with their VBRs and
   BGP peers, ``latency`` added to every API request; the exporter daemon (its own process) is
   timed from its own per-(region, collector) metrics (first pass start to last pass end)
   against the rate-limit bound ``requests / rate`` (at least the round trips one region needs):
   a. the first round, both collectors at once, against their summed requests;
   b. the next VBR round (``--vbr-interval`` later), alone: VBR and BGP peer listings' pages;
      the traffic round it enables is waited for too (every series is in ``/metrics`` before
      the scrapes); its CloudMonitor calls are set against 8 × (regions with VBRs +
      ceil(VBRs / 1000)), and that whole round against the larger of the VPC and CloudMonitor
      bounds (``--cms-scope``, ``--traffic-query``);
   c. a physical-connection round alone (after the scrapes: a SIGHUP reload that changes
      refresh.interval, restarting those jobs, and switches the VBR jobs off).
2. Scrapes. ``scrapers`` concurrent clients scrape ``/metrics`` the way Prometheus does
   (OpenMetrics accepted, gzip) for ``duration`` seconds, against three servers, each its own
   process: the exporter (right after the VBR round, so no pass competes); a bare aiohttp
   handler sending the same bytes; a naive exporter rendering a prometheus_client registry
   per scrape.
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
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from bench.benchlib import (
    LOOPBACK,
    ROOT,
    SCRAPE_HEADERS,
    Window,
    free_port,
    http,
    pages,
    pass_window,
    proc_status_mb,
    samples,
    spawn,
    stop,
    wait_http,
)
from exporter.region_ids import REGION_IDS

PC, VBR, TRAFFIC = "physical_connections", "virtual_border_routers", "traffic"
ACTIONS = {
    PC: ("DescribePhysicalConnections",),
    VBR: ("DescribeVirtualBorderRouters", "DescribeBgpPeers"),
    TRAFFIC: ("DescribeMetricLast",),
}
# Round trips one region's pass needs at least: page 1, then the rest in parallel, per listing.
CHAIN = {PC: 2, VBR: 4, TRAFFIC: 1}
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


# ---------------------------------------------------------------- what the exporter says


@dataclass
class ExporterState:
    """One read of the exporter's own metrics."""

    passes: dict[tuple[str, str], tuple[float, float, float]] = field(default_factory=dict)
    requests: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))

    def window(self, collector: str) -> Window:
        return pass_window((e, d) for (_, c), (_, e, d) in self.passes.items() if c == collector)

    def collector_requests(self, collector: str) -> float:
        return sum(self.requests[action] for action in ACTIONS[collector])

    def started_after(self, collector: str, moment: float) -> bool:
        keys = [v for (_, c), v in self.passes.items() if c == collector]
        return bool(keys) and all(up == 1 and e - d >= moment for up, e, d in keys)


COUNT_FAMILIES = (
    "expressconnect_region_physical_connections",
    "expressconnect_region_virtual_border_routers",
    "expressconnect_region_bgp_peers",
)


def read_state(url: str) -> ExporterState:
    gz = {"Accept-Encoding": "gzip"}
    text = gzip.decompress(http(url + "/metrics", headers=gz)).decode()
    state = ExporterState()
    health: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    names = (
        "expressconnect_region_up",
        "expressconnect_region_last_success_timestamp_seconds",
        "expressconnect_region_refresh_duration_seconds",
    )
    for s in samples(text, names):
        health[(s.labels["region_id"], s.labels["collector"])][s.name] = s.value
    for key, values in health.items():
        state.passes[key] = tuple(values.get(n, float("nan")) for n in names)  # type: ignore[assignment]
    for s in samples(text, ("expressconnect_api_requests_total",)):
        state.requests[s.labels["action"]] += s.value
    for s in samples(text, COUNT_FAMILIES):
        state.counts[s.name][s.labels["region_id"]] = s.value
    return state


def wait_round(url: str, collector: str, after: float, timeout: float) -> ExporterState:
    """Poll until every region's ``collector`` pass started at/after ``after`` and succeeded."""
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(url)
        if state.started_after(collector, after):
            return state
        if time.monotonic() > deadline:
            raise SystemExit(f"no complete {collector} round after {after} within {timeout:g} s")
        time.sleep(1.0)  # the times come from the exporter: polling only has to notice the end


def expected_pages(state: ExporterState, collector: str, page_size: int) -> int:
    families: tuple[str, ...]
    if collector == PC:
        families = ("expressconnect_region_physical_connections",)
    else:
        families = (
            "expressconnect_region_virtual_border_routers",
            "expressconnect_region_bgp_peers",
        )
    return sum(pages(int(n), page_size) for f in families for n in state.counts[f].values())


@dataclass(frozen=True)
class Round:
    label: str
    requests: float
    pages: int
    wall: float
    bound: float
    other_requests: float = 0.0  # requests of the other collector inside this round

    def line(self) -> str:
        extra = ""
        if self.other_requests:
            extra = f", {self.other_requests:.0f} other requests meanwhile"
        return (
            f"  {self.label:34s} {self.requests:5.0f} requests ({self.pages} pages), wall "
            f"{self.wall:7.2f} s, bound {self.bound:7.2f} s, ratio "
            f"{self.wall / self.bound:.3f} (target <= 1.15){extra}"
        )


def make_round(
    label: str,
    collectors: tuple[str, ...],
    before: ExporterState,
    after: ExporterState,
    args: argparse.Namespace,
) -> Round:
    requests = sum(after.collector_requests(c) - before.collector_requests(c) for c in collectors)
    others = tuple(c for c in (PC, VBR) if c not in collectors)
    other = sum(after.collector_requests(c) - before.collector_requests(c) for c in others)
    windows = [after.window(c) for c in collectors]
    wall = max(w.end for w in windows) - min(w.start for w in windows)
    chain = max(CHAIN[c] for c in collectors)
    return Round(
        label,
        requests,
        sum(expected_pages(after, c, args.page_size) for c in collectors),
        wall,
        max(requests / args.rate, chain * args.latency),
        other,
    )


# ---------------------------------------------------------------- the run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", "--connections", dest="lines", type=int, default=10_000)
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=10.0, help="max_requests_per_second")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--scrapers", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--vbr-interval", type=float, default=60.0, help="seconds (default 1m)")
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
        given = set(sys.argv[1:])
        for flag, attr, value in (
            ("--lines", "lines", 2000),
            ("--regions", "regions", 4),
            ("--duration", "duration", 5.0),
        ):
            if flag not in given and not (flag == "--lines" and "--connections" in given):
                setattr(args, attr, value)
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
    vbr: bool = True,
) -> dict[str, Any]:
    return {
        "web": {"listen_address": f"{LOOPBACK}:{port}"},
        "refresh": {"interval": refresh_interval, "timeout": "30m", "max_staleness": "3h"},
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
        "collectors": {
            PC: {"enabled": True},
            VBR: {"enabled": vbr, "interval": args.vbr_interval},
            TRAFFIC: {"enabled": vbr, "query": args.traffic_query},
        },
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


def check_fleet(state: ExporterState, truth: dict[str, Any], args: argparse.Namespace) -> None:
    """Everything the simulator holds is exported, and every pass succeeded."""
    failed = sorted(key for key, (up, _, _) in state.passes.items() if up != 1)
    assert not failed, f"passes failed: {failed}"
    assert len(state.passes) == 3 * args.regions, sorted(state.passes)
    for family, key in zip(COUNT_FAMILIES, ("connections", "vbrs", "bgp_peers"), strict=True):
        exported = sum(state.counts[family].values())
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
    args: argparse.Namespace, regions: list[str], sim_url: str, work: Path
) -> tuple[Exporter, float]:
    """The exporter with the VBR collector off (a clean first round of lines); ready after s."""
    port = free_port()
    config_path = work / "exporter.yml"
    config_path.write_text(yaml.safe_dump(exporter_config(args, regions, sim_url, port, vbr=False)))
    launched = time.monotonic()
    proc = spawn(["-m", "exporter", "--config.file", str(config_path)], work / "exporter.log")
    url = f"http://{LOOPBACK}:{port}"
    wait_ready(url, proc, work / "exporter.log", 1800)
    return Exporter(proc, url, config_path, port), time.monotonic() - launched


def refresh_rounds(
    args: argparse.Namespace, regions: list[str], sim_url: str, exp: Exporter
) -> tuple[list[Round], ExporterState]:
    """Rounds a (lines alone) and b (VBRs alone, started by the reload that enables them)."""
    first = read_state(exp.url)
    rounds = [make_round("lines alone (first round)", (PC,), ExporterState(), first, args)]
    moment = exp.reload(exporter_config(args, regions, sim_url, exp.port))
    vbr = wait_round(exp.url, VBR, moment, 900)
    rounds.append(make_round("VBRs + BGP peers alone", (VBR,), first, vbr, args))
    done = wait_round(exp.url, TRAFFIC, moment, 1800)
    for line in cms_lines(args, first, done):
        print(line, flush=True)
    return rounds, done


# ---------------------------------------------------------------- CloudMonitor (traffic)


def cms_bound(state: ExporterState) -> int:
    """CloudMonitor calls one traffic round may need: 8 × (regions with VBRs + ceil(VBRs /
    1000)), namespace-wide reads in either scope."""
    vbrs = state.counts["expressconnect_region_virtual_border_routers"]
    with_vbrs = sum(1 for n in vbrs.values() if n > 0)
    return 8 * (with_vbrs + -(-int(sum(vbrs.values())) // 1000))


def cms_lines(args: argparse.Namespace, before: ExporterState, after: ExporterState) -> list[str]:
    """The first traffic round's CloudMonitor calls against their bound, and the round that
    enabled VBRs and traffic together (every region's VBR and traffic pass) against the larger
    of the VPC bound (VBR requests / rate) and the CloudMonitor bound (calls / cms rate)."""
    calls = after.collector_requests(TRAFFIC) - before.collector_requests(TRAFFIC)
    bound = cms_bound(after)
    vpc = after.collector_requests(VBR) - before.collector_requests(VBR)
    windows = [after.window(VBR), after.window(TRAFFIC)]
    wall = max(w.end for w in windows) - min(w.start for w in windows)
    larger = max(vpc / args.rate, calls / args.cms_rate, CHAIN[VBR] * args.latency)
    return [
        f"  CloudMonitor calls, first traffic round ({args.traffic_query}, {args.cms_scope} "
        f"scope): {calls:.0f}, bound {bound} ({calls / bound if bound else float('nan'):.2f}x, "
        "target <= 1)",
        f"  VBRs + BGP + traffic (first round)  wall {wall:7.2f} s, larger bound {larger:7.2f} s "
        f"(VPC {vpc / args.rate:.2f} s, CloudMonitor {calls / args.cms_rate:.2f} s), ratio "
        f"{wall / larger:.3f} (target <= 1.15)",
    ]


def combined_round(
    args: argparse.Namespace, regions: list[str], sim_url: str, exp: Exporter, last: ExporterState
) -> Round:
    """Both collectors restarted at once by a reload that changes both intervals (the VBR one
    to 30 min, so its next round cannot start inside this one).

    The reload waits for the end of the next VBR round: a job replaced while its pass runs
    skips its first run (APScheduler counts the running instance against the new job).
    """
    wait_round(exp.url, VBR, last.window(VBR).end, 2 * args.vbr_interval + 600)
    before = read_state(exp.url)
    config = exporter_config(args, regions, sim_url, exp.port, refresh_interval="2h")
    config["collectors"][VBR]["interval"] = "30m"
    moment = exp.reload(config)
    wait_round(exp.url, PC, moment, 900)
    after = wait_round(exp.url, VBR, moment, 900)
    return make_round("both collectors at once", (PC, VBR), before, after, args)


def report(
    args: argparse.Namespace,
    rounds: list[Round],
    ready_after: float,
    results: dict[str, dict[str, float]],
    body_gz: bytes,
    memory: dict[str, float],
) -> None:
    plain = gzip.decompress(body_gz)
    series = sum(1 for line in plain.decode().splitlines() if line and line[0] != "#")
    print(
        f"fleet: {args.lines} lines, {args.regions} regions, {args.latency * 1000:.0f} ms "
        f"added latency, page size {args.page_size}, rate limit {args.rate:g}/s, VBR interval "
        f"{args.vbr_interval:g} s"
    )
    print(
        f"refresh (bound = requests / rate limit; first round ready {ready_after:.2f} s after "
        "launch):"
    )
    for item in rounds:
        print(item.line())
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
        f"exporter peak RSS: {memory['after_refresh']:.1f} MB after the VBR round, "
        f"{results['exporter']['hwm_mb']:.1f} MB after scrapes, {memory['end']:.1f} MB at the "
        "end (after the both-collectors round)"
    )


def run(args: argparse.Namespace, work: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    regions = list(REGION_IDS[: args.regions])
    sim, sim_url = start_simulator(args, regions, work)
    procs.append(sim)
    truth = json.loads(http(sim_url + "/_sim/health"))
    exp, ready_after = start_exporter(args, regions, sim_url, work)
    procs.append(exp.proc)
    rounds, state = refresh_rounds(args, regions, sim_url, exp)
    check_fleet(state, truth, args)
    # Scrapes at once: the next VBR round starts --vbr-interval after the last one started.
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
        during.collector_requests(c) - state.collector_requests(c) for c in (PC, VBR, TRAFFIC)
    )
    rounds.append(combined_round(args, regions, sim_url, exp, state))
    (work / "metrics.txt").write_bytes(http(exp.url + "/metrics"))
    memory["end"] = proc_status_mb(exp.proc.pid, "VmHWM")
    stop(exp.proc)
    if not args.exporter_only:
        results.update(scrape_comparisons(args, work, procs))
    report(args, rounds, ready_after, results, body_gz, memory)
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
