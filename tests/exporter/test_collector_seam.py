"""The collector seam: a collector defined only here (its own snapshot type, one family) is
registered, scheduled per region, rendered and served, with no change to the wiring."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from exporter.app import Exporter
from exporter.collectors.base import Collector, PassContext
from exporter.config import parse_config
from exporter.families import CountFamily, RecordFamilies, gauge

TOY_VALUE = "expressconnect_toy_value"
TOY_COUNT = "expressconnect_region_toys"


@dataclass(frozen=True, slots=True)
class Toy:
    id: str
    value: float


@dataclass(frozen=True, slots=True)
class ToySnapshot:
    toys: tuple[Toy, ...]
    completed_at: float
    duration_seconds: float


passes: list[tuple[str, str]] = []


async def collect(ctx: PassContext) -> ToySnapshot:
    """No API at all: the region's name decides the toys, so the test can check every value."""
    passes.append((ctx.account, ctx.region_id))
    toys = tuple(Toy(f"{ctx.region_id}-{n}", float(n * 10)) for n in range(3))
    return ToySnapshot(toys, ctx.clock(), 0.0)


TOY: Collector[ToySnapshot] = Collector(
    name="toy",
    api="vpc",
    collect=collect,
    records=(
        RecordFamilies(
            records=lambda snapshot: snapshot.toys,
            identity=lambda toy: (("toy_id", toy.id),),
            families=(gauge(TOY_VALUE, "A toy's value.", lambda toy: toy.value),),
        ),
    ),
    counts=(CountFamily(TOY_COUNT, "Toys in the region.", lambda s: len(s.toys)),),
)


def config(regions: tuple[str, ...] = ("cn-hangzhou", "cn-shanghai")) -> Any:
    return parse_config(
        {
            "web": {"listen_address": "127.0.0.1:0"},
            "refresh": {"interval": "1s"},
            "accounts": [
                {
                    "name": "a",
                    "credentials": {
                        "type": "access_key",
                        "access_key_id": "x",
                        "access_key_secret": "y",
                    },
                    "regions": list(regions),
                }
            ],
        },
        "test",
    )


async def test_a_collector_defined_in_a_test_is_scheduled_rendered_and_served() -> None:
    passes.clear()
    async with Exporter(config(), collectors=(TOY,)) as exporter:
        deadline = time.monotonic() + 10
        while not exporter.ready():
            assert time.monotonic() < deadline, "the toy collector never ran"
            await asyncio.sleep(0.02)
        async with aiohttp.ClientSession() as session:
            async with session.get(exporter.url + "/metrics") as response:
                body = await response.text()
            async with session.get(exporter.url + "/") as response:
                page = await response.text()
    assert {("a", "cn-hangzhou"), ("a", "cn-shanghai")} <= set(passes)  # one job per region
    for region in ("cn-hangzhou", "cn-shanghai"):
        for n in range(3):
            line = f'{TOY_VALUE}{{account="a",region_id="{region}",toy_id="{region}-{n}"}} {n * 10}'
            assert line + "\n" in body
        assert f'{TOY_COUNT}{{account="a",region_id="{region}"}} 3\n' in body
        up = f'expressconnect_region_up{{account="a",region_id="{region}",collector="toy"}} 1\n'
        assert up in body
    assert f"# HELP {TOY_VALUE} A toy's value." in body and f"# TYPE {TOY_VALUE} gauge" in body
    assert "<td>toy</td>" in page
    # The real collectors were not part of this exporter: nothing else was scheduled.
    assert "expressconnect_physical_connection_info" not in body


async def test_any_exception_in_a_pass_is_a_failed_pass_that_keeps_the_snapshot() -> None:
    """A bug in a pass (here an encoding error) must not freeze monitoring: up goes to 0, the
    error is counted, the last good snapshot stays served and the status page says why."""
    calls = 0

    async def flaky(ctx: PassContext) -> ToySnapshot:
        nonlocal calls
        calls += 1
        if calls > 2:
            "\ud800".encode()  # what an unpaired surrogate from the API once did
        return await collect(ctx)

    broken = Collector(name="toy", api="vpc", collect=flaky, records=TOY.records,
                       counts=TOY.counts)  # fmt: skip
    async with Exporter(config(("cn-hangzhou",)), collectors=(broken,)) as exporter:
        deadline = time.monotonic() + 15
        while not any(s.passes >= 4 for s in exporter.region_statuses()):
            assert time.monotonic() < deadline, "passes stopped"
            await asyncio.sleep(0.05)
        body = b"".join(exporter.exposition().parts(openmetrics=False, gzipped=False)).decode()
        live = exporter.live_block(openmetrics=False).decode()
        status = exporter.region_statuses()[0]
    assert not status.up and status.last_error is not None
    assert status.last_error.startswith("UnicodeEncodeError")
    assert 'expressconnect_region_up{account="a",region_id="cn-hangzhou",collector="toy"} 0' in body
    assert f'{TOY_VALUE}{{account="a",region_id="cn-hangzhou",toy_id="cn-hangzhou-2"}} 20' in body
    errors = "expressconnect_region_refresh_errors_total"
    errors += '{account="a",collector="toy",region_id="cn-hangzhou"}'
    assert errors in live and f"{errors} 0.0" not in live


async def test_a_collector_waiting_on_another_ages_out_its_data() -> None:
    """A collector that reads another's snapshot is skipped (not failed) while that one has
    none, and what it exported earlier is still dropped after max_staleness."""
    now = [1000.0]
    base_ok = [True]

    async def base(ctx: PassContext) -> ToySnapshot:
        if not base_ok[0]:
            raise OSError("base collector down")
        return ToySnapshot((Toy("t", 1.0),), ctx.clock(), 0.0)

    async def reader(ctx: PassContext) -> ToySnapshot:
        assert ctx.sibling("base") is not None
        return ToySnapshot((Toy("r", 2.0),), ctx.clock(), 0.0)

    families = TOY.records
    first = Collector(name="base", api="vpc", collect=base, records=families)
    second = Collector(name="reader", api="vpc", collect=reader, records=families, needs="base")
    exporter = Exporter(config(("cn-hangzhou",)), collectors=(first, second), clock=lambda: now[0])
    await exporter.open()
    try:
        assert await exporter.refresh_everything()
        base_ok[0] = False
        now[0] += 4000.0  # past max_staleness (1h): the base data goes stale, then the reader's
        await exporter.refresh("a", "cn-hangzhou", "base")
        status = await exporter.refresh("a", "cn-hangzhou", "reader")
        body = exporter.body().decode()
    finally:
        await exporter.stop()
    assert status is not None and status.stale and not status.up
    assert "waiting for the base collector" in (status.last_error or "")
    assert 'toy_id="r"' not in body
    errors = 'expressconnect_region_refresh_errors_total{account="a",collector="reader"'
    assert all(line.endswith(" 0.0") for line in body.splitlines() if line.startswith(errors))
