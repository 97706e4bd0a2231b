"""The shipped index of families the alert rules and dashboards read
(``exporter/data/family_usage.json``) is what ``scripts/family_usage.py`` makes of them now."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from exporter.collectors import COLLECTORS
from exporter.metricfilter import every_family, shipped_usage

ROOT = Path(__file__).resolve().parent.parent


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("family_usage", ROOT / "scripts/family_usage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["family_usage"] = module
    spec.loader.exec_module(module)
    return module


def test_the_committed_index_is_current() -> None:
    script = _script()
    assert script.main(["--check"]) == 0, "run: python scripts/family_usage.py"
    assert shipped_usage() == {
        name: tuple(users) for name, users in script.build_index()["families"].items()
    }


def test_names_are_found_through_histograms_and_recording_rules() -> None:
    script = _script()
    families = frozenset({"a_total", "b_seconds", "c"})
    expr = 'sum(rate(b_seconds_bucket{job="x"}[5m])) / ignoring(le) a_total and rec:c:ratio'
    found = script.names_in(expr, families)
    assert found == {"b_seconds", "a_total", "rec:c:ratio"}
    records = {"rec:c:ratio": {"rec:inner"}, "rec:inner": {"c", "rec:c:ratio"}}  # a loop too
    assert script._expand(found, records, families) == {"a_total", "b_seconds", "c"}


def test_every_indexed_name_is_a_family_and_alerts_are_seen() -> None:
    usage = shipped_usage()
    assert set(usage) <= set(every_family(COLLECTORS))
    users = {user for names in usage.values() for user in names}
    assert any(user.startswith("alert ") for user in users)
    assert any(user.startswith("dashboard ") for user in users)
