"""Control-plane routes for CloudMonitor under ``/_sim/`` (listed in README.md): metric
overrides per VBR, CMS settings and CMS calls per account. They mirror the Simulator's
``CmsMethods``; bad input answers 400 and changes nothing, an unknown VBR 404.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from aiohttp import web

from exporter.simulator.control import json_response, read_body

if TYPE_CHECKING:
    from exporter.simulator.simulation import Simulation


def add_cms_routes(routes: web.RouteTableDef, sim: Simulation) -> None:
    @routes.get("/_sim/vbrs/{id}/metrics")
    async def get_metrics(request: web.Request) -> web.StreamResponse:
        vbr_id = request.match_info["id"]
        return json_response(
            {
                "vbr": vbr_id,
                "override": sim.vbr_metrics_override(vbr_id),
                "health_check": sim.vbr_info(vbr_id).health_check,
                "latest": sim.vbr_metric_values(vbr_id),
            }
        )

    @routes.patch("/_sim/vbrs/{id}/metrics")
    async def set_metrics(request: web.Request) -> web.StreamResponse:
        vbr_id = request.match_info["id"]
        override = sim.set_vbr_metrics(vbr_id, await read_body(request))
        return json_response({"vbr": vbr_id, "override": override})

    @routes.delete("/_sim/vbrs/{id}/metrics")
    async def clear_metrics(request: web.Request) -> web.StreamResponse:
        vbr_id = request.match_info["id"]
        sim.clear_vbr_metrics(vbr_id)
        return json_response({"vbr": vbr_id, "override": {}})

    @routes.get("/_sim/cms/calls")
    async def calls(request: web.Request) -> web.StreamResponse:
        per_account = sim.cms_calls(request.query.get("account"))
        total = sum(sum(actions.values()) for actions in per_account.values())
        return json_response({"calls": per_account, "total": total})

    @routes.get("/_sim/cms/settings")
    async def settings(request: web.Request) -> web.StreamResponse:
        return json_response(asdict(sim.cms_settings()))

    @routes.patch("/_sim/cms/settings")
    async def change_settings(request: web.Request) -> web.StreamResponse:
        return json_response(asdict(sim.cms_settings(await read_body(request))))
