"""The scheduler: a job restarted with a new interval while its pass runs is not left waiting
a whole new interval (APScheduler would skip its first run: one instance at a time)."""

from __future__ import annotations

import asyncio
import time

from exporter.scheduler import RefreshScheduler


async def test_a_job_restarted_while_running_runs_again_when_it_ends() -> None:
    started: list[float] = []
    release = asyncio.Event()

    async def run(job_id: str) -> None:
        started.append(time.monotonic())
        if len(started) == 1:
            await release.wait()  # the first pass is long

    scheduler = RefreshScheduler(run)
    scheduler.start()
    try:
        scheduler.set_jobs({"job": 3600.0})
        deadline = time.monotonic() + 5
        while not started:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        scheduler.set_jobs({"job": 1800.0})  # a reload changes the interval mid-pass
        await asyncio.sleep(0.1)
        release.set()
        deadline = time.monotonic() + 5
        while len(started) < 2:
            assert time.monotonic() < deadline, "the restarted job waited a whole interval"
            await asyncio.sleep(0.01)
    finally:
        scheduler.shutdown()
    assert len(started) == 2


async def test_kept_jobs_keep_their_rhythm_and_removed_jobs_stop() -> None:
    runs: list[str] = []

    async def run(job_id: str) -> None:
        runs.append(job_id)

    scheduler = RefreshScheduler(run)
    scheduler.start()
    try:
        scheduler.set_jobs({"a": 3600.0, "b": 3600.0})
        deadline = time.monotonic() + 5
        while len(runs) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        scheduler.set_jobs({"a": 3600.0})
        assert scheduler.job_ids() == {"a"}
        await asyncio.sleep(0.2)
    finally:
        scheduler.shutdown()
    assert sorted(runs) == ["a", "b"]  # "a" kept its rhythm: no second run at once
