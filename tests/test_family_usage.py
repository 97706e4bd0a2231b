"""What docs and warnings say about metric families is current: the shipped index of families
the alert rules and dashboards read (``exporter/data/family_usage.json``, written by
``scripts/family_usage.py``) and the series-per-line tables of ``docs/configuration.md``
(``scripts/series_per_line.py``, from a real ``--once`` run against the simulator)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from exporter.collectors import COLLECTORS
from exporter.collectors import physical_connections as pc
from exporter.metricfilter import collector_families, every_family, shipped_usage

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


def _series_script() -> ModuleType:
    path = ROOT / "scripts/series_per_line.py"
    spec = importlib.util.spec_from_file_location("series_per_line", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["series_per_line"] = module
    spec.loader.exec_module(module)
    return module


def test_the_series_per_line_tables_match_a_real_run() -> None:
    """``--once`` against the simulator at 100 lines, counted per family: the docs' tables."""
    script = _series_script()
    measured = script.measure()
    counts = measured.counts
    assert 0 < measured.state_set_zeros < sum(counts.values())
    # Every family of the tables was seen: the run read every collector.
    for name in collector_families(COLLECTORS):
        assert counts[name] > 0, name
    lines = counts[pc.INFO]
    assert lines == script.LINES  # one _info series per line
    doc = script.DOC.read_text(encoding="utf-8")
    assert script.current_block(doc) == script.render(measured), (
        "run: python scripts/series_per_line.py"
    )


def test_series_are_counted_per_family() -> None:
    script = _series_script()
    body = (
        b'# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
        b'c_total{a="x"} 3\ns{state="A"} 1\ns{state="B"} 0\n'
    )
    assert script.count_series(body, ("h", "c_total", "s")) == {"h": 4, "c_total": 1, "s": 2}
    status = f'{pc.STATUS}{{physical_connection_id="a",status="Enabled"}}'.encode()
    rows = status + b" 1\n" + status.replace(b"Enabled", b"Initial") + b" 0\nh_sum 0\n"
    assert script.state_set_zeros(rows) == 1
