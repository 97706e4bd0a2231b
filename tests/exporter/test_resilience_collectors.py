"""The health_checks and failover_tests collectors against fake Callers that answer in the wire
shapes of the resilience facts sheet: paging (PageNumber for CEN, NextToken for the failover
jobs), HA de-duplication, both "no HA group" answers, the HealthCheckOnly default, StopTime only
once Stopped, the line's active flag and last test time, and a golden exposition."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from exporter.accounts import Accounts
from exporter.apis import APIS
from exporter.app import Exporter
from exporter.client import ApiError, endpoint_url
from exporter.collectors import by_name, failover_tests, health_checks
from exporter.collectors.base import NotReady, PassContext, PassError
from exporter.collectors.physical_connections import PhysicalConnection, RegionSnapshot
from exporter.collectors.virtual_border_routers import (
    VBR_INFO_FIELDS,
    VbrSnapshot,
    VirtualBorderRouter,
)
from exporter.config import Config, parse_config
from exporter.families import RenderContext, render_families
from exporter.plan import CollectorPlan, resolve
from exporter.regiontable import RegionStatus, RegionTable, render_objects
from tests.exporter.ecx_fakeapi import GOLDEN, FakeApi, load_recorded_pages
from tests.exporter.test_exporter_app import config_dict, value
from tests.harness import require_binary

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
    # The physical connection inventory is there too, and must not add lines.
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


async def test_health_checks_page_without_region_id_and_cover_every_vbr() -> None:
    ctx = context(cen(CHECKS), page_size=3)
    snap = await health_checks.collect(ctx)
    requests = calls(ctx).of(health_checks.ACTION)
    assert [r["PageNumber"] for r in requests] == ["1", "2"]
    assert all(r["VbrInstanceRegionId"] == REGION and "RegionId" not in r for r in requests)
    assert {v.id: v.configured for v in snap.vbrs} == {
        "vbr-a": True,
        "vbr-b": True,
        "vbr-c": True,
        "vbr-d": False,
    }
    checks = {c.vbr_id: c for c in snap.checks}
    assert set(checks) == {"vbr-a", "vbr-b", "vbr-c"}
    assert [checks[v].switches_routes for v in ("vbr-a", "vbr-b", "vbr-c")] == [True, False, True]
    assert (checks["vbr-b"].interval_seconds, checks["vbr-b"].healthy_threshold) == (3.0, 5.0)
    assert (checks["vbr-a"].cen_id, checks["vbr-a"].target_ip) == ("cen-1", "10.0.0.2")


@pytest.mark.parametrize(("value", "switches"), [("True", False), ("FALSE", True), (None, True)])
def test_health_check_only_is_read_in_any_spelling(value: object, switches: bool) -> None:
    record = {"VbrInstanceId": "vbr-a", "HealthCheckOnly": value}
    assert health_checks.parse_health_check(record).switches_routes is switches


async def test_health_checks_wait_for_the_vbr_inventory() -> None:
    ctx = dataclasses.replace(context(cen(CHECKS)), sibling=lambda name: None)
    with pytest.raises(NotReady):
        await health_checks.collect(ctx)
    assert not calls(ctx).calls


async def test_a_region_without_vbrs_or_checks_is_an_empty_good_pass() -> None:
    ctx = context(cen([]))
    empty = dataclasses.replace(INVENTORY, vbrs=())
    ctx = dataclasses.replace(ctx, sibling={"virtual_border_routers": empty}.get)
    snap = await health_checks.collect(ctx)
    assert snap.vbrs == () and snap.checks == ()


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


@pytest.mark.parametrize("absent_last_token", [False, True])
async def test_jobs_are_paged_by_next_token(absent_last_token: bool) -> None:
    ctx = context(vpc(JOBS, absent_last_token=absent_last_token), page_size=3)
    snap = await failover_tests.collect(ctx)
    requests = calls(ctx).of(failover_tests.JOBS_ACTION)
    assert [r.get("NextToken") for r in requests] == [None, "tok-3", "tok-6"]
    assert {r["MaxResults"] for r in requests} == {"3"}
    assert [j.id for j in snap.jobs] == sorted(j["JobId"] for j in JOBS)


async def test_a_list_that_moves_while_paged_is_redone_then_fails() -> None:
    def moving(action: str, params: Mapping[str, str]) -> dict[str, Any]:
        body = vpc(JOBS)(action, params)
        if action == failover_tests.JOBS_ACTION and "NextToken" in params:
            body["TotalCount"] += 1
        return body

    ctx = context(moving, page_size=3)
    with pytest.raises(PassError, match="drifted twice"):
        await failover_tests.collect(ctx)
    assert len(calls(ctx).of(failover_tests.JOBS_ACTION)) == 6


async def test_a_repeated_next_token_fails_the_pass() -> None:
    def looping(action: str, params: Mapping[str, str]) -> dict[str, Any]:
        body = vpc(JOBS)(action, params)
        body["NextToken"] = "tok-3"
        return body

    with pytest.raises(PassError, match="same NextToken"):
        await failover_tests.collect(context(looping, page_size=3))


async def test_stop_time_only_once_stopped_and_start_time_while_set() -> None:
    snap = await failover_tests.collect(context(vpc(JOBS)))
    jobs = {j.id: j for j in snap.jobs}
    rendered = rendered_lines(snap)
    stops = {line.split('job_id="')[1].split('"')[0] for line in rendered if line.startswith(
        failover_tests.TEST_STOP + "{")}  # fmt: skip
    starts = {line.split('job_id="')[1].split('"')[0] for line in rendered if line.startswith(
        failover_tests.TEST_START + "{")}  # fmt: skip
    assert stops == {"ftj-01", "ftj-02", "ftj-07"}
    # The Testing job's StopTime is its planned end: read, never exported.
    assert jobs["ftj-03"].stop_time is not None and "ftj-03" not in stops
    assert starts == {"ftj-01", "ftj-02", "ftj-03", "ftj-04", "ftj-05", "ftj-07"}
    assert jobs["ftj-06"].duration_seconds == 1800.0


async def test_active_flag_and_last_test_per_line() -> None:
    snap = await failover_tests.collect(context(vpc(JOBS)))
    lines = {line.id: line for line in snap.lines}
    # Every line with a VBR, plus lines only a job names (pc-6 has neither: no series).
    assert set(lines) == {"pc-1", "pc-2", "pc-3", "pc-4", "pc-5", "pc-9"}
    assert {i for i, line in lines.items() if line.active} == {"pc-2", "pc-3", "pc-5"}
    dec_1 = 1_764_585_000.0  # 2025-12-01T10:30:00Z: ftj-02, newer than ftj-07 listed first
    assert lines["pc-1"].last_test == dec_1
    assert lines["pc-2"].last_test == dec_1  # its running test does not count
    assert lines["pc-3"].last_test is None and lines["pc-4"].last_test is None
    assert lines["pc-9"].last_test == 1_735_693_200.0
    assert {(r.job_id, r.physical_connection_id) for r in snap.resources} >= {
        ("ftj-02", "pc-1"),
        ("ftj-02", "pc-2"),
    }


async def test_ha_groups_one_call_per_vbr_deduplicated_and_both_not_found_answers() -> None:
    ctx = context(vpc(JOBS), concurrency=1)
    snap = await failover_tests.collect(ctx)
    asked = [r["VbrId"] for r in calls(ctx).of(failover_tests.HA_ACTION)]
    # vbr-b is vbr-a's peer: not asked again; vbr-c answers 404, vbr-d an empty 200.
    assert asked == ["vbr-a", "vbr-c", "vbr-d"]
    assert all(r["RegionId"] == REGION for r in calls(ctx).of(failover_tests.HA_ACTION))
    (group,) = snap.groups
    assert (group.id, group.vbr_id, group.peer_vbr_id, group.status) == (
        "vbrha-1",
        "vbr-a",
        "vbr-b",
        "Creating",
    )
    assert group.creation_time == 1_767_096_000.0  # no zone suffix: UTC
    assert snap.calls == 1 + 3


async def test_ha_groups_with_concurrent_calls_still_one_group() -> None:
    snap = await failover_tests.collect(context(vpc(JOBS, ha_404="vbr-d"), concurrency=4))
    assert [g.id for g in snap.groups] == ["vbrha-1"]


async def test_another_ha_error_fails_the_pass() -> None:
    def forbidden(action: str, params: Mapping[str, str]) -> dict[str, Any]:
        if action == failover_tests.HA_ACTION:
            raise ApiError("Forbidden.RAM", "no", action=action, http_status=403)
        return vpc(JOBS)(action, params)

    with pytest.raises(ApiError, match=r"Forbidden\.RAM"):
        await failover_tests.collect(context(forbidden))


async def test_a_region_without_jobs_or_vbrs_is_an_empty_good_pass() -> None:
    ctx = context(vpc([]))
    empty = dataclasses.replace(INVENTORY, vbrs=())
    ctx = dataclasses.replace(ctx, sibling={"virtual_border_routers": empty}.get)
    snap = await failover_tests.collect(ctx)
    assert (snap.jobs, snap.lines, snap.groups) == ((), (), ())
    assert calls(ctx).of(failover_tests.HA_ACTION) == []


def test_unknown_statuses_are_reported() -> None:
    snap = failover_tests.FailoverSnapshot(
        account="a",
        region_id=REGION,
        completed_at=NOW,
        duration_seconds=0.0,
        jobs=(failover_tests.FailoverTestJob("ftj-x", "", "", "Deleted", ()),),
        resources=(),
        lines=(),
        groups=(),
        calls=1,
    )
    (unknown,) = failover_tests.COLLECTOR.unknown(snap)
    assert (unknown.field, unknown.value) == ("FailoverTestJobStatus", "Deleted")


# --------------------------------------------------------------------------- wiring

KEYS = {"type": "access_key", "access_key_id": "x", "access_key_secret": "y"}
ACCOUNT = {"name": "a", "credentials": KEYS, "regions": [REGION]}


def plan_of(config: Config, name: str) -> CollectorPlan:
    return resolve(config, config.account("a"), by_name()[name])


def test_config_and_cbn_client_defaults() -> None:
    account = ACCOUNT
    config = parse_config({"accounts": [account]}, "test")
    for name in (health_checks.NAME, failover_tests.NAME):
        settings = plan_of(config, name)
        assert (settings.enabled, settings.interval) == (True, 600.0)
    cbn_host = APIS["cbn"].default_host
    assert str(endpoint_url(None, REGION, cbn_host)) == "https://cbn.aliyuncs.com/"
    overridden = parse_config(
        {
            "collectors": {"health_checks": {"interval": "15m"}},
            "accounts": [{**account, "collectors": {"failover_tests": {"enabled": False}}}],
            "api": {"endpoint": "http://127.0.0.1:1"},
        },
        "test",
    )
    assert plan_of(overridden, health_checks.NAME).interval == 900.0
    assert not plan_of(overridden, failover_tests.NAME).enabled
    off = parse_config(
        {"accounts": [{**account, "collectors": {"virtual_border_routers": {"enabled": False}}}]},
        "test",
    )
    reason = plan_of(off, health_checks.NAME).off_reason
    assert reason and "virtual_border_routers" in reason


def test_cbn_client_signs_for_cen() -> None:
    account = ACCOUNT
    for api, expected in (({}, None), ({"endpoint": "http://127.0.0.1:1"}, "http://127.0.0.1:1"),
                          ({"endpoint": "http://127.0.0.1:1", "cbn_endpoint": "http://127.0.0.1:2"},
                           "http://127.0.0.1:2")):  # fmt: skip
        config = parse_config({"accounts": [account], "api": api}, "test")
        accounts = Accounts(lambda credentials: None, lambda *args: None)  # type: ignore[arg-type,return-value]
        accounts._build_clients(config, None)  # type: ignore[arg-type]
        client = accounts.client("a", "cbn")
        assert client is not None
        assert client._settings.api_version == "2017-09-12"
        assert client._settings.endpoint == expected
        assert client._settings.default_host(REGION) == "cbn.aliyuncs.com"


# --------------------------------------------------------------------------- exposition


def rendered_lines(snapshot: Any) -> list[str]:
    records = failover_tests.COLLECTOR.records
    ctx = RenderContext("alpha", REGION)
    return [line for _, out in render_families(records, snapshot, ctx) for line in out]


async def golden_body() -> bytes:
    checks = await health_checks.collect(context(cen(CHECKS)))
    failover = await failover_tests.collect(context(vpc(JOBS), concurrency=1))
    collectors = by_name((health_checks.COLLECTOR, failover_tests.COLLECTOR))
    table = RegionTable(collectors, 600.0)
    statuses = [
        RegionStatus("alpha", REGION, name, passes=1, up=True, last_attempt=NOW,
                     last_success=NOW, last_duration=0.5,
                     snapshot=dataclasses.replace(snap, duration_seconds=0.5))
        for name, snap in ((health_checks.NAME, checks), (failover_tests.NAME, failover))
    ]  # fmt: skip
    # A second region with no VBRs and no jobs: up, and no object series.
    empty = dataclasses.replace(INVENTORY, region_id="cn-shanghai", vbrs=())
    for name, collect, handler in (
        (health_checks.NAME, health_checks.collect, cen([])),
        (failover_tests.NAME, failover_tests.collect, vpc([])),
    ):
        ctx = dataclasses.replace(context(handler), region_id="cn-shanghai",
                                  sibling={"virtual_border_routers": empty}.get)  # fmt: skip
        snap = dataclasses.replace(await collect(ctx), duration_seconds=0.25)  # type: ignore[operator]
        statuses.append(RegionStatus("alpha", "cn-shanghai", name, snapshot=snap, passes=1,
                                     up=True, last_attempt=NOW, last_success=NOW,
                                     last_duration=0.25))  # fmt: skip
    table.reconcile([status.key for status in statuses])
    for status in statuses:
        objects = None
        if status.exposed is not None:
            ctx = RenderContext(status.account, status.region_id)
            objects = render_objects(collectors[status.collector], status.exposed, ctx)
        table.update(status, objects)
    return b"".join(table.exposition.parts(openmetrics=False, gzipped=False))


async def test_golden_resilience_exposition_and_promtool() -> None:
    body = await golden_body()
    golden = GOLDEN / "resilience.prom"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_bytes(body)
    assert body == golden.read_bytes()
    result = subprocess.run(
        [require_binary("promtool"), "check", "metrics"], input=body, capture_output=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert not result.stdout.strip() and not result.stderr.strip()


async def test_one_pass_through_the_signed_clients_of_both_apis() -> None:
    """The daemon's --once path over real HTTP (signatures verified by the fake API): the CEN
    call goes out as Cbn 2017-09-12 without RegionId, the failover calls as VPC; a region with
    no VBRs and no jobs is up for both collectors."""
    api = FakeApi(load_recorded_pages()["accounts"]["prod"])
    async with api.serve() as url:
        data = config_dict(url)
        exporter = Exporter(parse_config(data, "test"))
        await exporter.open()
        try:
            ok = await exporter.refresh_everything()
            body = exporter.body()
        finally:
            await exporter.stop()
    assert ok
    sent = list(zip(api.requests, api.versions, strict=True))
    cen_calls = [(r, v) for r, v in sent if r["_action"] == health_checks.ACTION]
    assert cen_calls and all(v == "2017-09-12" and "RegionId" not in r for r, v in cen_calls)
    assert {r["VbrInstanceRegionId"] for r, _ in cen_calls} == {"cn-hangzhou", "cn-shanghai"}
    jobs = [(r, v) for r, v in sent if r["_action"] == failover_tests.JOBS_ACTION]
    assert jobs and all(v == "2016-04-28" for _, v in jobs)
    for name in (health_checks.NAME, failover_tests.NAME):
        for region in ("cn-hangzhou", "cn-shanghai"):
            up = value(body, "expressconnect_region_up", account="prod", region_id=region,
                       collector=name)  # fmt: skip
            assert up == 1, (name, region)
