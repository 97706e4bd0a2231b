"""The exporter's own health alerts (down, regions failing or stale, throttling, config reload,
the CloudMonitor quota): about the watcher, not about a line. ``alerts/builder.py`` imports this
module (durations), so the builder is passed in, typed by the protocol below."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import yaml

from exporter import regiontable, selfmetrics
from exporter.collectors import COLLECTORS, traffic
from promql.fragments import DAY


class RuleDumper(yaml.SafeDumper):
    """YAML with multi-line strings (PromQL) as literal blocks, so the rule file reads well."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


RuleDumper.add_representer(str, _str)


class Builder(Protocol):
    """What these rules need of ``alerts.builder.Builder``."""

    c: Mapping[str, Any]

    def m(self, metric: str, *matchers: str) -> str: ...

    def job_m(self, metric: str) -> str: ...

    def alert(
        self,
        name: str,
        expr: str,
        severity: str,
        summary: str,
        description: str,
        for_key: str | None = None,
        line: bool | None = False,
    ) -> dict[str, Any]: ...


def duration_seconds(duration: str) -> int:
    """Seconds of a Prometheus duration with one unit (``90s``, ``1h``, ``2d``)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": DAY}
    if len(duration) < 2 or duration[-1] not in units or not duration[:-1].isdigit():
        raise ValueError(f"duration {duration!r}: expected a number and one of s, m, h, d")
    return int(duration[:-1]) * units[duration[-1]]


def seconds_to_duration(seconds: int) -> str:
    for unit, size in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def quota_rule(b: Builder) -> dict[str, Any]:
    """The account's CloudMonitor calls projected over 30 days against the free quota."""
    c = b.c
    window = c["cloudmonitor_quota_window"]
    calls = b.m(selfmetrics.API_REQUESTS, f'action="{traffic.ACTION}"')
    per_month = f"30 * {DAY} / {duration_seconds(window)}"
    return b.alert(
        "ExpressConnectCloudMonitorQuota",
        f"sum by (account) (increase({calls}[{window}])) * {per_month}\n"
        f"> {c['cloudmonitor_monthly_calls']}",
        "warning",
        "The exporter's CloudMonitor calls for account {{ $labels.account }} head past the "
        "free quota",
        f"At the rate of the last {window}, the traffic collector makes "
        "{{ $value | humanize }} CloudMonitor calls (" + traffic.ACTION + ") a month for "
        "account {{ $labels.account }}, more than "
        f"{c['cloudmonitor_monthly_calls']:,}; CloudMonitor's free quota is 1,000,000 API "
        "calls a month per account, calls beyond it are billed.",
        line=None,
    )


def slow_collectors(refresh: int) -> dict[str, int]:
    """The collectors whose default interval is longer than the generator's refresh interval
    (health_checks and failover_tests: 10m against 5m), with that interval: their region
    alerts count in their own intervals, or one failed 10m pass would already look like two
    failed 5m intervals. The generator's default ``collector_interval_seconds``."""
    intervals = {c.name: int(c.default_interval or 0) for c in COLLECTORS}
    return {name: seconds for name, seconds in intervals.items() if seconds > refresh}


def _interval_picks(c: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(collector matcher, interval) per distinct interval: ``refresh_interval_seconds`` for
    every collector not named in ``collector_interval_seconds``."""
    slow: Mapping[str, int] = c["collector_interval_seconds"]
    if not slow:
        return [("", c["refresh_interval_seconds"])]
    picks = [(f'collector!~"{"|".join(slow)}"', c["refresh_interval_seconds"])]
    for seconds in sorted(set(slow.values())):
        names = "|".join(name for name, value in slow.items() if value == seconds)
        picks.append((f'collector=~"{names}"', seconds))
    return picks


def region_rules(b: Builder) -> list[dict[str, Any]]:
    """RegionDown and DataStale, counted in each collector's own refresh interval: the
    configured one, or the longer one of ``collector_interval_seconds``."""
    c = b.c
    where = "account {{ $labels.account }}, region {{ $labels.region_id }}"
    which = "the {{ $labels.collector }} collector"
    picks = _interval_picks(c)
    down = []
    for matcher, seconds in picks:
        rule = b.alert(
            "ExpressConnectRegionDown",
            f"{b.m(regiontable.REGION_UP, matcher)} == 0",
            "warning",
            "The exporter cannot read Express Connect in {{ $labels.region_id }} "
            "({{ $labels.collector }})",
            f"Passes of {which} for {where} have failed for more than "
            f"{c['region_down_intervals']} refresh intervals; the exporter serves the last good "
            "snapshot.",
        )
        rule["for"] = seconds_to_duration(c["region_down_intervals"] * seconds)
        down.append(rule)
    last = regiontable.REGION_LAST_SUCCESS
    stale = "\nor\n".join(
        f"time() - {b.m(last, matcher)} > {c['stale_intervals'] * seconds}"
        for matcher, seconds in picks
    )
    return [
        *down,
        b.alert(
            "ExpressConnectDataStale",
            stale,
            "warning",
            "Express Connect data for {{ $labels.region_id }} is stale ({{ $labels.collector }})",
            f"The last successful pass of {which} for {where} was "
            f"{{{{ $value | humanizeDuration }}}} ago (more than {c['stale_intervals']} refresh "
            "intervals).",
        ),
    ]


def exporter_rules(b: Builder, region_labels: str) -> list[dict[str, Any]]:
    c = b.c
    up = b.job_m("up")
    rate = c["throttling_rate_window"]
    requests = selfmetrics.API_REQUESTS
    where = "account {{ $labels.account }}, region {{ $labels.region_id }}"
    throttled = b.m(requests, 'code=~"Throttling.*"')
    return [
        b.alert(
            "ExpressConnectExporterDown",
            f"{up} == 0\nor\nabsent({up})",
            c["exporter_down_severity"],
            "The expressconnect exporter cannot be scraped",
            "Prometheus has not scraped the expressconnect exporter"
            "{{ with $labels.instance }} at {{ . }}{{ end }} successfully for the last "
            f"{c['for']['ExpressConnectExporterDown']}: no Express Connect alert can fire, "
            "every line is unwatched.",
            line=None,
        ),
        *region_rules(b),
        b.alert(
            "ExpressConnectApiThrottled",
            f"""
            sum by ({region_labels}) (rate({throttled}[{rate}]))
            /
            sum by ({region_labels}) (rate({b.m(requests)}[{rate}]))
            > {c["throttling_ratio"]}
            """,
            "warning",
            "The Alibaba Cloud API throttles the exporter in {{ $labels.region_id }}",
            f"{{{{ $value | humanizePercentage }}}} of API requests for {where} were throttled "
            f"over the last {rate}.",
        ),
        b.alert(
            "ExpressConnectConfigReloadFailed",
            f"{b.job_m(selfmetrics.RELOAD_OK)} == 0",
            "warning",
            "The expressconnect exporter failed to reload its configuration",
            "The last configuration reload of the exporter"
            "{{ with $labels.instance }} at {{ . }}{{ end }} failed; it keeps running the "
            "previous configuration.",
            line=None,
        ),
    ]
