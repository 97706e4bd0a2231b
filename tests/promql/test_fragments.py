"""The PromQL fragments the alert rules and the dashboards share: their text, and that both
generators take them from ``promql.fragments`` rather than writing their own."""

from __future__ import annotations

import re

from alerts import builder, generate, lines, resilience
from grafana.dashboards_src import queries
from promql.fragments import (
    DAY,
    LINE_ID,
    LINE_KEY,
    PEER_KEY,
    REGION_KEY,
    VBR_KEY,
    copy_label,
    days_until,
    group_left,
    on_vbr_line,
)
from tests.grafana.grafana_testlib import DASHBOARD_FILES, GRAFANA_DIR, load_dashboards, targets


def test_the_keys() -> None:
    assert REGION_KEY == "account, region_id"
    assert LINE_KEY == "account, region_id, physical_connection_id"
    assert VBR_KEY == "account, region_id, vbr_id"
    assert PEER_KEY == "account, region_id, vbr_id, bgp_peer_id"
    assert LINE_ID == "physical_connection_id"
    assert DAY == 24 * 60 * 60


def test_group_left_in_both_house_styles() -> None:
    assert group_left("a, b", "c", "info") == "* on(a, b) group_left(c)\ninfo"
    assert group_left("a, b", "c", "info", spaced=True) == "* on (a, b) group_left (c)\ninfo"


def test_on_vbr_line_copies_the_line_id_by_vbr() -> None:
    assert on_vbr_line("lines") == (
        "* on(account, region_id, vbr_id) group_left(physical_connection_id)\nlines"
    )
    assert on_vbr_line("lines", spaced=True) == (
        "* on (account, region_id, vbr_id) group_left (physical_connection_id)\nlines"
    )


def test_copy_label() -> None:
    assert copy_label("dst", "src") == '"dst", "$1", "src", "(.+)"'


def test_the_alert_rules_take_the_keys_and_the_join_from_the_fragments() -> None:
    assert lines.ID is LINE_KEY
    assert lines.REGION is REGION_KEY
    assert lines.VBR is VBR_KEY
    assert lines.PEER is PEER_KEY
    assert resilience.DAY is DAY
    assert on_vbr_line(builder.VBR_LINE) == builder.ON_VBR_LINE
    # In the rule file the join is indented inside the expression that uses it.
    join = re.escape("* on(account, region_id, vbr_id) group_left(physical_connection_id)")
    uses = re.findall(join + r"\n *" + re.escape(builder.VBR_LINE) + r"\b", generate.render())
    assert len(uses) >= 3


def test_the_dashboards_join_vbr_series_to_their_line_with_the_shared_join() -> None:
    """Every VBR-to-line join on the dashboards is the shared one, through the VBR info (any
    selection of lines, indented or not)."""
    header = on_vbr_line("", spaced=True).rstrip("\n")
    bridge = queries.vbr_line("SELECTION").split("SELECTION")[0]
    exprs = [t["expr"] for board in load_dashboards().values() for _, t in targets(board)]
    joins = 0
    for expr in exprs:
        parts = expr.split(header)
        joins += len(parts) - 1
        for rest in parts[1:]:
            assert rest.lstrip("\n ").startswith(bridge), expr
    assert joins >= 10
    assert not any("group_left(" in expr for expr in exprs)


def test_no_dashboard_source_writes_a_shared_key_or_join_itself() -> None:
    literals = (
        "account, region_id, physical_connection_id",
        "account, region_id, vbr_id",
        "group_left (physical_connection_id)",
        "group_left(physical_connection_id)",
    )
    sources = sorted((GRAFANA_DIR / "dashboards_src").glob("*.py"))
    # The dashboards' modules plus eight helpers (board, metrics, panels, queries, states,
    # tables, pairs and the package's __init__).
    assert len(sources) == len(DASHBOARD_FILES) + 8
    for path in sources:
        text = path.read_text()
        for literal in literals:
            assert literal not in text, (path.name, literal)


def test_days_until_is_the_capacity_fit_on_rising_series_only() -> None:
    expr = days_until(0.95, "u", "7d")
    assert expr == "(0.95 - predict_linear(u[7d], 0))\n/ (deriv(u[7d]) > 0)\n/ 86400"
    used = [
        t["expr"]
        for _, t in targets(load_dashboards()["fleet-overview.json"])
        if "deriv(" in t["expr"]
    ]
    assert len(used) == 1 and "predict_linear(" in used[0] and "> 0 < 3650" in used[0]
