"""The simulator's resilience state and its thread-safe methods (``Simulator.resilience``).

The control plane, scenario steps and tests call these methods; the API handlers read through
them. Everything runs under the line store's lock, so a health check, a test or a group is
always consistent with the VBRs and lines it names. Every change is checked in full before
anything is stored: a refused change (ValueError, 400 on the control plane) changes nothing;
an unknown ID is a KeyError (404).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from typing import Any

from exporter.simulator.accounts import Account
from exporter.simulator.clock import SimClock
from exporter.simulator.lines.lifecycle import parse_time
from exporter.simulator.lines.store import Store
from exporter.simulator.resilience.growth import (
    attach_cen,
    default_health_check,
    grow,
    main_cen,
)
from exporter.simulator.resilience.model import (
    HA_STATUSES,
    JOB_TYPES,
    MAX_JOB_MINUTES,
    RUNNING_STATUSES,
    FailoverJob,
    HealthCheck,
    ResilienceSettings,
    VbrHa,
)
from exporter.simulator.scenario import relative_time
from exporter.simulator.vbr.fleet import new_id
from exporter.simulator.vbr.model import Vbr
from exporter.simulator.vbr.store import VbrStore

MAX_RESOURCES = 16
_HC_FIELDS = {
    "CenId",
    "HealthCheckSourceIp",
    "HealthCheckTargetIp",
    "HealthCheckInterval",
    "HealthyThreshold",
    "HealthCheckOnly",
    "Description",
}


class Resilience:
    """CEN health checks, failover test jobs and VBR HA groups of every account."""

    def __init__(
        self,
        seed: int,
        lines: Store,
        vbrs: VbrStore,
        clock: SimClock,
        accounts: Sequence[Account],
    ) -> None:
        self.seed = seed
        self.lines = lines
        self.vbrs = vbrs
        self.lock = vbrs.lock
        self.clock = clock
        self.uids = {a.name: a.uid for a in accounts}
        self.settings = ResilienceSettings()
        self._health: dict[str, HealthCheck] = {}
        self._jobs: dict[str, FailoverJob] = {}
        self._groups: dict[str, VbrHa] = {}
        self._shift: dict[tuple[str, str], int] = {}
        self._rng = random.Random(f"{seed}:resilience-added")
        now = clock.now()
        for account in accounts:
            grown = grow(
                seed=seed,
                account=account.name,
                uid=account.uid,
                conns=[c for c in lines if c.account == account.name],
                vbrs=vbrs.vbrs(account.name),
                now=now,
            )
            self._health.update(grown.health)
            self._jobs.update((j.job_id, j) for j in grown.jobs)
            self._groups.update((g.ha_id, g) for g in grown.groups)

    # -- settings -----------------------------------------------------------------------------
    def configure(self, changes: dict[str, Any] | None = None) -> ResilienceSettings:
        """Read or change the switches of :class:`ResilienceSettings`."""
        with self.lock:
            if changes:
                self.settings = self.settings.changed(changes)
            return self.settings

    # -- health checks ------------------------------------------------------------------------
    def health_check(self, vbr_id: str) -> HealthCheck | None:
        """The VBR's health check (None: not configured); KeyError for an unknown VBR."""
        with self.lock:
            vbr = self.vbrs.vbr(vbr_id)
            if not vbr.health_check:
                return None
            check = self._health.get(vbr_id)
            if check is None:  # configured elsewhere (set_vbr, add_vbr): the console's defaults
                check = default_health_check(vbr, self._cen_of(vbr))
                self._health[vbr_id] = check
            return check

    def health_check_view(self, vbr_id: str) -> dict[str, Any] | None:
        with self.lock:
            vbr = self.vbrs.vbr(vbr_id)
            check = self.health_check(vbr_id)
            return None if check is None else check.view(vbr.id, vbr.region, self.settings)

    def health_checks(
        self, account: str | None = None, region: str | None = None
    ) -> list[tuple[Vbr, dict[str, Any]]]:
        """(VBR, wire record) of every configured health check, in VBR generation order."""
        with self.lock:
            out = []
            for vbr in self.vbrs.vbrs(account, region):
                view = self.health_check_view(vbr.id)
                if view is not None:
                    out.append((vbr, view))
            return out

    def set_health_check(self, vbr_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Configure or change a VBR's health check with wire field names
        (``HealthCheckInterval`` 2..3, ``HealthyThreshold`` 3..8, ``HealthCheckOnly``,
        ``HealthCheckSourceIp``, ``HealthCheckTargetIp``, ``CenId``, ``Description``).
        A VBR without one gets the console's defaults first. Returns the wire record."""
        checked = _checked_health(changes)
        with self.lock:
            vbr = self.vbrs.vbr(vbr_id)
            check = self._health.get(vbr_id) if vbr.health_check else None
            if check is None:
                check = default_health_check(vbr, self._cen_of(vbr))
            for key, value in checked.items():
                setattr(check, key, value)
            self._health[vbr_id] = check
            vbr.health_check = True
            return check.view(vbr.id, vbr.region, self.settings)

    def remove_health_check(self, vbr_id: str) -> None:
        """DisableCenVbrHealthCheck: the VBR leaves the list (and loses health metrics)."""
        with self.lock:
            vbr = self.vbrs.vbr(vbr_id)
            if not vbr.health_check:
                raise ValueError(f"{vbr_id} has no health check")
            vbr.health_check = False
            self._health.pop(vbr_id, None)

    def _cen_of(self, vbr: Vbr) -> str:
        return attach_cen(vbr, main_cen(self.seed, vbr.account), self.uids.get(vbr.account, 0))

    # -- failover tests -----------------------------------------------------------------------
    def job(self, job_id: str) -> FailoverJob:
        found = self._jobs.get(job_id)
        if found is None:
            raise KeyError(f"no failover test job {job_id}")
        return found

    def job_view(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            return self.job(job_id).view(self.clock.now(), self.settings)

    def jobs(
        self, account: str | None = None, region: str | None = None, connection: str | None = None
    ) -> list[FailoverJob]:
        """Jobs in creation order."""
        with self.lock:
            return [
                j
                for j in self._jobs.values()
                if (account is None or j.account == account)
                and (region is None or j.region == region)
                and (connection is None or connection in j.resources)
            ]

    def job_status(self, job_id: str) -> str:
        with self.lock:
            return self.job(job_id).status_at(self.clock.now(), self.settings)[0]

    def add_failover_test(
        self,
        connections: Sequence[str],
        job_type: str = "StartNow",
        duration: int = 60,
        name: str = "",
        description: str = "",
        job_id: str | None = None,
        start_time: Any = None,
        stop_time: Any = None,
    ) -> str:
        """A job on the caller's lines (one account and region, at most 16): StartNow jobs
        start now (or at ``start_time``), StartLater ones stay Init until started.
        ``start_time``/``stop_time`` (``now-90d``, epoch seconds or ``…Z``) make history."""
        lines = _check_job_args(connections, job_type, duration, name, description, job_id)
        now = self.clock.now()
        started = _when(start_time, now, "start_time")
        stopped = _when(stop_time, now, "stop_time")
        if started is None and job_type == "StartNow":
            started = now
        if stopped is not None and (started is None or stopped < started):
            raise ValueError("stop_time: needs a start_time before it")
        with self.lock:
            conns = [self.lines.get(pc) for pc in lines]
            missing = [pc for pc, c in zip(lines, conns, strict=True) if c is None]
            if missing:
                raise KeyError(f"no connection {missing[0]}")
            owners = {(c.account, c.region) for c in conns if c is not None}
            if len(owners) != 1:
                raise ValueError("connections: must be of one account and one region")
            account, region = owners.pop()
            if job_id is not None and job_id in self._jobs:
                raise ValueError(f"failover test job {job_id} already exists")
            job = FailoverJob(
                account=account,
                region=region,
                job_id=job_id or new_id(self._rng, "ftj", region),
                name=name,
                resources=list(lines),
                job_type=job_type,
                minutes=duration,
                created=min(now, started) if started is not None else now,
                description=description,
                started=started,
                stop_requested=stopped,
            )
            self._jobs[job.job_id] = job
            return job.job_id

    def start_failover_test(self, job_id: str) -> dict[str, Any]:
        """StartFailoverTestJob: only an Init job starts (Starting, then Testing)."""
        with self.lock:
            job = self.job(job_id)
            now = self.clock.now()
            if job.status_at(now, self.settings)[0] != "Init":
                raise ValueError(f"{job_id}: only an Init job can start")
            job.started = now
            return job.view(now, self.settings)

    def stop_failover_test(self, job_id: str) -> dict[str, Any]:
        """StopFailoverTestJob: a Starting or Testing job goes Stopping, then Stopped."""
        with self.lock:
            job = self.job(job_id)
            now = self.clock.now()
            if job.status_at(now, self.settings)[0] not in ("Starting", "Testing"):
                raise ValueError(f"{job_id}: only a Starting or Testing job can stop")
            job.stop_requested = now
            return job.view(now, self.settings)

    def running_job(self, pc_id: str) -> str:
        """The job now Starting, Testing or Stopping on a line (KeyError if none)."""
        with self.lock:
            now = self.clock.now()
            for job in self.jobs(connection=pc_id):
                if job.status_at(now, self.settings)[0] in RUNNING_STATUSES:
                    return job.job_id
            raise KeyError(f"no failover test running on {pc_id}")

    def update_failover_test(self, job_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """``Name``, ``Description``, ``JobDuration`` (minutes, 1..4320)."""
        unknown = set(changes) - {"Name", "Description", "JobDuration"}
        if unknown:
            raise ValueError(f"unknown failover test fields: {sorted(unknown)}")
        minutes = changes.get("JobDuration")
        if minutes is not None:
            minutes = _minutes(minutes)
        for key in ("Name", "Description"):
            if key in changes and not isinstance(changes[key], str):
                raise ValueError(f"{key}: must be a string")
        with self.lock:
            job = self.job(job_id)
            job.name = changes.get("Name", job.name)
            job.description = changes.get("Description", job.description)
            job.minutes = job.minutes if minutes is None else minutes
            return job.view(self.clock.now(), self.settings)

    def remove_failover_test(self, job_id: str) -> None:
        with self.lock:
            self.job(job_id)
            del self._jobs[job_id]

    # -- VBR HA groups ------------------------------------------------------------------------
    def group(self, ha_id: str) -> VbrHa:
        found = self._groups.get(ha_id)
        if found is None:
            raise KeyError(f"no VBR HA group {ha_id}")
        return found

    def groups(self, account: str | None = None, region: str | None = None) -> list[VbrHa]:
        """Groups whose two VBRs still exist, in creation order."""
        with self.lock:
            return [
                g
                for g in self._groups.values()
                if (account is None or g.account == account)
                and (region is None or g.region == region)
                and self._members_exist(g)
            ]

    def group_of(self, vbr_id: str) -> VbrHa | None:
        with self.lock:
            return next(
                (g for g in self.groups() if vbr_id in (g.vbr_id, g.peer_vbr_id)),
                None,
            )

    def group_view(self, ha_id: str) -> dict[str, Any]:
        with self.lock:
            return self.group(ha_id).view(None, self.settings)

    def add_vbr_ha(
        self,
        vbr_id: str,
        peer_vbr_id: str,
        status: str = "Creating",
        name: str = "",
        description: str = "",
        ha_id: str | None = None,
        created: Any = None,
    ) -> str:
        """CreateVbrHa: two VBRs of one account and region on different lines, each in no
        other group; both join the first one's CEN."""
        if status not in HA_STATUSES:
            raise ValueError(f"status: must be one of {', '.join(HA_STATUSES)}, got {status!r}")
        for key, value in (("name", name), ("description", description)):
            if not isinstance(value, str):
                raise ValueError(f"{key}: must be a string")
        if ha_id is not None and not (isinstance(ha_id, str) and ha_id):
            raise ValueError("id: must be a non-empty string")
        now = self.clock.now()
        when = _when(created, now, "created")
        with self.lock:
            vbr, peer = self.vbrs.vbr(vbr_id), self.vbrs.vbr(peer_vbr_id)
            if (vbr.account, vbr.region) != (peer.account, peer.region):
                raise ValueError("peer_vbr: must be of the same account and region")
            if vbr.pc_id == peer.pc_id:
                raise ValueError("peer_vbr: must be on another line")
            for member in (vbr, peer):
                if self.group_of(member.id) is not None:
                    raise ValueError(f"{member.id} is already in a VBR HA group")
            if ha_id is not None and ha_id in self._groups:
                raise ValueError(f"VBR HA group {ha_id} already exists")
            cen = self._cen_of(vbr)
            attach_cen(peer, cen, self.uids.get(peer.account, 0))
            group = VbrHa(
                account=vbr.account,
                region=vbr.region,
                ha_id=ha_id or new_id(self._rng, "vbrha", vbr.region),
                vbr_id=vbr.id,
                peer_vbr_id=peer.id,
                name=name,
                created=now if when is None else when,
                status=status,
                description=description,
            )
            self._groups[group.ha_id] = group
            return group.ha_id

    def update_vbr_ha(self, ha_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """``Status`` (Creating, Active), ``Name``, ``Description``."""
        unknown = set(changes) - {"Status", "Name", "Description"}
        if unknown:
            raise ValueError(f"unknown VBR HA fields: {sorted(unknown)}")
        if "Status" in changes and changes["Status"] not in HA_STATUSES:
            raise ValueError(f"Status: must be one of {', '.join(HA_STATUSES)}")
        for key in ("Name", "Description"):
            if key in changes and not isinstance(changes[key], str):
                raise ValueError(f"{key}: must be a string")
        with self.lock:
            group = self.group(ha_id)
            group.status = changes.get("Status", group.status)
            group.name = changes.get("Name", group.name)
            group.description = changes.get("Description", group.description)
            return group.view(None, self.settings)

    def remove_vbr_ha(self, ha_id: str) -> None:
        with self.lock:
            self.group(ha_id)
            del self._groups[ha_id]

    def _members_exist(self, group: VbrHa) -> bool:
        try:
            self.vbrs.vbr(group.vbr_id)
            self.vbrs.vbr(group.peer_vbr_id)
        except KeyError:
            return False
        return True

    # -- paging support -----------------------------------------------------------------------
    def order_key(self, job: FailoverJob) -> tuple[Any, ...]:
        """Sort key of the job list under the ``job_order`` setting."""
        order = self.settings.job_order
        if order == "shuffled":
            return (hashlib.sha256(f"{self.seed}:{job.job_id}".encode()).hexdigest(),)
        created = job.started if job.started is not None else job.created
        return (-created if order == "newest_first" else created, job.job_id)

    def rotate_jobs(self, account: str, region: str, delta: int) -> None:
        """The ``shift_records`` fault: the region's list starts ``delta`` jobs later from now
        on (the first jobs move to the end), so pages read before and after disagree."""
        with self.lock:
            key = (account, region)
            self._shift[key] = self._shift.get(key, 0) + delta

    def ordered_jobs(self, account: str, region: str) -> list[FailoverJob]:
        """The region's jobs in answer order: ``job_order``, then any ``shift_records``."""
        with self.lock:
            jobs = sorted(self.jobs(account, region), key=self.order_key)
            if not jobs:
                return jobs
            k = self._shift.get((account, region), 0) % len(jobs)
            return jobs[k:] + jobs[:k]


def _checked_health(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - _HC_FIELDS
    if unknown:
        raise ValueError(f"unknown health check fields: {sorted(unknown)}")
    out: dict[str, Any] = {}
    for key, attr, low, high in (
        ("HealthCheckInterval", "interval", 2, 3),
        ("HealthyThreshold", "healthy_threshold", 3, 8),
    ):
        if key in changes:
            value = changes[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{key}: must be an integer in {low}..{high}, got {value!r}")
            out[attr] = value
    if "HealthCheckOnly" in changes:
        if not isinstance(changes["HealthCheckOnly"], bool):
            raise ValueError("HealthCheckOnly: must be true or false")
        out["only"] = changes["HealthCheckOnly"]
    for key, attr in (
        ("CenId", "cen_id"),
        ("HealthCheckSourceIp", "source_ip"),
        ("HealthCheckTargetIp", "target_ip"),
        ("Description", "description"),
    ):
        if key in changes:
            if not isinstance(changes[key], str) or (key != "Description" and not changes[key]):
                raise ValueError(f"{key}: must be a non-empty string")
            out[attr] = changes[key]
    return out


def _minutes(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_JOB_MINUTES:
        raise ValueError(f"duration: minutes in 1..{MAX_JOB_MINUTES}, got {value!r}")
    return value


def _check_job_args(
    connections: Iterable[str],
    job_type: str,
    duration: Any,
    name: Any,
    description: Any,
    job_id: Any,
) -> list[str]:
    if isinstance(connections, str):
        raise ValueError("connections: must be a list of line IDs")
    lines = list(connections)
    if not 1 <= len(lines) <= MAX_RESOURCES or not all(isinstance(c, str) for c in lines):
        raise ValueError(f"connections: 1..{MAX_RESOURCES} line IDs, got {lines!r}")
    if len(set(lines)) != len(lines):
        raise ValueError("connections: a line is named twice")
    if job_type not in JOB_TYPES:
        raise ValueError(f"job_type: must be one of {', '.join(JOB_TYPES)}, got {job_type!r}")
    _minutes(duration)
    if not isinstance(name, str) or len(name) > 128:
        raise ValueError("name: a string of at most 128 characters")
    if not isinstance(description, str) or len(description) > 256:
        raise ValueError("description: a string of at most 256 characters")
    if job_id is not None and not (isinstance(job_id, str) and job_id):
        raise ValueError("id: must be a non-empty string")
    return lines


def _when(value: Any, now: float, key: str) -> float | None:
    """``now-90d`` style, epoch seconds or an ISO UTC time; None when not given."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    relative = relative_time(value, now)
    if relative is not None:
        return relative
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(
            f"{key}: use now-90d, epoch seconds or YYYY-MM-DDThh:mm:ssZ, got {value!r}"
        )
    return parsed
