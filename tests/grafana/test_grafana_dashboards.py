"""Structure of the committed dashboards: regenerated == committed, ids and layout, queries,
variables, units, links, SDK round trip, and provisioning files."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from alerts import resilience
from alerts.builder import LINE_UTILISATION_P95
from exporter import vocabulary
from exporter.collectors import failover_tests as ft
from exporter.collectors import health_checks as hc
from exporter.collectors import physical_connections as pc
from exporter.collectors import traffic as tr
from exporter.collectors import virtual_border_routers as vbr
from exporter.regiontable import REGION_DURATION, REGION_LAST_SUCCESS, REGION_UP, family_order
from exporter.selfmetrics import REFRESH_ERRORS, SelfMetrics
from grafana.dashboards_src import queries, states
from promql import fragments
from tests.grafana.grafana_testlib import (
    DASHBOARD_FILES,
    DASHBOARDS_DIR,
    GRAFANA_BUILTINS,
    GRAFANA_DIR,
    ROOT,
    exposition_names,
    load_dashboards,
    load_generator,
    metric_names,
    panels,
    query_panels,
    recorded_names,
    referenced_variables,
    targets,
    variable_names,
)

BOARDS = load_dashboards()
DATASOURCE_UID = "${datasource}"


def test_committed_json_equals_a_fresh_generation() -> None:
    generated = load_generator().generate()
    assert sorted(generated) == sorted(DASHBOARD_FILES)
    for name, text in generated.items():
        committed = (DASHBOARDS_DIR / name).read_text()
        assert committed == text, f"{name} is stale: run python grafana/generate.py"
    assert sorted(p.name for p in DASHBOARDS_DIR.glob("*.json")) == sorted(DASHBOARD_FILES)


def test_uids_are_stable_unique_and_valid() -> None:
    uids = [board["uid"] for board in BOARDS.values()]
    assert uids == [
        "expressconnect-fleet",
        "expressconnect-connection",
        "expressconnect-resilience",
        "expressconnect-exporter",
    ]
    for uid in uids:
        assert 0 < len(uid) <= 40 and uid.replace("-", "").isalnum()


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_panel_ids_are_unique(name: str) -> None:
    ids = [p["id"] for p in panels(BOARDS[name])]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_grid_positions_do_not_overlap_and_fit_the_grid(name: str) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(BOARDS[name]):
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0, panel["title"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                other = taken.setdefault((x, y), panel["title"])
                assert other == panel["title"], f"{panel['title']!r} overlaps {other!r}"


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_every_target_has_expr_ref_id_and_the_datasource_variable(name: str) -> None:
    board = BOARDS[name]
    for panel in query_panels(board):
        assert panel.get("targets"), f"{panel['title']!r} has no query"
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
        ref_ids = [t.get("refId") for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    for panel, target in targets(board):
        assert target.get("expr", "").strip(), panel["title"]
        assert target.get("refId"), panel["title"]
        assert target["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID, variable["name"]


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_variables_exist_and_every_reference_is_defined(name: str) -> None:
    board = BOARDS[name]
    defined = variable_names(board)
    assert {"datasource", "account", "region"} <= defined
    assert board["templating"]["list"][0]["type"] == "datasource"
    for panel, target in targets(board):
        unknown = referenced_variables(target["expr"]) - defined - GRAFANA_BUILTINS
        assert not unknown, f"{panel['title']!r} uses undefined {unknown}"
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        text = query["query"] if isinstance(query, dict) else str(query or "")
        assert not referenced_variables(text) - defined, variable["name"]


def test_variables_specific_to_each_dashboard() -> None:
    assert "status" in variable_names(BOARDS["fleet-overview.json"])
    assert "connection" in variable_names(BOARDS["connection-detail.json"])
    assert "job" in variable_names(BOARDS["exporter-health.json"])


def test_tags_and_links_between_the_three() -> None:
    uids = {board["uid"] for board in BOARDS.values()}
    for name, board in BOARDS.items():
        assert "expressconnect" in board["tags"], name
        linked = {link["url"].split("/")[2] for link in board["links"]}
        assert linked == uids, name
        assert all(link["keepTime"] and link["includeVars"] for link in board["links"])
    fleet_links = json.dumps(BOARDS["fleet-overview.json"]["panels"])
    assert "/d/expressconnect-connection/" in fleet_links  # table rows open the detail


def _units(panel: dict[str, Any]) -> set[str]:
    config = panel.get("fieldConfig", {})
    units = {config.get("defaults", {}).get("unit")}
    for override in config.get("overrides", []):
        units |= {p["value"] for p in override["properties"] if p["id"] == "unit"}
    return units - {None}


BYTE_RATE = re.compile(r"\b\w+_bytes_per_second\b")
TIMES_EIGHT = re.compile(r"\*\s*8(?![\d.])")


def _bits_problems(panel: dict[str, Any], expr: str) -> list[str]:
    """Why a query of a byte-rate metric does not show bits/s: it must multiply by 8 and its
    panel must use Grafana's bits-per-second unit (never bytes). A ratio of byte rates
    (utilisation, a percentunit panel) and a count of lines have no unit of their own and are
    exempt from both."""
    if not BYTE_RATE.search(expr):
        return []
    units = _units(panel)
    if "percentunit" in units and "/" in expr and len(BYTE_RATE.findall(expr)) >= 2:
        return []
    if expr.startswith("count(") and not units:
        return []
    problems = []
    if not TIMES_EIGHT.search(expr):
        problems.append(f"{panel['title']!r}: no '* 8' in {expr!r}")
    if "bps" not in units or units & {"Bps", "bytes", "decbytes"}:
        problems.append(f"{panel['title']!r}: units {sorted(units)} instead of bps")
    return problems


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_bandwidth_and_traffic_show_bits_per_second(name: str) -> None:
    """Network engineers read lines in bits/s; the metrics stay in bytes, the panels convert."""
    problems = [p for panel, t in targets(BOARDS[name]) for p in _bits_problems(panel, t["expr"])]
    assert not problems, "\n".join(problems)
    for panel in query_panels(BOARDS[name]):
        assert "Bps" not in _units(panel), panel["title"]


def test_bits_check_catches_bytes() -> None:
    """The check above rejects a byte-rate query left in bytes, a missing * 8, a ratio that is
    not shown as a share, and a multiplier that only starts with 8."""
    rate = f'{pc.BANDWIDTH}{{account=~"$account"}}'
    bytes_panel = {"title": "t", "fieldConfig": {"defaults": {"unit": "Bps"}}}
    bits_panel = {"title": "t", "fieldConfig": {"defaults": {"unit": "bps"}}}
    share_panel = {"title": "t", "fieldConfig": {"defaults": {"unit": "percentunit"}}}
    assert len(_bits_problems(bytes_panel, rate)) == 2
    assert _bits_problems(bits_panel, f"{rate} * 8") == []
    assert _bits_problems(bits_panel, f"{rate} * 86400")
    assert _bits_problems(share_panel, f"{tr.TRAFFIC} / {rate}") == []
    assert _bits_problems(bits_panel, f"{tr.TRAFFIC} / {rate}")
    assert _bits_problems(share_panel, f"{rate} * 8")
    count_panel = {"title": "t", "fieldConfig": {"defaults": {}}}
    assert _bits_problems(count_panel, f"count({rate} > 0)") == []
    assert _bits_problems(count_panel, f"sum({rate})")


# An age compared with a number only filters (e.g. pairs not tested for 180 days): the result is
# not a duration.
AGE_FILTER = re.compile(r"time\(\) - [\w:]+\{[^}]*\} > \d+")


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_units_bandwidth_dates_and_durations(name: str) -> None:
    for panel, target in targets(BOARDS[name]):
        expr, units = AGE_FILTER.sub("", target["expr"]), _units(panel)
        if "_timestamp_seconds" in expr and "* 1000" in expr:
            assert "dateTimeAsIso" in units, panel["title"]
        elif "time()" in expr and "/ 86400" not in expr and " bool " not in expr:
            assert "s" in units, panel["title"]
        if "_duration_seconds" in expr:
            assert "s" in units, panel["title"]


def test_age_filter_exempts_only_a_comparison() -> None:
    assert AGE_FILTER.sub("", 'x and (time() - a:b{c="d"} > 86400)') == "x and ()"
    assert "time()" in AGE_FILTER.sub("", 'time() - a:b{c="d"}')
    assert "time()" in AGE_FILTER.sub("", 'time() - a:b{c="d"} > bool 5')


def _lost(original: Any, written: Any, path: str = "") -> list[str]:
    """Paths of `original` that are absent from `written` or hold another value there (keys the
    loader adds with default values are fine)."""
    if isinstance(original, dict) and isinstance(written, dict):
        lost: list[str] = []
        for key, value in original.items():
            if key not in written:
                lost.append(f"{path}/{key}")
            else:
                lost += _lost(value, written[key], f"{path}/{key}")
        return lost
    if isinstance(original, list) and isinstance(written, list) and len(original) == len(written):
        return [
            p
            for i, (a, b) in enumerate(zip(original, written, strict=True))
            for p in _lost(a, b, f"{path}[{i}]")
        ]
    return [] if original == written else [f"{path} (changed)"]


def _round_trip(board: dict[str, Any]) -> Any:
    register_default_plugins()
    return json.loads(json.dumps(Dashboard.from_json(copy.deepcopy(board)), cls=JSONEncoder))


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_sdk_loader_round_trip_drops_no_key(name: str) -> None:
    board = BOARDS[name]
    assert _lost(board, _round_trip(board)) == []


def test_round_trip_check_catches_a_misspelt_key() -> None:
    """The SDK loader drops keys it does not know: that is what makes the check above useful."""
    board = copy.deepcopy(BOARDS["fleet-overview.json"])
    panel = next(query_panels(board))
    panel["tittle"] = panel["title"]
    panel["targets"][0]["legendFromat"] = "{{status}}"
    missing = _lost(board, _round_trip(board))
    assert any(path.endswith("/tittle") for path in missing), missing
    assert any(path.endswith("/legendFromat") for path in missing), missing


def test_metric_name_extraction() -> None:
    expr = (
        'max by (account, region_id) (rate(foo_total{code=~"Throttling.*"}[$__rate_interval]))\n'
        'or 0 * on (account) group_left (name) bar_info{x="a b"} - time() < bool 86400\n'
        "and histogram_quantile(0.5, sum by (le) (rate(baz_seconds_bucket[5m])))"
    )
    assert metric_names(expr) == {"foo_total", "bar_info", "baz_seconds_bucket"}


def test_provisioning_loads_the_dashboards_and_a_fixed_datasource() -> None:
    (provider_file,) = (GRAFANA_DIR / "provisioning" / "dashboards").glob("*.yml")
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    assert provider["type"] == "file"
    dashboards_path = provider["options"]["path"]
    (ds_file,) = (GRAFANA_DIR / "provisioning" / "datasources").glob("*.yml")
    (datasource,) = yaml.safe_load(ds_file.read_text())["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == "expressconnect-prometheus"
    assert datasource["url"].startswith("http")
    # docs/grafana.md's docker run mounts exactly these directories where the files point.
    docs = (ROOT / "docs" / "grafana.md").read_text()
    assert f"grafana/dashboards:{dashboards_path}" in docs
    assert "grafana/provisioning:/etc/grafana/provisioning" in docs


NON_EXPORTER_METRICS = {"ALERTS", "up", "scrape_duration_seconds"}
# The collectors the dashboards show.
DASHBOARD_COLLECTORS = (pc.COLLECTOR, vbr.COLLECTOR, tr.COLLECTOR, hc.COLLECTOR, ft.COLLECTOR)


def _exporter_names() -> set[str]:
    """Metric names the exporter serves: the golden exposition files (the per-connection and
    per-region blocks rendered from recorded API pages) plus the live block the exporter adds
    per scrape (its own metrics and prometheus_client's process_* metrics), rendered by the
    exporter's own code with one request observed so every labelled family has samples."""
    goldens = [
        path
        for path in sorted((ROOT / "tests" / "golden").glob("*"))
        if path.is_file() and "# TYPE expressconnect_" in path.read_text(errors="replace")
    ]
    assert goldens, "no golden exposition files in tests/golden/"
    names: set[str] = set()
    for path in goldens:
        names |= exposition_names(path.read_text())
    live = SelfMetrics("test")
    live.observe_request("acct", "cn-hangzhou", "DescribePhysicalConnections", "Success", 0.1)
    live.track_regions([("acct", "cn-hangzhou", "physical_connections")])
    names |= exposition_names(live.render(openmetrics=False).decode())
    # Families of the collectors the goldens do not cover, from the exporter's family table.
    static_families, _ = family_order(DASHBOARD_COLLECTORS)
    return names | set(static_families)


def _variable_selector(query: str) -> str:
    """The series selector of a `label_values(selector, label)` variable query."""
    match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query.strip(), re.S)
    assert match, f"unexpected variable query {query!r}"
    return match.group(1)


def test_every_metric_name_is_in_the_golden_exposition() -> None:
    known = _exporter_names() | NON_EXPORTER_METRICS | recorded_names()
    used: set[str] = set()
    for name, board in BOARDS.items():
        for panel, target in targets(board):
            names = metric_names(target["expr"])
            assert names, f"{name} / {panel['title']}: no metric in {target['expr']!r}"
            assert not names - known, f"{name} / {panel['title']}: {names - known}"
            used |= names
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                names = metric_names(_variable_selector(variable["query"]["query"]))
                assert not names - known, f"{name} variable {variable['name']}: {names - known}"
    # every object family of the dashboards' collectors, and the region health families, are on
    # some dashboard
    static_families, _ = family_order(DASHBOARD_COLLECTORS)
    assert set(static_families) <= used, set(static_families) - used
    assert REFRESH_ERRORS in used


def test_generator_types_no_metric_name_by_hand() -> None:
    """Metric names come from the exporter's constants, so a rename cannot leave a stale query."""
    sources = sorted(GRAFANA_DIR.rglob("*.py")) + sorted((ROOT / "promql").rglob("*.py"))
    assert len(sources) >= 10, sources
    for path in sources:
        typed = sorted(set(re.findall(r"expressconnect[_:]\w+", path.read_text())))
        assert typed == [], (path, typed)


def test_state_sets_come_from_the_vocabulary() -> None:
    assert states.STATUSES is vocabulary.STATUSES
    assert states.BUSINESS_STATUSES is vocabulary.BUSINESS_STATUSES
    assert (*vocabulary.BGP_STATUSES, vocabulary.BGP_STATUS_UNKNOWN) == states.BGP_STATES
    texts = {r.text for r in states.bgp_code_mapping().options.values()}
    assert set(states.BGP_STATES) <= texts
    codes = {r.text for r in states.status_code_mapping().options.values()}
    assert set(vocabulary.STATUSES) | set(vocabulary.BUSINESS_STATUSES) <= codes
    cells = set(states.vbr_text_mapping().options)
    assert set(vocabulary.VBR_STATUSES) | set(vocabulary.BGP_PEER_STATUSES) <= cells


HEALTH_FAMILIES = {REGION_UP, REGION_LAST_SUCCESS, REGION_DURATION, REFRESH_ERRORS}


def test_region_health_queries_keep_the_collector_apart() -> None:
    """Each (account, region) has one health series per collector: a query that groups them by
    region must keep `collector`, or one collector's failure hides behind the other's success."""
    board = BOARDS["exporter-health.json"]
    assert "collector" in variable_names(board)
    checked = 0
    for panel, target in targets(board):
        expr = target["expr"]
        if not metric_names(expr) & HEALTH_FAMILIES:
            continue
        for labels, metric in re.findall(r"by \(([^)]*)\) \((?:increase\()?(\w+)\{", expr):
            if metric in HEALTH_FAMILIES:
                checked += 1
                assert "collector" in labels, f"{panel['title']!r}: by ({labels}) {metric}"
        for metric in HEALTH_FAMILIES & metric_names(expr):
            assert re.search(metric + r'\{[^}]*collector=~"\$collector"', expr), panel["title"]
    assert checked >= 8


def test_connection_detail_joins_bgp_to_the_line_through_vbr_info() -> None:
    """BGP, VBR and traffic series know no physical connection: each query of the detail
    dashboard that reads them must narrow them to the selected line through the VBR info's line
    id."""
    vbr_families = {
        f.name for c in (vbr.COLLECTOR, tr.COLLECTOR) for group in c.records for f in group.families
    }
    join = f'{vbr.VBR_INFO}{{physical_connection_id="$connection"'
    found = 0
    for panel, target in targets(BOARDS["connection-detail.json"]):
        if metric_names(target["expr"]) & vbr_families:
            found += 1
            assert join in target["expr"], panel["title"]
    assert found >= 24


def test_fleet_overview_has_the_bgp_panels() -> None:
    titles = {p["title"] for p in query_panels(BOARDS["fleet-overview.json"])}
    assert {
        "BGP sessions not Established",
        "Enabled lines without an Established session",
        "Redundant pairs at risk",
    } <= titles


def test_the_traffic_panels() -> None:
    detail = {p["title"] for p in query_panels(BOARDS["connection-detail.json"])}
    assert {
        "Traffic against bandwidth",
        "Utilisation",
        "Packets",
        "Dropped packets",
        "Health-check latency",
        "Health-check loss",
    } <= detail
    fleet = {p["title"] for p in query_panels(BOARDS["fleet-overview.json"])}
    assert {
        "Most utilised lines",
        "Lines dropping packets",
        "Lines losing health-check probes",
    } <= fleet


def test_utilisation_sums_each_direction_over_the_line() -> None:
    """Utilisation is the sum over the line's VBRs per direction, against the line's bandwidth:
    one VBR's share of a line shared by several would understate how full the line is."""
    expr = queries.utilisation("SELECTED")
    assert f"sum by ({fragments.LINE_KEY}, direction)" in expr
    assert f"{vbr.VBR_INFO}{{SELECTED}}" in expr and f"{pc.BANDWIDTH}{{SELECTED}}" in expr
    assert "/ on (account, region_id, physical_connection_id) group_left" in expr


def test_the_resilience_dashboard_answers_issue_16() -> None:
    """The fleet tables and, per pair, every question the issue asks, with the availability
    records of the resilience rules on the dashboard."""
    board = BOARDS["resilience.json"]
    titles = {p["title"] for p in query_panels(board)}
    assert {
        "Risks to redundant pairs",
        "VBRs that do not fail over by themselves",
        "Failover tests",
        "VBR HA groups",
        "Availability (30d)",
        "Legs",
        "Same access point",
        "Failover test running",
        "Last failover test",
        "Route difference",
        "VBR HA groups Active",
        "Pair availability (30d)",
        "Health checks of the pair's VBRs",
        "Failover tests of the pair",
        "VBR HA groups of the pair",
    } <= titles
    used = {name for _, t in targets(board) for name in metric_names(t["expr"])}
    assert {
        resilience.LINE_AVAILABILITY,
        resilience.PAIR_AVAILABILITY,
        resilience.PAIR_LAST_TEST,
        resilience.PAIR_ROUTE_DIFFERENCE,
    } <= used
    assert "connection" in variable_names(board)


def test_the_forecast_table_reads_the_capacity_record() -> None:
    board = BOARDS["fleet-overview.json"]
    (panel,) = (p for p in query_panels(board) if p["title"] == "Lines by days until full")
    assert metric_names(panel["targets"][0]["expr"]) == {LINE_UTILISATION_P95, pc.INFO}
