"""The exporter's fixed HTTP paths, apart from the server so that configuration can refuse them
as ``web.telemetry_path`` without importing the HTTP layer (data flows config -> ... -> HTTP)."""

from __future__ import annotations

LIVENESS_PATHS = ("/healthz", "/-/healthy")
READINESS_PATHS = ("/readyz", "/-/ready")

#: Every route besides the metrics path, as (method, path, handler): ``build_app`` registers
#: exactly these, and the configuration refuses their paths as ``web.telemetry_path``.
#: Probe paths: the Kubernetes-style names and the Prometheus-style ones, same handlers.
ROUTES: tuple[tuple[str, str, str], ...] = (
    *(("GET", path, "healthz") for path in LIVENESS_PATHS),
    *(("GET", path, "readyz") for path in READINESS_PATHS),
    ("GET", "/", "index"),
    ("GET", "/runbooks", "runbooks"),
    ("POST", "/-/reload", "reload"),
)
RESERVED_PATHS: tuple[str, ...] = tuple(sorted({path for _, path, _ in ROUTES}))
