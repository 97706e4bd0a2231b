"""The connection detail: one line's state, dates, redundant peer, VBRs, BGP sessions and traffic,
now and over time (the line is the ``connection`` variable)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    GraphThresholdsStyleMode,
    VisibilityMode,
    VizOrientation,
)

from exporter.vocabulary import BUSINESS_STATUSES, STATUSES
from grafana.dashboards_src.board import (
    CONNECTION_UID,
    DATASOURCE,
    Board,
    fleet_link,
    label_variable,
    new_dashboard,
    resilience_link,
)
from grafana.dashboards_src.metrics import (
    BANDWIDTH,
    BGP_ADVERTISED,
    BGP_INFO,
    BGP_PEER_STATUS,
    BGP_RECEIVED,
    BGP_ROUTE_LIMIT,
    BGP_STATUS,
    BGP_STATUS_CHANGE,
    BUSINESS,
    CREATED,
    DROPPED,
    ENABLED,
    EXPIRY,
    HEALTH_LATENCY,
    HEALTH_LOSS,
    INFO,
    PACKETS,
    SAMPLE_TIME,
    STATUS,
    STATUS_CHANGE,
    TRAFFIC,
    VBR_INFO,
    VBR_STATUS,
)
from grafana.dashboards_src.panels import (
    BITS,
    BITS_UNIT,
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
    utilisation_thresholds,
)
from grafana.dashboards_src.queries import (
    ESTABLISHED,
    ONE,
    PROBE_LOSS,
    SEL,
    of_connection,
    peer_series,
    per_line,
    state_code,
    utilisation,
    vbr_series,
    with_peer_ip,
)
from grafana.dashboards_src.states import (
    BGP_STATES,
    BUSINESS_CODE_BASE,
    bgp_code_mapping,
    status_code_mapping,
    vbr_cell,
)
from promql.fragments import DAY, LINE_ID, LINE_KEY, PEER_KEY, VBR_KEY, copy_label


def build() -> dash.Dashboard:
    one = ONE
    d = new_dashboard(
        BOARD,
        "One Express Connect physical connection: its data, history and peer.",
        "now-24h",
        label_variable(
            "connection",
            "Connection",
            f'label_values({INFO}{{account=~"$account", region_id=~"$region"}}, '
            "physical_connection_id)",
            multi=False,
            description="Physical connection id (pc-...)",
        ),
    )
    d = lease_and_info(state_stats(d.with_row(dash.Row("Now")), one), one)
    d = connection_bgp_now(d.with_row(dash.Row("Virtual border routers and BGP")), one)
    d = connection_traffic_now(d.with_row(dash.Row("Traffic")), one)
    d = connection_traffic_history(d, one)
    d = history(d.with_row(dash.Row("History")), one)
    return connection_bgp_history(d.with_row(dash.Row("BGP history")), one)


def peer_status() -> str:
    """The state code of the line's redundant peer: the line its
    ``redundant_physical_connection_id`` names."""
    peer_info = (
        f'label_replace(\n  {INFO}{{{ONE}, redundant_physical_connection_id!=""}},\n'
        f"  {copy_label(LINE_ID, 'redundant_physical_connection_id')}\n)"
    )
    return state_code(STATUS, "status", STATUSES, SEL, 0) + f"\nand on ({LINE_KEY})\n{peer_info}"


def code_stat(title: str, description: str, expr: str) -> stat.Panel:
    """A stat showing a state code (:func:`state_code`) as the state's name and colour."""
    return (
        big_stat(title, description, stat_now(expr))
        .mappings([status_code_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .span(5)
    )


def state_stats(d: dash.Dashboard, one: str) -> dash.Dashboard:
    """The line's status, business status and its redundant peer's status now."""
    status = code_stat(
        "Status",
        "Current status of the line.",
        state_code(STATUS, "status", STATUSES, one, 0),
    )
    d = d.with_panel(status.links([fleet_link()]))
    d = d.with_panel(
        code_stat(
            "Business status",
            "Normal, or locked for payment (FinancialLocked) or security (SecurityLocked).",
            state_code(BUSINESS, "business_status", BUSINESS_STATUSES, one, BUSINESS_CODE_BASE),
        )
    )
    return d.with_panel(
        code_stat(
            "Redundant peer status",
            "Status of the line named in redundant_physical_connection_id. "
            "No data: the line has no redundant peer, or the peer is not exported.",
            peer_status(),
        )
        .no_value("No redundant peer")
        .links([resilience_link()])
    )


def lease_and_info(d: dash.Dashboard, one: str) -> dash.Dashboard:
    """Time left on the lease, the bandwidth, the line's dates and its descriptive labels."""
    d = d.with_panel(
        big_stat(
            "Lease ends in",
            "Time until EndTime; negative when the lease has already ended.",
            stat_now(f"{EXPIRY}{{{one}}} - time()"),
        )
        .unit("s")
        .thresholds(thresholds("red", (7 * DAY, "orange"), (30 * DAY, "green")))
        .no_value("No end time")
        .span(5)
    )
    d = d.with_panel(
        big_stat(
            "Bandwidth",
            "Provisioned bandwidth of the line.",
            stat_now(f"{BANDWIDTH}{{{one}}} * {BITS}"),
        )
        .unit(BITS_UNIT)
        .color_scheme(fixed_color("blue"))
    )
    d = d.with_panel(dates_panel(one))
    return d.with_panel(
        table.Panel()
        .title("Connection info")
        .description(f"Descriptive labels of {INFO}.")
        .links([fleet_link()])
        .datasource(DATASOURCE)
        .with_target(stat_now(f"max without (job, instance) ({INFO}{{{one}}})"))
        .with_transformation(transformation("labelsToFields", {"mode": "rows", "keepLabels": []}))
        .with_transformation(organize([], {"label": "Field", "value": "Value"}, ["label", "value"]))
        .height(14)
        .span(16)
    )


def dates_panel(one: str) -> stat.Panel:
    """CreationTime, EnabledTime, EndTime and when the current status was first seen."""
    date_targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        stat_now(f"{CREATED}{{{one}}} * 1000", "A", "Created"),
        stat_now(f"{ENABLED}{{{one}}} * 1000", "B", "Enabled"),
        stat_now(f"{EXPIRY}{{{one}}} * 1000", "C", "Lease ends"),
        stat_now(f"{STATUS_CHANGE}{{{one}}} * 1000", "D", "Status since"),
    ]
    return (
        stat.Panel()
        .title("Dates (UTC)")
        .description(
            "CreationTime, EnabledTime and EndTime from the API, and when the exporter first "
            "saw the current status."
        )
        .datasource(DATASOURCE)
        .targets(date_targets)
        .text_mode(BigValueTextMode.VALUE_AND_NAME)
        .graph_mode(BigValueGraphMode.NONE)
        .color_mode(BigValueColorMode.NONE)
        .orientation(VizOrientation.HORIZONTAL)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .unit("dateTimeAsIso")
        .height(14)
        .span(8)
    )


def history(d: dash.Dashboard, one: str) -> dash.Dashboard:
    """The line's states, its bandwidth and its lease over time."""
    d = d.with_panel(status_history(one))
    d = d.with_panel(
        timeseries.Panel()
        .title("Bandwidth")
        .description("Provisioned bandwidth over time.")
        .datasource(DATASOURCE)
        .with_target(query(f"{BANDWIDTH}{{{one}}} * {BITS}", legend="{{physical_connection_id}}"))
        .unit(BITS_UNIT)
        .min(0)
        .legend(legend())
        .height(8)
        .span(12)
    )
    return d.with_panel(
        timeseries.Panel()
        .title("Lease remaining")
        .description("Time left until EndTime, over time (jumps up when the lease is renewed).")
        .datasource(DATASOURCE)
        .with_target(query(f"{EXPIRY}{{{one}}} - time()", legend="until EndTime"))
        .unit("s")
        .legend(legend())
        .height(8)
        .span(12)
    )


def status_history(one: str) -> statetimeline.Panel:
    """Status and business status of the line, and its peer's status, over time."""
    return (
        statetimeline.Panel()
        .title("Status history")
        .description("Status and business status of this line and the status of its peer.")
        .datasource(DATASOURCE)
        .targets(
            [
                query(state_code(STATUS, "status", STATUSES, one, 0), "A", "Status"),
                query(
                    state_code(
                        BUSINESS, "business_status", BUSINESS_STATUSES, one, BUSINESS_CODE_BASE
                    ),
                    "B",
                    "Business status",
                ),
                query(peer_status(), "C", "Redundant peer status"),
            ]
        )
        .mappings([status_code_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .merge_values(True)
        .show_value(VisibilityMode.AUTO)
        .legend(legend().show_legend(False))
        .height(7)
        .span(24)
    )


def connection_traffic_now(d: dash.Dashboard, one: str) -> dash.Dashboard:
    """The line's newest CloudMonitor figures: utilisation and traffic per direction, data age."""
    direction = "{{direction}}"
    d = d.with_panel(
        big_stat(
            "Utilisation now",
            "Traffic of all the line's VBRs over the line's bandwidth, per direction "
            "(idc_to_vpc: from the data centre into the VPC), CloudMonitor's newest datapoint.",
            stat_now(utilisation(one), legend=direction),
        )
        .unit("percentunit")
        .text_mode(BigValueTextMode.VALUE_AND_NAME)
        .thresholds(utilisation_thresholds())
        .span(8)
    )
    d = d.with_panel(
        big_stat(
            "Traffic now",
            "Traffic of all the line's VBRs per direction, in bits per second.",
            stat_now(f"{per_line(TRAFFIC, one)}\n* {BITS}", legend=direction),
        )
        .unit(BITS_UNIT)
        .text_mode(BigValueTextMode.VALUE_AND_NAME)
        .color_scheme(fixed_color("blue"))
        .span(8)
    )
    return d.with_panel(
        big_stat(
            "CloudMonitor data age",
            "Age of the oldest newest-datapoint among the line's VBRs: CloudMonitor publishes a "
            "point a period after it ends, so a few minutes is normal.",
            stat_now(f"time() - min(\n{of_connection(f'{SAMPLE_TIME}{{{SEL}}}', one)}\n)"),
        )
        .unit("s")
        .thresholds(thresholds("green", (15 * 60, "orange"), (60 * 60, "red")))
        .span(8)
    )


def traffic_panel(
    title: str, description: str, unit: str, targets: list[prom.Dataquery]
) -> timeseries.Panel:
    """A half-width time series of the line's traffic figures."""
    many: list[cogbuilder.Builder[cogvariants.Dataquery]] = list(targets)
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(many)
        .unit(unit)
        .min(0)
        .legend(legend())
        .height(8)
        .span(12)
    )


def traffic_against_bandwidth(one: str) -> timeseries.Panel:
    """The line's traffic per direction under its bandwidth, drawn as a dashed red line."""
    dashed = {"fill": "dash", "dash": [10, 10]}
    return traffic_panel(
        "Traffic against bandwidth",
        "Traffic of all the line's VBRs per direction, and the line's provisioned bandwidth, "
        "in bits per second.",
        BITS_UNIT,
        [
            query(f"{per_line(TRAFFIC, one)}\n* {BITS}", "A", "{{direction}}"),
            query(f"max({BANDWIDTH}{{{one}}}) * {BITS}", "B", "bandwidth"),
        ],
    ).override_by_name(
        "bandwidth",
        [
            prop("custom.lineStyle", dashed),
            prop("color", {"mode": "fixed", "fixedColor": "red"}),
        ],
    )


def connection_traffic_history(d: dash.Dashboard, one: str) -> dash.Dashboard:
    """Traffic against bandwidth, utilisation, packets, drops and health checks over time."""
    direction = "{{direction}}"
    per_vbr = "{{vbr_id}} {{direction}}"
    d = d.with_panel(traffic_against_bandwidth(one))
    d = d.with_panel(
        traffic_panel(
            "Utilisation",
            "Traffic of all the line's VBRs over the line's bandwidth, per direction.",
            "percentunit",
            [query(utilisation(one), legend=direction)],
        )
        .thresholds(utilisation_thresholds())
        .thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    )
    d = d.with_panel(
        traffic_panel(
            "Packets",
            "Packets per second of all the line's VBRs, per direction.",
            "pps",
            [query(per_line(PACKETS, one), legend=direction)],
        )
    )
    d = d.with_panel(
        traffic_panel(
            "Dropped packets",
            "Packets each VBR of the line drops per second, per direction (0 until the line "
            "nears its bandwidth).",
            "pps",
            [query(vbr_series(DROPPED, one, "direction"), legend=per_vbr)],
        )
    )
    d = d.with_panel(
        traffic_panel(
            "Health-check latency",
            "Round-trip time of each VBR's health-check probes (VBRs with a health check only).",
            "s",
            [query(vbr_series(HEALTH_LATENCY, one), legend="{{vbr_id}}")],
        )
    )
    return d.with_panel(
        traffic_panel(
            "Health-check loss",
            "Share of each VBR's health-check probes lost (100 %: the VBR carries no traffic).",
            "percentunit",
            [query(vbr_series(HEALTH_LOSS, one), legend="{{vbr_id}}")],
        ).thresholds(thresholds("green", (PROBE_LOSS, "orange"), (0.05, "red")))
    )


def connection_bgp_now(d: dash.Dashboard, one: str) -> dash.Dashboard:
    """The line's sessions now: counts, then its VBRs and BGP sessions as tables."""
    established = f'{BGP_STATUS}{{{SEL}, bgp_status="{ESTABLISHED}"}}'
    not_established = f'{BGP_STATUS}{{{SEL}, bgp_status!="{ESTABLISHED}"}}'
    last_change = of_connection(f"{BGP_STATUS_CHANGE}{{{SEL}}}", one)
    return (
        d.with_panel(
            count_stat(
                "Sessions on this line",
                f"BGP peers on this line's virtual border routers (joined through {VBR_INFO}).",
                f"count(\n{of_connection(f'{BGP_INFO}{{{SEL}}}', one)}\n) or vector(0)",
            )
        )
        .with_panel(
            count_stat(
                "Established sessions",
                "Sessions of this line that carry routes. 0 with sessions configured: no traffic.",
                f"sum(\n{of_connection(established, one)}\n) or vector(0)",
                ("red", "green"),
            )
        )
        .with_panel(
            count_stat(
                "Sessions not Established",
                "Sessions of this line in any other state (Idle, Connect, Active, Down, Unknown).",
                f"sum(\n{of_connection(not_established, one)}\n) or vector(0)",
                ("green", "red"),
            )
        )
        .with_panel(
            big_stat(
                "Last session state change",
                "Time since the most recent change of state of any session of this line (as "
                "first seen by the exporter).",
                stat_now(f"time() - max(\n{last_change}\n)"),
            )
            .unit("s")
            .color_scheme(fixed_color("blue"))
            .span(6)
        )
        .with_panel(vbr_table(one))
        .with_panel(bgp_table(one))
    )


def vbr_table(one: str) -> table.Panel:
    """The line's VBRs, one row each, merged from instant queries on (account, region, VBR)."""
    info_cols = "name, vlan_id, type, local_gateway_ip, peer_gateway_ip, circuit_code"
    per_vbr = f'sum by ({VBR_KEY}) ({BGP_STATUS}{{{SEL}, bgp_status="{ESTABLISHED}"}})'
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        instant(f"max by ({VBR_KEY}, {info_cols}) ({VBR_INFO}{{{one}}})", "A"),
        instant(
            of_connection(f"max by ({VBR_KEY}, status) ({VBR_STATUS}{{{SEL}}} == 1)", one), "B"
        ),
        instant(of_connection(f"count by ({VBR_KEY}) ({BGP_INFO}{{{SEL}}})", one), "C"),
        instant(of_connection(per_vbr, one), "D"),
    ]
    names = {
        "name": "Name",
        "vbr_id": "VBR",
        "vlan_id": "VLAN",
        "status": "Status",
        "Value #C": "Sessions",
        "Value #D": "Established",
        "local_gateway_ip": "Local gateway",
        "peer_gateway_ip": "Peer gateway",
        "type": "Type",
        "circuit_code": "Circuit code",
        "account": "Account",
        "region_id": "Region",
    }
    return (
        table.Panel()
        .title("Virtual border routers")
        .description(f"The VBRs (VLANs) on this line: {VBR_INFO}, {VBR_STATUS} and BGP counts.")
        .datasource(DATASOURCE)
        .targets(targets)
        .with_transformation(transformation("merge", {}))
        .with_transformation(organize(["Time", "Value #A", "Value #B"], names, list(names)))
        .override_by_name("Status", vbr_cell())
        .override_by_name(
            "Established",
            [
                *threshold_cell("red", (1, "green")),
            ],
        )
        .no_value("No virtual border router on this line")
        .height(7)
        .span(24)
    )


_BGP_TABLE_COLUMNS = {
    "peer_ip_address": "Peer IP",
    "peer_asn": "Peer ASN",
    "local_asn": "Local ASN",
    "bgp_status": "Session state",
    "Value #C": "In state for",
    "Value #D": "Received routes",
    "Value #E": "Route limit",
    "Value #F": "Limit used",
    "Value #G": "Advertised routes",
    "ip_version": "IP version",
    "enable_bfd": "BFD",
    "status": "Peer status",
    "name": "Name",
    "vbr_id": "VBR",
    "bgp_peer_id": "BGP peer",
}


def bgp_table(one: str) -> table.Panel:
    """The line's BGP sessions with state, time in state, routes against the limit and peers."""
    info_cols = "name, peer_ip_address, peer_asn, local_asn, ip_version, enable_bfd"
    received = f"max by ({PEER_KEY}) ({BGP_RECEIVED}{{{SEL}}})"
    limit = f"max by ({PEER_KEY}) ({BGP_ROUTE_LIMIT}{{{SEL}}})"
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        instant(peer_series(BGP_INFO, one, info_cols), "A"),
        instant(
            of_connection(f"max by ({PEER_KEY}, bgp_status) ({BGP_STATUS}{{{SEL}}} == 1)", one), "B"
        ),
        instant(
            of_connection(f"time() - max by ({PEER_KEY}) ({BGP_STATUS_CHANGE}{{{SEL}}})", one), "C"
        ),
        instant(peer_series(BGP_RECEIVED, one), "D"),
        instant(peer_series(BGP_ROUTE_LIMIT, one), "E"),
        instant(of_connection(f"{received}\n/\n({limit} > 0)", one), "F"),
        instant(peer_series(BGP_ADVERTISED, one), "G"),
        instant(
            of_connection(f"max by ({PEER_KEY}, status) ({BGP_PEER_STATUS}{{{SEL}}} == 1)", one),
            "H",
        ),
    ]
    return (
        table.Panel()
        .title("BGP sessions")
        .description(
            "This line's BGP sessions: state and how long it has held (since the exporter first "
            "saw it), routes received against the route limit, ASNs and peer addresses."
        )
        .datasource(DATASOURCE)
        .targets(targets)
        .with_transformation(transformation("merge", {}))
        .with_transformation(
            organize(
                ["Time", "Value #A", "Value #B", "Value #H", "account", "region_id"],
                _BGP_TABLE_COLUMNS,
                list(_BGP_TABLE_COLUMNS),
            )
        )
        .override_by_name("Session state", vbr_cell())
        .override_by_name("Peer status", vbr_cell())
        .override_by_name("In state for", [prop("unit", "s")])
        .override_by_name(
            "Limit used",
            [
                prop("unit", "percentunit"),
                *threshold_cell("green", (0.8, "orange"), (0.95, "red")),
            ],
        )
        .no_value("No BGP session on this line")
        .height(8)
        .span(24)
    )


def connection_bgp_history(d: dash.Dashboard, one: str) -> dash.Dashboard:
    """Session state over time and received routes against the limit."""
    legend_text = "{{vbr_id}} {{peer_ip_address}}"
    d = d.with_panel(
        statetimeline.Panel()
        .title("BGP session state")
        .description("Each BGP session's state over time; only Established carries routes.")
        .datasource(DATASOURCE)
        .with_target(
            query(
                with_peer_ip(
                    of_connection(
                        state_code(BGP_STATUS, "bgp_status", BGP_STATES, SEL, 0, PEER_KEY), one
                    )
                ),
                legend=legend_text,
            )
        )
        .mappings([bgp_code_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .merge_values(True)
        .show_value(VisibilityMode.AUTO)
        .legend(legend().show_legend(False))
        .height(7)
        .span(24)
    )
    return d.with_panel(
        timeseries.Panel()
        .title("Received routes and route limit")
        .description(
            "Routes each session receives, with its route limit: at the limit the peer drops "
            "the session or further routes."
        )
        .datasource(DATASOURCE)
        .targets(
            [
                query(with_peer_ip(peer_series(BGP_RECEIVED, one)), "A", f"{legend_text} received"),
                query(with_peer_ip(peer_series(BGP_ROUTE_LIMIT, one)), "B", f"{legend_text} limit"),
            ]
        )
        .min(0)
        .decimals(0)
        .legend(legend())
        .height(8)
        .span(24)
    )


BOARD = Board(
    file="connection-detail.json",
    uid=CONNECTION_UID,
    title="ExpressConnect / Connection detail",
    nav_title="Connection detail",
    nav_tooltip="One line",
    build=build,
)
