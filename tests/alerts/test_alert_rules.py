"""The alert rules, Prometheus and Alertmanager configs: generated file up to date, promtool and
amtool checks, the promtool unit tests (and proof that they catch a changed rule), and the
alert contract (prefix, severity, annotations, a runbook anchor for every alert)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import incident, resilience
from alerts.generate import ID, OUTPUT, _config, render
from exporter import regiontable, selfmetrics
from exporter.collectors import (
    failover_tests,
    health_checks,
    physical_connections,
    traffic,
    virtual_border_routers,
)
from tests.harness import require_binary

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "alerts" / "expressconnect.rules.yml"
HERE = Path(__file__).resolve().parent
# rules_days_test.yml runs on an hourly evaluation clock (days-long cases); the others on 1m.
UNIT_TESTS = (
    HERE / "rules_test.yml",
    HERE / "rules_days_test.yml",
    HERE / "rules_bgp_test.yml",
    HERE / "rules_traffic_test.yml",
    HERE / "rules_incident_test.yml",
    HERE / "rules_capacity_test.yml",
    HERE / "rules_resilience_test.yml",
)
RUNBOOKS = ROOT / "docs" / "runbooks.md"
PROMETHEUS_CONFIG = ROOT / "config" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "config" / "alertmanager.yml"


def run_tool(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run promtool/amtool; a non-zero exit fails the test with the tool's own output."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(argv)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}",
            pytrace=False,
        )
    return result


def alert_rules(path: Path = RULES) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def unit_cases() -> list[dict[str, Any]]:
    docs = [yaml.safe_load(path.read_text()) for path in UNIT_TESTS]
    return [
        case for doc in docs for test in doc["tests"] for case in test.get("alert_rule_test", [])
    ]


def test_committed_rules_are_the_generators_output() -> None:
    assert OUTPUT == RULES
    assert RULES.read_text() == render(), (
        "config/alerts/expressconnect.rules.yml differs from a fresh generation: "
        "run `python alerts/generate.py` and commit the result"
    )


def test_promtool_check_rules() -> None:
    promtool = require_binary("promtool")
    run_tool([promtool, "check", "rules", str(RULES)])


def test_promtool_unit_tests() -> None:
    promtool = require_binary("promtool")
    run_tool([promtool, "test", "rules", *map(str, UNIT_TESTS)])


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    firing = {c["alertname"] for c in unit_cases() if c.get("exp_alerts")}
    silent = {c["alertname"] for c in unit_cases() if not c.get("exp_alerts")}
    assert not names - firing, f"alerts without a firing unit test: {sorted(names - firing)}"
    assert not names - silent, f"alerts without a must-not-fire unit test: {sorted(names - silent)}"
    assert not (firing | silent) - names, "unit tests name alerts the rules do not have"


ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}


def test_firing_cases_pin_labels_and_annotations() -> None:
    for case in unit_cases():
        for alert in case.get("exp_alerts") or []:
            where = f"{case['alertname']} at {case['eval_time']}"
            assert alert.get("exp_labels", {}).get("severity"), where
            assert set(alert.get("exp_annotations", {})) == ANNOTATIONS, where


def test_alert_contract() -> None:
    runbook_anchors = {
        re.sub(r"[^a-z0-9_-]", "", line[3:].strip().lower().replace(" ", "-"))
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in alert_rules():
        name = rule["alert"]
        assert name.startswith("ExpressConnect"), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert set(rule["annotations"]) == ANNOTATIONS, name
        url = rule["annotations"]["runbook_url"]
        assert url == f"{_config['runbook_url']}#{name.lower()}", name
        assert name.lower() in runbook_anchors, f"docs/runbooks.md has no section {name}"
        for text in rule["annotations"].values():
            assert text.count("{{") == text.count("}}"), name


# Each mutation of the config changes one rule's behaviour at a boundary the unit tests check
# (in the named file); promtool must then fail. This proves the unit tests are not vacuous.
MUTATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "expiry warning two minutes wider": ({"expiry_warning_seconds": 30 * 86400 + 120}, ""),
    "expiry critical two minutes narrower": ({"expiry_critical_seconds": 7 * 86400 - 120}, ""),
    "financial lock without for": (
        {"for": {"ExpressConnectPhysicalConnectionFinancialLocked": "0m"}},
        "",
    ),
    "redundancy degraded sooner": ({"for": {"ExpressConnectRedundancyDegraded": "4m"}}, ""),
    "confirmation a minute sooner": ({"confirmed_max_seconds": 3540}, ""),
    "stuck a day sooner": ({"provisioning_max_seconds": 13 * 86400}, "rules_days_test.yml"),
    "no decommission exemption": ({"expected_termination_info_selector": ""}, ""),
    "shorter refresh interval": ({"refresh_interval_seconds": 240}, ""),
    "lower throttling threshold": ({"throttling_ratio": 0.04}, ""),
    "vanished kept longer": ({"vanished_window": "2h"}, ""),
    "other job name": ({"job_selector": 'job="other"'}, ""),
    "bgp session down sooner": (
        {"for": {"ExpressConnectBgpSessionDown": "4m"}},
        "rules_bgp_test.yml",
    ),
    "bgp pair down sooner": (
        {"for": {"ExpressConnectRedundantPairBgpDown": "1m"}},
        "rules_bgp_test.yml",
    ),
    "vbr not active sooner": ({"for": {"ExpressConnectVbrNotActive": "27m"}}, "rules_bgp_test.yml"),
    "route limit share higher": ({"bgp_route_limit_ratio": 0.81}, "rules_bgp_test.yml"),
    "bgp rules on another job": ({"job_selector": 'job="other"'}, "rules_bgp_test.yml"),
    "only some accounts": ({"connection_selector": 'account="other"'}, ""),
    "saturation warning share higher": (
        {"saturation_warning_ratio": 0.81},
        "rules_traffic_test.yml",
    ),
    "saturation critical share higher": (
        {"saturation_critical_ratio": 0.951},
        "rules_traffic_test.yml",
    ),
    "saturation critical sooner": (
        {"for": {"ExpressConnectLineSaturated:critical": "9m"}},
        "rules_traffic_test.yml",
    ),
    "drops sooner": (
        {"for": {"ExpressConnectVbrDroppingPackets": "14m"}},
        "rules_traffic_test.yml",
    ),
    "loss warning share higher": (
        {"health_check_loss_warning_ratio": 0.051},
        "rules_traffic_test.yml",
    ),
    "loss critical later": (
        {"for": {"ExpressConnectVbrHealthCheckLoss:critical": "4m"}},
        "rules_traffic_test.yml",
    ),
    "shorter cloudmonitor period": ({"cloudmonitor_period_seconds": 240}, "rules_traffic_test.yml"),
    "lower cloudmonitor quota": ({"cloudmonitor_monthly_calls": 860_000}, "rules_traffic_test.yml"),
    "traffic rules on another job": ({"job_selector": 'job="other"'}, "rules_traffic_test.yml"),
    "exporter down pages later": ({"for": {"ExpressConnectExporterDown": "11m"}}, ""),
    "exporter down as a warning": ({"exporter_down_severity": "warning"}, ""),
    "forecast threshold higher": ({"capacity_forecast_ratio": 0.97}, "rules_capacity_test.yml"),
    "forecast horizon shorter": ({"capacity_forecast_horizon": "7d"}, "rules_capacity_test.yml"),
    "dashboard elsewhere": ({"dashboard_url": "http://grafana.invalid"}, "rules_incident_test.yml"),
    "shorter failover test grace": (
        {"failover_test_grace": "29m"},
        "rules_resilience_test.yml",
    ),
    "failover tests may be older": (
        {"failover_test_max_age_seconds": 182 * 86400},
        "rules_resilience_test.yml",
    ),
    "never tested sooner": (
        {"failover_test_enabled_for_seconds": 9 * 86400},
        "rules_resilience_test.yml",
    ),
    "route parity sooner": (
        {"for": {"ExpressConnectRouteParity": "29m"}},
        "rules_resilience_test.yml",
    ),
    "same access point sooner": (
        {"for": {"ExpressConnectRedundantPairSameAccessPoint": "13m"}},
        "rules_resilience_test.yml",
    ),
    "resilience collectors counted in shorter intervals": (
        {"collector_interval_seconds": {"health_checks": 540, "failover_tests": 540}},
        "rules_resilience_test.yml",
    ),
    "lower availability loss threshold": (
        {"availability_loss_ratio": 0.05},
        "rules_resilience_test.yml",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_unit_tests_catch_a_changed_rule(mutation: str, tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    changes, test_file = MUTATIONS[mutation]
    config = copy.deepcopy(_config)
    for key, value in changes.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    mutated = render(config)
    assert mutated != render()
    rules = tmp_path / "config" / "alerts" / RULES.name
    rules.parent.mkdir(parents=True)
    rules.write_text(mutated)
    tests_dir = tmp_path / "tests" / "alerts"
    tests_dir.mkdir(parents=True)
    unit_test = tests_dir / (test_file or "rules_test.yml")
    shutil.copy(HERE / unit_test.name, unit_test)
    result = subprocess.run(
        [promtool, "test", "rules", str(unit_test)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0, f"unit tests still pass with mutation {mutation!r}"
    assert "FAILED" in result.stdout + result.stderr


PRODUCTION_TEST = HERE / "production_selector_test.yml"


def test_production_selector_pages_only_for_production_lines(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    config = copy.deepcopy(_config)
    config["production_info_selector"] = 'tag_env="prod"'
    (tmp_path / "rules.yml").write_text(render(config))
    run_tool([promtool, "check", "rules", str(tmp_path / "rules.yml")])
    shutil.copy(PRODUCTION_TEST, tmp_path / "test.yml")
    run_tool([promtool, "test", "rules", str(tmp_path / "test.yml")])


def test_promtool_check_prometheus_config() -> None:
    promtool = require_binary("promtool")
    result = run_tool([promtool, "check", "config", str(PROMETHEUS_CONFIG)])
    # The rule_files glob resolves to the committed rules (relative to the config file).
    assert "1 rule files found" in result.stdout + result.stderr
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert [job["job_name"] for job in config["scrape_configs"]] == ["expressconnect"]


def test_amtool_check_alertmanager_config() -> None:
    amtool = require_binary("amtool")
    run_tool([amtool, "check-config", str(ALERTMANAGER_CONFIG)])


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=ExpressConnectPhysicalConnectionDown"], "pager"),
        (["severity=warning", "alertname=ExpressConnectRegionDown"], "chat"),
        (["severity=info", "alertname=ExpressConnectSomething"], "chat"),
    ],
)
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    amtool = require_binary("amtool")
    result = run_tool(
        [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels]
    )
    assert result.stdout.split() == [receiver]


def collector_inhibit_rules(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The inhibit rules whose source is a collector's region alert."""
    return [
        rule
        for rule in config["inhibit_rules"]
        if any(m.startswith("collector=") for m in rule["source_matchers"])
    ]


def test_alertmanager_groups_and_inhibits_per_region() -> None:
    """A collector failing / its data stale in a region holds back exactly the alerts built on
    that collector's data in that region: one inhibit rule per collector."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    # One line is one incident (docs/runbooks.md, "Grouping and holding back").
    assert config["route"]["group_by"] == ["account", "region_id", "physical_connection_id"]
    groups = {g["name"]: g["rules"] for g in yaml.safe_load(RULES.read_text())["groups"]}

    def alerts_of(group: str) -> set[str]:
        return {r["alert"] for r in groups[group] if "alert" in r}

    held_back = {
        physical_connections.NAME: alerts_of("expressconnect.physical-connections"),
        virtual_border_routers.NAME: alerts_of("expressconnect.virtual-border-routers"),
        traffic.NAME: alerts_of("expressconnect.traffic") | alerts_of("expressconnect.capacity"),
    }
    names = set().union(*held_back.values()) | alerts_of("expressconnect.exporter")
    found = {}
    for rule in collector_inhibit_rules(config):
        assert rule["equal"] == ["account", "region_id"]
        alertnames, collector = rule["source_matchers"]
        source = re.fullmatch(r'alertname=~"(.+)"', alertnames)
        which = re.fullmatch(r'collector="(.+)"', collector)
        (target_matcher,) = rule["target_matchers"]
        target = re.fullmatch(r'alertname=~"(.+)"', target_matcher)
        assert source and which and target
        assert set(source.group(1).split("|")) == {
            "ExpressConnectRegionDown",
            "ExpressConnectDataStale",
        }
        found[which.group(1)] = {n for n in names if re.fullmatch(target.group(1), n)}
    assert found == held_back
    # The account-wide quota alert has no region: no region's failure holds it back.
    assert "ExpressConnectCloudMonitorQuota" in alerts_of("expressconnect.exporter")


def test_alertmanager_critical_holds_back_the_same_alerts_warning() -> None:
    """An alert raised as a warning and, past a higher threshold, as critical (saturation,
    health-check loss) goes to chat, then pages; while it pages, the warning for the same object
    and direction is held back. The only inhibit rule besides the per-collector ones."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    others = [r for r in config["inhibit_rules"] if r not in collector_inhibit_rules(config)]
    assert [r for r in others if r["source_matchers"] == ['severity="critical"']] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": [
                "alertname",
                "account",
                "region_id",
                "physical_connection_id",
                "vbr_id",
                "direction",
            ],
        }
    ]
    both = {
        rule["alert"]
        for rule in alert_rules()
        if rule["labels"]["severity"] == "critical"
        and any(
            r["alert"] == rule["alert"] and r["labels"]["severity"] == "warning"
            for r in alert_rules()
        )
    }
    assert both == {"ExpressConnectLineSaturated", "ExpressConnectVbrHealthCheckLoss"}


def test_inhibit_rules_name_shipped_alerts_and_line_alerts_carry_the_line() -> None:
    """Every alertname pattern of an inhibit rule matches a shipped alert (a typo would hold
    nothing back), a cause holds back only on labels its alerts carry, and every alert that
    joins the line's labels carries physical_connection_id (the grouping label)."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    names = {rule["alert"] for rule in alert_rules()}
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            found = re.fullmatch(r'alertname=~?"(.+)"', matcher)
            if found:
                assert any(re.fullmatch(found.group(1), n) for n in names), matcher
    for rule in alert_rules():
        if "group_left(name, circuit_code" in rule["expr"]:
            assert "physical_connection_id" in rule["expr"], rule["alert"]
            # ... and links the line's dashboard with the line selected, like every line alert.
            link = rule["annotations"]["dashboard_url"]
            assert "/d/expressconnect-connection?" in link, rule["alert"]
            assert "var-connection={{ $labels.physical_connection_id }}" in link, rule["alert"]


def test_rules_name_only_the_exporters_metrics() -> None:
    """Every metric a rule selects is one the exporter defines (so a renamed family fails here,
    not silently in production), and every VBR/BGP family the alerts need is used."""
    modules = (
        physical_connections,
        virtual_border_routers,
        traffic,
        health_checks,
        failover_tests,
        regiontable,
        selfmetrics,
    )
    defined = {
        value
        for module in modules
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and value.startswith("expressconnect_")
    }
    used = set(re.findall(r"\b(expressconnect_[a-z_]+)", RULES.read_text()))
    assert used, "no exporter metric in the rules"
    assert used <= defined, f"metrics no exporter module defines: {sorted(used - defined)}"
    assert {
        virtual_border_routers.VBR_INFO,
        virtual_border_routers.VBR_STATUS,
        virtual_border_routers.BGP_STATUS,
        virtual_border_routers.BGP_PEER_STATUS,
        virtual_border_routers.BGP_RECEIVED,
        virtual_border_routers.BGP_ROUTE_LIMIT,
        virtual_border_routers.VBR_BANDWIDTH,
        physical_connections.BANDWIDTH,
        traffic.TRAFFIC,
        traffic.DROPPED,
        traffic.HEALTH_LOSS,
        traffic.SAMPLE_TIME,
    } <= used


def failover_inhibit_rules(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The inhibit rules whose source is a failover test running on a line."""
    return [
        rule
        for rule in config["inhibit_rules"]
        if rule["source_matchers"] == ['alertname="ExpressConnectFailoverTestRunning"']
    ]


def test_a_failover_test_holds_back_exactly_its_lines_own_alerts() -> None:
    """While a failover test covers a line, that line's down, BGP, traffic and health-check
    alerts are held back (same account, region and line), and nothing pair-wide: a test on one
    leg while the other is down still pages."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    (rule,) = failover_inhibit_rules(config)
    assert rule["equal"] == ["account", "region_id", "physical_connection_id"]
    (target_matcher,) = rule["target_matchers"]
    target = re.fullmatch(r'alertname=~"(.+)"', target_matcher)
    assert target
    rules = alert_rules()
    names = {r["alert"] for r in rules}
    held = {n for n in names if re.fullmatch(target.group(1), n)}
    assert held == set(resilience.HELD_BACK)
    assert not held & {"ExpressConnectRedundancyLost", "ExpressConnectRedundantPairBgpDown"}
    # Every held-back alert carries the line's ID, so the inhibition can match it.
    by_name = {r["alert"]: r for r in rules}
    running = by_name["ExpressConnectFailoverTestRunning"]
    assert running["labels"]["severity"] == "info"
    # Every held-back alert joins the line's labels on the line's ID (generate.with_name).
    joined = f"* on({ID}) group_left({', '.join((*incident.LINE_LABELS, incident.PAIR_LABEL))})"
    for name in held:
        assert joined in by_name[name]["expr"], name


def test_alertmanager_routes_a_held_back_page_and_the_test_alert() -> None:
    amtool = require_binary("amtool")
    for labels, receiver in (
        (["severity=info", "alertname=ExpressConnectFailoverTestRunning"], "chat"),
        (["severity=critical", "alertname=ExpressConnectBgpSessionDown"], "pager"),
    ):
        result = run_tool(
            [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels]
        )
        assert result.stdout.split() == [receiver]
