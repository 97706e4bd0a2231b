"""Collector ``failover_tests``: Express Connect failover tests and VBR HA groups → whether a pair
has been shown to fail over, and whether a line is down on purpose right now.

One pass reads, for one account and region:

- ``DescribeFailoverTestJobs`` (VPC), paged by ``NextToken`` until it comes back empty: every
  failover test job, the lines it covers, its status and times. A line is *under test* while a
  job covering it is Starting, Testing or Stopping; it was *last tested* at the ``StopTime`` of
  the newest Stopped job covering it (judged by status, never by position: the list's order is
  not documented, and a running job's ``StopTime`` may be its planned end).
- ``DescribeVbrHa`` (VPC): there is no list action, so one call per VBR of the
  ``virtual_border_routers`` snapshot, skipping VBRs already seen as a member of a group found
  in this pass (both members answer with the same group). A VBR in no group answers either HTTP
  404 ``ResourceNotFound.VbrHa`` (the docs) or a 200 without ``VbrHaId`` (what Alibaba's
  Terraform provider handles): both mean "no group", not a failure.

Calls per pass: ceil(jobs / api.page_size) + at most one per VBR (one per VBR in no group plus
one per group). If any call fails, nothing of the pass is published.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.collectors.base import (
    Collector,
    CountDrift,
    PassContext,
    PassError,
    PassSnapshot,
    UnknownValue,
    per_id,
    redone_on_drift,
    run_workers,
    total_count,
    within_max_records,
)
from exporter.collectors.fields import bounded, text, timestamp
from exporter.collectors.physical_connections import NAME as LINE_COLLECTOR
from exporter.collectors.physical_connections import RegionSnapshot as LineSnapshot
from exporter.collectors.virtual_border_routers import NAME as VBR_COLLECTOR
from exporter.collectors.virtual_border_routers import VbrSnapshot, vbr_inventory
from exporter.families import Family, RecordFamilies, gauge, info, state_set

log = logging.getLogger(__name__)

NAME = "failover_tests"
JOBS_ACTION = "DescribeFailoverTestJobs"
HA_ACTION = "DescribeVbrHa"
# The documented job statuses, in life-cycle order; a line is under test in the middle three.
JOB_STATUSES: tuple[str, ...] = ("Init", "Starting", "Testing", "Stopping", "Stopped")
RUNNING_STATUSES = frozenset({"Starting", "Testing", "Stopping"})
STOPPED = "Stopped"
HA_STATUSES: tuple[str, ...] = ("Creating", "Active")
HA_NOT_FOUND = "ResourceNotFound.VbrHa"

TEST_INFO = "expressconnect_failover_test_info"
TEST_STATUS = "expressconnect_failover_test_status"
TEST_START = "expressconnect_failover_test_start_timestamp_seconds"
TEST_STOP = "expressconnect_failover_test_stop_timestamp_seconds"
TEST_DURATION = "expressconnect_failover_test_duration_seconds"
TEST_RESOURCE = "expressconnect_failover_test_resource"
LINE_ACTIVE = "expressconnect_physical_connection_failover_test_active"
LINE_LAST_TEST = "expressconnect_physical_connection_last_failover_test_timestamp_seconds"
HA_INFO = "expressconnect_vbr_ha_info"
HA_STATUS = "expressconnect_vbr_ha_status"
HA_CREATION = "expressconnect_vbr_ha_creation_timestamp_seconds"

# JobDuration is 1..4320 minutes; beyond a year it is a bad field.
_MAX_DURATION_MINUTES = 525_600.0


@dataclass(frozen=True, slots=True)
class FailoverTestJob:
    """One failover test job; ``stop_time`` is the API's, whatever the status."""

    id: str
    name: str
    job_type: str
    status: str
    resources: tuple[str, ...]
    duration_seconds: float | None = None
    start_time: float | None = None
    stop_time: float | None = None

    @property
    def running(self) -> bool:
        return self.status in RUNNING_STATUSES


@dataclass(frozen=True, slots=True)
class JobResource:
    """One line a job covers."""

    job_id: str
    physical_connection_id: str


@dataclass(frozen=True, slots=True)
class LineTest:
    """One line of the region: under test now, and when its newest finished test stopped."""

    id: str
    active: bool
    last_test: float | None


@dataclass(frozen=True, slots=True)
class VbrHa:
    """One VBR HA group (a VBR and its peer VBR)."""

    id: str
    vbr_id: str
    peer_vbr_id: str
    name: str
    status: str
    creation_time: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FailoverSnapshot(PassSnapshot):
    """Jobs, the lines they cover, every line's test state and the HA groups (sorted by ID)."""

    jobs: tuple[FailoverTestJob, ...]
    resources: tuple[JobResource, ...]
    lines: tuple[LineTest, ...]
    groups: tuple[VbrHa, ...]
    calls: int
    # The lines the region's VBRs were on (kept by ``refit`` whatever the line inventory says).
    vbr_lines: frozenset[str] = frozenset()


def _resource_ids(value: object) -> tuple[str, ...]:
    """``ResourceId`` is a JSON array of line IDs (a lone string is accepted as one)."""
    items = value if isinstance(value, list) else [value]
    return tuple(sorted({item for item in items if isinstance(item, str) and item}))


def parse_job(record: Mapping[str, Any]) -> FailoverTestJob:
    job_id = record.get("JobId")
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("record without JobId")
    minutes = bounded(record.get("JobDuration"), 0.0, _MAX_DURATION_MINUTES)
    return FailoverTestJob(
        id=job_id,
        name=text(record.get("Name")),
        job_type=sys.intern(text(record.get("JobType"))),
        status=sys.intern(text(record.get("Status"))),
        resources=_resource_ids(record.get("ResourceId")),
        duration_seconds=None if minutes is None else minutes * 60.0,
        start_time=timestamp(record.get("StartTime")),
        stop_time=timestamp(record.get("StopTime")),
    )


def parse_group(body: Mapping[str, Any]) -> VbrHa | None:
    """The group of a ``DescribeVbrHa`` answer; None for an answer without ``VbrHaId``."""
    group_id = body.get("VbrHaId")
    if not isinstance(group_id, str) or not group_id:
        return None
    return VbrHa(
        id=group_id,
        vbr_id=text(body.get("VbrId")),
        peer_vbr_id=text(body.get("PeerVbrId")),
        name=text(body.get("Name")),
        status=sys.intern(text(body.get("Status"))),
        creation_time=timestamp(body.get("CreationTime")),
    )


# --------------------------------------------------------------------------- API calls


def _job_records(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``FailoverTestJobList`` is a plain array (not wrapped like older VPC lists)."""
    items = body.get("FailoverTestJobList")
    if items is None:
        return []
    if not isinstance(items, list):
        raise PassError(f"{JOBS_ACTION}: FailoverTestJobList is not a list")
    return [item for item in items if isinstance(item, Mapping)]


async def _jobs_once(ctx: PassContext) -> tuple[list[FailoverTestJob], int]:
    """Every page from the first to the one without ``NextToken``; (jobs, calls)."""
    by_id: dict[str, FailoverTestJob] = {}
    totals: set[int] = set()
    tokens: set[str] = set()
    token = ""
    most_pages = math.ceil(ctx.max_records / ctx.page_size) + 1
    calls = 0
    while True:
        calls += 1
        if calls > most_pages:
            raise PassError(f"{JOBS_ACTION} still had a NextToken after {most_pages} pages")
        params = {"RegionId": ctx.region_id, "MaxResults": str(ctx.page_size)}
        if token:
            params["NextToken"] = token
        body = await ctx.client.call(JOBS_ACTION, ctx.region_id, params)
        total = within_max_records(ctx, JOBS_ACTION, total_count(body))
        totals.add(total)
        for record in _job_records(body):
            try:
                job = parse_job(record)
            except ValueError as error:
                log.warning("record skipped", extra={"action": JOBS_ACTION, "error": str(error)})
                continue
            by_id[job.id] = job
        token = text(body.get("NextToken"))
        if not token:
            break
        if token in tokens:
            raise PassError(f"{JOBS_ACTION} handed out the same NextToken twice")
        tokens.add(token)
    if len(totals) > 1 or len(by_id) != total:
        raise CountDrift(f"read {len(by_id)} distinct jobs, TotalCount said {sorted(totals)}")
    return [by_id[key] for key in sorted(by_id)], calls


async def list_jobs(ctx: PassContext) -> tuple[list[FailoverTestJob], int]:
    """Every job of the region, redone once if the list moved while it was paged."""
    return await redone_on_drift(ctx, lambda: _jobs_once(ctx))


async def group_of(ctx: PassContext, vbr_id: str) -> VbrHa | None:
    """The HA group ``vbr_id`` belongs to; None for both documented "no group" answers."""
    params = {"RegionId": ctx.region_id, "VbrId": vbr_id}
    try:
        body = await ctx.client.call(HA_ACTION, ctx.region_id, params)
    except Exception as error:
        # Matched by its ``code`` (the client's ApiError has it): importing the client here
        # would close an import cycle through the configuration, which reads this registry.
        if getattr(error, "code", None) == HA_NOT_FOUND:
            return None
        raise
    return parse_group(body)


async def list_groups(ctx: PassContext, vbr_ids: Iterable[str]) -> tuple[list[VbrHa], int]:
    """One call per VBR not already seen in a group, by a bounded pool; (groups, calls).

    Where two answers for one group differ (asked by either member), the one with the lower
    (vbr_id, peer_vbr_id) is kept, so the labels do not flip between passes.
    """
    covered: set[str] = set()
    found: dict[str, VbrHa] = {}
    pending = iter(sorted(set(vbr_ids)))
    calls = 0

    async def worker() -> None:
        nonlocal calls
        for vbr_id in pending:  # shared iterator: each VBR is taken by one worker
            if vbr_id in covered:
                continue
            calls += 1
            group = await group_of(ctx, vbr_id)
            if group is None:
                continue
            covered.update((group.vbr_id, group.peer_vbr_id))
            kept = found.get(group.id)
            if kept is None or (group.vbr_id, group.peer_vbr_id) < (kept.vbr_id, kept.peer_vbr_id):
                found[group.id] = group

    await run_workers(ctx.page_concurrency, worker)
    return [found[key] for key in sorted(found)], calls


# --------------------------------------------------------------------------- the pass


def line_tests(jobs: Iterable[FailoverTestJob], known_lines: Iterable[str]) -> tuple[LineTest, ...]:
    """Every known line and every line a job covers: under test now, and last tested when."""
    active: set[str] = set()
    last: dict[str, float] = {}
    lines = set(known_lines)
    for job in jobs:
        lines.update(job.resources)
        for line in job.resources:
            if job.running:
                active.add(line)
            if job.status == STOPPED and job.stop_time is not None:
                last[line] = max(last.get(line, job.stop_time), job.stop_time)
    return tuple(LineTest(line, line in active, last.get(line)) for line in sorted(lines))


def _vbr_lines(inventory: VbrSnapshot) -> frozenset[str]:
    return frozenset(
        {dict(vbr.info).get("physical_connection_id", "") for vbr in inventory.vbrs}
    ) - {""}


def _known_lines(vbr_lines: frozenset[str], connections: object | None) -> set[str]:
    """Every line of the region the exporter sees, so a line not under test is 0, not absent:
    those of the physical connection collector's last good snapshot (``None`` while it has
    none or does not run here) and those the region's VBRs are on. A line that inventory
    drops later goes at once (``refit``)."""
    lines = set(vbr_lines)
    if isinstance(connections, LineSnapshot):
        lines.update(conn.id for conn in connections.connections)
    return lines


def refit(snapshot: FailoverSnapshot, new: object) -> FailoverSnapshot:
    """The snapshot without the lines a new line inventory no longer lists, unless a VBR is on
    it or a job covers it (the same object when none went), so a deleted line's flag goes with
    the line, not at this collector's next pass. A new VBR inventory changes nothing."""
    if not isinstance(new, LineSnapshot):
        return snapshot
    keep = {conn.id for conn in new.connections} | snapshot.vbr_lines
    keep.update(resource.physical_connection_id for resource in snapshot.resources)
    kept = tuple(line for line in snapshot.lines if line.id in keep)
    if len(kept) == len(snapshot.lines):
        return snapshot
    return dataclasses.replace(snapshot, lines=kept)


async def collect(ctx: PassContext) -> FailoverSnapshot:
    """Jobs and groups complete, or an exception: nothing half-read is published."""
    inventory = vbr_inventory(ctx)
    started = time.monotonic()
    jobs, job_calls = await list_jobs(ctx)
    groups, group_calls = await list_groups(ctx, (vbr.id for vbr in inventory.vbrs))
    # Read after the calls: the line inventory's first pass has most likely landed by now.
    vbr_lines = _vbr_lines(inventory)
    known = _known_lines(vbr_lines, ctx.sibling(LINE_COLLECTOR))
    return FailoverSnapshot(
        account=ctx.account,
        region_id=ctx.region_id,
        jobs=tuple(jobs),
        resources=tuple(JobResource(job.id, line) for job in jobs for line in job.resources),
        lines=line_tests(jobs, known),
        groups=tuple(groups),
        calls=job_calls + group_calls,
        vbr_lines=vbr_lines,
        completed_at=ctx.clock(),
        duration_seconds=time.monotonic() - started,
    )


# --------------------------------------------------------------------------- families

JOB_FAMILIES: tuple[Family[FailoverTestJob], ...] = (
    info(
        TEST_INFO,
        "Express Connect failover test job: 1, with its name and type (StartNow, StartLater).",
        ("name", "job_type"),
        lambda job: (("name", job.name), ("job_type", job.job_type)),
    ),
    state_set(
        TEST_STATUS,
        "Failover test job status as a state set; its lines are down on purpose while it is "
        "Starting, Testing or Stopping.",
        "status",
        JOB_STATUSES,
        lambda job: job.status,
    ),
    gauge(
        TEST_START,
        "When the failover test started (StartTime), as Unix time, once it has one.",
        lambda job: job.start_time,
    ),
    gauge(
        TEST_STOP,
        "When the failover test stopped (StopTime), as Unix time, only once it is Stopped (a "
        "running job's StopTime may be its planned end).",
        lambda job: job.stop_time if job.status == STOPPED else None,
    ),
    gauge(
        TEST_DURATION,
        "How long the failover test is meant to run (JobDuration minutes times 60).",
        lambda job: job.duration_seconds,
    ),
)
RESOURCE_FAMILIES: tuple[Family[JobResource], ...] = (
    gauge(
        TEST_RESOURCE,
        "1 for each physical connection a failover test job covers.",
        lambda resource: 1.0,
    ),
)
LINE_FAMILIES: tuple[Family[LineTest], ...] = (
    gauge(
        LINE_ACTIVE,
        "1 while a failover test covering this line is Starting, Testing or Stopping (the line "
        "is down on purpose), else 0.",
        lambda line: 1.0 if line.active else 0.0,
    ),
    gauge(
        LINE_LAST_TEST,
        "StopTime of the newest Stopped failover test covering this line, as Unix time (absent "
        "if the line was never tested).",
        lambda line: line.last_test,
    ),
)
GROUP_FAMILIES: tuple[Family[VbrHa], ...] = (
    info(
        HA_INFO,
        "VBR HA (failover) group: 1, with its two member VBRs and its name.",
        ("vbr_id", "peer_vbr_id", "name"),
        lambda group: (
            ("vbr_id", group.vbr_id),
            ("peer_vbr_id", group.peer_vbr_id),
            ("name", group.name),
        ),
    ),
    state_set(
        HA_STATUS,
        "VBR HA group status as a state set.",
        "status",
        HA_STATUSES,
        lambda group: group.status,
    ),
    gauge(
        HA_CREATION,
        "When the VBR HA group was created (CreationTime, UTC), as Unix time.",
        lambda group: group.creation_time,
    ),
)


def _unknown(snapshot: FailoverSnapshot) -> Iterable[UnknownValue]:
    for job in snapshot.jobs:
        if job.status and job.status not in JOB_STATUSES:
            yield UnknownValue("FailoverTestJobStatus", job.status, job.id)
    for group in snapshot.groups:
        if group.status and group.status not in HA_STATUSES:
            yield UnknownValue("VbrHaStatus", group.status, group.id)


COLLECTOR: Collector[FailoverSnapshot] = Collector(
    name=NAME,
    api="vpc",
    collect=collect,
    needs=VBR_COLLECTOR,
    refit=refit,
    refit_on=(LINE_COLLECTOR,),
    default_interval=600.0,
    records=(
        per_id("job_id", lambda snapshot: snapshot.jobs, JOB_FAMILIES),
        RecordFamilies(
            records=lambda snapshot: snapshot.resources,
            identity=lambda resource: (
                ("job_id", resource.job_id),
                ("physical_connection_id", resource.physical_connection_id),
            ),
            families=RESOURCE_FAMILIES,
        ),
        per_id("physical_connection_id", lambda snapshot: snapshot.lines, LINE_FAMILIES),
        per_id("vbr_ha_id", lambda snapshot: snapshot.groups, GROUP_FAMILIES),
    ),
    unknown=_unknown,
    enum_fields=("FailoverTestJobStatus", "VbrHaStatus"),
)
