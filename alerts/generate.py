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
from textwrap import dedent
from typing import Any

import yaml

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts import health, incident
from alerts.health import seconds_to_duration as _seconds_to_duration
from exporter import regiontable
from exporter.collectors import physical_connections as pc
from exporter.collectors import virtual_border_routers as vbr
from promql.fragments import DAY, LINE_ID, copy_label, on_vbr_line
from promql.fragments import LINE_KEY as ID
from promql.fragments import PEER_KEY as PEER
from promql.fragments import REGION_KEY as REGION
from promql.fragments import VBR_KEY as VBR

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

# Recording rule names: this prefix (the project's namespace) plus what the rule computes.
RECORD = "expressconnect:"


def record(name: str) -> str:
    """A recording rule's name: every one this generator defines is built here."""
    return f"{RECORD}{name}"


WAS_ENABLED = record("physical_connection_was_enabled")
DOWN = record("physical_connection_down")
PARTNER = record("physical_connection_partner")
PARTNER_ENABLED = record("physical_connection_partner_enabled")
PARTNER_DOWN = record("physical_connection_partner_down")
VBR_LINE = record("vbr_physical_connection")
VBR_LINE_ENABLED = record("vbr_physical_connection_enabled")
VBR_LINE_NORMAL = record("vbr_physical_connection_normal")
SESSION = record("bgp_session_established")
LINE_SESSIONS = record("physical_connection_bgp_sessions_established")
PARTNER_SESSIONS = record("physical_connection_partner_bgp_sessions_established")
PARTNER_CREATED = record("physical_connection_partner_creation_timestamp_seconds")
LINE_TRAFFIC = record("physical_connection_traffic_bytes_per_second")
LINE_UTILISATION = record("physical_connection_traffic_utilisation_ratio")
LINE_UTILISATION_P95 = record("physical_connection_traffic_utilisation_ratio:p95")
LINE_LABELS = record("physical_connection_alert_labels")
PAIR_KEY = record("physical_connection_redundancy_pair")
# Gives a per-VBR series its line's ID (the VBRs on a line the exporter sees).
ON_VBR_LINE = on_vbr_line(VBR_LINE)
# label_replace arguments naming a line as another line's partner.
AS_PARTNER = copy_label("partner_physical_connection_id", LINE_ID)


def _matchers(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


class _Builder:
    """Holds a config and turns it into rule dicts."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.c = config

    def m(self, metric: str, *matchers: str) -> str:
        """A selector for an exporter metric with the configured matchers."""
        inner = _matchers(self.c["job_selector"], self.c["connection_selector"], *matchers)
        return f"{metric}{{{inner}}}" if inner else metric

    def job_m(self, metric: str) -> str:
        """A selector for a per-process series (no account/region labels)."""
        job = self.c["job_selector"]
        return f"{metric}{{{job}}}" if job else metric

    @property
    def info(self) -> str:
        return self.m(pc.INFO)

    def with_name(self, expr: str, info: str | None = None) -> str:
        """Attach the line's name, circuit code, access point, provider and redundant pair key
        (``LINE_LABELS``; with ``info``: the name from that selector only). Value unchanged."""
        if info:
            return f"(\n{_indent(expr)}\n)\n* on({ID}) group_left(name)\n{info}"
        labels = ", ".join((*incident.LINE_LABELS, incident.PAIR_LABEL))
        # The _info labels directly where the record is not there yet (its group may run after
        # this one at Prometheus' first evaluation).
        line = incident.line_labels_expr(ID, self.info, None)
        return (
            f"(\n{_indent(expr)}\n)\n* on({ID}) group_left({labels})\n"
            f"(\n  {LINE_LABELS}\nor on({ID})\n{_indent(line)}\n)"
        )

    def runbook(self, alert: str) -> str:
        return f"{self.c['runbook_url']}#{alert.lower()}"

    def dashboard(self, line: bool | None) -> str:
        """The Grafana dashboard of the alert: the line's with it selected (``line``), or the
        exporter's with the alert's account and region (False) or as a whole (None)."""
        base = self.c["dashboard_url"].rstrip("/")
        if line is None:
            return f"{base}/d/expressconnect-exporter"
        where = "var-account={{ $labels.account }}&var-region={{ $labels.region_id }}"
        if line:
            return (
                f"{base}/d/expressconnect-connection?{where}"
                "&var-connection={{ $labels.physical_connection_id }}"
            )
        return f"{base}/d/expressconnect-exporter?{where}"

    def alert(
        self,
        name: str,
        expr: str,
        severity: str,
        summary: str,
        description: str,
        for_key: str | None = None,
        line: bool | None = False,
    ) -> dict[str, Any]:
        """One alerting rule; its `for` is ``_config["for"][for_key or name]``; ``line``: it is
        about one line (its dashboard link selects the line)."""
        rule: dict[str, Any] = {"alert": name, "expr": _block(expr)}
        duration = self.c["for"].get(for_key or name)
        if name == "ExpressConnectRegionDown":
            duration = _seconds_to_duration(
                self.c["region_down_intervals"] * self.c["refresh_interval_seconds"]
            )
        if duration and duration not in ("0", "0s", "0m"):
            rule["for"] = duration
        rule["labels"] = {"severity": severity}
        rule["annotations"] = {
            "summary": summary,
            "description": description,
            "runbook_url": self.runbook(name),
            "dashboard_url": self.dashboard(line),
        }
        return rule

    def connection_alert(
        self,
        name: str,
        expr: str,
        severity: str,
        summary: str,
        description: str,
        for_key: str | None = None,
    ) -> list[dict[str, Any]]:
        """A per-connection alert; critical ones are split by the production selector."""
        prod = self.c["production_info_selector"]
        if severity != "critical" or not prod:
            return [self.alert(name, expr, severity, summary, description, for_key, True)]
        prod_info = self.m(pc.INFO, prod)
        return [
            self.alert(
                name,
                f"(\n{_indent(expr)}\n)\nand on({ID})\n{prod_info}",
                "critical",
                summary,
                description,
                for_key,
                True,
            ),
            self.alert(
                name,
                f"(\n{_indent(expr)}\n)\nunless on({ID})\n{prod_info}",
                "warning",
                summary,
                description + " (Not a production line: not paged.)",
                for_key,
                True,
            ),
        ]


def _indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line if line else line for line in text.splitlines())


def _block(text: str) -> str:
    return dedent(text).strip() + "\n"


_WHO = (
    "{{ $labels.name }} ({{ $labels.physical_connection_id }}) in account "
    "{{ $labels.account }}, region {{ $labels.region_id }}"
)


def _line_records(b: _Builder) -> list[dict[str, Any]]:
    """*was Enabled* and *down* (see the module docstring) per line."""
    c = b.c
    enabled = b.m(pc.STATUS, 'status="Enabled"')
    enabled_ts = b.m(pc.ENABLED)
    return [
        {
            "record": WAS_ENABLED,
            "expr": _block(
                f"""
            group by ({ID}) (
                max_over_time({enabled}[{c["was_enabled_window"]}]) == 1
              or
                {enabled_ts} > 0
            )
            """
            ),
        },
        {
            "record": DOWN,
            "expr": _block(
                f"""
            group by ({ID}) ({enabled} == 0)
            and on({ID})
            {WAS_ENABLED}
            """
            ),
        },
    ]


def _partner_records(b: _Builder) -> list[dict[str, Any]]:
    """Each leg's partner (either leg may name the other), the partner's state and age."""
    enabled = b.m(pc.STATUS, 'status="Enabled"')
    paired_info = b.m(pc.INFO, 'redundant_physical_connection_id!=""')
    return [
        {
            "record": PARTNER,
            "expr": _block(
                f"""
            group by ({ID}, partner_physical_connection_id) (
                label_replace(
                  {paired_info},
                  "partner_physical_connection_id", "$1",
                  "redundant_physical_connection_id", "(.+)"
                )
              or
                label_replace(
                  label_replace(
                    {paired_info},
                    "partner_physical_connection_id", "$1", "physical_connection_id", "(.+)"
                  ),
                  "physical_connection_id", "$1", "redundant_physical_connection_id", "(.+)"
                )
            )
            """
            ),
        },
        {
            "record": PARTNER_ENABLED,
            "expr": _block(
                f"""
            {PARTNER}
            * on(account, region_id, partner_physical_connection_id) group_left()
            label_replace(
              {enabled},
              "partner_physical_connection_id", "$1", "physical_connection_id", "(.+)"
            )
            """
            ),
        },
        {
            "record": PARTNER_DOWN,
            "expr": _block(
                f"""
            {PARTNER}
            * on(account, region_id, partner_physical_connection_id) group_left()
            label_replace(
              {DOWN},
              "partner_physical_connection_id", "$1", "physical_connection_id", "(.+)"
            )
            """
            ),
        },
    ]


def connection_records(b: _Builder) -> list[dict[str, Any]]:
    """The shared per-line records, and the labels every per-connection alert joins in."""
    younger = incident.younger_leg(ID, PARTNER_CREATED, b.m(pc.CREATION))
    return [
        *_line_records(b),
        *_partner_records(b),
        {
            "record": PARTNER_CREATED,
            "expr": _block(
                f"{PARTNER}\n* on(account, region_id, partner_physical_connection_id) "
                f"group_left()\nlabel_replace(max by ({ID}) ({b.m(pc.CREATION)}), {AS_PARTNER})"
            ),
        },
        {"record": PAIR_KEY, "expr": _block(incident.pair_key_expr(ID, PARTNER, younger))},
        {"record": LINE_LABELS, "expr": _block(incident.line_labels_expr(ID, b.info, PAIR_KEY))},
    ]


def _state_alerts(b: _Builder) -> list[dict[str, Any]]:
    """A line that was Enabled and is down, terminated or locked: critical."""
    c = b.c
    enabled = b.m(pc.STATUS, 'status="Enabled"')
    not_up = b.m(pc.STATUS, 'status!~"Enabled|Terminating|Terminated"')
    terminating = b.m(pc.STATUS, 'status=~"Terminating|Terminated"')
    alerts: list[dict[str, Any]] = []
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionDown",
        b.with_name(
            f"""{not_up} == 1
and on({ID}) {DOWN}
unless on({ID}) ({PARTNER_ENABLED} == 1)
unless on({ID}) {PARTNER_DOWN}"""
        ),
        "critical",
        "Express Connect line {{ $labels.name }} was Enabled and is now {{ $labels.status }}",
        f"Physical connection {_WHO} was Enabled and is now {{{{ $labels.status }}}}; "
        "it has no redundant partner carrying traffic.",
    )
    expected = c["expected_termination_info_selector"]
    terminated = (
        f"{terminating} == 1\n"
        f"and on({ID})\n"
        f"max_over_time({enabled}[{c['termination_window']}]) == 1"
    )
    if expected:
        expected_info = b.m(pc.INFO, expected)
        terminated += f"\nunless on({ID})\n{expected_info}"
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionTerminated",
        b.with_name(terminated),
        "critical",
        "Express Connect line {{ $labels.name }} left Enabled for {{ $labels.status }}",
        f"Physical connection {_WHO} was Enabled within the last {c['termination_window']} and "
        "is now {{ $labels.status }}, and it is not marked for decommissioning.",
    )
    for lock, why in (
        ("FinancialLocked", "overdue payment: traffic stops until the bill is paid"),
        ("SecurityLocked", "a security lock by Alibaba Cloud: traffic is blocked"),
    ):
        locked = b.m(pc.BUSINESS_STATUS, f'business_status="{lock}"')
        alerts += b.connection_alert(
            f"ExpressConnectPhysicalConnection{lock}",
            b.with_name(f"{locked} == 1"),
            "critical",
            f"Express Connect line {{{{ $labels.name }}}} is {lock}",
            f"Physical connection {_WHO} has business status {lock} ({why}).",
        )

    return alerts


def _expiry_alerts(b: _Builder) -> list[dict[str, Any]]:
    """The lease's EndTime near: critical within a week, a warning within a month."""
    c = b.c
    over = b.m(pc.STATUS, 'status=~"Terminated|Canceled"')
    alerts: list[dict[str, Any]] = []
    expiry = b.m(pc.EXPIRY)
    not_over = f"unless on({ID})\n{over} == 1"
    left = (
        "{{ if lt $value 0.0 }}has expired"
        "{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}"
    )
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionExpiryImminent",
        b.with_name(f"({expiry} - time()) < {c['expiry_critical_seconds']}\n{not_over}"),
        "critical",
        "Express Connect line {{ $labels.name }} expires in less than "
        f"{_seconds_to_duration(c['expiry_critical_seconds'])}",
        f"Physical connection {_WHO} {left} (EndTime); renew it or it stops.",
    )
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionExpiringSoon",
        b.with_name(
            f"({expiry} - time()) < {c['expiry_warning_seconds']}"
            f" >= {c['expiry_critical_seconds']}\n{not_over}"
        ),
        "warning",
        "Express Connect line {{ $labels.name }} expires in less than "
        f"{_seconds_to_duration(c['expiry_warning_seconds'])}",
        f"Physical connection {_WHO} {left} (EndTime); renew it.",
    )
    return alerts


def _application_alerts(b: _Builder) -> list[dict[str, Any]]:
    """Applications waiting for the customer, stuck with the provider, or refused."""
    c = b.c
    status = pc.STATUS
    confirmed = b.m(status, 'status="Confirmed"')
    provisioning = b.m(status, 'status=~"{}"'.format("|".join(c["provisioning_statuses"])))
    failed = b.m(status, 'status=~"{}"'.format("|".join(c["failed_statuses"])))
    alerts: list[dict[str, Any]] = []
    change = b.m(pc.STATUS_CHANGE)
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionConfirmationPending",
        b.with_name(
            f"(time() - {change}) > {c['confirmed_max_seconds']}\nand on({ID})\n{confirmed} == 1"
        ),
        "warning",
        "Express Connect line {{ $labels.name }} waits for the customer's confirmation",
        f"Physical connection {_WHO} has been Confirmed for {{{{ $value | humanizeDuration }}}}: "
        "the provider finished the installation and the line must be confirmed before it is "
        "Enabled.",
    )
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionProvisioningStuck",
        b.with_name(
            f"((time() - {change}) > {c['provisioning_max_seconds']})\n"
            f"* on({ID}) group_left(status)\n"
            f"({provisioning} == 1)"
        ),
        "warning",
        "Express Connect line {{ $labels.name }} stuck in {{ $labels.status }}",
        f"Physical connection {_WHO} has been {{{{ $labels.status }}}} for "
        "{{ $value | humanizeDuration }} (over "
        f"{_seconds_to_duration(c['provisioning_max_seconds'])}).",
    )
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionProvisioningFailed",
        b.with_name(f"{failed} == 1"),
        "warning",
        "Express Connect line {{ $labels.name }} is {{ $labels.status }}",
        f"The application for physical connection {_WHO} is {{{{ $labels.status }}}}; "
        "it will not be provisioned as it stands.",
    )
    return alerts


def _pair_alerts(b: _Builder) -> list[dict[str, Any]]:
    """A leg down (its partner carries traffic), both legs down, a line vanished."""
    c = b.c
    enabled = b.m(pc.STATUS, 'status="Enabled"')
    any_status = b.m(pc.STATUS)
    region_up = b.m(regiontable.REGION_UP, f'collector="{pc.NAME}"')
    younger = incident.younger_leg(ID, PARTNER_CREATED, b.m(pc.CREATION))
    alerts: list[dict[str, Any]] = []
    alerts += b.connection_alert(
        "ExpressConnectRedundancyDegraded",
        b.with_name(f"{PARTNER_ENABLED} == 1\nand on({ID})\n{DOWN}"),
        "warning",
        "Express Connect line {{ $labels.name }} is down, its redundant partner carries traffic",
        f"Physical connection {_WHO} was Enabled and is not any more; its redundant partner "
        "{{ $labels.partner_physical_connection_id }} is Enabled, so traffic continues without "
        "redundancy.",
    )
    alerts += b.connection_alert(
        "ExpressConnectRedundancyLost",
        b.with_name(
            f"{PARTNER_DOWN}\nand on({ID})\n{DOWN}\n"
            f"unless on({ID}, partner_physical_connection_id) (\n{_indent(younger)}\n)"
        ),
        "critical",
        "Both legs of redundant Express Connect pair {{ $labels.name }} are down",
        f"Physical connection {_WHO} and its redundant partner "
        "{{ $labels.partner_physical_connection_id }} were Enabled and neither is now.",
    )
    window = c["vanished_window"]
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionVanished",
        b.with_name(
            f"group by ({ID}) (\n"
            f"  max_over_time({enabled}[{window}]) == 1\n)\n"
            f"unless on({ID})\n{any_status}\n"
            f"and on({REGION})\n{region_up} == 1",
            info=f"topk by ({ID}) (\n  1, last_over_time({b.info}[{window}])\n)",
        ),
        "warning",
        "Express Connect line {{ $labels.name }} vanished from the API",
        f"Physical connection {_WHO} was Enabled within the last {window} and is no longer "
        "returned by DescribePhysicalConnections, while the region is read successfully.",
    )
    return alerts


def connection_rules(b: _Builder) -> list[dict[str, Any]]:
    return [
        *connection_records(b),
        *_state_alerts(b),
        *_expiry_alerts(b),
        *_application_alerts(b),
        *_pair_alerts(b),
    ]


_VBR_WHO = (
    "VBR {{ $labels.vbr_id }} on line {{ $labels.name }} ({{ $labels.physical_connection_id }}) "
    "in account {{ $labels.account }}, region {{ $labels.region_id }}"
)


def vbr_records(b: _Builder) -> list[dict[str, Any]]:
    """Which line each VBR is on, which of those lines can carry traffic, and the BGP sessions
    (see the module docstring) with 1 for Established, 0 for any other state."""
    enabled = b.m(pc.STATUS, 'status="Enabled"')
    normal = b.m(pc.BUSINESS_STATUS, 'business_status="Normal"')
    established = b.m(vbr.BGP_STATUS, 'bgp_status="Established"')
    available = b.m(vbr.BGP_PEER_STATUS, 'status="Available"')
    active = b.m(vbr.VBR_STATUS, 'status="active"')
    on_a_line = b.m(vbr.VBR_INFO, 'physical_connection_id!=""')
    rules = {
        VBR_LINE: f"group by ({VBR}, physical_connection_id) (\n  {on_a_line}\n)",
        VBR_LINE_ENABLED: f"{VBR_LINE}\nand on({ID})\n({enabled} == 1)",
        VBR_LINE_NORMAL: f"{VBR_LINE_ENABLED}\nand on({ID})\n({normal} == 1)",
        SESSION: f"""(
  max without (bgp_status) ({established})
  and on({PEER}) ({available} == 1)
  and on({VBR}) ({active} == 1)
)
{on_vbr_line(VBR_LINE_NORMAL)}""",
        LINE_SESSIONS: f"sum by ({ID}) ({SESSION})",
        PARTNER_SESSIONS: f"{PARTNER}\n* on(account, region_id, partner_physical_connection_id) "
        f"group_left()\nlabel_replace({LINE_SESSIONS}, {AS_PARTNER})",
    }
    return [{"record": name, "expr": _block(expr)} for name, expr in rules.items()]


def vbr_rules(b: _Builder) -> list[dict[str, Any]]:
    c = b.c
    peer_info = b.m(vbr.BGP_INFO)
    alerts: list[dict[str, Any]] = []
    down = f"({SESSION} == 0)\n* on({PEER}) group_left(peer_ip_address, peer_asn)\n{peer_info}"
    # The session's state now (Active, Idle, ...) as a label, where the API reports one.
    state = f"max by ({PEER}, bgp_status) ({b.m(vbr.BGP_STATUS)} == 1)"
    alerts += b.connection_alert(
        "ExpressConnectBgpSessionDown",
        b.with_name(
            f"(\n{_indent(down)}\n)\n* on({PEER}) group_left(bgp_status)\n{state}\n"
            f"or on({PEER})\n(\n{_indent(down)}\n)"
        ),
        "critical",
        "BGP session {{ $labels.bgp_peer_id }} on Express Connect line {{ $labels.name }} is "
        "not Established",
        "BGP session {{ $labels.bgp_peer_id }} (peer {{ $labels.peer_ip_address }}, AS "
        f"{{{{ $labels.peer_asn }}}}) of {_VBR_WHO} has not been Established for "
        f"{c['for']['ExpressConnectBgpSessionDown']}, while the line is Enabled, the VBR active "
        "and the peer Available: no routes are exchanged over it.",
    )
    # One alert per pair: the leg created later is left out (both legs when neither is older).
    younger = incident.younger_leg(ID, PARTNER_CREATED, b.m(pc.CREATION))
    alerts += b.connection_alert(
        "ExpressConnectRedundantPairBgpDown",
        b.with_name(
            f"{PARTNER_SESSIONS} == 0\n"
            f"and on({ID})\n{LINE_SESSIONS} == 0\n"
            f"unless on({ID}, partner_physical_connection_id) (\n{_indent(younger)}\n)"
        ),
        "critical",
        "No BGP session is Established on either line of redundant pair {{ $labels.name }}",
        "Physical connection {{ $labels.name }} ({{ $labels.physical_connection_id }}) and its "
        "redundant partner {{ $labels.partner_physical_connection_id }} in account "
        "{{ $labels.account }}, region {{ $labels.region_id }} both have BGP sessions and none "
        "of them is Established: the pair carries no routed traffic.",
    )
    return vbr_records(b) + alerts + _vbr_alerts(b)


def _vbr_alerts(b: _Builder) -> list[dict[str, Any]]:
    """A VBR not active on an Enabled line; a session near its route limit."""
    c = b.c
    active = b.m(vbr.VBR_STATUS, 'status="active"')
    alerts: list[dict[str, Any]] = []
    alerts += b.connection_alert(
        "ExpressConnectVbrNotActive",
        b.with_name(f"(max without (status) ({active}) == 0)\n{on_vbr_line(VBR_LINE_ENABLED)}"),
        "warning",
        "VBR {{ $labels.vbr_id }} on Express Connect line {{ $labels.name }} is not active",
        f"{_VBR_WHO} has not been active for {c['for']['ExpressConnectVbrNotActive']} while the "
        "line is Enabled; its BGP sessions cannot carry traffic.",
    )
    ratio = c["bgp_route_limit_ratio"]
    alerts += b.connection_alert(
        "ExpressConnectBgpRoutesNearLimit",
        b.with_name(
            f"(\n  {b.m(vbr.BGP_RECEIVED)}\n  / on({PEER})\n  ({b.m(vbr.BGP_ROUTE_LIMIT)} > 0)\n"
            f"  >= {ratio}\n)\n{ON_VBR_LINE}"
        ),
        "warning",
        "BGP session {{ $labels.bgp_peer_id }} on Express Connect line {{ $labels.name }} is "
        "near its route limit",
        "BGP session {{ $labels.bgp_peer_id }} of "
        f"{_VBR_WHO} receives {{{{ $value | humanizePercentage }}}} of its RouteLimit (at least "
        f"{ratio:.0%}); past the limit the session is torn down.",
    )
    return alerts


def build(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rule file as a dict."""
    # Imported here: these modules build on this module's records and builder.
    from alerts import cloudmonitor, resilience

    b = _Builder(config or _config)
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
