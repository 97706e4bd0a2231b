"""The failover_tests collector against a fake Caller answering in the wire shapes of the
resilience facts sheet: jobs paged by NextToken, HA de-duplication, both "no HA group" answers,
StopTime only once Stopped, the line's active flag and last test time, unknown statuses."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from exporter.client import ApiError
from exporter.collectors import failover_tests
from exporter.collectors.base import PassError
from exporter.families import RenderContext, render_families
from tests.exporter.collectors.resilience_fakes import (
    INVENTORY,
    JOBS,
    LINES,
    NOW,
    REGION,
    calls,
    context,
    vpc,
)


def rendered_lines(snapshot: Any) -> list[str]:
    records = failover_tests.COLLECTOR.records
    ctx = RenderContext("alpha", REGION)
    return [line for _, out in render_families(records, snapshot, ctx) for line in out]


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
    # Every line of the inventory (pc-6 has neither VBR nor job), plus one only a job names.
    assert set(lines) == {"pc-1", "pc-2", "pc-3", "pc-4", "pc-5", "pc-6", "pc-9"}
    assert not lines["pc-6"].active and lines["pc-6"].last_test is None
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


async def test_without_the_line_inventory_the_lines_of_vbrs_and_jobs_have_the_flag() -> None:
    ctx = context(vpc(JOBS))
    ctx = dataclasses.replace(ctx, sibling={"virtual_border_routers": INVENTORY}.get)
    snap = await failover_tests.collect(ctx)
    assert {line.id for line in snap.lines} == {"pc-1", "pc-2", "pc-3", "pc-4", "pc-5", "pc-9"}


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


async def test_a_line_the_inventory_drops_loses_its_flag_at_once_unless_a_vbr_or_job_names_it() -> (
    None
):
    snap = await failover_tests.collect(context(vpc(JOBS)))
    assert failover_tests.COLLECTOR.refit_on == ("physical_connections",)
    refit = failover_tests.refit
    assert refit(snap, LINES) is snap  # nothing went
    assert refit(snap, INVENTORY) is snap  # a VBR inventory changes nothing
    # pc-1 (a VBR on it), pc-5 (a job covers it) and pc-6 (neither) leave the inventory.
    fewer = dataclasses.replace(
        LINES,
        connections=tuple(c for c in LINES.connections if c.id not in {"pc-1", "pc-5", "pc-6"}),
    )
    kept = refit(snap, fewer)
    assert {line.id for line in snap.lines} - {line.id for line in kept.lines} == {"pc-6"}
    assert kept.jobs == snap.jobs and kept.groups == snap.groups
