"""Hostile-input benchmark (run by hand, numbers go into the report; never a timed test assertion).

    python bench/bench_hostile.py [--scenario cap,flood,plain] [--answer-mb 200]
                                  [--readers 100] [--flood-seconds 40] [--write-timeout 5]
                                  [--lines 10000] [--regions 20] [--plain-scrapers 20]

Each scenario runs the exporter daemon as a child process on loopback and reports its memory
(VmRSS sampled every 50 ms, and VmHWM, the peak of its whole life) and how long ``/healthz``
took meanwhile (polled every 20 ms from a thread of this process).

1. ``cap``: an API that answers every request with one ``--answer-mb`` MB page (streamed, no
   Content-Length, 200-byte records far beyond PageSize). Run twice: with the default
   ``api.max_response_bytes`` (16 MiB) and with the cap out of reach (1 TiB), which is how the
   exporter read answers before the cap existed. Reported: the pass's error, how many bytes the
   API managed to send, peak RSS, slowest ``/healthz``.
2. ``flood``: the simulator's ``--lines`` lines over ``--regions`` regions, the exporter
   re-rendering every 2 s, and ``--readers`` clients that send ``GET /metrics`` (plain, or gzip
   with ``--flood-gzip``; a 2 MB gzip exposition fits in the kernel's socket buffers, so only a
   larger fleet pins anything with gzip) with a 4 KiB receive buffer and never read, arriving
   one by one over ``--flood-seconds`` (each pins the exposition of its moment). Run with
   ``web.write_timeout`` ``--write-timeout`` and with it out of reach (1 day). Reported: RSS
   before, peak during, at the end; how many responses were cut off, complete or still held.
3. ``plain``: the same fleet, ``--plain-scrapers`` clients scraping without gzip in a loop,
   while ``/healthz`` and a gzip scraper are timed.
"""

from __future__ import annotations

import argparse
import math
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from bench.benchlib import (
    LOOPBACK,
    SCRAPE_HEADERS,
    free_port,
    http,
    proc_status_mb,
    spawn,
    stop,
    wait_http,
)
from exporter.region_ids import REGION_IDS

ACCESS_KEY = {
    "type": "access_key",
    "access_key_id": "sim-access-key-id",
    "access_key_secret": "sim-access-key-secret",
}
PC = "physical_connections"
OFF = {"enabled": False}
UNREACHABLE_CAP = 1 << 40
UNREACHABLE_DEADLINE = "1d"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="cap,flood,plain")
    parser.add_argument("--answer-mb", type=float, default=200.0)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--flood-seconds", type=float, default=40.0)
    parser.add_argument("--write-timeout", type=float, default=5.0)
    parser.add_argument("--flood-gzip", action="store_true", help="readers ask for gzip")
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--plain-scrapers", type=int, default=20)
    parser.add_argument("--plain-seconds", type=float, default=15.0)
    return parser.parse_args()


# ---------------------------------------------------------------- watching the exporter


@dataclass
class Watch:
    """RSS samples and /healthz latencies of one exporter process, taken from threads."""

    pid: int
    url: str
    rss: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample_rss(self) -> None:
        while not self._stop.wait(0.05):
            self.rss.append(proc_status_mb(self.pid, "VmRSS"))

    def _poll_health(self) -> None:
        while not self._stop.wait(0.02):
            started = time.monotonic()
            try:
                http(self.url + "/healthz", timeout=30)
            except OSError:
                self.failures += 1
            self.health.append(time.monotonic() - started)

    @contextmanager
    def running(self) -> Iterator[Watch]:
        threads = [
            threading.Thread(target=t, daemon=True) for t in (self._sample_rss, self._poll_health)
        ]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join()

    def summary(self) -> dict[str, float]:
        rss = [r for r in self.rss if not math.isnan(r)]
        return {
            "rss_peak_mb": max(rss, default=float("nan")),
            "vmhwm_mb": proc_status_mb(self.pid, "VmHWM"),
            "healthz_max_s": max(self.health, default=float("nan")),
            "healthz_p50_s": statistics.median(self.health) if self.health else float("nan"),
            "healthz_failures": self.failures,
        }


def start_exporter(config: dict[str, Any], work: Path, name: str) -> tuple[Any, str]:
    port = free_port()
    config["web"] = {**config.get("web", {}), "listen_address": f"{LOOPBACK}:{port}"}
    path = work / f"{name}.yml"
    path.write_text(yaml.safe_dump(config))
    proc = spawn(["-m", "exporter", "--config.file", str(path)], work / f"{name}.log")
    url = f"http://{LOOPBACK}:{port}"
    wait_http(url + "/healthz", proc=proc)
    return proc, url


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def ready(url: str) -> bool:
    try:
        http(url + "/readyz", timeout=10)
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- 1. the byte cap


class HugeAnswers(BaseHTTPRequestHandler):
    """Every POST: one listing page of ``size`` bytes, streamed in 64 KiB chunks."""

    size = 0
    sent: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            for piece in page_pieces(self.size):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the exporter stopped reading: what the cap is for
        HugeAnswers.sent.append(sent)

    def log_message(self, *args: Any) -> None:
        pass


def page_pieces(size: int) -> Iterator[bytes]:
    """A DescribePhysicalConnections page of about ``size`` bytes, in 64 KiB pieces."""
    head = b'{"RequestId":"hostile","TotalCount":1,"PageNumber":1,"PageSize":50,'
    yield head + b'"PhysicalConnectionSet":{"PhysicalConnectionType":['
    record = b'{"PhysicalConnectionId":"pc-%010d","Status":"Enabled","Name":"%s"},'
    batch, total, number = [], 0, 0
    while total < size:
        piece = record % (number, b"x" * 120)
        batch.append(piece)
        total += len(piece)
        number += 1
        if len(batch) == 300:
            yield b"".join(batch)
            batch = []
    batch.append(b'{"PhysicalConnectionId":"pc-last","Status":"Enabled"}]}}')
    yield b"".join(batch)


def cap_config(api_url: str, cap: int) -> dict[str, Any]:
    return {
        "refresh": {"interval": "1h", "timeout": "10m"},
        "api": {
            "endpoint": api_url,
            "retries": 0,
            "request_timeout": "5m",
            "max_response_bytes": cap,
        },
        "collectors": {
            "virtual_border_routers": OFF,
            "traffic": OFF,
            "health_checks": OFF,
            "failover_tests": OFF,
        },
        "accounts": [{"name": "bench", "credentials": ACCESS_KEY, "regions": ["cn-hangzhou"]}],
        "log": {"level": "warning"},
    }


def run_cap(args: argparse.Namespace, work: Path) -> None:
    HugeAnswers.size = int(args.answer_mb * 1024 * 1024)
    server = ThreadingHTTPServer((LOOPBACK, 0), HugeAnswers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api_url = f"http://{LOOPBACK}:{server.server_address[1]}"
    print(f"\n== cap: one {args.answer_mb:g} MB answer per request")
    try:
        for label, cap in (("cap 16 MiB (default)", 16 * 1024 * 1024), ("no cap", UNREACHABLE_CAP)):
            HugeAnswers.sent.clear()
            proc, url = start_exporter(cap_config(api_url, cap), work, f"cap-{cap}")
            try:
                watch = Watch(proc.pid, url)
                with watch.running():
                    wait_until(lambda url=url: ready(url), 600, "the pass")
                    time.sleep(1.0)  # a few samples after the pass too
                log = (work / f"cap-{cap}.log").read_text(errors="replace")
                failed = [line for line in log.splitlines() if "pass failed" in line]
                error = failed[0].partition(" error=")[2] if failed else "(no failed pass)"
                stats = watch.summary()
            finally:
                stop(proc)
            sent = sum(HugeAnswers.sent) / 2**20
            print(f"{label:22} API sent {sent:7.1f} MB | {fmt(stats)}")
            print(f"{'':22} error: {error.strip()}")
    finally:
        server.shutdown()


def fmt(stats: dict[str, float]) -> str:
    return (
        f"peak RSS {stats['rss_peak_mb']:.0f} MB (VmHWM {stats['vmhwm_mb']:.0f}) | /healthz "
        f"max {stats['healthz_max_s'] * 1000:.0f} ms, median {stats['healthz_p50_s'] * 1000:.1f}"
        f" ms, failed {stats['healthz_failures']:.0f}"
    )


# ---------------------------------------------------------------- 2. slow readers, 3. plain


def start_simulator(args: argparse.Namespace, work: Path) -> tuple[Any, str]:
    port = free_port()
    regions = ",".join(REGION_IDS[: args.regions])
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
            regions,
            "--no-lifecycle",
            "--seed",
            "1",
        ],
        work / "simulator.log",
    )
    url = f"http://{LOOPBACK}:{port}"
    wait_http(url + "/_sim/health", proc=proc)
    return proc, url


def fleet_config(args: argparse.Namespace, sim_url: str, write_timeout: Any) -> dict[str, Any]:
    return {
        "web": {} if write_timeout is None else {"write_timeout": write_timeout},
        "refresh": {"interval": "2s", "timeout": "2s", "max_staleness": "1h"},
        "api": {"endpoint": sim_url, "max_requests_per_second": 1000, "request_timeout": "2s"},
        "collectors": {
            "virtual_border_routers": OFF,
            "traffic": OFF,
            "health_checks": OFF,
            "failover_tests": OFF,
        },
        "accounts": [
            {
                "name": "bench",
                "credentials": ACCESS_KEY,
                "regions": list(REGION_IDS[: args.regions]),
            }
        ],
        "labels": {"tags": ["env", "team"]},
        "log": {"level": "warning"},
    }


def stalled_reader(port: int, gzipped: bool) -> socket.socket:
    """A client that asks for /metrics with a 4 KiB receive buffer and never reads."""
    encoding = "gzip" if gzipped else "identity"
    request = f"GET /metrics HTTP/1.1\r\nHost: {LOOPBACK}\r\nAccept-Encoding: {encoding}\r\n\r\n"
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((LOOPBACK, port))
    sock.sendall(request.encode())
    return sock


def outcome(sock: socket.socket) -> str:
    """Drain ``sock`` (the server writes on as it is read): "cut off" (closed before the whole
    body), "held to the end" (the server still held the response and finished it now), or
    "stalled" (neither within 0.5 s)."""
    sock.settimeout(0.5)
    data = bytearray()
    closed = False
    try:
        while chunk := sock.recv(1 << 20):
            data += chunk
        closed = True
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        pass
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), -1)  # fmt: skip
    if len(body) >= length >= 0:
        return "held to the end"
    return "cut off" if closed else "stalled"


def run_flood(args: argparse.Namespace, work: Path, sim_url: str) -> None:
    kind = "gzip" if args.flood_gzip else "plain"
    print(
        f"\n== flood: {args.readers} {kind} readers that never read, arriving over "
        f"{args.flood_seconds:g} s while passes re-render every 2 s"
    )
    for label, deadline in (
        (f"write_timeout {args.write_timeout:g}s", args.write_timeout),
        ("write_timeout 1d", UNREACHABLE_DEADLINE),
    ):
        proc, url = start_exporter(fleet_config(args, sim_url, deadline), work, "flood")
        try:
            wait_until(lambda url=url: ready(url), 600, "the first passes")
            time.sleep(3)  # a few re-renders: the baseline includes their churn
            before = proc_status_mb(proc.pid, "VmRSS")
            watch = Watch(proc.pid, url)
            readers = []
            with watch.running():
                for _ in range(args.readers):  # each pins the exposition of its moment
                    readers.append(stalled_reader(int(url.rsplit(":", 1)[1]), args.flood_gzip))
                    time.sleep(args.flood_seconds / args.readers)
                time.sleep(1.0)
                after = proc_status_mb(proc.pid, "VmRSS")
            outcomes = Counter(outcome(sock) for sock in readers)
            for sock in readers:
                sock.close()
            stats = watch.summary()
        finally:
            stop(proc)
        shown = ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items()))
        print(f"{label:22} RSS before {before:.0f} MB, at the end {after:.0f} MB | {fmt(stats)}"
              f" | readers: {shown}")  # fmt: skip


def plain_scraper(url: str, stop_at: float, seconds: list[float]) -> None:
    while time.monotonic() < stop_at:
        started = time.monotonic()
        http(url + "/metrics", timeout=120)
        seconds.append(time.monotonic() - started)


def run_plain(args: argparse.Namespace, work: Path, sim_url: str) -> None:
    print(f"\n== plain: {args.plain_scrapers} plain scrapers for {args.plain_seconds:g} s")
    proc, url = start_exporter(fleet_config(args, sim_url, None), work, "plain")
    try:
        wait_until(lambda: ready(url), 600, "the first passes")
        size = len(http(url + "/metrics", timeout=120))
        plain: list[float] = []
        gzipped: list[float] = []
        stop_at = time.monotonic() + args.plain_seconds
        threads = [
            threading.Thread(target=plain_scraper, args=(url, stop_at, plain))
            for _ in range(args.plain_scrapers)
        ]
        watch = Watch(proc.pid, url)
        with watch.running():
            for thread in threads:
                thread.start()
            while time.monotonic() < stop_at:
                started = time.monotonic()
                http(url + "/metrics", headers=SCRAPE_HEADERS, timeout=120)
                gzipped.append(time.monotonic() - started)
            for thread in threads:
                thread.join()
        stats = watch.summary()
    finally:
        stop(proc)
    print(
        f"plain body {size / 2**20:.1f} MB: {len(plain)} plain scrapes (median "
        f"{statistics.median(plain):.2f} s) | gzip scrape max {max(gzipped) * 1000:.0f} ms, "
        f"median {statistics.median(gzipped) * 1000:.0f} ms | {fmt(stats)}"
    )


def main() -> int:
    args = parse_args()
    scenarios = set(args.scenario.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    print(f"logs and configurations in {work}")
    if scenarios:
        if "cap" in scenarios:
            run_cap(args, work)
        if scenarios & {"flood", "plain"}:
            sim, sim_url = start_simulator(args, work)
            try:
                if "flood" in scenarios:
                    run_flood(args, work, sim_url)
                if "plain" in scenarios:
                    run_plain(args, work, sim_url)
            finally:
                stop(sim)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
