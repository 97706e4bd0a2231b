"""How a failed pass is described: timeouts by their limit, our own bugs by their type, API
errors by their text, secrets masked; which failures count as bugs; and what a pass keeps in
the state file."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.client import ApiError
from exporter.collectors.base import Collector, PassContext, PassError, UnknownValue
from exporter.families import RecordFamilies, gauge_with_context
from exporter.logs import register_secret
from exporter.passes import (
    MAX_UNKNOWN_LOGGED_PER_FIELD,
    Passes,
    PassLimits,
    failure_message,
    is_bug,
)
from exporter.regiontable import RegionTable
from exporter.selfmetrics import SelfMetrics
from exporter.state_file import StateStore


def test_expected_failures_are_not_bugs() -> None:
    assert not is_bug(ApiError("Throttling.User", "slow down", action="X", http_status=400))
    assert not is_bug(PassError("TotalCount drifted twice"))
    assert not is_bug(TimeoutError())
    assert not is_bug(ConnectionResetError())
    assert is_bug(KeyError("PhysicalConnectionId"))
    assert is_bug(ValueError("record without VbrId"))


def test_failure_messages_are_one_line_named_and_redacted() -> None:
    assert failure_message(TimeoutError(), 30.0) == "refresh timed out after 30s"
    assert failure_message(PassError("first line\nsecond"), 30.0) == "first line"
    assert failure_message(ZeroDivisionError(), 30.0) == "ZeroDivisionError"
    assert failure_message(KeyError("x"), 30.0) == "KeyError: 'x'"
    secret = "passes-test-secret-0123456789"
    register_secret(secret)
    message = failure_message(PassError(f"bad answer with {secret}"), 30.0)
    assert secret not in message and message.startswith("bad answer with ")


# --------------------------------------------------------------------------- state across passes


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    status: str


@dataclass(frozen=True, slots=True)
class Lines:
    lines: tuple[Line, ...]
    completed_at: float
    duration_seconds: float


SINCE = "expressconnect_toy_status_change_timestamp_seconds"
KEY = ("a", "r", "toy")
LIMITS = PassLimits(timeout=10.0, max_staleness=600.0)


class Fleet:
    """What the toy API lists, changed by the test between passes; ``gate`` holds a pass."""

    def __init__(self, *lines: Line) -> None:
        self.lines = lines
        self.gate: asyncio.Event | None = None

    async def collect(self, ctx: PassContext) -> Lines:
        if self.gate is not None:
            await self.gate.wait()
        return Lines(self.lines, ctx.clock(), 0.0)


def toy(fleet: Fleet) -> Collector[Lines]:
    return Collector(
        name="toy",
        api="vpc",
        collect=fleet.collect,
        records=(
            RecordFamilies(
                records=lambda snapshot: snapshot.lines,
                identity=lambda line: (("line_id", line.id),),
                families=(gauge_with_context(SINCE, "Since.", lambda r, c: c.since.get(r.id)),),
            ),
        ),
        states=lambda snapshot: snapshot.lines,
        state_kind="toy_line",
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def passes_for(fleet: Fleet, clock: Clock, state: StateStore) -> Passes:
    collectors = {"toy": toy(fleet)}
    table = RegionTable(collectors, 60.0)
    table.reconcile([KEY])
    return Passes(table, state, SelfMetrics("test"), collectors, clock)


def ctx(clock: Clock) -> PassContext:
    return PassContext(client=None, account="a", region_id="r", clock=clock)  # type: ignore[arg-type]


async def test_an_object_missing_from_one_pass_keeps_its_times(tmp_path: Path) -> None:
    """docs/configuration.md: an object that disappears briefly and comes back keeps its
    times (a multi-day provisioning clock must not restart on one odd answer)."""
    fleet, clock = Fleet(Line("pc-1", "Initial"), Line("pc-2", "Enabled")), Clock()
    state = StateStore(tmp_path / "state.json")
    passes = passes_for(fleet, clock, state)
    await passes.run(ctx(clock), "toy", LIMITS)
    fleet.lines = (Line("pc-2", "Enabled"),)  # one pass without pc-1
    clock.now = 1060.0
    await passes.run(ctx(clock), "toy", LIMITS)
    fleet.lines = (Line("pc-1", "Initial"), Line("pc-2", "Enabled"))
    clock.now = 1120.0
    await passes.run(ctx(clock), "toy", LIMITS)
    assert state.get("a", "r")["pc-1"].status_since == 1000.0
    fleet.lines = (Line("pc-2", "Enabled"),)  # gone for longer than max_staleness: forgotten
    for now in (1200.0, 1500.0, 1801.0):
        clock.now = now
        await passes.run(ctx(clock), "toy", LIMITS)
    assert set(state.get("a", "r")) == {"pc-2"}
    assert set(json.loads((tmp_path / "state.json").read_text())["accounts"]["a"]["r"]) == {"pc-2"}


async def test_a_pass_that_ends_after_its_key_was_removed_writes_no_state(tmp_path: Path) -> None:
    fleet, clock = Fleet(Line("pc-1", "Enabled")), Clock()
    state = StateStore(tmp_path / "state.json")
    passes = passes_for(fleet, clock, state)
    fleet.gate = asyncio.Event()
    running = asyncio.create_task(passes.run(ctx(clock), "toy", LIMITS))
    await asyncio.sleep(0)
    passes.table.reconcile([])  # a reload switched the collector off mid-pass
    fleet.gate.set()
    assert await running is None
    assert state.get("a", "r") == {}
    assert not (tmp_path / "state.json").exists()


async def test_unknown_values_are_all_counted_but_logged_within_a_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An API that invents a new status every pass (60,000 after 60 passes in the probe) must
    grow neither memory nor the log: each field logs a bounded number of values, then says so
    once; the counter still counts every one."""
    fleet, clock = Fleet(), Clock()
    batches = iter(range(5))

    def invented(snapshot: Lines) -> list[UnknownValue]:
        batch = next(batches)  # a thousand new values every pass
        return [UnknownValue("Status", f"S{batch}-{n}", "pc-1") for n in range(1000)]

    collector = dataclasses.replace(toy(fleet), unknown=invented, enum_fields=("Status",))
    table = RegionTable({"toy": collector}, 60.0)
    table.reconcile([KEY])
    metrics = SelfMetrics("test")
    passes = Passes(table, StateStore(None), metrics, {"toy": collector}, clock)
    with caplog.at_level(logging.WARNING, logger="exporter.passes"):
        for _ in range(5):
            await passes.run(ctx(clock), "toy", LIMITS)
    logged = [r for r in caplog.records if r.getMessage().startswith("unknown enumeration")]
    assert len(logged) == MAX_UNKNOWN_LOGGED_PER_FIELD
    enough = [r for r in caplog.records if "no longer logged" in r.getMessage()]
    assert len(enough) == 1
    assert metrics.unknown_enum_values.labels("Status")._value.get() == 5000
