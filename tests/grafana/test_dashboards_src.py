"""The layout of the dashboards' sources: one module per dashboard registered once, the link bar
built from the registry, and the size limits that keep each module readable."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from pathlib import Path

import pytest
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat

from grafana import dashboards_src
from grafana.dashboards_src import (
    DASHBOARDS,
    board,
    connection_detail,
    fleet_overview,
    resilience,
)
from grafana.dashboards_src.board import Board, new_dashboard
from grafana.dashboards_src.panels import stat_now
from grafana.dashboards_src.queries import SEL
from tests.grafana.grafana_testlib import DASHBOARD_FILES, GRAFANA_DIR, ROOT, load_generator

MAX_FILE_LINES = 850
MAX_FUNCTION_LINES = 60


def test_the_registry_lists_every_dashboard_module_once() -> None:
    """A module that declares a ``BOARD`` but is missing from ``DASHBOARDS`` would never be
    written; two boards with one file name or uid would overwrite each other."""
    declared = []
    for info in pkgutil.iter_modules(dashboards_src.__path__):
        module = importlib.import_module(f"{dashboards_src.__name__}.{info.name}")
        if isinstance(getattr(module, "BOARD", None), Board):
            declared.append(module.BOARD)
    assert len(declared) == 4
    assert sorted(declared, key=lambda b: b.file) == sorted(DASHBOARDS, key=lambda b: b.file)
    assert tuple(b.file for b in DASHBOARDS) == DASHBOARD_FILES
    assert len({b.uid for b in DASHBOARDS}) == len({b.file for b in DASHBOARDS}) == 4


def test_every_dashboard_links_to_every_dashboard_of_the_registry() -> None:
    expected = [
        {"title": b.nav_title, "url": f"/d/{b.uid}/{b.slug}", "tooltip": b.nav_tooltip}
        for b in DASHBOARDS
    ]
    for name in DASHBOARD_FILES:
        committed = json.loads((GRAFANA_DIR / "dashboards" / name).read_text())
        links = [
            {"title": link["title"], "url": link["url"], "tooltip": link["tooltip"]}
            for link in committed["links"]
        ]
        assert links == expected, name
        assert all(link["keepTime"] and link["includeVars"] for link in committed["links"])


def test_the_data_links_point_at_the_boards_they_name() -> None:
    """The fleet and detail dashboards link to each other with uid and slug written in
    ``board.py``; they must be the registered boards' own."""
    fleet, detail = fleet_overview.BOARD, connection_detail.BOARD
    assert board.fleet_link().build().url.startswith(f"/d/{fleet.uid}/{fleet.slug}?")
    assert str(board.connection_link()["url"]).startswith(f"/d/{detail.uid}/{detail.slug}?")
    pairs = resilience.BOARD
    assert board.resilience_link().build().url.startswith(f"/d/{pairs.uid}/{pairs.slug}?")


def test_a_new_dashboard_is_one_module_and_one_registry_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A board added to the registry is written by the generator and appears in every other
    dashboard's link bar, with no other edit."""

    def build() -> dash.Dashboard:
        lines = stat.Panel().title("Lines").with_target(stat_now(f"count(up{{{SEL}}})"))
        return new_dashboard(toy, "A toy dashboard.", "now-1h").with_panel(lines)

    toy = Board("toy.json", "expressconnect-toy", "ExpressConnect / Toy", "Toy", "A toy", build)
    generator = load_generator()
    monkeypatch.setattr(generator, "DASHBOARDS", (*DASHBOARDS, toy))
    generated = {name: json.loads(text) for name, text in generator.generate().items()}
    assert list(generated) == [*DASHBOARD_FILES, "toy.json"]
    assert generated["toy.json"]["uid"] == "expressconnect-toy"
    assert generated["toy.json"]["panels"][0]["id"] == 1
    for name, board_json in generated.items():
        urls = [link["url"] for link in board_json["links"]]
        assert urls[-1] == "/d/expressconnect-toy/expressconnect-toy", name


def _python_files() -> list[Path]:
    return sorted(GRAFANA_DIR.rglob("*.py")) + sorted((ROOT / "promql").rglob("*.py"))


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_files_and_functions_stay_small(path: Path) -> None:
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_FILE_LINES
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{node.name}: {length} lines"
