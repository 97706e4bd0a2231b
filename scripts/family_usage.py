"""Write the index of metric families the shipped alert rules and dashboards read.

The exporter warns at load when ``metrics.allow`` / ``metrics.deny`` drop a family a shipped
alert or dashboard needs. Rather than parse other components' YAML and JSON at run time (they
may not even be installed beside the package), it reads this index, package data written here
from ``config/alerts/*.yml`` and ``grafana/dashboards/*.json``. An alert that reads a
recording rule needs the families that rule reads, transitively.

    python scripts/family_usage.py            # rewrite exporter/data/family_usage.json
    python scripts/family_usage.py --check    # exit 1 if the committed index is stale

Run it (and commit the result) after regenerating the alert rules or the dashboards; a test
runs ``--check``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.collectors import COLLECTORS
from exporter.metricfilter import USAGE_RESOURCE, every_family

ROOT = Path(__file__).resolve().parent.parent

ALERTS = ROOT / "config" / "alerts"
DASHBOARDS = ROOT / "grafana" / "dashboards"
OUTPUT = ROOT / "exporter" / "data" / USAGE_RESOURCE

_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def names_in(expr: str, families: frozenset[str]) -> set[str]:
    """Metric names (families, recording rules with a ``:``) an expression mentions."""
    found = set()
    for token in _NAME.findall(expr):
        if token in families or ":" in token:
            found.add(token)
            continue
        for suffix in _HISTOGRAM_SUFFIXES:
            if token.endswith(suffix) and token.removesuffix(suffix) in families:
                found.add(token.removesuffix(suffix))
    return found


def _rules(directory: Path) -> Iterator[Mapping[str, Any]]:
    for path in sorted(directory.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in document.get("groups", []):
            yield from group.get("rules", [])


def _expand(names: set[str], records: Mapping[str, set[str]], families: frozenset[str]) -> set[str]:
    """The families ``names`` reads, through recording rules (``records``: rule → names)."""
    out: set[str] = set()
    pending, seen = list(names), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in families:
            out.add(name)
        pending.extend(records.get(name, ()))
    return out


def _strings(node: object, keys: frozenset[str]) -> Iterator[str]:
    """Every string under one of ``keys`` anywhere in a dashboard's JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from _strings(value, keys)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, keys)


def build_index() -> dict[str, Any]:
    families = frozenset(every_family(COLLECTORS))
    records: dict[str, set[str]] = {}
    alerts: dict[str, set[str]] = {}
    for rule in _rules(ALERTS):
        read = names_in(str(rule.get("expr", "")), families)
        if "record" in rule:
            records.setdefault(rule["record"], set()).update(read)
        else:
            alerts.setdefault(f"alert {rule['alert']}", set()).update(read)
    users: dict[str, set[str]] = {}
    for user, names in alerts.items():
        for family in _expand(names, records, families):
            users.setdefault(family, set()).add(user)
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        mentioned: set[str] = set()
        for expr in _strings(dashboard, frozenset({"expr", "query", "definition"})):
            mentioned |= names_in(expr, families)
        for family in _expand(mentioned, records, families):
            users.setdefault(family, set()).add(f"dashboard {dashboard['title']!r}")
    return {
        "generated_by": "scripts/family_usage.py from config/alerts and grafana/dashboards",
        "families": {family: sorted(users[family]) for family in sorted(users)},
    }


def render() -> str:
    return json.dumps(build_index(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the index is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python scripts/family_usage.py")
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
