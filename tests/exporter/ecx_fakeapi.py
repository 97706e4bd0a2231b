"""A tiny recorded-pages VPC API for unit tests of the exporter's data path, over real HTTP.

It serves recorded DescribePhysicalConnections pages and verifies every V3 signature with the
shared signing module, so the client's wire format is checked, not assumed. Faults are queued
per request. The full simulator (exporter.simulator) is used by the end-to-end tests.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from exporter.client import AccountClient, ClientSettings
from exporter.credentials import Credential, StaticCredentialSource
from exporter.signing import (
    parse_v3_authorization,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
PAGES_FILE = GOLDEN / "describe_physical_connections_pages.json"
KEY_ID = "test-key-id"
SECRET = "test-secret-do-not-log"


def load_recorded_pages() -> dict[str, Any]:
    return json.loads(PAGES_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@dataclass
class FakeApi:
    """``pages[region_id]`` is the list of page bodies the API returns for that region."""

    pages: dict[str, list[dict[str, Any]]]
    secrets: dict[str, str] = field(default_factory=lambda: {KEY_ID: SECRET})
    faults: list[tuple[int, dict[str, Any]] | str] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    fail_all: tuple[int, dict[str, Any]] | None = None
    gate: Any = None  # an asyncio.Event every request waits for, when set
    versions: list[str] = field(default_factory=list)  # x-acs-version of every request

    def records(self, region_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.pages[region_id]:
            out.extend(page["PhysicalConnectionSet"]["PhysicalConnectionType"])
        return out

    def _error(self, status: int, code: str, message: str) -> web.Response:
        body = {"RequestId": "FAKE", "HostId": "vpc.aliyuncs.com", "Code": code, "Message": message}
        return web.json_response(body, status=status)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append({**params, "_action": headers.get("x-acs-action", "")})
        self.versions.append(headers.get("x-acs-version", ""))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_all is not None:
            return web.json_response(self.fail_all[1], status=self.fail_all[0])
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "drop":
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            if fault == "slow":
                import asyncio

                await asyncio.sleep(1)
            elif isinstance(fault, tuple):
                status, body = fault
                return web.json_response(body, status=status)
        auth = parse_v3_authorization(headers.get("authorization", ""))
        if auth is None:
            return self._error(400, "IncompleteSignature", "no V3 Authorization")
        secret = self.secrets.get(auth["Credential"])
        if secret is None:
            return self._error(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        signed = auth["SignedHeaders"].split(";")
        for required in ("host", "x-acs-action", "x-acs-version", "x-acs-date"):
            if required not in signed:
                return self._error(400, "IncompleteSignature", f"{required} not signed")
        canonical = v3_canonical_request(
            request.method, "/", params, headers, signed, headers["x-acs-content-sha256"]
        )
        if v3_signature(secret, v3_string_to_sign(canonical)) != auth["Signature"]:
            return self._error(400, "SignatureDoesNotMatch", "Specified signature is not matched.")
        nonce = headers["x-acs-signature-nonce"]
        if nonce in self.nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used.")
        self.nonces.add(nonce)
        action = headers["x-acs-action"]
        if action == "DescribeRegions":
            regions = [{"RegionId": r, "LocalName": r, "RegionEndpoint": "x"} for r in self.pages]
            return web.json_response({"RequestId": "R", "Regions": {"Region": regions}})
        region = params.get("RegionId", "")
        if action in EMPTY_LISTINGS and region in self.pages:
            return web.json_response(empty_listing(action, params))
        cen_region = params.get("VbrInstanceRegionId")  # CEN has no RegionId
        if action == "DescribeCenVbrHealthCheck" and not region and cen_region in self.pages:
            return web.json_response(empty_listing(action, params))
        if action == "DescribeFailoverTestJobs" and region in self.pages:
            body = {"RequestId": "FAKE", "TotalCount": 0, "Count": 0, "NextToken": ""}
            return web.json_response({**body, "FailoverTestJobList": []})
        if action != "DescribePhysicalConnections":
            return self._error(400, "InvalidAction.NotFound", action)
        if region not in self.pages:
            return self._error(404, "InvalidRegionId.NotFound", "no such region")
        number = int(params.get("PageNumber", "1"))
        pages = self.pages[region]
        if number <= len(pages):
            return web.json_response(pages[number - 1])
        empty = dict(
            pages[0], PageNumber=number, PhysicalConnectionSet={"PhysicalConnectionType": []}
        )
        return web.json_response(empty)

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_route("*", "/", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


# The recorded account has lines but no virtual border routers: these listings are empty.
EMPTY_LISTINGS = {
    "DescribeVirtualBorderRouters": ("VirtualBorderRouterSet", "VirtualBorderRouterType"),
    "DescribeBgpPeers": ("BgpPeers", "BgpPeer"),
    "DescribeCenVbrHealthCheck": ("VbrHealthChecks", "VbrHealthCheck"),
}


def empty_listing(action: str, params: dict[str, str]) -> dict[str, Any]:
    wrapper, item = EMPTY_LISTINGS[action]
    return {
        "RequestId": "FAKE",
        "PageNumber": int(params.get("PageNumber", "1")),
        "PageSize": int(params.get("PageSize", "10")),
        "TotalCount": 0,
        wrapper: {item: []},
    }


def throttled() -> tuple[int, dict[str, Any]]:
    return (
        400,
        {"Code": "Throttling.User", "Message": "Request was denied due to user flow control."},
    )


def unavailable() -> tuple[int, dict[str, Any]]:
    return (503, {"Code": "ServiceUnavailable", "Message": "temporary failure"})


def credentials(secret: str = SECRET) -> StaticCredentialSource:
    return StaticCredentialSource("access_key", Credential(KEY_ID, secret))


def fake_api_client(
    session: aiohttp.ClientSession,
    url: str,
    *,
    secret: str = SECRET,
    retries: int = 4,
    rate: float = 1000.0,
    timeout: float = 2.0,
    seen: list[tuple[str, str, str, str, float]] | None = None,
) -> AccountClient:
    """An account client for the fake API with short backoffs, recording what it observes."""
    settings = ClientSettings(
        endpoint=url,
        request_timeout=timeout,
        retries=retries,
        max_requests_per_second=rate,
        backoff_base=0.01,
        backoff_cap=0.05,
    )

    def observe(*args: Any) -> None:
        if seen is not None:
            seen.append(args)  # type: ignore[arg-type]

    return AccountClient(session, "prod", credentials(secret), settings, observer=observe)
