"""The HTTP layer under misbehaving clients: HEAD, slow and idle connections, log storms, the
open-file limit, content negotiation and the probe paths. The server is `build_app` behind
`make_runner` on loopback with a fake backend; clients speak raw HTTP over sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from exporter import connguard, server
from exporter.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from exporter.routes import RESERVED_PATHS
from exporter.webconfig import WebConfigManager
from tests import harness
from tests.deploy.fake_backend import FakeBackend
from tests.deploy.pki import bcrypt_hash

FAILSAFE = 20.0  # seconds: only bounds a hung test, never what is being measured


@contextlib.asynccontextmanager
async def serve(
    backend: FakeBackend,
    *,
    middlewares: Sequence[Any] = (),
    header_timeout: float = connguard.HEADER_TIMEOUT,
) -> AsyncIterator[int]:
    app = server.build_app(backend, "/metrics", middlewares)
    runner = connguard.make_runner(app, header_timeout=header_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def read_response(
    reader: asyncio.StreamReader, *, head: bool = False
) -> tuple[str, dict[str, str], bytes]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), FAILSAFE)
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), FAILSAFE)
    return status_line, headers, body


def request(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Wait (bounded by FAILSAFE) until the server closes the connection."""
    data = await asyncio.wait_for(reader.read(), FAILSAFE)
    return data == b""


# --- 1. HEAD -----------------------------------------------------------------------------


PATHS = ["/metrics", "/", "/healthz", "/readyz", "/-/healthy", "/-/ready", "/nope"]


@pytest.mark.parametrize("path", PATHS)
async def test_head_sends_headers_only_and_keep_alive_stays_in_sync(path: str) -> None:
    async with serve(FakeBackend()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("HEAD", path) + request("GET", path) + request("GET", "/healthz"))
        await writer.drain()
        head_status, head_headers, _ = await read_response(reader, head=True)
        get_status, get_headers, get_body = await read_response(reader)
        # Had HEAD sent a body, these bytes would be its tail, not the next response.
        last_status, _, last_body = await read_response(reader)
        writer.close()
    assert head_status == get_status
    assert head_headers["content-length"] == get_headers["content-length"] == str(len(get_body))
    assert head_headers["content-type"] == get_headers["content-type"]
    assert (last_status, last_body) == ("HTTP/1.1 200 OK", b"ok\n")


async def test_head_on_the_401_of_basic_auth(tmp_path: Path) -> None:
    web_config = tmp_path / "web.yml"
    web_config.write_text(f"basic_auth_users: {{prometheus: '{bcrypt_hash('pw')}'}}\n")
    manager = WebConfigManager(web_config)
    try:
        async with serve(FakeBackend(), middlewares=[manager.middleware]) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request("HEAD", "/metrics") + request("GET", "/metrics"))
            await writer.drain()
            head = await read_response(reader, head=True)
            get = await read_response(reader)
            writer.close()
    finally:
        manager.close()
    assert head[0] == get[0] == "HTTP/1.1 401 Unauthorized"
    assert get[2] == b"Unauthorized\n"
    assert head[1]["content-length"] == get[1]["content-length"]


# --- 2. slow, idle and too many connections -----------------------------------------------


async def test_slow_headers_are_cut_off_even_while_bytes_keep_coming() -> None:
    async with serve(FakeBackend(), header_timeout=0.5) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        trickle = request("GET", "/metrics", X_Padding="a" * 4000)

        async def send_slowly() -> None:
            for byte in trickle:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.05)  # pacing the attacker, not waiting for a result

        sender = asyncio.create_task(send_slowly())
        assert await closed_by_server(reader)
        assert not sender.done()  # cut off mid-headers, long before the trickle ended
        sender.cancel()
        writer.close()


async def test_connection_that_never_sends_a_request_is_closed() -> None:
    async with serve(FakeBackend(), header_timeout=0.3) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_by_server(reader)
        writer.close()


async def test_requests_on_a_keep_alive_connection_are_not_cut_off() -> None:
    """The deadline is per request: a connection that keeps asking stays open past it."""
    async with serve(FakeBackend(), header_timeout=0.3) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        answered = 0
        while loop.time() - started < 1.0:  # > 3 header timeouts on one connection
            writer.write(request("GET", "/healthz"))
            status, _, _ = await read_response(reader)
            assert status == "HTTP/1.1 200 OK"
            answered += 1
        writer.close()
    assert answered > 3


async def test_idle_keep_alive_connection_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connguard, "KEEPALIVE_TIMEOUT", 0.3)
    async with serve(FakeBackend(), header_timeout=60) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("GET", "/healthz"))
        assert (await read_response(reader))[0] == "HTTP/1.1 200 OK"
        assert await closed_by_server(reader)
        writer.close()


def test_the_keep_alive_timeout_is_what_the_application_is_built_with() -> None:
    app = server.build_app(FakeBackend(), "/metrics")
    assert connguard.handler_args()["keepalive_timeout"] == connguard.KEEPALIVE_TIMEOUT
    assert app._handler_args is not None
    assert app._handler_args["keepalive_timeout"] == connguard.KEEPALIVE_TIMEOUT
    assert 0 < connguard.HEADER_TIMEOUT < connguard.KEEPALIVE_TIMEOUT


def test_out_of_file_descriptors_is_one_warning_not_a_traceback_a_second() -> None:
    port = harness.free_port()
    log_path = Path(harness._log_dir()) / f"fake-backend-{port}.log"
    argv = [sys.executable, "-m", "tests.deploy.fake_backend", "--port", str(port)]
    with harness.Proc("fake-backend", argv, f"http://127.0.0.1:{port}", log_path) as proc:
        harness.wait_until(lambda: "LISTENING" in proc.log_tail(), FAILSAFE, "the server")
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]
        try:
            harness.wait_until(
                lambda: proc.log_path.read_text().count("LOOP-REPORT") >= 3,
                FAILSAFE,
                "three failed accept() rounds",
            )
        finally:
            for client in clients:
                client.close()
        # With the descriptors back, the server accepts again.
        harness.wait_until(
            lambda: harness.http_get(f"http://127.0.0.1:{port}/healthz", timeout=2) == b"ok\n",
            FAILSAFE,
            "the server to accept again",
        )
        text = proc.log_path.read_text()
    assert "Traceback" not in text
    warnings = [line for line in text.splitlines() if "cannot accept connections" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING "), warnings


async def test_loop_reports_other_than_accept_errors_still_reach_the_previous_handler() -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        connguard.install_accept_error_handler(loop)
        connguard.install_accept_error_handler(loop)  # a second listen: not stacked twice
        loop.call_exception_handler({"message": "something else", "exception": ValueError()})
        loop.call_exception_handler(
            {"message": "socket.accept() out of system resource", "exception": OSError(24, "x")}
        )
    finally:
        loop.set_exception_handler(previous)
    assert [context["message"] for context in seen] == ["something else"]


# --- 4. log storms ------------------------------------------------------------------------


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]


async def test_malformed_requests_are_one_debug_line_without_traceback(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connguard, "CLIENT_ERROR_LOG_INTERVAL", 3600.0)
    caplog.set_level(logging.DEBUG)
    async with serve(FakeBackend()) as port:
        for _ in range(50):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n")
            status, _, _ = await read_response(reader)
            assert status.split()[1] == "400"
            writer.close()
    assert problems(caplog) == []
    lines = [r for r in caplog.records if r.getMessage() == "client error"]
    assert len(lines) == 1 and lines[0].levelno == logging.DEBUG
    assert "BadStatusLine" in lines[0].error  # type: ignore[attr-defined]


async def test_client_hanging_up_mid_scrape_is_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = FakeBackend(body=b"x" * (16 << 20))  # far more than socket buffers hold
    async with serve(backend) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("GET", "/metrics"))
        assert (await asyncio.wait_for(reader.read(1024), FAILSAFE)).startswith(b"HTTP/1.1 200")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # reset, mid-body

        async def logged() -> bool:
            return any(r.getMessage() == "client error" for r in caplog.records)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + FAILSAFE
        while not await logged():
            assert loop.time() < deadline, "the server never noticed the hang-up"
            await asyncio.sleep(0.02)
        # Still serving.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("HEAD", "/metrics"))
        assert (await read_response(reader, head=True))[0] == "HTTP/1.1 200 OK"
        writer.close()
    assert problems(caplog) == []


async def test_a_bug_in_a_handler_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(FakeBackend):
        def ready(self) -> bool:
            raise RuntimeError("a bug")

    async with serve(Broken()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("GET", "/readyz"))
        assert (await read_response(reader))[0] == "HTTP/1.1 500 Internal Server Error"
        writer.close()
    bugs = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
    assert len(bugs) == 1 and isinstance(bugs[0].exc_info[1], RuntimeError)  # type: ignore[index]


# --- 6. content negotiation ---------------------------------------------------------------


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        ("", False),
        ("*/*", False),
        ("text/plain", False),
        ("application/openmetrics-text", True),
        (PROMETHEUS_ACCEPT, True),
        ("text/plain;q=1, application/openmetrics-text;q=0.1", False),
        ("text/plain;q=0.5, application/openmetrics-text;q=0.5", True),  # tie: OpenMetrics
        ("application/openmetrics-text;q=0, text/plain", False),
        ("application/openmetrics-text;q=0.2, */*;q=0.9", False),
        ("application/openmetrics-text;q=0.2, text/*;q=0.1, */*;q=0.9", True),
        ("text/plain;q=0, application/openmetrics-text;q=0.001", True),
        ("APPLICATION/OpenMetrics-Text; Q=0.7, text/plain; q=0.6", True),
        ("application/openmetrics-text;q=banana", False),
        ("application/openmetrics-text;q=2", False),
    ],
)
def test_accept_picks_the_best_q(accept: str, openmetrics: bool) -> None:
    assert server.wants_openmetrics(accept) is openmetrics


@pytest.mark.parametrize(
    ("accept_encoding", "gzip"),
    [
        ("", False),
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("gzip;q=0", False),
        ("gzip;q=0.5, identity;q=1", False),
        ("gzip;q=0.5, identity;q=0.5", True),
        ("identity;q=0, gzip;q=0.1", True),
        ("*", False),
        ("*;q=0, gzip;q=0.1", True),
        ("x-gzip", True),
        ("deflate", False),
    ],
)
def test_accept_encoding_picks_the_best_q(accept_encoding: str, gzip: bool) -> None:
    assert server.wants_gzip(accept_encoding) is gzip


@given(st.text())
def test_negotiation_never_raises_on_any_header(header: str) -> None:
    assert isinstance(server.wants_openmetrics(header), bool)
    assert isinstance(server.wants_gzip(header), bool)
    for token, quality in server.parse_quality_list(header):
        assert token and 0.0 <= quality <= 1.0


_TOKENS = st.sampled_from(
    ["application/openmetrics-text", "text/plain", "text/*", "*/*", "gzip", "identity", "*"]
)
_Q = st.one_of(st.none(), st.sampled_from(["0", "0.1", "0.5", "1", "1.0", "x", "", "-1", "nan"]))


@given(st.lists(st.tuples(_TOKENS, _Q, st.sampled_from([" ", "", ";version=1.0.0"]))))
def test_negotiation_never_raises_on_structured_headers(
    entries: list[tuple[str, str | None, str]],
) -> None:
    header = ",".join(
        f"{token}{params}" + (f";q={q}" if q is not None else "") for token, q, params in entries
    )
    om = server.wants_openmetrics(header)
    named = [q for token, q, _ in entries if token == "application/openmetrics-text"]
    if not named:
        assert om is False


async def test_metrics_content_type_follows_q_values() -> None:
    async with serve(FakeBackend()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            request("GET", "/metrics", Accept="text/plain;q=1, application/openmetrics-text;q=0.1")
            + request("GET", "/metrics", Accept=PROMETHEUS_ACCEPT, Accept_Encoding="gzip;q=0")
        )
        _, text_headers, _ = await read_response(reader)
        _, om_headers, om_body = await read_response(reader)
        writer.close()
    assert text_headers["content-type"] == TEXT_CONTENT_TYPE
    assert om_headers["content-type"] == OPENMETRICS_CONTENT_TYPE
    assert "content-encoding" not in om_headers and om_body.endswith(b"# EOF\n")


# --- 7. Prometheus-style probe paths ------------------------------------------------------


async def test_prometheus_probe_paths_answer_like_the_kubernetes_ones() -> None:
    backend = FakeBackend(is_ready=False)
    async with serve(backend) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answers = {}
        for path in ("/healthz", "/-/healthy", "/readyz", "/-/ready"):
            writer.write(request("GET", path))
            status, _, body = await read_response(reader)
            answers[path] = (status, body)
        writer.close()
    assert answers["/-/healthy"] == answers["/healthz"] == ("HTTP/1.1 200 OK", b"ok\n")
    assert answers["/-/ready"] == answers["/readyz"]
    assert answers["/readyz"][0] == "HTTP/1.1 503 Service Unavailable"


# --- 8. Reserved paths: web.telemetry_path cannot take a route the server answers --------


def routed_paths(app: web.Application) -> set[str]:
    """Every path the application really routes, read from its router."""
    return {str(resource.canonical) for resource in app.router.resources() if resource.canonical}


def test_reserved_paths_are_exactly_the_routes_besides_the_metrics_path() -> None:
    routed = routed_paths(server.build_app(FakeBackend(), "/some/metrics"))
    assert routed - {"/some/metrics"} == set(RESERVED_PATHS)
    assert {"/", "/-/healthy", "/-/ready", "/-/reload", "/healthz", "/readyz"} <= routed


@pytest.mark.parametrize(
    "path", sorted(routed_paths(server.build_app(FakeBackend(), "/metrics")) - {"/metrics"})
)
def test_check_config_refuses_every_routed_path_as_telemetry_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    """``web.telemetry_path: /-/ready`` was accepted, then served metrics instead of readiness."""
    from exporter import cli

    config = tmp_path / "exporter.yml"
    config.write_text(
        f"web: {{telemetry_path: {path!r}}}\naccounts: [{{name: a, regions: [cn-hangzhou]}}]\n"
    )
    assert cli.main(["--check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"{config}: web.telemetry_path: '{path}' is already served by the")
