"""Exporter benchmark (run by hand, numbers go into the report; never a timed test assertion).

    python bench/bench_exporter.py [--connections 10000] [--regions 20] [--latency 0.05]
                                   [--rate 10] [--scrapers 50] [--duration 10]

1. The simulator (its own process) serves N connections over R regions with ``latency`` added
   to every API request. The exporter daemon (its own process) refreshes everything once; the
   wall time of that refresh (from the exporter's own per-region metrics: first pass start to
   last pass end) is compared with the ideal ``max(pages / rate limit, 2 × latency)``.
2. ``scrapers`` concurrent clients scrape ``/metrics`` the way Prometheus does (OpenMetrics
   accepted, gzip) for ``duration`` seconds, against three servers, each its own process:
   the exporter; a bare aiohttp handler sending the same bytes; a naive exporter that renders a
   prometheus_client registry per scrape (the usual custom-collector design).
3. Peak RSS (VmHWM) of the exporter process after refresh and scrapes.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from exporter.regions import REGION_IDS

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
SCRAPE_HEADERS = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
REGIONS = list(REGION_IDS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return bytes(response.read())


def wait_http(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            http(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


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
    registry.register(Snapshot())  # type: ignore[arg-type]

    async def handler(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = gzip.compress(encoder(registry))
        return web.Response(
            body=body, headers={"Content-Type": content_type, "Content-Encoding": "gzip"}
        )

    app = web.Application()
    app.router.add_get("/metrics", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ---------------------------------------------------------------- load


async def load(url: str, scrapers: int, duration: float) -> dict[str, float]:
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

    connector = aiohttp.TCPConnector(limit=scrapers)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=False, timeout=timeout
    ) as session:
        started = time.monotonic()
        await asyncio.gather(*(scraper(session) for _ in range(scrapers)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "scrapes": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "bytes": statistics.mean(sizes),
    }


def metric_values(text: str, name: str) -> list[float]:
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            out.append(float(line.rsplit(" ", 1)[1]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=10.0, help="max_requests_per_second")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--scrapers", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--exporter-only", action="store_true", help="skip the bare and naive comparisons"
    )
    parser.add_argument("--serve-bare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-naive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.port)
        return 0
    if args.serve_naive:
        serve_naive(args.serve_naive, args.port)
        return 0

    regions = REGIONS[: args.regions]
    work = Path(tempfile.mkdtemp(prefix="bench-exporter-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sim_port = free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        procs.append(
            spawn(
                [
                    "-m", "exporter", "simulate", "--listen", f"127.0.0.1:{sim_port}",
                    "--connections", str(args.connections), "--regions", ",".join(regions),
                    "--no-lifecycle", "--seed", "1",
                ],
                work / "simulator.log",
            )
        )  # fmt: skip
        wait_http(sim_url + "/_sim/health")
        fault = json.dumps({"kind": "latency", "seconds": args.latency}).encode()
        http(sim_url + "/_sim/faults", fault, {"Content-Type": "application/json"})

        exporter_port = free_port()
        config = {
            "web": {"listen_address": f"127.0.0.1:{exporter_port}"},
            "refresh": {"interval": "1h", "timeout": "30m", "max_staleness": "2h"},
            "api": {
                "endpoint": sim_url,
                "page_size": args.page_size,
                "max_requests_per_second": args.rate,
                "retries": 4,
                "request_timeout": "30s",
            },
            "accounts": [
                {
                    "name": "bench",
                    "credentials": {
                        "type": "access_key",
                        "access_key_id": "sim-access-key-id",
                        "access_key_secret": "sim-access-key-secret",
                    },
                    "regions": list(regions),
                }
            ],
            "labels": {"tags": ["env", "team"]},
            "log": {"level": "warning"},
        }
        config_path = work / "exporter.yml"
        config_path.write_text(yaml.safe_dump(config))
        exporter_url = f"http://127.0.0.1:{exporter_port}"
        launched = time.monotonic()
        exporter = spawn(["-m", "exporter", "--config", str(config_path)], work / "exporter.log")
        procs.append(exporter)
        deadline = time.monotonic() + 600
        while True:
            try:
                http(exporter_url + "/readyz")
                break
            except OSError:
                if time.monotonic() > deadline or exporter.poll() is not None:
                    raise SystemExit(f"exporter not ready; see {work / 'exporter.log'}") from None
                time.sleep(0.05)
        ready_after = time.monotonic() - launched
        text = http(exporter_url + "/metrics").decode()
        ends = metric_values(text, "expressconnect_region_last_success_timestamp_seconds")
        durations = metric_values(text, "expressconnect_region_refresh_duration_seconds")
        ups = metric_values(text, "expressconnect_region_up")
        counts = metric_values(text, "expressconnect_region_physical_connections")
        assert len(ends) == len(regions) and all(u == 1 for u in ups), "a region failed"
        assert sum(counts) == args.connections, (sum(counts), args.connections)
        wall = max(ends) - min(e - d for e, d in zip(ends, durations, strict=True))
        per_region = [math.ceil(c / args.page_size) for c in counts]
        pages = sum(per_region)
        ideal = max(pages / args.rate, 2 * args.latency)

        body_gz = http(exporter_url + "/metrics", headers=SCRAPE_HEADERS)
        plain = gzip.decompress(body_gz)
        (work / "metrics.om.gz").write_bytes(body_gz)
        (work / "metrics.txt").write_bytes(http(exporter_url + "/metrics"))
        rss_after_refresh = peak_rss_mb(exporter.pid)

        results = {"exporter": asyncio.run(load(exporter_url + "/metrics", args.scrapers,
                                                 args.duration))}  # fmt: skip
        rss_peak = peak_rss_mb(exporter.pid)
        stop(exporter)
        comparisons = (
            ("bare aiohttp", "--serve-bare", work / "metrics.om.gz"),
            ("naive render-per-scrape", "--serve-naive", work / "metrics.txt"),
        )
        for name, flag, body in () if args.exporter_only else comparisons:
            port = free_port()
            proc = spawn(
                [str(Path(__file__)), flag, str(body), "--port", str(port)],
                work / f"{flag[2:]}.log",
            )
            procs.append(proc)
            wait_http(f"http://127.0.0.1:{port}/metrics")
            results[name] = asyncio.run(
                load(f"http://127.0.0.1:{port}/metrics", args.scrapers, args.duration)
            )
            stop(proc)

        series = sum(1 for line in plain.decode().splitlines() if line and line[0] != "#")
        print(f"fleet: {args.connections} connections, {len(regions)} regions, "
              f"{args.latency * 1000:.0f} ms added latency, page size {args.page_size}, "
              f"rate limit {args.rate:g}/s")  # fmt: skip
        print(f"refresh: {pages} pages, wall {wall:.2f} s, ideal {ideal:.2f} s, "
              f"ratio {wall / ideal:.3f} (target <= 1.15); ready {ready_after:.2f} s "
              f"after launch")  # fmt: skip
        print(f"/metrics: {series} series, {len(plain) / 1e6:.1f} MB plain, "
              f"{len(body_gz) / 1e6:.2f} MB gzip (OpenMetrics, as Prometheus asks)")  # fmt: skip
        print(f"{args.scrapers} concurrent scrapers for {args.duration:g} s each:")
        for name, result in results.items():
            print(f"  {name:24s} {result['per_second']:8.1f} scrapes/s  "
                  f"p50 {result['p50_ms']:8.1f} ms  p99 {result['p99_ms']:8.1f} ms  "
                  f"({result['scrapes']:.0f} scrapes)")  # fmt: skip
        exporter_rate = results["exporter"]["per_second"]
        if not args.exporter_only:
            print(f"exporter vs bare: {exporter_rate / results['bare aiohttp']['per_second']:.2f}x "
                  f"(target >= 0.7); vs naive: "
                  f"{exporter_rate / results['naive render-per-scrape']['per_second']:.1f}x "
                  f"(target >= 20)")  # fmt: skip
        print(f"exporter peak RSS: {rss_after_refresh:.1f} MB after refresh, {rss_peak:.1f} MB "
              f"after scrapes (target <= 120)")  # fmt: skip
        print(f"logs and bodies in {work}")
    finally:
        for proc in procs:
            stop(proc)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    raise SystemExit(main())
