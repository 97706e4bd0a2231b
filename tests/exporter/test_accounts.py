"""Accounts: the region list an account's ``regions: all`` resolves to, read from the API."""

from __future__ import annotations

from typing import Any

from exporter.accounts import discover_regions
from tests.exporter.ecx_fakeapi import FakeApi, fake_api_client


async def test_discover_regions(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        client = fake_api_client(session, url)
        assert await discover_regions(client) == ("cn-hangzhou", "cn-shanghai")
