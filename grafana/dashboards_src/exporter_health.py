"""The exporter health: can the exporter's data be trusted? Its scrape target, configuration,
refresh passes per collector and region, Cloud API calls and process resources."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueTextMode,
    LegendPlacement,
)

from grafana.dashboards_src.board import (
    DATASOURCE,
    Board,
    label_variable,
    new_dashboard,
)
from grafana.dashboards_src.metrics import (
    API_DURATION,
    API_REQUESTS,
    BUILD_INFO,
    FAILOVER_COLLECTOR,
    HC_CONFIGURED,
    HEALTH_CHECKS_COLLECTOR,
    LAST_SUCCESS,
    LINES_COLLECTOR,
    REFRESH_DURATION,
    REFRESH_ERRORS,
    REGION_CONNECTIONS,
    REGION_PEERS,
    REGION_UP,
    REGION_VBRS,
    RELOAD_OK,
    RELOAD_TIMESTAMP,
    SAMPLE_TIME,
    TEST_ACTIVE,
    TRAFFIC_COLLECTOR,
    UNKNOWN_ENUMS,
    VBRS_COLLECTOR,
)
from grafana.dashboards_src.panels import (
    big_stat,
    instant,
    legend,
    organize,
    prop,
    query,
    stat_now,
    threshold_cell,
    thresholds,
    transformation,
    up_mapping,
    value_map,
)
from grafana.dashboards_src.queries import SEL
from promql.fragments import REGION_KEY

HEALTH_UID = "expressconnect-exporter"

# Region-level health series of the selected pass keys: (account, region, collector).
HEALTH_SEL = f'{SEL}, collector=~"$collector"'
HEALTH_KEY = f"{REGION_KEY}, collector"
HEALTH_LEGEND = "{{account}} / {{region_id}} / {{collector}}"


def collector_variable() -> dash.QueryVariable:
    return label_variable(
        "collector",
        "Collector",
        f'label_values({REGION_UP}{{account=~"$account"}}, collector)',
        description="What a refresh pass collects (the collector label of the region series)",
    )


def build() -> dash.Dashboard:
    job = 'job=~"$job"'
    d = new_dashboard(
        BOARD,
        "Can the exporter's data be trusted: refresh passes per collector, API calls, process.",
        "now-6h",
        collector_variable(),
        before=[
            label_variable(
                "job",
                "Job",
                f"label_values({BUILD_INFO}, job)",
                description="Prometheus scrape job of the exporter",
            )
        ],
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
                *threshold_cell("green", (1, "red")),
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
    traffic, VBRs judged for a health check for health_checks, lines judged for a running test
    for failover_tests: the last three have no count of their own), for the selected
    collectors."""
    sel = f"{job}, {SEL}"
    counts = (
        (f"max by (account, region_id) ({REGION_CONNECTIONS}{{{sel}}})", LINES_COLLECTOR),
        (f"max by (account, region_id) ({REGION_VBRS}{{{sel}}})", VBRS_COLLECTOR),
        (f"count by (account, region_id) ({SAMPLE_TIME}{{{sel}}})", TRAFFIC_COLLECTOR),
        (f"count by (account, region_id) ({HC_CONFIGURED}{{{sel}}})", HEALTH_CHECKS_COLLECTOR),
        (f"count by (account, region_id) ({TEST_ACTIVE}{{{sel}}})", FAILOVER_COLLECTOR),
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
    targets: list[cogbuilder.Builder[cogvariants.Dataquery]] = [
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
    targets.append(
        query(
            f"count by (account, region_id) ({SAMPLE_TIME}{{{count_sel}}})",
            "D",
            "{{account}} / {{region_id}} VBRs with traffic data",
        )
    )
    return (
        timeseries.Panel()
        .title("Objects per region")
        .description(
            "Lines, VBRs and BGP peers in each region's published snapshot, and the VBRs "
            "CloudMonitor has traffic data for."
        )
        .datasource(DATASOURCE)
        .targets(targets)
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
            "exported (lines, VBRs, VBRs with traffic data, VBRs judged for a health check, or "
            "lines judged for a failover test)."
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
    """The Cloud API as the exporter sees it: request rates, throttling, latency, errors."""
    return api_errors(api_rates(d, job), job)


def api_rates(d: dash.Dashboard, job: str) -> dash.Dashboard:
    """Requests per second by action and code, and the throttled ones per account and region."""
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
    return d.with_panel(
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


def api_errors(d: dash.Dashboard, job: str) -> dash.Dashboard:
    """Request latency quantiles, and every failed request since the exporter started."""
    rate = "$__rate_interval"
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
    return d.with_panel(api_errors_table(job))


def api_errors_table(job: str) -> table.Panel:
    """Every request that did not succeed, by account, region, action and code."""
    return (
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


BOARD = Board(
    file="exporter-health.json",
    uid=HEALTH_UID,
    title="ExpressConnect / Exporter health",
    nav_title="Exporter health",
    nav_tooltip="The exporter",
    build=build,
)
