"""The alert rules about lines and their VBRs: the line and partner records, state, expiry,
application and pair alerts, which line each VBR is on and its BGP sessions.

The definitions they rely on (*was Enabled*, *down*, *partner*, *BGP session*) are in
``alerts/generate.py``'s docstring.
"""

from __future__ import annotations

from typing import Any

from alerts import incident
from alerts.builder import (
    AS_PARTNER,
    DOWN,
    LINE_LABELS,
    LINE_SESSIONS,
    LINE_WHO,
    ON_VBR_LINE,
    PAIR_KEY,
    PARTNER,
    PARTNER_CREATED,
    PARTNER_DOWN,
    PARTNER_ENABLED,
    PARTNER_SESSIONS,
    SESSION,
    VBR_LINE,
    VBR_LINE_ENABLED,
    VBR_LINE_NORMAL,
    VBR_WHO,
    WAS_ENABLED,
    Builder,
    block,
    indent,
)
from alerts.health import seconds_to_duration as _seconds_to_duration
from exporter import regiontable
from exporter.collectors import physical_connections as pc
from exporter.collectors import virtual_border_routers as vbr
from promql.fragments import LINE_KEY as ID
from promql.fragments import PEER_KEY as PEER
from promql.fragments import REGION_KEY as REGION
from promql.fragments import VBR_KEY as VBR
from promql.fragments import on_vbr_line


def _line_records(b: Builder) -> list[dict[str, Any]]:
    """*was Enabled* and *down* (see the module docstring) per line."""
    c = b.c
    enabled = b.m(pc.STATUS, 'status="Enabled"')
    enabled_ts = b.m(pc.ENABLED)
    return [
        {
            "record": WAS_ENABLED,
            "expr": block(
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
            "expr": block(
                f"""
            group by ({ID}) ({enabled} == 0)
            and on({ID})
            {WAS_ENABLED}
            """
            ),
        },
    ]


def _partner_records(b: Builder) -> list[dict[str, Any]]:
    """Each leg's partner (either leg may name the other), the partner's state and age."""
    enabled = b.m(pc.STATUS, 'status="Enabled"')
    paired_info = b.m(pc.INFO, 'redundant_physical_connection_id!=""')
    return [
        {
            "record": PARTNER,
            "expr": block(
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
            "expr": block(
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
            "expr": block(
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


def connection_records(b: Builder) -> list[dict[str, Any]]:
    """The shared per-line records, and the labels every per-connection alert joins in."""
    younger = incident.younger_leg(ID, PARTNER_CREATED, b.m(pc.CREATION))
    return [
        *_line_records(b),
        *_partner_records(b),
        {
            "record": PARTNER_CREATED,
            "expr": block(
                f"{PARTNER}\n* on(account, region_id, partner_physical_connection_id) "
                f"group_left()\nlabel_replace(max by ({ID}) ({b.m(pc.CREATION)}), {AS_PARTNER})"
            ),
        },
        {"record": PAIR_KEY, "expr": block(incident.pair_key_expr(ID, PARTNER, younger))},
        {"record": LINE_LABELS, "expr": block(incident.line_labels_expr(ID, b.info, PAIR_KEY))},
    ]


def _state_alerts(b: Builder) -> list[dict[str, Any]]:
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
        f"Physical connection {LINE_WHO} was Enabled and is now {{{{ $labels.status }}}}; "
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
        f"Physical connection {LINE_WHO} was Enabled within the last {c['termination_window']} and "
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
            f"Physical connection {LINE_WHO} has business status {lock} ({why}).",
        )

    return alerts


def _expiry_alerts(b: Builder) -> list[dict[str, Any]]:
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
        f"Physical connection {LINE_WHO} {left} (EndTime); renew it or it stops.",
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
        f"Physical connection {LINE_WHO} {left} (EndTime); renew it.",
    )
    return alerts


def _application_alerts(b: Builder) -> list[dict[str, Any]]:
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
        f"Physical connection {LINE_WHO} has been Confirmed for "
        "{{ $value | humanizeDuration }}: "
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
        f"Physical connection {LINE_WHO} has been {{{{ $labels.status }}}} for "
        "{{ $value | humanizeDuration }} (over "
        f"{_seconds_to_duration(c['provisioning_max_seconds'])}).",
    )
    alerts += b.connection_alert(
        "ExpressConnectPhysicalConnectionProvisioningFailed",
        b.with_name(f"{failed} == 1"),
        "warning",
        "Express Connect line {{ $labels.name }} is {{ $labels.status }}",
        f"The application for physical connection {LINE_WHO} is {{{{ $labels.status }}}}; "
        "it will not be provisioned as it stands.",
    )
    return alerts


def _pair_alerts(b: Builder) -> list[dict[str, Any]]:
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
        f"Physical connection {LINE_WHO} was Enabled and is not any more; its redundant partner "
        "{{ $labels.partner_physical_connection_id }} is Enabled, so traffic continues without "
        "redundancy.",
    )
    alerts += b.connection_alert(
        "ExpressConnectRedundancyLost",
        b.with_name(
            f"{PARTNER_DOWN}\nand on({ID})\n{DOWN}\n"
            f"unless on({ID}, partner_physical_connection_id) (\n{indent(younger)}\n)"
        ),
        "critical",
        "Both legs of redundant Express Connect pair {{ $labels.name }} are down",
        f"Physical connection {LINE_WHO} and its redundant partner "
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
        f"Physical connection {LINE_WHO} was Enabled within the last {window} and is no longer "
        "returned by DescribePhysicalConnections, while the region is read successfully.",
    )
    return alerts


def connection_rules(b: Builder) -> list[dict[str, Any]]:
    return [
        *connection_records(b),
        *_state_alerts(b),
        *_expiry_alerts(b),
        *_application_alerts(b),
        *_pair_alerts(b),
    ]


def vbr_records(b: Builder) -> list[dict[str, Any]]:
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
    return [{"record": name, "expr": block(expr)} for name, expr in rules.items()]


def vbr_rules(b: Builder) -> list[dict[str, Any]]:
    c = b.c
    peer_info = b.m(vbr.BGP_INFO)
    alerts: list[dict[str, Any]] = []
    down = f"({SESSION} == 0)\n* on({PEER}) group_left(peer_ip_address, peer_asn)\n{peer_info}"
    # The session's state now (Active, Idle, ...) as a label, where the API reports one.
    state = f"max by ({PEER}, bgp_status) ({b.m(vbr.BGP_STATUS)} == 1)"
    alerts += b.connection_alert(
        "ExpressConnectBgpSessionDown",
        b.with_name(
            f"(\n{indent(down)}\n)\n* on({PEER}) group_left(bgp_status)\n{state}\n"
            f"or on({PEER})\n(\n{indent(down)}\n)"
        ),
        "critical",
        "BGP session {{ $labels.bgp_peer_id }} on Express Connect line {{ $labels.name }} is "
        "not Established",
        "BGP session {{ $labels.bgp_peer_id }} (peer {{ $labels.peer_ip_address }}, AS "
        f"{{{{ $labels.peer_asn }}}}) of {VBR_WHO} has not been Established for "
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
            f"unless on({ID}, partner_physical_connection_id) (\n{indent(younger)}\n)"
        ),
        "critical",
        "No BGP session is Established on either line of redundant pair {{ $labels.name }}",
        "Physical connection {{ $labels.name }} ({{ $labels.physical_connection_id }}) and its "
        "redundant partner {{ $labels.partner_physical_connection_id }} in account "
        "{{ $labels.account }}, region {{ $labels.region_id }} both have BGP sessions and none "
        "of them is Established: the pair carries no routed traffic.",
    )
    return vbr_records(b) + alerts + _vbr_alerts(b)


def _vbr_alerts(b: Builder) -> list[dict[str, Any]]:
    """A VBR not active on an Enabled line; a session near its route limit."""
    c = b.c
    active = b.m(vbr.VBR_STATUS, 'status="active"')
    alerts: list[dict[str, Any]] = []
    alerts += b.connection_alert(
        "ExpressConnectVbrNotActive",
        b.with_name(f"(max without (status) ({active}) == 0)\n{on_vbr_line(VBR_LINE_ENABLED)}"),
        "warning",
        "VBR {{ $labels.vbr_id }} on Express Connect line {{ $labels.name }} is not active",
        f"{VBR_WHO} has not been active for {c['for']['ExpressConnectVbrNotActive']} while the "
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
        f"{VBR_WHO} receives {{{{ $value | humanizePercentage }}}} of its RouteLimit (at least "
        f"{ratio:.0%}); past the limit the session is torn down.",
    )
    return alerts
