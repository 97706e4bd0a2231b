"""How many 50-record DescribePhysicalConnections pages per second one simulator serves.

Starts `python -m exporter simulate` as its own process (10,000 connections over 20 regions,
lifecycle off) and drives it over loopback with keep-alive aiohttp clients that sign every
request (V1 or V3) with exporter.signing, as the exporter does. Run by hand:

    python bench/bench_simulator.py [--seconds 10] [--concurrency 16] [--signature v1|v3|both]

Client and server share this machine, so the number is a floor for the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a source checkout

from exporter import signing  # noqa: E402
from exporter.region_ids import REGION_IDS  # noqa: E402

AK, SECRET = "sim-access-key-id", "sim-access-key-secret"
REGIONS = REGION_IDS[:20]
CONNECTIONS = 10_000
PAGES_PER_REGION = CONNECTIONS // len(REGIONS) // 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _request(host: str, version: str, region: str, page: int) -> tuple[str, str, dict[str, str]]:
    params = {"RegionId": region, "PageSize": "50", "PageNumber": str(page)}
    if version == "v3":
        headers = signing.sign_v3_headers(
            access_key_id=AK,
            secret=SECRET,
            method="POST",
            host=host,
            action="DescribePhysicalConnections",
            version="2016-04-28",
            params=params,
            date=_utc(),
            nonce=uuid.uuid4().hex,
        )
        return "POST", signing.canonical_query(params), headers
    params.update(
        Action="DescribePhysicalConnections",
        Version="2016-04-28",
        Format="JSON",
        AccessKeyId=AK,
        SignatureMethod="HMAC-SHA1",
        SignatureVersion="1.0",
        SignatureNonce=uuid.uuid4().hex,
        Timestamp=_utc(),
    )
    signature = signing.v1_signature(SECRET, "GET", params)
    query = signing.canonical_query(params) + "&Signature=" + signing.percent_encode(signature)
    return "GET", query, {}


async def _worker(
    session: aiohttp.ClientSession, url: str, version: str, n: int, stop: float, done: list[int]
) -> None:
    host = url.split("//", 1)[1]
    i = n
    while time.monotonic() < stop:
        region = REGIONS[i % len(REGIONS)]
        page = (i // len(REGIONS)) % PAGES_PER_REGION + 1
        method, query, headers = _request(host, version, region, page)
        async with session.request(method, f"{url}/?{query}", headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        if done[0] % 500 == 0:  # spot-check the payload without paying to parse every page
            records = json.loads(body)["PhysicalConnectionSet"]["PhysicalConnectionType"]
            assert len(records) == 50, len(records)
        done[0] += 1
        i += 7


async def _run(url: str, version: str, seconds: float, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        done = [0]
        started = time.monotonic()
        await asyncio.gather(
            *(
                _worker(session, url, version, n, started + seconds, done)
                for n in range(concurrency)
            )
        )
        return done[0] / (time.monotonic() - started)


def _start_simulator(port: int) -> subprocess.Popen[bytes] | None:
    """The simulator in its own process, once it answers (``None``: it did not start)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "exporter", "simulate", "--listen", f"127.0.0.1:{port}",
         "--connections", str(CONNECTIONS), "--regions", ",".join(REGIONS), "--no-lifecycle"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/health", timeout=1).read()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                return None
            time.sleep(0.1)


def _measure(url: str, server: subprocess.Popen[bytes], version: str, args: Any) -> None:
    """One signature version's pages per second and the server's CPU per page."""
    asyncio.run(_run(url, version, 1.0, args.concurrency))  # warm up
    cpu_before = _cpu_seconds(server.pid)
    rate = asyncio.run(_run(url, version, args.seconds, args.concurrency))
    cpu = _cpu_seconds(server.pid) - cpu_before
    # Client and server share the machine: the server's own CPU per page shows what
    # one simulator process could serve if the client were elsewhere.
    served = rate * args.seconds
    print(
        f"{version}: {rate:,.0f} pages/s of 50 records "
        f"(server CPU {1000 * cpu / served:.2f} ms/page, "
        f"~{served / cpu:,.0f} pages per server CPU-second)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--signature", choices=("v1", "v3", "both"), default="both")
    args = parser.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_simulator(port)
    if server is None:
        print("simulator did not start", file=sys.stderr)
        return 1
    try:
        versions = ("v1", "v3") if args.signature == "both" else (args.signature,)
        print(
            f"simulator: {CONNECTIONS} connections over {len(REGIONS)} regions, "
            f"{args.concurrency} keep-alive clients, {args.seconds:g} s per run"
        )
        for version in versions:
            _measure(url, server, version, args)
        stats = json.loads(urllib.request.urlopen(f"{url}/_sim/counters").read())
        errors = sum(c["count"] for c in stats["requests"] if c["code"] != "OK")
        print(f"requests served: {stats['requests_total']:,}, errors: {errors}")
        return 0 if errors == 0 else 1
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
