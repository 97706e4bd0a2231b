"""Control-plane routes for VBRs and BGP peers under ``/_sim/`` (listed in README.md).

They mirror the ``VbrMethods`` of the Simulator; bad input answers 400 and changes nothing,
an unknown ID 404 (through the control plane's guard).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from exporter.simulator.control import add_record_routes, body_fields, json_response, read_body
from exporter.simulator.scenario import parse_duration

if TYPE_CHECKING:
    from exporter.simulator.simulation import Simulation


def _check(body: dict[str, Any], allowed: set[str], required: str, what: str) -> None:
    """Unknown fields first, then the one required field: the first problem is the answer."""
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown {what} fields: {sorted(unknown)}")
    if required not in body:
        raise ValueError(f"{required}: field required")


def _vbr_entry(sim: Simulation, vbr_id: str) -> dict[str, Any]:
    info = sim.vbr_info(vbr_id)
    return {
        "account": info.account,
        "region": info.region,
        "health_check": info.health_check,
        "vbr": sim.vbr(vbr_id),
    }


def _peer_entry(sim: Simulation, peer_id: str) -> dict[str, Any]:
    account, region = sim.bgp_peer_owner(peer_id)
    return {"account": account, "region": region, "peer": sim.bgp_peer(peer_id)}


def add_vbr_routes(routes: web.RouteTableDef, sim: Simulation) -> None:
    _vbr_routes(routes, sim)
    _peer_routes(routes, sim)


def _vbr_routes(routes: web.RouteTableDef, sim: Simulation) -> None:
    @routes.get("/_sim/vbrs")
    async def list_vbrs(request: web.Request) -> web.StreamResponse:
        q = request.query
        with sim.vbr_store.lock:
            views = sim.vbrs(q.get("account"), q.get("region"), q.get("connection"))
            return json_response([_vbr_entry(sim, v["VbrId"]) for v in views])

    @routes.post("/_sim/vbrs")
    async def add_vbr(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        _check(body, {"connection", "id", "fields", "health_check", "peers"}, "connection", "VBR")
        vbr_id = sim.add_vbr(
            body["connection"],
            body_fields(body),
            body.get("id"),
            body.get("health_check", True),
            body.get("peers", 1),
        )
        return json_response({"id": vbr_id, "vbr": sim.vbr(vbr_id)}, 201)

    @routes.post("/_sim/vbrs/select")
    async def select_vbr(request: web.Request) -> web.StreamResponse:
        return json_response({"id": sim.select_vbr(await read_body(request))})

    def set_vbr(vbr_id: str, body: dict[str, Any]) -> dict[str, Any]:
        view = sim.set_vbr(vbr_id, body)
        return {"vbr": view, "health_check": sim.vbr_info(vbr_id).health_check}

    add_record_routes(
        routes, "/_sim/vbrs", lambda vbr_id: _vbr_entry(sim, vbr_id), set_vbr, sim.remove_vbr
    )


def _peer_routes(routes: web.RouteTableDef, sim: Simulation) -> None:
    @routes.get("/_sim/bgp-peers")
    async def list_peers(request: web.Request) -> web.StreamResponse:
        q = request.query
        with sim.vbr_store.lock:
            views = sim.bgp_peers(q.get("account"), q.get("region"), q.get("vbr"))
            return json_response([_peer_entry(sim, p["BgpPeerId"]) for p in views])

    @routes.post("/_sim/bgp-peers")
    async def add_peer(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        _check(body, {"vbr", "id", "fields", "ip_version"}, "vbr", "BGP peer")
        peer_id = sim.add_bgp_peer(
            body["vbr"], body_fields(body), body.get("id"), body.get("ip_version", "ipv4")
        )
        return json_response({"id": peer_id, "peer": sim.bgp_peer(peer_id)}, 201)

    @routes.post("/_sim/bgp-peers/select")
    async def select_peer(request: web.Request) -> web.StreamResponse:
        return json_response({"id": sim.select_bgp_peer(await read_body(request))})

    add_record_routes(
        routes,
        "/_sim/bgp-peers",
        lambda peer_id: _peer_entry(sim, peer_id),
        lambda peer_id, body: {"peer": sim.set_bgp_peer(peer_id, body)},
        sim.remove_bgp_peer,
    )

    @routes.post("/_sim/bgp-peers/{id}/flap")
    async def flap(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        _check(body, {"seconds", "status"}, "seconds", "flap")
        seconds = parse_duration(body["seconds"])
        view = sim.flap_bgp_peer(request.match_info["id"], seconds, body.get("status", "Down"))
        return json_response({"peer": view, "seconds": seconds})
