"""How the client reads an answer's body: ``api.max_response_bytes`` caps what one answer may
hold (declared or streamed), and large bodies are decoded off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from exporter import client as client_module
from exporter.client import ApiError
from exporter.config import ApiConfig
from tests.exporter.test_client import Seen, call, make_client

CAP = 256 * 1024
FAILSAFE = 20.0


class BigAnswers:
    """Answers DescribeRegions with a body of ``size`` bytes, declared or streamed (chunked)."""

    def __init__(self, size: int, *, declared: bool) -> None:
        self.size = size
        self.declared = declared
        self.sent = 0
        self.finished = False

    def body(self) -> bytes:
        padding = "x" * max(0, self.size - 40)
        return json.dumps({"RequestId": "R", "Padding": padding}).encode()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = self.body()
        if self.declared:
            return web.Response(body=body, content_type="application/json")
        response = web.StreamResponse()
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for start in range(0, len(body), 64 * 1024):
                await response.write(body[start : start + 64 * 1024])
                self.sent += 64 * 1024
            await response.write_eof()
            self.finished = True
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_route("*", "/", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


def test_the_cap_is_a_documented_api_key_with_a_default() -> None:
    assert ApiConfig().max_response_bytes == 16 * 1024 * 1024
    assert ApiConfig(max_response_bytes=CAP).max_response_bytes == CAP
    with pytest.raises(ValueError):
        ApiConfig(max_response_bytes=10)
    assert "ResponseTooLarge" in client_module.CODE_LABEL_VALUES


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_answer_above_the_cap_fails_with_one_line_naming_action_and_cap(
    session: aiohttp.ClientSession, declared: bool
) -> None:
    api = BigAnswers(64 * 1024 * 1024, declared=declared)
    seen: Seen = []
    async with api.serve() as url:
        client = make_client(session, url, seen, retries=3, max_response_bytes=CAP)
        with pytest.raises(ApiError) as info:
            await asyncio.wait_for(call(client), FAILSAFE)
    message = str(info.value)
    assert message == (
        f"DescribeRegions: ResponseTooLarge: answer larger than api.max_response_bytes "
        f"({CAP} bytes)"
    )
    assert "\n" not in message
    assert [entry[3] for entry in seen] == ["ResponseTooLarge"]  # not retried
    assert not api.finished  # the client stopped reading: 64 MiB were never taken in


async def test_an_answer_at_the_cap_is_read(session: aiohttp.ClientSession) -> None:
    api = BigAnswers(CAP - 100, declared=False)
    seen: Seen = []
    async with api.serve() as url:
        body = await call(make_client(session, url, seen, max_response_bytes=CAP))
    assert body["RequestId"] == "R"
    assert [entry[3] for entry in seen] == ["Success"]


async def test_large_bodies_are_decoded_off_the_event_loop(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[tuple[int, bool]] = []
    decode = client_module._decode

    def recording(action: str, status: int, raw: bytes, **kw: Any) -> dict[str, Any]:
        threads.append((len(raw), threading.current_thread() is threading.main_thread()))
        return decode(action, status, raw, **kw)

    monkeypatch.setattr(client_module, "_decode", recording)
    big = BigAnswers(2 * client_module.DECODE_OFF_LOOP_BYTES, declared=True)
    small = BigAnswers(1000, declared=True)
    seen: Seen = []
    async with big.serve() as big_url, small.serve() as small_url:
        await call(make_client(session, big_url, seen))
        await call(make_client(session, small_url, seen))
    assert [on_loop for _, on_loop in threads] == [False, True]
