"""Control-plane routes for health checks, failover tests and VBR HA groups under ``/_sim/``
(listed in the simulator's README). They mirror :class:`Resilience`; bad input answers 400 and
changes nothing, an unknown ID 404 (through the control plane's guard)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exporter.simulator.control import add_record_routes, json_response, read_body

if TYPE_CHECKING:
    from exporter.simulator.resilience.state import Resilience
    from exporter.simulator.simulation import Simulation as Simulator

_TEST_FIELDS = {
    "connections",
    "job_type",
    "duration",
    "name",
    "description",
    "id",
    "start_time",
    "stop_time",
}
_HA_FIELDS = {"vbr", "peer_vbr", "status", "name", "description", "id", "created"}


def _only(body: dict[str, Any], allowed: set[str], required: tuple[str, ...], what: str) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown {what} fields: {sorted(unknown)}")
    for key in required:
        if key not in body:
            raise ValueError(f"{key}: field required")


def _owner(state: Resilience, vbr_id: str) -> dict[str, Any]:
    vbr = state.vbrs.vbr(vbr_id)
    return {"account": vbr.account, "region": vbr.region}


def add_resilience_routes(routes: web.RouteTableDef, sim: Simulator) -> None:
    state = sim.resilience

    @routes.get("/_sim/resilience/settings")
    async def settings(request: web.Request) -> web.StreamResponse:
        return json_response(asdict(state.configure()))

    @routes.patch("/_sim/resilience/settings")
    async def change_settings(request: web.Request) -> web.StreamResponse:
        return json_response(asdict(state.configure(await read_body(request))))

    _health_routes(routes, state)
    _test_routes(routes, state)
    _ha_routes(routes, state)


def _health_routes(routes: web.RouteTableDef, state: Resilience) -> None:
    @routes.get("/_sim/health-checks")
    async def list_checks(request: web.Request) -> web.StreamResponse:
        q = request.query
        return json_response(
            [
                {"account": vbr.account, "region": vbr.region, "health_check": view}
                for vbr, view in state.health_checks(q.get("account"), q.get("region"))
            ]
        )

    def entry(vbr_id: str) -> dict[str, Any]:
        view = state.health_check_view(vbr_id)
        return {**_owner(state, vbr_id), "configured": view is not None, "health_check": view}

    def remove(vbr_id: str) -> None:
        state.remove_health_check(vbr_id)

    add_record_routes(
        routes,
        "/_sim/health-checks",
        entry,
        lambda vbr_id, body: {"health_check": state.set_health_check(vbr_id, body)},
        remove,
    )


def _test_routes(routes: web.RouteTableDef, state: Resilience) -> None:
    def entry(job_id: str) -> dict[str, Any]:
        job = state.job(job_id)
        return {"account": job.account, "region": job.region, "job": state.job_view(job_id)}

    @routes.get("/_sim/failover-tests")
    async def list_tests(request: web.Request) -> web.StreamResponse:
        q = request.query
        jobs = state.jobs(q.get("account"), q.get("region"), q.get("connection"))
        return json_response([entry(j.job_id) for j in jobs])

    @routes.post("/_sim/failover-tests")
    async def add_test(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        _only(body, _TEST_FIELDS, ("connections",), "failover test")
        job_id = state.add_failover_test(
            body["connections"],
            body.get("job_type", "StartNow"),
            body.get("duration", 60),
            body.get("name", ""),
            body.get("description", ""),
            body.get("id"),
            body.get("start_time"),
            body.get("stop_time"),
        )
        return json_response({"id": job_id, "job": state.job_view(job_id)}, 201)

    @routes.post("/_sim/failover-tests/{id}/start")
    async def start(request: web.Request) -> web.StreamResponse:
        return json_response({"job": state.start_failover_test(request.match_info["id"])})

    @routes.post("/_sim/failover-tests/{id}/stop")
    async def stop(request: web.Request) -> web.StreamResponse:
        return json_response({"job": state.stop_failover_test(request.match_info["id"])})

    add_record_routes(
        routes,
        "/_sim/failover-tests",
        entry,
        lambda job_id, body: {"job": state.update_failover_test(job_id, body)},
        state.remove_failover_test,
    )


def _ha_routes(routes: web.RouteTableDef, state: Resilience) -> None:
    def entry(ha_id: str) -> dict[str, Any]:
        group = state.group(ha_id)
        return {"account": group.account, "region": group.region, "group": state.group_view(ha_id)}

    @routes.get("/_sim/vbr-ha")
    async def list_groups(request: web.Request) -> web.StreamResponse:
        q = request.query
        return json_response(
            [entry(g.ha_id) for g in state.groups(q.get("account"), q.get("region"))]
        )

    @routes.post("/_sim/vbr-ha")
    async def add_group(request: web.Request) -> web.StreamResponse:
        body = await read_body(request)
        _only(body, _HA_FIELDS, ("vbr", "peer_vbr"), "VBR HA")
        ha_id = state.add_vbr_ha(
            body["vbr"],
            body["peer_vbr"],
            body.get("status", "Creating"),
            body.get("name", ""),
            body.get("description", ""),
            body.get("id"),
            body.get("created"),
        )
        return json_response({"id": ha_id, "group": state.group_view(ha_id)}, 201)

    add_record_routes(
        routes,
        "/_sim/vbr-ha",
        entry,
        lambda ha_id, body: {"group": state.update_vbr_ha(ha_id, body)},
        state.remove_vbr_ha,
    )
