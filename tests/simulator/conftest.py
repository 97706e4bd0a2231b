"""Shared helpers for the simulator tests: a tiny signed client over urllib (no keep-alive, no
retries, so every request the test makes is exactly one request the simulator sees)."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models
from alibabacloud_vpc20160428.client import Client

from exporter import signing
from exporter.simulator import Simulator, SimulatorThread

AK = "sim-access-key-id"
SECRET = "sim-access-key-secret"
STS_AK = "STS.sim-sts-access-key-id"
STS_SECRET = "sim-sts-access-key-secret"
STS_TOKEN = "sim-security-token"
T = TypeVar("T")
# The official SDK with retries off, so one call is one request.
NO_RETRY = util_models.RuntimeOptions(
    autoretry=False, max_attempts=0, read_timeout=5000, connect_timeout=5000
)


def sdk_client(
    url: str,
    algorithm: str | None = None,
    sts: bool = False,
    secret: str | None = None,
    region: str = "cn-shanghai",
) -> Client:
    """The official VPC SDK pointed at the simulator: V3 signing by default, V1 with
    ``algorithm='v2'``; the built-in account's AccessKey or its STS credential."""
    port = url.rsplit(":", 1)[1]
    creds: dict[str, Any] = (
        {
            "access_key_id": STS_AK,
            "access_key_secret": secret or STS_SECRET,
            "security_token": STS_TOKEN,
        }
        if sts
        else {"access_key_id": AK, "access_key_secret": secret or SECRET}
    )
    config = open_api_models.Config(
        endpoint=f"127.0.0.1:{port}",
        protocol="http",
        region_id=region,
        signature_algorithm=algorithm,
        **creds,
    )
    return Client(config)


def wait_for(probe: Callable[[], T], what: str, timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy (no fixed sleeps in tests); fail
    naming ``what`` and the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def utc(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if ts is None else ts))


@dataclass
class Answer:
    status: int
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        return self.json.get("Code") if self.status != 200 else None


def send(
    url: str,
    action: str,
    params: dict[str, str] | None = None,
    *,
    sig: str = "v1",
    method: str = "GET",
    ak: str = AK,
    secret: str = SECRET,
    token: str | None = None,
    form: bool = False,
    timestamp: str | None = None,
    nonce: str | None = None,
    version: str = "2016-04-28",
    timeout: float = 10.0,
    extra_headers: dict[str, str] | None = None,
) -> Answer:
    """One signed request (V1 query/form or V3 headers); returns status and raw body."""
    params = dict(params or {})
    nonce = nonce or uuid.uuid4().hex
    timestamp = timestamp or utc()
    headers: dict[str, str] = {}
    body = b""
    if sig == "v1":
        all_params = {
            "Action": action,
            "Version": version,
            "Format": "JSON",
            "AccessKeyId": ak,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": nonce,
            "Timestamp": timestamp,
            **params,
        }
        if token:
            all_params["SecurityToken"] = token
        all_params["Signature"] = signing.v1_signature(secret, method, all_params)
        if form:
            body = signing.canonical_query(all_params).encode()
            body += b"&Signature=" + signing.percent_encode(all_params["Signature"]).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
            query = ""
        else:
            query = signing.canonical_query(all_params)
            query += "&Signature=" + signing.percent_encode(all_params["Signature"])
    else:
        query_params = {} if form else params
        if form:
            body = signing.canonical_query(params).encode()
            extra_headers = {
                **(extra_headers or {}),
                "content-type": "application/x-www-form-urlencoded",
            }
        headers = signing.sign_v3_headers(
            access_key_id=ak,
            secret=secret,
            method=method,
            host=urlsplit(url).netloc,
            action=action,
            version=version,
            params=query_params,
            date=timestamp,
            nonce=nonce,
            body=body,
            security_token=token,
            extra_headers=extra_headers,
        )
        query = signing.canonical_query(query_params)
    request = urllib.request.Request(
        f"{url}/?{query}", data=body or None, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())


def describe(url: str, region: str, **params: str) -> Answer:
    return send(url, "DescribePhysicalConnections", {"RegionId": region, **params})


def all_pages(url: str, region: str, page_size: int = 50, **params: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = describe(url, region, PageSize=str(page_size), PageNumber=str(page), **params)
        assert answer.status == 200, answer.body
        data = answer.json
        batch = data["PhysicalConnectionSet"]["PhysicalConnectionType"]
        records.extend(batch)
        if page * page_size >= data["TotalCount"]:
            return records
        page += 1


def control(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/_sim/{path}", data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[tuple[Simulator, str]]:
    """A read-only 40-connection simulator shared by a module's tests (no lifecycle)."""
    sim = Simulator(seed=7, connections=40, lifecycle=False)
    with SimulatorThread(sim) as url:
        yield sim, url


@pytest.fixture
def fresh_sim() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=7, connections=40, lifecycle=False)
    with SimulatorThread(sim) as url:
        yield sim, url
