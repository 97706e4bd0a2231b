"""Shared helpers for the Grafana dashboard tests: load the committed JSON, walk panels and
targets, pull metric names out of PromQL, substitute template variables."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = ROOT / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DASHBOARD_FILES = (
    "fleet-overview.json",
    "connection-detail.json",
    "resilience.json",
    "exporter-health.json",
)
RULES_DIR = ROOT / "config" / "alerts"

# Variables Grafana itself defines; every other `$name` must be a dashboard variable.
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}

PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "inf",
    "nan",
}


def load_generator() -> ModuleType:
    """Import grafana/generate.py by path, as ``python grafana/generate.py`` runs it (a script
    that puts the checkout on ``sys.path`` itself)."""
    spec = importlib.util.spec_from_file_location(
        "expressconnect_grafana_generate", GRAFANA_DIR / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {name: json.loads((DASHBOARDS_DIR / name).read_text()) for name in DASHBOARD_FILES}


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and panels nested in collapsed rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def query_panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    return (p for p in panels(board) if p["type"] != "row")


def targets(board: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every query target of every panel."""
    for panel in query_panels(board):
        for target in panel.get("targets", []):
            yield panel, target


def variable_names(board: Mapping[str, Any]) -> set[str]:
    return {v["name"] for v in board["templating"]["list"]}


def referenced_variables(text: str) -> set[str]:
    """`$name`, `${name}` and `${name:format}` references in a string."""
    return set(re.findall(r"\$\{?([A-Za-z_]\w*)", text))


def strip_promql(expr: str) -> str:
    """Remove everything from PromQL that can look like an identifier but is not a metric name:
    strings, label matchers, label lists of by/on/group_left..., range selectors, numbers."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (identifiers that are not calls or keywords)."""
    stripped = strip_promql(expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([A-Za-z_:][\w:]*)\s*(\(?)", stripped):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace `$name` / `${name}` like Grafana does for the Prometheus data source."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)", replace, expr)


def exposition_names(text: str) -> set[str]:
    """Sample names in a Prometheus text exposition (and the families of its # TYPE lines)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def recorded_names() -> set[str]:
    """The series the committed recording rules (config/alerts/) record: the dashboards read
    some of them (availability, capacity forecast), so Prometheus must load those rules."""
    names = set()
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names
