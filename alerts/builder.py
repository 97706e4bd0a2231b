"""What the alert rule modules share: recording rule names, the builder that turns the config
into rules (selectors, links, the production split) and the wording that names a line or VBR.

The rule modules (``lines``, ``cloudmonitor``, ``resilience``) import from here and
``generate`` imports them, so data flows one way: config -> builder -> rule modules -> file.
"""

from __future__ import annotations

from collections.abc import Mapping
from textwrap import dedent
from typing import Any

from alerts import incident
from alerts.health import seconds_to_duration as _seconds_to_duration
from exporter.collectors import physical_connections as pc
from promql.fragments import LINE_ID, copy_label, on_vbr_line
from promql.fragments import LINE_KEY as ID

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


class Builder:
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
            return f"(\n{indent(expr)}\n)\n* on({ID}) group_left(name)\n{info}"
        labels = ", ".join((*incident.LINE_LABELS, incident.PAIR_LABEL))
        # The _info labels directly where the record is not there yet (its group may run after
        # this one at Prometheus' first evaluation).
        line = incident.line_labels_expr(ID, self.info, None)
        return (
            f"(\n{indent(expr)}\n)\n* on({ID}) group_left({labels})\n"
            f"(\n  {LINE_LABELS}\nor on({ID})\n{indent(line)}\n)"
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
        rule: dict[str, Any] = {"alert": name, "expr": block(expr)}
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
                f"(\n{indent(expr)}\n)\nand on({ID})\n{prod_info}",
                "critical",
                summary,
                description,
                for_key,
                True,
            ),
            self.alert(
                name,
                f"(\n{indent(expr)}\n)\nunless on({ID})\n{prod_info}",
                "warning",
                summary,
                description + " (Not a production line: not paged.)",
                for_key,
                True,
            ),
        ]


def indent(text: str, by: str = "  ") -> str:
    return "\n".join(by + line if line else line for line in text.splitlines())


def block(text: str) -> str:
    return dedent(text).strip() + "\n"


LINE_WHO = (
    "{{ $labels.name }} ({{ $labels.physical_connection_id }}) in account "
    "{{ $labels.account }}, region {{ $labels.region_id }}"
)


VBR_WHO = (
    "VBR {{ $labels.vbr_id }} on line {{ $labels.name }} ({{ $labels.physical_connection_id }}) "
    "in account {{ $labels.account }}, region {{ $labels.region_id }}"
)
