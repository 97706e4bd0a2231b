"""One APScheduler job per (account, region, collector): first run at start, staggered, never
overlapping; each job has its own interval.

APScheduler's asyncio scheduler runs coroutine jobs as tasks on the exporter's loop;
``max_instances=1`` skips a run while the previous one of the same job is still going. A job
restarted (new interval) while its pass runs would skip its first run that way and wait a whole
new interval: it runs again as soon as the running pass ends instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

# First runs of new jobs are spread over at most this long (or the interval, if shorter). Short:
# the per-account rate limit already smooths the load, and a long spread would leave it idle.
MAX_STAGGER_SECONDS = 1.0

JobFunction = Callable[[str], Awaitable[None]]


class RefreshScheduler:
    def __init__(self, run: JobFunction) -> None:
        self._run = run
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._intervals: dict[str, float] = {}
        self._running: set[str] = set()
        self._again: set[str] = set()

    def start(self) -> None:
        """Start on the running loop (call from inside it)."""
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def job_ids(self) -> set[str]:
        return {job.id for job in self._scheduler.get_jobs()}

    def set_jobs(self, jobs: Mapping[str, float]) -> None:
        """Make the scheduled jobs exactly ``jobs`` (ID → interval); new ones start now,
        staggered. Kept jobs keep their rhythm unless their interval changed (then they restart).
        """
        existing = self.job_ids()
        for job_id in existing:
            if job_id not in jobs or self._intervals.get(job_id) != jobs[job_id]:
                self._scheduler.remove_job(job_id)
                self._intervals.pop(job_id, None)
                if job_id in jobs and job_id in self._running:
                    self._again.add(job_id)
        new = [job_id for job_id in jobs if job_id not in self._intervals]
        now = datetime.now(UTC)
        for index, job_id in enumerate(new):
            interval = jobs[job_id]
            spread = min(interval, MAX_STAGGER_SECONDS)
            first = now + timedelta(seconds=spread * index / max(1, len(new)))
            self._intervals[job_id] = interval
            self._scheduler.add_job(
                self._job,
                trigger=IntervalTrigger(seconds=interval, start_date=first, timezone=UTC),
                args=[job_id],
                id=job_id,
                name=job_id,
                next_run_time=first,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )

    async def _job(self, job_id: str) -> None:
        """Run the job; once more right away if it was restarted while it ran."""
        self._running.add(job_id)
        try:
            await self._run(job_id)
            while job_id in self._again and job_id in self._intervals:
                self._again.discard(job_id)
                await self._run(job_id)
        finally:
            self._running.discard(job_id)
            self._again.discard(job_id)
