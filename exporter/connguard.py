"""Connection guards for the HTTP listener, apart from the routes it serves.

The listener is exposed to whatever can reach the port: request headers must arrive within
`HEADER_TIMEOUT` (`make_runner`), a TLS handshake within the same time (`GuardedTCPSite`), a
`/metrics` response must be read within `web.write_timeout` (`exporter.server`), idle keep-alive
connections close after `KEEPALIVE_TIMEOUT`, client mistakes (malformed requests, early
disconnects) are one rate-limited debug line instead of a traceback each, and running out of
file descriptors is one warning a minute (`install_accept_error_handler`) instead of a traceback
a second.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

# The server's logger: these lines are about its connections.
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
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_GUARDED: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


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


class GuardedTCPSite(web.TCPSite):
    """`web.TCPSite` whose TLS handshakes must finish within `handshake_timeout` seconds.

    aiohttp passes no handshake timeout, so asyncio's default (60 s) held connections that
    never finish their handshake six times longer than the header deadline, which only starts
    once the handshake is done.
    """

    __slots__ = ("_handshake_timeout",)

    def __init__(self, *args: Any, handshake_timeout: float = HEADER_TIMEOUT, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        if self._ssl_context is None:
            await super().start()
            return
        await web.BaseSite.start(self)  # registers the site with the runner
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._handshake_timeout,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


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
