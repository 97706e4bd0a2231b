"""The aiohttp application: the VPC API at ``/`` and the control plane under ``/_sim/``.

The API handler is one pipeline: read parameters (query string and form body), authenticate,
apply injected faults and rate limits, run the action, log. Every failure becomes the vendor's
error body; an unexpected exception becomes ``InternalError``, never a traceback on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import parse_qsl

from aiohttp import web

from exporter.regions import REGION_IDS, endpoint_host
from exporter.simulator.api import Call
from exporter.simulator.auth import IncomingRequest
from exporter.simulator.control import add_control_routes
from exporter.simulator.core import Simulator
from exporter.simulator.errors import ApiError, common, error_body, new_request_id
from exporter.simulator.faults import ERROR_KINDS
from exporter.simulator.requestlog import RequestRecord, public_params

log = logging.getLogger("exporter.simulator")
SIMULATOR_KEY: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)
_JSON = "application/json"
_HANG_DEFAULT = 600.0


class _Drop(Exception):
    """Close the connection without an answer (reset and hang faults)."""


def build_app(sim: Simulator) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[SIMULATOR_KEY] = sim
    add_control_routes(app, sim)
    handler = _ApiHandler(sim)
    app.router.add_route("*", "/", handler.handle)
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    return app


class _ApiHandler:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.time()
        request_id = new_request_id()
        sim = self.sim
        query = dict(request.query)
        form: dict[str, str] = {}
        params: dict[str, str] = dict(query)
        headers = {k.lower(): v for k, v in request.headers.items()}
        action = query.get("Action") or headers.get("x-acs-action", "")
        region = query.get("RegionId", "")
        account: str | None = None
        caller_key: str | None = None
        version: str | None = None
        fired_kinds: tuple[str, ...] = ()
        status = 200
        code = "OK"
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise ApiError("InvalidParameter", "The request body is too large.") from None
            if body and request.content_type == "application/x-www-form-urlencoded":
                form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
                params = {**query, **form}
                action = params.get("Action") or action
                region = params.get("RegionId", "")
            if "Version" not in params and "x-acs-version" in headers:
                params["Version"] = headers["x-acs-version"]
            if not action:
                raise ApiError(
                    "MissingParameter",
                    'The input parameter "Action" that is mandatory for processing this '
                    "request is not supplied.",
                )
            caller = sim.auth.verify(
                IncomingRequest(request.method, request.path, query, form, headers, body)
            )
            account = caller.account.name
            caller_key = caller.access_key_id
            version = caller.signature_version
            page = _page(params) if action == "DescribePhysicalConnections" else None
            fired = sim.faults.fire(account, region, action, page)
            fired_kinds = tuple(f.kind for f in fired)
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
                    raise common(kind)
                elif kind == "shift_records" and region:
                    sim.store.rotate(account, region, fault.delta)
                elif kind == "total_count_change":
                    total_delta += fault.delta
                elif kind in ("malformed_json", "truncated_json"):
                    mangle = kind
            if not sim.rate_limits.allow(account, region, action):
                raise common("Throttling.User")
            payload = sim.api.handle(Call(action, params, caller.account, request_id, total_delta))
            if mangle == "truncated_json":
                payload = payload[: max(1, len(payload) // 2)]
            elif mangle == "malformed_json":
                payload = payload[: max(1, len(payload) // 2)] + b'"}<html>502 Bad Gateway'
        except _Drop:
            status, code = 0, "ConnectionReset"
            self._record(
                request,
                request_id,
                started,
                action,
                region,
                account,
                caller_key,
                version,
                status,
                code,
                params,
                fired_kinds,
            )
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError from None
        except ApiError as exc:
            status, code = exc.status, exc.code
            payload = error_body(exc, request_id, _host_id(region))
        except Exception:  # never a traceback on the wire
            log.exception("unexpected error handling %s", action)
            exc2 = common("InternalError")
            status, code = exc2.status, exc2.code
            payload = error_body(exc2, request_id, _host_id(region))
        self._record(
            request,
            request_id,
            started,
            action,
            region,
            account,
            caller_key,
            version,
            status,
            code,
            params,
            fired_kinds,
        )
        return web.Response(body=payload, status=status, content_type=_JSON)

    def _record(
        self,
        request: web.Request,
        request_id: str,
        started: float,
        action: str,
        region: str,
        account: str | None,
        access_key_id: str | None,
        version: str | None,
        status: int,
        code: str,
        params: dict[str, str],
        faults: tuple[str, ...],
    ) -> None:
        if account is None and access_key_id is None:
            access_key_id = params.get("AccessKeyId")
        self.sim.log.add(
            RequestRecord(
                time=started,
                request_id=request_id,
                method=request.method,
                action=action,
                region=region,
                account=account,
                access_key_id=access_key_id,
                signature_version=version,
                status=status,
                code=code,
                params=public_params(params),
                faults=faults,
                duration_seconds=time.time() - started,
            )
        )


def _page(params: dict[str, str]) -> int | None:
    try:
        return int(params.get("PageNumber", "1"))
    except ValueError:
        return None


def _host_id(region: str) -> str:
    return endpoint_host(region) if region in REGION_IDS else "vpc.aliyuncs.com"
