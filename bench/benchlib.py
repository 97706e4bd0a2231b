"""Helpers shared by the hand-run benchmarks (bench_exporter.py, soak.py): child processes,
loopback HTTP, /proc memory readings, exposition parsing and the arithmetic of the reports.

Pure functions here are tested by bench/test_benchlib.py; the process helpers only ever talk
to 127.0.0.1.
"""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
SCRAPE_HEADERS = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}

_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


# ---------------------------------------------------------------- processes and HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http(
    url: str,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    method: str | None = None,
    timeout: float = 120.0,
) -> bytes:
    """One request to a loopback URL (anything else is refused: benches never leave the box)."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"not a loopback URL: {url}")
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return bytes(response.read())


def wait_http(
    url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``url`` until it answers 2xx; fail early if ``proc`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            http(url, timeout=10)
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise SystemExit(f"process {proc.args!r} exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def spawn(
    args: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``python ARGS`` from the checkout, output to ``log``; ``env``: added variables."""
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=None if env is None else {**os.environ, **env},
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM this one child (by its own pid), then SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def proc_status_mb(pid: int, field: str) -> float:
    """``VmRSS`` / ``VmHWM`` (peak RSS) of a process in MB, NaN if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- exposition


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


def parse_labels(text: str) -> dict[str, str]:
    r"""``a="x",b="y \"q\""`` → ``{"a": "x", "b": 'y "q"'}`` (exposition escapes undone)."""
    out = {}
    for key, raw in _LABEL.findall(text):
        out[key] = raw.replace(r"\"", '"').replace(r"\n", "\n").replace("\\\\", "\\")
    return out


def samples(text: str, names: Iterable[str]) -> Iterator[Sample]:
    """Samples of the named families (exact metric names, text or OpenMetrics format)."""
    wanted = tuple(f"{name}{{" for name in names) + tuple(f"{name} " for name in names)
    for line in text.splitlines():
        if not line.startswith(wanted):
            continue
        brace, space = line.find("{"), line.find(" ")
        if brace != -1 and brace < space:
            labels_text, _, value_text = line[brace + 1 :].rpartition("}")
            name, labels = line[:brace], parse_labels(labels_text)
        else:
            name, value_text, labels = line[:space], line[space:], {}
        fields = value_text.split()
        yield Sample(name, labels, float(fields[0]) if fields else float("nan"))


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float:
    """Slope of the least-squares line through (x, y) points; NaN for fewer than two x's."""
    if len(points) < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return float("nan")
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def pages(records: int, page_size: int) -> int:
    """Requests one full listing of ``records`` takes: page 1 always, even when empty."""
    return max(1, math.ceil(records / page_size))


@dataclass(frozen=True, slots=True)
class Window:
    """When a set of passes ran: earliest start to latest end (Unix seconds)."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def pass_window(ends_and_durations: Iterable[tuple[float, float]]) -> Window:
    """From (last_success, duration) pairs: first start to last end."""
    pairs = list(ends_and_durations)
    if not pairs:
        raise ValueError("no passes")
    return Window(min(end - duration for end, duration in pairs), max(end for end, _ in pairs))


def mismatches(
    exported: Mapping[str, Mapping[str, str]], truth: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """Differences between two ``{region: {object_id: state}}`` maps, one line each.

    An object missing on either side, or with another state, is one mismatch.
    """
    out = []
    for region in sorted(set(exported) | set(truth)):
        seen, real = exported.get(region, {}), truth.get(region, {})
        for object_id in sorted(set(seen) | set(real)):
            if object_id not in seen:
                out.append(f"{region}: {object_id} missing from /metrics ({real[object_id]})")
            elif object_id not in real:
                out.append(f"{region}: {object_id} exported ({seen[object_id]}) but gone")
            elif seen[object_id] != real[object_id]:
                out.append(
                    f"{region}: {object_id} exported as {seen[object_id]}, is {real[object_id]}"
                )
    return out
