"""Wiring: config → clients → refresh jobs → region blocks → exposition → HTTP.

``Exporter`` is the running daemon (also used in-process by tests: ``await start()``, ``.url``,
``await stop()``); ``run_daemon`` adds signals, ``run_once`` does one pass for ``--once``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from exporter import __version__
from exporter.client import AccountClient, ClientSettings
from exporter.collector import collect_region, discover_regions
from exporter.config import AccountConfig, Config, ConfigError, CredentialsConfig
from exporter.credentials import CredentialError, CredentialSource, build_credential_source
from exporter.metrics import (
    Chunk,
    Exposition,
    RegionBlock,
    SelfMetrics,
    build_block,
    build_exposition,
    family_headers,
    render_connections,
    tag_label_names,
)
from exporter.scheduler import RefreshScheduler
from exporter.server import build_app
from exporter.snapshot import PhysicalConnection, RegionStatus
from exporter.state import StateStore

log = logging.getLogger(__name__)

CredentialFactory = Callable[[CredentialsConfig], CredentialSource]
_DISCOVER = "discover"
_REFRESH = "refresh"


def _job_id(kind: str, account: str, region_id: str = "") -> str:
    return f"{kind}\x1f{account}\x1f{region_id}"


def _parse_job_id(job_id: str) -> tuple[str, str, str]:
    kind, account, region_id = job_id.split("\x1f")
    return kind, account, region_id


class Exporter:
    """The exporter's state and lifecycle: clients, refresh jobs, rendered blocks, HTTP server."""

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
    ) -> None:
        self._config = config
        self._loader = loader
        self._credential_factory = credential_factory
        self._middlewares = middlewares
        self._on_prepare = on_prepare
        self._ssl_context = ssl_context
        self._clock = clock
        self.self_metrics = SelfMetrics(__version__)
        self._state = StateStore(config.state_file)
        self._state.load()
        self._session: aiohttp.ClientSession | None = None
        self._clients: dict[str, AccountClient] = {}
        self._accounts: dict[str, AccountConfig] = {}
        self._discovered: dict[str, tuple[str, ...] | None] = {}
        self._discovery_errors: dict[str, str] = {}
        self._statuses: dict[tuple[str, str], RegionStatus] = {}
        self._connection_chunks: dict[tuple[str, str], dict[str, Chunk]] = {}
        self._blocks: dict[tuple[str, str], RegionBlock] = {}
        self._headers = family_headers(config.refresh.interval)
        self._tag_labels = tag_label_names(config.labels.tags)
        self._exposition = build_exposition([], self._headers)
        self._unknown_logged: set[tuple[str, str]] = set()
        self._scheduler: RefreshScheduler | None = None
        self._running: set[asyncio.Task[Any]] = set()
        # One render at a time: rendering holds the GIL anyway, and parallel renders of many
        # regions would multiply the transient memory of their line lists.
        self._render_gate = asyncio.Semaphore(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def config(self) -> Config:
        return self._config

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Session and clients, no server or scheduler (``run_once`` stops here)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=60),
            headers={"User-Agent": f"expressconnect-exporter/{__version__}"},
        )
        self._apply_accounts(self._config)
        self.self_metrics.reload_ok.set(1)
        self.self_metrics.reload_timestamp.set(self._clock())

    async def start(self) -> None:
        """Open, schedule the refresh jobs (first runs now) and serve HTTP."""
        await self.open()
        self._scheduler = RefreshScheduler(self._run_job)
        self._scheduler.start()
        self._sync_jobs()
        app = build_app(self, self._config.web.telemetry_path, self._middlewares, self._on_prepare)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        web_cfg = self._config.web
        site = web.TCPSite(
            self._runner, web_cfg.listen_host, web_cfg.listen_port, ssl_context=self._ssl_context
        )
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        host, port = self._runner.addresses[0][:2]
        scheme = "https" if self._ssl_context else "http"
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        self.url = (
            f"{scheme}://{shown}:{port}" if ":" not in shown else f"{scheme}://[{shown}]:{port}"
        )
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

    def _apply_accounts(self, config: Config) -> None:
        assert self._session is not None
        settings = ClientSettings(
            endpoint=config.api.endpoint,
            request_timeout=config.api.request_timeout,
            retries=config.api.retries,
            max_requests_per_second=config.api.max_requests_per_second,
        )
        self._clients = {
            account.name: AccountClient(
                self._session,
                account.name,
                self._credential_factory(account.credentials),
                settings,
                observer=self.self_metrics.observe_request,
            )
            for account in config.accounts
        }
        old_accounts = self._accounts
        self._accounts = {account.name: account for account in config.accounts}
        for account in config.accounts:
            old = old_accounts.get(account.name)
            if account.regions != "all":
                self._discovered.pop(account.name, None)
                self._discovery_errors.pop(account.name, None)
            elif old is None or old.regions != "all":
                self._discovered[account.name] = None
        for name in set(self._discovered) - set(self._accounts):
            del self._discovered[name]
            self._discovery_errors.pop(name, None)
        self._config = config
        self._reconcile_regions()

    def _check_credentials(self, config: Config) -> None:
        """Build every account's credential source once, so a bad one fails before applying."""
        for account in config.accounts:
            self._credential_factory(account.credentials)

    def _wanted_regions(self) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for account in self._accounts.values():
            regions = (
                self._discovered.get(account.name) or ()
                if account.regions == "all"
                else account.regions
            )
            keys.extend((account.name, region_id) for region_id in regions)
        return keys

    def _reconcile_regions(self) -> None:
        """Make the region table match the configuration (and discovery results)."""
        wanted = self._wanted_regions()
        for key in set(self._statuses) - set(wanted):
            del self._statuses[key]
            self._connection_chunks.pop(key, None)
            self._blocks.pop(key, None)
            self.self_metrics.forget_region(*key)
        for key in wanted:
            if key not in self._statuses:
                self._statuses[key] = RegionStatus(account=key[0], region_id=key[1])
                self._blocks[key] = build_block(self._statuses[key], None)
        # Forget persisted times only for regions known to be gone: an account whose region
        # discovery has not succeeded yet keeps its entries.
        undiscovered = {name for name, regions in self._discovered.items() if not regions}
        self._state.forget_regions(wanted, keep_accounts=undiscovered)
        self._publish()

    def _sync_jobs(self) -> None:
        if self._scheduler is None:
            return
        jobs = [_job_id(_DISCOVER, name) for name in self._discovered]
        jobs += [_job_id(_REFRESH, account, region) for account, region in self._statuses]
        self._scheduler.set_jobs(jobs, self._config.refresh.interval)

    async def reload(self) -> tuple[bool, str]:
        """Re-read the configuration; an invalid one keeps the running one (and says so)."""
        if self._loader is None:
            return False, "no configuration loader"
        try:
            config = self._loader()
        except (ConfigError, OSError) as error:
            self.self_metrics.reload_ok.set(0)
            self.self_metrics.invalidate()
            log.error(
                "configuration reload failed, keeping the running configuration",
                extra={"error": str(error)},
            )
            return False, f"reload failed, keeping the running configuration: {error}"
        old = self._config
        if config.web != old.web:
            log.warning("web settings change on reload only after a restart")
        if config.state_file != old.state_file:
            log.warning("state_file changes on reload only after a restart")
        config = config.model_copy(update={"web": old.web, "state_file": old.state_file})
        try:
            self._check_credentials(config)
        except CredentialError as error:
            self.self_metrics.reload_ok.set(0)
            self.self_metrics.invalidate()
            log.error(
                "configuration reload failed, keeping the running configuration",
                extra={"error": str(error)},
            )
            return False, f"reload failed, keeping the running configuration: {error}"
        if config.log != old.log:
            from exporter.logs import setup_logging

            setup_logging(config.log.level, config.log.format)
        if config.refresh.interval != old.refresh.interval or config.labels != old.labels:
            self._headers = family_headers(config.refresh.interval)
            self._tag_labels = tag_label_names(config.labels.tags)
            await self._rerender_all()
        self._apply_accounts(config)
        self._sync_jobs()
        self.self_metrics.reload_ok.set(1)
        self.self_metrics.reload_timestamp.set(self._clock())
        log.info("configuration reloaded", extra={"accounts": len(config.accounts)})
        return True, "configuration reloaded"

    async def _rerender_all(self) -> None:
        for key, status in list(self._statuses.items()):
            if key in self._connection_chunks and status.snapshot is not None:
                since = {k: v.status_since for k, v in self._state.get(*key).items()}
                async with self._render_gate:
                    self._connection_chunks[key] = await asyncio.to_thread(
                        render_connections,
                        key[0],
                        key[1],
                        status.snapshot.connections,
                        since,
                        self._tag_labels,
                    )
                self._blocks[key] = build_block(status, self._connection_chunks[key])
        self._publish()

    # ------------------------------------------------------------------ refresh

    async def _run_job(self, job_id: str) -> None:
        kind, account, region_id = _parse_job_id(job_id)
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        try:
            if kind == _DISCOVER:
                await self.discover(account)
            else:
                await self.refresh(account, region_id)
        except asyncio.CancelledError:  # stop() cancels passes in flight
            return
        except Exception:  # a bug must not kill the scheduler; say where
            log.exception("refresh job crashed", extra={"job": job_id.replace("\x1f", "/")})

    async def discover(self, account: str) -> None:
        """``regions: all``: ask DescribeRegions which regions exist for this account."""
        client = self._clients.get(account)
        if client is None:
            return
        try:
            async with asyncio.timeout(self._config.refresh.timeout):
                regions = await discover_regions(client)
        except Exception as error:
            message = str(error) or type(error).__name__
            self._discovery_errors[account] = message
            log.error("region discovery failed", extra={"account": account, "error": message})
            if self._discovered.get(account) is None and account in self._discovered:
                self._discovered[account] = ()
            return
        self._discovery_errors.pop(account, None)
        if account in self._discovered and self._discovered[account] != regions:
            self._discovered[account] = regions
            log.info("regions discovered", extra={"account": account, "regions": len(regions)})
            self._reconcile_regions()
            self._sync_jobs()

    async def refresh(self, account: str, region_id: str) -> RegionStatus | None:
        """One paging pass; publishes the region's new block whatever the outcome."""
        key = (account, region_id)
        client = self._clients.get(account)
        account_cfg = self._accounts.get(account)
        if client is None or account_cfg is None or key not in self._statuses:
            return None
        config = self._config
        started_at = self._clock()
        started = time.monotonic()
        try:
            async with asyncio.timeout(config.refresh.timeout):
                snapshot = await collect_region(
                    client,
                    region_id,
                    page_size=config.api.page_size,
                    filters=account_cfg.filters,
                    clock=self._clock,
                )
        except Exception as error:
            if isinstance(error, TimeoutError):
                message = f"refresh timed out after {config.refresh.timeout:g}s"
            else:
                message = str(error) or type(error).__name__
            status = self._statuses.get(key)
            if status is None:
                return None
            last_success = status.last_success
            stale = status.snapshot is not None and (
                last_success is None or started_at - last_success > config.refresh.max_staleness
            )
            status = dataclasses.replace(
                status,
                passes=status.passes + 1,
                up=False,
                stale=stale,
                last_attempt=started_at,
                last_duration=time.monotonic() - started,
                last_error=message,
            )
            if stale:
                self._connection_chunks.pop(key, None)
            self.self_metrics.refresh_errors.labels(account, region_id).inc()
            log.warning(
                "refresh failed, keeping the previous snapshot",
                extra={
                    "account": account,
                    "region_id": region_id,
                    "error": message,
                    "stale": stale,
                },
            )
        else:
            since = self._state.observe(account, region_id, snapshot.connections, started_at)
            self._count_unknown_enums(snapshot.connections, account, region_id)
            async with self._render_gate:
                chunks = await asyncio.to_thread(
                    render_connections,
                    account,
                    region_id,
                    snapshot.connections,
                    since,
                    self._tag_labels,
                )
            current = self._statuses.get(key)
            if current is None:  # removed by a reload meanwhile
                return None
            status = dataclasses.replace(
                current,
                snapshot=snapshot,
                passes=current.passes + 1,
                up=True,
                stale=False,
                last_attempt=started_at,
                last_success=snapshot.completed_at,
                last_duration=snapshot.duration_seconds,
                last_error=None,
            )
            self._connection_chunks[key] = chunks
            await self._state.save()
            log.debug(
                "refreshed",
                extra={
                    "account": account,
                    "region_id": region_id,
                    "connections": len(snapshot.connections),
                    "seconds": round(snapshot.duration_seconds, 3),
                },
            )
        if key not in self._statuses:
            return None
        self._statuses[key] = status
        self._blocks[key] = build_block(status, self._connection_chunks.get(key))
        self._publish()
        return status

    def _count_unknown_enums(
        self, connections: Sequence[PhysicalConnection], account: str, region: str
    ) -> None:
        for conn in connections:
            for field, value in conn.unknown_enums():
                self.self_metrics.unknown_enum_values.labels(field).inc()
                if (field, value) not in self._unknown_logged:
                    self._unknown_logged.add((field, value))
                    log.warning(
                        "unknown enumeration value exported as its own series",
                        extra={
                            "field": field,
                            "value": value,
                            "account": account,
                            "region_id": region,
                            "physical_connection_id": conn.id,
                        },
                    )

    def _publish(self) -> None:
        """Swap in a new exposition (parts are shared; scrapes in flight keep the old one)."""
        self._exposition = build_exposition(self._blocks.values(), self._headers)
        self.self_metrics.invalidate()

    async def refresh_everything(self) -> bool:
        """Discovery then one pass over every region, concurrently; True when all succeeded."""
        await asyncio.gather(*(self.discover(name) for name in list(self._discovered)))
        keys = list(self._statuses)
        results = await asyncio.gather(*(self.refresh(*key) for key in keys))
        return not self._discovery_errors and all(r is not None and r.up for r in results)

    # ------------------------------------------------------------------ what HTTP reads

    def exposition(self) -> Exposition:
        return self._exposition

    def live_block(self, *, openmetrics: bool, gzipped: bool = False) -> bytes:
        return self.self_metrics.render(openmetrics=openmetrics, gzipped=gzipped)

    def region_statuses(self) -> list[RegionStatus]:
        return [self._statuses[key] for key in sorted(self._statuses)]

    def discovery_errors(self) -> dict[str, str]:
        return dict(self._discovery_errors)

    def ready(self) -> bool:
        if any(regions is None for regions in self._discovered.values()):
            return False
        return all(status.passes > 0 for status in self._statuses.values())


async def run_once(config: Config) -> tuple[bytes, bool]:
    """One pass over every region: the text exposition and whether every region succeeded."""
    exporter = Exporter(config)
    try:
        await exporter.open()
    except CredentialError as error:
        log.error("invalid credentials", extra={"error": str(error)})
        await exporter.stop()
        return b"", False
    try:
        ok = await exporter.refresh_everything()
        body = b"".join(exporter.exposition().parts(openmetrics=False, gzipped=False))
        body += exporter.self_metrics.render(openmetrics=False)
    finally:
        await exporter.stop()
    return body, ok


async def run_daemon(loader: Callable[[], Config], *, web_config_file: Path | None = None) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads. Returns the process exit status."""
    try:
        config = loader()
    except ConfigError as error:
        log.error("invalid configuration", extra={"error": str(error)})
        return 2
    middlewares: list[Any] = []
    on_prepare: list[Any] = []
    ssl_context: ssl.SSLContext | None = None
    web_config: Any = None
    if web_config_file is not None:
        from exporter.webconfig import WebConfigManager  # written by the deploy part

        web_config = WebConfigManager(web_config_file)
        middlewares.append(web_config.middleware)
        on_prepare.append(web_config.on_response_prepare)
        ssl_context = web_config.ssl_context
    exporter = Exporter(
        config,
        loader=loader,
        middlewares=middlewares,
        on_prepare=on_prepare,
        ssl_context=ssl_context,
    )
    try:
        await exporter.start()
    except CredentialError as error:
        log.error("invalid credentials", extra={"error": str(error)})
        await exporter.stop()
        return 2
    except OSError as error:
        log.error(
            "cannot listen", extra={"address": config.web.listen_address, "error": str(error)}
        )
        return 1
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloads: set[asyncio.Task[Any]] = set()

    def on_hup() -> None:
        task = loop.create_task(exporter.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await stopping.wait()
        log.info("shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await exporter.stop()
        if web_config is not None:
            web_config.close()
    return 0
