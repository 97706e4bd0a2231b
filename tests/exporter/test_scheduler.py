"""The scheduler: a job restarted with a new interval while its pass runs is not left waiting
a whole new interval (APScheduler would skip its first run: one instance at a time)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from exporter.scheduler import RefreshScheduler
from tests.harness import wait_until_async


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


@pytest.mark.parametrize("reload", ["switched off and on", "new interval"])
async def test_a_job_back_while_its_pass_runs_waits_for_it_then_runs_at_once(
    reload: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Re-enabled (or restarted) by a reload while its old pass runs: the new job neither
    overlaps that pass nor waits a whole interval, and nothing logs a skipped run."""
    started: list[float] = []
    running = 0
    overlapped = False
    release = asyncio.Event()

    async def run(job_id: str) -> None:
        nonlocal running, overlapped
        started.append(time.monotonic())
        running += 1
        overlapped = overlapped or running > 1
        try:
            if len(started) == 1:
                await release.wait()  # the first pass is long
        finally:
            running -= 1

    scheduler = RefreshScheduler(run)
    scheduler.start()
    try:
        with caplog.at_level(logging.WARNING):
            scheduler.set_jobs({"job": 3600.0})
            await wait_until_async(lambda: bool(started), "the first pass never ran")
            if reload == "switched off and on":
                scheduler.set_jobs({})
                scheduler.set_jobs({"job": 3600.0})
            else:
                scheduler.set_jobs({"job": 1800.0})
            await asyncio.sleep(0.3)  # longer than the first-run stagger
            assert len(started) == 1, "the new job ran beside the old pass"
            release.set()
            await wait_until_async(lambda: len(started) == 2, "the new job waited a whole interval")
            await asyncio.sleep(0.1)
    finally:
        scheduler.shutdown()
    assert not overlapped and len(started) == 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert scheduler.job_ids() == {"job"}


async def test_a_job_switched_off_while_its_pass_runs_forgets_its_id_when_it_ends() -> None:
    release = asyncio.Event()
    runs: list[str] = []

    async def run(job_id: str) -> None:
        runs.append(job_id)
        await release.wait()

    scheduler = RefreshScheduler(run)
    scheduler.start()
    try:
        scheduler.set_jobs({"job": 3600.0})
        await wait_until_async(lambda: bool(runs), "the pass never ran")
        scheduler.set_jobs({})
        release.set()
        await wait_until_async(lambda: not scheduler._running, "the pass never ended")
    finally:
        scheduler.shutdown()
    assert scheduler.job_ids() == set() and scheduler._ids == {} and runs == ["job"]
