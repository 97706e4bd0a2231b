"""Small builders for queries and panels, shared by every dashboard.

Every query uses the ``$datasource`` variable so that the dashboards work with any Prometheus
that scrapes the exporter.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common, stat
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from grafana.dashboards_src.board import DATASOURCE

# The metrics are in bytes; network engineers read lines in bits per second, so every bandwidth
# and traffic query multiplies by this and uses the bits-per-second unit.
BITS = 8
BITS_UNIT = "bps"
# Utilisation (traffic / line bandwidth) colours: orange from 80 %, red from 95 %.
BUSY, SATURATED = 0.8, 0.95

# --- queries ----------------------------------------------------------------------------------


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


# --- mappings, thresholds, options -----------------------------------------------------------


def value_map(entries: dict[str, tuple[str, str]]) -> model.ValueMap:
    """Map raw values to (text, colour)."""
    return model.ValueMap(
        options={
            raw: model.ValueMappingResult(text=text, color=color, index=i)
            for i, (raw, (text, color)) in enumerate(entries.items())
        }
    )


def thresholds(base: str, *steps: tuple[float, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps(
            [model.Threshold(value=None, color=base)]
            + [model.Threshold(value=v, color=c) for v, c in steps]
        )
    )


def utilisation_thresholds() -> dash.ThresholdsConfig:
    """Utilisation colours: orange from ``BUSY``, red from ``SATURATED``."""
    return thresholds("green", (BUSY, "orange"), (SATURATED, "red"))


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


# --- panels -----------------------------------------------------------------------------------


def big_stat(title: str, description: str, target: prom.Dataquery) -> stat.Panel:
    """A one-value stat panel, coloured as a whole by its value (a sixth of the width)."""
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


def count_stat(
    title: str, description: str, expr: str, colors: tuple[str, str] | None = None
) -> stat.Panel:
    """A quarter-width count: blue, or ``colors`` = (at 0, from 1 on)."""
    panel = big_stat(title, description, stat_now(expr)).no_value("0").span(6)
    if colors is None:
        return panel.color_scheme(fixed_color("blue"))
    return panel.thresholds(thresholds(colors[0], (1, colors[1])))


# --- table cells ------------------------------------------------------------------------------


def color_cell(mapping: model.ValueMap) -> list[model.DynamicConfigValue]:
    """Table cell coloured by a value mapping (state names)."""
    return [
        prop("mappings", [mapping]),
        prop("custom.cellOptions", {"type": "color-background", "mode": "basic"}),
    ]


def threshold_cell(base: str, *steps: tuple[float, str]) -> list[model.DynamicConfigValue]:
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


def utilisation_cell() -> list[model.DynamicConfigValue]:
    return threshold_cell("green", (BUSY, "orange"), (SATURATED, "red"))
