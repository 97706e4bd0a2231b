"""The control plane under ``/_sim/`` (JSON in and out), mirroring the Simulator's methods.

Routes are listed in README.md. Bad input answers 400 ``{"error": "..."}``, an unknown
connection or fault 404; the control plane never shares a path with the API.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from exporter.simulator.faults import FaultSpec, RateLimitSpec
from exporter.simulator.fleet import iso
from exporter.simulator.requestlog import record_dict

if TYPE_CHECKING:
    from exporter.simulator.core import Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json"
    )


def _guard(handler: Handler) -> Handler:
    """Turn bad input into 400/404 JSON errors with one line naming the problem."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except KeyError as exc:
            return json_response({"error": str(exc.args[0]) if exc.args else "not found"}, 404)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            return json_response({"error": f"{loc}: {err['msg']}" if loc else err["msg"]}, 400)
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)

    return wrapped


async def read_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise ValueError(f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("request body must be a JSON object")
    return data


def body_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The ``fields`` object of an add request (none: no overrides)."""
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise ValueError("fields: must be an object")
    return fields


def add_record_routes(
    routes: web.RouteTableDef,
    path: str,
    entry: Callable[[str], dict[str, Any]],
    update: Callable[[str, dict[str, Any]], dict[str, Any]],
    remove: Callable[[str], None],
) -> None:
    """GET, PATCH and DELETE on ``{path}/{id}``, alike for every kind of simulated record.

    ``entry`` answers a GET, ``update`` gets the PATCH body and returns the answer, ``remove``
    raises KeyError for an unknown ID (404 through the guard) like ``entry`` does.
    """

    @routes.get(path + "/{id}")
    async def get_record(request: web.Request) -> web.StreamResponse:
        return json_response(entry(request.match_info["id"]))

    @routes.patch(path + "/{id}")
    async def set_record(request: web.Request) -> web.StreamResponse:
        return json_response(update(request.match_info["id"], await read_body(request)))

    @routes.delete(path + "/{id}")
    async def remove_record(request: web.Request) -> web.StreamResponse:
        remove(request.match_info["id"])
        return json_response({"removed": request.match_info["id"]})


def add_clear_route(routes: web.RouteTableDef, path: str, clear: Callable[[], None]) -> None:
    """DELETE on a collection empties it and answers ``{"cleared": true}``."""

    @routes.delete(path)
    async def clear_all(request: web.Request) -> web.StreamResponse:
        clear()
        return json_response({"cleared": True})


def add_control_routes(app: web.Application, sim: Simulator) -> None:
    from exporter.simulator.cmscontrol import add_cms_routes  # these import the helpers above
    from exporter.simulator.resilience.control import add_resilience_routes
    from exporter.simulator.vbrcontrol import add_vbr_routes

    routes = web.RouteTableDef()

    @routes.get("/_sim/health")
    async def health(request: web.Request) -> web.StreamResponse:
        return json_response(
            {
                "ok": True,
                "connections": len(sim.store),
                "vbrs": len(sim.vbr_store),
                "bgp_peers": sim.vbr_store.peer_count(),
                "now": iso(sim.now()),
            }
        )

    @routes.get("/_sim/accounts")
    async def accounts(request: web.Request) -> web.StreamResponse:
        return json_response(
            [
                {
                    "name": a.name,
                    "access_key_id": a.access_key_id,
                    "uid": a.uid,
                    "sts_access_key_ids": [s.access_key_id for s in a.sts],
                }
                for a in sim.accounts
            ]
        )

    @routes.get("/_sim/connections")
    async def list_connections(request: web.Request) -> web.StreamResponse:
        q = request.query
        out = []
        with sim.store.lock:
            for record in sim.connections(q.get("account"), q.get("region")):
                owner, region = sim.owner(record["PhysicalConnectionId"])
                out.append({"account": owner, "region": region, "connection": record})
        return json_response(out)

    @routes.post("/_sim/connections")
    async def add_connection(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        if "region" not in body:
            raise ValueError("region: field required")
        fields = body_fields(body)
        pc_id = sim.add_connection(body["region"], body.get("account"), fields, body.get("id"))
        return json_response({"id": pc_id, "connection": sim.connection(pc_id)}, 201)

    add_record_routes(
        routes,
        "/_sim/connections",
        lambda pc_id: _connection_entry(sim, pc_id),
        lambda pc_id, body: {"connection": sim.set_fields(pc_id, body)},
        sim.remove_connection,
    )

    @routes.post("/_sim/select")
    async def select(request: web.Request) -> web.StreamResponse:
        return json_response({"id": sim.select(await read_body(request))})

    @routes.get("/_sim/clock")
    async def clock(request: web.Request) -> web.StreamResponse:
        return json_response(_clock(sim))

    @routes.post("/_sim/clock")
    async def set_clock(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        unknown = set(body) - {"advance", "time_scale"}
        if unknown:
            raise ValueError(f"unknown clock fields: {sorted(unknown)}")
        if "time_scale" in body:
            sim.set_time_scale(float(body["time_scale"]))
        if "advance" in body:
            sim.advance_clock(body["advance"])
        return json_response(_clock(sim))

    @routes.post("/_sim/tick")
    async def tick(request: web.Request) -> web.StreamResponse:
        return json_response({"changes": [{"id": i, "changes": c} for i, c in sim.tick()]})

    @routes.get("/_sim/requests")
    async def requests(request: web.Request) -> web.StreamResponse:
        limit = int(request.query.get("limit", "0")) or None
        records = sim.requests(limit, request.query.get("action"))
        return json_response([record_dict(r) for r in records])

    add_clear_route(routes, "/_sim/requests", sim.clear_requests)

    @routes.get("/_sim/counters")
    async def counters(request: web.Request) -> web.StreamResponse:
        return json_response(sim.counters())

    @routes.get("/_sim/faults")
    async def faults(request: web.Request) -> web.StreamResponse:
        return json_response(sim.list_faults())

    @routes.post("/_sim/faults")
    async def add_fault(request: web.Request) -> web.StreamResponse:
        return json_response({"id": sim.add_fault(FaultSpec(**await read_body(request)))}, 201)

    add_clear_route(routes, "/_sim/faults", sim.clear_faults)

    @routes.delete("/_sim/faults/{id}")
    async def remove_fault(request: web.Request) -> web.StreamResponse:
        fault_id = int(request.match_info["id"])
        if not sim.remove_fault(fault_id):
            raise KeyError(f"no fault {fault_id}")
        return json_response({"removed": fault_id})

    @routes.get("/_sim/rate-limits")
    async def rate_limits(request: web.Request) -> web.StreamResponse:
        return json_response(sim.rate_limits.describe())

    @routes.post("/_sim/rate-limits")
    async def add_rate_limit(request: web.Request) -> web.StreamResponse:
        sim.add_rate_limit(RateLimitSpec(**await read_body(request)))
        return json_response(sim.rate_limits.describe(), 201)

    add_clear_route(routes, "/_sim/rate-limits", sim.clear_rate_limits)

    add_vbr_routes(routes, sim)
    add_cms_routes(routes, sim)
    add_resilience_routes(routes, sim)

    @routes.get("/_sim/scenario")
    async def scenario(request: web.Request) -> web.StreamResponse:
        return json_response(sim.scenario_status())

    for route in routes:
        assert isinstance(route, web.RouteDef)
        app.router.add_route(route.method, route.path, _guard(route.handler))  # type: ignore[arg-type]

    async def unknown(request: web.Request) -> web.StreamResponse:
        return json_response({"error": f"no control route {request.method} {request.path}"}, 404)

    app.router.add_route("*", "/_sim/{tail:.*}", unknown)


def _clock(sim: Simulator) -> dict[str, Any]:
    now = sim.now()
    return {"now": now, "iso": iso(now), "time_scale": sim.clock.time_scale}


def _connection_entry(sim: Simulator, pc_id: str) -> dict[str, Any]:
    account, region = sim.owner(pc_id)
    return {"account": account, "region": region, "connection": sim.connection(pc_id)}
