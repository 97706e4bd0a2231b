"""The collector seam: a collector defined only here (its own snapshot type, one family) is
registered, scheduled per region, rendered and served, with no change to the wiring."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import yaml

from exporter.app import Exporter
from exporter.collectors.base import Collector, CollectorConfig, PassContext
from exporter.config import ConfigError, parse_config
from exporter.families import CountFamily, RecordFamilies, gauge
from exporter.plan import build_plan

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
    """A collector that reads another's snapshot fails at once (counted, saying why) when that
    one failed with nothing to serve, and what it exported earlier is dropped after
    max_staleness."""
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
    assert "the base collector failed in this region: base collector down" in (
        status.last_error or ""
    )
    assert 'toy_id="r"' not in body
    errors = 'expressconnect_region_refresh_errors_total{account="a",collector="reader"'
    counted = [line for line in body.splitlines() if line.startswith(errors)]
    assert counted and all(line.endswith(" 1.0") for line in counted)


class ToySettings(CollectorConfig):
    """A setting of the toy's own under ``collectors.toy``; None = inherit."""

    factor: float | None = None


seen_settings: list[tuple[str, ToySettings]] = []


async def collect_with_settings(ctx: PassContext) -> ToySnapshot:
    assert isinstance(ctx.settings, ToySettings)
    seen_settings.append((ctx.account, ctx.settings))
    factor = ctx.settings.factor if ctx.settings.factor is not None else 1.0
    return ToySnapshot((Toy(ctx.account, factor),), ctx.clock(), 0.0)


CONFIGURABLE = Collector(name="toy", api="vpc", collect=collect_with_settings,
                         records=TOY.records, default_interval=90.0,
                         settings_model=ToySettings)  # fmt: skip


def toy_yaml(collectors: str) -> Any:
    text = f"""
refresh: {{interval: 5m}}
collectors: {{toy: {{enabled: false, factor: 2.0}}}}
accounts:
  - name: a
    regions: [cn-hangzhou]
  - name: b
    regions: [cn-hangzhou]
    collectors: {collectors}
"""
    return parse_config(yaml.safe_load(text), "toy.yml", collectors=(CONFIGURABLE,))


def test_the_toy_collector_is_configured_from_yaml_with_per_account_overrides() -> None:
    config = toy_yaml("{toy: {enabled: true, interval: 30s}}")
    plan = build_plan(config, (CONFIGURABLE,))
    a, b = plan.collectors[("a", "toy")], plan.collectors[("b", "toy")]
    assert (a.enabled, a.interval) == (False, 90.0)  # top level off; declared interval
    assert (b.enabled, b.interval) == (True, 30.0)  # the account's own block wins
    assert b.timeout == max(config.refresh.timeout, 0.9 * 30.0)  # timeout_policy "interval"
    assert isinstance(b.settings, ToySettings) and b.settings.factor == 2.0  # inherited
    assert list(plan.passes({})) == [("b", "cn-hangzhou", "toy")]
    assert plan.jobs(plan.passes({})) == {("pass", "b", "cn-hangzhou", "toy"): 30.0}


def test_unknown_collectors_and_keys_are_refused_with_the_toys_names() -> None:
    with pytest.raises(ConfigError) as caught:
        toy_yaml("{toys: {}}")
    assert str(caught.value) == (
        "toy.yml: accounts[1].collectors.toys: unknown collector 'toys' (did you mean 'toy'?)"
        " (one of: toy)"
    )
    with pytest.raises(ConfigError) as caught:
        toy_yaml("{toy: {factr: 3}}")
    assert str(caught.value) == (
        "toy.yml: accounts[1].collectors.toy.factr: unknown key (did you mean 'factor'?)"
    )
    with pytest.raises(
        ConfigError, match=r"collectors\.toy: unknown collector"
    ):  # the registry has no toy
        parse_config({"collectors": {"toy": {}}, "accounts": [{"name": "a", "regions": "all"}]})


async def test_the_resolved_settings_reach_the_pass() -> None:
    seen_settings.clear()
    config = toy_yaml("{toy: {enabled: true, factor: 3.5}}")
    exporter = Exporter(config, collectors=(CONFIGURABLE,))
    await exporter.open()
    try:
        assert await exporter.refresh_everything()
        body = exporter.body().decode()
    finally:
        await exporter.stop()
    assert [(account, s.factor, s.interval) for account, s in seen_settings] == [("b", 3.5, 90.0)]
    assert f'{TOY_VALUE}{{account="b",region_id="cn-hangzhou",toy_id="b"}} 3.5' in body
