"""Paging: one complete DescribePhysicalConnections pass over a region → a ``RegionSnapshot``.

Page 1 tells how many records there are; the other pages run concurrently (bounded). A pass
whose ``TotalCount`` moves while it runs is redone once; a second drift fails the pass, because
a half-read region must never be published.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from exporter.snapshot import PhysicalConnection, RegionSnapshot, parse_connection

log = logging.getLogger(__name__)

ACTION = "DescribePhysicalConnections"
DEFAULT_PAGE_CONCURRENCY = 4


class Caller(Protocol):
    """What the collector needs from ``AccountClient`` (kept narrow so tests can use fakes)."""

    account: str

    async def call(
        self, action: str, region_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]: ...


class PassError(Exception):
    """A pass that could not produce a complete, consistent snapshot."""


class CountDrift(PassError):
    pass


def filter_params(filters: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``{"Status": ["Enabled"]}`` → ``Filter.1.Key=Status, Filter.1.Value.1=Enabled``."""
    params: dict[str, str] = {}
    for n, (key, values) in enumerate(sorted(filters.items()), start=1):
        params[f"Filter.{n}.Key"] = key
        for m, value in enumerate(values, start=1):
            params[f"Filter.{n}.Value.{m}"] = value
    return params


def _records(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    wrapper = body.get("PhysicalConnectionSet")
    if wrapper is None:
        return []
    items = wrapper.get("PhysicalConnectionType") if isinstance(wrapper, Mapping) else None
    if not isinstance(items, list):
        raise PassError("PhysicalConnectionSet.PhysicalConnectionType is not a list")
    return [item for item in items if isinstance(item, Mapping)]


def _total(body: Mapping[str, Any]) -> int:
    total = body.get("TotalCount")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise PassError(f"response without a valid TotalCount: {total!r}")
    return total


def _page(body: Mapping[str, Any], region_id: str) -> tuple[int, list[PhysicalConnection]]:
    """(TotalCount, typed records) of one page; typed at once so a pass never holds raw JSON."""
    connections = []
    for record in _records(body):
        try:
            connections.append(parse_connection(record))
        except ValueError:
            log.warning("record without PhysicalConnectionId", extra={"region_id": region_id})
    return _total(body), connections


async def _one_pass(
    client: Caller,
    region_id: str,
    page_size: int,
    base_params: Mapping[str, str],
    concurrency: int,
) -> list[PhysicalConnection]:
    def params(page: int) -> dict[str, str]:
        return {
            **base_params,
            "RegionId": region_id,
            "PageNumber": str(page),
            "PageSize": str(page_size),
        }

    first = _page(await client.call(ACTION, region_id, params(1)), region_id)
    total = first[0]
    pages_total = max(1, math.ceil(total / page_size))
    gate = asyncio.Semaphore(concurrency)

    async def fetch(page: int) -> tuple[int, list[PhysicalConnection]]:
        async with gate:
            return _page(await client.call(ACTION, region_id, params(page)), region_id)

    pages = [first]
    if pages_total > 1:
        tasks = [asyncio.create_task(fetch(page)) for page in range(2, pages_total + 1)]
        try:
            pages.extend(await asyncio.gather(*tasks))
        except BaseException:
            # One page failed for good: the pass is lost, stop the others (first error wins).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    by_id: dict[str, PhysicalConnection] = {}
    for page_total, connections in pages:
        if page_total != total:
            raise CountDrift(f"TotalCount changed during the pass ({total} → {page_total})")
        for conn in connections:
            by_id[conn.id] = conn
    if len(by_id) != total:
        raise CountDrift(f"read {len(by_id)} distinct connections, TotalCount says {total}")
    return [by_id[key] for key in sorted(by_id)]


async def collect_region(
    client: Caller,
    region_id: str,
    *,
    page_size: int,
    filters: Mapping[str, Sequence[str]] | None = None,
    concurrency: int = DEFAULT_PAGE_CONCURRENCY,
    clock: Callable[[], float] = time.time,
) -> RegionSnapshot:
    """A complete snapshot of the region or an exception (``PassError`` / ``ApiError``)."""
    started = time.monotonic()
    base = filter_params(filters or {})
    try:
        connections = await _one_pass(client, region_id, page_size, base, concurrency)
    except CountDrift as drift:
        log.info(
            "count drifted, redoing the pass",
            extra={"account": client.account, "region_id": region_id, "reason": str(drift)},
        )
        try:
            connections = await _one_pass(client, region_id, page_size, base, concurrency)
        except CountDrift as again:
            raise PassError(f"count drifted twice in a row: {again}") from None
    return RegionSnapshot(
        account=client.account,
        region_id=region_id,
        connections=tuple(connections),
        completed_at=clock(),
        duration_seconds=time.monotonic() - started,
    )


async def discover_regions(client: Caller, via_region: str = "cn-hangzhou") -> tuple[str, ...]:
    """Region IDs from DescribeRegions (for ``regions: all``)."""
    body = await client.call("DescribeRegions", via_region, {"RegionId": via_region})
    regions = body.get("Regions", {})
    items = regions.get("Region") if isinstance(regions, Mapping) else None
    if not isinstance(items, list):
        raise PassError("DescribeRegions answered without Regions.Region")
    found = {item.get("RegionId") for item in items if isinstance(item, Mapping)} - {None, ""}
    return tuple(sorted(str(region) for region in found))
