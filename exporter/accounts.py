"""Accounts: their API clients (one per API of ``exporter.apis.APIS``) and the regions of
``regions: all`` accounts, discovered at run time.

Rate limiters belong to the account, not to a client generation: a reload builds new clients
with the same limiters, so passes still in flight and new ones share one budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from exporter.apis import APIS, DISCOVERY_API
from exporter.client import AccountClient, Limiters, RequestObserver
from exporter.collectors.base import PassError
from exporter.config import AccountConfig, Config
from exporter.credentials import CredentialSource

log = logging.getLogger(__name__)

CredentialFactory = Callable[[Any], CredentialSource]


async def discover_regions(
    client: AccountClient, via_region: str = "cn-hangzhou"
) -> tuple[str, ...]:
    """Region IDs from DescribeRegions (for ``regions: all``)."""
    body = await client.call("DescribeRegions", via_region, {"RegionId": via_region})
    regions = body.get("Regions", {})
    items = regions.get("Region") if isinstance(regions, Mapping) else None
    if not isinstance(items, list):
        raise PassError("DescribeRegions answered without Regions.Region")
    found = {item.get("RegionId") for item in items if isinstance(item, Mapping)} - {None, ""}
    return tuple(sorted(str(region) for region in found))


class Accounts:
    """Clients per (account, API) and discovered regions, rebuilt by ``apply`` on reload."""

    def __init__(self, credential_factory: CredentialFactory, observer: RequestObserver) -> None:
        self._credential_factory = credential_factory
        self._observer = observer
        self._limiters = {name: Limiters() for name in APIS}
        self._clients: dict[tuple[str, str], AccountClient] = {}
        self.configs: dict[str, AccountConfig] = {}
        # ``regions: all`` accounts: None until the first discovery answered, () if it failed.
        self.discovered: dict[str, tuple[str, ...] | None] = {}
        self.errors: dict[str, str] = {}

    def check(self, config: Config) -> None:
        """Build every credential source once, so a bad one fails before anything changes."""
        for account in config.accounts:
            self._credential_factory(account.credentials)

    def apply(self, config: Config, session: aiohttp.ClientSession) -> None:
        """New clients (same limiters) and region lists for ``config``."""
        self._build_clients(config, session)
        self._apply_discovery(config)

    def _build_clients(self, config: Config, session: aiohttp.ClientSession) -> None:
        settings = {name: api.client_settings(config.api) for name, api in APIS.items()}
        self._clients = {}
        for account in config.accounts:
            source = self._credential_factory(account.credentials)
            for name, client_settings in settings.items():
                limiter = self._limiters[name].get(
                    account.name, client_settings.max_requests_per_second
                )
                self._clients[(account.name, name)] = AccountClient(
                    session,
                    account.name,
                    source,
                    client_settings,
                    observer=self._observer,
                    limiter=limiter,
                )
        names = {account.name for account in config.accounts}
        for limiters in self._limiters.values():
            limiters.forget(names)

    def _apply_discovery(self, config: Config) -> None:
        old = self.configs
        self.configs = {account.name: account for account in config.accounts}
        for account in config.accounts:
            if account.regions != "all":
                self.discovered.pop(account.name, None)
                self.errors.pop(account.name, None)
            elif account.name not in old or old[account.name].regions != "all":
                self.discovered[account.name] = None
        for name in set(self.discovered) - set(self.configs):
            del self.discovered[name]
            self.errors.pop(name, None)

    def client(self, account: str, api: str) -> AccountClient | None:
        return self._clients.get((account, api))

    def undiscovered(self) -> set[str]:
        """Accounts whose region discovery has not succeeded yet (their state is kept)."""
        return {name for name, regions in self.discovered.items() if not regions}

    async def discover(self, account: str, timeout: float) -> bool:
        """Ask DescribeRegions for ``account``; True when its region list changed."""
        client = self.client(account, DISCOVERY_API)
        if client is None or account not in self.discovered:
            return False
        try:
            async with asyncio.timeout(timeout):
                regions = await discover_regions(client)
        except Exception as error:
            message = str(error) or type(error).__name__
            self.errors[account] = message
            log.error("region discovery failed", extra={"account": account, "error": message})
            if self.discovered.get(account) is None:
                self.discovered[account] = ()
            return False
        self.errors.pop(account, None)
        if self.discovered.get(account) == regions:
            return False
        self.discovered[account] = regions
        log.info("regions discovered", extra={"account": account, "regions": len(regions)})
        return True
