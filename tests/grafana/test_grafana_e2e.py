"""Every panel query of every committed dashboard returns data from a real Prometheus.

Stack: the simulator (a fleet in which every status and business status occurs) → the exporter
(refresh every second) → Debian's Prometheus (scrape and rule evaluation every second, with the
committed alert rules loaded so ExpressConnect alerts fire). Template variables are resolved the
way Grafana does it: each query variable's own `label_values(...)` query is sent to Prometheus
and must return values; multi-value variables are substituted as the regex of every value. Then
each target's expr is sent as Grafana would send it (instant or range query): a parse error or an
empty result fails the test, naming the dashboard, panel and query.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from grafana_testlib import (
    ROOT,
    exposition_names,
    load_dashboards,
    metric_names,
    query_panels,
    substitute,
    targets,
)
from harness import (
    Prometheus,
    http_get,
    require_binary,
    start_exporter,
    start_prometheus,
    start_simulator,
)

pytestmark = pytest.mark.e2e

JOB = "expressconnect"  # the job name the committed alert rules select
REGIONS = ("cn-hangzhou", "cn-shanghai")
# $__rate_interval as Grafana computes it at the 60s scrape interval of config/prometheus.yml
# (4 x scrape interval), and the default 6h range.
RATE_INTERVAL = "4m"
# One region, so that both injections count into the same series.
THROTTLE_FAULT = {
    "kind": "Throttling.User",
    "action": "DescribePhysicalConnections",
    "region": REGIONS[0],
    "count": 2,
}
NON_EXPORTER_METRICS = {"ALERTS", "up", "scrape_duration_seconds"}
STATUSES = (
    *("Initial", "Approved", "Allocating", "Allocated", "Confirmed", "Enabled"),
    *("Rejected", "Canceled", "AllocationFailed", "Terminating", "Terminated"),
)
BUSINESS_STATUSES = ("Normal", "FinancialLocked", "SecurityLocked")


@dataclass(frozen=True)
class Stack:
    prometheus: Prometheus
    exporter_url: str


def _exporter_config(simulator_url: str) -> str:
    return f"""
refresh:
  interval: 1s
  timeout: 1s
api:
  endpoint: {simulator_url}
  max_requests_per_second: 50
  request_timeout: 1s
accounts:
  - name: sim
    credentials:
      type: access_key
      access_key_id: sim-access-key-id
      access_key_secret: sim-access-key-secret
    regions: [{", ".join(REGIONS)}]
"""


def _prometheus_config(exporter_url: str) -> str:
    rules = sorted((ROOT / "config" / "alerts").glob("*.yml"))
    assert rules, "no alert rules in config/alerts/"
    target = urllib.parse.urlparse(exporter_url).netloc
    return json.dumps(
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rules],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        }
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("prometheus")  # before starting anything: fails under CI=true, else skips
    tmp = tmp_path_factory.mktemp("grafana-e2e")
    # 60 lines over two regions: the simulator's fleet mix covers every status from 40 lines.
    args = ["--seed", "5", "--connections", "60", "--regions", ",".join(REGIONS), "--no-lifecycle"]
    with start_simulator(args) as sim:
        # Throttled answers (the exporter retries them) for the throttling panels.
        _post_json(f"{sim.url}/_sim/faults", THROTTLE_FAULT)
        config = tmp / "exporter.yml"
        config.write_text(_exporter_config(sim.url))
        with (
            start_exporter(config) as exporter,
            start_prometheus(_prometheus_config(exporter.url), tmp) as prom,
        ):
            _wait_for_data(prom, sim.url)
            yield Stack(prom, exporter.url)


def _post_json(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status in (200, 201), response.status


def _wait_for_data(prom: Prometheus, simulator_url: str) -> None:
    prom.wait_for_targets_up(timeout=60)
    region_up = f'expressconnect_region_up{{job="{JOB}"}} == 1'
    prom.wait_until(
        lambda: len(prom.query(region_up)) == len(REGIONS), 60, "every region up in Prometheus"
    )
    firing = 'ALERTS{alertname=~"ExpressConnect.*", alertstate="firing"}'
    prom.wait_until(lambda: prom.query(firing), 60, "a firing ExpressConnect alert")
    # rate() needs two samples of every counter inside the window.
    prom.wait_until(
        lambda: (
            prom.query(f"rate(expressconnect_api_requests_total[{RATE_INTERVAL}])")
            and prom.query(f"rate(process_cpu_seconds_total[{RATE_INTERVAL}])")
        ),
        60,
        "two scrapes of the counters",
    )
    # A counter series born at its final value has a rate of 0, so throttle again once the
    # first throttled series is in Prometheus: now the rate is positive, as in ongoing throttling.
    throttled = f'expressconnect_api_requests_total{{code="{THROTTLE_FAULT["kind"]}"}}'
    prom.wait_until(lambda: prom.query(throttled), 60, "the throttled requests in Prometheus")
    _post_json(f"{simulator_url}/_sim/faults", THROTTLE_FAULT)
    prom.wait_until(
        lambda: prom.query(f"rate({throttled}[{RATE_INTERVAL}]) > 0"), 60, "throttling twice"
    )


def _escape(value: str) -> str:
    """Grafana's regex escaping of multi-value variables for the Prometheus data source."""
    return re.sub(r"([\\^$*+?.()|\[\]{}])", r"\\\\\1", value)


def _label_values(prom: Prometheus, query: str) -> list[str]:
    """Run a `label_values(selector, label)` variable query like Grafana (series match)."""
    match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip(), re.S)
    assert match, f"unsupported variable query {query!r}"
    selector, label = match.groups()
    params = urllib.parse.urlencode({"match[]": selector})
    url = f"{prom.url}/api/v1/label/{label}/values?{params}"
    values: list[str] = json.loads(http_get(url))["data"]
    return values


def _pick_connection(prom: Prometheus, candidates: list[str]) -> str:
    """A line with a redundant peer that is exported, an end time and an enabled time, so every
    panel of the detail dashboard has something to show."""
    rich = prom.query(
        'expressconnect_physical_connection_info{redundant_physical_connection_id!=""}\n'
        "and on (physical_connection_id)\n"
        "expressconnect_physical_connection_expiry_timestamp_seconds\n"
        "and on (physical_connection_id)\n"
        "expressconnect_physical_connection_enabled_timestamp_seconds"
    )
    exported = set(candidates)
    ids = sorted(
        s["metric"]["physical_connection_id"]
        for s in rich
        if s["metric"]["redundant_physical_connection_id"] in exported
    )
    assert ids, "no line with an exported redundant peer and an end time in the fleet"
    return ids[0]


def _resolve_variables(prom: Prometheus, board: dict[str, Any]) -> dict[str, str]:
    """Values for every variable, from the variables' own queries against the live data."""
    values = {"__rate_interval": RATE_INTERVAL, "__interval": "20s", "__range_s": "21600"}
    for variable in board["templating"]["list"]:
        name = variable["name"]
        if variable["type"] == "datasource":
            values[name] = "expressconnect-prometheus"
            continue
        assert variable["type"] == "query", name
        query = substitute(variable["query"]["query"], values)
        found = _label_values(prom, query)
        assert found, f"{board['title']}: variable ${name} ({query}) has no values"
        if name == "connection":
            values[name] = _pick_connection(prom, found)
        elif variable.get("multi") or variable.get("includeAll"):
            values[name] = "(" + "|".join(_escape(v) for v in found) + ")"
        else:
            values[name] = found[0]
    return values


def _run(prom: Prometheus, expr: str, is_range: bool) -> list[dict[str, Any]]:
    if not is_range:
        return prom.query(expr)
    end = time.time()
    params = urllib.parse.urlencode({"query": expr, "start": end - 300, "end": end, "step": "5"})
    try:
        payload = json.loads(http_get(f"{prom.url}/api/v1/query_range?{params}"))
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"query failed: {exc.read().decode()}") from None
    assert payload["status"] == "success", payload
    result: list[dict[str, Any]] = payload["data"]["result"]
    return result


def test_the_fleet_covers_every_status(stack: Stack) -> None:
    prom = stack.prometheus
    statuses = {
        s["metric"]["status"] for s in prom.query("expressconnect_physical_connection_status == 1")
    }
    business = {
        s["metric"]["business_status"]
        for s in prom.query("expressconnect_physical_connection_business_status == 1")
    }
    assert statuses == set(STATUSES)
    assert business == set(BUSINESS_STATUSES)


def _columns(results: dict[str, list[dict[str, Any]]]) -> set[str]:
    """The fields Grafana makes of instant table results: Time, the labels, and Value (one
    query) or Value #<refId> (several)."""
    columns = {"Value"} if len(results) == 1 else {f"Value #{ref}" for ref in results}
    columns.add("Time")
    for series in (s for result in results.values() for s in result):
        columns |= set(series["metric"])
    return columns


def _check_fields(panel: dict[str, Any], results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Labels the panel names (legends, the table columns it orders) exist in the results."""
    problems = []
    for target in panel["targets"]:
        wanted = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        for series in results.get(target["refId"], []):
            if missing := wanted - set(series["metric"]):
                problems.append(f"legend labels {missing} missing from {series['metric']}")
                break
    transformations = [t["id"] for t in panel.get("transformations", [])]
    if "organize" in transformations and "labelsToFields" not in transformations:
        organize = next(t for t in panel["transformations"] if t["id"] == "organize")
        if missing := set(organize["options"]["indexByName"]) - _columns(results):
            problems.append(f"table columns {missing} are not in the query results")
    return problems


@pytest.mark.parametrize(
    "name", ["fleet-overview.json", "connection-detail.json", "exporter-health.json"]
)
def test_every_panel_query_returns_data(stack: Stack, name: str) -> None:
    board = load_dashboards()[name]
    prom = stack.prometheus
    values = _resolve_variables(prom, board)
    failures = []
    for panel in query_panels(board):
        results = {}
        for target in panel["targets"]:
            expr = substitute(target["expr"], values)
            where = f"{panel['title']} [{target['refId']}]"
            try:
                results[target["refId"]] = _run(prom, expr, not target.get("instant", False))
            except AssertionError as exc:
                failures.append(f"{where}: {exc}")
                continue
            if not results[target["refId"]]:
                failures.append(f"{where}: no data for\n{expr}")
        failures += [f"{panel['title']}: {p}" for p in _check_fields(panel, results)]
    assert not failures, f"{board['title']}:\n" + "\n\n".join(failures)


def test_every_metric_name_is_in_the_live_exposition(stack: Stack) -> None:
    exposed = exposition_names(http_get(stack.exporter_url + "/metrics").decode())
    for name, board in load_dashboards().items():
        for panel, target in targets(board):
            unknown = metric_names(target["expr"]) - exposed - NON_EXPORTER_METRICS
            assert not unknown, f"{name} / {panel['title']}: {unknown}"


def test_throttled_requests_show_on_the_throttling_panel(stack: Stack) -> None:
    """The panel's code=~"Throttling.*" selector matches what the exporter counts."""
    board = load_dashboards()["exporter-health.json"]
    (panel,) = (p for p in query_panels(board) if p["title"] == "Throttled API requests")
    expr = substitute(panel["targets"][0]["expr"], _resolve_variables(stack.prometheus, board))
    values = [float(s["value"][1]) for s in stack.prometheus.query(expr)]
    assert values and max(values) > 0, values
