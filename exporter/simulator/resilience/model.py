"""Records of the resilience APIs: CEN VBR health checks, failover test jobs, VBR HA groups.

A failover test job's status is derived from the simulated clock at answer time (start and stop
requests are stored as moments), so no lifecycle tick is needed and a jump of the clock moves a
test on at once. The readings the facts sheet leaves open are :class:`ResilienceSettings`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from typing import Any

from exporter.simulator.lines.fleet import iso

JOB_STATUSES = ("Init", "Starting", "Testing", "Stopping", "Stopped")
RUNNING_STATUSES = frozenset({"Starting", "Testing", "Stopping"})
HA_STATUSES = ("Creating", "Active")
JOB_TYPES = ("StartNow", "StartLater")
RESOURCE_TYPE = "PHYSICALCONNECTION"
MAX_JOB_MINUTES = 4320
_CHOICES: dict[str, tuple[str, ...]] = {
    "vbr_ha_not_found": ("404", "empty", "blank"),
    "vbr_ha_peer_view": ("stored", "swapped"),
    "init_times": ("empty", "absent"),
    "running_stop_time": ("planned", "empty"),
    "next_token_last_page": ("empty", "absent"),
    "job_order": ("shuffled", "newest_first", "oldest_first"),
    "health_check_only_field": ("present", "absent_when_false"),
    "cen_unknown_region": ("error", "empty"),
}


@dataclass(frozen=True)
class ResilienceSettings:
    """Switches for what the facts sheet marks unverified (section 8), each named after the
    reading it picks:

    - ``vbr_ha_not_found``: a VBR in no HA group answers ``404`` ``ResourceNotFound.VbrHa``
      (docs), ``empty`` (HTTP 200 with only ``RequestId``) or ``blank`` (HTTP 200, every
      field ``""``), the two answers Terraform reads as "not found";
    - ``vbr_ha_peer_view``: asked by the peer member, the group as ``stored`` or ``swapped``
      (``VbrId`` the VBR asked about);
    - ``init_times``: an Init job's StartTime/StopTime ``empty`` (``""``) or ``absent``;
    - ``running_stop_time``: a Starting/Testing/Stopping job's StopTime is its ``planned`` end
      (StartTime + JobDuration) or ``empty``;
    - ``auto_stop``: a Testing job stops by itself once JobDuration has passed;
    - ``next_token_last_page``: the last page's NextToken ``empty`` or ``absent``;
    - ``job_order``: ``shuffled`` (stable, seeded), ``newest_first`` or ``oldest_first``;
    - ``health_check_only_field``: ``present`` always, or ``absent_when_false`` (old shapes);
    - ``cen_unknown_region``: an unknown VbrInstanceRegionId answers 404 (``error``) or an
      empty list (``empty``);
    - ``transition_seconds``: simulated seconds a job spends Starting and Stopping.
    """

    vbr_ha_not_found: str = "404"
    vbr_ha_peer_view: str = "stored"
    init_times: str = "empty"
    running_stop_time: str = "planned"
    auto_stop: bool = True
    next_token_last_page: str = "empty"
    job_order: str = "shuffled"
    health_check_only_field: str = "present"
    cen_unknown_region: str = "error"
    transition_seconds: float = 5.0

    def changed(self, changes: dict[str, Any]) -> ResilienceSettings:
        """A copy with ``changes`` (all checked first; ValueError names the first bad one)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown resilience settings: {sorted(unknown)}")
        for key, value in changes.items():
            if key in _CHOICES and value not in _CHOICES[key]:
                raise ValueError(f"{key}: must be one of {', '.join(_CHOICES[key])}, got {value!r}")
            if key == "auto_stop" and not isinstance(value, bool):
                raise ValueError(f"auto_stop: must be true or false, got {value!r}")
            if key == "transition_seconds" and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= 86400
            ):
                raise ValueError(f"transition_seconds: must be a number in 0..86400, got {value!r}")
        return replace(self, **changes)


@dataclass
class HealthCheck:
    """A VBR's CEN health check configuration (whether one exists is ``Vbr.health_check``)."""

    cen_id: str
    source_ip: str
    target_ip: str
    interval: int = 2
    healthy_threshold: int = 8
    only: bool = False
    description: str = ""

    def view(self, vbr_id: str, region: str, settings: ResilienceSettings) -> dict[str, Any]:
        out: dict[str, Any] = {
            "CenId": self.cen_id,
            "VbrInstanceId": vbr_id,
            "VbrInstanceRegionId": region,
            "HealthCheckSourceIp": self.source_ip,
            "HealthCheckTargetIp": self.target_ip,
            "HealthCheckInterval": self.interval,
            "HealthyThreshold": self.healthy_threshold,
            "HealthCheckOnly": self.only,
            "Description": self.description,
        }
        if not self.only and settings.health_check_only_field == "absent_when_false":
            del out["HealthCheckOnly"]
        return out


@dataclass
class FailoverJob:
    """A failover test job. ``started`` is when it was started (None: still Init),
    ``stop_requested`` when StopFailoverTestJob was called; both simulated epoch seconds."""

    account: str
    region: str
    job_id: str
    name: str
    resources: list[str]
    job_type: str
    minutes: int
    created: float
    description: str = ""
    started: float | None = None
    stop_requested: float | None = None

    def status_at(self, now: float, settings: ResilienceSettings) -> tuple[str, float | None]:
        """(Status, StopTime or None) at simulated time ``now``."""
        if self.started is None or now < self.started:
            return "Init", None
        planned = self.started + self.minutes * 60
        asked = self.stop_requested
        if asked is not None and not (settings.auto_stop and planned <= asked):
            done = asked + settings.transition_seconds
            return ("Stopped", done) if now >= done else ("Stopping", None)
        if settings.auto_stop and now >= planned:
            return "Stopped", planned
        if now < self.started + settings.transition_seconds:
            return "Starting", None
        return "Testing", None

    def view(self, now: float, settings: ResilienceSettings) -> dict[str, Any]:
        status, stopped = self.status_at(now, settings)
        out: dict[str, Any] = {
            "JobId": self.job_id,
            "Name": self.name,
            "Description": self.description,
            "ResourceType": RESOURCE_TYPE,
            "ResourceId": list(self.resources),
            "JobType": self.job_type,
            "JobDuration": str(self.minutes),
            "StartTime": "",
            "StopTime": "",
            "Status": status,
        }
        if status == "Init":
            if settings.init_times == "absent":
                del out["StartTime"], out["StopTime"]
            return out
        assert self.started is not None
        out["StartTime"] = iso(self.started)
        if stopped is not None:
            out["StopTime"] = iso(stopped)
        elif settings.running_stop_time == "planned":
            out["StopTime"] = iso(self.started + self.minutes * 60)
        return out


@dataclass
class VbrHa:
    """A VBR HA (failover) group of two VBRs of one region."""

    account: str
    region: str
    ha_id: str
    vbr_id: str
    peer_vbr_id: str
    name: str
    created: float
    status: str = "Active"
    description: str = ""

    def view(self, asked_vbr: str | None, settings: ResilienceSettings) -> dict[str, Any]:
        vbr, peer = self.vbr_id, self.peer_vbr_id
        if settings.vbr_ha_peer_view == "swapped" and asked_vbr == peer:
            vbr, peer = peer, vbr
        return {
            "VbrHaId": self.ha_id,
            "VbrId": vbr,
            "PeerVbrId": peer,
            "Name": self.name,
            "Description": self.description,
            "Status": self.status,
            "RegionId": self.region,
            "CreationTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.created)),
        }
