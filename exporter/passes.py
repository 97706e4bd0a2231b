"""One pass of one collector over one (account, region), and what its outcome changes.

Written once for every collector: a pass either yields a complete snapshot, which is rendered
and published, or fails in any way at all — API error, timeout, a bug, a value that cannot be
encoded — and then the previous snapshot stays, ``up`` goes to 0 and the error is counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.client import ApiError
from exporter.collectors.base import Collector, NotReady, PassContext, PassError
from exporter.families import RenderContext
from exporter.logs import redact
from exporter.regiontable import Key, RegionStatus, RegionTable, render_objects
from exporter.selfmetrics import SelfMetrics
from exporter.state_file import Observation, StateStore

log = logging.getLogger(__name__)


#: Distinct unknown enumeration values logged per API field; more are counted, not logged.
MAX_UNKNOWN_LOGGED_PER_FIELD = 100


@dataclass(frozen=True, slots=True)
class PassLimits:
    timeout: float
    max_staleness: float
    # How long a pass waits for the collector it reads to have a first snapshot.
    wait: float = 0.0


def is_bug(error: BaseException) -> bool:
    """Errors the API or the network cause are expected; anything else is our bug."""
    return not isinstance(error, ApiError | PassError | TimeoutError | OSError)


def failure_message(error: BaseException, timeout: float) -> str:
    """One line for the log, the status page and ``last_error``; secrets redacted."""
    if isinstance(error, TimeoutError):
        return f"refresh timed out after {timeout:g}s"
    lines = str(error).splitlines()
    text = lines[0] if lines else ""
    if is_bug(error):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return redact(text or type(error).__name__)


class Passes:
    """Runs passes and records their outcomes in the region table."""

    def __init__(
        self,
        table: RegionTable,
        state: StateStore,
        self_metrics: SelfMetrics,
        collectors: Mapping[str, Collector[Any]],
        clock: Callable[[], float],
    ) -> None:
        self.table = table
        self._state = state
        self._self_metrics = self_metrics
        self._collectors = collectors
        self._clock = clock
        self._tag_labels: tuple[tuple[str, str], ...] = ()
        # Per API field, the unknown values logged so far (bounded), and the fields whose
        # bound was reached.
        self._unknown_logged: dict[str, set[str]] = {}
        self._unknown_full: set[str] = set()
        self._bugs_logged: set[tuple[Key, type[BaseException]]] = set()
        # One render at a time: rendering holds the GIL anyway, and parallel renders of many
        # regions would multiply the transient memory of their line lists.
        self._render_gate = asyncio.Semaphore(1)

    def sibling(self, key: Key) -> Callable[[str], object | None]:
        """Another collector's last good snapshot for the same account and region."""

        def find(name: str) -> object | None:
            status = self.table.get((key[0], key[1], name))
            return None if status is None else status.exposed

        return find

    async def run(
        self, ctx: PassContext, collector: str, limits: PassLimits
    ) -> RegionStatus | None:
        """One pass; the table is updated whatever the outcome (``None``: key not configured)."""
        key = (ctx.account, ctx.region_id, collector)
        if self.table.get(key) is None:
            return None
        needs = self._collectors[collector].needs
        if needs is not None and self._collectors[collector].needs_late:
            if (failure := self._input_failure(key, needs)) is not None:
                return self._failed(key, PassError(failure), limits, self._clock(), 0.0)
            ctx = dataclasses.replace(ctx, needed=self._needed(key, needs, limits.wait))
        elif needs is not None and not await self._wait_for(key, needs, limits.wait):
            failure = self._input_failure(key, needs)
            if failure is not None:
                return self._failed(key, PassError(failure), limits, self._clock(), 0.0)
            reason = f"waiting for the {needs} collector's data of this region"
            return self._skipped(key, reason, limits)
        ctx = dataclasses.replace(ctx, account_sibling=self._account_sibling(key[0]))
        started_at = self._clock()
        started = time.monotonic()
        try:
            async with asyncio.timeout(limits.timeout):
                snapshot = await self._collectors[collector].collect(ctx)
            objects, observation = await self._render(key, snapshot, started_at, limits)
        except NotReady as reason:
            return self._skipped(key, str(reason), limits)
        except Exception as error:  # any failure, bugs included, is a failed pass
            return self._failed(key, error, limits, started_at, time.monotonic() - started)
        current = self.table.get(key)
        if current is None:  # removed by a reload meanwhile: it must not touch the state file
            return None
        status = current.succeeded(snapshot, started_at, time.monotonic())
        self.table.update(status, objects)
        for tally in self._collectors[collector].tallies:
            self._self_metrics.add_tally(tally.name, key[0], tally.count(snapshot))
        await self._refit_dependents(key, snapshot, started_at, limits)
        self._self_metrics.invalidate()
        if observation is not None:
            self._state.record(observation)
            await self._state.save()
        log.debug(
            "refreshed",
            extra={
                "account": key[0],
                "region_id": key[1],
                "collector": collector,
                "seconds": round(status.last_duration or 0.0, 3),
            },
        )
        return status

    async def _wait_for(self, key: Key, needs: str, timeout: float) -> bool:
        """Whether ``needs`` has a snapshot for this region, waiting up to ``timeout`` for it.

        Stops waiting at once when ``needs`` has failed with nothing to serve: its data cannot
        come before its next pass, and ``--once`` or readiness must not hang on it."""
        find = self.sibling(key)
        deadline = time.monotonic() + timeout
        while find(needs) is None:
            if time.monotonic() >= deadline or self.table.get((*key[:2], needs)) is None:
                return False
            if self._input_failure(key, needs) is not None:
                return False
            await asyncio.sleep(0.1)
        return True

    async def _refit_dependents(
        self, key: Key, snapshot: Any, now: float, limits: PassLimits
    ) -> None:
        """Collectors that read ``key``'s collector (``needs``, ``refit_on``) and declare
        ``refit``: their exposed snapshot in this region, kept to what the new one holds, is
        rendered again."""
        for name, collector in self._collectors.items():
            status = self.table.get((key[0], key[1], name))
            if key[2] not in (collector.needs, *collector.refit_on):
                continue
            if collector.refit is None or status is None:
                continue
            if status.exposed is None:
                continue
            kept = collector.refit(status.exposed, snapshot)
            if kept is status.exposed:
                continue
            # Rendering only: the state file is the dependent's own passes' to record.
            objects, _ = await self._render(status.key, kept, now, limits)
            self.table.update(dataclasses.replace(status, snapshot=kept), objects)

    def _needed(self, key: Key, needs: str, wait: float) -> Callable[[], Awaitable[object]]:
        """``ctx.needed`` of a ``needs_late`` pass: the same wait as before an ordinary pass,
        taken inside it."""

        async def needed() -> object:
            if await self._wait_for(key, needs, wait):
                found = self.sibling(key)(needs)
                if found is not None:
                    return found
            if (failure := self._input_failure(key, needs)) is not None:
                raise PassError(failure)
            raise NotReady(f"waiting for the {needs} collector's data of this region")

        return needed

    def _account_sibling(self, account: str) -> Callable[[str], Mapping[str, object | None]]:
        """A collector's last good snapshot in every region of ``account``."""

        def find(name: str) -> Mapping[str, object | None]:
            return {
                status.region_id: status.exposed
                for status in self.table.statuses()
                if status.account == account and status.collector == name
            }

        return find

    def _input_failure(self, key: Key, needs: str) -> str | None:
        """Why this pass fails at once: ``needs`` failed in this region with no data to serve
        (``None`` while it has data, or has not finished a pass yet)."""
        status = self.table.get((*key[:2], needs))
        if status is None or status.exposed is not None or status.up:
            return None
        if status.last_attempt is None or status.last_error is None:
            return None
        return f"the {needs} collector failed in this region: {status.last_error}"

    def _skipped(self, key: Key, reason: str, limits: PassLimits) -> RegionStatus | None:
        """Not an error: nothing counted; the attempt is recorded (readiness, status page) with
        the reason. Data kept from earlier passes still ages out after ``max_staleness``."""
        current = self.table.get(key)
        if current is None:
            return None
        log.info("pass skipped", extra={"account": key[0], "region_id": key[1],
                                        "collector": key[2], "reason": reason})  # fmt: skip
        now = self._clock()
        status = dataclasses.replace(current, last_attempt=now, last_error=reason)
        age = current.age(now, time.monotonic())
        if age is not None and age > limits.max_staleness:
            status = dataclasses.replace(status, up=False, stale=True)
        self.table.update(status, None)
        return status

    async def _render(
        self, key: Key, snapshot: Any, now: float, limits: PassLimits
    ) -> tuple[Mapping[str, Any], Observation | None]:
        """The snapshot's rendered objects, and what it changes in the state file (recorded
        by the caller only if the key is still configured when the pass ends). An object
        missing from the snapshot keeps its times for ``max_staleness``."""
        collector = self._collectors[key[2]]
        observation = None
        since: Mapping[str, float] = {}
        if collector.states is not None:
            states = collector.states(snapshot)
            observation = self._state.examine(
                key[0], key[1], states, now, kind=collector.state_kind,
                keep_for=limits.max_staleness,
            )  # fmt: skip
            since = observation.since
        self._count_unknown(key, snapshot)
        ctx = RenderContext(key[0], key[1], self._tag_labels, since)
        rendered = self.table.renderer(key[2])  # its tables as filtered by ``metrics:``
        async with self._render_gate:
            objects = await asyncio.to_thread(render_objects, rendered, snapshot, ctx)
        return objects, observation

    def _failed(
        self, key: Key, error: BaseException, limits: PassLimits, now: float, duration: float
    ) -> RegionStatus | None:
        current = self.table.get(key)
        if current is None:
            return None
        message = failure_message(error, limits.timeout)
        status = current.failed(now, message, limits.max_staleness, duration, time.monotonic())
        self.table.update(status, None)
        self._self_metrics.refresh_errors.labels(*key).inc()
        self._self_metrics.invalidate()
        fields = {
            "account": key[0],
            "region_id": key[1],
            "collector": key[2],
            "error": message,
        }
        if status.stale:
            log.warning("pass failed; data older than max_staleness, series dropped", extra=fields)
        elif status.snapshot is not None:
            log.warning("pass failed, keeping the previous snapshot", extra=fields)
        else:
            log.warning("pass failed, nothing read yet", extra=fields)
        if is_bug(error) and (key, type(error)) not in self._bugs_logged:
            self._bugs_logged.add((key, type(error)))  # the traceback once, not every interval
            log.error("unexpected error in a pass", exc_info=error, extra=fields)
        return status

    def _count_unknown(self, key: Key, snapshot: Any) -> None:
        """Count every unknown value; log each distinct one once, up to
        ``MAX_UNKNOWN_LOGGED_PER_FIELD`` per field (an API that invents values every pass must
        not grow memory or the log without bound), then say once that the rest go unlogged."""
        for found in self._collectors[key[2]].unknown(snapshot):
            self._self_metrics.count_unknown(found.field)
            seen = self._unknown_logged.setdefault(found.field, set())
            if found.value in seen or found.field in self._unknown_full:
                continue
            if len(seen) >= MAX_UNKNOWN_LOGGED_PER_FIELD:
                self._unknown_full.add(found.field)
                log.warning(
                    "more unknown enumeration values; no longer logged one by one",
                    extra={"field": found.field, "logged": len(seen)},
                )
                continue
            seen.add(found.value)
            log.warning(
                "unknown enumeration value exported as its own series",
                extra={
                    "field": found.field,
                    "value": found.value,
                    "account": key[0],
                    "region_id": key[1],
                    "object_id": found.object_id,
                },
            )

    def set_tags(self, tag_labels: tuple[tuple[str, str], ...]) -> None:
        self._tag_labels = tag_labels

    async def rerender(self) -> None:
        """New configured tags or family filter: render every exposed snapshot again, then
        publish once."""
        for status in self.table.statuses():
            snapshot = status.exposed
            if snapshot is None:
                continue
            collector = self._collectors[status.collector]
            since: Mapping[str, float] = {}
            if collector.states is not None:
                remembered = self._state.get(
                    status.account, status.region_id, kind=collector.state_kind
                )
                since = {object_id: entry.status_since for object_id, entry in remembered.items()}
            ctx = RenderContext(status.account, status.region_id, self._tag_labels, since)
            rendered = self.table.renderer(status.collector)
            async with self._render_gate:
                objects = await asyncio.to_thread(render_objects, rendered, snapshot, ctx)
            self.table.update(status, objects, publish=False)
        self.table.publish()
