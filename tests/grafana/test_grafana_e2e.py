"""Every panel query of every committed dashboard returns data from a real Prometheus.

Stack: the simulator (a fleet in which every status and business status occurs; one BGP session
of the detail line down, and both lines of one redundant pair without an Established session;
one VBR of the detail line at 97 % utilisation, so dropping packets, and one VBR of another line
losing health-check probes) → the exporter (the line and VBR collectors refresh every second,
traffic every few seconds) → Debian's Prometheus (scrape and rule
evaluation every second, with the committed alert rules loaded so ExpressConnect alerts fire).
Template variables are resolved the way Grafana does it: each query variable's own
`label_values(...)` query is sent to Prometheus and must return values; multi-value variables
are substituted as the regex of every value. Then each target's expr is sent as Grafana would
send it (instant or range query): a parse error or an empty result fails the test, naming the
dashboard, panel and query.
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

from alerts.builder import LINE_UTILISATION
from alerts.builder import LINE_UTILISATION_P95 as LINE_P95
from alerts.generate import _config as alert_defaults
from alerts.resilience import LINE_AVAILABILITY, PAIR_AVAILABILITY
from exporter.collectors import (
    failover_tests,
    health_checks,
    physical_connections,
    traffic,
    virtual_border_routers,
)
from exporter.collectors.physical_connections import ENABLED, EXPIRY, INFO
from exporter.collectors.traffic import DROPPED, HEALTH_LOSS, TRAFFIC
from exporter.collectors.virtual_border_routers import BGP_STATUS, VBR_INFO
from exporter.regiontable import REGION_UP
from exporter.simulator.lines.lifecycle import parse_time
from promql.fragments import CAPACITY_RATIO, CAPACITY_TREND_WINDOW, DAY
from tests.grafana.grafana_testlib import (
    DASHBOARD_FILES,
    ROOT,
    exposition_names,
    load_dashboards,
    metric_names,
    query_panels,
    recorded_names,
    substitute,
    targets,
)
from tests.harness import (
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
# The collectors the dashboards show; the exporter runs exactly these (all of them are on by
# default, the resilience ones included).
COLLECTORS = (
    physical_connections.NAME,
    virtual_border_routers.NAME,
    traffic.NAME,
    health_checks.NAME,
    failover_tests.NAME,
)
# CloudMonitor publishes a point a minute; a short traffic interval only makes the first pass
# (and a pass skipped while the VBR inventory was not ready yet) come round soon.
TRAFFIC_INTERVAL = "5s"
SATURATED_PERCENT = 97
RISING_PERCENTS = (20, 40, 60)
LOSS_PERCENT = 2.5
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
class Arranged:
    """What the fixture changed in the simulator so that every BGP panel has something to show.

    ``connection``: the detail dashboard's line (a redundant pair member with two sessions, one
    of them ``down_peer``); ``pair_at_risk``: both lines of another pair, every session of both
    set to Active (not Established).
    """

    connection: str
    partner: str
    down_peer: str
    pair_at_risk: tuple[str, str]
    risk_peers: tuple[str, ...]


@dataclass(frozen=True)
class Traffic:
    """What the fixture forced in CloudMonitor: ``saturated`` (a VBR of the detail line, with a
    health check) at 97 % utilisation both ways, so it drops packets; ``lossy`` (a VBR of
    ``lossy_line``, another Enabled line) losing 2.5 % of its health-check probes."""

    saturated: str
    lossy: str
    lossy_line: str


@dataclass(frozen=True)
class Resilience:
    """What the fixture set up for the resilience dashboard on the detail line's pair: a
    failover test of both legs that ``stopped`` 40 days ago (job ``drill``), a probe-only health
    check on VBR ``probe_only`` of the partner, and HA group ``ha_group`` over a VBR of each leg;
    and ``rising``, a line whose utilisation the fixture raises step by step so that its p95
    trends towards full (the capacity forecast)."""

    drill: str
    probe_only: str
    ha_group: str
    rising: str


@dataclass(frozen=True)
class Stack:
    prometheus: Prometheus
    simulator_url: str
    exporter_url: str
    arranged: Arranged
    traffic: Traffic
    resilience: Resilience


def _exporter_config(simulator_url: str) -> str:
    return f"""
refresh:
  interval: 1s
  timeout: 1s
api:
  endpoint: {simulator_url}
  max_requests_per_second: 50
  cms_max_requests_per_second: 50
  request_timeout: 1s
collectors:
  virtual_border_routers:
    interval: 1s
  traffic:
    interval: {TRAFFIC_INTERVAL}
  health_checks:
    interval: 1s
  failover_tests:
    interval: 1s
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
        arranged = _arrange_bgp(sim.url)
        forced = _arrange_traffic(sim.url, arranged)
        resilient = _arrange_resilience(sim.url, arranged, forced)
        config = tmp / "exporter.yml"
        config.write_text(_exporter_config(sim.url))
        with (
            start_exporter(config) as exporter,
            start_prometheus(_prometheus_config(exporter.url), tmp) as prom,
        ):
            _wait_for_data(prom, sim.url, arranged)
            _wait_for_traffic(prom, forced)
            _wait_for_resilience(prom, resilient)
            _raise_utilisation(prom, sim.url, resilient.rising)
            yield Stack(prom, sim.url, exporter.url, arranged, forced, resilient)


def _post_json(url: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status in (200, 201), response.status
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


def _get_json(url: str) -> Any:
    return json.loads(http_get(url))


def _sessions_by_line(simulator_url: str) -> dict[str, list[str]]:
    """Line id → the ids of the BGP peers on its VBRs (sorted)."""
    line_of_vbr = {
        item["vbr"]["VbrId"]: item["vbr"]["PhysicalConnectionId"]
        for item in _get_json(f"{simulator_url}/_sim/vbrs")
    }
    sessions: dict[str, list[str]] = {}
    for item in _get_json(f"{simulator_url}/_sim/bgp-peers"):
        line = line_of_vbr[item["peer"]["RouterId"]]
        sessions.setdefault(line, []).append(item["peer"]["BgpPeerId"])
    return {line: sorted(peers) for line, peers in sessions.items()}


def _healthy_pairs(simulator_url: str, sessions: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Redundant pairs (each line naming the other) of Enabled, unlocked lines that both have
    BGP sessions, sorted."""
    lines = {
        item["connection"]["PhysicalConnectionId"]: item["connection"]
        for item in _get_json(f"{simulator_url}/_sim/connections")
    }
    pairs = set()
    for line_id, line in lines.items():
        partner = lines.get(line.get("RedundantPhysicalConnectionId") or "")
        if (
            partner is not None
            and partner.get("RedundantPhysicalConnectionId") == line_id
            and all(x["Status"] == "Enabled" for x in (line, partner))
            and all(x["BusinessStatus"] == "Normal" for x in (line, partner))
            and line_id in sessions
            and partner["PhysicalConnectionId"] in sessions
        ):
            first, second = sorted((line_id, partner["PhysicalConnectionId"]))
            pairs.add((first, second))
    return sorted(pairs)


def _set_peer(simulator_url: str, peer: str, status: str) -> None:
    _post_json(f"{simulator_url}/_sim/bgp-peers/{peer}", {"BgpStatus": status}, "PATCH")


def _arrange_bgp(simulator_url: str) -> Arranged:
    """Take one session of a line with two down, and every session of another pair."""
    sessions = _sessions_by_line(simulator_url)
    pairs = _healthy_pairs(simulator_url, sessions)
    detail = next((pair for pair in pairs if len(sessions[pair[0]]) >= 2), None)
    assert detail is not None, f"no redundant pair with two sessions on a line: {pairs}"
    at_risk = next((pair for pair in pairs if pair != detail), None)
    assert at_risk is not None, f"only one healthy redundant pair in the fleet: {pairs}"
    connection, down_peer = detail[0], sessions[detail[0]][0]
    _set_peer(simulator_url, down_peer, "Down")
    risk_peers = tuple(peer for line in at_risk for peer in sessions[line])
    for peer in risk_peers:
        _set_peer(simulator_url, peer, "Active")
    return Arranged(connection, detail[1], down_peer, at_risk, risk_peers)


def _vbrs_of(simulator_url: str, line: str) -> list[dict[str, Any]]:
    """The simulator's VBRs of one line (with ``health_check``), in id order."""
    query = urllib.parse.urlencode({"connection": line})
    items: list[dict[str, Any]] = _get_json(f"{simulator_url}/_sim/vbrs?{query}")
    return sorted(items, key=lambda item: str(item["vbr"]["VbrId"]))


def _force_metrics(simulator_url: str, vbr_id: str, metrics: dict[str, float]) -> None:
    """Give the VBR a health check (loss and latency need one), then force its figures."""
    _post_json(f"{simulator_url}/_sim/vbrs/{vbr_id}", {"health_check": True}, "PATCH")
    _post_json(f"{simulator_url}/_sim/vbrs/{vbr_id}/metrics", metrics, "PATCH")


def _arrange_traffic(simulator_url: str, arranged: Arranged) -> Traffic:
    """Saturate a VBR of the detail line; make a VBR of a healthy line lose probes."""
    active = [
        item["vbr"]["VbrId"]
        for item in _vbrs_of(simulator_url, arranged.connection)
        if item["vbr"]["Status"] == "active" and not item["vbr"].get("Bandwidth")
    ]
    assert active, f"no active VBR on the line's own bandwidth on {arranged.connection}"
    saturated = active[0]
    _force_metrics(simulator_url, saturated, {"utilisation": SATURATED_PERCENT})
    healthy = _healthy_pairs(simulator_url, _sessions_by_line(simulator_url))
    taken = {arranged.connection, *arranged.pair_at_risk}
    candidates = [
        (line, item["vbr"]["VbrId"])
        for line in sorted({line for pair in healthy for line in pair} - taken)
        for item in _vbrs_of(simulator_url, line)
        if item["vbr"]["Status"] == "active"
    ]
    assert candidates, f"no active VBR on a healthy line outside {sorted(taken)}"
    lossy_line, lossy = candidates[0]
    _force_metrics(simulator_url, lossy, {"loss": LOSS_PERCENT})
    return Traffic(saturated, lossy, lossy_line)


def _active_vbr(simulator_url: str, line: str) -> str:
    """The first active VBR of a line on the line's own bandwidth."""
    active = [
        item["vbr"]["VbrId"]
        for item in _vbrs_of(simulator_url, line)
        if item["vbr"]["Status"] == "active" and not item["vbr"].get("Bandwidth")
    ]
    assert active, f"no active VBR on the line's own bandwidth on {line}"
    return str(active[0])


def _arrange_resilience(simulator_url: str, arranged: Arranged, forced: Traffic) -> Resilience:
    """A finished failover test of the detail pair, a probe-only check on the partner, an HA
    group over the pair (unless one exists), and a line to make busier (not yet)."""
    legs = [arranged.connection, arranged.partner]
    drill = _post_json(
        f"{simulator_url}/_sim/failover-tests",
        {"connections": legs, "name": "e2e-drill", "start_time": "now-41d", "stop_time": "now-40d"},
    )
    probe_only = _active_vbr(simulator_url, arranged.partner)
    _post_json(
        f"{simulator_url}/_sim/health-checks/{probe_only}", {"HealthCheckOnly": True}, "PATCH"
    )
    vbrs = {_active_vbr(simulator_url, line) for line in legs}
    groups = [
        item["group"]
        for item in _get_json(f"{simulator_url}/_sim/vbr-ha")
        if {item["group"]["VbrId"], item["group"]["PeerVbrId"]} & vbrs
    ]
    if groups:
        ha_group = str(groups[0]["VbrHaId"])
    else:
        first, second = (_active_vbr(simulator_url, line) for line in legs)
        body = {"vbr": first, "peer_vbr": second, "status": "Active", "name": "e2e-ha"}
        ha_group = str(_post_json(f"{simulator_url}/_sim/vbr-ha", body)["id"])
    taken = {*legs, *arranged.pair_at_risk, forced.lossy_line}
    lines = sorted(
        item["connection"]["PhysicalConnectionId"]
        for item in _get_json(f"{simulator_url}/_sim/connections")
        if item["connection"]["Status"] == "Enabled"
        and item["connection"]["BusinessStatus"] == "Normal"
        and item["connection"].get("CircuitCode")  # the forecast table shows it
    )
    rising = next(line for line in lines if line not in taken and _has_own_vbr(simulator_url, line))
    return Resilience(str(drill["id"]), probe_only, ha_group, rising)


def _has_own_vbr(simulator_url: str, line: str) -> bool:
    return any(
        item["vbr"]["Status"] == "active" and not item["vbr"].get("Bandwidth")
        for item in _vbrs_of(simulator_url, line)
    )


def _wait_for_resilience(prom: Prometheus, resilient: Resilience) -> None:
    """The resilience collectors have published what the fixture set up."""
    tested = f'{failover_tests.TEST_STOP}{{job_id="{resilient.drill}"}}'
    prom.wait_until(lambda: prom.query(tested), 60, "the finished failover test")
    probe = f'{health_checks.SWITCHES_ROUTES}{{vbr_id="{resilient.probe_only}"}} == 0'
    prom.wait_until(lambda: prom.query(probe), 60, "the probe-only health check")
    group = f'{failover_tests.HA_INFO}{{vbr_ha_id="{resilient.ha_group}"}}'
    prom.wait_until(lambda: prom.query(group), 60, "the pair's HA group")
    available = f"count({LINE_AVAILABILITY}) and count({PAIR_AVAILABILITY})"
    prom.wait_until(lambda: prom.query(available), 60, "the availability records")


def _raise_utilisation(prom: Prometheus, simulator_url: str, line: str) -> None:
    """Force the line's VBR to 20, 40 then 60 % of the line, each step seen in Prometheus: the
    line's p95 utilisation rises, so the forecast gives it a (short) time until full."""
    vbr_id = _active_vbr(simulator_url, line)
    utilisation = f'min({LINE_UTILISATION}{{physical_connection_id="{line}"}})'
    for percent in RISING_PERCENTS:
        _force_metrics(simulator_url, vbr_id, {"utilisation": percent})
        reached = f"{utilisation} >= {percent / 100}"
        prom.wait_until(lambda q=reached: prom.query(q), 60, f"{line} at {percent} %")
    rising = f'deriv({LINE_P95}{{physical_connection_id="{line}"}}[{CAPACITY_TREND_WINDOW}]) > 0'
    prom.wait_until(lambda: prom.query(rising), 60, f"the p95 utilisation of {line} rising")


def _wait_for_traffic(prom: Prometheus, forced: Traffic) -> None:
    """The forced figures have reached Prometheus through the traffic collector."""
    drops = f'{DROPPED}{{vbr_id="{forced.saturated}"}} > 0'
    prom.wait_until(lambda: len(prom.query(drops)) == 2, 60, "the saturated VBR dropping")
    loss = f'{HEALTH_LOSS}{{vbr_id="{forced.lossy}"}} >= {LOSS_PERCENT / 100}'
    prom.wait_until(lambda: prom.query(loss), 60, "the lossy VBR losing probes")


def _wait_for_data(prom: Prometheus, simulator_url: str, arranged: Arranged) -> None:
    prom.wait_for_targets_up(timeout=60)
    region_up = f'{REGION_UP}{{job="{JOB}"}} == 1'
    keys = len(REGIONS) * len(COLLECTORS)
    prom.wait_until(
        lambda: len(prom.query(region_up)) == keys, 60, "every region of every collector up"
    )
    down = f'{BGP_STATUS}{{bgp_peer_id="{arranged.down_peer}", bgp_status="Down"}} == 1'
    prom.wait_until(lambda: prom.query(down), 60, "the arranged BGP session down")
    risk = "|".join(arranged.risk_peers)
    active = f'{BGP_STATUS}{{bgp_peer_id=~"{risk}", bgp_status="Active"}} == 1'
    prom.wait_until(
        lambda: len(prom.query(active)) == len(arranged.risk_peers),
        60,
        "every session of the pair at risk Active",
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


def _check_connection(prom: Prometheus, candidates: list[str], connection: str) -> str:
    """The arranged line is offered by the variable and has a redundant peer that is exported,
    an end time and an enabled time, so every panel of the detail dashboard has something to
    show."""
    assert connection in candidates, f"{connection} is not offered by $connection"
    rich = prom.query(
        f'{INFO}{{physical_connection_id="{connection}", redundant_physical_connection_id!=""}}\n'
        f"and on (physical_connection_id)\n{EXPIRY}\n"
        f"and on (physical_connection_id)\n{ENABLED}"
    )
    assert rich, f"{connection} lacks a redundant peer, an end time or an enabled time"
    assert rich[0]["metric"]["redundant_physical_connection_id"] in candidates
    return connection


def _resolve_variables(stack: Stack, board: dict[str, Any]) -> dict[str, str]:
    """Values for every variable, from the variables' own queries against the live data."""
    prom = stack.prometheus
    values = {
        "__rate_interval": RATE_INTERVAL,
        "__interval": "20s",
        "__range": "6h",
        "__range_s": "21600",
    }
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
            values[name] = _check_connection(prom, found, stack.arranged.connection)
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


@pytest.mark.parametrize("name", DASHBOARD_FILES)
def test_every_panel_query_returns_data(stack: Stack, name: str) -> None:
    board = load_dashboards()[name]
    prom = stack.prometheus
    values = _resolve_variables(stack, board)
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
    recorded = recorded_names()
    for name, board in load_dashboards().items():
        for panel, target in targets(board):
            unknown = metric_names(target["expr"]) - exposed - NON_EXPORTER_METRICS - recorded
            assert not unknown, f"{name} / {panel['title']}: {unknown}"


def test_throttled_requests_show_on_the_throttling_panel(stack: Stack) -> None:
    """The panel's code=~"Throttling.*" selector matches what the exporter counts."""
    board = load_dashboards()["exporter-health.json"]
    (panel,) = (p for p in query_panels(board) if p["title"] == "Throttled API requests")
    expr = substitute(panel["targets"][0]["expr"], _resolve_variables(stack, board))
    values = [float(s["value"][1]) for s in stack.prometheus.query(expr)]
    assert values and max(values) > 0, values


def _panel_rows(stack: Stack, name: str, title: str, ref: str = "A") -> list[dict[str, str]]:
    """The label sets one instant target of a panel returns, as the dashboard would ask."""
    board = load_dashboards()[name]
    (panel,) = (p for p in query_panels(board) if p["title"] == title and p["type"] == "table")
    (target,) = (t for t in panel["targets"] if t["refId"] == ref)
    expr = substitute(target["expr"], _resolve_variables(stack, board))
    return [series["metric"] for series in stack.prometheus.query(expr)]


def test_pairs_at_risk_are_exactly_the_pair_without_an_established_session(stack: Stack) -> None:
    """In the generated fleet every pair has an Established session somewhere, except the one
    the fixture took down; a pair with one line down (the detail line's) is not at risk."""
    rows = _panel_rows(stack, "fleet-overview.json", "Redundant pairs at risk")
    pair = stack.arranged.pair_at_risk
    assert {(r["physical_connection_id"], r["redundant_physical_connection_id"]) for r in rows} == {
        pair,
        pair[::-1],
    }


def test_lines_and_sessions_without_established(stack: Stack) -> None:
    arranged = stack.arranged
    lines = _panel_rows(
        stack, "fleet-overview.json", "Enabled lines without an Established session"
    )
    ids = {row["physical_connection_id"] for row in lines}
    assert set(arranged.pair_at_risk) <= ids
    assert arranged.connection not in ids  # one of its two sessions is still Established
    sessions = _panel_rows(stack, "fleet-overview.json", "BGP sessions not Established")
    by_peer = {row["bgp_peer_id"]: row for row in sessions}
    assert by_peer[arranged.down_peer]["bgp_status"] == "Down"
    assert by_peer[arranged.down_peer]["physical_connection_id"] == arranged.connection
    assert {by_peer[peer]["bgp_status"] for peer in arranged.risk_peers} == {"Active"}
    assert all(row["bgp_status"] != "Established" for row in sessions)


def test_connection_detail_shows_the_lines_sessions(stack: Stack) -> None:
    states = _panel_rows(stack, "connection-detail.json", "BGP sessions", "B")
    by_peer = {row["bgp_peer_id"]: row["bgp_status"] for row in states}
    assert by_peer[stack.arranged.down_peer] == "Down"
    assert "Established" in by_peer.values()
    vbrs = _panel_rows(stack, "connection-detail.json", "Virtual border routers")
    assert vbrs and all(row["vbr_id"].startswith("vbr-") for row in vbrs)


def test_region_health_rows_per_collector(stack: Stack) -> None:
    rows = _panel_rows(stack, "exporter-health.json", "Regions")
    assert {(r["region_id"], r["collector"]) for r in rows} == {
        (region, collector) for region in REGIONS for collector in COLLECTORS
    }
    objects = _panel_rows(stack, "exporter-health.json", "Regions", "D")
    assert {r["collector"] for r in objects} == set(COLLECTORS)


def test_traffic_panels_show_the_forced_lines(stack: Stack) -> None:
    """The saturated line is among the most utilised and dropping, the lossy one loses probes."""
    line, forced = stack.arranged.connection, stack.traffic
    fleet = "fleet-overview.json"
    top = {
        row["physical_connection_id"] for row in _panel_rows(stack, fleet, "Most utilised lines")
    }
    assert line in top
    dropping = _panel_rows(stack, fleet, "Lines dropping packets")
    assert {row["direction"] for row in dropping if row["physical_connection_id"] == line} == {
        traffic.IDC_TO_VPC,
        traffic.VPC_TO_IDC,
    }
    lossy = {
        row["physical_connection_id"]
        for row in _panel_rows(stack, fleet, "Lines losing health-check probes")
    }
    assert forced.lossy_line in lossy


def _stat(stack: Stack, title: str) -> dict[str, float]:
    """Direction → value of a stat of the detail dashboard, asked as the dashboard would."""
    board = load_dashboards()["connection-detail.json"]
    (panel,) = (p for p in query_panels(board) if p["title"] == title and p["type"] == "stat")
    expr = substitute(panel["targets"][0]["expr"], _resolve_variables(stack, board))
    return {s["metric"]["direction"]: float(s["value"][1]) for s in stack.prometheus.query(expr)}


def test_connection_detail_utilisation_and_bits(stack: Stack) -> None:
    """The line's utilisation counts the saturated VBR (97 % of the line's bandwidth at least,
    per direction), and traffic is shown in bits: 8 x the bytes the exporter serves."""
    shares = _stat(stack, "Utilisation now")
    assert set(shares) == {traffic.IDC_TO_VPC, traffic.VPC_TO_IDC}
    assert all(value >= SATURATED_PERCENT / 100 * 0.9 for value in shares.values()), shares
    line_bytes = stack.prometheus.query(
        f"sum by (direction) ({TRAFFIC} and on (vbr_id) "
        f'{VBR_INFO}{{physical_connection_id="{stack.arranged.connection}"}})'
    )
    expected = {s["metric"]["direction"]: 8 * float(s["value"][1]) for s in line_bytes}
    assert _stat(stack, "Traffic now") == pytest.approx(expected)


RESILIENCE = "resilience.json"


def _series(stack: Stack, name: str, title: str, ref: str = "A") -> list[dict[str, Any]]:
    """What one instant target of a panel (any type) returns, as the dashboard would ask."""
    board = load_dashboards()[name]
    (panel,) = (p for p in query_panels(board) if p["title"] == title)
    (target,) = (t for t in panel["targets"] if t["refId"] == ref)
    assert target.get("instant"), f"{title} [{ref}] is not an instant query"
    return stack.prometheus.query(substitute(target["expr"], _resolve_variables(stack, board)))


def test_pair_risks_name_the_arranged_faults(stack: Stack) -> None:
    """The pair without an Established session is unavailable on both lines; the partner with
    the probe-only check has a VBR that does not fail over; the pair tested 40 days ago is
    neither untested nor overdue, and its selected line (one session up) is available."""
    arranged = stack.arranged
    rows = _panel_rows(stack, RESILIENCE, "Risks to redundant pairs")
    risks = {(row["physical_connection_id"], row["risk"]) for row in rows}
    for line in arranged.pair_at_risk:
        assert (line, "line not available now") in risks
    assert (arranged.partner, "a VBR does not fail over by itself") in risks
    for line in (arranged.connection, arranged.partner):
        assert (line, "never failover-tested") not in risks
        assert (line, "not failover-tested for 180 days") not in risks
    assert (arranged.connection, "line not available now") not in risks
    partner = {row["physical_connection_id"]: row["partner_physical_connection_id"] for row in rows}
    assert partner[arranged.partner] == arranged.connection


def test_vbrs_without_failover_are_the_simulators(stack: Stack) -> None:
    """Exactly the simulator's active VBRs without a health check, and those whose check is
    probe-only (the arranged one among them)."""
    vbrs = _get_json(f"{stack.simulator_url}/_sim/vbrs")
    checks = _get_json(f"{stack.simulator_url}/_sim/health-checks")
    active = {item["vbr"]["VbrId"] for item in vbrs if item["vbr"]["Status"] == "active"}
    expected = {
        **{
            vbr: "no health check"
            for vbr in active - {c["health_check"]["VbrInstanceId"] for c in checks}
        },
        **{
            c["health_check"]["VbrInstanceId"]: "probe-only health check"
            for c in checks
            if c["health_check"].get("HealthCheckOnly")
            and c["health_check"]["VbrInstanceId"] in active
        },
    }
    rows = _panel_rows(stack, RESILIENCE, "VBRs that do not fail over by themselves")
    assert {row["vbr_id"]: row["reason"] for row in rows} == expected
    assert expected[stack.resilience.probe_only] == "probe-only health check"


def test_the_pair_section_shows_both_legs(stack: Stack) -> None:
    arranged, arranged_resilience = stack.arranged, stack.resilience
    legs = _panel_rows(stack, RESILIENCE, "Legs")
    assert {row["physical_connection_id"]: row["leg"] for row in legs} == {
        arranged.connection: "selected line",
        arranged.partner: "redundant partner",
    }
    tests = _panel_rows(stack, RESILIENCE, "Failover tests of the pair")
    assert {
        (row["physical_connection_id"], row["status"])
        for row in tests
        if row["job_id"] == arranged_resilience.drill
    } == {(arranged.connection, "Stopped"), (arranged.partner, "Stopped")}
    groups = _panel_rows(stack, RESILIENCE, "VBR HA groups of the pair")
    assert arranged_resilience.ha_group in {row["vbr_ha_id"] for row in groups}
    switches = {
        s["metric"]["vbr_id"]: float(s["value"][1])
        for s in _series(stack, RESILIENCE, "Health checks of the pair's VBRs", "C")
    }
    assert switches[arranged_resilience.probe_only] == 0
    # The newest Stopped job of either leg, by the simulator (the drill, 41 days ago, stopped
    # at its planned end an hour later, unless the simulator tested the pair since).
    stops = [
        parse_time(item["job"]["StopTime"])
        for line in (arranged.connection, arranged.partner)
        for item in _get_json(f"{stack.simulator_url}/_sim/failover-tests?connection={line}")
        if item["job"]["Status"] == "Stopped"
    ]
    newest = max(stop for stop in stops if stop is not None)
    ((age,),) = [[float(s["value"][1])] for s in _series(stack, RESILIENCE, "Last failover test")]
    assert abs(age - (time.time() - newest)) < 120, (age, time.time() - newest)
    (availability,) = _series(stack, RESILIENCE, "Pair availability (30d)")
    assert 0 < float(availability["value"][1]) <= 1


def test_days_until_full_lists_the_rising_line_as_the_forecast_alert_sees_it(stack: Stack) -> None:
    """The line made busier step by step is listed; every listed line is rising and below full;
    the saturated line (past 95 %) is not; and the alert's own condition, predict_linear over
    the forecast horizon, holds for a line exactly when its days are within that horizon."""
    assert alert_defaults["capacity_forecast_ratio"] == CAPACITY_RATIO
    assert alert_defaults["capacity_p95_window"] == CAPACITY_TREND_WINDOW
    rows = _series(stack, "fleet-overview.json", "Lines by days until full")
    days = {row["metric"]["physical_connection_id"]: float(row["value"][1]) for row in rows}
    assert stack.resilience.rising in days
    assert all(0 < value < 3650 for value in days.values()), days
    assert stack.arranged.connection not in days
    (rising,) = (
        row for row in rows if row["metric"]["physical_connection_id"] == stack.resilience.rising
    )
    assert rising["metric"]["circuit_code"]  # the fixture chose a line with one
    horizon = alert_defaults["capacity_forecast_horizon"]
    assert horizon.endswith("d")
    alert = (
        f"max by (physical_connection_id) (predict_linear({LINE_P95}[{CAPACITY_TREND_WINDOW}], "
        f"{int(horizon[:-1]) * DAY}) >= {CAPACITY_RATIO})"
    )
    warned = {s["metric"]["physical_connection_id"] for s in stack.prometheus.query(alert)}
    assert {line for line, value in days.items() if value <= int(horizon[:-1])} <= warned
