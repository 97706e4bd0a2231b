"""PromQL fragments that the alert rules and the dashboards share, each defined once.

Both generators read the same series and join them the same way: a line is keyed by
(account, region_id, physical_connection_id), a VBR by (account, region_id, vbr_id), and a
per-VBR series (BGP, traffic) reaches its line only through the ``physical_connection_id`` that
the VBR's info series carries. Written twice, the two copies drift and a dashboard then shows
something other than what an alert fires on; so the label sets and the joins live here and
both generators import them.

The two generators lay out their PromQL in two house styles (the rules write ``on(...)``, the
dashboards ``on (...)``) and their output is committed and checked byte for byte, so a join
takes the style as ``spaced`` rather than one output being rewritten.
"""

from __future__ import annotations

DAY = 86400
"""Seconds in a day: lease and expiry thresholds are whole days."""

LINE_ID = "physical_connection_id"
"""The label naming a physical connection (a *line*); VBR series carry it on their info only."""

REGION_KEY = "account, region_id"
"""One (account, region): the unit a refresh pass reads."""

LINE_KEY = f"{REGION_KEY}, {LINE_ID}"
"""One line: IDs are unique per region only, so account and region are part of the key."""

VBR_KEY = f"{REGION_KEY}, vbr_id"
"""One virtual border router."""

PEER_KEY = f"{VBR_KEY}, bgp_peer_id"
"""One BGP peer (session) of a VBR."""


def group_left(on: str, labels: str, right: str, *, spaced: bool = False) -> str:
    """``* on(<on>) group_left(<labels>)`` then ``right`` on its own line: multiplies by a
    series of value 1 matched on ``on`` to copy ``labels`` from it."""
    gap = " " if spaced else ""
    return f"* on{gap}({on}) group_left{gap}({labels})\n{right}"


def on_vbr_line(vbr_lines: str, *, spaced: bool = False) -> str:
    """The join that gives a per-VBR series its line's ``physical_connection_id``.

    ``vbr_lines`` is one series of value 1 per VBR carrying that label: the VBR info reduced to
    (VBR key, line id) in a dashboard, the rules' recording rule of the same in an alert.
    """
    return group_left(VBR_KEY, LINE_ID, vbr_lines, spaced=spaced)


def copy_label(dst: str, src: str) -> str:
    """The arguments of ``label_replace`` that copy label ``src`` into ``dst`` (where set):
    how a line is matched against the line its ``redundant_physical_connection_id`` names."""
    return f'"{dst}", "$1", "{src}", "(.+)"'


CAPACITY_RATIO = 0.95
"""The share of a line's bandwidth the capacity forecast counts as full (the alert rules'
``capacity_forecast_ratio`` default; a test holds the two equal)."""

CAPACITY_TREND_WINDOW = "7d"
"""How far back the forecast fits its straight line (the rules' ``capacity_p95_window``)."""


def days_until(ratio: float, series: str, window: str) -> str:
    """Days until ``series`` reaches ``ratio`` on the straight line fitted over ``window``.

    ``predict_linear(v[w], 0)`` is that line's value now and ``deriv(v[w])`` its slope per
    second (the same least-squares fit), so the result is at most N days exactly when
    ``predict_linear(v[w], N * 86400) >= ratio``: the capacity alert's own condition. Only
    rising series have a result (a falling one never fills); a negative one means the fitted
    line is past ``ratio`` already, for the caller to filter (``> 0``).
    """
    fitted = f"predict_linear({series}[{window}], 0)"
    return f"({ratio} - {fitted})\n/ (deriv({series}[{window}]) > 0)\n/ {DAY}"
