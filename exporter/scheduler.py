"""One APScheduler job per (account, region, collector): first run at start, staggered, never
overlapping; each job has its own interval.

APScheduler's asyncio scheduler runs coroutine jobs as tasks on the exporter's loop;
``max_instances=1`` skips a run while the previous one of the same job is still going. A job
restarted (new interval), or switched off and on again, while its pass runs would skip its first
run that way (or run beside it, under a new ID) and wait a whole new interval: it runs again as
soon as the running pass ends instead.

APScheduler plans in wall-clock datetimes, but waits with the loop's monotonic timer: after the
wall clock steps back an hour, it wakes, finds nothing due for an hour and goes back to sleep,
and no pass runs until then, even once the clock is put right. A watchdog compares the two
clocks every ``CLOCK_CHECK_SECONDS``; on a step it re-arms every job to run within its interval
of the new wall time, so passes keep their monotonic rhythm whatever the wall clock does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

# First runs of new jobs are spread over at most this long (or the interval, if shorter). Short:
# the per-account rate limit already smooths the load, and a long spread would leave it idle.
MAX_STAGGER_SECONDS = 1.0

#: How often the wall clock is compared with the monotonic one.
CLOCK_CHECK_SECONDS = 1.0
#: A disagreement of the two clocks larger than this since the last check is a step (NTP slews
#: far more slowly; a check that runs late only delays both clocks alike).
CLOCK_STEP_SECONDS = 2.0

K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)


class RefreshScheduler(Generic[K]):
    """Jobs keyed by any hashable (the daemon's are tuples); APScheduler's string IDs are made
    here from the key's position in a table, and never parsed back."""

    def __init__(
        self,
        run: Callable[[K], Awaitable[None]],
        *,
        wall: Callable[[], float] = time.time,
        check_every: float = CLOCK_CHECK_SECONDS,
    ) -> None:
        self._run = run
        self._wall = wall  # the clock APScheduler plans with (replaced by tests that step it)
        self._check_every = check_every
        self._watchdog: asyncio.Task[None] | None = None
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._intervals: dict[K, float] = {}
        self._ids: dict[K, str] = {}
        self._running: set[K] = set()
        self._again: set[K] = set()
        self._serial = 0

    def start(self) -> None:
        """Start on the running loop (call from inside it)."""
        self._scheduler.start()
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_clock())

    def shutdown(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def _watch_clock(self) -> None:
        """Re-arm the jobs whenever the wall clock steps against the monotonic one."""
        offset = self._wall() - time.monotonic()
        while True:
            await asyncio.sleep(self._check_every)
            now = self._wall()
            step = now - time.monotonic() - offset
            if abs(step) > CLOCK_STEP_SECONDS:
                offset += step
                self.rearm(now)
                log.warning(
                    "wall clock stepped; refresh jobs re-armed",
                    extra={"step_seconds": round(step, 3), "jobs": len(self._intervals)},
                )
            elif self._out_of_rhythm(now):
                # A step and its correction inside one check: no step is seen, yet APScheduler
                # may have planned (and gone to sleep) by the stepped clock.
                self.rearm(now)

    def _out_of_rhythm(self, now: float) -> bool:
        """Whether a job's next run is further than its interval (plus the step tolerance)
        from ``now``: never the case while both clocks agree."""
        wall_now = datetime.fromtimestamp(now, UTC)
        slack = timedelta(seconds=CLOCK_STEP_SECONDS)
        for job in self._scheduler.get_jobs():
            interval = job.trigger.interval if isinstance(job.trigger, IntervalTrigger) else None
            if job.next_run_time is None or interval is None:
                continue
            if abs(job.next_run_time - wall_now) > interval + slack:
                return True
        return False

    def rearm(self, now: float) -> None:
        """Every job runs within its interval of ``now`` (wall time): a step back leaves
        next run times up to the step ahead, a step forward leaves them overdue."""
        wall_now = datetime.fromtimestamp(now, UTC)
        for job in self._scheduler.get_jobs():
            interval = job.trigger.interval if isinstance(job.trigger, IntervalTrigger) else None
            if job.next_run_time is None or interval is None:
                continue
            ahead = min(max(job.next_run_time - wall_now, timedelta(0)), interval)
            job.modify(next_run_time=wall_now + ahead)
        self._scheduler.wakeup()

    def job_ids(self) -> set[K]:
        """The keys of the scheduled jobs."""
        scheduled = {job.id for job in self._scheduler.get_jobs()}
        return {key for key, job_id in self._ids.items() if job_id in scheduled}

    def set_jobs(self, jobs: Mapping[K, float]) -> None:
        """Make the scheduled jobs exactly ``jobs`` (key → interval); new ones start now,
        staggered. Kept jobs keep their rhythm unless their interval changed (then they restart).
        """
        for key in self.job_ids():
            if key not in jobs or self._intervals.get(key) != jobs[key]:
                # A job removed while its pass runs keeps its ID until that pass ends (``_job``):
                # if it comes back meanwhile, APScheduler's one-instance rule still covers it.
                self._scheduler.remove_job(self._ids[key])
                self._intervals.pop(key, None)
                if key not in jobs and key not in self._running:
                    del self._ids[key]
        new = [key for key in jobs if key not in self._intervals]
        now = datetime.fromtimestamp(self._wall(), UTC)
        for index, key in enumerate(new):
            interval = jobs[key]
            spread = min(interval, MAX_STAGGER_SECONDS)
            first = now + timedelta(seconds=spread * index / max(1, len(new)))
            if key in self._running:
                # Back (restarted, or switched off and on) while its previous pass runs: no
                # first run beside it, which APScheduler would skip with a warning, leaving a
                # whole interval; ``_job`` runs it as soon as that pass ends.
                self._again.add(key)
                first = now + timedelta(seconds=interval)
            self._intervals[key] = interval
            if key not in self._ids:
                self._serial += 1
                self._ids[key] = f"job-{self._serial}"
            job_id = self._ids[key]
            self._scheduler.add_job(
                self._job,
                trigger=IntervalTrigger(seconds=interval, start_date=first, timezone=UTC),
                args=[key],
                id=job_id,
                name=str(key),
                next_run_time=first,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )

    async def _job(self, key: K) -> None:
        """Run the job; once more right away if it was restarted while it ran."""
        self._running.add(key)
        try:
            await self._run(key)
            while key in self._again and key in self._intervals:
                self._again.discard(key)
                await self._run(key)
        finally:
            self._running.discard(key)
            self._again.discard(key)
            if key not in self._intervals:  # removed while it ran, and not back
                self._ids.pop(key, None)
