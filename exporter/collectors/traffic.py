"""Collector ``traffic``: CloudMonitor's newest traffic, drops and health-check figures per VBR
→ how full and how healthy each line is.

One pass asks ``DescribeMetricLast`` (CMS 2019-01-01, namespace ``acs_physical_connection``) for
each metric, listing the region's VBRs from the ``virtual_border_routers`` snapshot as
``Dimensions``, at most 50 per request: calls per pass = metrics × ceil(VBRs / 50), the figure
to hold against CloudMonitor's free monthly quota. Rates come in bit/s and are exported in
bytes; latency comes in µs, loss in percent. A VBR without a datapoint for a metric has no series
for it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.collectors.base import Collector, NotReady, PassContext, PassError, PassSnapshot
from exporter.collectors.fields import number
from exporter.families import Family, RecordFamilies, gauge, labelled_gauges

NAME = "traffic"
ACTION = "DescribeMetricLast"
NAMESPACE = "acs_physical_connection"
MAX_INSTANCES = 50

TRAFFIC = "expressconnect_vbr_traffic_bytes_per_second"
PACKETS = "expressconnect_vbr_packets_per_second"
DROPPED = "expressconnect_vbr_dropped_packets_per_second"
HEALTH_LATENCY = "expressconnect_vbr_health_check_latency_seconds"
HEALTH_LOSS = "expressconnect_vbr_health_check_loss_ratio"
SAMPLE_TIME = "expressconnect_vbr_cloudmonitor_sample_timestamp_seconds"

IDC_TO_VPC = "idc_to_vpc"
VPC_TO_IDC = "vpc_to_idc"

# CloudMonitor metric → (how to scale it to base units).
METRICS: dict[str, float] = {
    "RateInFromIDCToVpc": 1 / 8,  # bit/s → bytes/s
    "RateOutFromVpcToIDC": 1 / 8,
    "PkgsInFromIDCToVpc": 1.0,
    "PkgsOutFromVpcToIDC": 1.0,
    "PkgsDropInFromIDCToVpc": 1.0,
    "PkgsDropOutFromVpcToIDC": 1.0,
    "VbrHealthyCheckLatency": 1e-6,  # µs → s
    "VbrHealthyCheckLossRate": 1e-2,  # % → ratio
}
# Statistics in the order a datapoint is read: this namespace documents ``Value``.
_STATISTICS = ("Value", "Average", "Maximum")


@dataclass(frozen=True, slots=True)
class VbrMetrics:
    """The newest datapoint of each metric CloudMonitor has for one VBR, in base units."""

    id: str
    values: Mapping[str, float]
    newest_sample: float  # Unix seconds of the newest datapoint used

    def get(self, metric: str) -> float | None:
        return self.values.get(metric)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficSnapshot(PassSnapshot):
    """Per VBR of one account and region, CloudMonitor's newest figures; ``calls`` it cost."""

    vbrs: tuple[VbrMetrics, ...]
    calls: int


def period_for(interval: float) -> int:
    """The collector's interval rounded down to a multiple of 60 s (CloudMonitor's minimum)."""
    return max(60, int(interval // 60) * 60)


def parse_datapoints(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``Datapoints`` is a JSON string holding an array (an array is accepted too)."""
    raw = body.get("Datapoints")
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise PassError(f"{ACTION}: Datapoints is not JSON") from None
    if not isinstance(raw, list):
        raise PassError(f"{ACTION}: Datapoints is not a list")
    return [point for point in raw if isinstance(point, Mapping)]


def _point(point: Mapping[str, Any]) -> tuple[str, float, float] | None:
    """(instance, Unix seconds, value) of one datapoint, or None when it is unusable."""
    instance = point.get("instanceId")
    stamp = number(point.get("timestamp"))
    if not isinstance(instance, str) or stamp is None:
        return None
    for statistic in _STATISTICS:
        value = number(point.get(statistic))
        if value is not None:
            return instance, stamp / 1000.0, value
    return None


async def _metric(
    ctx: PassContext, metric: str, vbr_ids: Sequence[str], period: int
) -> list[tuple[str, float, float]]:
    """Newest (instance, time, value) per VBR for one metric and one batch of ≤ 50 VBRs."""
    params = {
        "Namespace": NAMESPACE,
        "MetricName": metric,
        "Period": str(period),
        "Dimensions": json.dumps([{"instanceId": vbr_id} for vbr_id in vbr_ids]),
    }
    body = await ctx.client.call(ACTION, ctx.region_id, params)
    points = [found for p in parse_datapoints(body) if (found := _point(p)) is not None]
    return points


def _batches(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + MAX_INSTANCES] for i in range(0, len(ids), MAX_INSTANCES)]


async def collect(ctx: PassContext) -> TrafficSnapshot:
    """Every metric for every VBR of the region, or an exception (nothing half-read is kept)."""
    inventory = ctx.sibling("virtual_border_routers")
    if inventory is None:
        raise NotReady("no virtual border router inventory for this region yet")
    started = time.monotonic()
    vbr_ids = [vbr.id for vbr in getattr(inventory, "vbrs", ())]
    period = period_for(ctx.interval)
    jobs = [(metric, batch) for metric in METRICS for batch in _batches(vbr_ids)]
    gate = asyncio.Semaphore(ctx.page_concurrency)

    async def run(metric: str, batch: Sequence[str]) -> tuple[str, list[tuple[str, float, float]]]:
        async with gate:
            return metric, await _metric(ctx, metric, batch, period)

    results = await asyncio.gather(*(run(metric, batch) for metric, batch in jobs))
    return TrafficSnapshot(
        account=ctx.account,
        region_id=ctx.region_id,
        vbrs=_assemble(set(vbr_ids), results),
        calls=len(jobs),
        completed_at=ctx.clock(),
        duration_seconds=time.monotonic() - started,
    )


def _assemble(
    known: set[str], results: Iterable[tuple[str, list[tuple[str, float, float]]]]
) -> tuple[VbrMetrics, ...]:
    """Per VBR, each metric's newest value in base units (points of unknown VBRs ignored)."""
    newest: dict[str, dict[str, tuple[float, float]]] = {}
    for metric, points in results:
        for instance, stamp, value in points:
            if instance not in known or not math.isfinite(value):
                continue
            seen = newest.setdefault(instance, {})
            if metric not in seen or stamp > seen[metric][0]:
                seen[metric] = (stamp, value * METRICS[metric])
    return tuple(
        VbrMetrics(
            id=vbr_id,
            values={metric: value for metric, (_, value) in metrics.items()},
            newest_sample=max(stamp for stamp, _ in metrics.values()),
        )
        for vbr_id, metrics in sorted(newest.items())
    )


def _directions(inbound: str, outbound: str) -> Any:
    def values(vbr: VbrMetrics) -> Iterable[tuple[str, float | None]]:
        return ((IDC_TO_VPC, vbr.get(inbound)), (VPC_TO_IDC, vbr.get(outbound)))

    return values


FAMILIES: tuple[Family[VbrMetrics], ...] = (
    labelled_gauges(
        TRAFFIC,
        "VBR traffic from CloudMonitor's newest datapoint (bit/s divided by 8), by direction.",
        "direction",
        _directions("RateInFromIDCToVpc", "RateOutFromVpcToIDC"),
    ),
    labelled_gauges(
        PACKETS,
        "VBR packets per second from CloudMonitor's newest datapoint, by direction.",
        "direction",
        _directions("PkgsInFromIDCToVpc", "PkgsOutFromVpcToIDC"),
    ),
    labelled_gauges(
        DROPPED,
        "VBR dropped packets per second from CloudMonitor's newest datapoint, by direction.",
        "direction",
        _directions("PkgsDropInFromIDCToVpc", "PkgsDropOutFromVpcToIDC"),
    ),
    gauge(
        HEALTH_LATENCY,
        "VBR health-check latency (CloudMonitor's microseconds divided by 1e6).",
        lambda vbr: vbr.get("VbrHealthyCheckLatency"),
    ),
    gauge(
        HEALTH_LOSS,
        "VBR health-check packet loss as a ratio (CloudMonitor's percent divided by 100).",
        lambda vbr: vbr.get("VbrHealthyCheckLossRate"),
    ),
    gauge(
        SAMPLE_TIME,
        "Unix time of the newest CloudMonitor datapoint used for this VBR.",
        lambda vbr: vbr.newest_sample,
    ),
)


COLLECTOR: Collector[TrafficSnapshot] = Collector(
    name=NAME,
    api="cms",
    collect=collect,
    needs="virtual_border_routers",
    default_interval=300.0,
    records=(
        RecordFamilies(
            records=lambda snapshot: snapshot.vbrs,
            identity=lambda vbr: (("vbr_id", vbr.id),),
            families=FAMILIES,
        ),
    ),
)
