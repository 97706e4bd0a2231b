"""docs/grafana.md restates the dashboards: its table of dashboards, the panel titles it names in
bold, the resilience risks and the days-until-full PromQL must be the generated ones."""

from __future__ import annotations

import re

from grafana.dashboards_src import DASHBOARDS
from grafana.dashboards_src.pairs import pair_risks
from tests.grafana.grafana_testlib import ROOT, load_dashboards, query_panels

DOC = (ROOT / "docs" / "grafana.md").read_text()


def _section(start: str, end: str) -> str:
    return DOC[DOC.index(start) : DOC.index(end, DOC.index(start))]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_the_dashboard_table_is_the_registry() -> None:
    rows = re.findall(r"^\| `([\w-]+\.json)` \| `([\w-]+)` \|", DOC, re.M)
    assert rows == [(board.file, board.uid) for board in DASHBOARDS]
    assert f"{len(DASHBOARDS)} dashboards" in DOC.replace("Four", "4")


def test_every_bold_panel_name_is_a_panel() -> None:
    titles = {p["title"] for board in load_dashboards().values() for p in query_panels(board)}
    text = _section("## Panels", "```") + _section("Connection detail:", "##")
    named = {_flat(name) for name in re.findall(r"\*\*(.+?)\*\*", text, re.S)}
    assert len(named) >= 30, named
    assert named <= titles, named - titles


def test_the_risks_are_the_dashboards() -> None:
    listed = _section("**Risks to redundant pairs**", "**VBRs that do not")
    risks = {_flat(risk) for risk in re.findall(r"(?<!\*)\*([^*]+)\*(?!\*)", listed)}
    assert risks == {risk for risk, _ in pair_risks()}


def test_the_days_until_full_block_is_the_panels_query() -> None:
    block = _section("```promql", "\n```\n").removeprefix("```promql")
    board = load_dashboards()["fleet-overview.json"]
    (panel,) = (p for p in query_panels(board) if p["title"] == "Lines by days until full")
    expr = re.sub(r"\{[^}]*\}", "", panel["targets"][0]["expr"])
    assert _flat(expr).startswith(_flat(block))
