"""The collectors, one module each; this table is the only place that lists them.

Adding a collector: write its module (API calls, frozen snapshot type, family table, a
``COLLECTOR``) and add it below. The wiring schedules, runs, renders and serves it from here.
"""

from __future__ import annotations

from typing import Any

from exporter.collectors import (
    failover_tests,
    health_checks,
    physical_connections,
    traffic,
    virtual_border_routers,
)
from exporter.collectors.base import Collector

COLLECTORS: tuple[Collector[Any], ...] = (
    physical_connections.COLLECTOR,
    virtual_border_routers.COLLECTOR,
    traffic.COLLECTOR,  # after the collector whose snapshot it reads
    health_checks.COLLECTOR,  # these two read the VBR inventory too
    failover_tests.COLLECTOR,
)


def by_name(collectors: tuple[Collector[Any], ...] = COLLECTORS) -> dict[str, Collector[Any]]:
    return {collector.name: collector for collector in collectors}
