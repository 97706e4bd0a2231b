"""Resilience: will each redundant pair fail over? The fleet's pairs at risk, VBRs that do not
fail over by themselves, failover tests and availability; then one pair (the line in the
``connection`` variable and its redundant partner) leg by leg.

The PromQL (legs, failover, risks) is in :mod:`.pairs`; the availability, last-test and route
figures are the resilience recording rules' (config/alerts/), so the dashboard needs them loaded.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import VisibilityMode

from alerts.builder import PARTNER
from grafana.dashboards_src.board import (
    DATASOURCE,
    RESILIENCE_UID,
    Board,
    connection_link,
    label_variable,
    new_dashboard,
)
from grafana.dashboards_src.metrics import (
    HA_CREATED,
    HA_INFO,
    HA_STATUS,
    HC_CONFIGURED,
    HC_INFO,
    HC_INTERVAL,
    HC_SWITCHES,
    HC_THRESHOLD,
    INFO,
    LAST_TEST,
    STATUS,
    TEST_ACTIVE,
    TEST_DURATION,
    TEST_INFO,
    TEST_RESOURCE,
    TEST_START,
    TEST_STATUS,
    TEST_STOP,
    VBR_INFO,
)
from grafana.dashboards_src.pairs import (
    AVAILABILITY_STEPS,
    HA_KEY,
    JOB_KEY,
    LINE_AVAILABILITY,
    LINE_AVAILABLE,
    LINE_ROUTES,
    LOSS_LIMIT,
    MAX_TEST_AGE,
    PAIR_AVAILABILITY,
    PAIR_KEY,
    PARTNER_ID,
    ROUTE_DIFFERENCE,
    UNTESTED,
    WINDOW,
    at_risk,
    fails_over,
    ha_of_pair,
    leg_vbrs,
    of_legs,
    pair_risks,
    same_access_point,
    with_leg,
    without_failover,
)
from grafana.dashboards_src.panels import (
    big_stat,
    fixed_color,
    instant,
    legend,
    organize,
    prop,
    query,
    stat_now,
    threshold_cell,
    thresholds,
    transformation,
    value_map,
)
from grafana.dashboards_src.queries import (
    ONE,
    SEL,
    established_per_line,
    on_line,
    sessions_per_line,
    with_name,
)
from grafana.dashboards_src.states import status_cell
from grafana.dashboards_src.tables import COLUMN_NAMES
from promql.fragments import DAY, LINE_ID, LINE_KEY, VBR_KEY

# --- fleet ------------------------------------------------------------------------------------


def fleet_stats(d: dash.Dashboard) -> dash.Dashboard:
    """How many lines are paired, at risk, untested or under test; VBRs without failover; the
    worst pair availability."""
    days = MAX_TEST_AGE // DAY
    untested = "\nor\n".join(expr for risk, expr in pair_risks() if risk in UNTESTED)
    counts = (
        (
            "Lines in redundant pairs",
            "Lines that name a partner or are named.",
            f"count({PARTNER}{{{SEL}}})",
            None,
        ),
        (
            "Lines of pairs with a risk",
            "Lines of redundant pairs with at least one risk (table below).",
            f"count(\nmax by ({LINE_KEY}) (\n{at_risk()}\n)\n) or vector(0)",
            ("green", "orange"),
        ),
        (
            "VBRs without failover",
            "Active VBRs without a health check or with a probe-only one: "
            "if their line fails, CEN does not move their routes.",
            f"count(\n{without_failover()}\n) or vector(0)",
            ("green", "orange"),
        ),
        (
            "Lines under a failover test",
            "Lines a Starting, Testing or Stopping failover test takes down on purpose now.",
            f"sum({TEST_ACTIVE}{{{SEL}}}) or vector(0)",
            ("green", "blue"),
        ),
        (
            f"Pair lines not tested in {days} days",
            f"Lines of pairs never failover-tested or last tested more than {days} days ago.",
            f"count(\nmax by ({LINE_KEY}) (\n{untested}\n)\n) or vector(0)",
            ("green", "orange"),
        ),
    )
    for title, description, expr, colors in counts:
        panel = big_stat(title, description, stat_now(expr)).no_value("0")
        if colors is None:
            panel = panel.color_scheme(fixed_color("blue"))
        else:
            panel = panel.thresholds(thresholds(colors[0], (1, colors[1])))
        d = d.with_panel(panel)
    return d.with_panel(
        big_stat(
            f"Lowest pair availability ({WINDOW})",
            f"The least available redundant pair over {WINDOW}: a pair is available while "
            "either line is (Enabled and Normal, a BGP session Established, health-check loss "
            f"below {LOSS_LIMIT:.0%}).",
            stat_now(f"min({PAIR_AVAILABILITY}{{{SEL}}})"),
        )
        .unit("percentunit")
        .decimals(3)
        .thresholds(thresholds("red", *AVAILABILITY_STEPS))
    )


def risk_table() -> table.Panel:
    """Each line of a redundant pair with each risk it runs."""
    order = ["name", LINE_ID, PARTNER_ID, "risk", "account", "region_id"]
    rename = {**COLUMN_NAMES, PARTNER_ID: "Redundant partner", "risk": "Risk"}
    return (
        table.Panel()
        .title("Risks to redundant pairs")
        .description(
            "One row per line of a redundant pair and risk: both lines on one access point, a "
            "VBR without a route-switching health check, no failover test (or none for "
            f"{MAX_TEST_AGE // DAY} days), different received routes, a line not available or "
            "not Enabled. Click an ID for the line's detail."
        )
        .datasource(DATASOURCE)
        .with_target(instant(with_name(at_risk(), SEL)))
        .with_transformation(organize(["Time", "Value"], rename, order))
        .override_by_name("ID", [prop("links", [connection_link()])])
        .no_value("No redundant pair runs a known risk")
        .height(9)
        .span(12)
    )


def vbr_table() -> table.Panel:
    """Every active VBR without a route-switching health check, with its line and partner."""
    line = f"max by ({LINE_KEY}, name, redundant_physical_connection_id) ({INFO}{{{SEL}}})"
    expr = (
        f"{on_line(without_failover(), SEL)}\n"
        f"* on ({LINE_KEY}) group_left (name, redundant_physical_connection_id)\n{line}"
    )
    names = {
        **COLUMN_NAMES,
        "vbr_id": "VBR",
        "reason": "Why",
        "redundant_physical_connection_id": "Redundant partner",
    }
    order = ["vbr_id", "reason", "name", LINE_ID, "redundant_physical_connection_id"]
    return (
        table.Panel()
        .title("VBRs that do not fail over by themselves")
        .description(
            "Active VBRs with no CEN health check (static routing, or never set up) or a "
            "probe-only one (HealthCheckOnly): a failed line does not move their routes to the "
            "redundant line. On a line of a redundant pair this is a warning alert."
        )
        .datasource(DATASOURCE)
        .with_target(instant(expr))
        .with_transformation(organize(["Time", "Value"], names, [*order, "account", "region_id"]))
        .override_by_name("ID", [prop("links", [connection_link()])])
        .no_value("Every active VBR has a health check that switches routes")
        .height(9)
        .span(12)
    )


def tests_table(title: str, description: str, span: int, *, legs: bool = False) -> table.Panel:
    """Failover test jobs, one row per job and line it covers (``legs``: only the lines of the
    selected pair, each row with its ``leg``)."""
    lines = f"max by ({JOB_KEY}, {LINE_ID}) ({TEST_RESOURCE}{{{SEL}}})"
    resources = with_leg(lines) if legs else lines
    info = f"max by ({JOB_KEY}, name, job_type) ({TEST_INFO}{{{SEL}}})"
    status = f"max by ({JOB_KEY}, status) ({TEST_STATUS}{{{SEL}}} == 1)"
    rows = f"* on ({JOB_KEY}) group_right ()\n{resources}"
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        instant(
            f"{resources}\n* on ({JOB_KEY}) group_left (name, job_type)\n{info}\n"
            f"* on ({JOB_KEY}) group_left (status)\n{status}",
            "A",
        ),
        instant(f"max by ({JOB_KEY}) ({TEST_START}{{{SEL}}}) * 1000\n{rows}", "B"),
        instant(f"max by ({JOB_KEY}) ({TEST_STOP}{{{SEL}}}) * 1000\n{rows}", "C"),
        instant(f"max by ({JOB_KEY}) ({TEST_DURATION}{{{SEL}}})\n{rows}", "D"),
    ]
    names = {
        "name": "Test",
        "job_id": "Job",
        "job_type": "Type",
        "status": "Status",
        LINE_ID: "Line",
        "leg": "Leg",
        "Value #B": "Started",
        "Value #C": "Stopped",
        "Value #D": "Planned duration",
        "account": "Account",
        "region_id": "Region",
    }
    order = [n for n in names if n != "leg" or legs]
    colors = {"Testing": "orange", "Starting": "orange", "Stopping": "orange", "Init": "blue"}
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(targets)
        .with_transformation(transformation("merge", {}))
        .with_transformation(organize(["Time", "Value #A"], names, order))
        .sort_by([common.TableSortByFieldState().display_name("Started").desc(True)])
        .override_by_name("Started", [prop("unit", "dateTimeAsIso")])
        .override_by_name("Stopped", [prop("unit", "dateTimeAsIso")])
        .override_by_name("Planned duration", [prop("unit", "s")])
        .override_by_name(
            "Status",
            [
                prop("mappings", [value_map({s: (s, c) for s, c in colors.items()})]),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .override_by_name("Line", [prop("links", [connection_link()])])
        .no_value("No failover test")
        .height(9)
        .span(span)
    )


def ha_table(title: str, description: str, only: str, span: int) -> table.Panel:
    """VBR HA groups (``only``: an ``and on`` filter, or empty): members, status, creation."""
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        instant(f"max by ({HA_KEY}, vbr_id, peer_vbr_id) ({HA_INFO}{{{SEL}}}){only}", "A"),
        instant(f"max by ({HA_KEY}, status) ({HA_STATUS}{{{SEL}}} == 1){only}", "B"),
        instant(f"max by ({HA_KEY}) ({HA_CREATED}{{{SEL}}}) * 1000{only}", "C"),
    ]
    names = {
        "vbr_ha_id": "HA group",
        "vbr_id": "VBR",
        "peer_vbr_id": "Peer VBR",
        "status": "Status",
        "Value #C": "Created",
        "account": "Account",
        "region_id": "Region",
    }
    status = value_map({"Active": ("Active", "green"), "Creating": ("Creating", "orange")})
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(targets)
        .with_transformation(transformation("merge", {}))
        .with_transformation(organize(["Time", "Value #A", "Value #B"], names, list(names)))
        .override_by_name("Created", [prop("unit", "dateTimeAsIso")])
        .override_by_name(
            "Status",
            [prop("mappings", [status]), prop("custom.cellOptions", {"type": "color-text"})],
        )
        .no_value("No VBR HA group")
        .height(7)
        .span(span)
    )


def availability_table() -> table.Panel:
    """Every line's availability over the window, and its pair's where it has one."""
    names = {
        **COLUMN_NAMES,
        PARTNER_ID: "Redundant partner",
        "Value #A": f"Line ({WINDOW})",
        "Value #B": f"Pair ({WINDOW})",
    }
    order = ["name", LINE_ID, "Value #A", PARTNER_ID, "Value #B", "account", "region_id"]
    share = [prop("unit", "percentunit"), prop("decimals", 3)]
    cell = threshold_cell("red", *AVAILABILITY_STEPS)
    return (
        table.Panel()
        .title(f"Availability ({WINDOW})")
        .description(
            f"Share of the last {WINDOW} each line was available (Enabled and Normal, at least "
            f"one BGP session Established, no VBR losing {LOSS_LIMIT:.0%} of its health-check "
            "probes) and its "
            "redundant pair was (either line available), from the resilience recording rules "
            f"{LINE_AVAILABILITY} and {PAIR_AVAILABILITY}. Least available first."
        )
        .datasource(DATASOURCE)
        .targets(
            [
                instant(with_name(f"{LINE_AVAILABILITY}{{{SEL}}}", SEL), "A"),
                instant(f"max by ({PAIR_KEY}) ({PAIR_AVAILABILITY}{{{SEL}}})", "B"),
            ]
        )
        .with_transformation(transformation("merge", {}))
        .with_transformation(organize(["Time"], names, order))
        .sort_by([common.TableSortByFieldState().display_name(f"Line ({WINDOW})").desc(False)])
        .override_by_name(f"Line ({WINDOW})", [*share, *cell])
        .override_by_name(f"Pair ({WINDOW})", [*share, *cell])
        .override_by_name("ID", [prop("links", [connection_link()])])
        .height(9)
        .span(12)
    )


def fleet(d: dash.Dashboard) -> dash.Dashboard:
    d = fleet_stats(d.with_row(dash.Row("Fleet")))
    d = d.with_panel(risk_table()).with_panel(vbr_table())
    d = d.with_panel(
        tests_table(
            "Failover tests",
            "Every failover test job, one row per line it covers: a line is down on purpose "
            "while its job is Starting, Testing or Stopping. Stopped is set once the job has "
            "Stopped (a running job's StopTime may be its planned end).",
            24,
        )
    )
    d = d.with_panel(availability_table())
    return d.with_panel(
        ha_table(
            "VBR HA groups",
            "VBR HA groups (a VBR and its peer VBR): Creating for more than a day is a warning.",
            "",
            12,
        )
    )


# --- the selected pair ------------------------------------------------------------------------


def yes_no(yes: tuple[str, str], no: tuple[str, str]) -> model.ValueMap:
    """A mapping of 1 and 0 to (text, colour)."""
    return value_map({"1": yes, "0": no})


def pair_stat(title: str, description: str, expr: str) -> stat.Panel:
    return big_stat(title, description, stat_now(expr))


def pair_stats(d: dash.Dashboard) -> dash.Dashboard:
    """Same access point, test running, last test, route difference, HA, availability."""
    d = d.with_panel(
        pair_stat(
            "Same access point",
            "Whether both legs end on one access point: one failure of that site takes both.",
            same_access_point(),
        )
        .mappings([yes_no(("Same access point", "red"), ("Different access points", "green"))])
        .no_value("No redundant partner")
    )
    d = d.with_panel(
        pair_stat(
            "Failover test running",
            "Whether a Starting, Testing or Stopping failover test covers a leg now (that leg "
            "is down on purpose; its own alerts are held back).",
            f"max(\n{of_legs(f'{TEST_ACTIVE}{{{SEL}}}')}\n)",
        ).mappings([yes_no(("Test running", "blue"), ("No test running", "green"))])
    )
    d = d.with_panel(
        pair_stat(
            "Last failover test",
            "Time since the newest Stopped failover test covering either leg stopped "
            f"(warning alert after {MAX_TEST_AGE // DAY} days).",
            f"time() - max(\n{of_legs(f'{LAST_TEST}{{{SEL}}}')}\n)",
        )
        .unit("s")
        .thresholds(thresholds("green", (MAX_TEST_AGE, "orange")))
        .no_value("Never tested")
    )
    d = d.with_panel(
        pair_stat(
            "Route difference",
            "Routes the selected line receives over BGP minus its partner's (route parity): not "
            "0, a failover would not carry the same prefixes.",
            f"max({ROUTE_DIFFERENCE}{{{ONE}}})",
        )
        .thresholds(thresholds("orange", (0, "green"), (1, "orange")))
        .no_value("No partner or no routes")
    )
    d = d.with_panel(
        pair_stat(
            "VBR HA groups Active",
            "Active VBR HA groups with a VBR on either leg (table below).",
            f'count(\n  {HA_STATUS}{{{SEL}, status="Active"}} == 1\n  and on ({HA_KEY})\n'
            f"{ha_of_pair()}\n) or vector(0)",
        ).color_scheme(fixed_color("blue"))
    )
    return d.with_panel(
        pair_stat(
            f"Pair availability ({WINDOW})",
            f"Share of the last {WINDOW} either leg was available ({PAIR_AVAILABILITY}).",
            f"max({PAIR_AVAILABILITY}{{{ONE}}})",
        )
        .unit("percentunit")
        .decimals(3)
        .thresholds(thresholds("red", *AVAILABILITY_STEPS))
    )


_LEG_COLUMNS = {
    "leg": "Leg",
    "name": "Name",
    LINE_ID: "ID",
    "status": "Status",
    "access_point_id": "Access point",
    "Value #C": "Established sessions",
    "Value #D": "BGP sessions",
    "Value #E": "VBRs failing over",
    "Value #F": "Active VBRs",
    "Value #G": "Test running",
    "Value #H": "Last test",
    "Value #I": "Received routes",
    "Value #J": f"Availability ({WINDOW})",
    "account": "Account",
    "region_id": "Region",
}


def legs_table() -> table.Panel:
    """The two legs side by side: state, BGP, health checks, tests, routes, availability."""
    per_line_failover = on_line(fails_over(), SEL)
    info = f"max by ({LINE_KEY}, name, access_point_id) ({INFO}{{{SEL}}})"
    columns = [
        f"max by ({LINE_KEY}, status) ({STATUS}{{{SEL}}} == 1)",
        established_per_line(SEL),
        sessions_per_line(SEL),
        f"sum by ({LINE_KEY}) (\n{per_line_failover}\n)",
        f"count by ({LINE_KEY}) (\n{per_line_failover}\n)",
        f"max by ({LINE_KEY}) ({TEST_ACTIVE}{{{SEL}}})",
        f"time() - max by ({LINE_KEY}) ({LAST_TEST}{{{SEL}}})",
        f"max by ({LINE_KEY}) ({LINE_ROUTES}{{{SEL}}})",
        f"max by ({LINE_KEY}) ({LINE_AVAILABILITY}{{{SEL}}})",
    ]
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [instant(with_leg(info), "A")]
    targets += [instant(of_legs(expr), chr(ord("B") + i)) for i, expr in enumerate(columns)]
    return (
        table.Panel()
        .title("Legs")
        .description(
            "The selected line and its redundant partner: status, BGP sessions Established, "
            "active VBRs whose health check switches routes, failover test now and the newest "
            f"one's age, received routes, availability over {WINDOW}."
        )
        .datasource(DATASOURCE)
        .targets(targets)
        .with_transformation(transformation("merge", {}))
        .with_transformation(
            organize(["Time", "Value #A", "Value #B"], _LEG_COLUMNS, list(_LEG_COLUMNS))
        )
        .override_by_name("Status", status_cell())
        .override_by_name("Established sessions", threshold_cell("red", (1, "green")))
        .override_by_name(
            "Test running",
            [
                prop("mappings", [yes_no(("running", "blue"), ("no", "green"))]),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .override_by_name(
            "Last test", [prop("unit", "s"), *threshold_cell("green", (MAX_TEST_AGE, "orange"))]
        )
        .override_by_name(
            f"Availability ({WINDOW})",
            [
                prop("unit", "percentunit"),
                prop("decimals", 3),
                *threshold_cell("red", *AVAILABILITY_STEPS),
            ],
        )
        .override_by_name("ID", [prop("links", [connection_link()])])
        .no_value("Select a line of a redundant pair")
        .height(6)
        .span(24)
    )


def health_check_table() -> table.Panel:
    """Each VBR of the pair: health check configured, switching routes, probes, addresses."""
    vbrs = leg_vbrs()

    def of_pair(expr: str) -> str:
        return f"{expr}\nand on ({VBR_KEY})\n{vbrs}"

    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        instant(with_leg(f"max by ({VBR_KEY}, {LINE_ID}) ({VBR_INFO}{{{SEL}}})"), "A"),
        instant(of_pair(f"max by ({VBR_KEY}) ({HC_CONFIGURED}{{{SEL}}})"), "B"),
        instant(of_pair(f"max by ({VBR_KEY}) ({HC_SWITCHES}{{{SEL}}})"), "C"),
        instant(of_pair(f"max by ({VBR_KEY}) ({HC_INTERVAL}{{{SEL}}})"), "D"),
        instant(of_pair(f"max by ({VBR_KEY}) ({HC_THRESHOLD}{{{SEL}}})"), "E"),
        instant(
            of_pair(f"max by ({VBR_KEY}, cen_id, source_ip, target_ip) ({HC_INFO}{{{SEL}}})"), "F"
        ),
    ]
    names = {
        "leg": "Leg",
        LINE_ID: "Line",
        "vbr_id": "VBR",
        "Value #B": "Health check",
        "Value #C": "Switches routes",
        "Value #D": "Probe interval",
        "Value #E": "Probes",
        "source_ip": "Source IP",
        "target_ip": "Target IP",
        "cen_id": "CEN",
    }
    return (
        table.Panel()
        .title("Health checks of the pair's VBRs")
        .description(
            "Each VBR on either leg: whether CEN has a health check for it, whether a failed "
            "check moves routes to the other line (not with HealthCheckOnly), probe interval "
            "and count, probe addresses."
        )
        .datasource(DATASOURCE)
        .targets(targets)
        .with_transformation(transformation("merge", {}))
        .with_transformation(organize(["Time", "Value #A", "Value #F"], names, list(names)))
        .override_by_name(
            "Health check",
            [
                prop("mappings", [yes_no(("configured", "green"), ("none", "red"))]),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .override_by_name(
            "Switches routes",
            [
                prop("mappings", [yes_no(("yes", "green"), ("probe only", "orange"))]),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .override_by_name("Probe interval", [prop("unit", "s")])
        .no_value("No VBR on the pair")
        .height(7)
        .span(24)
    )


def leg_series(title: str, description: str, expr: str) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(query(with_leg(expr), legend="{{leg}} {{physical_connection_id}}"))
        .min(0)
        .decimals(0)
        .legend(legend())
        .height(8)
        .span(12)
    )


def pair_history(d: dash.Dashboard) -> dash.Dashboard:
    """Sessions, routes and availability per leg over time."""
    d = d.with_panel(
        leg_series(
            "Established BGP sessions per leg",
            "BGP sessions of each leg that carry routes.",
            established_per_line(SEL),
        )
    )
    d = d.with_panel(
        leg_series(
            "Received routes per leg",
            "Routes each leg receives over all its BGP sessions (parity: the two should match).",
            f"{LINE_ROUTES}{{{SEL}}}",
        )
    )
    d = d.with_panel(
        statetimeline.Panel()
        .title("Leg available")
        .description(f"Each leg available or not ({LINE_AVAILABLE}), over time.")
        .datasource(DATASOURCE)
        .with_target(
            query(
                with_leg(f"{LINE_AVAILABLE}{{{SEL}}}"), legend="{{leg}} {{physical_connection_id}}"
            )
        )
        .mappings([yes_no(("available", "green"), ("not available", "red"))])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .merge_values(True)
        .show_value(VisibilityMode.AUTO)
        .legend(legend().show_legend(False))
        .height(8)
        .span(12)
    )
    return d.with_panel(
        timeseries.Panel()
        .title(f"Availability over the last {WINDOW}")
        .description(f"Rolling {WINDOW} availability of each leg and of the pair.")
        .datasource(DATASOURCE)
        .targets(
            [
                query(with_leg(f"{LINE_AVAILABILITY}{{{SEL}}}"), "A", "{{leg}}"),
                query(f"{PAIR_AVAILABILITY}{{{ONE}}}", "B", "pair"),
            ]
        )
        .unit("percentunit")
        .max(1)
        .legend(legend())
        .height(8)
        .span(12)
    )


def pair(d: dash.Dashboard) -> dash.Dashboard:
    d = pair_stats(d.with_row(dash.Row("Redundant pair of $connection")))
    d = d.with_panel(legs_table()).with_panel(health_check_table())
    d = d.with_panel(
        tests_table(
            "Failover tests of the pair",
            "The failover tests covering either leg, one row per job and leg.",
            12,
            legs=True,
        )
    )
    d = d.with_panel(
        ha_table(
            "VBR HA groups of the pair",
            "VBR HA groups with a VBR on either leg.",
            f"\nand on ({HA_KEY})\n{ha_of_pair()}",
            12,
        )
    )
    return pair_history(d)


def build() -> dash.Dashboard:
    d = new_dashboard(
        BOARD,
        "Will each redundant pair fail over: health checks, failover tests, HA groups, "
        "route parity and availability.",
        "now-24h",
        label_variable(
            "connection",
            "Line of a pair",
            f'label_values({INFO}{{account=~"$account", region_id=~"$region", '
            'redundant_physical_connection_id!=""}, physical_connection_id)',
            multi=False,
            description="A line of a redundant pair (pc-...): the pair section shows it "
            "and its partner",
        ),
    )
    return pair(fleet(d))


BOARD = Board(
    file="resilience.json",
    uid=RESILIENCE_UID,
    title="ExpressConnect / Resilience",
    nav_title="Resilience",
    nav_tooltip="Redundant pairs",
    build=build,
)
