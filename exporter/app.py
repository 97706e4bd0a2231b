"""Wiring: config → accounts and clients → one job per (account, region, collector) → region
table → exposition → HTTP.

``Exporter`` is the running daemon (also used in-process by tests: ``await start()``, ``.url``,
``await stop()``); ``run_daemon`` adds signals, ``run_once`` does one pass for ``--once``. It
knows no collector by name: they come from ``exporter.collectors``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from exporter import __version__
from exporter.accounts import Accounts, CredentialFactory
from exporter.collectors import COLLECTORS, by_name
from exporter.collectors.base import Collector
from exporter.config import Config, ConfigError, keep_restart_only_settings
from exporter.credentials import CredentialError, build_credential_source
from exporter.exposition import Exposition
from exporter.families import tag_label_names
from exporter.logs import setup_logging
from exporter.metricfilter import load_warnings, rendering_tables
from exporter.passes import Passes
from exporter.plan import JobKey, PassPlan, Plan, build_plan
from exporter.regiontable import Key, RegionStatus, RegionTable
from exporter.scheduler import RefreshScheduler
from exporter.selfmetrics import SelfMetrics
from exporter.server import build_app, listen
from exporter.state_file import StateStore

log = logging.getLogger(__name__)


class Exporter:
    """The exporter's lifecycle: session, jobs, reload and what the HTTP layer reads."""

    version = __version__

    def __init__(
        self,
        config: Config,
        *,
        loader: Callable[[], Config] | None = None,
        credential_factory: CredentialFactory = build_credential_source,
        middlewares: Sequence[Any] = (),
        on_prepare: Sequence[Any] = (),
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
        collectors: Sequence[Collector[Any]] = COLLECTORS,
    ) -> None:
        self._config = config
        self._loader = loader
        self._http = (middlewares, on_prepare, ssl_context)
        self._clock = clock
        self._collectors = by_name(tuple(collectors))
        self._plan: Plan = build_plan(config, tuple(collectors))
        self._passes_planned: dict[Key, PassPlan] = {}
        self.self_metrics = SelfMetrics(__version__)
        self.self_metrics.declare_enum_fields(f for c in collectors for f in c.enum_fields)
        self.self_metrics.declare_tallies(
            {c.name: tuple((t.name, t.help) for t in c.tallies) for c in collectors}
        )
        self._state = StateStore(config.state_file)
        self._state.load()
        self._accounts = Accounts(credential_factory, self.self_metrics.observe_request)
        table = RegionTable(self._collectors, config.refresh.interval)
        self._passes = Passes(table, self._state, self.self_metrics, self._collectors, clock)
        self._passes.set_tags(tag_label_names(config.labels.tags))
        self._use_families(config)
        self._session: aiohttp.ClientSession | None = None
        self._scheduler: RefreshScheduler[JobKey] | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def open(self) -> None:
        """Session and clients, no server or scheduler (``run_once`` stops here)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=60),
            headers={"User-Agent": f"expressconnect-exporter/{__version__}"},
        )
        self._apply(self._config)
        self.self_metrics.loaded(ok=True, now=self._clock())

    async def start(self) -> None:
        """Open, schedule the jobs (first runs now) and serve HTTP."""
        await self.open()
        self._scheduler = RefreshScheduler(self._run_job, wall=self._clock)
        self._scheduler.start()
        self._sync_jobs()
        middlewares, on_prepare, ssl_context = self._http
        web_cfg = self._config.web
        app = build_app(self, web_cfg.telemetry_path, middlewares, on_prepare,
                        write_timeout=web_cfg.write_timeout)  # fmt: skip
        try:
            address = (web_cfg.listen_host, web_cfg.listen_port)
            self._runner, self.url = await listen(app, address, ssl_context)
        except OSError:
            await self.stop()
            raise
        log.info("listening", extra={"url": self.url, "version": __version__})

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown()
            self._scheduler = None
        for task in list(self._running):  # passes in flight: their results are not needed
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._state.save()

    async def __aenter__(self) -> Exporter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ configuration

    def _apply(self, config: Config) -> None:
        """Resolve ``config`` into the plan once; clients, keys and jobs follow from it."""
        assert self._session is not None
        self._accounts.apply(config, self._session)
        self._config = config
        self._plan = build_plan(config, tuple(self._collectors.values()))
        for off in self._plan.off():
            log.info("collector off", extra={"account": off.account, "collector": off.collector,
                                             "reason": off.off_reason})  # fmt: skip
        self._reconcile()

    def _reconcile(self) -> None:
        """The region table, error counters and state follow the planned keys."""
        self._passes_planned = self._plan.passes(self._accounts.discovered)
        keys = list(self._passes_planned)
        self._passes.table.reconcile(keys)
        self.self_metrics.track_regions(keys)
        # Times of objects no pass updates any more (region gone, collector switched off) go.
        kinds = {
            (account, region, self._collectors[name].state_kind)
            for account, region, name in keys
            if self._collectors[name].states is not None
        }
        self._state.forget(kinds, keep_accounts=self._accounts.undiscovered())
        self._sync_jobs()

    def _use_families(self, config: Config) -> None:
        """Render only the families ``metrics:`` keeps; log what that drops and matters."""
        keep = config.metrics.family_filter
        self._passes.table.set_rendering(rendering_tables(self._collectors, keep))
        for message, fields in load_warnings(keep, tuple(self._collectors.values())):
            log.warning(message, extra=fields)

    def _sync_jobs(self) -> None:
        if self._scheduler is None:
            return
        self._scheduler.set_jobs(self._plan.jobs(self._passes.table.configured()))

    async def reload(self) -> tuple[bool, str]:
        """Re-read the configuration (off the event loop); an invalid one keeps the running one."""
        if self._loader is None:
            return False, "no configuration loader"
        old = self._config
        try:
            config = await asyncio.to_thread(self._loader)
            self._accounts.check(config)
        except (ConfigError, CredentialError, OSError) as error:
            self.self_metrics.loaded(ok=False, now=self._clock())
            problems = "; ".join(str(error).splitlines())  # one log line, every problem
            log.error("configuration reload failed, keeping the running configuration",
                      extra={"error": problems})  # fmt: skip
            return False, f"reload failed, keeping the running configuration: {error}"
        config = keep_restart_only_settings(config, old)
        if config.log != old.log:
            setup_logging(config.log.level, config.log.format)
        if config.refresh.interval != old.refresh.interval:
            self._passes.table.set_interval(config.refresh.interval)
        if config.labels != old.labels:
            self._passes.set_tags(tag_label_names(config.labels.tags))
        if config.metrics != old.metrics:
            self._use_families(config)
        if config.labels != old.labels or config.metrics != old.metrics:
            await self._passes.rerender()
        self._apply(config)
        await self._state.save()  # without the times of what was switched off
        self.self_metrics.loaded(ok=True, now=self._clock())
        log.info("configuration reloaded", extra={"accounts": len(config.accounts)})
        return True, "configuration reloaded"

    # ------------------------------------------------------------------ passes

    async def _run_job(self, job: JobKey) -> None:
        kind, *args = job
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        try:
            if kind == "discover":
                await self.discover(args[0])
            else:
                await self.refresh(*args)
        except asyncio.CancelledError:  # stop() cancels passes in flight
            return
        except Exception:  # a bug must not kill the scheduler; say where
            log.exception("job crashed", extra={"job": "/".join(job)})

    async def discover(self, account: str) -> None:
        """``regions: all``: ask DescribeRegions which regions exist for this account."""
        if await self._accounts.discover(account, self._plan.discovery_timeout):
            self._reconcile()

    async def refresh(self, account: str, region_id: str, collector: str) -> RegionStatus | None:
        """One pass of one collector, as planned; publishes the outcome whatever it is."""
        key = (account, region_id, collector)
        planned = self._passes_planned.get(key)
        client = None if planned is None else self._accounts.client(account, planned.api)
        if planned is None or client is None:  # not planned (any more)
            return None
        ctx = planned.context(client, self._clock, self._passes.sibling(key))
        return await self._passes.run(ctx, collector, planned.limits)

    async def refresh_everything(self) -> bool:
        """Discovery then one pass of every key, concurrently; True when all succeeded."""
        await asyncio.gather(*(self.discover(name) for name in list(self._accounts.discovered)))
        results = []
        for name in self._collectors:  # in table order: a collector may read an earlier one's
            keys = [key for key in self._passes.table.configured() if key[2] == name]
            results += await asyncio.gather(*(self.refresh(*key) for key in keys))
        return not self._accounts.errors and all(r is not None and r.up for r in results)

    # ------------------------------------------------------------------ what HTTP reads

    def exposition(self) -> Exposition:
        return self._passes.table.exposition

    def live_block(self, *, openmetrics: bool, gzipped: bool = False) -> bytes:
        return self.self_metrics.render(openmetrics=openmetrics, gzipped=gzipped)

    def region_statuses(self) -> list[RegionStatus]:
        return self._passes.table.statuses()

    def discovery_errors(self) -> dict[str, str]:
        return dict(self._accounts.errors)

    def ready(self) -> bool:
        if any(regions is None for regions in self._accounts.discovered.values()):
            return False
        # A pass that waits on another collector's data counts once it was attempted.
        return all(s.last_attempt is not None for s in self._passes.table.statuses())

    def body(self, *, openmetrics: bool = False) -> bytes:
        """The whole exposition as ``/metrics`` would send it (for ``--once``)."""
        parts = self.exposition().parts(openmetrics=openmetrics, gzipped=False)
        return b"".join(parts) + self.live_block(openmetrics=openmetrics)
