"""The daemon under wall-clock steps (issue: a step back of one hour stopped every pass, with
``region_up`` left at 1): passes go on, and data ages by monotonic time as well, so a clock
stepped back can neither keep old data fresh nor silence the staleness that depends on it."""

from __future__ import annotations

import dataclasses
from typing import Any

from exporter.app import Exporter
from exporter.regiontable import RegionStatus
from tests.exporter.ecx_fakeapi import FakeApi
from tests.exporter.test_app import make_config, pages, wait_for  # noqa: F401
from tests.exporter.test_scheduler_clock import SteppedClock, clock  # noqa: F401 (fixture)

PC_ACTION = "DescribePhysicalConnections"


@dataclasses.dataclass(frozen=True)
class Snap:
    completed_at: float
    duration_seconds: float = 0.1


async def test_api_requests_go_on_after_the_wall_clock_steps_back(
    pages: Any,  # noqa: F811 (fixture)
    clock: SteppedClock,  # noqa: F811 (fixtures)
) -> None:
    api = FakeApi(pages)

    def requests() -> int:
        return sum(r["_action"] == PC_ACTION for r in api.requests)

    async with api.serve() as url, Exporter(make_config(url), clock=clock) as exporter:
        await wait_for(lambda: exporter.ready())
        clock.offset = -3600.0
        before = requests()
        await wait_for(lambda: requests() >= before + 4)  # two more passes of both regions
        clock.offset = 0.0
        before = requests()
        await wait_for(lambda: requests() >= before + 4)
        assert all(status.up for status in exporter.region_statuses())


def test_old_data_turns_stale_on_time_when_the_wall_clock_stepped_back() -> None:
    good = RegionStatus("a", "cn-hangzhou", "physical_connections").succeeded(
        Snap(completed_at=1000.0), 999.0, monotonic=50.0
    )
    # 700 s later by the monotonic clock, but the wall clock was stepped back an hour.
    failed = good.failed(1700.0 - 3600.0, "Throttling", max_staleness=600.0, duration=1.0,
                         monotonic=750.0)  # fmt: skip
    assert failed.stale and failed.exposed is None
    assert failed.age(1700.0 - 3600.0, 750.0) == 700.0


def test_a_wall_clock_stepped_forward_does_not_keep_data_either() -> None:
    good = RegionStatus("a", "cn-hangzhou", "physical_connections").succeeded(
        Snap(completed_at=1000.0), 999.0, monotonic=50.0
    )
    failed = good.failed(1000.0 + 3600.0, "Throttling", max_staleness=600.0, duration=1.0,
                         monotonic=60.0)  # fmt: skip
    assert failed.stale  # the larger age wins: never fresher than either clock says


def test_within_max_staleness_by_both_clocks_the_snapshot_stays() -> None:
    good = RegionStatus("a", "cn-hangzhou", "physical_connections").succeeded(
        Snap(completed_at=1000.0), 999.0, monotonic=50.0
    )
    failed = good.failed(1100.0, "Throttling", max_staleness=600.0, duration=1.0, monotonic=150.0)
    assert not failed.stale and failed.exposed is not None
