"""The fleet overview: every line's state, locks, expiry, BGP sessions, traffic and the firing
alerts, with the lines that need attention listed first."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, common, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    GraphThresholdsStyleMode,
    VisibilityMode,
    VizOrientation,
)

from alerts.builder import LINE_UTILISATION_P95
from exporter.vocabulary import STATUSES
from grafana.dashboards_src.board import (
    DATASOURCE,
    FLEET_UID,
    Board,
    connection_link,
    label_variable,
    new_dashboard,
)
from grafana.dashboards_src.metrics import (
    BANDWIDTH,
    BGP_INFO,
    BGP_STATUS,
    BGP_STATUS_CHANGE,
    BUSINESS,
    EXPIRY,
    FIRING_ALERTS,
    INFO,
    SAMPLE_TIME,
    STATUS,
    STATUS_CHANGE,
    VBR_BANDWIDTH,
)
from grafana.dashboards_src.panels import (
    BITS,
    BITS_UNIT,
    BUSY,
    big_stat,
    count_stat,
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
    utilisation_cell,
    utilisation_thresholds,
    value_map,
)
from grafana.dashboards_src.queries import (
    ESTABLISHED,
    PROBE_LOSS,
    SEL,
    dropping_lines,
    enabled_without_established,
    lossy_lines,
    on_line,
    pairs_at_risk,
    peak_utilisation,
    state_code,
    with_name,
)
from grafana.dashboards_src.states import status_cell, status_code_mapping, vbr_cell
from grafana.dashboards_src.tables import COLUMN_NAMES, PEER_COLUMNS, line_table
from promql.fragments import (
    CAPACITY_RATIO,
    CAPACITY_TREND_WINDOW,
    DAY,
    LINE_KEY,
    PEER_KEY,
    days_until,
)

TOP_LINES = 10
# Beyond ten years the trend is as good as flat.
MAX_FORECAST_DAYS = 3650
LOCKED = 'business_status=~"FinancialLocked|SecurityLocked"'
# Narrows a per-line query to the lines in the statuses the Status variable selects.
STATUS_FILTER = f'and on ({LINE_KEY}) ({STATUS}{{{SEL}, status=~"$status"}} == 1)'

# The Lines table's columns, left to right.
LINES_ORDER = [
    "name",
    "physical_connection_id",
    "account",
    "region_id",
    "access_point_id",
    "line_operator",
    "port_type",
    "port_number",
    "Value #D",
    "status",
    "business_status",
    "Value #E",
    "Value #F",
]


def build() -> dash.Dashboard:
    d = new_dashboard(
        BOARD,
        "Every Express Connect physical connection: state, locks, expiry, alerts.",
        "now-6h",
        label_variable(
            "status",
            "Status",
            f"label_values({STATUS}, status)",
            description="Filters the line table and the status timeline",
        ),
    )
    d = summary(d.with_row(dash.Row("Summary")))
    d = attention_tables(status_bars(d.with_row(dash.Row("Status"))))
    d = d.with_row(dash.Row("Lines")).with_panel(fleet_table())
    d = d.with_row(dash.Row("History"))
    d = d.with_panel(status_timeline()).with_panel(status_changes_table())
    d = fleet_bgp_summary(d.with_row(dash.Row("BGP sessions")))
    d = fleet_bgp_tables(d)
    d = fleet_traffic_tables(fleet_traffic_summary(d.with_row(dash.Row("Traffic"))))
    d = d.with_panel(days_until_full())
    d = d.with_row(dash.Row("Bandwidth and alerts"))
    return d.with_panel(bandwidth_by_region()).with_panel(firing_alerts_table())


def summary(d: dash.Dashboard) -> dash.Dashboard:
    """How many lines, and how many are not Enabled, locked, expiring; the firing alerts."""
    d = d.with_panel(
        big_stat(
            "Lines",
            "Physical connections the exporter currently publishes.",
            stat_now(f"count({INFO}{{{SEL}}})"),
        )
        .color_scheme(fixed_color("blue"))
        .no_value("0")
    )
    d = d.with_panel(
        big_stat(
            "Lines not Enabled",
            "Lines whose status is anything but Enabled (being provisioned, failed, terminated).",
            stat_now(f'sum({STATUS}{{{SEL}, status!="Enabled"}})'),
        ).thresholds(thresholds("green", (1, "orange")))
    )
    d = d.with_panel(
        big_stat(
            "Locked lines",
            "Lines whose business status is FinancialLocked (overdue payment) or SecurityLocked.",
            stat_now(f"sum({BUSINESS}{{{SEL}, {LOCKED}}})"),
        ).thresholds(thresholds("green", (1, "red")))
    )
    for days, color in ((7, "red"), (30, "orange")):
        d = d.with_panel(
            big_stat(
                f"Expiring within {days} days",
                f"Lines whose lease ends within {days} days, including leases already past their "
                "end.",
                stat_now(f"sum(({EXPIRY}{{{SEL}}} - time()) < bool {days * DAY})"),
            ).thresholds(thresholds("green", (1, color)))
        )
    return d.with_panel(
        big_stat(
            "Firing alerts",
            "ExpressConnect* alerts firing in this Prometheus.",
            stat_now(f"count({FIRING_ALERTS})"),
        )
        .thresholds(thresholds("green", (1, "red")))
        .no_value("0")
    )


def status_bars(d: dash.Dashboard) -> dash.Dashboard:
    """How many lines are in each status and in each business status."""
    d = d.with_panel(
        bargauge.Panel()
        .title("Lines by status")
        .description("Count of lines in each status of the state set.")
        .datasource(DATASOURCE)
        .with_target(stat_now(f"sum by (status) ({STATUS}{{{SEL}}})", legend="{{status}}"))
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.BASIC)
        .show_unfilled(True)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .min(0)
        .color_scheme(fixed_color("blue"))
        .override_by_name("Enabled", [prop("color", {"mode": "fixed", "fixedColor": "green"})])
        .height(9)
        .span(12)
    )
    return d.with_panel(
        bargauge.Panel()
        .title("Lines by business status")
        .description("Count of lines in each business status; anything but Normal is locked.")
        .datasource(DATASOURCE)
        .with_target(
            stat_now(
                f"sum by (business_status) ({BUSINESS}{{{SEL}}})", legend="{{business_status}}"
            )
        )
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.BASIC)
        .show_unfilled(True)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .min(0)
        .override_by_name("Normal", [prop("color", {"mode": "fixed", "fixedColor": "green"})])
        .override_by_name(
            "FinancialLocked", [prop("color", {"mode": "fixed", "fixedColor": "orange"})]
        )
        .override_by_name("SecurityLocked", [prop("color", {"mode": "fixed", "fixedColor": "red"})])
        .height(9)
        .span(12)
    )


def attention_tables(d: dash.Dashboard) -> dash.Dashboard:
    """The lines not Enabled and the locked lines, each with its current state."""
    tables = (
        (
            "Lines not Enabled",
            "Every line whose status is not Enabled, with its current status.",
            f'max by ({LINE_KEY}, status) ({STATUS}{{{SEL}, status!="Enabled"}} == 1)',
            "status",
            "Status",
        ),
        (
            "Locked lines",
            "Lines with business status FinancialLocked or SecurityLocked.",
            f"max by ({LINE_KEY}, business_status) ({BUSINESS}{{{SEL}, {LOCKED}}} == 1)",
            "business_status",
            "Business status",
        ),
    )
    labels = f"{LINE_KEY}, name, line_operator, access_point_id"
    for title, description, states, label, column in tables:
        d = d.with_panel(
            table.Panel()
            .title(title)
            .description(description)
            .datasource(DATASOURCE)
            .with_target(
                instant(
                    f"{states}\n"
                    f"* on ({LINE_KEY}) group_left (name, line_operator, access_point_id)\n"
                    f"max by ({labels}) ({INFO}{{{SEL}}})"
                )
            )
            .with_transformation(
                organize(
                    ["Time", "Value"],
                    COLUMN_NAMES,
                    ["name", "physical_connection_id", label, "account", "region_id"],
                )
            )
            .override_by_name(column, status_cell())
            .override_by_name("ID", [prop("links", [connection_link()])])
            .height(8)
            .span(12)
        )
    return d


def status_timeline() -> statetimeline.Panel:
    """Each line's status over time, for the statuses the Status variable selects."""
    return (
        statetimeline.Panel()
        .title("Status per line")
        .description("Each line's status over time (filtered by the Status variable).")
        .datasource(DATASOURCE)
        .with_target(
            query(
                with_name(
                    state_code(STATUS, "status", STATUSES, SEL, 0) + f"\n{STATUS_FILTER}", SEL
                ),
                legend="{{name}} ({{physical_connection_id}})",
            )
        )
        .mappings([status_code_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .show_value(VisibilityMode.AUTO)
        .merge_values(True)
        .row_height(0.8)
        .legend(legend().show_legend(False))
        .height(12)
        .span(24)
    )


def status_changes_table() -> table.Panel:
    """The lines whose current status began within the time range, newest first."""
    key = LINE_KEY
    return (
        table.Panel()
        .title("Status changes in the time range")
        .description(
            "Lines whose current status was first seen by the exporter within the dashboard's "
            "time range (persisted across restarts when state_file is set)."
        )
        .datasource(DATASOURCE)
        .with_target(
            instant(
                f"(\n  max by ({key}) ({STATUS_CHANGE}{{{SEL}}}) * 1000\n"
                f"  and on ({key}) (time() - max by ({key}) ({STATUS_CHANGE}{{{SEL}}}) "
                "< $__range_s)\n)\n"
                f"* on ({key}) group_left (status) max by ({key}, status) "
                f"({STATUS}{{{SEL}}} == 1)\n"
                f"* on ({key}) group_left (name) max by ({key}, name) ({INFO}{{{SEL}}})"
            )
        )
        .with_transformation(
            organize(
                ["Time"],
                {**COLUMN_NAMES, "Value": "Status since"},
                ["Value", "name", "physical_connection_id", "status", "account", "region_id"],
            )
        )
        .sort_by([common.TableSortByFieldState().display_name("Status since").desc(True)])
        .override_by_name("Status since", [prop("unit", "dateTimeAsIso")])
        .override_by_name("Status", status_cell())
        .override_by_name("ID", [prop("links", [connection_link()])])
        .no_value("No status change in the time range")
        .height(8)
        .span(24)
    )


def bandwidth_by_region() -> timeseries.Panel:
    """Provisioned bandwidth of the lines and of the hosted VBRs per account and region."""
    return (
        timeseries.Panel()
        .title("Bandwidth by region")
        .description(
            "Sum of the provisioned bandwidth of the lines in each account and region, and of "
            "the VBRs that have a bandwidth of their own (those on hosted connections)."
        )
        .datasource(DATASOURCE)
        .targets(
            [
                query(
                    f"sum by (account, region_id) ({BANDWIDTH}{{{SEL}}}) * {BITS}",
                    "A",
                    "{{account}} / {{region_id}} lines",
                ),
                query(
                    f"sum by (account, region_id) ({VBR_BANDWIDTH}{{{SEL}}}) * {BITS}",
                    "B",
                    "{{account}} / {{region_id}} hosted VBRs",
                ),
            ]
        )
        .unit(BITS_UNIT)
        .min(0)
        .legend(legend())
        .height(9)
        .span(12)
    )


def firing_alerts_table() -> table.Panel:
    """The ExpressConnect alerts firing in this Prometheus, by name and severity."""
    return (
        table.Panel()
        .title("Firing ExpressConnect alerts")
        .description("ALERTS from this Prometheus; the alert rules ship in config/alerts/.")
        .datasource(DATASOURCE)
        .with_target(instant(FIRING_ALERTS))
        .with_transformation(
            organize(
                ["Time", "Value", "__name__", "alertstate"],
                {"alertname": "Alert", "severity": "Severity"},
                ["alertname", "severity"],
            )
        )
        .override_by_name(
            "Severity",
            [
                prop("mappings", [value_map({"critical": ("critical", "red")})]),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .no_value("No ExpressConnect alert is firing")
        .height(9)
        .span(12)
    )


def fleet_bgp_summary(d: dash.Dashboard) -> dash.Dashboard:
    """Counts that say whether the lines can carry traffic: sessions, and lines without one."""
    return (
        d.with_panel(
            count_stat(
                "BGP sessions",
                f"BGP peers on the fleet's virtual border routers ({BGP_INFO}).",
                f"count({BGP_INFO}{{{SEL}}})",
            )
        )
        .with_panel(
            count_stat(
                "Sessions not Established",
                "BGP sessions in any state but Established: they carry no routes.",
                f'sum({BGP_STATUS}{{{SEL}, bgp_status!="{ESTABLISHED}"}})',
                ("green", "red"),
            )
        )
        .with_panel(
            count_stat(
                "Lines with no Established session",
                "Enabled lines none of whose BGP sessions is Established (or that have none).",
                f"count(\n{enabled_without_established(SEL)}\n) or vector(0)",
                ("green", "orange"),
            )
        )
        .with_panel(
            count_stat(
                "Lines in redundant pairs at risk",
                "Enabled lines without an Established BGP session whose redundant partner "
                "(redundant_physical_connection_id) has none either: the pair carries no traffic.",
                f"count(\n{pairs_at_risk(SEL)}\n) or vector(0)",
                ("green", "red"),
            )
        )
    )


def fleet_traffic_summary(d: dash.Dashboard) -> dash.Dashboard:
    """Counts of lines that are full, dropping or losing probes, and the CloudMonitor data age."""
    return (
        d.with_panel(
            count_stat(
                f"Lines above {BUSY:.0%} utilisation",
                "Lines whose VBRs together carry at least this share of the line's bandwidth in "
                "either direction (CloudMonitor's newest datapoint).",
                f"count(\n{peak_utilisation(SEL)}\n>= {BUSY}\n) or vector(0)",
                ("green", "orange"),
            )
        )
        .with_panel(
            count_stat(
                "Lines dropping packets",
                "Lines some VBR of which drops packets in either direction.",
                f"count(\nmax by ({LINE_KEY}) (\n{dropping_lines(SEL)}\n)\n) or vector(0)",
                ("green", "red"),
            )
        )
        .with_panel(
            count_stat(
                "Lines losing health-check probes",
                f"Lines some VBR of which loses at least {PROBE_LOSS:.0%} of its health-check "
                "probes.",
                f"count(\n{lossy_lines(SEL)}\n) or vector(0)",
                ("green", "red"),
            )
        )
        .with_panel(
            big_stat(
                "Oldest CloudMonitor data",
                "Age of the oldest newest-datapoint among the VBRs with traffic data: CloudMonitor "
                "publishes a point a period after it ends, so a few minutes is normal.",
                stat_now(f"time() - min({SAMPLE_TIME}{{{SEL}}})"),
            )
            .unit("s")
            .thresholds(thresholds("green", (15 * 60, "orange"), (60 * 60, "red")))
            .span(6)
        )
    )


def fleet_traffic_tables(d: dash.Dashboard) -> dash.Dashboard:
    """Which lines are fullest, which drop packets, which lose health-check probes."""
    columns = ["name", "physical_connection_id", "Value", "account", "region_id"]
    d = d.with_panel(
        line_table(
            "Most utilised lines",
            f"The {TOP_LINES} lines whose VBRs carry the largest share of the line's bandwidth, "
            "in the busier direction. Click an ID for the line's traffic.",
            f"topk({TOP_LINES},\n{peak_utilisation(SEL)}\n)",
            {"Value": "Utilisation"},
            columns,
        )
        .sort_by([common.TableSortByFieldState().display_name("Utilisation").desc(True)])
        .override_by_name("Utilisation", [prop("unit", "percentunit"), *utilisation_cell()])
        .no_value("No traffic data from CloudMonitor")
    )
    d = d.with_panel(busiest_lines())
    d = d.with_panel(
        line_table(
            "Lines dropping packets",
            "Lines whose VBRs drop packets, per direction (idc_to_vpc: from the data centre into "
            "the VPC). Drops at high utilisation mean the line is too small.",
            dropping_lines(SEL),
            {"direction": "Direction", "Value": "Dropped packets/s"},
            ["name", "physical_connection_id", "direction", "Value", "account", "region_id"],
        )
        .sort_by([common.TableSortByFieldState().display_name("Dropped packets/s").desc(True)])
        .override_by_name("Dropped packets/s", [prop("unit", "pps"), *threshold_cell("red")])
        .no_value("No line drops packets")
    )
    return d.with_panel(
        line_table(
            "Lines losing health-check probes",
            f"Lines with a VBR that loses at least {PROBE_LOSS:.0%} of its health-check probes "
            "(the worst VBR's loss). 100 %: the VBR or its line carries no traffic.",
            lossy_lines(SEL),
            {"Value": "Worst probe loss"},
            columns,
        )
        .sort_by([common.TableSortByFieldState().display_name("Worst probe loss").desc(True)])
        .override_by_name(
            "Worst probe loss",
            [prop("unit", "percentunit"), *threshold_cell("orange", (0.05, "red"))],
        )
        .no_value("No line loses health-check probes")
    )


def days_until_full() -> table.Panel:
    """The lines whose p95 utilisation trends towards full, soonest first (the capacity
    forecast's own fit, so a line the alert warns about shows at most its horizon here)."""
    p95 = f"{LINE_UTILISATION_P95}{{{SEL}}}"
    days = days_until(CAPACITY_RATIO, p95, CAPACITY_TREND_WINDOW)
    info = f"max by ({LINE_KEY}, name, circuit_code) ({INFO}{{{SEL}}})"
    expr = (
        f"min by ({LINE_KEY}) (\n{days}\n> 0 < {MAX_FORECAST_DAYS}\n)\n"
        f"* on ({LINE_KEY}) group_left (name, circuit_code)\n{info}"
    )
    return (
        line_table(
            "Lines by days until full",
            f"Days until a line's {CAPACITY_TREND_WINDOW} p95 utilisation (busier direction) "
            f"reaches {CAPACITY_RATIO:.0%} of its bandwidth, on the straight line fitted over "
            f"the last {CAPACITY_TREND_WINDOW} ({LINE_UTILISATION_P95}, the capacity "
            "forecast's record; the alert warns at 14 days). Only rising lines, within ten "
            "years.",
            expr,
            {"Value": "Days until full"},
            ["name", "physical_connection_id", "circuit_code", "Value", "account", "region_id"],
            named=True,
        )
        .sort_by([common.TableSortByFieldState().display_name("Days until full").desc(False)])
        .override_by_name(
            "Days until full",
            [prop("decimals", 1), *threshold_cell("red", (14, "orange"), (90, "green"))],
        )
        .no_value("No line's utilisation trends towards full")
    )


def busiest_lines() -> timeseries.Panel:
    """The utilisation of the most utilised lines over time."""
    return (
        timeseries.Panel()
        .title("Utilisation of the busiest lines")
        .description(
            f"The {TOP_LINES // 2} most utilised lines at each moment, busier direction: traffic "
            "of the line's VBRs over its bandwidth."
        )
        .datasource(DATASOURCE)
        .with_target(
            query(
                with_name(f"topk({TOP_LINES // 2},\n{peak_utilisation(SEL)}\n)", SEL),
                legend="{{name}} ({{physical_connection_id}})",
            )
        )
        .unit("percentunit")
        .min(0)
        .thresholds(utilisation_thresholds())
        .thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
        .legend(legend())
        .height(8)
        .span(12)
    )


def fleet_bgp_tables(d: dash.Dashboard) -> dash.Dashboard:
    """Which sessions are down, which lines have no working session, which pairs are at risk."""
    d = d.with_panel(
        bargauge.Panel()
        .title("BGP sessions by state")
        .description(
            "Count of BGP sessions in each session state; only Established carries routes."
        )
        .datasource(DATASOURCE)
        .with_target(
            stat_now(f"sum by (bgp_status) ({BGP_STATUS}{{{SEL}}})", legend="{{bgp_status}}")
        )
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.BASIC)
        .show_unfilled(True)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .min(0)
        .color_scheme(fixed_color("orange"))
        .override_by_name(ESTABLISHED, [prop("color", {"mode": "fixed", "fixedColor": "green"})])
        .height(9)
        .span(8)
    )
    d = d.with_panel(sessions_down_table())
    d = d.with_panel(
        line_table(
            "Enabled lines without an Established session",
            "Enabled lines none of whose BGP sessions is Established. Sessions 0: no virtual "
            "border router or no BGP peer is configured on the line.",
            enabled_without_established(SEL),
            {"Value": "Sessions"},
            ["name", "physical_connection_id", "Value", "account", "region_id"],
        ).no_value("Every Enabled line has an Established BGP session")
    )
    return d.with_panel(
        line_table(
            "Redundant pairs at risk",
            "Enabled lines without an Established BGP session whose redundant partner has none "
            "either (one row per line of the pair): no path left over the pair.",
            pairs_at_risk(SEL),
            {"redundant_physical_connection_id": "Redundant line"},
            [
                "name",
                "physical_connection_id",
                "redundant_physical_connection_id",
                "account",
                "region_id",
            ],
            hide_value=True,
            named=True,
        ).no_value("No redundant pair without an Established session")
    )


def sessions_down_table() -> table.Panel:
    """Every BGP session not Established, with its line, peer and how long it has been so."""
    down = (
        f'max by ({PEER_KEY}, bgp_status) ({BGP_STATUS}{{{SEL}, bgp_status!="{ESTABLISHED}"}} == 1)'
    )
    peer = f"max by ({PEER_KEY}, peer_ip_address, peer_asn) ({BGP_INFO}{{{SEL}}})"
    expr = (
        f"(time() - max by ({PEER_KEY}) ({BGP_STATUS_CHANGE}{{{SEL}}}))\n"
        f"* on ({PEER_KEY}) group_left (bgp_status)\n{down}\n"
        f"* on ({PEER_KEY}) group_left (peer_ip_address, peer_asn)\n{peer}"
    )
    order = [
        "physical_connection_id",
        "vbr_id",
        "peer_ip_address",
        "peer_asn",
        "bgp_status",
        "Value",
        "bgp_peer_id",
        "account",
        "region_id",
    ]
    return (
        table.Panel()
        .title("BGP sessions not Established")
        .description(
            "Every BGP session in a state other than Established, with how long it has been in "
            "that state (since the exporter first saw it). Click a line ID for its detail."
        )
        .datasource(DATASOURCE)
        .with_target(instant(on_line(expr, SEL)))
        .with_transformation(organize(["Time"], {**COLUMN_NAMES, **PEER_COLUMNS}, order))
        .sort_by([common.TableSortByFieldState().display_name("In state for").desc(True)])
        .override_by_name("Session state", vbr_cell())
        .override_by_name("In state for", [prop("unit", "s")])
        .override_by_name("ID", [prop("links", [connection_link()])])
        .no_value("Every BGP session is Established")
        .height(9)
        .span(16)
    )


def fleet_table_targets() -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    """The Lines table's queries, each reduced with ``max by`` to the connection key plus its own
    columns, so that the ``merge`` transformation joins the rows on the key."""
    info_cols = "name, access_point_id, line_operator, port_type, port_number"
    key, only = LINE_KEY, STATUS_FILTER
    return [
        instant(f"max by ({key}, {info_cols}) ({INFO}{{{SEL}}})\n{only}", "A"),
        instant(f"max by ({key}, status) ({STATUS}{{{SEL}}} == 1)\n{only}", "B"),
        instant(f"max by ({key}, business_status) ({BUSINESS}{{{SEL}}} == 1)\n{only}", "C"),
        instant(f"max by ({key}) ({BANDWIDTH}{{{SEL}}}) * {BITS}\n{only}", "D"),
        instant(f"max by ({key}) ({EXPIRY}{{{SEL}}}) * 1000\n{only}", "E"),
        instant(f"floor((max by ({key}) ({EXPIRY}{{{SEL}}}) - time()) / {DAY})\n{only}", "F"),
    ]


def fleet_table() -> table.Panel:
    """Every line, one row: several instant queries merged on the connection key."""
    return (
        table.Panel()
        .title("Lines")
        .description(
            "Every line with its current state, bandwidth and lease end. Click an ID for detail."
        )
        .datasource(DATASOURCE)
        .targets(fleet_table_targets())
        .with_transformation(transformation("merge", {}))
        .with_transformation(
            organize(["Time", "Value #A", "Value #B", "Value #C"], COLUMN_NAMES, LINES_ORDER)
        )
        .filterable(True)
        .sort_by([common.TableSortByFieldState().display_name("Days left").desc(False)])
        .footer(
            common.TableFooterOptions()
            .show(True)
            .count_rows(True)
            .reducer(["count"])
            .enable_pagination(True)
        )
        .override_by_name("ID", [prop("links", [connection_link()])])
        .override_by_name("Status", status_cell())
        .override_by_name("Business status", status_cell())
        .override_by_name("Bandwidth", [prop("unit", BITS_UNIT)])
        .override_by_name("Expiry date", [prop("unit", "dateTimeAsIso")])
        .override_by_name(
            "Days left",
            [
                prop("unit", "none"),
                prop("decimals", 0),
                *threshold_cell("red", (7, "orange"), (30, "green")),
            ],
        )
        .height(14)
        .span(24)
    )


BOARD = Board(
    file="fleet-overview.json",
    uid=FLEET_UID,
    title="ExpressConnect / Fleet overview",
    nav_title="Fleet overview",
    nav_tooltip="Every line",
    build=build,
)
