"""The collector seam's base: the settings model every collector's ``collectors.<name>`` block
extends, and the declarations the registry's collectors make."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from exporter.collectors import COLLECTORS, by_name
from exporter.collectors.base import (
    CollectorConfig,
    Listing,
    PassContext,
    PassError,
    filter_params,
    list_all,
)


def test_collector_config_leaves_unset_fields_to_inherit() -> None:
    assert CollectorConfig().enabled is None and CollectorConfig().interval is None
    assert CollectorConfig.model_validate({"interval": "2m"}).interval == 120.0
    with pytest.raises(ValidationError, match="at least 1s"):
        CollectorConfig.model_validate({"interval": "500ms"})
    with pytest.raises(ValidationError):
        CollectorConfig.model_validate({"intervl": "1m"})


def test_the_registry_declares_todays_defaults() -> None:
    declared = {c.name: (c.default_interval, c.timeout_policy, c.needs) for c in COLLECTORS}
    assert declared == {
        "physical_connections": (None, "refresh", None),
        "virtual_border_routers": (60.0, "interval", None),
        "traffic": (300.0, "interval", "virtual_border_routers"),
        "health_checks": (600.0, "interval", "virtual_border_routers"),
        "failover_tests": (600.0, "interval", "virtual_border_routers"),
    }
    names = set(by_name())
    assert all(c.needs in names for c in COLLECTORS if c.needs)
    # A collector that needs another runs after it (the registry's order).
    order = [c.name for c in COLLECTORS]
    assert all(order.index(c.needs) < order.index(c.name) for c in COLLECTORS if c.needs)


def test_pass_context_carries_default_settings() -> None:
    ctx = PassContext(client=None, account="a", region_id="r")  # type: ignore[arg-type]
    assert isinstance(ctx.settings, CollectorConfig)


def test_filter_params() -> None:
    assert filter_params({"Status": ["Enabled", "Terminated"], "Name": ["x"]}) == {
        "Filter.1.Key": "Name",
        "Filter.1.Value.1": "x",
        "Filter.2.Key": "Status",
        "Filter.2.Value.1": "Enabled",
        "Filter.2.Value.2": "Terminated",
    }


def test_filter_params_sort_keys_and_keep_value_order() -> None:
    assert filter_params({"Status": ("Enabled", "Allocated"), "LineOperator": ("CT",)}) == {
        "Filter.1.Key": "LineOperator",
        "Filter.1.Value.1": "CT",
        "Filter.2.Key": "Status",
        "Filter.2.Value.1": "Enabled",
        "Filter.2.Value.2": "Allocated",
    }


# --------------------------------------------------------------------------- paging races


@dataclass(frozen=True)
class Item:
    id: str


ITEMS = Listing("DescribeItems", "ItemSet", "ItemType", lambda r: Item(str(r["Id"])))


class MovingList:
    """A list action over a fleet that changes while it is paged: after each page in
    ``mutate_after`` is served, ``mutate`` runs (one object deleted, another created)."""

    account = "a"

    def __init__(self, ids: list[str], mutate_after: set[int]) -> None:
        self.ids = ids
        self.mutate_after = mutate_after
        self.calls: list[int] = []
        self.created = 0

    def mutate(self) -> None:
        del self.ids[0]  # a deleted object shifts every later one a place up
        self.created += 1
        self.ids.append(f"z{self.created}")  # a new one: TotalCount as it was

    async def call(self, action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        number, size = int(params["PageNumber"]), int(params["PageSize"])
        self.calls.append(number)
        page = self.ids[(number - 1) * size : number * size]
        body = {"TotalCount": len(self.ids), "ItemSet": {"ItemType": [{"Id": i} for i in page]}}
        if len(self.calls) in self.mutate_after:
            self.mutate()
        await asyncio.sleep(0)
        return body


def moving_ctx(api: MovingList) -> PassContext:
    return PassContext(client=api, account="a", region_id="r", page_size=2, page_concurrency=1)


async def test_a_deletion_and_a_creation_between_pages_are_read_again() -> None:
    """Equal TotalCount, equal number of records, yet a deleted object read and an existing
    one missed: the pass is redone and publishes what exists."""
    api = MovingList(["a", "b", "c", "d", "e"], mutate_after={1})
    records = await list_all(moving_ctx(api), ITEMS)
    assert [r.id for r in records] == ["b", "c", "d", "e", "z1"]


async def test_a_listing_that_keeps_moving_fails_the_pass() -> None:
    api = MovingList(["a", "b", "c", "d", "e"], mutate_after=set(range(1, 100)))
    with pytest.raises(PassError, match="drifted twice"):
        await list_all(moving_ctx(api), ITEMS)


async def test_a_still_listing_is_read_again_at_its_ends_only() -> None:
    api = MovingList(["a", "b", "c", "d", "e"], mutate_after=set())
    records = await list_all(moving_ctx(api), ITEMS)
    assert [r.id for r in records] == ["a", "b", "c", "d", "e"]
    assert api.calls == [1, 2, 3, 1, 3]
    single = MovingList(["a"], mutate_after=set())
    await list_all(moving_ctx(single), ITEMS)
    assert single.calls == [1]  # one page is one answer: nothing to compare
