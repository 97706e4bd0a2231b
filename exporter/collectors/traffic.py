"""Collector ``traffic``: CloudMonitor's newest traffic, drops and health-check figures per VBR
→ how full and how healthy each line is.

A pass asks ``DescribeMetricLast`` (CMS 2019-01-01, namespace ``acs_physical_connection``) for
each metric. By default (``collectors.traffic.query: namespace``) without ``Dimensions``: the
endpoint answers the newest point of every instance it serves, ``Length`` 1000 per page chained
by ``NextToken``, so a read costs metrics × ceil(instances answered / 1000) calls. The read
starts at once, beside the VBR pass; only joining its points to the region's VBR inventory
waits for that inventory.

Whether one CloudMonitor endpoint answers every region's VBRs or only its own is not
documented, so the collector learns it per account (``_AccountReads``): the regions of an
account share one read per round, made on the endpoint of the region whose pass starts first;
a region whose VBRs that answer does not hold reads its own endpoint from then on. Under
global scope a round costs metrics × ceil(VBRs / 1000) calls, under regional scope metrics ×
Σ ceil(VBRs of a region / 1000). Points of instances in no VBR inventory of the account (a VBR
deleted since, another product's instance) are not exported, and counted.

``query: named`` lists the region's VBRs as ``Dimensions``, at most 50 per request: metrics ×
ceil(VBRs / 50) calls per region, after the inventory. Rates come in bit/s and are exported in
bytes; latency comes in µs, loss in percent. A VBR without a datapoint for a metric has no
series for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import weakref
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from exporter.collectors.base import (
    Caller,
    Collector,
    CollectorConfig,
    PassContext,
    PassError,
    PassSnapshot,
    Tally,
)
from exporter.collectors.fields import number
from exporter.families import Family, RecordFamilies, gauge, labelled_gauges

NAME = "traffic"
ACTION = "DescribeMetricLast"
NAMESPACE = "acs_physical_connection"
MAX_INSTANCES = 50
VBR_COLLECTOR = "virtual_border_routers"
#: Datapoints per page of a namespace-wide read (CloudMonitor: default 1000, at most 1440).
PAGE_LENGTH = 1000
#: Pages of one metric before a read is refused (10,000,000 instances: a runaway answer).
MAX_PAGES = 10_000

R = TypeVar("R")
Point = tuple[str, float, float]  # instance, Unix seconds, value
MetricPoints = tuple[str, list[Point]]

TRAFFIC = "expressconnect_vbr_traffic_bytes_per_second"
PACKETS = "expressconnect_vbr_packets_per_second"
DROPPED = "expressconnect_vbr_dropped_packets_per_second"
HEALTH_LATENCY = "expressconnect_vbr_health_check_latency_seconds"
HEALTH_LOSS = "expressconnect_vbr_health_check_loss_ratio"
SAMPLE_TIME = "expressconnect_vbr_cloudmonitor_sample_timestamp_seconds"
UNMATCHED = "expressconnect_traffic_unmatched_datapoints_total"

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
# The largest plausible raw value per metric (bit/s, packets/s, µs, %); a value outside
# [0, this] is treated as absent, like the range-checked VPC numbers.
_MAX_RAW: dict[str, float] = {
    "RateInFromIDCToVpc": 1e13,  # 10 Tbit/s, far above any VBR
    "RateOutFromVpcToIDC": 1e13,
    "PkgsInFromIDCToVpc": 1e10,
    "PkgsOutFromVpcToIDC": 1e10,
    "PkgsDropInFromIDCToVpc": 1e10,
    "PkgsDropOutFromVpcToIDC": 1e10,
    "VbrHealthyCheckLatency": 1e9,  # 1000 s
    "VbrHealthyCheckLossRate": 100.0,
}
#: A datapoint older than max(this, 3 × Period) is not exported: a metric whose data stopped
#: must not be shown beside fresh ones under their (newest) sample time.
MIN_MAX_AGE = 900.0
#: A datapoint this far ahead of the exporter's clock is not exported (a wrong time would win
#: "newest" and hide staleness).
MAX_AHEAD = 300.0
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
    #: Datapoints this pass read for instances in no VBR inventory of the account.
    unmatched: int = 0


class TrafficSettings(CollectorConfig):
    """``collectors.traffic``: ``query`` is how CloudMonitor is read, ``namespace`` (the
    default: no ``Dimensions``, shared per account) or ``named`` (50 VBRs per call)."""

    query: Literal["namespace", "named"] | None = None


def period_for(interval: float) -> int:
    """The collector's interval rounded down to a multiple of 60 s (CloudMonitor's minimum)."""
    return max(60, int(interval // 60) * 60)


def parse_datapoints(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``Datapoints`` is a JSON string holding an array (an array is accepted too)."""
    if "Datapoints" not in body:  # the documented answer always has it ("[]" when empty)
        raise PassError(f"{ACTION}: answer without Datapoints")
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


def _point(point: Mapping[str, Any]) -> Point | None:
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
) -> list[Point]:
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


class _Counting:
    """A client that counts the calls made through it (a snapshot reports what it cost)."""

    def __init__(self, inner: Caller) -> None:
        self.inner = inner
        self.account = inner.account
        self.calls = 0

    async def call(self, action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        self.calls += 1
        return await self.inner.call(action, region_id, params)


async def _gather(jobs: Sequence[Awaitable[R]]) -> list[R]:
    """Every job's result; the first failure cancels the others (no call keeps running into
    the next pass and its rate limiter) and is raised."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _whole_metric(client: Caller, region_id: str, metric: str, period: int) -> list[Point]:
    """Newest point of every instance the endpoint answers for one metric: no ``Dimensions``,
    pages of ``Length`` points chained by ``NextToken``. A token seen before is a loop: the
    read fails rather than publish a half-read answer."""
    params = {
        "Namespace": NAMESPACE,
        "MetricName": metric,
        "Period": str(period),
        "Length": str(PAGE_LENGTH),
    }
    points: list[Point] = []
    seen: set[str] = set()
    token: str | None = None
    while True:
        request = params if token is None else {**params, "NextToken": token}
        body = await client.call(ACTION, region_id, request)
        points += [found for p in parse_datapoints(body) if (found := _point(p)) is not None]
        nxt = body.get("NextToken")
        if nxt is None or nxt == "":
            return points
        if not isinstance(nxt, str) or nxt in seen or len(seen) >= MAX_PAGES:
            raise PassError(f"{ACTION} {metric}: NextToken repeats or never ends; read dropped")
        seen.add(nxt)
        token = nxt


async def _named(ctx: PassContext, vbr_ids: Sequence[str], period: int) -> list[MetricPoints]:
    """``query: named``: each metric for batches of at most 50 VBRs named in ``Dimensions``."""
    gate = asyncio.Semaphore(ctx.page_concurrency)

    async def run(metric: str, batch: Sequence[str]) -> MetricPoints:
        async with gate:
            return metric, await _metric(ctx, metric, batch, period)

    return await _gather([run(m, batch) for m in METRICS for batch in _batches(vbr_ids)])


@dataclass(eq=False)
class _Read:
    """One namespace-wide read of every metric on one region's endpoint, as a task that the
    passes of several regions may follow; once every pass following it has let go (its pass
    failed or timed out), the read is cancelled."""

    region_id: str
    started: float
    client: _Counting
    task: asyncio.Future[list[MetricPoints]]
    followers: int = 0

    def usable(self, now: float, interval: float) -> bool:
        """Part of this round: started less than half an interval ago by the pass clock (a
        clock stepped back since makes a new read, never an old one reused), not abandoned."""
        return 0 <= now - self.started < interval / 2 and not self.task.cancelled()

    def follow(self) -> asyncio.Future[list[MetricPoints]]:
        """This read's result for one more pass (cancelling it leaves the read running)."""
        self.followers += 1
        mine = asyncio.shield(self.task)
        mine.add_done_callback(self._let_go)
        return mine

    def _let_go(self, _: object) -> None:
        self.followers -= 1
        if self.followers == 0 and not self.task.done():
            self.task.cancel()


def _start_read(ctx: PassContext, period: int) -> _Read:
    """Every metric of the namespace from this region's endpoint, all metrics at once; the
    first failure cancels the rest.

    Not capped by ``page_concurrency``: a metric's pages are a ``NextToken`` chain, one call at
    a time, so the round lasts as long as its longest chain only when every chain runs from
    the start (with 4 at a time, 8 metrics made two chains back to back). That is at most one
    call in flight per metric, once per account and round; the client's rate limit still
    paces them."""
    client = _Counting(ctx.client)

    async def run(metric: str) -> MetricPoints:
        return metric, await _whole_metric(client, ctx.region_id, metric, period)

    task = asyncio.ensure_future(_gather([run(metric) for metric in METRICS]))
    task.add_done_callback(lambda done: done.cancelled() or done.exception())  # no warning
    return _Read(ctx.region_id, ctx.clock(), client, task)


class _AccountReads:
    """What the traffic passes of one account share: this round's namespace-wide read, and the
    regions whose VBRs that read's endpoint did not answer (they read their own endpoint)."""

    def __init__(self) -> None:
        self.shared: dict[int, _Read] = {}  # by Period
        self.own: set[str] = set()

    def read_for(self, ctx: PassContext, period: int) -> _Read:
        """This round's shared read, started from this region's endpoint if none is running;
        a region known to be answered only by its own endpoint gets a read of its own."""
        if ctx.region_id in self.own:
            return _start_read(ctx, period)
        current = self.shared.get(period)
        if current is None or not current.usable(ctx.clock(), ctx.interval):
            current = self.shared[period] = _start_read(ctx, period)
        return current


#: Per account client (one per account and API): the reads its regions share.
_ACCOUNTS: weakref.WeakKeyDictionary[Caller, _AccountReads] = weakref.WeakKeyDictionary()


def _account_reads(client: Caller) -> _AccountReads:
    found = _ACCOUNTS.get(client)
    if found is None:
        found = _ACCOUNTS[client] = _AccountReads()
    return found


def _vbr_ids(inventory: object) -> list[str]:
    return [vbr.id for vbr in getattr(inventory, "vbrs", ())]


async def _joined_read(
    ctx: PassContext, period: int
) -> tuple[_Read | None, list[str], list[MetricPoints]]:
    """The read this region's points come from (None: not needed), its inventory and the
    points. Reading starts before the inventory is there; a region without VBRs needs no read
    (a failed one does not fail it); a shared read that holds none of this region's VBRs came
    from an endpoint that does not answer them: this region reads its own, now and later."""
    reads = _account_reads(ctx.client)
    read = reads.read_for(ctx, period)
    needed, waiting = asyncio.ensure_future(ctx.needed()), read.follow()

    async def outcome() -> list[MetricPoints] | Exception:
        try:
            return await waiting
        except Exception as error:  # judged once the inventory says whether it matters
            return error

    try:
        inventory, results = await asyncio.gather(needed, outcome())
    except BaseException:
        for pending in (needed, waiting):
            pending.cancel()
        await asyncio.gather(needed, waiting, return_exceptions=True)
        raise
    vbr_ids = _vbr_ids(inventory)
    if isinstance(results, Exception):
        if not vbr_ids:
            return None, vbr_ids, []
        raise results
    if not vbr_ids:  # the read still counts its strangers where it was made
        return read, vbr_ids, results
    if read.region_id != ctx.region_id and not _answers(results, set(vbr_ids)):
        reads.own.add(ctx.region_id)
        read = reads.read_for(ctx, period)
        results = await read.follow()
    return read, vbr_ids, results


def _answers(results: Iterable[MetricPoints], known: set[str]) -> bool:
    return any(instance in known for _, points in results for instance, _, _ in points)


def _unmatched(ctx: PassContext, results: Iterable[MetricPoints]) -> int:
    """Distinct datapoints of instances in no VBR inventory of the account; 0 while a region
    of the account has no inventory yet (its VBRs would be miscounted as strangers)."""
    inventories = ctx.account_sibling(VBR_COLLECTOR).values()
    if any(inventory is None for inventory in inventories):
        return 0
    known = {vbr_id for inventory in inventories for vbr_id in _vbr_ids(inventory)}
    return len(
        {
            (metric, instance, stamp)
            for metric, points in results
            for instance, stamp, _ in points
            if instance not in known
        }
    )


async def collect(ctx: PassContext) -> TrafficSnapshot:
    """Every metric for every VBR of the region, or an exception (nothing half-read is kept).

    ``namespace`` (default): CloudMonitor is read at once, beside the VBR pass, shared by the
    account's regions; only the join waits for the inventory. ``named``: the inventory first,
    then named batches. The pass that made a read reports its calls and its strangers.
    """
    started = time.monotonic()
    period = period_for(ctx.interval)
    query = getattr(ctx.settings, "query", None) or "namespace"
    calls = unmatched = 0
    if query == "named":
        vbr_ids = _vbr_ids(await ctx.needed())
        counting = _Counting(ctx.client)
        results = await _named(dataclasses.replace(ctx, client=counting), vbr_ids, period)
        calls = counting.calls
    else:
        read, vbr_ids, results = await _joined_read(ctx, period)
        if read is not None and read.region_id == ctx.region_id:
            calls, unmatched = read.client.calls, _unmatched(ctx, results)
    return TrafficSnapshot(
        account=ctx.account,
        region_id=ctx.region_id,
        vbrs=_assemble(set(vbr_ids), results, ctx.clock(), period),
        calls=calls,
        unmatched=unmatched,
        completed_at=ctx.clock(),
        duration_seconds=time.monotonic() - started,
    )


def _usable(metric: str, stamp: float, value: float, window: tuple[float, float]) -> bool:
    """A value within the metric's range, at a time inside ``window`` (oldest, latest)."""
    return 0.0 <= value <= _MAX_RAW[metric] and window[0] <= stamp <= window[1]


def _assemble(
    known: set[str], results: Iterable[MetricPoints], now: float, period: int
) -> tuple[VbrMetrics, ...]:
    """Per VBR, each metric's newest value in base units: points of unknown VBRs, values out
    of range and times too old (max(3 × Period, 15 min)) or ahead of ``now`` are ignored."""
    window = (now - max(MIN_MAX_AGE, 3.0 * period), now + MAX_AHEAD)
    newest: dict[str, dict[str, tuple[float, float]]] = {}
    for metric, points in results:
        for instance, stamp, value in points:
            if instance not in known or not _usable(metric, stamp, value, window):
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


def refit(snapshot: TrafficSnapshot, inventory: object) -> TrafficSnapshot:
    """The snapshot without the VBRs a new inventory no longer lists (same object when none
    went), so a deleted VBR's traffic goes with it."""
    ids = set(_vbr_ids(inventory))
    kept = tuple(vbr for vbr in snapshot.vbrs if vbr.id in ids)
    if len(kept) == len(snapshot.vbrs):
        return snapshot
    return dataclasses.replace(snapshot, vbrs=kept)


COLLECTOR: Collector[TrafficSnapshot] = Collector(
    name=NAME,
    api="cms",
    collect=collect,
    needs=VBR_COLLECTOR,
    needs_late=True,
    refit=refit,
    default_interval=300.0,
    settings_model=TrafficSettings,
    tallies=(
        Tally(
            UNMATCHED,
            "CloudMonitor datapoints of instances in no VBR inventory of the account (a VBR "
            "deleted since, another product's instance): read, not exported.",
            lambda snapshot: snapshot.unmatched,
        ),
    ),
    records=(
        RecordFamilies(
            records=lambda snapshot: snapshot.vbrs,
            identity=lambda vbr: (("vbr_id", vbr.id),),
            families=FAMILIES,
        ),
    ),
)
