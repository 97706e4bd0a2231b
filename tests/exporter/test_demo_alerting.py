"""`expressconnect-exporter demo --with-alerting`, for real: the demo starts Debian's Prometheus
and Alertmanager with the shipped rules and routing, prints the Alertmanager URL, Prometheus
scrapes the demo's exporter and evaluates the shipped rule groups, Alertmanager runs the shipped
routing (grouped by line) and stops with the demo."""

from __future__ import annotations

import json
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from exporter.demo_alerting import alertmanager_yaml, prometheus_yaml, shipped_config
from tests.harness import Proc, free_port, http_get, require_binary, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_configs_are_rewritten_with_absolute_paths_and_the_demo_addresses() -> None:
    config = shipped_config(ROOT)
    prom = yaml.safe_load(prometheus_yaml(config, "127.0.0.1:1", "127.0.0.1:2"))
    assert prom["rule_files"] == [str(config / "alerts" / "*.yml")]
    assert prom["scrape_configs"][0]["job_name"] == "expressconnect"
    assert prom["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:1"]}]
    am = yaml.safe_load(alertmanager_yaml(config))
    assert am["templates"] == [str(config / "alertmanager" / "templates" / "*.tmpl")]


def test_demo_with_alerting_runs_prometheus_and_alertmanager(tmp_path: Path) -> None:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    ports = {name: free_port() for name in ("exporter", "simulator", "prometheus", "am")}
    argv = [
        sys.executable,
        "-m",
        "exporter",
        "demo",
        "--with-alerting",
        "--connections",
        "20",
        "--regions",
        "cn-hangzhou",
        "--listen",
        f"127.0.0.1:{ports['exporter']}",
        "--simulator-listen",
        f"127.0.0.1:{ports['simulator']}",
        "--prometheus-listen",
        f"127.0.0.1:{ports['prometheus']}",
        "--alertmanager-listen",
        f"127.0.0.1:{ports['am']}",
    ]
    log = tmp_path / "demo.log"
    with Proc("demo", argv, f"http://127.0.0.1:{ports['exporter']}", log) as demo:
        am_url = f"http://127.0.0.1:{ports['am']}"
        prom_url = f"http://127.0.0.1:{ports['prometheus']}"
        wait_until(lambda: f"alertmanager:       {am_url}/" in log.read_text(), 60, "the URL")

        def rules_loaded() -> bool:
            groups = json.loads(http_get(f"{prom_url}/api/v1/rules"))["data"]["groups"]
            return {g["name"] for g in groups} >= {
                "expressconnect.physical-connections",
                "expressconnect.capacity",
            }

        wait_until(rules_loaded, 60, "Prometheus with the shipped rules")

        def scraped() -> bool:
            targets = json.loads(http_get(f"{prom_url}/api/v1/targets"))["data"]
            return any(t["health"] == "up" for t in targets["activeTargets"])

        wait_until(scraped, 90, "Prometheus scraping the demo exporter")

        # The demo's failover test: its info alert reaches Alertmanager for the drilled line,
        # and whatever that line pages about meanwhile is held back there.
        drilled = re.search(r"failover test \S+ runs on (pc-\S+):", log.read_text())
        assert drilled, "the demo did not start its failover test"
        line = drilled.group(1)

        def line_alerts() -> list[dict[str, Any]]:
            query = urllib.parse.quote(f'physical_connection_id="{line}"')
            alerts: list[dict[str, Any]] = json.loads(
                http_get(f"{am_url}/api/v2/alerts?filter={query}")
            )
            return alerts

        wait_until(
            lambda: any(
                a["labels"]["alertname"] == "ExpressConnectFailoverTestRunning"
                for a in line_alerts()
            ),
            120,
            "the demo's failover test alert in Alertmanager",
        )
        for alert in line_alerts():
            if alert["labels"]["severity"] == "critical":
                assert alert["status"]["state"] == "suppressed", alert["labels"]
        status = json.loads(http_get(f"{am_url}/api/v2/status"))
        assert "physical_connection_id" in status["config"]["original"]
        demo.stop()
    assert demo.process.returncode is not None

    def am_gone() -> bool:
        try:
            http_get(f"{am_url}/-/ready", timeout=1)
        except OSError:
            return True
        return False

    wait_until(am_gone, 30, "Alertmanager stopped with the demo")
