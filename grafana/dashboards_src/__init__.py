"""The dashboards' sources: one module per dashboard, the helpers they share, and the registry.

A new dashboard is a module that defines ``BOARD`` (a :class:`~.board.Board`: file name, uid,
title, its link-bar entry and its ``build`` function) plus its line in ``DASHBOARDS`` below; the
generator writes it to ``grafana/dashboards/`` and adds it to every dashboard's link bar.

Shared helpers: ``board`` (identity, header, links, variables), ``panels`` (queries and panel
builders), ``states`` (state sets, colours, codes), ``metrics`` (the exporter's metric names),
``queries`` (the dashboards' PromQL, on top of the fragments shared with the alert rules in
``promql.fragments``), ``tables`` (tables of lines).
"""

from __future__ import annotations

from grafana.dashboards_src import (
    connection_detail,
    exporter_health,
    fleet_overview,
    resilience,
)
from grafana.dashboards_src.board import Board

# In link-bar order.
DASHBOARDS: tuple[Board, ...] = (
    fleet_overview.BOARD,
    connection_detail.BOARD,
    resilience.BOARD,
    exporter_health.BOARD,
)
