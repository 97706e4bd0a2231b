"""HTTP: ``/metrics`` streams prepared bytes, plus health, readiness, a landing page and reload.

A scrape only reads what the refresh jobs already rendered: it never waits on the cloud API.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from exporter.metrics import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, Exposition
from exporter.snapshot import RegionStatus


class Backend(Protocol):
    """What the HTTP layer reads from the running exporter."""

    version: str

    def exposition(self) -> Exposition: ...

    def live_block(self, *, openmetrics: bool, gzipped: bool) -> bytes: ...

    def region_statuses(self) -> Sequence[RegionStatus]: ...

    def discovery_errors(self) -> dict[str, str]: ...

    def ready(self) -> bool: ...

    async def reload(self) -> tuple[bool, str]: ...


def _accepts(header: str, media_type: str) -> bool:
    """True when ``header`` lists ``media_type`` with a non-zero quality."""
    for entry in header.split(","):
        fields = [field.strip() for field in entry.split(";")]
        if fields[0].lower() != media_type:
            continue
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


def wants_openmetrics(accept: str) -> bool:
    return _accepts(accept, "application/openmetrics-text")


def wants_gzip(accept_encoding: str) -> bool:
    return _accepts(accept_encoding, "gzip")


def _time(value: float | None) -> str:
    if value is None:
        return "never"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def landing_page(backend: Backend, telemetry_path: str) -> str:
    """Small HTML status page; every dynamic value is escaped (error texts come from the API)."""
    esc = html.escape
    rows = []
    for status in backend.region_statuses():
        state = "pending" if status.passes == 0 else "up" if status.up else "down"
        if status.stale:
            state += " (stale: series dropped)"
        rows.append(
            "<tr>"
            f"<td>{esc(status.account)}</td><td>{esc(status.region_id)}</td>"
            f"<td>{esc(_time(status.last_attempt))}</td><td>{esc(state)}</td>"
            f"<td>{len(status.exposed_connections)}</td>"
            f"<td>{esc(status.last_error or '')}</td>"
            "</tr>"
        )
    for account, error in sorted(backend.discovery_errors().items()):
        rows.append(
            f"<tr><td>{esc(account)}</td><td>(all regions)</td><td></td><td>discovery failed</td>"
            f"<td></td><td>{esc(error)}</td></tr>"
        )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<title>Express Connect exporter</title></head><body>"
        f"<h1>Express Connect exporter</h1><p>Version {esc(backend.version)}</p>"
        f"<p><a href='{esc(telemetry_path)}'>Metrics</a> · <a href='/healthz'>Health</a>"
        " · <a href='/readyz'>Readiness</a></p>"
        "<table border='1' cellpadding='4'><tr><th>Account</th><th>Region</th>"
        "<th>Last pass</th><th>State</th><th>Connections</th><th>Last error</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )


def build_app(
    backend: Backend,
    telemetry_path: str,
    middlewares: Sequence[Any] = (),
    on_prepare: Sequence[Any] = (),
) -> web.Application:
    """``on_prepare`` callbacks run when any response sends its headers (also the streamed
    ``/metrics``, which middlewares cannot touch once it is prepared)."""

    async def metrics(request: web.Request) -> web.StreamResponse:
        openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
        gzipped = wants_gzip(request.headers.get("Accept-Encoding", ""))
        parts = backend.exposition().parts(openmetrics=openmetrics, gzipped=gzipped)
        live = backend.live_block(openmetrics=openmetrics, gzipped=gzipped)
        response = web.StreamResponse(
            headers={"Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE}
        )
        if gzipped:
            response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept, Accept-Encoding"
        response.content_length = sum(map(len, parts)) + len(live)
        await response.prepare(request)
        for part in parts:
            await response.write(part)  # waits for the socket to drain: backpressure
        await response.write(live)
        await response.write_eof()
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if backend.ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready: first refresh pass still running\n")

    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text=landing_page(backend, telemetry_path), content_type="text/html", charset="utf-8"
        )

    async def reload(request: web.Request) -> web.Response:
        ok, message = await backend.reload()
        return web.Response(status=200 if ok else 500, text=message + "\n")

    app = web.Application(middlewares=list(middlewares))
    for callback in on_prepare:
        app.on_response_prepare.append(callback)
    app.router.add_get(telemetry_path, metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", index)
    app.router.add_post("/-/reload", reload)
    return app
