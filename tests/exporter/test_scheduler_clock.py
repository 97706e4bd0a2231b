"""The scheduler under wall-clock steps: passes keep running when the wall clock steps back (or
forward, or is put right), as they would on monotonic time.

APScheduler reads the wall clock through ``datetime.now`` in its scheduler module; the tests
step that clock (as libfaketime would, monotonic time left real) and hand the same clock to
``RefreshScheduler``, whose watchdog compares it with the monotonic one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo

import pytest
from apscheduler.schedulers import base as apscheduler_base

from exporter.scheduler import RefreshScheduler

FAILSAFE = 20.0
INTERVAL = 0.3


class SteppedClock:
    """The wall clock, ``offset`` seconds off the real one."""

    offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[SteppedClock]:
    stepped = SteppedClock()

    class SteppedDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=stepped.offset)

    monkeypatch.setattr(apscheduler_base, "datetime", SteppedDatetime)
    yield stepped


async def runs_reach(runs: list[float], count: int) -> bool:
    """Poll (bounded by FAILSAFE) until ``count`` runs happened."""
    deadline = time.monotonic() + FAILSAFE
    while len(runs) < count:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.mark.parametrize("step", [-3600.0, 3600.0], ids=["back", "forward"])
async def test_passes_keep_running_when_the_wall_clock_steps(
    clock: SteppedClock, step: float
) -> None:
    runs: list[float] = []

    async def run(key: str) -> None:
        runs.append(time.monotonic())

    scheduler = RefreshScheduler(run, wall=clock, check_every=0.05)
    scheduler.start()
    try:
        scheduler.set_jobs({"job": INTERVAL})
        assert await runs_reach(runs, 2)
        clock.offset = step
        stepped_at = len(runs)
        assert await runs_reach(runs, stepped_at + 3), "no pass after the step"
        clock.offset = 0.0  # put right
        put_right_at = len(runs)
        assert await runs_reach(runs, put_right_at + 3), "no pass after the clock was put right"
    finally:
        scheduler.shutdown()


async def test_a_step_put_right_within_one_check_does_not_stop_the_passes(
    clock: SteppedClock,
) -> None:
    """The watchdog compares the clocks once a check: a step back and its correction in between
    are never seen as a step, yet APScheduler may have planned by the stepped clock (and gone to
    sleep for the hour). The jobs' rhythm itself gives it away."""
    runs: list[float] = []

    async def run(key: str) -> None:
        runs.append(time.monotonic())

    scheduler = RefreshScheduler(run, wall=clock, check_every=1.0)
    scheduler.start()
    try:
        scheduler.set_jobs({"job": INTERVAL})
        assert await runs_reach(runs, 2)
        clock.offset = -3600.0
        await asyncio.sleep(INTERVAL * 2)  # APScheduler plans by the stepped clock meanwhile
        clock.offset = 0.0  # put right before the watchdog looks
        put_right_at = len(runs)
        assert await runs_reach(runs, put_right_at + 3), "no pass after the clock was put right"
    finally:
        scheduler.shutdown()
