"""The processes around ``Exporter``: ``--once`` (one pass, exposition on stdout) and the
daemon (signals: SIGTERM/SIGINT stop, SIGHUP reloads)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exporter.app import Exporter
from exporter.config import Config, ConfigError
from exporter.credentials import CredentialError

log = logging.getLogger(__name__)


async def run_once(config: Config) -> tuple[bytes, bool]:
    """One pass of every key: the text exposition and whether every pass succeeded."""
    exporter = Exporter(config)
    try:
        await exporter.open()
        ok = await exporter.refresh_everything()
        return exporter.body(), ok
    except CredentialError as error:
        log.error("invalid credentials", extra={"error": str(error)})
        return b"", False
    finally:
        await exporter.stop()


async def run_daemon(loader: Callable[[], Config], *, web_config_file: Path | None = None) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP reloads. Returns the process exit status."""
    try:
        config = loader()
    except ConfigError as error:
        log.error("invalid configuration", extra={"error": str(error)})
        return 2
    web_config: Any = None
    options: dict[str, Any] = {}
    if web_config_file is not None:
        from exporter.webconfig import WebConfigManager

        web_config = WebConfigManager(web_config_file)
        options = {
            "middlewares": [web_config.middleware],
            "on_prepare": [web_config.on_response_prepare],
            "ssl_context": web_config.ssl_context,
        }
    exporter = Exporter(config, loader=loader, **options)
    try:
        await exporter.start()
    except CredentialError as error:
        log.error("invalid credentials", extra={"error": str(error)})
        await exporter.stop()
        return 2
    except OSError as error:
        log.error("cannot listen", extra={"address": config.web.listen_address,
                                          "error": str(error)})  # fmt: skip
        return 1
    try:
        await _serve_until_signalled(exporter)
    finally:
        await exporter.stop()
        if web_config is not None:
            web_config.close()
    return 0


async def _serve_until_signalled(exporter: Exporter) -> None:
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
