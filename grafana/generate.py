"""Generate the ExpressConnect Grafana dashboards with grafana-foundation-sdk.

The JSON under ``grafana/dashboards/`` is committed so that provisioning needs no build step;
this script is its single source. Run ``python grafana/generate.py`` after editing and commit the
result (``--check`` exits 1 when the committed files are stale; a test does the same).

Every query uses the ``$datasource`` variable, and every metric name comes from the exporter's own
constants (the modules that define the families), so the dashboards work with any Prometheus that
scrapes the exporter and cannot drift from what it serves.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, common, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    VisibilityMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from exporter.collectors import physical_connections as pc
from exporter.collectors import traffic as tr
from exporter.collectors import virtual_border_routers as vbr
from exporter.regiontable import REGION_DURATION, REGION_LAST_SUCCESS, REGION_UP
from exporter.selfmetrics import (
    API_DURATION,
    API_REQUESTS,
    BUILD_INFO,
    REFRESH_ERRORS,
    RELOAD_OK,
    RELOAD_TIMESTAMP,
    UNKNOWN_ENUMS,
)
from exporter.vocabulary import (
    BGP_PEER_STATUSES,
    BGP_STATUS_UNKNOWN,
    BGP_STATUSES,
    BUSINESS_STATUSES,
    STATUSES,
    VBR_STATUSES,
)

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"

TAG = "expressconnect"
FLEET_UID = "expressconnect-fleet"
CONNECTION_UID = "expressconnect-connection"
HEALTH_UID = "expressconnect-exporter"

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# The state sets (exporter.vocabulary), in the exporter's order. A line's current state is
# encoded as a number (position + 1; 0 for a value the exporter did not know) so that a state
# timeline can draw it.
STATUS_COLORS = {
    "Initial": "blue",
    "Approved": "light-blue",
    "Allocating": "purple",
    "Allocated": "light-purple",
    "Confirmed": "yellow",
    "Enabled": "green",
    "Rejected": "red",
    "Canceled": "dark-orange",
    "AllocationFailed": "dark-red",
    "Terminating": "orange",
    "Terminated": "#8e8e8e",
}
BUSINESS_COLORS = {"Normal": "green", "FinancialLocked": "orange", "SecurityLocked": "red"}
# Business-status codes live above the status codes so one panel can map both.
BUSINESS_CODE_BASE = 100
UNKNOWN_COLOR = "#c4162a"
VBR_STATUS_COLORS = {
    "unconfirmed": "yellow",
    "active": "green",
    "terminating": "orange",
    "terminated": "#8e8e8e",
    "recovering": "light-blue",
    "deleting": "dark-orange",
}
# Session states, the exporter's "Unknown" (an empty BgpStatus) included; only Established
# carries routes.
BGP_STATES: tuple[str, ...] = (*BGP_STATUSES, BGP_STATUS_UNKNOWN)
BGP_COLORS = {
    "Idle": "purple",
    "Connect": "yellow",
    "Active": "orange",
    "Established": "green",
    "Down": "red",
    BGP_STATUS_UNKNOWN: "dark-red",
}
BGP_PEER_STATUS_COLORS = {
    "Pending": "yellow",
    "Available": "green",
    "Modifying": "blue",
    "Deleting": "orange",
    "Deleted": "#8e8e8e",
}
ESTABLISHED = "Established"

KEY = "account, region_id, physical_connection_id"
VBR_KEY = "account, region_id, vbr_id"
PEER_KEY = "account, region_id, vbr_id, bgp_peer_id"
SEL = 'account=~"$account", region_id=~"$region"'
DAY = 86400

# Metric names: the exporter's constants under the short names the queries below use.
INFO = pc.INFO
STATUS = pc.STATUS
BUSINESS = pc.BUSINESS_STATUS
BANDWIDTH = pc.BANDWIDTH
EXPIRY = pc.EXPIRY
CREATED = pc.CREATION
ENABLED = pc.ENABLED
STATUS_CHANGE = pc.STATUS_CHANGE
REGION_CONNECTIONS = pc.REGION_COUNT
LAST_SUCCESS = REGION_LAST_SUCCESS
REFRESH_DURATION = REGION_DURATION
VBR_INFO = vbr.VBR_INFO
VBR_STATUS = vbr.VBR_STATUS
VBR_BANDWIDTH = vbr.VBR_BANDWIDTH
BGP_INFO = vbr.BGP_INFO
BGP_PEER_STATUS = vbr.BGP_PEER_STATUS
BGP_STATUS = vbr.BGP_STATUS
BGP_RECEIVED = vbr.BGP_RECEIVED
BGP_ADVERTISED = vbr.BGP_ADVERTISED
BGP_ROUTE_LIMIT = vbr.BGP_ROUTE_LIMIT
BGP_STATUS_CHANGE = vbr.BGP_STATUS_CHANGE
REGION_VBRS = vbr.REGION_VBRS
REGION_PEERS = vbr.REGION_PEERS
TRAFFIC = tr.TRAFFIC
PACKETS = tr.PACKETS
DROPPED = tr.DROPPED
HEALTH_LATENCY = tr.HEALTH_LATENCY
HEALTH_LOSS = tr.HEALTH_LOSS
SAMPLE_TIME = tr.SAMPLE_TIME
FIRING_ALERTS = 'ALERTS{alertname=~"ExpressConnect.*", alertstate="firing"}'

# The metrics are in bytes; network engineers read lines in bits per second, so every bandwidth
# and traffic query multiplies by this and uses the bits-per-second unit.
BITS = 8
BITS_UNIT = "bps"
# Utilisation (traffic / line bandwidth) colours: orange from 80 %, red from 95 %.
BUSY, SATURATED = 0.8, 0.95
# Health-check loss from which a line counts as losing probes (1 %): CloudMonitor reports small
# fractions of a percent on healthy VBRs.
PROBE_LOSS = 0.01
TOP_LINES = 10


# --- small builders -------------------------------------------------------------------------


def query(expr: str, ref: str = "A", legend: str | None = None) -> prom.Dataquery:
    """A range query drawing one series per result (time series, state timeline)."""
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE).range()
    if legend is not None:
        q = q.legend_format(legend)
    return q


def instant(expr: str, ref: str = "A", legend: str | None = None) -> prom.Dataquery:
    """An instant query in table format: one row per series, labels as columns."""
    q = (
        prom.Dataquery()
        .expr(expr)
        .ref_id(ref)
        .datasource(DATASOURCE)
        .instant()
        .format(PromQueryFormat.TABLE)
    )
    if legend is not None:
        q = q.legend_format(legend)
    return q


def stat_now(expr: str, ref: str = "A", legend: str | None = None) -> prom.Dataquery:
    """An instant query for a stat panel (latest value only)."""
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE).instant()
    if legend is not None:
        q = q.legend_format(legend)
    return q


def value_map(entries: dict[str, tuple[str, str]]) -> model.ValueMap:
    """Map raw values to (text, colour)."""
    return model.ValueMap(
        options={
            raw: model.ValueMappingResult(text=text, color=color, index=i)
            for i, (raw, (text, color)) in enumerate(entries.items())
        }
    )


def status_text_mapping() -> model.ValueMap:
    """Colours for status / business-status *label values* (table cells)."""
    entries = {s: (s, STATUS_COLORS[s]) for s in STATUSES}
    entries.update({b: (b, BUSINESS_COLORS[b]) for b in BUSINESS_STATUSES})
    return value_map(entries)


def status_code_mapping() -> model.ValueMap:
    """Texts and colours for the numeric codes of :func:`state_code`."""
    entries = {"0": ("Unknown status", UNKNOWN_COLOR)}
    entries.update({str(i + 1): (s, STATUS_COLORS[s]) for i, s in enumerate(STATUSES)})
    entries[str(BUSINESS_CODE_BASE)] = ("Unknown business status", UNKNOWN_COLOR)
    entries.update(
        {
            str(BUSINESS_CODE_BASE + i + 1): (b, BUSINESS_COLORS[b])
            for i, b in enumerate(BUSINESS_STATUSES)
        }
    )
    return value_map(entries)


def vbr_text_mapping() -> model.ValueMap:
    """Colours for VBR status, BGP session state and BGP peer status *label values*."""
    entries = {s: (s, VBR_STATUS_COLORS[s]) for s in VBR_STATUSES}
    entries.update({s: (s, BGP_COLORS[s]) for s in BGP_STATES})
    entries.update({s: (s, BGP_PEER_STATUS_COLORS[s]) for s in BGP_PEER_STATUSES})
    return value_map(entries)


def bgp_code_mapping() -> model.ValueMap:
    """Texts and colours for the BGP session-state codes of :func:`state_code`."""
    entries = {"0": ("Unexpected state", UNKNOWN_COLOR)}
    entries.update({str(i + 1): (s, BGP_COLORS[s]) for i, s in enumerate(BGP_STATES)})
    return value_map(entries)


def thresholds(base: str, *steps: tuple[float, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps(
            [model.Threshold(value=None, color=base)]
            + [model.Threshold(value=v, color=c) for v, c in steps]
        )
    )


def fixed_color(color: str) -> dash.FieldColor:
    return dash.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color(color)


def up_mapping() -> model.ValueMap:
    return value_map({"0": ("DOWN", "red"), "1": ("UP", "green")})


def prop(id_: str, value: object) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val=id_, value=value)


def transformation(id_: str, options: object) -> model.DataTransformerConfig:
    return model.DataTransformerConfig(id_val=id_, options=options)


def organize(
    exclude: Sequence[str], rename: dict[str, str], order: Sequence[str]
) -> model.DataTransformerConfig:
    return transformation(
        "organize",
        {
            "excludeByName": {name: True for name in exclude},
            "indexByName": {name: i for i, name in enumerate(order)},
            "renameByName": rename,
        },
    )


def legend(placement: LegendPlacement = LegendPlacement.BOTTOM) -> common.VizLegendOptions:
    return (
        common.VizLegendOptions()
        .display_mode(LegendDisplayMode.LIST)
        .placement(placement)
        .show_legend(True)
    )


def big_stat(title: str, description: str, target: prom.Dataquery) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(target)
        .graph_mode(BigValueGraphMode.NONE)
        .color_mode(BigValueColorMode.BACKGROUND)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .height(4)
        .span(4)
    )


def link(title: str, uid: str, slug: str, tooltip: str) -> dash.DashboardLink:
    """A link to another dashboard of the set that keeps the time range and the variables."""
    return (
        dash.DashboardLink(title)
        .type(model.DashboardLinkType.LINK)
        .url(f"/d/{uid}/{slug}")
        .tooltip(tooltip)
        .icon("dashboard")
        .include_vars(True)
        .keep_time(True)
    )


def links() -> list[cogbuilder.Builder[model.DashboardLink]]:
    return [
        link("Fleet overview", FLEET_UID, "expressconnect-fleet-overview", "Every line"),
        link("Connection detail", CONNECTION_UID, "expressconnect-connection-detail", "One line"),
        link("Exporter health", HEALTH_UID, "expressconnect-exporter-health", "The exporter"),
    ]


def fleet_link() -> dash.DashboardLink:
    """Panel link back to the overview, narrowed to the same account and region."""
    return dash.DashboardLink("Back to the fleet overview").url(
        f"/d/{FLEET_UID}/expressconnect-fleet-overview"
        "?${account:queryparam}&${region:queryparam}&${datasource:queryparam}&${__url_time_range}"
    )


def connection_link() -> dict[str, object]:
    """Data link from a connection id cell to the detail dashboard for that connection."""
    return {
        "title": "Open connection detail",
        "url": f"/d/{CONNECTION_UID}/expressconnect-connection-detail"
        "?var-connection=${__value.raw}&${datasource:queryparam}&${__url_time_range}",
    }


# --- variables --------------------------------------------------------------------------------


def datasource_variable() -> dash.DatasourceVariable:
    return (
        dash.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("Prometheus that scrapes the ExpressConnect exporter")
    )


def label_variable(
    name: str, label: str, query_text: str, *, multi: bool = True, description: str = ""
) -> dash.QueryVariable:
    var = (
        dash.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query({"query": query_text, "refId": f"{name}-query", "qryType": 1})
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(multi)
    )
    if multi:
        all_option = model.VariableOption(selected=True, text=["All"], value=["$__all"])
        var = var.include_all(True).all_value(".*").current(all_option)
    return var


def account_variable() -> dash.QueryVariable:
    return label_variable(
        "account",
        "Account",
        f"label_values({REGION_UP}, account)",
        description="The exporter's configured account name",
    )


def region_variable() -> dash.QueryVariable:
    return label_variable(
        "region",
        "Region",
        f'label_values({REGION_UP}{{account=~"$account"}}, region_id)',
        description="Alibaba Cloud region id",
    )


# --- PromQL helpers ---------------------------------------------------------------------------


def state_code(
    metric: str, label: str, states: Sequence[str], selector: str, base: int, key: str = KEY
) -> str:
    """One series per object (``key``) whose value encodes the state that is currently 1.

    A state set has one series per state; a timeline needs one series per line. Each known state
    contributes ``base + position + 1``; any other value of the label (the exporter keeps unknown
    states as their own series) contributes ``base``.
    """
    terms = [
        f'({metric}{{{selector}, {label}="{state}"}} == 1) * {base + i + 1}'
        for i, state in enumerate(states)
    ]
    terms.append(f'({metric}{{{selector}, {label}!~"{"|".join(states)}"}} == 1) * {base}')
    return f"max by ({key}) (\n  " + "\n  or ".join(terms) + "\n)"


def with_name(expr: str, selector: str) -> str:
    """Attach the line's ``name`` label (from the info metric) to a per-connection series."""
    return (
        f"(\n{expr}\n)\n* on ({KEY}) group_left (name)\nmax by ({KEY}, name) ({INFO}{{{selector}}})"
    )


# --- VBR / BGP PromQL helpers -----------------------------------------------------------------


def vbr_line(selector: str) -> str:
    """Each VBR's line: one series per VBR carrying ``physical_connection_id``.

    BGP series know their VBR only; this is the bridge a query joins through (``group_left``) to
    reach the physical connection.
    """
    return f"max by ({VBR_KEY}, physical_connection_id) ({VBR_INFO}{{{selector}}})"


def on_line(expr: str, selector: str) -> str:
    """``expr`` (VBR or BGP series) with its line's ``physical_connection_id`` attached."""
    return (
        f"(\n{expr}\n)\n* on ({VBR_KEY}) group_left (physical_connection_id)\n{vbr_line(selector)}"
    )


def of_connection(expr: str, connection_selector: str) -> str:
    """Keep only the VBR or BGP series of the line(s) ``connection_selector`` selects."""
    return f"(\n{expr}\n)\nand on ({VBR_KEY})\n{VBR_INFO}{{{connection_selector}}}"


def established_per_line(selector: str) -> str:
    """Per line, how many of its BGP sessions are Established (absent: the line has no VBR)."""
    return (
        f"sum by ({KEY}) (\n"
        + on_line(f'{BGP_STATUS}{{{selector}, bgp_status="{ESTABLISHED}"}}', selector)
        + "\n)"
    )


def sessions_per_line(selector: str) -> str:
    """Per line, how many BGP sessions its VBRs have (absent: none)."""
    return f"count by ({KEY}) (\n" + on_line(f"{BGP_INFO}{{{selector}}}", selector) + "\n)"


def enabled_lines(selector: str) -> str:
    return f'max by ({KEY}) ({STATUS}{{{selector}, status="Enabled"}} == 1)'


def enabled_without_established(selector: str) -> str:
    """Enabled lines none of whose BGP sessions is Established; the value is how many sessions
    the line has (0: no VBR or no peer configured on it)."""
    return (
        f"(\n{sessions_per_line(selector)}\nor on ({KEY})\n0 * {enabled_lines(selector)}\n)\n"
        f"and on ({KEY})\n{enabled_lines(selector)}\n"
        f"unless on ({KEY})\n({established_per_line(selector)} > 0)"
    )


def pairs_at_risk(selector: str) -> str:
    """Enabled lines without an Established session whose redundant partner has none either.

    The partner is named by ``redundant_physical_connection_id``; an Established session on it is
    found by renaming its line id to that label. Each line of a pair at risk is one row.
    """
    partner_up = (
        f"label_replace(\n({established_per_line(selector)} > 0),\n"
        '"redundant_physical_connection_id", "$1", "physical_connection_id", "(.+)"\n)'
    )
    return (
        f"max by ({KEY}, name, redundant_physical_connection_id) (\n"
        f'  {INFO}{{{selector}, redundant_physical_connection_id!=""}}\n)\n'
        f"and on ({KEY})\n{enabled_lines(selector)}\n"
        f"unless on ({KEY})\n({established_per_line(selector)} > 0)\n"
        f"unless on (account, redundant_physical_connection_id)\n{partner_up}"
    )


# --- traffic PromQL helpers ------------------------------------------------------------------


def per_line(metric: str, line_selector: str, by: str = "direction", how: str = "sum") -> str:
    """Per line (and ``by``), ``how`` over its VBRs' series of a CloudMonitor metric.

    Traffic series know their VBR only: each is joined to its line through the VBR info's
    ``physical_connection_id``, and ``line_selector`` (on that info) chooses the lines.
    """
    labels = f"{KEY}, {by}" if by else KEY
    return (
        f"{how} by ({labels}) (\n  {metric}{{{SEL}}}\n"
        f"  * on ({VBR_KEY}) group_left (physical_connection_id)\n"
        f"  max by ({VBR_KEY}, physical_connection_id) ({VBR_INFO}{{{line_selector}}})\n)"
    )


def utilisation(line_selector: str) -> str:
    """Per line and direction: its VBRs' summed traffic over the line's bandwidth (1 = full).

    A ratio of two byte rates, so no conversion to bits is needed."""
    return (
        f"{per_line(TRAFFIC, line_selector)}\n/ on ({KEY}) group_left ()\n"
        f"(max by ({KEY}) ({BANDWIDTH}{{{line_selector}}}) > 0)"
    )


def peak_utilisation(line_selector: str) -> str:
    """Per line, the utilisation of its busier direction."""
    return f"max by ({KEY}) (\n{utilisation(line_selector)}\n)"


def dropping_lines(selector: str) -> str:
    """Per line and direction, the packets its VBRs drop per second, where any are dropped."""
    return f"{per_line(DROPPED, selector)}\n> 0"


def lossy_lines(selector: str) -> str:
    """Per line, the worst health-check loss of its VBRs, where it reaches ``PROBE_LOSS``."""
    return f"{per_line(HEALTH_LOSS, selector, by='', how='max')}\n>= {PROBE_LOSS}"


def utilisation_thresholds() -> dash.ThresholdsConfig:
    return thresholds("green", (BUSY, "orange"), (SATURATED, "red"))


# --- Fleet overview ---------------------------------------------------------------------------


_COLUMN_NAMES = {
    "name": "Name",
    "physical_connection_id": "ID",
    "account": "Account",
    "region_id": "Region",
    "access_point_id": "Access point",
    "line_operator": "Operator",
    "port_type": "Port type",
    "port_number": "Port",
    "status": "Status",
    "business_status": "Business status",
    "Value #D": "Bandwidth",
    "Value #E": "Expiry date",
    "Value #F": "Days left",
}


_PEER_COLUMNS = {
    "vbr_id": "VBR",
    "bgp_peer_id": "BGP peer",
    "bgp_group_id": "BGP group",
    "peer_ip_address": "Peer IP",
    "peer_asn": "Peer ASN",
    "local_asn": "Local ASN",
    "ip_version": "IP version",
    "enable_bfd": "BFD",
    "bgp_status": "Session state",
    "Value": "In state for",
}


def _color_cell(mapping: model.ValueMap) -> list[model.DynamicConfigValue]:
    """Table cell coloured by a value mapping (state names)."""
    return [
        prop("mappings", [mapping]),
        prop("custom.cellOptions", {"type": "color-background", "mode": "basic"}),
    ]


def _vbr_cell() -> list[model.DynamicConfigValue]:
    return _color_cell(vbr_text_mapping())


def _status_cell() -> list[model.DynamicConfigValue]:
    return _color_cell(status_text_mapping())


def _threshold_cell(base: str, *steps: tuple[float, str]) -> list[model.DynamicConfigValue]:
    """Table cell whose text colour follows thresholds: ``base`` below the first step."""
    return [
        prop(
            "thresholds",
            {
                "mode": "absolute",
                "steps": [{"color": base, "value": None}]
                + [{"color": color, "value": value} for value, color in steps],
            },
        ),
        prop("custom.cellOptions", {"type": "color-text"}),
    ]


def fleet_overview() -> dash.Dashboard:
    status_filter = f'and on ({KEY}) ({STATUS}{{{SEL}, status=~"$status"}} == 1)'
    locked = 'business_status=~"FinancialLocked|SecurityLocked"'

    d = (
        dash.Dashboard("ExpressConnect / Fleet overview")
        .uid(FLEET_UID)
        .description("Every Express Connect physical connection: state, locks, expiry, alerts.")
        .tags([TAG])
        .editable()
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("utc")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .links(links())
        .with_variable(datasource_variable())
        .with_variable(account_variable())
        .with_variable(region_variable())
        .with_variable(
            label_variable(
                "status",
                "Status",
                f"label_values({STATUS}, status)",
                description="Filters the line table and the status timeline",
            )
        )
    )

    d = d.with_row(dash.Row("Summary"))
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
            stat_now(f"sum({BUSINESS}{{{SEL}, {locked}}})"),
        ).thresholds(thresholds("green", (1, "red")))
    )
    d = d.with_panel(
        big_stat(
            "Expiring within 7 days",
            "Lines whose lease ends within 7 days, including leases already past their end.",
            stat_now(f"sum(({EXPIRY}{{{SEL}}} - time()) < bool {7 * DAY})"),
        ).thresholds(thresholds("green", (1, "red")))
    )
    d = d.with_panel(
        big_stat(
            "Expiring within 30 days",
            "Lines whose lease ends within 30 days, including leases already past their end.",
            stat_now(f"sum(({EXPIRY}{{{SEL}}} - time()) < bool {30 * DAY})"),
        ).thresholds(thresholds("green", (1, "orange")))
    )
    d = d.with_panel(
        big_stat(
            "Firing alerts",
            "ExpressConnect* alerts firing in this Prometheus.",
            stat_now(f"count({FIRING_ALERTS})"),
        )
        .thresholds(thresholds("green", (1, "red")))
        .no_value("0")
    )

    d = d.with_row(dash.Row("Status"))
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
    d = d.with_panel(
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
    attention_labels = (
        "account, region_id, physical_connection_id, name, line_operator, access_point_id"
    )
    d = d.with_panel(
        table.Panel()
        .title("Lines not Enabled")
        .description("Every line whose status is not Enabled, with its current status.")
        .datasource(DATASOURCE)
        .with_target(
            instant(
                f'max by ({KEY}, status) ({STATUS}{{{SEL}, status!="Enabled"}} == 1)\n'
                f"* on ({KEY}) group_left (name, line_operator, access_point_id)\n"
                f"max by ({attention_labels}) ({INFO}{{{SEL}}})"
            )
        )
        .with_transformation(
            organize(
                ["Time", "Value"],
                _COLUMN_NAMES,
                ["name", "physical_connection_id", "status", "account", "region_id"],
            )
        )
        .override_by_name("Status", _status_cell())
        .override_by_name("ID", [prop("links", [connection_link()])])
        .height(8)
        .span(12)
    )
    d = d.with_panel(
        table.Panel()
        .title("Locked lines")
        .description("Lines with business status FinancialLocked or SecurityLocked.")
        .datasource(DATASOURCE)
        .with_target(
            instant(
                f"max by ({KEY}, business_status) ({BUSINESS}{{{SEL}, {locked}}} == 1)\n"
                f"* on ({KEY}) group_left (name, line_operator, access_point_id)\n"
                f"max by ({attention_labels}) ({INFO}{{{SEL}}})"
            )
        )
        .with_transformation(
            organize(
                ["Time", "Value"],
                _COLUMN_NAMES,
                ["name", "physical_connection_id", "business_status", "account", "region_id"],
            )
        )
        .override_by_name("Business status", _status_cell())
        .override_by_name("ID", [prop("links", [connection_link()])])
        .height(8)
        .span(12)
    )

    d = d.with_row(dash.Row("Lines"))
    d = d.with_panel(fleet_table(status_filter))

    d = d.with_row(dash.Row("History"))
    d = d.with_panel(
        statetimeline.Panel()
        .title("Status per line")
        .description("Each line's status over time (filtered by the Status variable).")
        .datasource(DATASOURCE)
        .with_target(
            query(
                with_name(
                    state_code(STATUS, "status", STATUSES, SEL, 0) + f"\n{status_filter}", SEL
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

    d = d.with_panel(
        table.Panel()
        .title("Status changes in the time range")
        .description(
            "Lines whose current status was first seen by the exporter within the dashboard's "
            "time range (persisted across restarts when state_file is set)."
        )
        .datasource(DATASOURCE)
        .with_target(
            instant(
                f"(\n  max by ({KEY}) ({STATUS_CHANGE}{{{SEL}}}) * 1000\n"
                f"  and on ({KEY}) (time() - max by ({KEY}) ({STATUS_CHANGE}{{{SEL}}}) "
                "< $__range_s)\n)\n"
                f"* on ({KEY}) group_left (status) max by ({KEY}, status) "
                f"({STATUS}{{{SEL}}} == 1)\n"
                f"* on ({KEY}) group_left (name) max by ({KEY}, name) ({INFO}{{{SEL}}})"
            )
        )
        .with_transformation(
            organize(
                ["Time"],
                {**_COLUMN_NAMES, "Value": "Status since"},
                ["Value", "name", "physical_connection_id", "status", "account", "region_id"],
            )
        )
        .sort_by([common.TableSortByFieldState().display_name("Status since").desc(True)])
        .override_by_name("Status since", [prop("unit", "dateTimeAsIso")])
        .override_by_name("Status", _status_cell())
        .override_by_name("ID", [prop("links", [connection_link()])])
        .no_value("No status change in the time range")
        .height(8)
        .span(24)
    )

    d = fleet_bgp_summary(d.with_row(dash.Row("BGP sessions")))
    d = fleet_bgp_tables(d)
    d = fleet_traffic_tables(fleet_traffic_summary(d.with_row(dash.Row("Traffic"))))

    d = d.with_row(dash.Row("Bandwidth and alerts"))
    d = d.with_panel(
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
    d = d.with_panel(
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
    return d


def count_stat(
    title: str, description: str, expr: str, colors: tuple[str, str] | None = None
) -> stat.Panel:
    """A quarter-width count: blue, or ``colors`` = (at 0, from 1 on)."""
    panel = big_stat(title, description, stat_now(expr)).no_value("0").span(6)
    if colors is None:
        return panel.color_scheme(fixed_color("blue"))
    return panel.thresholds(thresholds(colors[0], (1, colors[1])))


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
                f"count(\nmax by ({KEY}) (\n{dropping_lines(SEL)}\n)\n) or vector(0)",
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
        .override_by_name("Utilisation", [prop("unit", "percentunit"), *_utilisation_cell()])
        .no_value("No traffic data from CloudMonitor")
    )
    d = d.with_panel(
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
        .override_by_name("Dropped packets/s", [prop("unit", "pps"), *_threshold_cell("red")])
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
            [prop("unit", "percentunit"), *_threshold_cell("orange", (0.05, "red"))],
        )
        .no_value("No line loses health-check probes")
    )


def _utilisation_cell() -> list[model.DynamicConfigValue]:
    return _threshold_cell("green", (BUSY, "orange"), (SATURATED, "red"))


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
        .with_transformation(organize(["Time"], {**_COLUMN_NAMES, **_PEER_COLUMNS}, order))
        .sort_by([common.TableSortByFieldState().display_name("In state for").desc(True)])
        .override_by_name("Session state", _vbr_cell())
        .override_by_name("In state for", [prop("unit", "s")])
        .override_by_name("ID", [prop("links", [connection_link()])])
        .no_value("Every BGP session is Established")
        .height(9)
        .span(16)
    )


def line_table(
    title: str,
    description: str,
    expr: str,
    rename: dict[str, str],
    order: list[str],
    *,
    hide_value: bool = False,
    named: bool = False,
) -> table.Panel:
    """A table of lines (one row per series of ``expr``) with their name and a detail link;
    ``named``: ``expr`` carries the ``name`` label already."""
    exclude = ["Time", "Value"] if hide_value else ["Time"]
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(instant(expr if named else with_name(expr, SEL)))
        .with_transformation(organize(exclude, {**_COLUMN_NAMES, **rename}, order))
        .override_by_name("ID", [prop("links", [connection_link()])])
        .height(8)
        .span(12)
    )


def fleet_table(status_filter: str) -> table.Panel:
    """Every line, one row: several instant queries merged on the connection key.

    Each query is reduced with ``max by`` to the key plus its own columns, so the ``merge``
    transformation joins the rows on (account, region_id, physical_connection_id).
    """
    info_cols = "name, access_point_id, line_operator, port_type, port_number"
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        instant(f"max by ({KEY}, {info_cols}) ({INFO}{{{SEL}}})\n{status_filter}", "A"),
        instant(f"max by ({KEY}, status) ({STATUS}{{{SEL}}} == 1)\n{status_filter}", "B"),
        instant(
            f"max by ({KEY}, business_status) ({BUSINESS}{{{SEL}}} == 1)\n{status_filter}", "C"
        ),
        instant(f"max by ({KEY}) ({BANDWIDTH}{{{SEL}}}) * {BITS}\n{status_filter}", "D"),
        instant(f"max by ({KEY}) ({EXPIRY}{{{SEL}}}) * 1000\n{status_filter}", "E"),
        instant(
            f"floor((max by ({KEY}) ({EXPIRY}{{{SEL}}}) - time()) / {DAY})\n{status_filter}", "F"
        ),
    ]
    order = [
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
    panel = (
        table.Panel()
        .title("Lines")
        .description(
            "Every line with its current state, bandwidth and lease end. Click an ID for detail."
        )
        .datasource(DATASOURCE)
        .targets(targets)
        .with_transformation(transformation("merge", {}))
        .with_transformation(
            organize(["Time", "Value #A", "Value #B", "Value #C"], _COLUMN_NAMES, order)
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
        .override_by_name("Status", _status_cell())
        .override_by_name("Business status", _status_cell())
        .override_by_name("Bandwidth", [prop("unit", BITS_UNIT)])
        .override_by_name("Expiry date", [prop("unit", "dateTimeAsIso")])
        .override_by_name(
            "Days left",
            [
                prop("unit", "none"),
                prop("decimals", 0),
                *_threshold_cell("red", (7, "orange"), (30, "green")),
            ],
        )
        .height(14)
        .span(24)
    )
    return panel


# --- Connection detail ------------------------------------------------------------------------


def connection_detail() -> dash.Dashboard:
    one = f'physical_connection_id="$connection", {SEL}'
    peer_info = (
        f'label_replace(\n  {INFO}{{{one}, redundant_physical_connection_id!=""}},\n'
        '  "physical_connection_id", "$1", "redundant_physical_connection_id", "(.+)"\n)'
    )
    peer_status = (
        state_code(STATUS, "status", STATUSES, SEL, 0)
        + f"\nand on (account, region_id, physical_connection_id)\n{peer_info}"
    )

    d = (
        dash.Dashboard("ExpressConnect / Connection detail")
        .uid(CONNECTION_UID)
        .description("One Express Connect physical connection: its data, history and peer.")
        .tags([TAG])
        .editable()
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("utc")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .links(links())
        .with_variable(datasource_variable())
        .with_variable(account_variable())
        .with_variable(region_variable())
        .with_variable(
            label_variable(
                "connection",
                "Connection",
                f'label_values({INFO}{{account=~"$account", region_id=~"$region"}}, '
                "physical_connection_id)",
                multi=False,
                description="Physical connection id (pc-...)",
            )
        )
    )

    d = d.with_row(dash.Row("Now"))
    code_stat = (
        big_stat(
            "Status",
            "Current status of the line.",
            stat_now(state_code(STATUS, "status", STATUSES, one, 0)),
        )
        .mappings([status_code_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .span(5)
    )
    d = d.with_panel(code_stat.links([fleet_link()]))
    d = d.with_panel(
        big_stat(
            "Business status",
            "Normal, or locked for payment (FinancialLocked) or security (SecurityLocked).",
            stat_now(
                state_code(BUSINESS, "business_status", BUSINESS_STATUSES, one, BUSINESS_CODE_BASE)
            ),
        )
        .mappings([status_code_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .span(5)
    )
    d = d.with_panel(
        big_stat(
            "Redundant peer status",
            "Status of the line named in redundant_physical_connection_id. "
            "No data: the line has no redundant peer, or the peer is not exported.",
            stat_now(peer_status),
        )
        .mappings([status_code_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .no_value("No redundant peer")
        .span(5)
    )
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
    date_targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        stat_now(f"{CREATED}{{{one}}} * 1000", "A", "Created"),
        stat_now(f"{ENABLED}{{{one}}} * 1000", "B", "Enabled"),
        stat_now(f"{EXPIRY}{{{one}}} * 1000", "C", "Lease ends"),
        stat_now(f"{STATUS_CHANGE}{{{one}}} * 1000", "D", "Status since"),
    ]
    d = d.with_panel(
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
    d = d.with_panel(
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
    d = connection_bgp_now(d.with_row(dash.Row("Virtual border routers and BGP")), one)
    d = connection_traffic_now(d.with_row(dash.Row("Traffic")), one)
    d = connection_traffic_history(d, one)
    d = d.with_row(dash.Row("History"))
    d = d.with_panel(
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
                query(peer_status, "C", "Redundant peer status"),
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
    d = d.with_panel(
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
    return connection_bgp_history(d.with_row(dash.Row("BGP history")), one)


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


def vbr_series(metric: str, one: str, by: str = "") -> str:
    """One series per VBR of the selected line (``by``: extra labels to keep)."""
    labels = f"{VBR_KEY}, {by}" if by else VBR_KEY
    return of_connection(f"max by ({labels}) ({metric}{{{SEL}}})", one)


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


def connection_traffic_history(d: dash.Dashboard, one: str) -> dash.Dashboard:
    """Traffic against bandwidth, utilisation, packets, drops and health checks over time."""
    direction = "{{direction}}"
    per_vbr = "{{vbr_id}} {{direction}}"
    dashed = {"fill": "dash", "dash": [10, 10]}
    d = d.with_panel(
        traffic_panel(
            "Traffic against bandwidth",
            "Traffic of all the line's VBRs per direction, and the line's provisioned bandwidth, "
            "in bits per second.",
            BITS_UNIT,
            [
                query(f"{per_line(TRAFFIC, one)}\n* {BITS}", "A", direction),
                query(f"max({BANDWIDTH}{{{one}}}) * {BITS}", "B", "bandwidth"),
            ],
        ).override_by_name(
            "bandwidth",
            [
                prop("custom.lineStyle", dashed),
                prop("color", {"mode": "fixed", "fixedColor": "red"}),
            ],
        )
    )
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


def peer_series(metric: str, connection: str, by: str = "") -> str:
    """One series per BGP session of the selected line (``by``: extra labels to keep)."""
    labels = f"{PEER_KEY}, {by}" if by else PEER_KEY
    return of_connection(f"max by ({labels}) ({metric}{{{SEL}}})", connection)


def with_peer_ip(expr: str) -> str:
    """Attach the session's ``peer_ip_address`` (from the peer info metric) for legends."""
    return (
        f"(\n{expr}\n)\n* on ({PEER_KEY}) group_left (peer_ip_address)\n"
        f"max by ({PEER_KEY}, peer_ip_address) ({BGP_INFO}{{{SEL}}})"
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
        .override_by_name("Status", _vbr_cell())
        .override_by_name(
            "Established",
            [
                *_threshold_cell("red", (1, "green")),
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
        .override_by_name("Session state", _vbr_cell())
        .override_by_name("Peer status", _vbr_cell())
        .override_by_name("In state for", [prop("unit", "s")])
        .override_by_name(
            "Limit used",
            [
                prop("unit", "percentunit"),
                *_threshold_cell("green", (0.8, "orange"), (0.95, "red")),
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


# --- Exporter health --------------------------------------------------------------------------


# Region-level health series of the selected pass keys: (account, region, collector).
HEALTH_SEL = f'{SEL}, collector=~"$collector"'
HEALTH_KEY = "account, region_id, collector"
HEALTH_LEGEND = "{{account}} / {{region_id}} / {{collector}}"


def collector_variable() -> dash.QueryVariable:
    return label_variable(
        "collector",
        "Collector",
        f'label_values({REGION_UP}{{account=~"$account"}}, collector)',
        description="What a refresh pass collects (the collector label of the region series)",
    )


def exporter_health() -> dash.Dashboard:
    job = 'job=~"$job"'
    d = (
        dash.Dashboard("ExpressConnect / Exporter health")
        .uid(HEALTH_UID)
        .description(
            "Can the exporter's data be trusted: refresh passes per collector, API calls, process."
        )
        .tags([TAG])
        .editable()
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("utc")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .links(links())
        .with_variable(datasource_variable())
        .with_variable(
            label_variable(
                "job",
                "Job",
                f"label_values({BUILD_INFO}, job)",
                description="Prometheus scrape job of the exporter",
            )
        )
        .with_variable(account_variable())
        .with_variable(region_variable())
        .with_variable(collector_variable())
    )
    d = health_summary(d.with_row(dash.Row("Exporter")), job)
    d = health_collectors(d.with_row(dash.Row("Collectors")), job)
    d = health_regions(d.with_row(dash.Row("Regions")), job)
    return health_process(health_api(d.with_row(dash.Row("Cloud API")), job), job)


def health_summary(d: dash.Dashboard, job: str) -> dash.Dashboard:
    """One-glance state of the exporter process and its configuration."""
    d = d.with_panel(
        big_stat(
            "Scrape target",
            "Prometheus' up for the exporter's job.",
            stat_now(f"min(up{{{job}}})"),
        )
        .mappings([up_mapping()])
        .thresholds(thresholds("red", (1, "green")))
    )
    d = d.with_panel(
        big_stat(
            "Passes failing",
            "(account, region, collector) keys whose last refresh pass failed: their data is "
            "stale.",
            stat_now(f"sum(1 - {REGION_UP}{{{job}, {HEALTH_SEL}}})"),
        ).thresholds(thresholds("green", (1, "red")))
    )
    d = d.with_panel(
        big_stat(
            "Config reload",
            "Whether the last configuration (re)load succeeded.",
            stat_now(f"min({RELOAD_OK}{{{job}}})"),
        )
        .mappings([value_map({"0": ("FAILED", "red"), "1": ("OK", "green")})])
        .thresholds(thresholds("red", (1, "green")))
    )
    d = d.with_panel(
        big_stat(
            "Config loaded",
            "When the configuration in use was last loaded successfully (UTC).",
            stat_now(f"max({RELOAD_TIMESTAMP}{{{job}}}) * 1000"),
        )
        .unit("dateTimeAsIso")
        .color_mode(BigValueColorMode.NONE)
    )
    d = d.with_panel(
        big_stat(
            "Unknown enum values",
            "Values outside the documented enumerations seen since the exporter started (a "
            f"new API value: see {UNKNOWN_ENUMS} by field).",
            stat_now(f"sum({UNKNOWN_ENUMS}{{{job}}})"),
        ).thresholds(thresholds("green", (1, "orange")))
    )
    return d.with_panel(
        big_stat(
            "Version",
            f"{BUILD_INFO}.",
            stat_now(f"max by (version) ({BUILD_INFO}{{{job}}})", legend="{{version}}"),
        )
        .text_mode(BigValueTextMode.NAME)
        .color_mode(BigValueColorMode.NONE)
    )


def health_collectors(d: dash.Dashboard, job: str) -> dash.Dashboard:
    """Per collector: how many of its passes succeed, how long they take, how often they fail."""
    sel = f"{job}, {HEALTH_SEL}"
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
        instant(f"sum by (collector) ({REGION_UP}{{{sel}}})", "A"),
        instant(f"count by (collector) ({REGION_UP}{{{sel}}})", "B"),
        instant(f"max by (collector) ({REFRESH_DURATION}{{{sel}}})", "C"),
        instant(f"time() - min by (collector) ({LAST_SUCCESS}{{{sel}}})", "D"),
        instant(f"sum by (collector) (increase({REFRESH_ERRORS}{{{sel}}}[$__range]))", "E"),
    ]
    names = {
        "collector": "Collector",
        "Value #A": "Regions up",
        "Value #B": "Regions",
        "Value #C": "Slowest last pass",
        "Value #D": "Oldest data",
        "Value #E": "Failed passes in range",
    }
    d = d.with_panel(
        table.Panel()
        .title("Collectors")
        .description(
            "Per collector over the selected accounts and regions: regions whose last pass "
            "succeeded, the slowest last pass, the age of the oldest data and failed passes."
        )
        .datasource(DATASOURCE)
        .targets(targets)
        .with_transformation(transformation("merge", {}))
        .with_transformation(organize(["Time"], names, list(names)))
        .override_by_name("Slowest last pass", [prop("unit", "s")])
        .override_by_name("Oldest data", [prop("unit", "s")])
        .override_by_name(
            "Failed passes in range",
            [
                prop("decimals", 0),
                *_threshold_cell("green", (1, "red")),
            ],
        )
        .height(6)
        .span(12)
    )
    return d.with_panel(
        timeseries.Panel()
        .title("Failed refresh passes")
        .description(
            f"Failed passes per account, region and collector ({REFRESH_ERRORS}); the previous "
            "data is kept until it is too old."
        )
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"sum by ({HEALTH_KEY}) (increase({REFRESH_ERRORS}{{{sel}}}[$__rate_interval]))",
                legend=HEALTH_LEGEND,
            )
        )
        .min(0)
        .legend(legend())
        .height(6)
        .span(12)
    )


def objects_per_region(job: str) -> str:
    """Objects each collector exports per region, labelled with the collector's name (lines for
    physical_connections, VBRs for virtual_border_routers, VBRs with CloudMonitor data for
    traffic, which has no count of its own), for the selected collectors."""
    sel = f"{job}, {SEL}"
    counts = (
        (f"max by (account, region_id) ({REGION_CONNECTIONS}{{{sel}}})", pc.NAME),
        (f"max by (account, region_id) ({REGION_VBRS}{{{sel}}})", vbr.NAME),
        (f"count by (account, region_id) ({SAMPLE_TIME}{{{sel}}})", tr.NAME),
    )
    labelled = "\nor\n".join(
        f'label_replace({count}, "collector", "{name}", "", "")' for count, name in counts
    )
    return f"(\n{labelled}\n)\nand on ({HEALTH_KEY})\n{REGION_UP}{{{job}, {HEALTH_SEL}}}"


def health_regions(d: dash.Dashboard, job: str) -> dash.Dashboard:
    """Per (account, region, collector): the last pass, data age, duration, objects."""
    sel = f"{job}, {HEALTH_SEL}"
    d = d.with_panel(regions_table(job))
    d = d.with_panel(
        statetimeline.Panel()
        .title("Region up")
        .description("1 when the last refresh pass of the collector for the region succeeded.")
        .datasource(DATASOURCE)
        .with_target(query(f"max by ({HEALTH_KEY}) ({REGION_UP}{{{sel}}})", legend=HEALTH_LEGEND))
        .mappings([up_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .merge_values(True)
        .legend(legend().show_legend(False))
        .height(8)
        .span(12)
    )
    series = (
        (
            "Age of last successful pass",
            "Seconds since the collector's last complete pass per region (grows while failing).",
            f"time() - max by ({HEALTH_KEY}) ({LAST_SUCCESS}{{{sel}}})",
        ),
        (
            "Refresh pass duration",
            "Wall time of each collector's last paging pass per region.",
            f"max by ({HEALTH_KEY}) ({REFRESH_DURATION}{{{sel}}})",
        ),
    )
    for title, description, expr in series:
        d = d.with_panel(
            timeseries.Panel()
            .title(title)
            .description(description)
            .datasource(DATASOURCE)
            .with_target(query(expr, legend=HEALTH_LEGEND))
            .unit("s")
            .min(0)
            .legend(legend())
            .height(8)
            .span(12)
        )
    return d.with_panel(objects_panel(job))


def objects_panel(job: str) -> timeseries.Panel:
    """Lines, VBRs, BGP peers and VBRs with CloudMonitor data per region over time."""
    count_sel = f"{job}, {SEL}"
    return (
        timeseries.Panel()
        .title("Objects per region")
        .description(
            "Lines, VBRs and BGP peers in each region's published snapshot, and the VBRs "
            "CloudMonitor has traffic data for."
        )
        .datasource(DATASOURCE)
        .targets(
            [
                query(
                    f"max by (account, region_id) ({metric}{{{count_sel}}})",
                    ref,
                    f"{{{{account}}}} / {{{{region_id}}}} {what}",
                )
                for ref, metric, what in (
                    ("A", REGION_CONNECTIONS, "lines"),
                    ("B", REGION_VBRS, "VBRs"),
                    ("C", REGION_PEERS, "BGP peers"),
                )
            ]
            + [
                query(
                    f"count by (account, region_id) ({SAMPLE_TIME}{{{count_sel}}})",
                    "D",
                    "{{account}} / {{region_id}} VBRs with traffic data",
                )
            ]
        )
        .min(0)
        .decimals(0)
        .legend(legend())
        .height(8)
        .span(12)
    )


def regions_table(job: str) -> table.Panel:
    sel = f"{job}, {HEALTH_SEL}"
    names = {
        "account": "Account",
        "region_id": "Region",
        "collector": "Collector",
        "Value #A": "Up",
        "Value #B": "Data age",
        "Value #C": "Last pass duration",
        "Value #D": "Objects",
    }
    return (
        table.Panel()
        .title("Regions")
        .description(
            "Per account, region and collector: last pass result, data age, duration, objects "
            "exported (lines, VBRs, or VBRs with traffic data)."
        )
        .datasource(DATASOURCE)
        .targets(
            [
                instant(f"max by ({HEALTH_KEY}) ({REGION_UP}{{{sel}}})", "A"),
                instant(f"time() - max by ({HEALTH_KEY}) ({LAST_SUCCESS}{{{sel}}})", "B"),
                instant(f"max by ({HEALTH_KEY}) ({REFRESH_DURATION}{{{sel}}})", "C"),
                instant(objects_per_region(job), "D"),
            ]
        )
        .with_transformation(transformation("merge", {}))
        .with_transformation(organize(["Time"], names, list(names)))
        .override_by_name(
            "Up",
            [
                prop("mappings", [up_mapping()]),
                prop("custom.cellOptions", {"type": "color-background", "mode": "basic"}),
            ],
        )
        .override_by_name("Data age", [prop("unit", "s")])
        .override_by_name("Last pass duration", [prop("unit", "s")])
        .height(8)
        .span(24)
    )


def health_api(d: dash.Dashboard, job: str) -> dash.Dashboard:
    rate = "$__rate_interval"
    d = d.with_panel(
        timeseries.Panel()
        .title("API requests by action and code")
        .description(
            "Request rate to the VPC API; code is Success, the API error code, or a "
            "transport error class."
        )
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"sum by (action, code) (rate({API_REQUESTS}{{{job}, {SEL}}}[{rate}]))",
                legend="{{action}} {{code}}",
            )
        )
        .unit("reqps")
        .min(0)
        .legend(legend(LegendPlacement.RIGHT))
        .height(8)
        .span(12)
    )
    d = d.with_panel(
        timeseries.Panel()
        .title("Throttled API requests")
        .description(
            "Requests answered with a Throttling* code, per account and region "
            "(0 when none; the client retries them with backoff)."
        )
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"sum by (account, region_id) (rate({API_REQUESTS}"
                f'{{{job}, {SEL}, code=~"Throttling.*"}}[{rate}]))\n'
                f"or\n0 * sum by (account, region_id) (rate({API_REQUESTS}"
                f"{{{job}, {SEL}}}[{rate}]))",
                legend="{{account}} / {{region_id}}",
            )
        )
        .unit("reqps")
        .min(0)
        .legend(legend())
        .height(8)
        .span(12)
    )
    d = d.with_panel(
        timeseries.Panel()
        .title("API request latency (p50, p99)")
        .description(f"From the {API_DURATION} histogram.")
        .datasource(DATASOURCE)
        .targets(
            [
                query(
                    f"histogram_quantile(0.5, sum by (le, action) "
                    f"(rate({API_DURATION}_bucket{{{job}}}[{rate}])))",
                    "A",
                    "p50 {{action}}",
                ),
                query(
                    f"histogram_quantile(0.99, sum by (le, action) "
                    f"(rate({API_DURATION}_bucket{{{job}}}[{rate}])))",
                    "B",
                    "p99 {{action}}",
                ),
            ]
        )
        .unit("s")
        .min(0)
        .legend(legend())
        .height(8)
        .span(16)
    )

    d = d.with_panel(
        table.Panel()
        .title("API errors since exporter start")
        .description(
            "Every non-Success request counted since the exporter started, by code: throttling, "
            "auth and transport errors, including a first one that a rate graph cannot show."
        )
        .datasource(DATASOURCE)
        .with_target(
            instant(
                f"sum by (account, region_id, action, code) "
                f'({API_REQUESTS}{{{job}, {SEL}, code!="Success"}})'
            )
        )
        .with_transformation(
            organize(
                ["Time"],
                {
                    "account": "Account",
                    "region_id": "Region",
                    "action": "Action",
                    "code": "Code",
                    "Value": "Requests",
                },
                ["account", "region_id", "action", "code", "Value"],
            )
        )
        .sort_by([common.TableSortByFieldState().display_name("Requests").desc(True)])
        .no_value("No API error since the exporter started")
        .height(8)
        .span(8)
    )

    return d


def health_process(d: dash.Dashboard, job: str) -> dash.Dashboard:
    rate = "$__rate_interval"
    d = d.with_panel(
        timeseries.Panel()
        .title("Scrape duration")
        .description("How long Prometheus takes to scrape /metrics (served from cache).")
        .datasource(DATASOURCE)
        .with_target(query(f"scrape_duration_seconds{{{job}}}", legend="{{instance}}"))
        .unit("s")
        .min(0)
        .legend(legend())
        .height(8)
        .span(8)
    )
    d = d.with_panel(
        timeseries.Panel()
        .title("Resident memory")
        .description("process_resident_memory_bytes of the exporter.")
        .datasource(DATASOURCE)
        .with_target(query(f"process_resident_memory_bytes{{{job}}}", legend="{{instance}}"))
        .unit("bytes")
        .min(0)
        .legend(legend())
        .height(8)
        .span(8)
    )
    d = d.with_panel(
        timeseries.Panel()
        .title("CPU")
        .description("CPU time used per second (1 = one core).")
        .datasource(DATASOURCE)
        .with_target(
            query(f"rate(process_cpu_seconds_total{{{job}}}[{rate}])", legend="{{instance}}")
        )
        .unit("percentunit")
        .min(0)
        .legend(legend())
        .height(8)
        .span(8)
    )
    return d


# --- output -----------------------------------------------------------------------------------


BUILDERS = {
    "fleet-overview.json": fleet_overview,
    "connection-detail.json": connection_detail,
    "exporter-health.json": exporter_health,
}


def render(builder: dash.Dashboard) -> str:
    """Build, number the panels in order (stable ids) and serialise deterministically."""
    board = builder.build()
    for number, panel in enumerate(board.panels or [], start=1):
        panel.id_val = number
    return json.dumps(board, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def generate() -> dict[str, str]:
    """File name → JSON text for every dashboard."""
    return {name: render(build()) for name, build in BUILDERS.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed JSON is stale"
    )
    parser.add_argument("--out", type=Path, default=DASHBOARDS_DIR, help="output directory")
    args = parser.parse_args(argv)
    stale = []
    for name, text in generate().items():
        path = args.out / name
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(f"stale dashboards (run python grafana/generate.py): {', '.join(stale)}")
        return 1
    for name in stale:
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
