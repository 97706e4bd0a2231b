"""The signed API client: calls against recorded pages over real HTTP (signatures verified),
retries and what is never retried, request spacing, endpoints, and what the client makes of
answers: unencodable strings, error codes as labels, error texts (redacted, naming the peer),
and products whose 200 answers can carry an error."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import aiohttp
import pytest

from exporter import client as client_module
from exporter.client import (
    CODE_LABEL_VALUES,
    AccountClient,
    ApiError,
    ClientSettings,
    RateLimiter,
    code_label,
    endpoint_url,
)
from exporter.credentials import Credential, StaticCredentialSource
from exporter.logs import register_secret
from tests.exporter.ecx_fakeapi import (
    KEY_ID,
    SECRET,
    FakeApi,
    fake_api_client,
    throttled,
    unavailable,
)

STS_TOKEN = "CAIS-sts-token-for-the-client-tests-0123456789"
Seen = list[tuple[str, str, str, str, float]]


def make_client(
    session: aiohttp.ClientSession,
    url: str,
    seen: Seen,
    *,
    retries: int = 0,
    timeout: float = 2.0,
    **product: Any,
) -> AccountClient:
    settings = ClientSettings(
        endpoint=url,
        request_timeout=timeout,
        retries=retries,
        max_requests_per_second=1000.0,
        backoff_base=0.001,
        backoff_cap=0.002,
        **product,
    )
    source = StaticCredentialSource("sts", Credential(KEY_ID, SECRET, STS_TOKEN))
    return AccountClient(session, "prod", source, settings, observer=lambda *a: seen.append(a))


async def call(client: AccountClient) -> dict[str, Any]:
    return await client.call("DescribeRegions", "cn-hangzhou", {"RegionId": "cn-hangzhou"})


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# ------------------------------------------------------------------ unpaired surrogates


async def test_unpaired_surrogates_become_replacement_characters(session: Any) -> None:
    record = {"Name": "pc-\ud800", "\udfffKey": "x", "Pair": "\U0001f600", "N": [1, "\udc00"]}
    api = FakeApi({"cn-hangzhou": []})
    api.faults = [(200, {"RequestId": "R", "Regions": {"Region": [record]}})]
    seen: Seen = []
    async with api.serve() as url:
        body = await call(make_client(session, url, seen))
    decoded = body["Regions"]["Region"][0]
    assert decoded == {
        "Name": "pc-\ufffd",
        "\ufffdKey": "x",
        "Pair": "\U0001f600",
        "N": [1, "\ufffd"],
    }
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # the later writers no longer fail


def test_surrogate_escapes_are_found_in_any_case() -> None:
    body = client_module._decode("A", 200, b'{"a": "\\uDBFF", "\\udC01": ["\\uD83D\\uDE00"]}')
    assert body == {"a": "\ufffd", "\ufffd": ["\U0001f600"]}


def test_bodies_without_surrogate_escapes_are_not_walked(monkeypatch: Any) -> None:
    def walked(value: Any) -> Any:
        raise AssertionError("walked a body that cannot hold a lone surrogate")

    monkeypatch.setattr(client_module, "_scrub_surrogates", walked)
    raw = json.dumps({"Name": "pc-\u00e9\U0001f600", "Path": "C:\\\\udp"}, ensure_ascii=False)
    assert client_module._decode("A", 200, raw.encode())["Path"] == "C:\\\\udp"


# ------------------------------------------------------------------ code labels


async def test_codes_that_are_not_code_shaped_are_counted_as_invalid(session: Any) -> None:
    weird = "Weird.<b>Code</b>\nX"
    api = FakeApi({"cn-hangzhou": []})
    api.faults = [(400, {"Code": weird, "Message": "odd"}), (400, {"Code": "C" * 65})]
    seen: Seen = []
    async with api.serve() as url:
        client = make_client(session, url, seen)
        with pytest.raises(ApiError) as info:
            await call(client)
        with pytest.raises(ApiError) as too_long:
            await call(client)
    assert [entry[3] for entry in seen] == ["Invalid", "Invalid"]
    assert info.value.code == too_long.value.code == "Invalid"
    assert str(info.value) == 'DescribeRegions: Invalid: (code "Weird.<b>Code</b>\\nX") odd'


def test_code_shaped_codes_are_kept_and_every_kind_is_documented() -> None:
    for code in ("Forbidden.RAM", "Throttling.User", "HTTP502", "InvalidRegionId.NotFound"):
        assert code_label(code) == code
    assert code_label("C" * 64) == "C" * 64
    for fixed in ("Success", "Invalid", "InvalidResponse", "Timeout", "Unsuccessful", "Cancelled"):
        assert fixed in CODE_LABEL_VALUES
    assert {"<API code>", "HTTP<status>", "<transport error class>"} <= CODE_LABEL_VALUES.keys()


# ------------------------------------------------------------------ error texts


async def test_refused_connections_name_the_peer_and_the_reason(session: Any) -> None:
    port = unused_port()
    seen: Seen = []
    with pytest.raises(ApiError) as info:
        await call(make_client(session, f"http://127.0.0.1:{port}", seen))
    assert info.value.code == "ClientConnectorError"
    assert f"cannot connect to 127.0.0.1:{port} (Connection refused)" in str(info.value)
    # No connection, no API request: the CloudMonitor quota input must not count it.
    assert seen == []


async def test_an_attempt_cancelled_in_flight_is_counted(session: Any) -> None:
    """A pass timeout cancels a request the API already has: it counts against the quota."""
    api = FakeApi({"cn-hangzhou": []})
    api.gate = asyncio.Event()  # the answer never comes
    seen: Seen = []
    async with api.serve() as url:
        task = asyncio.create_task(call(make_client(session, url, seen, timeout=30.0)))
        deadline = time.monotonic() + 5
        while not api.requests:
            assert time.monotonic() < deadline, "the request never arrived"
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        api.gate.set()
    assert [entry[2:4] for entry in seen] == [("DescribeRegions", "Cancelled")]


async def test_timeouts_name_the_peer(session: Any) -> None:
    api = FakeApi({"cn-hangzhou": []})
    api.faults = ["slow"]
    seen: Seen = []
    async with api.serve() as url:
        with pytest.raises(ApiError) as info:
            await call(make_client(session, url, seen, timeout=0.2))
    port = url.rsplit(":", 1)[1]
    assert (
        str(info.value) == f"DescribeRegions: Timeout: no answer from 127.0.0.1:{port} within 0.2s"
    )


async def test_api_error_messages_are_redacted_when_built(session: Any) -> None:
    register_secret(SECRET)
    register_secret(STS_TOKEN)
    echo = f"bad AccessKeySecret {SECRET} with token {STS_TOKEN}, Signature=abcdef012345"
    api = FakeApi({"cn-hangzhou": []})
    api.faults = [(400, {"Code": "InvalidParameter", "Message": echo}), (400, {"Code": SECRET})]
    seen: Seen = []
    async with api.serve() as url:
        client = make_client(session, url, seen)
        errors = []
        for _ in range(2):
            with pytest.raises(ApiError) as info:
                await call(client)
            errors.append(info.value)
    for error in errors:
        text = str(error)
        assert SECRET not in text and STS_TOKEN not in text and "abcdef012345" not in text
    assert errors[0].code == "InvalidParameter" and "[REDACTED]" in str(errors[0])
    assert errors[1].code == "Invalid"  # a code echoing a secret never becomes a label value
    assert SECRET not in repr(seen)
    long_token = "CAIS" + "x" * 200  # STS tokens are long: cutting first would leak a prefix
    register_secret(long_token)
    assert "xxxxxxxx" not in str(ApiError(f"Bad\t{long_token}", "m", action="A"))
    direct = ApiError("X", f"{STS_TOKEN[:20]}\n{STS_TOKEN}", action="A")
    assert STS_TOKEN not in str(direct) and "\n" not in str(direct)


# ------------------------------------------------------------------ other API products


async def test_version_and_default_endpoint_are_settings(session: Any) -> None:
    api = FakeApi({"cn-hangzhou": []})
    seen: Seen = []
    async with api.serve() as url:
        await call(make_client(session, url, seen))
        await call(make_client(session, url, seen, api_version="2019-01-01"))
    assert api.versions == ["2016-04-28", "2019-01-01"]  # both signatures verified
    assert str(endpoint_url(None, "cn-hangzhou")) == "https://vpc.aliyuncs.com/"
    assert str(endpoint_url(None, "ap-southeast-1")) == "https://vpc.ap-southeast-1.aliyuncs.com/"
    other = endpoint_url(None, "cn-beijing", lambda region: f"metrics.{region}.aliyuncs.com")
    assert str(other) == "https://metrics.cn-beijing.aliyuncs.com/"


async def test_success_field_turns_200_answers_into_errors_only_when_set(session: Any) -> None:
    failed = {"Success": False, "Code": "InvalidParameter", "Message": "no such metric"}
    coded = {"Code": "400", "Message": "x"}
    bare = {"Success": False}
    fine = {"Success": True, "Code": "200", "Datapoints": "[]"}
    api = FakeApi({"cn-hangzhou": []})
    seen: Seen = []
    async with api.serve() as url:
        vpc_style = make_client(session, url, seen)
        api.faults = [(200, failed)]
        assert await call(vpc_style) == failed  # today's behaviour: a 200 answer is data
        cms_style = make_client(session, url, seen, success_field=True)
        codes = []
        for body in (failed, coded, bare):
            api.faults = [(200, body)]
            with pytest.raises(ApiError) as info:
                await call(cms_style)
            assert info.value.http_status == 200 and not info.value.retryable
            codes.append(info.value.code)
        api.faults = [(200, fine)]
        assert await call(cms_style) == fine
    assert codes == ["InvalidParameter", "400", "Unsuccessful"]
    assert [entry[3] for entry in seen] == ["Success", *codes, "Success"]


async def test_success_false_with_code_200_is_unsuccessful_not_200(session: Any) -> None:
    """``Success:"false"`` beside ``Code:"200"``: the label says what happened, not "200"."""
    api = FakeApi({"cn-hangzhou": []})
    seen: Seen = []
    async with api.serve() as url:
        client = make_client(session, url, seen, success_field=True)
        for body in ({"Success": "false", "Code": "200"}, {"Success": False, "Code": 200}):
            api.faults = [(200, body)]
            with pytest.raises(ApiError) as info:
                await call(client)
            assert info.value.code == "Unsuccessful" and not info.value.retryable
    assert [entry[3] for entry in seen] == ["Unsuccessful", "Unsuccessful"]


async def test_a_5xx_code_in_a_200_answer_is_retried(session: Any) -> None:
    api = FakeApi({"cn-hangzhou": []})
    api.faults = [
        (200, {"Success": False, "Code": "500", "Message": "InternalError"}),
        (200, {"Success": True, "Code": "200", "Datapoints": "[]"}),
    ]
    seen: Seen = []
    async with api.serve() as url:
        body = await call(make_client(session, url, seen, retries=2, success_field=True))
    assert body["Success"] is True
    assert [entry[3] for entry in seen] == ["500", "Success"]


@pytest.mark.parametrize("body", [{}, {"Datapoints": "[]"}, {"RequestId": "r", "Message": ""}])
async def test_a_200_answer_without_the_success_shape_is_not_success(
    session: Any, body: dict[str, Any]
) -> None:
    """``{}`` (or a body with neither ``Success`` nor ``Code``) is not an answer: it would
    publish an empty pass as success. Counted as InvalidResponse, and retried."""
    api = FakeApi({"cn-hangzhou": []})
    seen: Seen = []
    async with api.serve() as url:
        client = make_client(session, url, seen, success_field=True)
        api.faults = [(200, body)]
        with pytest.raises(ApiError) as info:
            await call(client)
    assert info.value.code == "InvalidResponse" and info.value.retryable
    assert "without Success or Code" in str(info.value)


async def test_success_field_errors_are_retried_like_any_other(session: Any) -> None:
    api = FakeApi({"cn-hangzhou": []})
    api.faults = [
        (200, {"Success": False, "Code": "Throttling.User", "Message": "slow down"}),
        (200, {"Success": True, "Code": "200", "Regions": {"Region": []}}),
    ]
    seen: Seen = []
    async with api.serve() as url:
        body = await call(make_client(session, url, seen, retries=2, success_field=True))
    assert "Regions" in body
    assert [entry[3] for entry in seen] == ["Throttling.User", "Success"]


# ------------------------------------------------------------------ calls, retries, spacing


async def test_signed_call_keeps_unknown_fields(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        client = fake_api_client(session, url)
        body = await client.call(
            "DescribePhysicalConnections",
            "cn-hangzhou",
            {"RegionId": "cn-hangzhou", "PageNumber": "1", "PageSize": "5"},
        )
    record = body["PhysicalConnectionSet"]["PhysicalConnectionType"][0]
    assert record["SomeFutureField"] == {"Nested": [1, 2]}
    assert body["TotalCount"] == 13
    assert api.requests[0]["_action"] == "DescribePhysicalConnections"


async def test_retries_throttling_5xx_nonce_and_transport_errors(
    recorded: Any, session: Any
) -> None:
    api = FakeApi(recorded)
    nonce_used = (400, {"Code": "SignatureNonceUsed", "Message": "used"})
    internal = (500, {"Code": "InternalError", "Message": "boom"})
    api.faults = [throttled(), unavailable(), nonce_used, "drop"]
    seen: list[Any] = []
    async with api.serve() as url:
        client = fake_api_client(session, url, seen=seen)
        body = await client.call(
            "DescribePhysicalConnections", "cn-shanghai", {"RegionId": "cn-shanghai"}
        )
        assert body["TotalCount"] == 3
        codes = [entry[3] for entry in seen]
        assert codes[:3] == ["Throttling.User", "ServiceUnavailable", "SignatureNonceUsed"]
        assert codes[-1] == "Success" and len(codes) == 5
        assert codes[3] not in ("Success", "Throttling.User")  # a transport error class
        # A plain 5xx without a known code is retried too; retries run out → the last error.
        api.faults = [internal] * 3
        seen.clear()
        failing = fake_api_client(session, url, retries=2, seen=seen)
        with pytest.raises(ApiError) as info:
            await failing.call("DescribeRegions", "cn-hangzhou", {"RegionId": "cn-hangzhou"})
        assert info.value.code == "InternalError" and len(seen) == 3


async def test_timeouts_are_retried(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    api.faults = ["slow"]
    seen: list[Any] = []
    async with api.serve() as url:
        client = fake_api_client(session, url, timeout=0.3, seen=seen)
        body = await client.call("DescribeRegions", "cn-hangzhou", {"RegionId": "cn-hangzhou"})
    assert "Regions" in body
    assert [entry[3] for entry in seen] == ["Timeout", "Success"]


async def test_no_retry_on_auth_or_parameter_errors(recorded: Any, session: Any) -> None:
    api = FakeApi(recorded)
    async with api.serve() as url:
        seen: list[Any] = []
        wrong = fake_api_client(session, url, secret="wrong-secret-value", seen=seen)
        with pytest.raises(ApiError) as info:
            await wrong.call("DescribeRegions", "cn-hangzhou", {"RegionId": "cn-hangzhou"})
        assert info.value.code == "SignatureDoesNotMatch" and len(seen) == 1
        assert "wrong-secret-value" not in str(info.value)
        seen.clear()
        client = fake_api_client(session, url, seen=seen)
        with pytest.raises(ApiError) as info:
            await client.call(
                "DescribePhysicalConnections", "cn-nowhere", {"RegionId": "cn-nowhere"}
            )
        assert info.value.code == "InvalidRegionId.NotFound" and len(seen) == 1
        assert info.value.http_status == 404


async def test_rate_limiter_spaces_requests_without_blocking_the_loop() -> None:
    limiter = RateLimiter(20.0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(7)))
    elapsed = time.monotonic() - started
    task.cancel()
    assert elapsed >= 6 / 20 - 0.01  # 7 requests at 20/s need at least 6 intervals
    assert ticks >= 5  # the loop kept running while callers waited


def test_endpoint_url() -> None:
    assert str(endpoint_url(None, "cn-hangzhou")) == "https://vpc.aliyuncs.com/"
    assert str(endpoint_url(None, "eu-west-1")) == "https://vpc.eu-west-1.aliyuncs.com/"
    assert str(endpoint_url("http://127.0.0.1:1/{region_id}/", "x")) == "http://127.0.0.1:1/x/"
    assert str(endpoint_url("http://127.0.0.1:18080", "x")) == "http://127.0.0.1:18080/"
