"""The physical connections collector's paging against recorded API pages served over real HTTP
(signatures verified): every page read once, duplicates merged, drift and ceilings fail the pass."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from exporter.client import AccountClient, ApiError
from exporter.collectors import physical_connections
from exporter.collectors.base import DEFAULT_PAGE_CONCURRENCY, PassContext, PassError
from tests.exporter.ecx_fakeapi import FakeApi, fake_api_client


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


async def test_paging_reads_every_page_and_sends_filters(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        client = fake_api_client(session, url)
        snap = await collect_region(client, "cn-hangzhou", page_size=5, filters={"Type": ("VPC",)})
    expected = sorted(r["PhysicalConnectionId"] for r in api.records("cn-hangzhou"))
    assert [c.id for c in snap.connections] == expected
    # Every page once, then the first and the last again: the listing did not move meanwhile.
    assert sorted(int(r["PageNumber"]) for r in api.requests) == [1, 1, 2, 3, 3]
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
        client = fake_api_client(session, url)
        snap = await collect_region(client, "cn-hangzhou", page_size=5)
    assert len(snap.connections) == 13
    assert second[0]["PhysicalConnectionId"] in {c.id for c in snap.connections}
    # Three pages; three again, then the first and the last read once more to check the redo.
    assert len(api.requests) == 8


async def test_count_drift_twice_fails_the_pass(recorded: Any, session: Any) -> None:
    pages = copy.deepcopy(recorded)
    pages["cn-hangzhou"][2]["TotalCount"] = 14  # the last page always disagrees
    api = FakeApi(pages)
    async with api.serve() as url:
        client = fake_api_client(session, url)
        with pytest.raises(PassError, match="drifted twice"):
            await collect_region(client, "cn-hangzhou", page_size=5)
    assert len(api.requests) == 6


async def test_failed_page_fails_the_whole_pass(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    forbidden = (403, {"Code": "Forbidden.RAM", "Message": "not authorized"})
    api.faults = [None, forbidden]  # type: ignore[list-item]
    async with api.serve() as url:
        client = fake_api_client(session, url)
        with pytest.raises(ApiError, match=r"Forbidden\.RAM"):
            await collect_region(client, "cn-hangzhou", page_size=5)


async def test_total_count_above_the_ceiling_fails_without_paging(
    recorded: Any, session: Any
) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        client = fake_api_client(session, url)
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
        client = fake_api_client(session, url)
        snap = await collect_region(client, "cn-hangzhou", page_size=1)
    assert len(snap.connections) == 13
    assert 1 < peak <= DEFAULT_PAGE_CONCURRENCY
