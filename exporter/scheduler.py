"""One APScheduler job per (account, region): first run at start, staggered, never overlapping.

APScheduler's asyncio scheduler runs coroutine jobs as tasks on the exporter's loop;
``max_instances=1`` skips a run while the previous one of the same job is still going.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

# First runs of new jobs are spread over at most this long (or the interval, if shorter). Short:
# the per-account rate limit already smooths the load, and a long spread would leave it idle.
MAX_STAGGER_SECONDS = 1.0

JobFunction = Callable[[str], Awaitable[None]]


class RefreshScheduler:
    def __init__(self, run: JobFunction) -> None:
        self._run = run
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._interval: float | None = None
        logging.getLogger("apscheduler").setLevel(logging.WARNING)

    def start(self) -> None:
        """Start on the running loop (call from inside it)."""
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def job_ids(self) -> set[str]:
        return {job.id for job in self._scheduler.get_jobs()}

    def set_jobs(self, job_ids: Sequence[str], interval: float) -> None:
        """Make the scheduled jobs exactly ``job_ids``; new ones start now, staggered.

        Kept jobs keep their rhythm unless the interval changed (then all restart staggered).
        """
        wanted = list(dict.fromkeys(job_ids))
        existing = self.job_ids()
        if interval != self._interval:
            for job_id in existing:
                self._scheduler.remove_job(job_id)
            existing = set()
            self._interval = interval
        for job_id in existing - set(wanted):
            self._scheduler.remove_job(job_id)
        new = [job_id for job_id in wanted if job_id not in existing]
        spread = min(interval, MAX_STAGGER_SECONDS)
        now = datetime.now(UTC)
        for index, job_id in enumerate(new):
            first = now + timedelta(seconds=spread * index / max(1, len(new)))
            self._scheduler.add_job(
                self._run,
                trigger=IntervalTrigger(seconds=interval, start_date=first, timezone=UTC),
                args=[job_id],
                id=job_id,
                name=job_id,
                next_run_time=first,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
