"""Resilience alerts and availability recording rules: will a redundant pair fail over?

Built on the ``health_checks`` and ``failover_tests`` collectors and on the shared records of
``alerts/generate.py`` (``partner``, BGP sessions per line). ``rules(b)`` returns the rule group's
rules; ``generate.build`` adds them as the group ``expressconnect.resilience``. Thresholds and
``for`` durations live in ``DEFAULTS`` and can be overridden in the generator's config like
every other value.

Definitions (see docs/runbooks.md, "Resilience"):

* *failover test window* of a line: a failover test job covering it is Starting, Testing or
  Stopping and has not run longer than its JobDuration plus ``failover_test_grace``, or it
  Stopped less than ``failover_test_grace`` ago. While the window is open the info alert
  ExpressConnectFailoverTestRunning fires for the line, and Alertmanager's inhibit rule (in
  config/alertmanager.yml) holds back that line's own down, BGP, traffic and health-check
  alerts (equal account, region_id, physical_connection_id). Pair-wide pages
  (ExpressConnectRedundancyLost, ExpressConnectRedundantPairBgpDown) are never held back: a
  test on one leg while the other leg is down is a real outage.
* Alerts about a line (or a VBR on it) are built with the generator's ``connection_alert``: they
  carry the line's labels (name, circuit code, access point, provider, ``redundancy_pair_id``)
  and link the line's dashboard like every other line alert, so that Alertmanager's grouping
  by line makes one line one incident. The overrun of a test job and a stuck HA group are not
  about one line: they link the region's view.
* *available* line (for the SLA): was Enabled, is Enabled and Normal, has at least one BGP
  session Established and none of its VBRs loses ``availability_loss_ratio`` or more of its
  health-check probes. A pair is available while either of its lines is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.builder import (
    LINE_SESSIONS,
    PARTNER,
    PARTNER_ENABLED,
    PARTNER_SESSIONS,
    VBR_LINE,
    VBR_LINE_ENABLED,
    WAS_ENABLED,
    Builder,
    block,
    indent,
    record,
)
from alerts.health import duration_seconds as _duration_seconds
from exporter import regiontable
from exporter.collectors import failover_tests as ft
from exporter.collectors import health_checks as hc
from exporter.collectors import physical_connections as pc
from exporter.collectors import traffic
from exporter.collectors import virtual_border_routers as vbr
from promql.fragments import DAY, on_vbr_line
from promql.fragments import LINE_KEY as ID
from promql.fragments import VBR_KEY as VBR

GROUP = "expressconnect.resilience"

DEFAULTS: dict[str, Any] = {
    # How long after a failover test's planned end (StartTime + JobDuration), or after it
    # Stopped, its lines' alerts stay held back: BGP needs time to re-establish and the
    # failover_tests collector sees a stop only at its next pass (10m by default).
    "failover_test_grace": "30m",
    # A redundant pair whose newest finished failover test is older than this: info.
    "failover_test_max_age_seconds": 180 * DAY,
    # A pair never tested raises the info alert once both lines have been Enabled this long.
    "failover_test_enabled_for_seconds": 30 * DAY,
    # Health-check loss at or above this share makes a line unavailable (availability rules).
    "availability_loss_ratio": 0.5,
    "availability_window": "30d",
    "for": {
        "ExpressConnectFailoverTestRunning": "0m",
        "ExpressConnectFailoverTestOverrun": "0m",
        "ExpressConnectRedundantPairSameAccessPoint": "15m",
        "ExpressConnectVbrWithoutFailover": "30m",
        "ExpressConnectRedundantPairNotFailoverTested": "1h",
        "ExpressConnectRouteParity": "30m",
        "ExpressConnectVbrHaCreatingTooLong": "0m",
    },
}

JOB = "account, region_id, job_id"
HA = "account, region_id, vbr_ha_id"
PARTNER_ON = "on(account, region_id, partner_physical_connection_id)"
AS_PARTNER = '"partner_physical_connection_id", "$1", "physical_connection_id", "(.+)"'

JOB_WINDOW = record("failover_test_window")
LINE_WINDOW = record("physical_connection_failover_test_window")
PAIR_LAST_TEST = record("redundant_pair_last_failover_test_timestamp_seconds")
LINE_ROUTES = record("physical_connection_received_routes")
PAIR_ROUTE_DIFFERENCE = record("redundant_pair_received_routes_difference")
LINE_AVAILABLE = record("physical_connection_available")
LINE_AVAILABILITY = record("physical_connection_availability_30d")
PAIR_AVAILABLE = record("redundant_pair_available")
PAIR_AVAILABILITY = record("redundant_pair_availability_30d")

# The alerts a failover test window holds back for its line (Alertmanager inhibit rule).
HELD_BACK = (
    "ExpressConnectPhysicalConnectionDown",
    "ExpressConnectRedundancyDegraded",
    "ExpressConnectBgpSessionDown",
    "ExpressConnectVbrNotActive",
    "ExpressConnectLineSaturated",
    "ExpressConnectVbrDroppingPackets",
    "ExpressConnectVbrHealthCheckLoss",
)

_LINE_WHO = (
    "line {{ $labels.name }} ({{ $labels.physical_connection_id }}) in account "
    "{{ $labels.account }}, region {{ $labels.region_id }}"
)


def builder(b: Builder) -> Builder:
    """A builder whose config has the resilience defaults under the caller's own values."""
    config: Mapping[str, Any] = b.c
    merged = {**DEFAULTS, **config, "for": {**DEFAULTS["for"], **config["for"]}}
    return type(b)(merged)


def _both_legs(b: Builder, line_series: str) -> str:
    """``line_series`` (per line) for a line and for its partner, told apart by ``leg``."""
    return (
        f"label_replace(\n  {PARTNER}\n  * on({ID}) group_left()\n  {line_series},\n"
        f'  "leg", "self", "", ""\n)\nor\nlabel_replace(\n  {PARTNER}\n  * {PARTNER_ON} '
        f"group_left()\n  label_replace({line_series}, {AS_PARTNER}),\n"
        '  "leg", "partner", "", ""\n)'
    )


def window_records(b: Builder) -> list[dict[str, Any]]:
    c = b.c
    grace = _duration_seconds(c["failover_test_grace"])
    running = b.m(ft.TEST_STATUS, 'status=~"Starting|Testing|Stopping"')
    overrun = f"time() - {b.m(ft.TEST_START)}\n> on({JOB})\n({b.m(ft.TEST_DURATION)} + {grace})"
    rules = {
        JOB_WINDOW: f"""group by ({JOB}) (
    (
      max by ({JOB}) ({running}) == 1
      unless on({JOB})
      (
{indent(overrun, "        ")}
      )
    )
  or
    time() - {b.m(ft.TEST_STOP)} <= {grace}
)""",
        LINE_WINDOW: f"group by ({ID}) (\n  {b.m(ft.TEST_RESOURCE)}\n"
        f"  * on({JOB}) group_left()\n  {JOB_WINDOW}\n)",
    }
    return [{"record": name, "expr": block(expr)} for name, expr in rules.items()]


def failover_test_alerts(b: Builder) -> list[dict[str, Any]]:
    c = b.c
    grace = c["failover_test_grace"]
    running = b.m(ft.TEST_STATUS, 'status=~"Starting|Testing|Stopping"')
    over = (
        f"(\n  time() - {b.m(ft.TEST_START)}\n  > on({JOB})\n"
        f"  ({b.m(ft.TEST_DURATION)} + {_duration_seconds(grace)})\n)\n"
        f"and on({JOB})\n(max by ({JOB}) ({running}) == 1)"
    )
    return [
        *b.connection_alert(
            "ExpressConnectFailoverTestRunning",
            b.with_name(LINE_WINDOW),
            "info",
            "A failover test takes Express Connect line {{ $labels.name }} down on purpose",
            f"A failover test covers {_LINE_WHO} (running, or stopped less than {grace} ago): "
            "the line is down on purpose and its own down, BGP, traffic and health-check alerts "
            f"are held back until {grace} after the test's planned end. Its redundant partner "
            "carries the traffic now; alerts about the partner still page.",
        ),
        b.alert(
            "ExpressConnectFailoverTestOverrun",
            f"(\n{indent(over)}\n)\n* on({JOB}) group_left(name)\n{b.m(ft.TEST_INFO)}",
            "warning",
            "Failover test {{ $labels.name }} runs far past its planned duration",
            "Failover test {{ $labels.name }} ({{ $labels.job_id }}) in account "
            "{{ $labels.account }}, region {{ $labels.region_id }} started "
            "{{ $value | humanizeDuration }} ago, more than its JobDuration plus "
            f"{grace}, and is still running: its lines stay down, and their alerts are no "
            "longer held back.",
        ),
    ]


def pair_records(b: Builder) -> list[dict[str, Any]]:
    """Per line of a pair: the pair's newest test, and its received routes minus the partner's."""
    received = b.m(vbr.BGP_RECEIVED)
    rules = {
        PAIR_LAST_TEST: f"max by ({ID}, partner_physical_connection_id) (\n"
        f"{indent(_both_legs(b, b.m(ft.LINE_LAST_TEST)))}\n)",
        LINE_ROUTES: f"sum by ({ID}) (\n  {received}\n{indent(on_vbr_line(VBR_LINE))}\n)",
        PAIR_ROUTE_DIFFERENCE: f"{PARTNER}\n* on({ID}) group_left()\n{LINE_ROUTES}\n-\n"
        f"{PARTNER}\n* {PARTNER_ON} group_left()\nlabel_replace({LINE_ROUTES}, {AS_PARTNER})",
    }
    return [{"record": name, "expr": block(expr)} for name, expr in rules.items()]


def _in_service(b: Builder) -> str:
    """The line and its partner both Enabled (appended to a per-leg expression)."""
    enabled = b.m(pc.STATUS, 'status="Enabled"')
    return f"and on({ID}) ({enabled} == 1)\nand on({ID}) ({PARTNER_ENABLED} == 1)"


def pair_alerts(b: Builder) -> list[dict[str, Any]]:
    c = b.c
    in_service = _in_service(b)
    with_ap = b.m(pc.INFO, 'access_point_id!=""')
    ap_info = f"max by ({ID}, access_point_id) ({with_ap})"
    same_ap = (
        f"{PARTNER}\n* on({ID}) group_left(access_point_id)\n{ap_info}\n"
        f"and on(account, region_id, partner_physical_connection_id, access_point_id)\n"
        f"label_replace({ap_info}, {AS_PARTNER})\n{in_service}"
    )
    max_age = c["failover_test_max_age_seconds"]
    enabled_for = c["failover_test_enabled_for_seconds"]
    enabled_ts = f"max by ({ID}) ({b.m(pc.ENABLED)})"
    tested_up = b.m(regiontable.REGION_UP, f'collector="{ft.NAME}"')
    stale = f"time() - {PAIR_LAST_TEST} > {max_age}\n{in_service}"
    # Never tested: -1, so the description can tell the two cases apart.
    never = (
        f"{PARTNER} - 2\nunless on({ID}, partner_physical_connection_id)\n{PAIR_LAST_TEST}\n"
        f"and on({ID})\n(time() - {enabled_ts} > {enabled_for})\n"
        f"and {PARTNER_ON}\n(time() - label_replace({enabled_ts}, {AS_PARTNER}) > {enabled_for})\n"
        f"and on(account, region_id)\n({tested_up} == 1)\n{in_service}"
    )
    days = max_age // DAY
    pair = "{{ $labels.partner_physical_connection_id }}"
    return [
        *b.connection_alert(
            "ExpressConnectRedundantPairSameAccessPoint",
            b.with_name(same_ap),
            "warning",
            "Both lines of redundant pair {{ $labels.name }} end on access point "
            "{{ $labels.access_point_id }}",
            f"{_LINE_WHO} and its redundant partner {pair} both end on access point "
            "{{ $labels.access_point_id }}: one failure of that site takes both down, the pair "
            "is not redundant there.",
        ),
        *b.connection_alert(
            "ExpressConnectRedundantPairNotFailoverTested",
            b.with_name(f"(\n{indent(stale)}\n)\nor\n(\n{indent(never)}\n)"),
            "info",
            "Redundant pair {{ $labels.name }} has not been failover-tested for "
            f"{days} days or more",
            f"{_LINE_WHO} and its partner {pair} have "
            "{{ if lt $value 0.0 }}never been failover-tested, though both have been Enabled "
            f"for more than {enabled_for // DAY} days"
            "{{ else }}not been failover-tested for {{ $value | humanizeDuration }}{{ end }}: "
            "nothing shows the pair (still) fails over.",
        ),
        *route_parity_alerts(b),
    ]


def route_parity_alerts(b: Builder) -> list[dict[str, Any]]:
    """The two legs of a pair receive different numbers of routes (outside a test window)."""
    in_window = (
        f"unless on({ID})\n{LINE_WINDOW}\nunless {PARTNER_ON}\n"
        f"label_replace({LINE_WINDOW}, {AS_PARTNER})"
    )
    parity = (
        f"{PAIR_ROUTE_DIFFERENCE} != 0\n{_in_service(b)}\n"
        f"and on({ID})\n({LINE_SESSIONS} > 0)\nand on({ID})\n({PARTNER_SESSIONS} > 0)\n{in_window}"
    )
    pair = "{{ $labels.partner_physical_connection_id }}"
    return [
        *b.connection_alert(
            "ExpressConnectRouteParity",
            b.with_name(parity),
            "warning",
            "The two lines of redundant pair {{ $labels.name }} receive different numbers of "
            "routes",
            f"{_LINE_WHO} receives {{{{ $value }}}} routes more (negative: fewer) over BGP than "
            f"its partner {pair}: after a failover the other line would not carry the same "
            "prefixes.",
        ),
    ]


def vbr_alerts(b: Builder) -> list[dict[str, Any]]:
    configured = b.m(hc.CONFIGURED)
    switches = b.m(hc.SWITCHES_ROUTES)
    active = b.m(vbr.VBR_STATUS, 'status="active"')
    reasons = (
        f'label_replace({configured} == 0, "reason", "no health check", "", "")\nor\n'
        f'label_replace({switches} == 0, "reason", "a probe-only health check", "", "")'
    )
    # Parenthesised: `and` binds looser than `*`, the line's ID must come from the join.
    exposed = (
        f"(\n  (\n{indent(reasons, '    ')}\n  )\n  and on({VBR})\n  ({active} == 1)\n)\n"
        f"{on_vbr_line(VBR_LINE_ENABLED)}\n"
        f"and on({ID})\n{PARTNER}"
    )
    return [
        *b.connection_alert(
            "ExpressConnectVbrWithoutFailover",
            b.with_name(exposed),
            "warning",
            "VBR {{ $labels.vbr_id }} on redundant line {{ $labels.name }} does not fail over "
            "by itself",
            "VBR {{ $labels.vbr_id }} on line {{ $labels.name }} "
            "({{ $labels.physical_connection_id }}) in account {{ $labels.account }}, region "
            "{{ $labels.region_id }} is on a line of a redundant pair and has "
            "{{ $labels.reason }}: if the line fails, CEN does not move its routes to the "
            "other line.",
        ),
    ]


def ha_alerts(b: Builder) -> list[dict[str, Any]]:
    creating = b.m(ft.HA_STATUS, 'status="Creating"')
    expr = (
        f"(\n  time() - {b.m(ft.HA_CREATION)} > {DAY}\n  and on({HA})\n  ({creating} == 1)\n)\n"
        f"* on({HA}) group_left(vbr_id, peer_vbr_id, name)\n{b.m(ft.HA_INFO)}"
    )
    return [
        b.alert(
            "ExpressConnectVbrHaCreatingTooLong",
            expr,
            "warning",
            "VBR HA group {{ $labels.name }} has been Creating for more than a day",
            "VBR HA group {{ $labels.name }} ({{ $labels.vbr_ha_id }}: {{ $labels.vbr_id }} and "
            "{{ $labels.peer_vbr_id }}) in account {{ $labels.account }}, region "
            "{{ $labels.region_id }} was created {{ $value | humanizeDuration }} ago and is "
            "still Creating: the two VBRs do not fail over as a group yet.",
        ),
    ]


def availability_records(b: Builder) -> list[dict[str, Any]]:
    """Per line and per pair: available now (1/0), and the share of the window it was."""
    c = b.c
    window = c["availability_window"]
    enabled_status = b.m(pc.STATUS, 'status="Enabled"')
    normal_status = b.m(pc.BUSINESS_STATUS, 'business_status="Normal"')
    enabled = f"max by ({ID}) ({enabled_status})"
    normal = f"max by ({ID}) ({normal_status})"
    lossy = (
        f"max by ({ID}) (\n  ({b.m(traffic.HEALTH_LOSS)} >= bool {c['availability_loss_ratio']})"
        f"\n{indent(on_vbr_line(VBR_LINE))}\n)"
    )
    base = f"({enabled}\n* on({ID})\n{normal})"
    line = (
        f"{base}\n* on({ID})\n(clamp_max({LINE_SESSIONS}, 1) or on({ID}) {base} * 0)\n"
        f"* on({ID})\n(1 - {lossy}\nor on({ID}) {base} * 0 + 1)\nand on({ID})\n{WAS_ENABLED}"
    )
    legs = indent(_both_legs(b, LINE_AVAILABLE))
    pair = f"max by ({ID}, partner_physical_connection_id) (\n{legs}\n)"
    rules = {
        LINE_AVAILABLE: line,
        LINE_AVAILABILITY: f"avg_over_time({LINE_AVAILABLE}[{window}])",
        PAIR_AVAILABLE: pair,
        PAIR_AVAILABILITY: f"avg_over_time({PAIR_AVAILABLE}[{window}])",
    }
    return [{"record": name, "expr": block(expr)} for name, expr in rules.items()]


def rules(b: Builder) -> list[dict[str, Any]]:
    """The resilience group's rules, records first."""
    r = builder(b)
    return [
        *window_records(r),
        *pair_records(r),
        *availability_records(r),
        *failover_test_alerts(r),
        *pair_alerts(r),
        *vbr_alerts(r),
        *ha_alerts(r),
    ]
