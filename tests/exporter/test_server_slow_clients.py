"""Clients that hold the server: a scraper that sends ``GET /metrics`` and never reads (the
write deadline closes it and it holds a bounded send buffer), plain scrapes whose inflation must
not hold health probes, and TLS handshakes that never finish. Real sockets over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter import connguard, server
from exporter.config import ConfigError, parse_config
from tests.deploy.fake_backend import FakeBackend
from tests.deploy.pki import PKI
from tests.exporter.test_server import FAILSAFE, read_response, request

BIG = 8 * 1024 * 1024  # one part far larger than any socket buffer


class Watched:
    """The server side of every /metrics response (its transport), and how many bytes its
    send buffer held, sampled while the response is written."""

    def __init__(self) -> None:
        self.transports: list[asyncio.BaseTransport] = []
        self.buffered: list[int] = []

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        transport = request.transport
        if transport is None or request.path != "/metrics":
            return
        self.transports.append(transport)
        loop = asyncio.get_running_loop()

        def sample() -> None:
            if not transport.is_closing():
                self.buffered.append(transport.get_write_buffer_size())  # type: ignore[attr-defined]
                loop.call_later(0.01, sample)

        loop.call_soon(sample)

    async def closed_by_server(self) -> bool:
        """Wait (polling, bounded by FAILSAFE) until the server closed the /metrics connection."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FAILSAFE
        while loop.time() < deadline:
            if self.transports and all(t.is_closing() for t in self.transports):
                return True
            await asyncio.sleep(0.02)
        return False


@contextlib.asynccontextmanager
async def serve(
    backend: Any, *, write_timeout: float = server.WRITE_TIMEOUT, ssl_context: Any = None,
    handshake_timeout: float = connguard.HEADER_TIMEOUT, watched: Watched | None = None,
) -> AsyncIterator[int]:  # fmt: skip
    on_prepare = [] if watched is None else [watched.on_prepare]
    app = server.build_app(backend, "/metrics", on_prepare=on_prepare, write_timeout=write_timeout)
    runner, url = await server.listen(
        app, ("127.0.0.1", 0), ssl_context, handshake_timeout=handshake_timeout
    )
    try:
        yield int(url.rsplit(":", 1)[1])
    finally:
        await runner.cleanup()


def stalled_reader(port: int) -> socket.socket:
    """A client that asks for /metrics (gzip) and then never reads, with a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request("GET", "/metrics", Accept_Encoding="gzip"))
    return sock


async def received_until_closed(sock: socket.socket) -> int | None:
    """Bytes read from ``sock`` until the server closed it; None if it did not (FAILSAFE)."""

    def drain() -> int | None:
        sock.settimeout(FAILSAFE)
        received = 0
        try:
            while data := sock.recv(1 << 20):
                received += len(data)
        except ConnectionResetError:
            pass
        except TimeoutError:
            return None
        return received

    return await asyncio.to_thread(drain)


async def test_a_reader_that_never_reads_is_closed_after_the_write_deadline() -> None:
    watched = Watched()
    async with serve(FakeBackend(body=b"x" * BIG), write_timeout=0.5, watched=watched) as port:
        sock = stalled_reader(port)
        try:
            # While it stalls, the server keeps answering others.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request("GET", "/healthz"))
            assert (await read_response(reader))[0] == "HTTP/1.1 200 OK"
            writer.close()
            assert await watched.closed_by_server()
            got = await received_until_closed(sock)  # what was buffered, then the close
        finally:
            sock.close()
    assert got is not None and got < BIG


async def test_a_stalled_reader_holds_a_bounded_send_buffer() -> None:
    """What one reader pins in its transport's buffer is bounded, however large a part is."""
    watched = Watched()
    async with serve(FakeBackend(body=b"x" * BIG), write_timeout=1.0, watched=watched) as port:
        sock = stalled_reader(port)
        try:
            assert await watched.closed_by_server()
        finally:
            sock.close()
    assert watched.buffered  # sampled while the response was stuck
    assert max(watched.buffered) <= 2 * server.WRITE_SLICE + 64 * 1024


async def closed(sock: socket.socket) -> bool:
    return await received_until_closed(sock) is not None


class BlockingExposition:
    """Plain parts whose inflation blocks until the test releases it (or a failsafe passes):
    inflation on the event loop would hold every other request meanwhile."""

    def __init__(self) -> None:
        self.inflating = threading.Event()
        self.release = threading.Event()
        self.gave_up = False
        self.body = b"line 1\n" * 1000

    def _plain(self) -> Iterator[bytes]:
        self.inflating.set()
        if not self.release.wait(5.0):
            self.gave_up = True
        yield self.body

    def parts(self, *, openmetrics: bool, gzipped: bool) -> Any:
        return (gzip.compress(self.body),) if gzipped else self._plain()

    def size(self, *, openmetrics: bool, gzipped: bool) -> int:
        return len(gzip.compress(self.body)) if gzipped else len(self.body)


class BlockingBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.blocking = BlockingExposition()

    def exposition(self) -> Any:
        return self.blocking


async def test_health_probes_and_gzip_scrapes_do_not_wait_behind_plain_inflation() -> None:
    backend = BlockingBackend()
    exposition = backend.blocking
    async with serve(backend) as port:
        plain_reader, plain_writer = await asyncio.open_connection("127.0.0.1", port)
        plain_writer.write(request("GET", "/metrics"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FAILSAFE
        while not exposition.inflating.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert exposition.inflating.is_set()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("GET", "/healthz"))
        health = await read_response(reader)
        writer.write(request("GET", "/metrics", Accept_Encoding="gzip"))
        scraped = await read_response(reader)
        assert not exposition.gave_up  # both answered while the plain scrape was inflating
        exposition.release.set()
        plain = await read_response(plain_reader)
        writer.close()
        plain_writer.close()
    assert health[0] == scraped[0] == plain[0] == "HTTP/1.1 200 OK"
    assert gzip.decompress(scraped[2]) == plain[2] == exposition.body


async def test_a_tls_handshake_that_never_finishes_is_cut_off(tmp_path: Path) -> None:
    pki = PKI(tmp_path / "pki")
    issued = pki.issue(pki.ca("ca"), "server", server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert, issued.key)
    async with serve(FakeBackend(), ssl_context=context, handshake_timeout=0.5) as port:
        sock = socket.create_connection(("127.0.0.1", port))  # connects, never says hello
        try:
            assert await closed(sock)
        finally:
            sock.close()


def test_write_timeout_is_a_web_key_and_a_bad_one_is_one_line() -> None:
    account = {"name": "a", "regions": ["cn-hangzhou"]}
    assert parse_config({"accounts": [account]}).web.write_timeout == server.WRITE_TIMEOUT
    with pytest.raises(ConfigError) as info:
        parse_config({"web": {"write_timeout": "0s"}, "accounts": [account]}, "exporter.yml")
    assert str(info.value) == "exporter.yml: web.write_timeout: must be greater than 0"
