"""The aiohttp application: the VPC API at ``/`` and the control plane under ``/_sim/``.

The API handler is one pipeline: read parameters (query string and form body), authenticate,
apply injected faults and rate limits, run the action, log. Every failure becomes the vendor's
error body; an unexpected exception becomes ``InternalError``, never a traceback on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web

from exporter.regions import REGION_IDS, endpoint_host
from exporter.simulator.api import Call
from exporter.simulator.auth import IncomingRequest
from exporter.simulator.cmsapi import CmsError, cms_error_body, is_cms, success_false
from exporter.simulator.control import add_control_routes
from exporter.simulator.core import Simulator
from exporter.simulator.errors import ErrorAnswer, common, error_body, new_request_id
from exporter.simulator.faults import ERROR_KINDS
from exporter.simulator.requestlog import RequestRecord, public_params
from exporter.simulator.resilience import api as resilience_api
from exporter.simulator.vbrapi import PEER_ACTIONS, VBR_ACTIONS

log = logging.getLogger("exporter.simulator")
_JSON = "application/json"
_PAGED_ACTIONS = frozenset(
    {"DescribePhysicalConnections", *VBR_ACTIONS, "DescribeCenVbrHealthCheck"}
)
_HANG_DEFAULT = 600.0


class _Drop(Exception):
    """Close the connection without an answer (reset and hang faults)."""


def build_app(sim: Simulator) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    add_control_routes(app, sim)
    handler = _ApiHandler(sim)
    app.router.add_route("*", "/", handler.handle)
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    return app


@dataclass
class _Trace:
    """What the request log keeps about one request, filled in as handling proceeds."""

    action: str = ""
    region: str = ""
    params: dict[str, str] = field(default_factory=dict)
    account: str | None = None
    access_key_id: str | None = None
    signature_version: str | None = None
    faults: tuple[str, ...] = ()


class _ApiHandler:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.resilience_api = resilience_api.ResilienceApi(sim.resilience)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.time()
        request_id = new_request_id()
        trace = _Trace()
        try:
            payload = await self._answer(request, request_id, trace)
            status, code = 200, "OK"
        except _Drop:
            self._record(request, request_id, started, trace, 0, "ConnectionReset")
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError from None
        except ErrorAnswer as exc:
            status, code = exc.status, exc.code
            payload = _error_payload(exc, request_id, trace)
        except Exception:  # never a traceback on the wire
            log.exception("unexpected error handling %s", trace.action)
            error = common("InternalError")
            status, code = error.status, error.code
            payload = _error_payload(error, request_id, trace)
        self._record(request, request_id, started, trace, status, code)
        return web.Response(body=payload, status=status, content_type=_JSON)

    async def _answer(self, request: web.Request, request_id: str, trace: _Trace) -> bytes:
        """Parse, authenticate, apply faults and limits, run the action: the answer's body."""
        sim = self.sim
        query = dict(request.query)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ErrorAnswer("InvalidParameter", "The request body is too large.") from None
        form: dict[str, str] = {}
        if body and request.content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        params = {**query, **form}
        trace.params = params
        trace.action = action = params.get("Action") or headers.get("x-acs-action", "")
        if "Version" not in params and "x-acs-version" in headers:
            params["Version"] = headers["x-acs-version"]
        trace.region = region = resilience_api.request_region(params)
        if not action:
            raise ErrorAnswer(
                "MissingParameter",
                'The input parameter "Action" that is mandatory for processing this '
                "request is not supplied.",
            )
        caller = sim.auth.verify(
            IncomingRequest(request.method, request.path, query, form, headers, body)
        )
        trace.account = account = caller.account.name
        trace.access_key_id = caller.access_key_id
        trace.signature_version = caller.signature_version

        page = _page(params) if action in _PAGED_ACTIONS else None
        fired = sim.faults.fire(account, region, action, page)
        trace.faults = tuple(f.kind for f in fired)
        total_delta = 0
        mangle: str | None = None
        for fault in fired:
            kind = fault.kind
            if kind == "latency":
                await asyncio.sleep(1.0 if fault.seconds is None else fault.seconds)
            elif kind == "hang":
                await asyncio.sleep(_HANG_DEFAULT if fault.seconds is None else fault.seconds)
                raise _Drop
            elif kind == "reset":
                raise _Drop
            elif kind in ERROR_KINDS:
                raise common(kind, fault.status)
            elif kind == "shift_records" and region:
                _rotate(sim, action, account, region, fault.delta)
            elif kind == "total_count_change":
                total_delta += fault.delta
            elif kind in ("malformed_json", "truncated_json"):
                mangle = kind
            elif kind == "success_false":
                raise success_false(fault.code, fault.message, fault.status)
        refused = sim.rate_limits.allow(account, region, action)
        if refused is not None:
            raise common("Throttling.User", refused)

        if is_cms(params):  # CloudMonitor: told apart from the VPC API by its Version
            account_uid = caller.account.uid
            payload = sim.cms_api.handle(action, params, account, account_uid, request_id)
        elif resilience_api.handles(action, params):  # CEN (by its Version), failover tests, VBR HA
            payload = self.resilience_api.handle(
                action, params, caller.account, request_id, total_delta
            )
        else:
            payload = sim.api.handle(Call(action, params, caller.account, request_id, total_delta))
        if mangle == "truncated_json":
            return payload[: max(1, len(payload) // 2)]
        if mangle == "malformed_json":
            return payload[: max(1, len(payload) // 2)] + b'"}<html>502 Bad Gateway'
        return payload

    def _record(
        self,
        request: web.Request,
        request_id: str,
        started: float,
        trace: _Trace,
        status: int,
        code: str,
    ) -> None:
        access_key_id = trace.access_key_id
        if access_key_id is None:
            access_key_id = trace.params.get("AccessKeyId")
        self.sim.log.add(
            RequestRecord(
                time=started,
                request_id=request_id,
                method=request.method,
                action=trace.action,
                region=trace.region,
                account=trace.account,
                access_key_id=access_key_id,
                signature_version=trace.signature_version,
                status=status,
                code=code,
                params=public_params(trace.params),
                faults=trace.faults,
                duration_seconds=time.time() - started,
            )
        )


def _page(params: dict[str, str]) -> int | None:
    try:
        return int(params.get("PageNumber", "1"))
    except ValueError:
        return None


def _rotate(sim: Simulator, action: str, account: str, region: str, delta: int) -> None:
    """Move records between pages of the list this action reads."""
    if action in VBR_ACTIONS:
        sim.vbr_store.rotate(action in PEER_ACTIONS, account, region, delta)
    elif action == "DescribeFailoverTestJobs":
        sim.resilience.rotate_jobs(account, region, delta)
    elif action in resilience_api.RESILIENCE_ACTIONS:
        return  # health checks follow the VBR order, VBR HA answers one group
    else:
        sim.store.rotate(account, region, delta)


def _error_payload(error: ErrorAnswer, request_id: str, trace: _Trace) -> bytes:
    if isinstance(error, CmsError) or is_cms(trace.params):
        return cms_error_body(error, request_id)
    if resilience_api.is_cbn(trace.params):
        return resilience_api.cbn_error_body(error, request_id)
    return error_body(error, request_id, _host_id(trace.region))


def _host_id(region: str) -> str:
    return endpoint_host(region) if region in REGION_IDS else "vpc.aliyuncs.com"
