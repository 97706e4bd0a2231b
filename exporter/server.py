"""HTTP: ``/metrics`` streams prepared bytes, plus health, readiness, the status page and reload.

A scrape only reads what the refresh jobs already rendered: it never waits on the cloud API.
The connection guards (header and keep-alive timeouts, client-error and out-of-descriptor
logging) live in ``exporter.connguard``, the status page in ``exporter.statuspage``; this
module keeps the routes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from exporter import runbookpage, statuspage
from exporter.connguard import (
    CLIENT_ERROR_LOG_INTERVAL,
    HEADER_TIMEOUT,
    GuardedTCPSite,
    LogThrottle,
    handler_args,
    install_accept_error_handler,
    make_runner,
)
from exporter.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, Exposition
from exporter.regiontable import RegionStatus
from exporter.routes import ROUTES

# The server's logger: these lines are about its connections.
log = logging.getLogger("exporter.server")


class Backend(Protocol):
    """What the HTTP layer reads from the running exporter."""

    version: str

    def exposition(self) -> Exposition: ...

    def live_block(self, *, openmetrics: bool, gzipped: bool) -> bytes: ...

    def region_statuses(self) -> Sequence[RegionStatus]: ...

    def discovery_errors(self) -> dict[str, str]: ...

    def ready(self) -> bool: ...

    async def reload(self) -> tuple[bool, str]: ...


_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


def _parse_q(params: Sequence[str]) -> float:
    """The entry's quality; a malformed q counts as 0 (not acceptable) rather than raising."""
    quality = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            quality = float(value) if _QVALUE.match(value) else 0.0
    return quality


def parse_quality_list(header: str) -> list[tuple[str, float]]:
    """``(token, q)`` for each entry of an Accept or Accept-Encoding header, token lowercased
    and stripped of its other parameters. Never raises: whatever a client sends, the worst case
    is an entry that matches nothing."""
    entries: list[tuple[str, float]] = []
    for entry in header.split(","):
        token, *params = entry.split(";")
        token = token.strip().lower()
        if token:
            entries.append((token, _parse_q(params)))
    return entries


def _best(entries: Sequence[tuple[str, float]], *tokens: str) -> float | None:
    """Highest q among entries naming one of ``tokens``; None when none does."""
    qualities = [q for token, q in entries if token in tokens]
    return max(qualities) if qualities else None


def wants_openmetrics(accept: str) -> bool:
    """OpenMetrics only when asked for by name, with a q at least that of text/plain.

    text/plain's q comes from its most specific match (``text/plain``, then ``text/*``, then
    ``*/*``), as in RFC 9110; a wildcard alone never selects OpenMetrics, so ``curl`` and
    browsers get the classic text format.
    """
    entries = parse_quality_list(accept)
    openmetrics = _best(entries, "application/openmetrics-text")
    if not openmetrics:
        return False
    text = _best(entries, "text/plain")
    for wildcard in ("text/*", "*/*"):
        if text is None:
            text = _best(entries, wildcard)
    return openmetrics >= (text or 0.0)


def wants_gzip(accept_encoding: str) -> bool:
    """gzip when named (``gzip`` or ``x-gzip``) with q > 0 and at least identity's q.

    identity's q is its own entry, else ``*``'s, else 1 (always acceptable unless refused).
    """
    entries = parse_quality_list(accept_encoding)
    gzip = _best(entries, "gzip", "x-gzip")
    if not gzip:
        return False
    identity = _best(entries, "identity")
    if identity is None:
        identity = _best(entries, "*")
    return gzip >= (1.0 if identity is None else identity)


#: Bytes handed to the socket at a time. A reader that does not read holds at most this plus
#: the transport's high-water mark (64 KiB) in its send buffer, however large a part is: a
#: whole part would be copied into the buffer of every stalled reader.
WRITE_SLICE = 64 * 1024
#: Plain bytes inflated per trip to a worker thread.
INFLATE_BATCH = 256 * 1024
#: Default ``web.write_timeout``: seconds a ``/metrics`` response may take to be read.
WRITE_TIMEOUT = 30.0


@dataclass(frozen=True)
class ScrapeLimits:
    """What bounds one ``/metrics`` response: its write deadline, and the gate plain
    (non-gzip) scrapes take turns through to inflate off the event loop."""

    write_timeout: float = WRITE_TIMEOUT
    inflating: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    throttle: LogThrottle = field(default_factory=lambda: LogThrottle(CLIENT_ERROR_LOG_INTERVAL))


def _take(parts: Iterator[bytes], limit: int) -> list[bytes]:
    """Up to about ``limit`` bytes of parts (run in a worker thread: inflating is the cost)."""
    batch: list[bytes] = []
    size = 0
    for part in parts:
        batch.append(part)
        size += len(part)
        if size >= limit:
            break
    return batch


async def _inflated(parts: Iterable[bytes], gate: asyncio.Semaphore) -> AsyncIterator[bytes]:
    """Plain parts inflated in a worker thread, one scrape's batch at a time: health probes and
    gzip scrapes never wait behind inflation, and concurrent plain scrapes take turns."""
    pending = iter(parts)
    while True:
        async with gate:
            batch = await asyncio.to_thread(_take, pending, INFLATE_BATCH)
        if not batch:
            return
        for part in batch:
            yield part


async def _write(response: web.StreamResponse, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), WRITE_SLICE):
        await response.write(view[start : start + WRITE_SLICE])  # waits for the socket


async def _write_body(
    response: web.StreamResponse,
    parts: Iterable[bytes],
    live: bytes,
    gzipped: bool,
    limits: ScrapeLimits,
) -> None:
    if gzipped:  # prepared bytes: nothing to compute
        for part in parts:
            await _write(response, part)
    else:
        async for part in _inflated(parts, limits.inflating):
            await _write(response, part)
    await _write(response, live)
    await response.write_eof()


async def stream_metrics(
    backend: Backend, request: web.Request, limits: ScrapeLimits | None = None
) -> web.StreamResponse:
    """The prepared exposition, negotiated (OpenMetrics, gzip), streamed with backpressure.

    A response not read within ``limits.write_timeout`` is cut off and its connection closed:
    a reader that never reads would otherwise pin the exposition it asked for (and its send
    buffer) for as long as it likes, and aiohttp's header and keep-alive timeouts do not apply
    while a response is written.
    """
    limits = limits or ScrapeLimits()
    openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
    gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
    exposition = backend.exposition()
    # Plain parts are inflated as they are sent: iterate them once, after prepare.
    parts = exposition.parts(openmetrics=openmetrics, gzipped=gzipped)
    live = backend.live_block(openmetrics=openmetrics, gzipped=gzipped)
    response = web.StreamResponse(
        headers={"Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE}
    )
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept, Accept-Encoding"
    size = exposition.size(openmetrics=openmetrics, gzipped=gzipped)
    response.content_length = size + len(live)
    await response.prepare(request)
    if request.method == "HEAD":  # same headers, no body, keep-alive stays in sync
        await response.write_eof()
        return response
    try:
        async with asyncio.timeout(limits.write_timeout):
            await _write_body(response, parts, live, gzipped, limits)
    except TimeoutError:
        del parts, exposition  # the reader must not pin them while the connection closes
        _cut_off(request, limits)
        raise ConnectionResetError("response not read within web.write_timeout") from None
    return response


def _cut_off(request: web.Request, limits: ScrapeLimits) -> None:
    """Close the connection at once, dropping what its send buffer holds."""
    suppressed = limits.throttle.allow("write timeout")
    if suppressed is not None:
        log.debug(
            "closing connection: /metrics response not read in time",
            extra={"timeout_seconds": limits.write_timeout, "suppressed": suppressed},
        )
    if request.transport is not None:
        request.transport.abort()


def build_app(
    backend: Backend,
    telemetry_path: str,
    middlewares: Sequence[Any] = (),
    on_prepare: Sequence[Any] = (),
    *,
    write_timeout: float = WRITE_TIMEOUT,
) -> web.Application:
    """``on_prepare`` callbacks run when any response sends its headers (also the streamed
    ``/metrics``, which middlewares cannot touch once it is prepared). ``write_timeout``:
    ``web.write_timeout``."""
    limits = ScrapeLimits(write_timeout)

    async def metrics(request: web.Request) -> web.StreamResponse:
        return await stream_metrics(backend, request, limits)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if backend.ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready: first refresh pass still running\n")

    async def index(request: web.Request) -> web.Response:
        # Pure and over frozen snapshots: rendered off the loop (~50 ms at 10,000 lines), so
        # scrapes keep being answered meanwhile.
        page = await asyncio.to_thread(
            statuspage.render,
            backend.region_statuses(),
            backend.discovery_errors(),
            version=backend.version,
            telemetry_path=telemetry_path,
            now=time.time(),
        )
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def runbooks(request: web.Request) -> web.Response:
        return web.Response(text=runbookpage.page(), content_type="text/html", charset="utf-8")

    async def reload(request: web.Request) -> web.Response:
        ok, message = await backend.reload()
        return web.Response(status=200 if ok else 500, text=message + "\n")

    app = web.Application(middlewares=list(middlewares), handler_args=handler_args())
    for callback in on_prepare:
        app.on_response_prepare.append(callback)
    app.router.add_get(telemetry_path, metrics)
    handlers = {"healthz": healthz, "readyz": readyz, "index": index, "reload": reload,
                "runbooks": runbooks}  # fmt: skip
    for method, path, name in ROUTES:
        if method == "GET":  # and HEAD
            app.router.add_get(path, handlers[name])
        else:
            app.router.add_route(method, path, handlers[name])
    return app


async def listen(
    app: web.Application,
    listen_address: tuple[str | None, int],
    ssl_context: Any = None,
    *,
    handshake_timeout: float = HEADER_TIMEOUT,
) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``(host, port)``; the runner (to clean up) and the URL it answers on.

    A TLS handshake gets as long as request headers do (``handshake_timeout``)."""
    install_accept_error_handler(asyncio.get_running_loop())
    runner = make_runner(app)
    await runner.setup()
    host, port = listen_address
    site = GuardedTCPSite(
        runner, host, port, ssl_context=ssl_context, handshake_timeout=handshake_timeout
    )
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    scheme = "https" if ssl_context else "http"
    shown = "127.0.0.1" if bound_host in ("0.0.0.0", "::") else bound_host
    if ":" in shown:
        shown = f"[{shown}]"
    return runner, f"{scheme}://{shown}:{bound_port}"
