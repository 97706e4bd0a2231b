"""The rules that make one fault one page, and the capacity forecast.

Alertmanager groups by line (``physical_connection_id``) and holds symptoms back while their
cause fires (config/alertmanager.yml, docs/runbooks.md). For that every alert about a line, its
VBRs and its BGP sessions must carry the same labels: the line's ID, what on-call needs to find
it (name, circuit code, access point, provider) and, for a leg of a redundant pair, the pair's
key ``redundancy_pair_id`` (the older leg's ID on both legs), so that one pair alert can hold
back the alerts of both legs. The generator joins ``line_labels_record`` into every
per-connection alert.

``alerts/builder.py`` imports this module (the line labels); the builder is passed in, typed by
the protocol below, so that the imports run one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from alerts.health import duration_seconds

# Labels of the physical connection _info metric every per-connection alert carries (the
# collector's INFO_FIELDS names; a label the line does not have is simply absent).
LINE_LABELS = ("name", "circuit_code", "access_point_id", "line_operator")
PAIR_LABEL = "redundancy_pair_id"


class Builder(Protocol):
    """What these rules need of ``alerts.builder.Builder``."""

    c: Mapping[str, Any]

    def m(self, metric: str, *matchers: str) -> str: ...

    def with_name(self, expr: str, info: str | None = None) -> str: ...

    def connection_alert(
        self,
        name: str,
        expr: str,
        severity: str,
        summary: str,
        description: str,
        for_key: str | None = None,
    ) -> list[dict[str, Any]]: ...


def younger_leg(ids: str, partner_created: str, creation: str) -> str:
    """The legs of redundant pairs created after their partner (neither leg of a pair created in
    the same second): pair alerts are raised on the other leg only, and the pair's key is the
    older leg's ID."""
    return f"{partner_created}\n< on({ids}) group_left()\nmax by ({ids}) ({creation})"


def pair_key_expr(ids: str, partner: str, younger: str) -> str:
    """Per leg: ``redundancy_pair_id``, the older leg's ID (both legs of one pair get the same
    value; legs created in the same second each keep their own ID)."""
    mine = '"redundancy_pair_id", "$1", "physical_connection_id", "(.+)"'
    theirs = '"redundancy_pair_id", "$1", "partner_physical_connection_id", "(.+)"'
    on = f"on({ids}, partner_physical_connection_id)"
    return f"""topk by ({ids}) (1,
  max by ({ids}, redundancy_pair_id) (
      label_replace({partner} unless {on} ({younger}), {mine})
    or
      label_replace({partner} and {on} ({younger}), {theirs})
  )
)"""


def line_labels_expr(ids: str, info: str, pair_key: str | None) -> str:
    """One series per line with the labels every per-connection alert joins in (without
    ``pair_key``: the _info labels only)."""
    labels = ", ".join(LINE_LABELS)
    base = f"group by ({ids}, {labels}) (\n  {info}\n)"
    if pair_key is None:
        return base
    return f"(\n  {base}\n)\n* on({ids}) group_left({PAIR_LABEL})\n{pair_key}\nor on({ids})\n{base}"


def capacity_records(ids: str, utilisation: str, p95: str, window: str) -> list[dict[str, Any]]:
    """The line utilisation's p95 over ``window`` (a record, so the forecast's regression runs
    over a smooth series instead of raw 1-minute samples)."""
    expr = f"quantile_over_time(0.95, {utilisation}[{window}])\n"
    return [{"record": p95, "expr": expr}]


def capacity_forecast(b: Builder, p95: str, seconds: int, horizon: str) -> list[dict[str, Any]]:
    """A warning (chat, never the pager) when the line's p95 utilisation, extrapolated linearly
    over the last ``capacity_p95_window``, reaches ``capacity_forecast_ratio`` within
    ``capacity_forecast_horizon`` while it is still below it today (above it, the saturation
    alerts speak)."""
    c = b.c
    ratio = c["capacity_forecast_ratio"]
    window = c["capacity_p95_window"]
    expr = f"predict_linear({p95}[{window}], {seconds}) >= {ratio}\nand\n{p95} < {ratio}"
    return b.connection_alert(
        "ExpressConnectLineCapacityForecast",
        b.with_name(expr),
        "warning",
        "Express Connect line {{ $labels.name }} heads for "
        f"{ratio:.0%} of its bandwidth within {horizon} ({{{{ $labels.direction }}}})",
        "The p95 traffic {{ $labels.direction }} of line {{ $labels.name }} "
        "({{ $labels.physical_connection_id }}) in account {{ $labels.account }}, region "
        f"{{{{ $labels.region_id }}}}, extrapolated from the last {window}, reaches "
        "{{ $value | humanizePercentage }} of its bandwidth in " + horizon + ": order more "
        "bandwidth or move traffic before it saturates.",
    )


def capacity_rules(b: Builder, ids: str, utilisation: str, p95: str) -> list[dict[str, Any]]:
    """The capacity forecast group: the p95 record and the alert (it reads days of data)."""
    horizon = b.c["capacity_forecast_horizon"]
    records = capacity_records(ids, utilisation, p95, b.c["capacity_p95_window"])
    return records + capacity_forecast(b, p95, duration_seconds(horizon), horizon)
