"""Fake Callers for the resilience collectors (health_checks, failover_tests), answering in the
wire shapes of the resilience facts sheet, and the VBR and line inventories their passes read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from exporter.client import ApiError
from exporter.collectors import failover_tests, health_checks
from exporter.collectors.base import PassContext
from exporter.collectors.physical_connections import PhysicalConnection, RegionSnapshot
from exporter.collectors.virtual_border_routers import (
    VBR_INFO_FIELDS,
    VbrSnapshot,
    VirtualBorderRouter,
)

REGION = "cn-hangzhou"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
Handler = Callable[[str, Mapping[str, str]], dict[str, Any]]


class FakeCaller:
    """Records every call; ``handler`` answers it (or raises ``ApiError``)."""

    account = "alpha"

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def call(self, action: str, region_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        self.calls.append((action, dict(params)))
        return self.handler(action, params)

    def of(self, action: str) -> list[dict[str, str]]:
        return [params for name, params in self.calls if name == action]


def vbr(vbr_id: str, line: str) -> VirtualBorderRouter:
    info = tuple(
        (label, line if label == "physical_connection_id" else "") for label, _ in VBR_INFO_FIELDS
    )
    return VirtualBorderRouter(id=vbr_id, status="active", info=info)


VBRS = (vbr("vbr-a", "pc-1"), vbr("vbr-b", "pc-2"), vbr("vbr-c", "pc-3"), vbr("vbr-d", "pc-4"))
INVENTORY = VbrSnapshot(
    account="alpha",
    region_id=REGION,
    completed_at=NOW,
    duration_seconds=0.0,
    vbrs=VBRS,
    peers=(),
)
LINES = RegionSnapshot(
    account="alpha",
    region_id=REGION,
    completed_at=NOW,
    duration_seconds=0.0,
    connections=tuple(PhysicalConnection(id=f"pc-{n}") for n in range(1, 7)),
)


def context(handler: Handler, page_size: int = 50, concurrency: int = 4) -> PassContext:
    # The physical connection inventory is there too: failover_tests gives each of its lines a
    # flag, health_checks (per VBR) must not read it.
    siblings = {"virtual_border_routers": INVENTORY, "physical_connections": LINES}
    return PassContext(
        client=FakeCaller(handler),
        account="alpha",
        region_id=REGION,
        page_size=page_size,
        clock=lambda: NOW,
        sibling=siblings.get,
        page_concurrency=concurrency,
    )


def calls(ctx: PassContext) -> FakeCaller:
    assert isinstance(ctx.client, FakeCaller)
    return ctx.client


# --------------------------------------------------------------------------- health checks

CHECKS = [
    {
        "CenId": "cen-1",
        "VbrInstanceId": "vbr-a",
        "VbrInstanceRegionId": REGION,
        "HealthCheckSourceIp": "100.96.12.34",
        "HealthCheckTargetIp": "10.0.0.2",
        "HealthCheckInterval": 2,
        "HealthyThreshold": 8,
        "HealthCheckOnly": False,
        "Description": "",
    },
    {  # probe only: a failed check does not move routes
        "CenId": "cen-1",
        "VbrInstanceId": "vbr-b",
        "VbrInstanceRegionId": REGION,
        "HealthCheckSourceIp": "192.168.10.1",
        "HealthCheckTargetIp": "10.0.1.2",
        "HealthCheckInterval": 3,
        "HealthyThreshold": 5,
        "HealthCheckOnly": True,
        "Description": "probe only",
    },
    {  # an older shape without HealthCheckOnly: the documented default, false
        "CenId": "cen-2",
        "VbrInstanceId": "vbr-c",
        "VbrInstanceRegionId": REGION,
        "HealthCheckSourceIp": "100.96.0.9",
        "HealthCheckTargetIp": "10.0.2.2",
        "HealthCheckInterval": 2,
        "HealthyThreshold": 8,
    },
    {  # a VBR outside this account's inventory
        "CenId": "cen-2",
        "VbrInstanceId": "vbr-other",
        "VbrInstanceRegionId": REGION,
        "HealthCheckSourceIp": "100.96.0.10",
        "HealthCheckTargetIp": "10.0.3.2",
        "HealthCheckInterval": 2,
        "HealthyThreshold": 8,
        "HealthCheckOnly": "false",
    },
]


def cen(checks: list[dict[str, Any]]) -> Handler:
    """DescribeCenVbrHealthCheck with PageNumber/PageSize paging, the list wrapped."""

    def answer(action: str, params: Mapping[str, str]) -> dict[str, Any]:
        assert action == health_checks.ACTION
        number, size = int(params["PageNumber"]), int(params["PageSize"])
        page = checks[(number - 1) * size : number * size]
        return {
            "RequestId": "R",
            "PageNumber": number,
            "PageSize": size,
            "TotalCount": len(checks),
            "VbrHealthChecks": {"VbrHealthCheck": page},
        }

    return answer


# --------------------------------------------------------------------------- failover tests


def job(
    job_id: str, status: str, lines: list[str], start: str, stop: str, **extra: str
) -> dict[str, Any]:
    return {
        "JobId": job_id,
        "Name": extra.get("Name", f"drill {job_id}"),
        "Description": "",
        "ResourceType": "PHYSICALCONNECTION",
        "ResourceId": lines,
        "JobType": extra.get("JobType", "StartNow"),
        "JobDuration": extra.get("JobDuration", "60"),
        "StartTime": start,
        "StopTime": stop,
        "Status": status,
    }


JOBS = [
    # pc-1: two finished tests (the list order is not the time order) and none running
    job("ftj-07", "Stopped", ["pc-1"], "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z"),
    job("ftj-02", "Stopped", ["pc-1", "pc-2"], "2025-12-01T10:00:00Z", "2025-12-01T10:30:00Z"),
    # pc-2: a running test whose StopTime is its planned end
    job("ftj-03", "Testing", ["pc-2"], "2025-12-31T23:30:00Z", "2026-01-01T00:30:00Z"),
    job("ftj-04", "Starting", ["pc-3"], "2025-12-31T23:59:00Z", ""),
    job("ftj-05", "Stopping", ["pc-5"], "2025-12-31T22:00:00Z", "2025-12-31T23:00:00Z"),
    job("ftj-06", "Init", ["pc-4"], "", "", JobType="StartLater", JobDuration="30"),
    # a line outside the inventories: still exported
    job("ftj-01", "Stopped", ["pc-9"], "2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"),
]

GROUP = {
    "RequestId": "R",
    "VbrHaId": "vbrha-1",
    "VbrId": "vbr-a",
    "PeerVbrId": "vbr-b",
    "Name": "hz-ha",
    "Description": "desc",
    "Status": "Creating",
    "RegionId": REGION,
    "CreationTime": "2025-12-30T12:00:00",
}


def vpc(
    jobs: list[dict[str, Any]], *, absent_last_token: bool = False, ha_404: str = "vbr-c"
) -> Handler:
    """DescribeFailoverTestJobs paged by NextToken (offset tokens); DescribeVbrHa per VBR:
    vbr-a/vbr-b one group, ``ha_404`` answers 404, the rest an empty 200."""

    def answer(action: str, params: Mapping[str, str]) -> dict[str, Any]:
        if action == failover_tests.HA_ACTION:
            member = params["VbrId"]
            if member in ("vbr-a", "vbr-b"):
                return dict(GROUP)
            if member == ha_404:
                raise ApiError(
                    failover_tests.HA_NOT_FOUND,
                    "The VBR HA resource is not found.",
                    action=action,
                    http_status=404,
                )
            return {"RequestId": "R"}
        assert action == failover_tests.JOBS_ACTION
        assert params["RegionId"] in (REGION, "cn-shanghai")
        size = int(params["MaxResults"])
        start = int(params.get("NextToken", "tok-0").removeprefix("tok-"))
        page = jobs[start : start + size]
        more = start + size < len(jobs)
        body: dict[str, Any] = {
            "RequestId": "R",
            "TotalCount": len(jobs),
            "Count": len(page),
            "MaxResults": size,
            "FailoverTestJobList": page,
        }
        if more or not absent_last_token:
            body["NextToken"] = f"tok-{start + size}" if more else ""
        return body

    return answer
