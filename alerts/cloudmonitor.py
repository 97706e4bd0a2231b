"""The alerts on the traffic collector's CloudMonitor figures: line saturation, health-check
loss, dropped packets, stale samples, and the per-line traffic and utilisation records they read.

Split from generate.py (its size limit); built on its records and builder like
alerts/resilience.py, and imported by ``generate.build`` when it runs.
"""

from __future__ import annotations

from typing import Any

from alerts.builder import (
    LINE_TRAFFIC,
    LINE_UTILISATION,
    ON_VBR_LINE,
    SESSION,
    VBR_LINE_NORMAL,
    VBR_WHO,
    Builder,
    block,
    indent,
)
from alerts.health import seconds_to_duration as _seconds_to_duration
from exporter.collectors import physical_connections as pc
from exporter.collectors import traffic
from exporter.collectors import virtual_border_routers as vbr
from promql.fragments import LINE_KEY as ID
from promql.fragments import VBR_KEY as VBR
from promql.fragments import on_vbr_line


def traffic_records(b: Builder) -> list[dict[str, Any]]:
    """Per line and direction: the traffic of its VBRs summed, and the line utilisation (see the
    module docstring): the share of the line's bandwidth, or of a VBR's own bandwidth where
    that share is higher."""
    vbr_share = f"{b.m(traffic.TRAFFIC)}\n/ on({VBR}) group_left()\n({b.m(vbr.VBR_BANDWIDTH)} > 0)"
    line_share = f"{LINE_TRAFFIC}\n/ on({ID}) group_left()\n({b.m(pc.BANDWIDTH)} > 0)"
    rules = {
        LINE_TRAFFIC: (
            f"sum by ({ID}, direction) (\n  {b.m(traffic.TRAFFIC)}\n{indent(ON_VBR_LINE)}\n)"
        ),
        LINE_UTILISATION: f"""max by ({ID}, direction) (
    {indent(line_share, "    ").strip()}
  or
    (
{indent(vbr_share, "      ")}
    )
{indent(ON_VBR_LINE, "    ")}
)""",
    }
    return [{"record": name, "expr": block(expr)} for name, expr in rules.items()]


def _two_severities(
    b: Builder,
    name: str,
    expr: str,
    thresholds: tuple[float, float],
    summary: str,
    description: str,
) -> list[dict[str, Any]]:
    """``expr >= threshold`` as a warning and, at the higher threshold, as critical (its `for`
    under ``NAME:critical``); Alertmanager holds the warning back while the critical fires."""
    warning, critical = thresholds
    return [
        *b.connection_alert(
            name, b.with_name(f"{expr} >= {warning}"), "warning", summary, description
        ),
        *b.connection_alert(
            name,
            b.with_name(f"{expr} >= {critical}"),
            "critical",
            summary,
            description,
            for_key=f"{name}:critical",
        ),
    ]


_LINE_WHO = (
    "line {{ $labels.name }} ({{ $labels.physical_connection_id }}) in account "
    "{{ $labels.account }}, region {{ $labels.region_id }}"
)


def traffic_rules(b: Builder) -> list[dict[str, Any]]:
    """Alerts on the traffic collector's CloudMonitor figures (per-VBR and per-line)."""
    c = b.c
    active = b.m(vbr.VBR_STATUS, 'status="active"')
    # Parenthesised: `and` binds looser than `*`, the line's ID must come from the join.
    # A VBR with a BGP session down loses its probes because of it: that alert pages (it
    # starts at the same moment, so holding back in Alertmanager alone would page twice).
    watched = (
        f"(\n  {b.m(traffic.HEALTH_LOSS)}\n  and on({VBR})\n  ({active} == 1)\n"
        f"  unless on({VBR})\n  ({SESSION} == 0)\n)\n"
        f"{on_vbr_line(VBR_LINE_NORMAL)}"
    )
    alerts = _two_severities(
        b,
        "ExpressConnectLineSaturated",
        LINE_UTILISATION,
        (c["saturation_warning_ratio"], c["saturation_critical_ratio"]),
        "Express Connect line {{ $labels.name }} is saturated ({{ $labels.direction }})",
        f"Traffic {{{{ $labels.direction }}}} on {_LINE_WHO} is at "
        "{{ $value | humanizePercentage }} of its bandwidth (the line's, or a VBR's own where "
        "that is lower): packets are queued and dropped.",
    )
    alerts += _two_severities(
        b,
        "ExpressConnectVbrHealthCheckLoss",
        f"(\n{indent(watched)}\n)",
        (c["health_check_loss_warning_ratio"], c["health_check_loss_critical_ratio"]),
        "VBR {{ $labels.vbr_id }} on Express Connect line {{ $labels.name }} loses "
        "health-check probes",
        f"The health check of {VBR_WHO} loses {{{{ $value | humanizePercentage }}}} of its "
        "probes while the VBR is active and the line Enabled: the path between the VBR and "
        "the customer side is lossy or down.",
    )
    alerts += b.connection_alert(
        "ExpressConnectVbrDroppingPackets",
        b.with_name(f"(\n  {b.m(traffic.DROPPED)} > 0\n)\n{ON_VBR_LINE}"),
        "warning",
        "VBR {{ $labels.vbr_id }} on Express Connect line {{ $labels.name }} drops packets "
        "({{ $labels.direction }})",
        f"{VBR_WHO} drops {{{{ $value | humanize }}}} packets per second "
        f"{{{{ $labels.direction }}}}, and has dropped packets for at least "
        f"{c['for']['ExpressConnectVbrDroppingPackets']}.",
    )
    return traffic_records(b) + alerts + [_stale_alert(b)]


def _stale_alert(b: Builder) -> dict[str, Any]:
    """An active VBR whose newest CloudMonitor datapoint is older than a few periods."""
    c = b.c
    active = b.m(vbr.VBR_STATUS, 'status="active"')
    stale = c["cloudmonitor_stale_periods"] * c["cloudmonitor_period_seconds"]
    old = (
        f"(\n  time() - {b.m(traffic.SAMPLE_TIME)} > {stale}\n  and on({VBR})\n  ({active} == 1)\n)"
    )
    return b.alert(
        "ExpressConnectCloudMonitorDataStale",
        # The VBR's line, where it is on one, groups it with that line's alerts.
        f"{old}\n{ON_VBR_LINE}\nor on({VBR})\n{old}",
        "warning",
        "CloudMonitor data of VBR {{ $labels.vbr_id }} is stale",
        "The newest CloudMonitor datapoint of active VBR {{ $labels.vbr_id }} in account "
        "{{ $labels.account }}, region {{ $labels.region_id }} is "
        "{{ $value | humanizeDuration }} old (more than "
        f"{c['cloudmonitor_stale_periods']} periods of "
        f"{_seconds_to_duration(c['cloudmonitor_period_seconds'])}): its traffic and "
        "health-check alerts see old figures.",
    )
