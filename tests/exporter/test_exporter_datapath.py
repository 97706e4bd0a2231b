"""Client and paging against recorded API pages served over real HTTP (signatures verified)."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from exporter.accounts import discover_regions
from exporter.client import AccountClient, ApiError, ClientSettings, RateLimiter, endpoint_url
from exporter.collectors import physical_connections
from exporter.collectors.base import DEFAULT_PAGE_CONCURRENCY, PassContext, PassError, filter_params
from exporter.credentials import Credential, StaticCredentialSource
from tests.exporter.ecx_fakeapi import (
    KEY_ID,
    SECRET,
    FakeApi,
    load_recorded_pages,
    throttled,
    unavailable,
)


async def collect_region(
    client: AccountClient,
    region_id: str,
    *,
    page_size: int,
    filters: dict[str, tuple[str, ...]] | None = None,
    max_records: int = 100_000,
) -> physical_connections.RegionSnapshot:
    ctx = PassContext(
        client, client.account, region_id, page_size, max_records, filters=filters or {}
    )
    return await physical_connections.collect(ctx)


def credentials(secret: str = SECRET) -> StaticCredentialSource:
    return StaticCredentialSource("access_key", Credential(KEY_ID, secret))


@pytest.fixture
def recorded() -> dict[str, list[dict[str, Any]]]:
    pages: dict[str, list[dict[str, Any]]] = load_recorded_pages()["accounts"]["prod"]
    return pages


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_client(
    session: aiohttp.ClientSession,
    url: str,
    *,
    secret: str = SECRET,
    retries: int = 4,
    rate: float = 1000.0,
    timeout: float = 2.0,
    seen: list[tuple[str, str, str, str, float]] | None = None,
) -> AccountClient:
    settings = ClientSettings(
        endpoint=url,
        request_timeout=timeout,
        retries=retries,
        max_requests_per_second=rate,
        backoff_base=0.01,
        backoff_cap=0.05,
    )

    def observe(*args: Any) -> None:
        if seen is not None:
            seen.append(args)  # type: ignore[arg-type]

    return AccountClient(session, "prod", credentials(secret), settings, observer=observe)


async def test_signed_call_keeps_unknown_fields(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        client = make_client(session, url)
        body = await client.call(
            "DescribePhysicalConnections",
            "cn-hangzhou",
            {"RegionId": "cn-hangzhou", "PageNumber": "1", "PageSize": "5"},
        )
    record = body["PhysicalConnectionSet"]["PhysicalConnectionType"][0]
    assert record["SomeFutureField"] == {"Nested": [1, 2]}
    assert body["TotalCount"] == 13
    assert api.requests[0]["_action"] == "DescribePhysicalConnections"


async def test_retries_throttling_5xx_nonce_and_transport_errors(
    recorded: Any, session: Any
) -> None:
    api = FakeApi(recorded)
    nonce_used = (400, {"Code": "SignatureNonceUsed", "Message": "used"})
    internal = (500, {"Code": "InternalError", "Message": "boom"})
    api.faults = [throttled(), unavailable(), nonce_used, "drop"]
    seen: list[Any] = []
    async with api.serve() as url:
        client = make_client(session, url, seen=seen)
        body = await client.call(
            "DescribePhysicalConnections", "cn-shanghai", {"RegionId": "cn-shanghai"}
        )
        assert body["TotalCount"] == 3
        codes = [entry[3] for entry in seen]
        assert codes[:3] == ["Throttling.User", "ServiceUnavailable", "SignatureNonceUsed"]
        assert codes[-1] == "Success" and len(codes) == 5
        assert codes[3] not in ("Success", "Throttling.User")  # a transport error class
        # A plain 5xx without a known code is retried too; retries run out → the last error.
        api.faults = [internal] * 3
        seen.clear()
        failing = make_client(session, url, retries=2, seen=seen)
        with pytest.raises(ApiError) as info:
            await failing.call("DescribeRegions", "cn-hangzhou", {"RegionId": "cn-hangzhou"})
        assert info.value.code == "InternalError" and len(seen) == 3


async def test_timeouts_are_retried(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    api.faults = ["slow"]
    seen: list[Any] = []
    async with api.serve() as url:
        client = make_client(session, url, timeout=0.3, seen=seen)
        body = await client.call("DescribeRegions", "cn-hangzhou", {"RegionId": "cn-hangzhou"})
    assert "Regions" in body
    assert [entry[3] for entry in seen] == ["Timeout", "Success"]


async def test_no_retry_on_auth_or_parameter_errors(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        seen: list[Any] = []
        wrong = make_client(session, url, secret="wrong-secret-value", seen=seen)
        with pytest.raises(ApiError) as info:
            await wrong.call("DescribeRegions", "cn-hangzhou", {"RegionId": "cn-hangzhou"})
        assert info.value.code == "SignatureDoesNotMatch" and len(seen) == 1
        assert "wrong-secret-value" not in str(info.value)
        seen.clear()
        client = make_client(session, url, seen=seen)
        with pytest.raises(ApiError) as info:
            await client.call(
                "DescribePhysicalConnections", "cn-nowhere", {"RegionId": "cn-nowhere"}
            )
        assert info.value.code == "InvalidRegionId.NotFound" and len(seen) == 1
        assert info.value.http_status == 404


async def test_rate_limiter_spaces_requests_without_blocking_the_loop() -> None:
    limiter = RateLimiter(20.0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(7)))
    elapsed = time.monotonic() - started
    task.cancel()
    assert elapsed >= 6 / 20 - 0.01  # 7 requests at 20/s need at least 6 intervals
    assert ticks >= 5  # the loop kept running while callers waited


def test_endpoint_url() -> None:
    assert str(endpoint_url(None, "cn-hangzhou")) == "https://vpc.aliyuncs.com/"
    assert str(endpoint_url(None, "eu-west-1")) == "https://vpc.eu-west-1.aliyuncs.com/"
    assert str(endpoint_url("http://127.0.0.1:1/{region_id}/", "x")) == "http://127.0.0.1:1/x/"
    assert str(endpoint_url("http://127.0.0.1:18080", "x")) == "http://127.0.0.1:18080/"


def test_filter_params() -> None:
    assert filter_params({"Status": ("Enabled", "Allocated"), "LineOperator": ("CT",)}) == {
        "Filter.1.Key": "LineOperator",
        "Filter.1.Value.1": "CT",
        "Filter.2.Key": "Status",
        "Filter.2.Value.1": "Enabled",
        "Filter.2.Value.2": "Allocated",
    }


async def test_paging_reads_every_page_and_sends_filters(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        client = make_client(session, url)
        snap = await collect_region(client, "cn-hangzhou", page_size=5, filters={"Type": ("VPC",)})
    expected = sorted(r["PhysicalConnectionId"] for r in api.records("cn-hangzhou"))
    assert [c.id for c in snap.connections] == expected
    assert sorted(int(r["PageNumber"]) for r in api.requests) == [1, 2, 3]
    assert all(r["Filter.1.Key"] == "Type" and r["Filter.1.Value.1"] == "VPC" for r in api.requests)
    assert snap.account == "prod" and snap.region_id == "cn-hangzhou"
    assert dict(snap.connections[0].extra) == {"SomeFutureField": {"Nested": [1, 2]}}


async def test_duplicate_records_across_pages_are_merged(recorded: Any, session: Any) -> None:
    pages = copy.deepcopy(recorded)
    # A record shifts onto the next page mid-pass: it shows up twice, one record goes missing
    # from the set, so the counts disagree and the pass is redone; the redo is clean.
    first = pages["cn-hangzhou"][0]["PhysicalConnectionSet"]["PhysicalConnectionType"]
    second = pages["cn-hangzhou"][1]["PhysicalConnectionSet"]["PhysicalConnectionType"]
    shifted = copy.deepcopy(pages)
    shifted_second = shifted["cn-hangzhou"][1]["PhysicalConnectionSet"]["PhysicalConnectionType"]
    shifted_second[0] = first[-1]
    api = FakeApi(shifted)
    served = 0
    original = api.handle

    async def handle(request: Any) -> Any:
        nonlocal served
        served += 1
        if served == 4:  # second pass starts: the fleet settled
            api.pages = pages
        return await original(request)

    api.handle = handle  # type: ignore[method-assign]
    async with api.serve() as url:
        client = make_client(session, url)
        snap = await collect_region(client, "cn-hangzhou", page_size=5)
    assert len(snap.connections) == 13
    assert second[0]["PhysicalConnectionId"] in {c.id for c in snap.connections}
    assert len(api.requests) == 6  # two passes of three pages


async def test_count_drift_twice_fails_the_pass(recorded: Any, session: Any) -> None:
    pages = copy.deepcopy(recorded)
    pages["cn-hangzhou"][2]["TotalCount"] = 14  # the last page always disagrees
    api = FakeApi(pages)
    async with api.serve() as url:
        client = make_client(session, url)
        with pytest.raises(PassError, match="drifted twice"):
            await collect_region(client, "cn-hangzhou", page_size=5)
    assert len(api.requests) == 6


async def test_failed_page_fails_the_whole_pass(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    forbidden = (403, {"Code": "Forbidden.RAM", "Message": "not authorized"})
    api.faults = [None, forbidden]  # type: ignore[list-item]
    async with api.serve() as url:
        client = make_client(session, url)
        with pytest.raises(ApiError, match=r"Forbidden\.RAM"):
            await collect_region(client, "cn-hangzhou", page_size=5)


async def test_discover_regions(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        client = make_client(session, url)
        assert await discover_regions(client) == ("cn-hangzhou", "cn-shanghai")


async def test_total_count_above_the_ceiling_fails_without_paging(
    recorded: Any, session: Any
) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        client = make_client(session, url)
        with pytest.raises(PassError, match=r"TotalCount 13, above api.max_records_per_region"):
            await collect_region(client, "cn-hangzhou", page_size=5, max_records=12)
    assert len(api.requests) == 1  # page 1 only: nothing fetched past the refusal


async def test_pages_are_fetched_by_a_bounded_pool(recorded: Any, session: Any) -> None:
    """A huge TotalCount must not create one task per page: at most the pool's size run."""
    api = FakeApi(recorded)
    in_flight = peak = 0
    original = api.handle

    async def handle(request: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.01)
            return await original(request)
        finally:
            in_flight -= 1

    api.handle = handle  # type: ignore[method-assign]
    async with api.serve() as url:
        client = make_client(session, url)
        snap = await collect_region(client, "cn-hangzhou", page_size=1)
    assert len(snap.connections) == 13
    assert 1 < peak <= DEFAULT_PAGE_CONCURRENCY
