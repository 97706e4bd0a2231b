"""Collector ``health_checks``: CEN's VBR health checks → whether a line of a pair fails over by
itself.

One pass lists ``DescribeCenVbrHealthCheck`` (CEN, Cbn 2017-09-12, one central endpoint) for the
region (``VbrInstanceRegionId``, no ``RegionId``: the CEN API has none), fully paged, and joins it
with the ``virtual_border_routers`` snapshot of the same account and region. A VBR without a
health check is simply absent from CEN's list, so "configured" can only be told for the VBRs of
the inventory: every one of them gets ``expressconnect_vbr_health_check_configured`` 1 or 0. A
check with ``HealthCheckOnly`` true only probes: a failed probe does not move routes to the
redundant line, so it protects nothing by itself (a missing field is the documented default,
false: the check switches routes).

Calls per pass: ceil(health checks of the region / api.page_size).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.collectors.base import (
    Collector,
    Listing,
    PassContext,
    PassSnapshot,
    list_all,
    per_id,
)
from exporter.collectors.fields import bounded, text
from exporter.collectors.virtual_border_routers import NAME as VBR_COLLECTOR
from exporter.collectors.virtual_border_routers import vbr_inventory
from exporter.families import Family, RecordFamilies, gauge, info

NAME = "health_checks"
ACTION = "DescribeCenVbrHealthCheck"

CONFIGURED = "expressconnect_vbr_health_check_configured"
INFO = "expressconnect_vbr_health_check_info"
INTERVAL = "expressconnect_vbr_health_check_interval_seconds"
HEALTHY_THRESHOLD = "expressconnect_vbr_health_check_healthy_threshold"
SWITCHES_ROUTES = "expressconnect_vbr_health_check_switches_routes"

INFO_LABELS = ("cen_id", "source_ip", "target_ip")
# Documented ranges are 2..3 s and 3..8 probes; anything beyond these bounds is a bad field.
_MAX_INTERVAL = 3600.0
_MAX_THRESHOLD = 1000.0


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One VBR's health-check configuration as CEN lists it."""

    vbr_id: str
    region_id: str
    cen_id: str
    source_ip: str
    target_ip: str
    interval_seconds: float | None
    healthy_threshold: float | None
    switches_routes: bool


@dataclass(frozen=True, slots=True)
class VbrCoverage:
    """A VBR of the inventory and whether CEN lists a health check for it."""

    id: str
    configured: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckSnapshot(PassSnapshot):
    """Every VBR of one account and region, and the health checks of those VBRs (by VBR ID)."""

    vbrs: tuple[VbrCoverage, ...]
    checks: tuple[HealthCheck, ...]


def _probe_only(value: object) -> bool:
    """``HealthCheckOnly``: a JSON bool, or its text in any case; absent means false."""
    return value is True or text(value).strip().lower() == "true"


def parse_health_check(record: Mapping[str, Any]) -> HealthCheck:
    vbr_id = record.get("VbrInstanceId")
    if not isinstance(vbr_id, str) or not vbr_id:
        raise ValueError("record without VbrInstanceId")
    return HealthCheck(
        vbr_id=vbr_id,
        region_id=text(record.get("VbrInstanceRegionId")),
        cen_id=sys.intern(text(record.get("CenId"))),
        source_ip=text(record.get("HealthCheckSourceIp")),
        target_ip=text(record.get("HealthCheckTargetIp")),
        interval_seconds=bounded(record.get("HealthCheckInterval"), 0.0, _MAX_INTERVAL),
        healthy_threshold=bounded(record.get("HealthyThreshold"), 0.0, _MAX_THRESHOLD),
        switches_routes=not _probe_only(record.get("HealthCheckOnly")),
    )


HEALTH_CHECKS = Listing(
    action=ACTION,
    wrapper="VbrHealthChecks",
    item="VbrHealthCheck",
    parse=parse_health_check,
    key=lambda check: check.vbr_id,
    region_param="VbrInstanceRegionId",
)


async def collect(ctx: PassContext) -> HealthCheckSnapshot:
    """CEN's list joined with the VBR inventory; a failed listing fails the whole pass."""
    inventory = vbr_inventory(ctx)
    started = time.monotonic()
    checks = await list_all(ctx, HEALTH_CHECKS)
    # Checks of VBRs outside this inventory (another region, another owner) are not ours.
    known = {vbr.id for vbr in inventory.vbrs}
    ours = [c for c in checks if c.vbr_id in known and c.region_id in ("", ctx.region_id)]
    listed = {c.vbr_id for c in ours}
    return HealthCheckSnapshot(
        account=ctx.account,
        region_id=ctx.region_id,
        vbrs=tuple(VbrCoverage(vbr.id, vbr.id in listed) for vbr in inventory.vbrs),
        checks=tuple(ours),
        completed_at=ctx.clock(),
        duration_seconds=time.monotonic() - started,
    )


CONFIGURED_FAMILIES: tuple[Family[VbrCoverage], ...] = (
    gauge(
        CONFIGURED,
        "1 when CEN has a health check for this VBR, 0 when it has none (static routing, or "
        "never set up): without one the VBR does not fail over by itself.",
        lambda vbr: 1.0 if vbr.configured else 0.0,
    ),
)
CHECK_FAMILIES: tuple[Family[HealthCheck], ...] = (
    info(
        INFO,
        "VBR health check (CEN DescribeCenVbrHealthCheck): 1, with its CEN and probe addresses.",
        INFO_LABELS,
        lambda check: (
            ("cen_id", check.cen_id),
            ("source_ip", check.source_ip),
            ("target_ip", check.target_ip),
        ),
    ),
    gauge(
        INTERVAL,
        "Seconds between the health check's probe packets (HealthCheckInterval).",
        lambda check: check.interval_seconds,
    ),
    gauge(
        HEALTHY_THRESHOLD,
        "Probe packets the health check sends per check (HealthyThreshold).",
        lambda check: check.healthy_threshold,
    ),
    gauge(
        SWITCHES_ROUTES,
        "1 when a failed health check moves routes to the redundant line, 0 when the check "
        "only probes (HealthCheckOnly true).",
        lambda check: 1.0 if check.switches_routes else 0.0,
    ),
)


COLLECTOR: Collector[HealthCheckSnapshot] = Collector(
    name=NAME,
    api="cbn",
    collect=collect,
    needs=VBR_COLLECTOR,
    default_interval=600.0,
    records=(
        per_id("vbr_id", lambda snapshot: snapshot.vbrs, CONFIGURED_FAMILIES),
        RecordFamilies(
            records=lambda snapshot: snapshot.checks,
            identity=lambda check: (("vbr_id", check.vbr_id),),
            families=CHECK_FAMILIES,
        ),
    ),
)
