"""Generate the ExpressConnect Grafana dashboards with grafana-foundation-sdk.

The JSON under ``grafana/dashboards/`` is committed so that provisioning needs no build step;
this script is its single source. Run ``python grafana/generate.py`` after editing and commit the
result (``--check`` exits 1 when the committed files are stale; a test does the same).

Every query uses the ``$datasource`` variable and only metric names from the exporter's contract
(issue 3), so the dashboards work with any Prometheus that scrapes the exporter.
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
    LegendDisplayMode,
    LegendPlacement,
    VisibilityMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from exporter.snapshot import BUSINESS_STATUSES, STATUSES

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"

TAG = "expressconnect"
FLEET_UID = "expressconnect-fleet"
CONNECTION_UID = "expressconnect-connection"
HEALTH_UID = "expressconnect-exporter"

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# The state sets of issue 3 (exporter.snapshot), in contract order. A line's current state is
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

KEY = "account, region_id, physical_connection_id"
SEL = 'account=~"$account", region_id=~"$region"'
DAY = 86400

# Metric names (issue 3).
INFO = "expressconnect_physical_connection_info"
STATUS = "expressconnect_physical_connection_status"
BUSINESS = "expressconnect_physical_connection_business_status"
BANDWIDTH = "expressconnect_physical_connection_bandwidth_bytes_per_second"
EXPIRY = "expressconnect_physical_connection_expiry_timestamp_seconds"
CREATED = "expressconnect_physical_connection_creation_timestamp_seconds"
ENABLED = "expressconnect_physical_connection_enabled_timestamp_seconds"
STATUS_CHANGE = "expressconnect_physical_connection_status_change_timestamp_seconds"
REGION_UP = "expressconnect_region_up"
LAST_SUCCESS = "expressconnect_region_last_success_timestamp_seconds"
REFRESH_DURATION = "expressconnect_region_refresh_duration_seconds"
REGION_CONNECTIONS = "expressconnect_region_physical_connections"
API_REQUESTS = "expressconnect_api_requests_total"
API_DURATION = "expressconnect_api_request_duration_seconds"
BUILD_INFO = "expressconnect_exporter_build_info"
RELOAD_OK = "expressconnect_config_last_reload_successful"

FIRING_ALERTS = 'ALERTS{alertname=~"ExpressConnect.*", alertstate="firing"}'


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


def state_code(metric: str, label: str, states: Sequence[str], selector: str, base: int) -> str:
    """One series per connection whose value encodes the state that is currently 1.

    A state set has one series per state; a timeline needs one series per line. Each known state
    contributes ``base + position + 1``; any other value of the label (the exporter keeps unknown
    states as their own series) contributes ``base``.
    """
    terms = [
        f'({metric}{{{selector}, {label}="{state}"}} == 1) * {base + i + 1}'
        for i, state in enumerate(states)
    ]
    terms.append(f'({metric}{{{selector}, {label}!~"{"|".join(states)}"}} == 1) * {base}')
    return f"max by ({KEY}) (\n  " + "\n  or ".join(terms) + "\n)"


def with_name(expr: str, selector: str) -> str:
    """Attach the line's ``name`` label (from the info metric) to a per-connection series."""
    return (
        f"(\n{expr}\n)\n* on ({KEY}) group_left (name)\nmax by ({KEY}, name) ({INFO}{{{selector}}})"
    )


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


def _status_cell() -> list[model.DynamicConfigValue]:
    return [
        prop("mappings", [status_text_mapping()]),
        prop("custom.cellOptions", {"type": "color-background", "mode": "basic"}),
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

    d = d.with_row(dash.Row("Bandwidth and alerts"))
    d = d.with_panel(
        timeseries.Panel()
        .title("Bandwidth by region")
        .description("Sum of the provisioned bandwidth of the lines in each account and region.")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"sum by (account, region_id) ({BANDWIDTH}{{{SEL}}})",
                legend="{{account}} / {{region_id}}",
            )
        )
        .unit("Bps")
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
        instant(f"max by ({KEY}) ({BANDWIDTH}{{{SEL}}})\n{status_filter}", "D"),
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
        .override_by_name("Bandwidth", [prop("unit", "Bps")])
        .override_by_name("Expiry date", [prop("unit", "dateTimeAsIso")])
        .override_by_name(
            "Days left",
            [
                prop("unit", "none"),
                prop("decimals", 0),
                prop(
                    "thresholds",
                    {
                        "mode": "absolute",
                        "steps": [
                            {"color": "red", "value": None},
                            {"color": "orange", "value": 7},
                            {"color": "green", "value": 30},
                        ],
                    },
                ),
                prop("custom.cellOptions", {"type": "color-text"}),
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
            stat_now(f"{BANDWIDTH}{{{one}}}"),
        )
        .unit("Bps")
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
        .description("Descriptive labels of expressconnect_physical_connection_info.")
        .links([fleet_link()])
        .datasource(DATASOURCE)
        .with_target(stat_now(f"max without (job, instance) ({INFO}{{{one}}})"))
        .with_transformation(transformation("labelsToFields", {"mode": "rows", "keepLabels": []}))
        .with_transformation(organize([], {"label": "Field", "value": "Value"}, ["label", "value"]))
        .height(14)
        .span(16)
    )
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
        .with_target(query(f"{BANDWIDTH}{{{one}}}", legend="{{physical_connection_id}}"))
        .unit("Bps")
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
    return d


# --- Exporter health --------------------------------------------------------------------------


def exporter_health() -> dash.Dashboard:
    job = 'job=~"$job"'
    rate = "$__rate_interval"
    d = (
        dash.Dashboard("ExpressConnect / Exporter health")
        .uid(HEALTH_UID)
        .description("Can the exporter's data be trusted: refresh passes, API calls, process.")
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
    )

    d = d.with_row(dash.Row("Exporter"))
    d = d.with_panel(
        big_stat(
            "Scrape target",
            "Prometheus' up for the exporter's job.",
            stat_now(f"min(up{{{job}}})"),
        )
        .mappings([up_mapping()])
        .thresholds(thresholds("red", (1, "green")))
        .span(6)
    )
    d = d.with_panel(
        big_stat(
            "Regions failing",
            "Account/region pairs whose last refresh pass failed (their data is stale).",
            stat_now(f"sum(1 - {REGION_UP}{{{job}, {SEL}}})"),
        )
        .thresholds(thresholds("green", (1, "red")))
        .span(6)
    )
    d = d.with_panel(
        big_stat(
            "Config reload",
            "Whether the last configuration (re)load succeeded.",
            stat_now(f"min({RELOAD_OK}{{{job}}})"),
        )
        .mappings([value_map({"0": ("FAILED", "red"), "1": ("OK", "green")})])
        .thresholds(thresholds("red", (1, "green")))
        .span(6)
    )
    d = d.with_panel(
        big_stat(
            "Version",
            "expressconnect_exporter_build_info.",
            stat_now(f"max by (version) ({BUILD_INFO}{{{job}}})", legend="{{version}}"),
        )
        .text_mode(BigValueTextMode.NAME)
        .color_mode(BigValueColorMode.NONE)
        .span(6)
    )

    d = d.with_row(dash.Row("Regions"))
    region_key = "account, region_id"
    d = d.with_panel(
        table.Panel()
        .title("Regions")
        .description("Per account and region: last pass result, data age, duration, lines.")
        .datasource(DATASOURCE)
        .targets(
            [
                instant(f"max by ({region_key}) ({REGION_UP}{{{job}, {SEL}}})", "A"),
                instant(
                    f"time() - max by ({region_key}) ({LAST_SUCCESS}{{{job}, {SEL}}})",
                    "B",
                ),
                instant(f"max by ({region_key}) ({REFRESH_DURATION}{{{job}, {SEL}}})", "C"),
                instant(f"max by ({region_key}) ({REGION_CONNECTIONS}{{{job}, {SEL}}})", "D"),
            ]
        )
        .with_transformation(transformation("merge", {}))
        .with_transformation(
            organize(
                ["Time"],
                {
                    "account": "Account",
                    "region_id": "Region",
                    "Value #A": "Up",
                    "Value #B": "Data age",
                    "Value #C": "Last pass duration",
                    "Value #D": "Lines",
                },
                ["account", "region_id", "Value #A", "Value #B", "Value #C", "Value #D"],
            )
        )
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
    d = d.with_panel(
        statetimeline.Panel()
        .title("Region up")
        .description("1 when the region's last refresh pass succeeded.")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"max by ({region_key}) ({REGION_UP}{{{job}, {SEL}}})",
                legend="{{account}} / {{region_id}}",
            )
        )
        .mappings([up_mapping()])
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .merge_values(True)
        .legend(legend().show_legend(False))
        .height(8)
        .span(12)
    )
    d = d.with_panel(
        timeseries.Panel()
        .title("Age of last successful pass")
        .description("Seconds since the region's last complete refresh (grows while failing).")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"time() - max by ({region_key}) ({LAST_SUCCESS}{{{job}, {SEL}}})",
                legend="{{account}} / {{region_id}}",
            )
        )
        .unit("s")
        .min(0)
        .legend(legend())
        .height(8)
        .span(12)
    )
    d = d.with_panel(
        timeseries.Panel()
        .title("Refresh pass duration")
        .description("Wall time of each region's last paging pass.")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"max by ({region_key}) ({REFRESH_DURATION}{{{job}, {SEL}}})",
                legend="{{account}} / {{region_id}}",
            )
        )
        .unit("s")
        .min(0)
        .legend(legend())
        .height(8)
        .span(12)
    )
    d = d.with_panel(
        timeseries.Panel()
        .title("Lines per region")
        .description("Connections in each region's published snapshot.")
        .datasource(DATASOURCE)
        .with_target(
            query(
                f"max by ({region_key}) ({REGION_CONNECTIONS}{{{job}, {SEL}}})",
                legend="{{account}} / {{region_id}}",
            )
        )
        .min(0)
        .decimals(0)
        .legend(legend())
        .height(8)
        .span(12)
    )

    d = d.with_row(dash.Row("Cloud API"))
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
        .description("From the expressconnect_api_request_duration_seconds histogram.")
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

    d = d.with_row(dash.Row("Process"))
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
