"""HTTP: ``/metrics`` streams prepared bytes, plus health, readiness, a landing page and reload.

A scrape only reads what the refresh jobs already rendered: it never waits on the cloud API.

The listener is exposed to whatever can reach the port, so the connection layer is guarded too:
request headers must arrive within `HEADER_TIMEOUT` (`make_runner`), idle keep-alive connections
close after `KEEPALIVE_TIMEOUT`, client mistakes (malformed requests, early disconnects) are one
rate-limited debug line instead of a traceback each, and running out of file descriptors is one
warning a minute (`install_accept_error_handler`) instead of a traceback a second.
"""

from __future__ import annotations

import asyncio
import errno
import html
import logging
import re
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from exporter.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, Exposition
from exporter.regiontable import RegionStatus

log = logging.getLogger("exporter.server")

#: Seconds a client has to send a request's headers, counted from the connection's opening
#: (first request) or from the request's first byte. Ends slow-header ("slowloris") holds.
HEADER_TIMEOUT = 10.0
#: Seconds an idle keep-alive connection stays open: between the common 30 s and 60 s scrape
#: intervals, so 15-30 s scrapers reuse connections and 60 s ones reconnect without racing
#: the server's close.
KEEPALIVE_TIMEOUT = 45.0
#: At most one log line per kind of client mistake per this many seconds.
CLIENT_ERROR_LOG_INTERVAL = 10.0
#: At most one "out of file descriptors" warning per this many seconds.
ACCEPT_ERROR_LOG_INTERVAL = 60.0
LIVENESS_PATHS = ("/healthz", "/-/healthy")
READINESS_PATHS = ("/readyz", "/-/ready")
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_GUARDED: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


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


def _time(value: float | None) -> str:
    if value is None:
        return "never"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def landing_page(backend: Backend, telemetry_path: str) -> str:
    """Small HTML status page; every dynamic value is escaped (error texts come from the API)."""
    esc = html.escape
    rows = []
    for status in backend.region_statuses():
        state = "pending" if status.passes == 0 else "up" if status.up else "down"
        if status.stale:
            state += " (stale: series dropped)"
        rows.append(
            "<tr>"
            f"<td>{esc(status.account)}</td><td>{esc(status.region_id)}</td>"
            f"<td>{esc(status.collector)}</td>"
            f"<td>{esc(_time(status.last_attempt))}</td><td>{esc(state)}</td>"
            f"<td>{status.exported}</td>"
            f"<td>{esc(status.last_error or '')}</td>"
            "</tr>"
        )
    for account, error in sorted(backend.discovery_errors().items()):
        rows.append(
            f"<tr><td>{esc(account)}</td><td>(all regions)</td><td></td><td></td>"
            "<td>discovery failed</td>"
            f"<td></td><td>{esc(error)}</td></tr>"
        )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<title>Express Connect exporter</title></head><body>"
        f"<h1>Express Connect exporter</h1><p>Version {esc(backend.version)}</p>"
        f"<p><a href='{esc(telemetry_path)}'>Metrics</a> · <a href='/healthz'>Health</a>"
        " · <a href='/readyz'>Readiness</a></p>"
        "<table border='1' cellpadding='4'><tr><th>Account</th><th>Region</th>"
        "<th>Collector</th><th>Last pass</th><th>State</th><th>Objects</th><th>Last error</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )


async def stream_metrics(backend: Backend, request: web.Request) -> web.StreamResponse:
    """The prepared exposition, negotiated (OpenMetrics, gzip), streamed with backpressure."""
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
    if request.method != "HEAD":  # HEAD: same headers, no body, keep-alive stays in sync
        for part in parts:
            await response.write(part)  # waits for the socket to drain: backpressure
        await response.write(live)
    await response.write_eof()
    return response


def build_app(
    backend: Backend,
    telemetry_path: str,
    middlewares: Sequence[Any] = (),
    on_prepare: Sequence[Any] = (),
) -> web.Application:
    """``on_prepare`` callbacks run when any response sends its headers (also the streamed
    ``/metrics``, which middlewares cannot touch once it is prepared)."""

    async def metrics(request: web.Request) -> web.StreamResponse:
        return await stream_metrics(backend, request)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if backend.ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready: first refresh pass still running\n")

    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text=landing_page(backend, telemetry_path), content_type="text/html", charset="utf-8"
        )

    async def reload(request: web.Request) -> web.Response:
        ok, message = await backend.reload()
        return web.Response(status=200 if ok else 500, text=message + "\n")

    app = web.Application(middlewares=list(middlewares), handler_args=handler_args())
    for callback in on_prepare:
        app.on_response_prepare.append(callback)
    app.router.add_get(telemetry_path, metrics)
    # Probe paths: the Kubernetes-style names and the Prometheus-style ones, same handlers.
    for path in LIVENESS_PATHS:
        app.router.add_get(path, healthz)
    for path in READINESS_PATHS:
        app.router.add_get(path, readyz)
    app.router.add_get("/", index)
    app.router.add_post("/-/reload", reload)
    return app


class LogThrottle:
    """Allows one event per key per interval and counts what it held back, so a flood of the
    same mistake costs one log line per interval, which says how many it stands for."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """None when held back; else how many events of this key were held back before it."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)


def is_client_error(exc: BaseException | None) -> bool:
    """Malformed requests and vanished clients: the client's doing, never a bug here."""
    return isinstance(exc, HttpProcessingError | ConnectionError)


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return cast(BaseException | None, exc_info[1])
    if exc_info:
        return sys.exc_info()[1]
    return None


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The logger aiohttp's connection handler writes to (``handler_args["logger"]``).

    aiohttp logs every malformed request and every client that hangs up mid-response at error
    level with a traceback: tens of megabytes a minute from one bad client. Those become one
    debug line per kind per interval, without traceback; anything else (a bug in a handler)
    keeps its traceback.
    """

    def __init__(self, logger: logging.Logger, limiter: LogThrottle) -> None:
        super().__init__(logger, {})
        self._limiter = limiter

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = _exception_of(kwargs.get("exc_info"))
        if not is_client_error(exc):
            self.logger.log(level, msg, *args, **kwargs)
            return
        kind = type(exc).__name__
        suppressed = self._limiter.allow(kind)
        if suppressed is None or not self.logger.isEnabledFor(logging.DEBUG):
            return
        first_line = (str(exc).strip().splitlines() or [""])[0]
        self.logger.debug(
            "client error",
            extra={"error": f"{kind}: {first_line}"[:200], "suppressed": suppressed},
        )


def handler_args() -> dict[str, Any]:
    """Per-connection options for aiohttp's request handler (``web.Application(handler_args=)``):
    idle keep-alive timeout and the client-error-filtering logger."""
    return {
        "keepalive_timeout": KEEPALIVE_TIMEOUT,
        "logger": ServerLog(log, LogThrottle(CLIENT_ERROR_LOG_INTERVAL)),
    }


class HeaderDeadline(asyncio.Protocol):
    """Wraps one connection's aiohttp protocol and closes the connection when request headers
    are not complete `timeout` seconds after the connection opened or the request began.

    aiohttp has no header timeout of its own, so a client sending one header byte at a time
    could hold a connection (and a file descriptor) for as long as it likes. The end of the
    headers is found by looking for an empty line in the byte stream; bytes after it (a body,
    or the next pipelined request) start a new deadline, which a POST body that ends without
    another request cuts short: such a connection closes after `timeout` instead of the
    keep-alive time, which only costs the client a reconnect.
    """

    def __init__(self, inner: asyncio.Protocol, timeout: float, limiter: LogThrottle) -> None:
        self._inner = inner
        self._timeout = timeout
        self._limiter = limiter
        self._transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        text = self._tail + data.replace(b"\r", b"")
        end = text.rfind(b"\n\n")
        if end < 0:
            if self._timer is None:
                self._arm()
            self._tail = text[-1:]
        else:
            rest = text[end + 2 :]
            self._disarm()
            if rest:
                self._arm()
            self._tail = rest[-1:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._transport = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _arm(self) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is None or self._transport.is_closing():
            return
        suppressed = self._limiter.allow("header timeout")
        if suppressed is not None:
            log.debug(
                "closing connection: request headers not received in time",
                extra={"timeout_seconds": self._timeout, "suppressed": suppressed},
            )
        self._transport.close()


class _GuardedFactory:
    """The protocol factory the listening socket uses: aiohttp's `web.Server` with each
    connection's protocol wrapped in a `HeaderDeadline`; everything else goes to the server."""

    def __init__(self, server: web.Server, timeout: float, limiter: LogThrottle) -> None:
        self._server = server
        self._timeout = timeout
        self._limiter = limiter

    def __call__(self) -> asyncio.Protocol:
        return HeaderDeadline(self._server(), self._timeout, self._limiter)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class GuardedAppRunner(web.AppRunner):
    """`web.AppRunner` whose sites (`web.TCPSite`) serve through `HeaderDeadline`."""

    __slots__ = ("_header_timeout", "_limiter")

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout
        self._limiter = LogThrottle(CLIENT_ERROR_LOG_INTERVAL)

    @property
    def server(self) -> web.Server | None:
        server = super().server
        if server is None:
            return None
        # TCPSite only calls it as the protocol factory; the rest is forwarded.
        return cast(web.Server, _GuardedFactory(server, self._header_timeout, self._limiter))


def make_runner(app: web.Application, *, header_timeout: float = HEADER_TIMEOUT) -> web.AppRunner:
    """The runner to serve `build_app`'s application with: no access log, no signal handling
    (the daemon has its own), and the header deadline on every connection."""
    return GuardedAppRunner(app, header_timeout=header_timeout, access_log=None)


def install_accept_error_handler(
    loop: asyncio.AbstractEventLoop, interval: float = ACCEPT_ERROR_LOG_INTERVAL
) -> None:
    """Turn asyncio's "socket.accept() out of system resource" reports into one warning line
    per `interval`, without traceback.

    At the open-file limit asyncio retries `accept()` every second and reports each failure
    with a full traceback through the loop's exception handler. Other reports go on to the
    handler that was installed before (or asyncio's default). Installing twice on one loop
    is a no-op, so every `listen` can call it.
    """
    if loop in _ACCEPT_GUARDED:
        return
    _ACCEPT_GUARDED.add(loop)
    previous = loop.get_exception_handler()
    limiter = LogThrottle(interval)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
            suppressed = limiter.allow("accept")
            if suppressed is not None:
                log.warning(
                    "cannot accept connections: out of file descriptors or memory; raise "
                    "the open-file limit (LimitNOFILE, ulimit -n) or find what holds them",
                    extra={"error": exc.strerror or str(exc), "suppressed": suppressed},
                )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def listen(
    app: web.Application, listen_address: tuple[str | None, int], ssl_context: Any = None
) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``(host, port)``; the runner (to clean up) and the URL it answers on."""
    install_accept_error_handler(asyncio.get_running_loop())
    runner = make_runner(app)
    await runner.setup()
    host, port = listen_address
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
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
