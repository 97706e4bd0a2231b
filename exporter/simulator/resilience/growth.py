"""Resilience data grown from a generated fleet, deterministic per (seed, account).

Its own random stream (as the VBRs have theirs) keeps the lines, VBRs and peers as they were;
only two VBR fields change: more VBRs get a health check (``Vbr.health_check``, so their
CloudMonitor health-check metrics have data too) and a VBR with a health check or in an HA group
is attached to a CEN (``AssociatedCens``), since a health check belongs to the VBR's CEN.

- Health checks: on the VBRs of redundant pairs by position (switching, probe-only, none,
  switching, switching, ...), elsewhere about four VBRs in five, one in six of them probe-only.
- Failover tests, by redundant pair (both legs Enabled) in generation order: tested recently
  (quarterly drills, newest 5-60 days ago), tested long ago (newest 200-400 days ago), never.
  The first recent pair also has a test running now (StartNow, started 10 minutes ago, 3 days
  long) and the first never-tested pair a scheduled one (StartLater, still Init).
- HA groups: the first VBRs of every third pair (Active) and the next pair's (Creating, two
  days old).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from exporter.simulator.lines.fleet import DAY
from exporter.simulator.lines.lifecycle import parse_time
from exporter.simulator.lines.model import Connection
from exporter.simulator.resilience.model import FailoverJob, HealthCheck, VbrHa
from exporter.simulator.vbr.fleet import new_id
from exporter.simulator.vbr.model import Vbr

_ON_PAIR = ("switch", "probe", "none", "switch", "switch")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class Grown:
    health: dict[str, HealthCheck] = field(default_factory=dict)
    jobs: list[FailoverJob] = field(default_factory=list)
    groups: list[VbrHa] = field(default_factory=list)


def main_cen(seed: int, account: str) -> str:
    """The CEN a VBR joins when it needs one (one per account, like most customers have)."""
    digest = hashlib.sha256(f"{seed}:{account}:cen".encode()).digest()
    return "cen-" + "".join(_ALPHABET[b % 36] for b in digest[:18])


def redundant_pairs(conns: Iterable[Connection]) -> list[tuple[Connection, Connection]]:
    """Pairs of Enabled lines naming each other as redundant, in generation order."""
    by_id = {c.id: c for c in conns}
    out: list[tuple[Connection, Connection]] = []
    seen: set[str] = set()
    for conn in by_id.values():
        other = by_id.get(str(conn.fields.get("RedundantPhysicalConnectionId", "")))
        if other is None or conn.id in seen or other.id in seen:
            continue
        if conn.status == "Enabled" and other.status == "Enabled":
            out.append((conn, other))
        seen.update((conn.id, other.id))
    return out


def attach_cen(vbr: Vbr, cen_id: str, uid: int) -> str:
    """The VBR's first CEN, attaching ``cen_id`` when it has none."""
    cens = vbr.fields.setdefault("AssociatedCens", {"AssociatedCen": []}).setdefault(
        "AssociatedCen", []
    )
    if not cens:
        cens.append({"CenId": cen_id, "CenOwnerId": uid, "CenStatus": "Attached"})
    return str(cens[0]["CenId"])


def default_health_check(vbr: Vbr, cen_id: str, rng: random.Random | None = None) -> HealthCheck:
    """A health check as the console creates it: automatic source IP from 100.96.0.0/16,
    the VBR's customer-side address as target, interval 2 s, 8 probes, switching routes."""
    digest = hashlib.sha256(vbr.id.encode()).digest()
    source = f"100.96.{digest[0]}.{digest[1] or 1}"
    if rng is not None and rng.random() < 0.25:
        source = f"192.168.{rng.randrange(256)}.1"
    return HealthCheck(cen_id, source, str(vbr.fields.get("PeerGatewayIp", "")))


def grow(
    *, seed: int, account: str, uid: int, conns: list[Connection], vbrs: list[Vbr], now: float
) -> Grown:
    rng = random.Random(f"{seed}:{account}:resilience")
    cen = main_cen(seed, account)
    pairs = redundant_pairs(conns)
    grown = Grown()
    grown.groups = _groups(rng, pairs, vbrs, cen, uid, now)
    grown.health = _health(rng, pairs, vbrs, cen, uid)
    grown.jobs = _jobs(rng, account, pairs, now)
    return grown


def _first_vbr(vbrs: list[Vbr], pc_id: str) -> Vbr | None:
    return next((v for v in vbrs if v.pc_id == pc_id), None)


def _groups(
    rng: random.Random,
    pairs: list[tuple[Connection, Connection]],
    vbrs: list[Vbr],
    cen: str,
    uid: int,
    now: float,
) -> list[VbrHa]:
    groups: list[VbrHa] = []
    candidates = []
    for a, b in pairs:
        va, vb = _first_vbr(vbrs, a.id), _first_vbr(vbrs, b.id)
        if va is not None and vb is not None:
            candidates.append((va, vb))
    for n, (va, vb) in enumerate(candidates):
        if n % 3 == 2:
            continue
        creating = n % 3 == 1
        if creating and any(g.status == "Creating" for g in groups):
            continue
        for member in (va, vb):
            member.fields["AssociatedCens"] = {
                "AssociatedCen": [{"CenId": cen, "CenOwnerId": uid, "CenStatus": "Attached"}]
            }
        created = now - (2 * DAY if creating else rng.uniform(20, 400) * DAY)
        short = va.region.split("-", 1)[1][:3]
        groups.append(
            VbrHa(
                account=va.account,
                region=va.region,
                ha_id=new_id(rng, "vbrha", va.region),
                vbr_id=va.id,
                peer_vbr_id=vb.id,
                name=f"{short}-ha-{n:02d}",
                created=created,
                status="Creating" if creating else "Active",
                description=f"HA for {va.pc_id} and {vb.pc_id}",
            )
        )
    return groups


def _health(
    rng: random.Random,
    pairs: list[tuple[Connection, Connection]],
    vbrs: list[Vbr],
    cen: str,
    uid: int,
) -> dict[str, HealthCheck]:
    on_pairs = {c.id for pair in pairs for c in pair}
    out: dict[str, HealthCheck] = {}
    k = 0
    for vbr in vbrs:
        if vbr.pc_id in on_pairs:
            kind = _ON_PAIR[k % len(_ON_PAIR)]
            k += 1
        else:
            configured = vbr.health_check or rng.random() < 0.6
            kind = ("probe" if rng.random() < 1 / 6 else "switch") if configured else "none"
        vbr.health_check = kind != "none"
        if kind == "none":
            continue
        check = default_health_check(vbr, attach_cen(vbr, cen, uid), rng)
        check.interval = rng.choice((2, 2, 3))
        check.healthy_threshold = rng.choice((8, 8, 8, 5, 3, 6))
        check.only = kind == "probe"
        check.description = "probe only" if check.only else rng.choice(("", "", "prod failover"))
        out[vbr.id] = check
    return out


def _enabled(conn: Connection) -> float:
    return parse_time(conn.fields.get("EnabledTime")) or 0.0


def _jobs(
    rng: random.Random, account: str, pairs: list[tuple[Connection, Connection]], now: float
) -> list[FailoverJob]:
    jobs: list[FailoverJob] = []
    running = scheduled = False
    for n, (a, b) in enumerate(pairs):
        category = n % 3
        since = max(_enabled(a), _enabled(b)) + DAY
        short = a.region.split("-", 1)[1][:3]
        if category in (0, 1):
            newest = now - (rng.uniform(5, 60) if category == 0 else rng.uniform(200, 400)) * DAY
            drills = rng.randint(3, 8) if category == 0 else rng.randint(1, 3)
            for d in range(drills):
                start = newest - d * rng.uniform(80, 100) * DAY
                if start < since:
                    break
                minutes = rng.choice((30, 60, 60, 120))
                job = _job(rng, account, a, f"{short}-drill-{n:02d}-{d}", (a, b)[d % 2], minutes)
                job.created = start - rng.uniform(1, 7) * DAY
                job.started = start
                job.stop_requested = start + minutes * 60 - rng.uniform(0, 5) * 60
                jobs.append(job)
        if category == 0 and not running:
            running = True
            job = _job(rng, account, a, f"{short}-drill-now", b, 4320)
            job.created = job.started = now - 600
            jobs.append(job)
        if category == 2 and not scheduled:
            scheduled = True
            job = _job(rng, account, a, f"{short}-first-drill", a, 60, "StartLater")
            job.created = now - DAY
            jobs.append(job)
    return jobs


def _job(
    rng: random.Random,
    account: str,
    pair_leg: Connection,
    name: str,
    line: Connection,
    minutes: int,
    job_type: str = "StartNow",
) -> FailoverJob:
    return FailoverJob(
        account=account,
        region=pair_leg.region,
        job_id=new_id(rng, "ftj", pair_leg.region),
        name=name,
        resources=[line.id],
        job_type=job_type,
        minutes=minutes,
        created=0.0,
    )
