"""``demo --with-alerting``: Prometheus and Alertmanager next to the demo, with the shipped rules
(config/alerts/) and routing (config/alertmanager.yml and its templates), so a new user watches
the demo's incidents fire, group and resolve.

The binaries are found on PATH or next to the interpreter (a venv's bin/); Debian names
Alertmanager ``prometheus-alertmanager``. Both run as child processes with their data in a
temporary directory and stop with the demo.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

PROMETHEUS_NAMES = ("prometheus",)
ALERTMANAGER_NAMES = ("alertmanager", "prometheus-alertmanager")


class AlertingUnavailable(Exception):
    """A binary or the shipped configuration is missing (the message says which)."""


@dataclass(frozen=True)
class AlertingURLs:
    prometheus: str
    alertmanager: str


def find_binary(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` on PATH or next to the running interpreter."""
    for name in names:
        found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
        if found:
            return found
    return None


def shipped_config(root: Path | None = None) -> Path:
    """The repository's config/ directory (rules, routing, templates)."""
    config = (root or Path(__file__).resolve().parent.parent) / "config"
    if not (config / "alertmanager.yml").is_file() or not list(config.glob("alerts/*.yml")):
        raise AlertingUnavailable(f"--with-alerting: no shipped rules and routing in {config}")
    return config


def prometheus_yaml(config: Path, exporter: str, alertmanager: str) -> str:
    """config/prometheus.yml with the demo's addresses and the shipped rules by absolute path."""
    data = yaml.safe_load((config / "prometheus.yml").read_text())
    data["global"].update(scrape_interval="15s", evaluation_interval="15s")
    data["rule_files"] = [str(config / "alerts" / "*.yml")]
    data["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    data["scrape_configs"][0]["static_configs"] = [{"targets": [exporter]}]
    return yaml.safe_dump(data, sort_keys=False)


def alertmanager_yaml(config: Path) -> str:
    """config/alertmanager.yml with its templates by absolute path (the copy lives elsewhere)."""
    data = yaml.safe_load((config / "alertmanager.yml").read_text())
    data["templates"] = [str(config / t) for t in data.get("templates", [])]
    return yaml.safe_dump(data, sort_keys=False)


@contextmanager
def alerting(
    exporter: str, prometheus_listen: str, alertmanager_listen: str
) -> Iterator[AlertingURLs]:
    """Run Prometheus and Alertmanager until the block ends."""
    prometheus = find_binary(PROMETHEUS_NAMES)
    alertmanager = find_binary(ALERTMANAGER_NAMES)
    if not prometheus or not alertmanager:
        missing = "prometheus" if not prometheus else "alertmanager"
        raise AlertingUnavailable(f"--with-alerting: {missing} is not installed (not on PATH)")
    config = shipped_config()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ec-demo-")))
        (work / "alertmanager.yml").write_text(alertmanager_yaml(config))
        (work / "prometheus.yml").write_text(prometheus_yaml(config, exporter, alertmanager_listen))
        commands = (
            [
                alertmanager,
                f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'am'}",
                f"--web.listen-address={alertmanager_listen}",
                "--cluster.listen-address=",
            ],
            [
                prometheus,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'prom'}",
                f"--web.listen-address={prometheus_listen}",
            ],
        )
        log = stack.enter_context((work / "alerting.log").open("w"))
        for argv in commands:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            stack.callback(_stop, process)
        yield AlertingURLs(f"http://{prometheus_listen}", f"http://{alertmanager_listen}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
