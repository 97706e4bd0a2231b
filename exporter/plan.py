"""The pass plan: every setting a job or a pass runs with, resolved once per load or reload.

Data flows one way: configuration → ``build_plan`` → the scheduler (``Plan.jobs``) and the
passes (``PassPlan``). Nothing downstream reads the configuration again or knows how a default
is inherited: a collector's settings come from the account's ``collectors:`` block, then the
top-level one, then the collector's own declaration (``Collector.default_interval``,
``timeout_policy``, ``needs``, ``settings_model``).

Regions of ``regions: all`` accounts are found at run time; ``Plan.passes`` takes them as
input, so discovery changes the keys, never how a key's settings were worked out.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from exporter.apis import APIS, DISCOVERY_API
from exporter.collectors.base import Caller, Collector, CollectorConfig, PassContext
from exporter.config import AccountConfig, Config
from exporter.passes import PassLimits
from exporter.regiontable import Key

#: ``("discover", account)`` or ``("pass", account, region_id, collector)``.
JobKey = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CollectorPlan:
    """One collector for one account, every default resolved."""

    account: str
    collector: str
    api: str
    enabled: bool
    interval: float
    #: Longest one pass may take (seconds).
    timeout: float
    #: An instance of the collector's ``settings_model``, no field left to inherit.
    settings: CollectorConfig
    #: Set when the exporter switched the collector off itself (what it needs is off).
    off_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PassPlan:
    """Everything one pass of one (account, region, collector) runs with."""

    key: Key
    api: str
    interval: float
    limits: PassLimits
    #: The URL the pass calls (for the log and the tests; the client derives the same).
    endpoint: str
    page_size: int
    max_records: int
    filters: Mapping[str, tuple[str, ...]]
    settings: CollectorConfig

    def context(
        self,
        client: Caller,
        clock: Callable[[], float] = time.time,
        sibling: Callable[[str], object | None] = lambda name: None,
    ) -> PassContext:
        return PassContext(
            client=client,
            account=self.key[0],
            region_id=self.key[1],
            page_size=self.page_size,
            max_records=self.max_records,
            filters=self.filters,
            clock=clock,
            sibling=sibling,
            interval=self.interval,
            settings=self.settings,
        )


@dataclass(frozen=True, slots=True)
class AccountPlan:
    name: str
    #: Configured regions; ``None`` for ``regions: all`` (discovered).
    regions: tuple[str, ...] | None
    filters: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Plan:
    """The configuration as the daemon runs it."""

    accounts: Mapping[str, AccountPlan]
    #: Per (account, collector), in account then collector order.
    collectors: Mapping[tuple[str, str], CollectorPlan]
    #: Per API, the URL template a region's calls go to (``{region_id}`` filled per pass).
    endpoints: Mapping[str, Callable[[str], str]] = field(default_factory=dict)
    page_size: int = 50
    max_records: int = 100_000
    max_staleness: float = 3600.0
    #: How long a pass waits for the collector it needs (``refresh.timeout``).
    wait: float = 120.0
    discovery_interval: float = 300.0
    discovery_timeout: float = 120.0
    discovery_api: str = DISCOVERY_API

    def discovered_accounts(self) -> tuple[str, ...]:
        """Accounts with ``regions: all``."""
        return tuple(name for name, a in self.accounts.items() if a.regions is None)

    def off(self) -> Iterable[CollectorPlan]:
        """Collectors the exporter switched off itself, with their reason."""
        return (plan for plan in self.collectors.values() if plan.off_reason)

    def passes(self, discovered: Mapping[str, tuple[str, ...] | None]) -> dict[Key, PassPlan]:
        """Every pass to run: the accounts' regions × their enabled collectors."""
        out: dict[Key, PassPlan] = {}
        for (account_name, _), plan in self.collectors.items():
            if not plan.enabled:
                continue
            account = self.accounts[account_name]
            regions = account.regions
            if regions is None:
                regions = discovered.get(account_name) or ()
            for region in regions:
                key = (account_name, region, plan.collector)
                out[key] = self._pass(key, plan, account)
        return out

    def _pass(self, key: Key, plan: CollectorPlan, account: AccountPlan) -> PassPlan:
        # A collector slower than max_staleness would go stale between two good passes.
        limits = PassLimits(plan.timeout, max(self.max_staleness, plan.interval), self.wait)
        endpoint = self.endpoints.get(plan.api)
        return PassPlan(
            key=key,
            api=plan.api,
            interval=plan.interval,
            limits=limits,
            endpoint=endpoint(key[1]) if endpoint else "",
            page_size=self.page_size,
            max_records=self.max_records,
            filters=account.filters,
            settings=plan.settings,
        )

    def jobs(self, keys: Iterable[Key]) -> dict[JobKey, float]:
        """Job key → interval: discovery per ``regions: all`` account, one pass per key."""
        jobs: dict[JobKey, float] = {
            ("discover", name): self.discovery_interval for name in self.discovered_accounts()
        }
        for key in keys:
            plan = self.collectors.get((key[0], key[2]))
            if plan is not None:
                jobs[("pass", *key)] = plan.interval
        return jobs


def build_plan(config: Config, collectors: Sequence[Collector[Any]]) -> Plan:
    """Resolve ``config`` for ``collectors``, once."""
    refresh, api = config.refresh, config.api
    resolved: dict[tuple[str, str], CollectorPlan] = {}
    for account in config.accounts:
        for spec in collectors:
            resolved[(account.name, spec.name)] = resolve(config, account, spec)
    return Plan(
        accounts={
            a.name: AccountPlan(a.name, None if a.regions == "all" else a.regions, a.filters)
            for a in config.accounts
        },
        collectors=resolved,
        endpoints={name: functools.partial(spec.url, api) for name, spec in APIS.items()},
        page_size=api.page_size,
        max_records=api.max_records_per_region,
        max_staleness=refresh.max_staleness,
        wait=refresh.timeout,
        discovery_interval=refresh.interval,
        discovery_timeout=refresh.timeout,
    )


def resolve(config: Config, account: AccountConfig, spec: Collector[Any]) -> CollectorPlan:
    """One collector's settings for one account: account, then top level, then declaration.

    A collector whose ``needs`` is off for the account is switched off too (not an error: the
    configuration switched it off by saying so for what it reads); ``off_reason`` says why.
    """
    settings = _settings(config, account, spec)
    interval = settings.interval
    assert interval is not None  # _settings always resolves it
    enabled = bool(settings.enabled)
    reason = None
    if enabled and spec.needs is not None and not _enabled(config, account, spec.needs):
        enabled = False
        reason = (
            f"the {spec.name} collector needs the {spec.needs} collector,"
            f" which is disabled for account {account.name!r}"
        )
    return CollectorPlan(
        account=account.name,
        collector=spec.name,
        api=spec.api,
        enabled=enabled,
        interval=interval,
        timeout=_timeout(config, spec.timeout_policy, interval),
        settings=settings,
        off_reason=reason,
    )


def _timeout(config: Config, policy: Literal["refresh", "interval"], interval: float) -> float:
    """``refresh.timeout``, or up to 90 % of the collector's own interval: a pass never
    overlaps itself, and one rate-limited account can need longer than ``refresh.timeout``
    (10,000 VBRs: 1,600 CloudMonitor calls)."""
    if policy == "refresh":
        return config.refresh.timeout
    return max(config.refresh.timeout, 0.9 * interval)


def _blocks(config: Config, account: AccountConfig, name: str) -> list[CollectorConfig]:
    """The collector's blocks as written, most specific first (account, then top level)."""
    blocks = (account.collectors.entry(name), config.collectors.entry(name))
    return [block for block in blocks if block is not None]


def _enabled(config: Config, account: AccountConfig, name: str) -> bool:
    for block in _blocks(config, account, name):
        if block.enabled is not None:
            return block.enabled
    return True


def _settings(config: Config, account: AccountConfig, spec: Collector[Any]) -> CollectorConfig:
    """An instance of ``spec.settings_model`` with each field from the first block that sets
    it (not ``None``); ``enabled`` and ``interval`` default to on and the declared interval."""
    model = spec.settings_model
    values: dict[str, Any] = {}
    for name in model.model_fields:
        for block in _blocks(config, account, spec.name):
            value = getattr(block, name, None)
            if value is not None:
                values[name] = value
                break
    values.setdefault("enabled", True)
    default = spec.default_interval
    values.setdefault("interval", config.refresh.interval if default is None else default)
    return model.model_construct(**values)
