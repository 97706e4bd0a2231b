"""The PromQL of redundant pairs, for the resilience dashboard: the two legs of the selected
pair, which VBRs fail over by themselves, and what puts a pair at risk.

A *pair* is what the alert rules call one: a line and the line its
``redundant_physical_connection_id`` names, either way round (the rules' ``partner`` record,
reused here, as are the availability, last-test and route records of ``alerts/resilience.py``,
imported by name: the dashboard shows what the resilience alerts judge). The legs of the
selected pair are found from the line info itself, so they show before the rules have run.
"""

from __future__ import annotations

from alerts import resilience
from alerts.builder import LINE_SESSIONS, PARTNER, PARTNER_SESSIONS
from grafana.dashboards_src.metrics import (
    FAILOVER_COLLECTOR,
    HA_INFO,
    HC_CONFIGURED,
    HC_SWITCHES,
    INFO,
    REGION_UP,
    STATUS,
    VBR_INFO,
    VBR_STATUS,
)
from grafana.dashboards_src.queries import ONE, SEL, on_line, only_where, with_labels
from promql.fragments import DAY, LINE_ID, LINE_KEY, REGION_KEY, VBR_KEY, copy_label

PARTNER_ID = "partner_physical_connection_id"
PAIR_KEY = f"{LINE_KEY}, {PARTNER_ID}"
JOB_KEY = f"{REGION_KEY}, job_id"
HA_KEY = f"{REGION_KEY}, vbr_ha_id"
# The records of the resilience rules this dashboard reads.
LINE_AVAILABLE = resilience.LINE_AVAILABLE
LINE_AVAILABILITY = resilience.LINE_AVAILABILITY
PAIR_AVAILABILITY = resilience.PAIR_AVAILABILITY
PAIR_LAST_TEST = resilience.PAIR_LAST_TEST
LINE_ROUTES = resilience.LINE_ROUTES
ROUTE_DIFFERENCE = resilience.PAIR_ROUTE_DIFFERENCE
# The thresholds the resilience alerts use.
MAX_TEST_AGE = int(resilience.DEFAULTS["failover_test_max_age_seconds"])
WINDOW = str(resilience.DEFAULTS["availability_window"])
# Availability colours: red below 99 %, orange below 99.9 %.
AVAILABILITY_STEPS = ((0.99, "orange"), (0.999, "green"))
# The ``leg`` label of the per-pair section.
SELECTED, PARTNER_LEG = "selected line", "redundant partner"
NO_FAILOVER, PROBE_ONLY = "no health check", "probe-only health check"
LOSS_LIMIT = float(resilience.DEFAULTS["availability_loss_ratio"])
# The two risks of a pair without a recent failover test.
NEVER_TESTED = "never failover-tested"
OVERDUE = f"not failover-tested for {MAX_TEST_AGE // DAY} days"
UNTESTED = (NEVER_TESTED, OVERDUE)


# --- PromQL -----------------------------------------------------------------------------------


def legs() -> str:
    """The two legs of the selected pair, one series each with ``leg``: the selected line, and
    the line it names as redundant or that names it (the partner may name it only)."""
    named = f'{INFO}{{{ONE}, redundant_physical_connection_id!=""}}'
    partner = f"label_replace({named}, {copy_label(LINE_ID, 'redundant_physical_connection_id')})"
    naming = f'{INFO}{{{SEL}, redundant_physical_connection_id="$connection"}}'
    return (
        f'(\n  label_replace(max by ({LINE_KEY}) ({INFO}{{{ONE}}}), "leg", "{SELECTED}", "", "")\n'
        f"  or\n  label_replace(\n    max by ({LINE_KEY}) ({partner})\n    or\n"
        f'    max by ({LINE_KEY}) ({naming}),\n    "leg", "{PARTNER_LEG}", "", ""\n  )\n)'
    )


def of_legs(expr: str) -> str:
    """``expr`` (keyed by line) for the two legs only."""
    return only_where(expr, LINE_KEY, legs())


def with_leg(expr: str) -> str:
    """``expr`` (keyed by line) for the two legs, each with its ``leg`` label."""
    return with_labels(expr, LINE_KEY, "leg", legs())


def leg_vbrs() -> str:
    """The VBRs on either leg of the selected pair."""
    return f"max by ({VBR_KEY}) (\n  {VBR_INFO}{{{SEL}}}\n  and on ({LINE_KEY})\n{legs()}\n)"


def fails_over() -> str:
    """Per active VBR: 1 when a health check moves its routes to the other line if it fails, 0
    without a health check or with a probe-only one (as ExpressConnectVbrWithoutFailover)."""
    return (
        f"(\n  max by ({VBR_KEY}) ({HC_SWITCHES}{{{SEL}}})\n  or on ({VBR_KEY})\n"
        f"  max by ({VBR_KEY}) ({HC_CONFIGURED}{{{SEL}}})\n)\n"
        f'and on ({VBR_KEY})\n({VBR_STATUS}{{{SEL}, status="active"}} == 1)'
    )


def without_failover() -> str:
    """The active VBRs that do not fail over by themselves, with the ``reason``."""
    return (
        f'(\n  label_replace(max by ({VBR_KEY}) ({HC_CONFIGURED}{{{SEL}}}) == 0, "reason", '
        f'"{NO_FAILOVER}", "", "")\n  or\n'
        f'  label_replace(max by ({VBR_KEY}) ({HC_SWITCHES}{{{SEL}}}) == 0, "reason", '
        f'"{PROBE_ONLY}", "", "")\n)\n'
        f'and on ({VBR_KEY})\n({VBR_STATUS}{{{SEL}, status="active"}} == 1)'
    )


def as_partner(expr: str) -> str:
    """A per-line series keyed by the line as somebody's partner."""
    return f"label_replace({expr}, {copy_label(PARTNER_ID, LINE_ID)})"


def pair_risks() -> list[tuple[str, str]]:
    """(risk, the lines of pairs that run it): each keyed by line and partner."""
    pairs = f"{PARTNER}{{{SEL}}}"
    access_point = f'max by ({LINE_KEY}, access_point_id) ({INFO}{{{SEL}, access_point_id!=""}})'
    tested = f'({REGION_UP}{{{SEL}, collector="{FAILOVER_COLLECTOR}"}} == 1)'
    per_line_failover = f"min by ({LINE_KEY}) (\n{on_line(fails_over(), SEL)}\n)"
    return [
        (
            "both lines end on one access point",
            f"{pairs}\n* on ({LINE_KEY}) group_left (access_point_id)\n{access_point}\n"
            f"and on ({REGION_KEY}, {PARTNER_ID}, access_point_id)\n{as_partner(access_point)}",
        ),
        (
            "a VBR does not fail over by itself",
            f"{pairs}\nand on ({LINE_KEY})\n({per_line_failover} == 0)",
        ),
        (
            NEVER_TESTED,
            f"{pairs}\nunless on ({PAIR_KEY})\n{PAIR_LAST_TEST}{{{SEL}}}\n"
            f"and on ({REGION_KEY})\n{tested}",
        ),
        (
            OVERDUE,
            f"{pairs}\nand on ({PAIR_KEY})\n(time() - {PAIR_LAST_TEST}{{{SEL}}} > {MAX_TEST_AGE})",
        ),
        (
            "receives other routes than its partner",
            f"({ROUTE_DIFFERENCE}{{{SEL}}} != 0)\n"
            f"and on ({LINE_KEY})\n({LINE_SESSIONS}{{{SEL}}} > 0)\n"
            f"and on ({PAIR_KEY})\n({PARTNER_SESSIONS}{{{SEL}}} > 0)",
        ),
        (
            "line not available now",
            f"{pairs}\nand on ({LINE_KEY})\n({LINE_AVAILABLE}{{{SEL}}} == 0)",
        ),
        (
            "line not Enabled",
            f'{pairs}\nand on ({LINE_KEY})\n({STATUS}{{{SEL}, status="Enabled"}} == 0)',
        ),
    ]


def at_risk() -> str:
    """One series per line of a pair and risk it runs (labels ``risk`` and the partner)."""
    terms = "\nor\n".join(
        f'label_replace(\n{expr}\n, "risk", "{risk}", "", "")' for risk, expr in pair_risks()
    )
    return f"max by ({PAIR_KEY}, risk) (\n{terms}\n)"


def ha_of_pair() -> str:
    """The HA groups one of whose VBRs is on a leg of the selected pair."""
    vbrs = leg_vbrs()
    peer_as_vbr = f'label_replace({HA_INFO}{{{SEL}}}, "vbr_id", "$1", "peer_vbr_id", "(.+)")'
    return (
        f"group by ({HA_KEY}) (\n  {HA_INFO}{{{SEL}}} and on ({VBR_KEY})\n{vbrs}\n  or\n"
        f"  {peer_as_vbr} and on ({VBR_KEY})\n{vbrs}\n)"
    )


def same_access_point() -> str:
    """1 when both legs of the selected pair end on one access point, 0 when they do not
    (nothing without a partner): the legs minus their distinct access points."""
    on_ap = f'{INFO}{{{SEL}, access_point_id!=""}}\nand on ({LINE_KEY})\n{legs()}'
    return (
        f"(\n  count(\n{on_ap}\n  )\n  - count(group by (access_point_id) (\n{on_ap}\n  ))\n"
        f") > bool 0\nand on ()\n(count(\n{on_ap}\n) > 1)"
    )
