"""HTTP serving, the top of the simulator: the aiohttp application (the VPC and CloudMonitor
APIs at ``/``, the control plane under ``/_sim/``), :class:`Simulator` (a :class:`Simulation`
that can ``serve()`` itself) and :class:`SimulatorThread`. Nothing below imports this module.

The API handler is one pipeline: read parameters (query string and form body), authenticate,
apply injected faults and rate limits, run the action, log. Every failure becomes the vendor's
error body; an unexpected exception becomes ``InternalError``, never a traceback on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web

from exporter.region_ids import REGION_IDS, endpoint_host
from exporter.simulator.auth import IncomingRequest
from exporter.simulator.cms.actions import (
    CmsError,
    cms_error_body,
    endpoint_region,
    is_cms,
    success_false,
)
from exporter.simulator.cms.routes import add_cms_routes
from exporter.simulator.control import add_control_routes
from exporter.simulator.errors import ErrorAnswer, common, error_body, new_request_id
from exporter.simulator.faults import ERROR_KINDS
from exporter.simulator.requestlog import RequestRecord, public_params
from exporter.simulator.resilience import api as resilience_api
from exporter.simulator.resilience.control import add_resilience_routes
from exporter.simulator.simulation import Simulation
from exporter.simulator.vbr.actions import PEER_ACTIONS, VBR_ACTIONS
from exporter.simulator.vbr.routes import add_vbr_routes
from exporter.simulator.vpc import Call

log = logging.getLogger("exporter.simulator")
_JSON = "application/json"
_PAGED_ACTIONS = frozenset(
    {"DescribePhysicalConnections", *VBR_ACTIONS, "DescribeCenVbrHealthCheck"}
)
_HANG_DEFAULT = 600.0


class _Drop(Exception):
    """Close the connection without an answer (reset and hang faults)."""


def build_app(sim: Simulation) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    add_control_routes(app, sim, (add_vbr_routes, add_cms_routes, add_resilience_routes))
    handler = _ApiHandler(sim)
    app.router.add_route("*", "/", handler.handle)
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    return app


class Simulator(Simulation):
    """A :class:`Simulation` that serves itself over HTTP: ``async with sim.serve() as url``.

    Serving lives here, on top, so that the state and the control plane below never import
    the server that is built over them.
    """

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the API and the control plane in the running loop; yields the base URL."""
        runner = web.AppRunner(
            build_app(self), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound = runner.addresses[0][1]
            tasks = [
                asyncio.create_task(self._tick_forever()),
                asyncio.create_task(self._run_scenario()),
            ]
            try:
                yield f"http://{host}:{bound}"
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await runner.cleanup()


class SimulatorThread:
    """Run :meth:`Simulator.serve` in its own thread and event loop (for sync tests and for
    tests whose own loop must stay free). ``with SimulatorThread(sim) as url: ...``"""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self.url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("simulator did not start within 30 s")
        if self._error is not None:
            raise RuntimeError(f"simulator failed to start: {self._error}") from self._error
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with self.sim.serve(self.host, self.port) as url:
                self.url = url
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # reported to the thread that called __enter__
            self._error = exc
            self._ready.set()


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
    def __init__(self, sim: Simulation) -> None:
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
            where = endpoint_region(request.host, request.path)
            payload = sim.cms_api.handle(action, params, account, account_uid, request_id, where)
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


def _rotate(sim: Simulation, action: str, account: str, region: str, delta: int) -> None:
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
