"""The daemon as a process: signals, reload by SIGHUP, promtool on the live /metrics."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import http_get, require_binary, start_exporter, start_simulator, wait_until

pytestmark = pytest.mark.e2e
SECRET = "sim-access-key-secret"


def config(url: str, regions: list[str]) -> dict[str, object]:
    return {
        "refresh": {"interval": "1s", "timeout": "1s", "max_staleness": "1h"},
        "api": {"endpoint": url, "max_requests_per_second": 50, "request_timeout": "1s"},
        "accounts": [
            {
                "name": "sim",
                "credentials": {
                    "type": "access_key",
                    "access_key_id": "sim-access-key-id",
                    "access_key_secret": SECRET,
                },
                "regions": regions,
            }
        ],
        "labels": {"tags": ["env", "team"]},
    }


def metric(url: str, line_start: str) -> str | None:
    for line in http_get(url + "/metrics").decode().splitlines():
        if line.startswith(line_start):
            return line.rsplit(" ", 1)[1]
    return None


def test_sighup_reload_bad_then_good_sigterm_exits_cleanly(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    path = tmp_path / "exporter.yml"
    with start_simulator(["--connections", "60", "--regions", "cn-hangzhou,cn-shanghai",
                          "--no-lifecycle"]) as sim:  # fmt: skip
        path.write_text(yaml.safe_dump(config(sim.url, ["cn-hangzhou"])))
        with start_exporter(path) as exporter:
            wait_until(lambda: http_get(exporter.url + "/readyz"), 30, "first pass")
            body = http_get(exporter.url + "/metrics")
            check = subprocess.run([promtool, "check", "metrics"], input=body,
                                   capture_output=True, timeout=30)  # fmt: skip
            assert check.returncode == 0, check.stdout + check.stderr
            path.write_text("accounts: [{name: sim, regions: [cn-hangzou]}]\n")
            exporter.process.send_signal(signal.SIGHUP)
            pc = 'collector="physical_connections"'
            up = f'expressconnect_region_up{{account="sim",region_id="cn-hangzhou",{pc}}}'
            reload_ok = "expressconnect_config_last_reload_successful "
            wait_until(lambda: metric(exporter.url, reload_ok) == "0.0", 10, "failed reload")
            assert metric(exporter.url, up) == "1"
            path.write_text(yaml.safe_dump(config(sim.url, ["cn-hangzhou", "cn-shanghai"])))
            exporter.process.send_signal(signal.SIGHUP)
            shanghai = f'expressconnect_region_up{{account="sim",region_id="cn-shanghai",{pc}}}'
            wait_until(lambda: metric(exporter.url, shanghai) == "1", 20, "reloaded region")
            assert metric(exporter.url, reload_ok) == "1.0"
            exporter.process.send_signal(signal.SIGTERM)
            assert exporter.process.wait(timeout=10) == 0
            log = exporter.log_tail(200)
    assert "cn-hangzou" in log and "keeping the running configuration" in log
    assert SECRET not in log
