"""The per-account rate limiter on a virtual clock: slot accounting, cancellation, shared use."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any

import pytest

from exporter.client import AccountClient, ClientSettings, Limiters, RateLimiter
from exporter.credentials import Credential, StaticCredentialSource

START = 1000.0


class VirtualClock:
    """Monotonic time that moves only when the test advances it to the next sleeper's deadline."""

    def __init__(self) -> None:
        self.now = START
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    def advance(self) -> bool:
        """Wake the earliest live sleeper (time jumps to its deadline); False if none sleeps."""
        while self._sleepers:
            deadline, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                self.now = max(self.now, deadline)
                future.set_result(None)
                return True
        return False


async def settle() -> None:
    """Let every runnable task run until it blocks again."""
    for _ in range(20):
        await asyncio.sleep(0)


async def drive(clock: VirtualClock, *tasks: asyncio.Task[Any]) -> None:
    """Advance virtual time until every task is done (fails if they wait on nothing)."""
    for _ in range(10_000):
        await settle()
        if all(task.done() for task in tasks):
            return
        assert clock.advance(), "tasks wait but nobody sleeps: a waiter was never woken"
    raise AssertionError("tasks did not finish")


def limiter_on(clock: VirtualClock, rate: float, burst: int = 1) -> RateLimiter:
    return RateLimiter(rate, burst, clock=clock, sleep=clock.sleep)


async def granted_at(clock: VirtualClock, limiter: RateLimiter) -> float:
    await limiter.acquire()
    return clock.now


async def sequential_grants(clock: VirtualClock, limiter: RateLimiter, count: int) -> list[float]:
    times = []
    for _ in range(count):
        task = asyncio.create_task(granted_at(clock, limiter))
        await drive(clock, task)
        times.append(round(task.result() - START, 6))
    return times


async def test_cancelled_waiters_give_their_slots_back() -> None:
    clock = VirtualClock()
    limiter = limiter_on(clock, 10.0)
    await limiter.acquire()  # t=0, the bucket is now empty
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(50)]
    await settle()
    assert not any(w.done() for w in waiters)
    for waiter in waiters:
        waiter.cancel()
    await settle()
    assert all(w.cancelled() for w in waiters)
    # The next acquisitions run at the configured rate, as if the 50 had never asked.
    assert await sequential_grants(clock, limiter, 5) == [0.1, 0.2, 0.3, 0.4, 0.5]


async def test_a_cancelled_waiter_does_not_push_back_those_behind_it() -> None:
    clock = VirtualClock()
    limiter = limiter_on(clock, 10.0)
    await limiter.acquire()
    first, middle, last = (asyncio.create_task(granted_at(clock, limiter)) for _ in range(3))
    await settle()
    middle.cancel()
    await drive(clock, first, last)
    assert [round(t.result() - START, 6) for t in (first, last)] == [0.1, 0.2]


async def test_the_waiter_whose_turn_it_is_can_be_cancelled() -> None:
    clock = VirtualClock()
    limiter = limiter_on(clock, 10.0)
    await limiter.acquire()
    head, behind = (asyncio.create_task(granted_at(clock, limiter)) for _ in range(2))
    await settle()
    head.cancel()
    await drive(clock, behind)
    assert head.cancelled() and round(behind.result() - START, 6) == 0.1


async def test_waiters_are_served_in_order_at_the_rate() -> None:
    clock = VirtualClock()
    limiter = limiter_on(clock, 4.0)
    tasks = [asyncio.create_task(granted_at(clock, limiter)) for _ in range(5)]
    await drive(clock, *tasks)
    assert [round(t.result() - START, 6) for t in tasks] == [0.0, 0.25, 0.5, 0.75, 1.0]


async def test_burst_is_granted_at_once_then_the_rate_applies() -> None:
    clock = VirtualClock()
    limiter = limiter_on(clock, 10.0, burst=3)
    tasks = [asyncio.create_task(granted_at(clock, limiter)) for _ in range(5)]
    await drive(clock, *tasks)
    assert [round(t.result() - START, 6) for t in tasks] == [0.0, 0.0, 0.0, 0.1, 0.2]


async def test_set_rate_changes_the_spacing_in_place() -> None:
    clock = VirtualClock()
    limiter = limiter_on(clock, 10.0)
    await limiter.acquire()
    limiter.set_rate(2.0)
    assert limiter.rate == 2.0
    assert await sequential_grants(clock, limiter, 2) == [0.5, 1.0]
    with pytest.raises(ValueError, match="rate must be positive"):
        limiter.set_rate(0)


def test_limiters_keep_one_limiter_per_account_across_reloads() -> None:
    limiters = Limiters()
    prod = limiters.get("prod", 5.0)
    assert limiters.get("prod", 5.0) is prod
    again = limiters.get("prod", 2.0)  # a reload that changed the rate
    assert again is prod and prod.rate == 2.0
    staging = limiters.get("staging", 5.0)
    assert staging is not prod
    limiters.forget(keep={"staging"})
    assert limiters.get("staging", 5.0) is staging
    assert limiters.get("prod", 2.0) is not prod  # forgotten: a new one


async def test_clients_built_by_successive_reloads_share_the_account_limit() -> None:
    """Old and new clients of one account (a pass in flight across a reload) pace together."""
    clock = VirtualClock()
    shared = limiter_on(clock, 5.0)
    settings = ClientSettings(
        endpoint="http://127.0.0.1:9", request_timeout=1, retries=0, max_requests_per_second=5
    )
    source = StaticCredentialSource("access_key", Credential("id", "secret-value"))
    old = AccountClient(None, "prod", source, settings, limiter=shared)  # type: ignore[arg-type]
    new = AccountClient(None, "prod", source, settings, limiter=shared)  # type: ignore[arg-type]
    assert old.limiter is new.limiter is shared
    tasks = [
        asyncio.create_task(granted_at(clock, client.limiter)) for client in (old, new, old, new)
    ]
    await drive(clock, *tasks)
    assert [round(t.result() - START, 6) for t in tasks] == [0.0, 0.2, 0.4, 0.6]
    alone = AccountClient(None, "prod", source, settings)  # type: ignore[arg-type]
    assert alone.limiter is not shared and alone.limiter.rate == 5.0
