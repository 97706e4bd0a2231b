"""Generate the Prometheus alerting rules for expressconnect-exporter.

Like a monitoring mixin: every threshold, ``for`` duration and selector lives in ``_config`` and
the rules are built from it, so a site with other conventions changes a value here (or passes
its own dict to ``render``) instead of hand-editing PromQL. The default output is committed as
``config/alerts/expressconnect.rules.yml``; a test fails when it differs from a fresh run.

    python alerts/generate.py            # rewrite the committed file
    python alerts/generate.py --check    # exit 1 if the committed file is out of date
    python alerts/generate.py --stdout   # print instead of writing

Definitions the rules share (see docs/runbooks.md for the on-call view):

* *was Enabled*: the API gave the line an ``EnabledTime`` (the
  ``..._enabled_timestamp_seconds`` series exists; the API only sets it once a line has been
  Enabled), or Prometheus saw its ``status="Enabled"`` state within ``was_enabled_window``.
* *down*: was Enabled and its status is not ``Enabled`` now (this includes Terminating and
  Terminated). A line that never got past provisioning (``Initial``, ``Approved``, ...) is never
  down: it has not carried traffic yet.
* *partner*: the other leg of a redundant pair, from ``redundant_physical_connection_id`` on the
  ``_info`` metric in either direction (the API may set it on one leg only).
* *BGP session*: a BGP peer whose configuration is ``Available``, on an ``active`` VBR whose
  physical connection (``physical_connection_id`` on the VBR's ``_info``, same account and
  region) is ``Enabled`` with business status ``Normal``. Sessions on a line being terminated,
  locked or not yet Enabled, on a VBR being deleted or on a peer being configured are not
  watched: the line's own alerts say what is wrong.
* *line utilisation*: per line and direction, the higher of (the traffic of all the line's VBRs
  summed) / the line's bandwidth and, for each VBR with a bandwidth of its own (hosted
  connections), its traffic / that bandwidth: whichever bandwidth is lower is the one held.
* *health check*: only on an ``active`` VBR of a line that is ``Enabled`` and ``Normal`` (a VBR
  that carries no traffic loses every probe; its line's or VBR's alert says why).

Every metric name comes from the module that exports it, so a renamed family cannot leave a rule
silently matching nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts import cloudmonitor, health, incident, resilience
from alerts.builder import LINE_UTILISATION, LINE_UTILISATION_P95, Builder
from alerts.lines import connection_rules, vbr_rules
from promql.fragments import DAY
from promql.fragments import LINE_KEY as ID
from promql.fragments import REGION_KEY as REGION

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "config" / "alerts" / "expressconnect.rules.yml"


_config: dict[str, Any] = {
    # Which Prometheus job scrapes the exporter: matchers on every selector, `up` included.
    "job_selector": 'job="expressconnect"',
    # Extra matchers on every per-connection and per-region selector, e.g.
    # 'account=~"prod|shared"' to watch only some accounts. Empty: all.
    "connection_selector": "",
    # Matchers on the physical connection _info metric naming the production lines, e.g.
    # 'tag_env="prod"' (tags are labels only when listed in the exporter's labels.tags). Empty:
    # every line is production. Critical per-connection alerts page only for production lines;
    # for the others the same alert is raised with severity warning.
    "production_info_selector": "",
    # Matchers on the _info metric for lines whose termination is planned (the tag must be in
    # the exporter's labels.tags); those do not raise ExpressConnectPhysicalConnectionTerminated.
    "expected_termination_info_selector": 'tag_lifecycle="decommission"',
    # The exporter's refresh.interval: exporter health thresholds are multiples of it, for every
    # collector. It must be at least the longest interval any collector of any account runs at
    # (virtual_border_routers defaults to 1m, an account may lengthen it), or DataStale fires
    # between two normal passes of a slower collector.
    "refresh_interval_seconds": 300,
    # Collectors slower than that by default (health_checks, failover_tests: 10m), and theirs.
    "collector_interval_seconds": health.slow_collectors(300),
    "region_down_intervals": 2,
    "stale_intervals": 3,
    "expiry_warning_seconds": 30 * DAY,
    "expiry_critical_seconds": 7 * DAY,
    "confirmed_max_seconds": 3600,
    "provisioning_max_seconds": 14 * DAY,
    "provisioning_statuses": ["Approved", "Allocating", "Allocated"],
    "failed_statuses": ["Rejected", "AllocationFailed"],
    "was_enabled_window": "1d",
    # How long after a line left Enabled for Terminating/Terminated the alert stays up.
    "termination_window": "1d",
    # How long a vanished Enabled line is reported.
    "vanished_window": "1h",
    "throttling_ratio": 0.1,
    # Received routes at or above this share of the peer's RouteLimit raise a warning.
    "bgp_route_limit_ratio": 0.8,
    "throttling_rate_window": "10m",
    # Line utilisation (see the module docstring) at or above these shares raises
    # ExpressConnectLineSaturated as a warning / as critical.
    "saturation_warning_ratio": 0.8,
    "saturation_critical_ratio": 0.95,
    # VBR health-check loss at or above these shares: warning / critical.
    "health_check_loss_warning_ratio": 0.05,
    "health_check_loss_critical_ratio": 0.5,
    # The traffic collector's CloudMonitor period (its interval rounded down to whole minutes,
    # 5m by default): its newest sample older than stale periods is stale.
    "cloudmonitor_period_seconds": 300,
    "cloudmonitor_stale_periods": 3,
    # CloudMonitor's free monthly API quota is 1,000,000 calls per account: warn when the
    # traffic collector's calls of the last quota_window, projected over 30 days, exceed this.
    "cloudmonitor_monthly_calls": 900_000,
    "cloudmonitor_quota_window": "1h",
    # Where the annotations link: the runbook (plus "#alertname") and Grafana (the dashboards
    # of grafana/, the line's dashboard with the line selected). Options of this script:
    # --runbook-url, --dashboard-url (see docs/runbooks.md, "Links in the pages").
    "runbook_url": "docs/runbooks.md",
    "dashboard_url": "http://127.0.0.1:3000",
    # Every line is unwatched while the exporter is down: it pages by default.
    "exporter_down_severity": "critical",
    # Capacity forecast: the p95 of the line utilisation over capacity_p95_window, extrapolated
    # linearly, reaching capacity_forecast_ratio within capacity_forecast_horizon.
    "capacity_forecast_ratio": 0.95,
    "capacity_forecast_horizon": "14d",
    "capacity_p95_window": "7d",
    "for": {
        "ExpressConnectPhysicalConnectionDown": "1m",
        "ExpressConnectPhysicalConnectionTerminated": "1m",
        "ExpressConnectPhysicalConnectionFinancialLocked": "1m",
        "ExpressConnectPhysicalConnectionSecurityLocked": "1m",
        "ExpressConnectPhysicalConnectionExpiryImminent": "0m",
        "ExpressConnectPhysicalConnectionExpiringSoon": "0m",
        "ExpressConnectPhysicalConnectionConfirmationPending": "0m",
        "ExpressConnectPhysicalConnectionProvisioningStuck": "0m",
        "ExpressConnectPhysicalConnectionProvisioningFailed": "5m",
        "ExpressConnectRedundancyDegraded": "5m",
        "ExpressConnectRedundancyLost": "1m",
        "ExpressConnectPhysicalConnectionVanished": "5m",
        "ExpressConnectBgpSessionDown": "5m",
        "ExpressConnectRedundantPairBgpDown": "2m",
        "ExpressConnectVbrNotActive": "30m",
        "ExpressConnectBgpRoutesNearLimit": "15m",
        # An alert raised with two severities has a key per severity ("NAME:critical").
        "ExpressConnectLineSaturated": "15m",
        "ExpressConnectLineSaturated:critical": "10m",
        "ExpressConnectVbrDroppingPackets": "15m",
        "ExpressConnectVbrHealthCheckLoss": "10m",
        "ExpressConnectVbrHealthCheckLoss:critical": "3m",
        "ExpressConnectCloudMonitorDataStale": "5m",
        "ExpressConnectCloudMonitorQuota": "15m",
        "ExpressConnectExporterDown": "10m",
        "ExpressConnectLineCapacityForecast": "1h",
        "ExpressConnectRegionDown": None,  # region_down_intervals x refresh interval
        "ExpressConnectDataStale": "0m",
        "ExpressConnectApiThrottled": "15m",
        "ExpressConnectConfigReloadFailed": "5m",
    },
}


def build(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rule file as a dict."""
    b = Builder(config or _config)
    return {
        "groups": [
            {"name": "expressconnect.physical-connections", "rules": connection_rules(b)},
            {"name": "expressconnect.virtual-border-routers", "rules": vbr_rules(b)},
            {"name": "expressconnect.traffic", "rules": cloudmonitor.traffic_rules(b)},
            {
                "name": "expressconnect.capacity",
                "rules": incident.capacity_rules(b, ID, LINE_UTILISATION, LINE_UTILISATION_P95),
            },
            {
                "name": "expressconnect.exporter",
                "rules": [*health.exporter_rules(b, REGION), health.quota_rule(b)],
            },
            {"name": resilience.GROUP, "rules": resilience.rules(b)},
        ]
    }


_URL_OPTIONS = (
    ("--runbook-url", "runbook_url", "runbook base URL, '#alertname' is appended"),
    ("--dashboard-url", "dashboard_url", "Grafana base URL for the dashboard links"),
)
HEADER = "# Generated by alerts/generate.py from its _config: edit that, not this file.\n"


def render(config: Mapping[str, Any] | None = None) -> str:
    """The rule file as YAML text."""
    body = yaml.dump(build(config), Dumper=health.RuleDumper, sort_keys=False, width=1000)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    mode.add_argument("--stdout", action="store_true", help="print the rules")
    for flag, key, text in _URL_OPTIONS:
        parser.add_argument(flag, default=_config[key], help=f"{text} (default %(default)s)")
    parser.add_argument(
        "--exporter-down-severity",
        choices=("critical", "warning"),
        default=_config["exporter_down_severity"],
        help="severity of ExpressConnectExporterDown (default %(default)s)",
    )
    args = parser.parse_args(argv)
    keys = ("runbook_url", "dashboard_url", "exporter_down_severity")
    text = render({**_config, **{key: getattr(args, key) for key in keys}})
    if args.stdout:
        sys.stdout.write(text)
    elif args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run python alerts/generate.py")
            return 1
    else:
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
