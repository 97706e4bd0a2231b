"""The region table: per (account, region, collector), the last good snapshot, how the last pass
went, its rendered chunks, and the exposition assembled from all of them.

State transitions are pure (``RegionStatus.succeeded`` / ``failed``); the table only stores
their results and re-assembles the exposition, so one failed pass can never half-publish.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.collectors.base import Collector
from exporter.exposition import (
    Block,
    Chunk,
    Exposition,
    Header,
    build_exposition,
    chunk,
    render_headers,
)
from exporter.families import RenderContext, escape, number, render_families

REGION_UP = "expressconnect_region_up"
REGION_LAST_SUCCESS = "expressconnect_region_last_success_timestamp_seconds"
REGION_DURATION = "expressconnect_region_refresh_duration_seconds"

Key = tuple[str, str, str]  # (account, region_id, collector)


@dataclass(frozen=True, slots=True)
class RegionStatus:
    """What the exporter knows about one (account, region, collector).

    ``snapshot`` survives failed passes (it is what ``/metrics`` keeps serving) until
    ``max_staleness`` passes, when ``stale`` turns on and its object series are dropped.
    """

    account: str
    region_id: str
    collector: str
    snapshot: Any = None
    passes: int = 0
    up: bool = False
    stale: bool = False
    last_attempt: float | None = None
    last_success: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    # The first failed attempt since the last success (None while up), and when the snapshot
    # turned stale (its object series dropped): what the status page shows on-call.
    failing_since: float | None = None
    stale_since: float | None = None
    # Objects exported now (records of the collector's first kind), for the status page.
    exported: int = 0
    # Monotonic time of the last success: the wall clock may step, the data's age does not.
    success_monotonic: float | None = None

    @property
    def key(self) -> Key:
        return (self.account, self.region_id, self.collector)

    @property
    def exposed(self) -> Any:
        """The snapshot ``/metrics`` serves: none before the first success or once stale."""
        return None if self.stale else self.snapshot

    def age(self, now: float, monotonic: float | None = None) -> float | None:
        """Seconds since the last success: the larger of what the wall clock and the monotonic
        one say, so a wall clock stepped back can never keep old data fresh (or silence the
        staleness that depends on it)."""
        if self.last_success is None:
            return None
        ages = [now - self.last_success]
        if monotonic is not None and self.success_monotonic is not None:
            ages.append(monotonic - self.success_monotonic)
        return max(ages)

    def succeeded(
        self, snapshot: Any, started_at: float, monotonic: float | None = None
    ) -> RegionStatus:
        return dataclasses.replace(
            self,
            success_monotonic=monotonic,
            snapshot=snapshot,
            passes=self.passes + 1,
            up=True,
            stale=False,
            last_attempt=started_at,
            last_success=snapshot.completed_at,
            last_duration=snapshot.duration_seconds,
            last_error=None,
            failing_since=None,
            stale_since=None,
        )

    def failed(
        self,
        now: float,
        message: str,
        max_staleness: float,
        duration: float,
        monotonic: float | None = None,
    ) -> RegionStatus:
        """Keep the last good snapshot; it turns stale once it is older than ``max_staleness``
        (by ``age``: ``monotonic`` is the monotonic time of ``now``)."""
        age = self.age(now, monotonic)
        stale = self.snapshot is not None and (age is None or age > max_staleness)
        return dataclasses.replace(
            self,
            passes=self.passes + 1,
            up=False,
            stale=stale,
            last_attempt=now,
            last_duration=duration,
            last_error=message,
            failing_since=now if self.up or self.failing_since is None else self.failing_since,
            stale_since=(self.stale_since or now) if stale else None,
        )


@dataclass(frozen=True, slots=True)
class HealthFamily:
    name: str
    help: str
    value: Any  # Callable[[RegionStatus], float | None]


HEALTH_FAMILIES: tuple[HealthFamily, ...] = (
    HealthFamily(
        REGION_UP,
        "1 when the last pass of this collector for this account and region succeeded, else 0.",
        lambda status: 1.0 if status.up else 0.0,
    ),
    HealthFamily(
        REGION_LAST_SUCCESS,
        "Unix time of the last successful pass of this collector for this account and region.",
        lambda status: status.last_success,
    ),
    HealthFamily(
        REGION_DURATION,
        "Wall time of the last pass of this collector for this account and region.",
        lambda status: status.last_duration,
    ),
)


def family_order(collectors: Iterable[Collector[Any]]) -> tuple[list[str], list[Header]]:
    """Every static family in exposition order: object families, region health, counts."""
    found = list(collectors)
    headers = [
        Header(f.name, f.help, f.kind) for c in found for group in c.records for f in group.families
    ]
    headers += [Header(h.name, h.help, "gauge") for h in HEALTH_FAMILIES]
    headers += [Header(count.name, count.help, "gauge") for c in found for count in c.counts]
    return [header.name for header in headers], headers


def render_objects(
    collector: Collector[Any], snapshot: Any, ctx: RenderContext
) -> dict[str, Chunk]:
    """A snapshot's object families as chunks (pure; run in a worker thread: it is the cost).

    Each family's lines are encoded and compressed before the next family is rendered.
    """
    return {name: chunk(lines) for name, lines in render_families(collector.records, snapshot, ctx)}


def render_health(collector: Collector[Any], status: RegionStatus) -> dict[str, Chunk]:
    """Health series (with the ``collector`` label) and counts of what is exported now."""
    where = f'account="{escape(status.account)}",region_id="{escape(status.region_id)}"'
    labels = f'{{{where},collector="{escape(status.collector)}"}}'
    out: dict[str, Chunk] = {}
    for family in HEALTH_FAMILIES:
        value = family.value(status)
        out[family.name] = chunk(
            [] if value is None else [f"{family.name}{labels} {number(value)}\n"]
        )
    exposed = status.exposed
    for count in collector.counts:
        found = 0 if exposed is None else count.count(exposed)
        out[count.name] = chunk([f"{count.name}{{{where}}} {found}\n"])
    return out


def exported_objects(collector: Collector[Any], exposed: Any) -> int:
    """The records of the collector's first kind in what is served (0 when nothing is):
    lines, VBRs, VBRs with traffic data. Counted from the records the collector renders, not
    from its count families, which not every collector has (``traffic`` has none)."""
    if exposed is None or not collector.records:
        return 0
    return sum(1 for _ in collector.records[0].records(exposed))


class RegionTable:
    """Statuses, rendered chunks and the published exposition of every configured key."""

    def __init__(self, collectors: Mapping[str, Collector[Any]], interval: float) -> None:
        self._collectors = collectors
        # The family tables rendered: the collectors' own, or filtered by ``metrics:``.
        self._rendering: Mapping[str, Collector[Any]] = collectors
        self._interval = interval
        self._order, self._headers = family_order(collectors.values())
        self._rendered_headers = render_headers(self._headers, interval)
        self._statuses: dict[Key, RegionStatus] = {}
        self._objects: dict[Key, Mapping[str, Chunk]] = {}
        self._blocks: dict[Key, Block] = {}
        self._exposition = build_exposition([], self._order, self._rendered_headers)

    @property
    def exposition(self) -> Exposition:
        return self._exposition

    def get(self, key: Key) -> RegionStatus | None:
        return self._statuses.get(key)

    def statuses(self) -> list[RegionStatus]:
        return [self._statuses[key] for key in sorted(self._statuses)]

    def configured(self) -> list[Key]:
        return list(self._statuses)

    def set_interval(self, interval: float) -> None:
        """The HELP texts name the refresh interval."""
        self._interval = interval
        self._rendered_headers = render_headers(self._headers, interval)
        self.publish()

    def renderer(self, name: str) -> Collector[Any]:
        """The collector whose family tables a pass of ``name`` renders."""
        return self._rendering[name]

    def set_rendering(self, collectors: Mapping[str, Collector[Any]]) -> None:
        """Render these family tables (``exporter.metricfilter.filtered``) from now on.

        Headers, order and health chunks follow at once, so a dropped family leaves the
        exposition published here; the caller re-renders the snapshots kept (``Passes``) for
        a family let in again to come back before the next pass.
        """
        self._rendering = collectors
        self._order, self._headers = family_order(collectors.values())
        self._rendered_headers = render_headers(self._headers, self._interval)
        for status in list(self._statuses.values()):
            self.update(status, None, publish=False)
        self.publish()

    def reconcile(self, wanted: Sequence[Key]) -> None:
        """Exactly ``wanted``: new keys start pending, removed keys vanish with their series."""
        for key in set(self._statuses) - set(wanted):
            del self._statuses[key]
            self._objects.pop(key, None)
            self._blocks.pop(key, None)
        for key in wanted:
            if key not in self._statuses:
                self.update(RegionStatus(*key), None, publish=False)
        self.publish()

    def update(
        self,
        status: RegionStatus,
        objects: Mapping[str, Chunk] | None,
        *,
        publish: bool = True,
    ) -> None:
        """Store a pass's outcome: new object chunks, or ``None`` to keep the previous ones
        (dropped if the status turned stale)."""
        key = status.key
        collector = self._collectors[status.collector]
        status = dataclasses.replace(status, exported=exported_objects(collector, status.exposed))
        if objects is not None:
            self._objects[key] = objects
        elif status.exposed is None:
            self._objects.pop(key, None)
        self._statuses[key] = status
        chunks = dict(self._objects.get(key, {}))
        chunks.update(render_health(self._rendering[status.collector], status))
        self._blocks[key] = Block(key, {n: c for n, c in chunks.items() if c.size})
        if publish:
            self.publish()

    def publish(self) -> None:
        """Swap in a new exposition (parts are shared; scrapes in flight keep the old one)."""
        self._exposition = build_exposition(
            self._blocks.values(), self._order, self._rendered_headers, self._exposition
        )
