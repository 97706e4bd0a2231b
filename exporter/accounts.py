"""Accounts: their API clients, their region lists (configured or discovered) and which
(account, region, collector) keys the daemon runs.

Rate limiters belong to the account, not to a client generation: a reload builds new clients
with the same limiters, so passes still in flight and new ones share one budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp

from exporter.client import AccountClient, ClientSettings, Limiters, RequestObserver
from exporter.collectors.base import Collector, PassContext, PassError
from exporter.config import COLLECTOR_NAMES, AccountConfig, CollectorSettings, Config
from exporter.credentials import CredentialSource
from exporter.regiontable import Key

log = logging.getLogger(__name__)

CredentialFactory = Callable[[Any], CredentialSource]


CMS_API_VERSION = "2019-01-01"


CBN_API_VERSION = "2017-09-12"


def cbn_host(region_id: str) -> str:
    """CEN has one central host for every region (the region goes in the request)."""
    return "cbn.aliyuncs.com"


def cms_host(region_id: str) -> str:
    """CloudMonitor's regional host (built here: the SDK's map misses some regions)."""
    return f"metrics.{region_id}.aliyuncs.com"


def collector_settings(config: Config, account: str, name: str) -> CollectorSettings:
    """The configured settings; a collector the configuration does not know runs always."""
    if name not in COLLECTOR_NAMES:
        refresh = config.refresh
        return CollectorSettings(enabled=True, interval=refresh.interval, timeout=refresh.timeout)
    return config.collector_settings(account, name)


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
        self._limiters = {"vpc": Limiters(), "cms": Limiters(), "cbn": Limiters()}
        self._clients: dict[tuple[str, str], AccountClient] = {}
        self.configs: dict[str, AccountConfig] = {}
        # ``regions: all`` accounts: None until the first discovery answered, () if it failed.
        self.discovered: dict[str, tuple[str, ...] | None] = {}
        self.errors: dict[str, str] = {}

    def check(self, config: Config) -> None:
        """Build every credential source once, so a bad one fails before anything changes."""
        for account in config.accounts:
            self._credential_factory(account.credentials)

    def apply(
        self, config: Config, session: aiohttp.ClientSession, collectors: Iterable[str] = ()
    ) -> None:
        """New clients (same limiters) and region lists for ``config``; says which collectors
        the configuration turned off by itself."""
        self._build_clients(config, session)
        for account in config.accounts:
            for name in collectors:
                reason = collector_settings(config, account.name, name).auto_disabled_reason
                if reason:
                    log.info("collector off", extra={"account": account.name, "collector": name,
                                                     "reason": reason})  # fmt: skip
        self._apply_discovery(config)

    def _build_clients(self, config: Config, session: aiohttp.ClientSession) -> None:
        api = config.api
        settings = {
            "vpc": ClientSettings(
                endpoint=api.endpoint,
                request_timeout=api.request_timeout,
                retries=api.retries,
                max_requests_per_second=api.max_requests_per_second,
            ),
            "cms": ClientSettings(
                # One override for both APIs (a proxy, the simulator) unless CMS has its own.
                endpoint=api.cms_endpoint or api.endpoint,
                request_timeout=api.request_timeout,
                retries=api.retries,
                max_requests_per_second=api.cms_max_requests_per_second,
                api_version=CMS_API_VERSION,
                default_host=cms_host,
                success_field=True,
            ),
            "cbn": ClientSettings(
                endpoint=api.cbn_endpoint or api.endpoint,
                request_timeout=api.request_timeout,
                retries=api.retries,
                max_requests_per_second=api.max_requests_per_second,
                api_version=CBN_API_VERSION,
                default_host=cbn_host,
            ),
        }
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

    def context(
        self, config: Config, key: Key, api: str, clock: Callable[[], float]
    ) -> PassContext | None:
        """What a pass of ``key`` needs from its account; None once the account is gone."""
        account, region_id, collector = key
        client = self.client(account, api)
        account_cfg = self.configs.get(account)
        if client is None or account_cfg is None:
            return None
        return PassContext(
            client=client,
            account=account,
            region_id=region_id,
            page_size=config.api.page_size,
            max_records=config.api.max_records_per_region,
            filters=account_cfg.filters,
            clock=clock,
            interval=collector_settings(config, account, collector).interval,
        )

    def timeout(self, config: Config, key: Key) -> float:
        return collector_settings(config, key[0], key[2]).timeout or config.refresh.timeout

    def regions(self, account: AccountConfig) -> tuple[str, ...]:
        if account.regions == "all":
            return self.discovered.get(account.name) or ()
        return account.regions

    def keys(self, config: Config, collectors: Iterable[Collector[Any]]) -> list[Key]:
        """Every (account, region, collector) to run: configured regions × enabled collectors."""
        keys: list[Key] = []
        for account in self.configs.values():
            for collector in collectors:
                if not collector_settings(config, account.name, collector.name).enabled:
                    continue
                keys.extend((account.name, r, collector.name) for r in self.regions(account))
        return keys

    def jobs(self, config: Config, keys: Iterable[Key]) -> list[tuple[tuple[str, ...], float]]:
        """(job ID parts, interval) of every scheduled job: discovery per ``regions: all``
        account, and one pass per key at its collector's interval."""
        jobs: list[tuple[tuple[str, ...], float]] = [
            (("discover", name), config.refresh.interval) for name in self.discovered
        ]
        for account, region, name in keys:
            interval = collector_settings(config, account, name).interval
            jobs.append((("pass", account, region, name), interval))
        return jobs

    def undiscovered(self) -> set[str]:
        """Accounts whose region discovery has not succeeded yet (their state is kept)."""
        return {name for name, regions in self.discovered.items() if not regions}

    async def discover(self, account: str, timeout: float) -> bool:
        """Ask DescribeRegions for ``account``; True when its region list changed."""
        client = self.client(account, "vpc")
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
