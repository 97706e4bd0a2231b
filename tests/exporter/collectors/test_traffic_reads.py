"""The namespace-wide CloudMonitor read on a scripted endpoint: pages, duplicates, a repeating
NextToken, a failure on page 2, instances outside the inventory, and the read the regions of
one account share (once per round, failing every region it covers, learning regional scope).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from exporter.client import ApiError
from exporter.collectors import COLLECTORS, traffic
from exporter.collectors.base import NotReady, PassContext, PassError
from exporter.config import ConfigError, parse_config
from exporter.plan import build_plan
from tests.harness import wait_until_async

Row = tuple[str, int, float]  # instance, ms, value
NOW = 130.0  # the passes' clock: the scripted points are at 60 s and 120 s


@dataclass(frozen=True)
class Vbr:
    id: str


@dataclass(frozen=True)
class Inventory:
    vbrs: tuple[Vbr, ...]


class Endpoint:
    """Answers every metric with ``pages`` (per endpoint region, or one list for every region)
    chained by tokens; records each call's region and parameters."""

    account = "a"

    def __init__(
        self,
        pages: list[list[Row]] | Mapping[str, list[list[Row]]],
        tokens: list[str] | None = None,
        fail_page: int | None = None,
    ) -> None:
        self.pages = pages
        self.tokens = tokens
        self.fail_page = fail_page
        self.calls: list[tuple[str, Mapping[str, str]]] = []
        self.gate: asyncio.Event | None = None  # set: answers wait for it

    async def call(self, action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        self.calls.append((region_id, params))
        if self.gate is not None:
            await self.gate.wait()
        assert "Dimensions" not in params and params["Length"] == "1000"
        pages = self.pages if isinstance(self.pages, list) else self.pages[region_id]
        tokens = self.tokens or [f"t{i}" for i in range(1, len(pages))]
        token = params.get("NextToken")
        index = 0 if token is None else tokens.index(token) + 1
        if self.fail_page is not None and index + 1 == self.fail_page:
            raise ApiError("500", "page two failed", action=action)
        rows = [{"instanceId": i, "timestamp": ms, "Value": v} for i, ms, v in pages[index]]
        body: dict[str, Any] = {"Code": "200", "Success": True, "Datapoints": json.dumps(rows)}
        if index < len(pages) - 1:
            body["NextToken"] = tokens[index]
        return body


def context(
    endpoint: Endpoint,
    known: tuple[str, ...],
    region: str = "cn-hangzhou",
    inventories: Mapping[str, tuple[str, ...] | None] | None = None,
) -> PassContext:
    """A pass of ``region`` whose inventory is ``known``; ``inventories``: every region's
    (default: this one only)."""
    inventory = Inventory(tuple(Vbr(i) for i in known))
    every = dict(inventories or {region: known})

    async def needed() -> object:
        return inventory

    def account_sibling(name: str) -> Mapping[str, object | None]:
        assert name == traffic.VBR_COLLECTOR
        return {
            r: None if ids is None else Inventory(tuple(Vbr(i) for i in ids))
            for r, ids in every.items()
        }

    return PassContext(client=endpoint, account="a", region_id=region, interval=60,
                       needed=needed, account_sibling=account_sibling,
                       clock=lambda: NOW)  # fmt: skip


async def test_pages_are_joined_duplicates_kept_once_and_strangers_dropped() -> None:
    endpoint = Endpoint([
        [("vbr-1", 60_000, 8.0), ("vbr-x", 60_000, 1.0)],
        [("vbr-2", 60_000, 16.0), ("vbr-1", 120_000, 80.0)],  # vbr-1 again, newer
        [("vbr-1", 60_000, 8.0), ("vbr-x", 60_000, 1.0)],  # both again, older / the same
    ])  # fmt: skip
    snapshot = await traffic.collect(context(endpoint, ("vbr-1", "vbr-2", "vbr-3")))
    assert snapshot.calls == 3 * len(traffic.METRICS) == len(endpoint.calls)
    got = {v.id: (v.get("RateInFromIDCToVpc"), v.newest_sample) for v in snapshot.vbrs}
    assert got == {"vbr-1": (10.0, 120.0), "vbr-2": (2.0, 60.0)}  # vbr-x: not in the inventory
    # vbr-x's point, repeated on page 3, is counted once per metric.
    assert snapshot.unmatched == len(traffic.METRICS)


async def test_strangers_are_not_counted_while_a_region_has_no_inventory() -> None:
    """Another region's VBRs would look like strangers until its inventory is read."""
    endpoint = Endpoint([[("vbr-1", 60_000, 8.0), ("vbr-b", 60_000, 1.0)]])
    every = {"cn-hangzhou": ("vbr-1",), "cn-beijing": None}
    snapshot = await traffic.collect(context(endpoint, ("vbr-1",), inventories=every))
    assert snapshot.unmatched == 0
    every = {"cn-hangzhou": ("vbr-1",), "cn-beijing": ("vbr-b",)}
    snapshot = await traffic.collect(context(Endpoint(endpoint.pages), ("vbr-1",),
                                             inventories=every))  # fmt: skip
    assert snapshot.unmatched == 0  # vbr-b is cn-beijing's: matched, just not this region's


async def test_a_next_token_that_repeats_fails_the_pass() -> None:
    endpoint = Endpoint([[("vbr-1", 60_000, 8.0)]] * 3, tokens=["same", "same"])
    with pytest.raises(PassError, match="NextToken repeats"):
        await traffic.collect(context(endpoint, ("vbr-1",)))


async def test_a_failure_on_page_two_fails_the_whole_pass() -> None:
    endpoint = Endpoint([[("vbr-1", 60_000, 8.0)], [("vbr-2", 60_000, 8.0)]], fail_page=2)
    with pytest.raises(ApiError, match="page two failed"):
        await traffic.collect(context(endpoint, ("vbr-1", "vbr-2")))


EVERY = {"cn-hangzhou": ("vbr-h",), "cn-beijing": ("vbr-b",)}


async def test_regions_of_an_account_share_one_read_per_round() -> None:
    """Global scope: one endpoint answers both regions' VBRs; both regions join one read
    (8 calls, made and reported by the region that started it), each keeps its own VBRs."""
    endpoint = Endpoint([[("vbr-h", 60_000, 8.0), ("vbr-b", 60_000, 16.0)]])
    first, second = await asyncio.gather(
        traffic.collect(context(endpoint, EVERY["cn-hangzhou"], "cn-hangzhou", EVERY)),
        traffic.collect(context(endpoint, EVERY["cn-beijing"], "cn-beijing", EVERY)),
    )
    assert len(endpoint.calls) == len(traffic.METRICS)
    assert {region for region, _ in endpoint.calls} == {"cn-hangzhou"}
    assert (first.calls, second.calls) == (len(traffic.METRICS), 0)
    assert [v.id for v in first.vbrs] == ["vbr-h"] and [v.id for v in second.vbrs] == ["vbr-b"]
    # A pass of the same round that comes later still reads nothing.
    again = await traffic.collect(context(endpoint, EVERY["cn-beijing"], "cn-beijing", EVERY))
    assert len(endpoint.calls) == len(traffic.METRICS) and [v.id for v in again.vbrs] == ["vbr-b"]


async def test_the_round_is_told_by_the_pass_clock_which_a_step_back_cannot_stretch() -> None:
    """Half an interval (30 s here) on the passes' clock ends a round, however little real
    time went by (a stepped test clock, a pass that ran late); a clock stepped back starts a
    new read rather than reusing the last one."""
    endpoint = Endpoint([[("vbr-h", 60_000, 8.0), ("vbr-b", 60_000, 16.0)]])

    async def pass_at(now: float) -> None:
        ctx = context(endpoint, EVERY["cn-beijing"], "cn-beijing", EVERY)
        await traffic.collect(dataclasses.replace(ctx, clock=lambda: now))

    await pass_at(NOW)
    await pass_at(NOW + 29)  # same round: no calls
    assert len(endpoint.calls) == len(traffic.METRICS)
    await pass_at(NOW + 30)  # the next round
    assert len(endpoint.calls) == 2 * len(traffic.METRICS)
    await pass_at(NOW)  # stepped back
    assert len(endpoint.calls) == 3 * len(traffic.METRICS)


async def test_a_failed_shared_read_fails_every_region_it_covers_once() -> None:
    endpoint = Endpoint([[("vbr-h", 60_000, 8.0)], [("vbr-b", 60_000, 8.0)]], fail_page=2)
    outcomes = await asyncio.gather(
        traffic.collect(context(endpoint, EVERY["cn-hangzhou"], "cn-hangzhou", EVERY)),
        traffic.collect(context(endpoint, EVERY["cn-beijing"], "cn-beijing", EVERY)),
        return_exceptions=True,
    )
    assert all(isinstance(o, ApiError) and "page two failed" in str(o) for o in outcomes)
    # Each metric asked page 1 and 2 once at most; cn-beijing did not read again.
    assert {region for region, _ in endpoint.calls} == {"cn-hangzhou"}
    assert len(endpoint.calls) <= 2 * len(traffic.METRICS)


async def test_a_region_the_shared_endpoint_does_not_answer_reads_its_own_from_then_on() -> None:
    """Regional scope: each endpoint answers its own region's VBRs only."""
    pages = {"cn-hangzhou": [[("vbr-h", 60_000, 8.0)]], "cn-beijing": [[("vbr-b", 60_000, 16.0)]]}
    endpoint = Endpoint(pages)
    first = await traffic.collect(context(endpoint, EVERY["cn-hangzhou"], "cn-hangzhou", EVERY))
    second = await traffic.collect(context(endpoint, EVERY["cn-beijing"], "cn-beijing", EVERY))
    assert [v.id for v in first.vbrs] == ["vbr-h"] and [v.id for v in second.vbrs] == ["vbr-b"]
    assert second.calls == len(traffic.METRICS) and first.unmatched == second.unmatched == 0
    endpoint.calls.clear()
    # Next: cn-beijing reads its own endpoint at once, without the shared read first.
    again = await traffic.collect(context(endpoint, EVERY["cn-beijing"], "cn-beijing", EVERY))
    assert [v.id for v in again.vbrs] == ["vbr-b"]
    assert [region for region, _ in endpoint.calls] == ["cn-beijing"] * len(traffic.METRICS)


async def test_reading_starts_before_the_inventory_and_stops_when_the_pass_is_skipped() -> None:
    """Every metric's first page goes out while the inventory is still missing; when the pass
    is skipped for it, the read is cancelled (no call runs on into the next pass)."""
    endpoint = Endpoint([[("vbr-1", 60_000, 8.0)]])
    endpoint.gate = asyncio.Event()
    inventory_wait = asyncio.Event()

    async def needed() -> object:
        await inventory_wait.wait()
        raise NotReady("waiting for the virtual_border_routers collector's data")

    ctx = PassContext(client=endpoint, account="a", region_id="cn-hangzhou", interval=60,
                      needed=needed)  # fmt: skip
    running = asyncio.ensure_future(traffic.collect(ctx))
    await wait_until_async(lambda: len(endpoint.calls) == len(traffic.METRICS), "first pages")
    assert len(endpoint.calls) == len(traffic.METRICS)  # read before the inventory
    inventory_wait.set()
    with pytest.raises(NotReady):
        await running
    read = traffic._account_reads(endpoint).shared[60]
    await wait_until_async(read.task.done, "the read cancelled")
    assert read.task.cancelled()


async def test_every_metrics_page_chain_runs_from_the_start_whatever_page_concurrency() -> None:
    """A namespace read lasts as long as its longest NextToken chain only if no chain waits
    for another: with page_concurrency 1, every metric's first page is still out at once."""
    endpoint = Endpoint([[("vbr-1", 60_000, 8.0)], [("vbr-1", 120_000, 8.0)]])
    endpoint.gate = asyncio.Event()
    ctx = dataclasses.replace(context(endpoint, ("vbr-1",)), page_concurrency=1)
    running = asyncio.ensure_future(traffic.collect(ctx))
    await wait_until_async(lambda: len(endpoint.calls) == len(traffic.METRICS), "first pages")
    first_pages = {params["MetricName"] for _, params in endpoint.calls}
    assert first_pages == set(traffic.METRICS)  # before any answer came back
    endpoint.gate.set()
    snapshot = await running
    assert snapshot.calls == 2 * len(traffic.METRICS)


def test_query_is_a_setting_of_the_traffic_collector_per_account() -> None:
    named = {"traffic": {"query": "named"}}
    accounts = [
        {"name": "a", "regions": ["cn-hangzhou"]},
        {"name": "b", "regions": ["cn-hangzhou"], "collectors": named},
    ]
    plan = build_plan(parse_config({"accounts": accounts}, "t"), COLLECTORS)
    queries = [getattr(plan.collectors[(n, "traffic")].settings, "query") for n in "ab"]  # noqa: B009
    assert queries == [None, "named"]  # None: the default, namespace
    with pytest.raises(ConfigError, match=r"collectors.traffic.query: must be one of"):
        parse_config({"collectors": {"traffic": {"query": "all"}}, "accounts": accounts}, "t")


# -- issue 20: hostile or odd answers ---------------------------------------------------------


class Scripted:
    """Answers each call with ``answer(metric)``; records which calls were cancelled."""

    account = "a"

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.started: list[str] = []
        self.cancelled: list[str] = []

    async def call(self, action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        metric = params["MetricName"]
        self.started.append(metric)
        try:
            return await self.answer(metric)  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            self.cancelled.append(metric)
            raise


@pytest.mark.parametrize("query", ["namespace", "named"])
async def test_a_failed_call_cancels_the_passes_other_calls(query: str) -> None:
    """Issue 20 item 4: no CloudMonitor call of a failed pass runs on into the next one."""
    forever = asyncio.Event()

    async def answer(metric: str) -> dict[str, Any]:
        if metric == "RateInFromIDCToVpc":
            await asyncio.sleep(0)
            raise ApiError("InternalError", "boom", action=traffic.ACTION)
        await forever.wait()
        return {}

    client = Scripted(answer)
    ctx = context(client, ("vbr-1",))  # type: ignore[arg-type]
    ctx = dataclasses.replace(ctx, page_concurrency=len(traffic.METRICS),
                              settings=traffic.TrafficSettings(query=query))  # fmt: skip
    with pytest.raises(ApiError, match="boom"):
        await traffic.collect(ctx)
    others = [m for m in client.started if m != "RateInFromIDCToVpc"]
    assert others and sorted(client.cancelled) == sorted(others)


@pytest.mark.parametrize(
    "body", [{"Success": True, "Code": "200"}, {"Success": True, "Code": "200", "Period": "60"}]
)
async def test_an_answer_without_datapoints_fails_the_pass(body: dict[str, Any]) -> None:
    """Issue 20 item 9: an answer without ``Datapoints`` is not "no data"."""

    async def answer(metric: str) -> dict[str, Any]:
        return body

    with pytest.raises(PassError, match="without Datapoints"):
        await traffic.collect(context(Scripted(answer), ("vbr-1",)))  # type: ignore[arg-type]


async def test_values_out_of_range_are_not_exported() -> None:
    """Issue 20 item 14: negative and absurd values are absent, like range-checked VPC ones."""
    endpoint = Endpoint([[("vbr-neg", 120_000, -8.0), ("vbr-huge", 120_000, 1e308),
                          ("vbr-ok", 120_000, 8.0)]])  # fmt: skip
    snapshot = await traffic.collect(context(endpoint, ("vbr-neg", "vbr-huge", "vbr-ok")))
    assert [v.id for v in snapshot.vbrs] == ["vbr-ok"]
    loss = {v.id: v.get("VbrHealthyCheckLossRate") for v in snapshot.vbrs}
    assert loss == {"vbr-ok": 0.08}  # 8 % is in range for the loss rate too


async def test_old_and_future_datapoints_are_not_exported() -> None:
    """Issue 20 items 8 and 13: a metric whose newest point is hours old, a time in seconds
    read as ms (1970) or years ahead is not exported, and does not set the sample time."""
    now = 10_000_000.0
    fresh, old, ahead = int(now - 120) * 1000, int(now - 3 * 3600) * 1000, int(now + 3e8) * 1000

    async def answer(metric: str) -> dict[str, Any]:
        rows = [{"instanceId": "vbr-1", "timestamp": fresh, "Value": 5.0}]
        if metric.startswith("Rate"):  # traffic stopped three hours ago
            rows = [{"instanceId": "vbr-1", "timestamp": old, "Value": 800.0}]
        if metric.startswith("PkgsIn"):  # seconds sent as ms, and a time years ahead
            rows = [{"instanceId": "vbr-1", "timestamp": int(now), "Value": 1.0},
                    {"instanceId": "vbr-1", "timestamp": ahead, "Value": 2.0}]  # fmt: skip
        return {"Code": "200", "Success": True, "Datapoints": json.dumps(rows)}

    ctx = dataclasses.replace(context(Scripted(answer), ("vbr-1",)), clock=lambda: now)  # type: ignore[arg-type]
    (vbr,) = (await traffic.collect(ctx)).vbrs
    assert vbr.get("RateInFromIDCToVpc") is None and vbr.get("PkgsInFromIDCToVpc") is None
    assert vbr.get("PkgsOutFromVpcToIDC") == 5.0
    assert vbr.newest_sample == fresh / 1000


async def test_a_region_without_vbrs_is_not_failed_by_a_read_it_does_not_need() -> None:
    """An empty inventory needs no CloudMonitor data: the pass succeeds even if the read
    failed (a region with no VBRs is a successful pass)."""
    endpoint = Endpoint([[("vbr-1", 60_000, 8.0)], [("vbr-2", 60_000, 8.0)]], fail_page=2)
    snapshot = await traffic.collect(context(endpoint, ()))
    assert snapshot.vbrs == () and snapshot.unmatched == 0
