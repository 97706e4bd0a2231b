"""Soak: the exporter against a churning simulator for a while; does memory, state or truth drift?

    python bench/soak.py [--minutes 30] [--lines 1000] [--regions 4] [--time-scale 600]
                         [--interval 5] [--check-every 60] [--seed 1] [--clock-step 3600]

The simulator (lifecycle on, ``--time-scale`` simulated seconds per real second) and the
exporter daemon (both collectors every ``--interval`` s, a state file) run as child processes on
loopback. Until the time is up, the soak churns the fleet through the simulator's control plane:
lines created (they walk Initial → Confirmed by themselves), enabled, locked and unlocked,
terminated, deleted once Terminated; VBRs added and removed, BGP sessions flapped; a region
failing (a ServiceUnavailable fault) and recovering; the configuration reloaded by SIGHUP (a
region leaves and comes back, the tag labels change); the exporter's wall clock stepped back by
``--clock-step`` seconds between two checks and put right before the next (libfaketime, the
Debian package ``faketime``; monotonic time stays real; ``--clock-step 0`` runs without it).
While the clock is stepped back, API requests must go on (the simulator, like the API, refuses
their skewed timestamps: InvalidTimeStamp.Expired, so keys go down and their last success stays,
and the staleness alert can fire); the truth check after the clock is put right needs a pass of
every key started after its freeze.

Every ``--check-every`` s it checks truth: churn pauses, faults are cleared, the simulator's
clock is frozen, its lines (ID, status, business status) and VBRs (ID, status) per configured
region are read, and once every (region, collector) has completed a pass that started after the
freeze, ``/metrics`` must show exactly those: the mismatch count must be 0. Then the clock runs
again. Reported: the mismatches of every check, the exporter's RSS slope (MB/hour, least squares
over samples) and the state file's size over time. Stops by itself; Ctrl-C stops early and
still reports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from bench.benchlib import (
    LOOPBACK,
    ROOT,
    free_port,
    http,
    least_squares_slope,
    mismatches,
    proc_status_mb,
    samples,
    spawn,
    stop,
    wait_http,
)
from exporter.region_ids import REGION_IDS
from exporter.vocabulary import canonical_status

PC, VBR = "physical_connections", "virtual_border_routers"
JSON = {"Content-Type": "application/json"}
FROZEN = 1e-9  # simulated seconds per real second while truth is compared
ACCESS_KEY = {
    "type": "access_key",
    "access_key_id": "sim-access-key-id",
    "access_key_secret": "sim-access-key-secret",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=5.0, help="both collectors, seconds")
    parser.add_argument("--rate", type=float, default=50.0, help="max_requests_per_second")
    parser.add_argument("--check-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--clock-step", type=float, default=3600.0, help="seconds the wall clock steps back; 0: off"
    )
    args = parser.parse_args()
    if not 2 <= args.regions <= len(REGION_IDS):
        parser.error(f"--regions must be 2..{len(REGION_IDS)} (one leaves on reloads)")
    if args.minutes <= 0 or args.interval < 1 or args.lines < 1 or args.time_scale <= 0:
        parser.error("--minutes > 0, --interval >= 1, --lines >= 1, --time-scale > 0 please")
    return args


# ---------------------------------------------------------------- simulator control plane


class Sim:
    """The simulator's control plane (JSON over loopback)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        return json.loads(http(self.url + path, data, JSON, method=method, timeout=30))

    def select(self, kind: str, selector: dict[str, Any]) -> str | None:
        """An ID by selector, trying a random-ish index first, then the first; None if none."""
        for index in (selector.pop("index", 0), 0):
            try:
                return str(self.call("POST", f"/_sim/{kind}", {**selector, "index": index})["id"])
            except OSError:  # 404: nothing (or not that many) match
                continue
        return None

    def truth(self, regions: list[str]) -> tuple[dict[str, dict[str, str]], ...]:
        """Lines ``{region: {id: "Status/BusinessStatus"}}`` and VBRs ``{region: {id: Status}}``."""
        lines: dict[str, dict[str, str]] = {r: {} for r in regions}
        for item in self.call("GET", "/_sim/connections"):
            if item["region"] in lines:
                record = item["connection"]
                business = record.get("BusinessStatus") or "?"
                state = f"{canonical_status(record['Status'])}/{business}"
                lines[item["region"]][record["PhysicalConnectionId"]] = state
        vbrs: dict[str, dict[str, str]] = {r: {} for r in regions}
        for item in self.call("GET", "/_sim/vbrs"):
            if item["region"] in vbrs:
                vbrs[item["region"]][item["vbr"]["VbrId"]] = item["vbr"]["Status"]
        return lines, vbrs


# ---------------------------------------------------------------- churn


@dataclass
class Churn:
    """Random changes to the fleet, the faults and the configuration; counts what it did."""

    sim: Sim
    regions: list[str]
    rng: random.Random
    target_lines: int
    done: Counter[str] = field(default_factory=Counter)
    faults: dict[int, float] = field(default_factory=dict)  # fault ID → when to remove it

    def step(self) -> None:
        region = self.rng.choice(self.regions)
        index = self.rng.randrange(20)
        actions = [
            self.create,
            self.enable,
            self.lock,
            self.unlock,
            self.terminate,
            self.delete,
            self.add_vbr,
            self.remove_vbr,
            self.flap,
        ]
        action = self.rng.choice(actions)
        try:
            if action(region, index):
                self.done[action.__name__] += 1
        except OSError as error:  # the simulator refused (e.g. a state that changed meanwhile)
            self.done[f"{action.__name__} refused ({type(error).__name__})"] += 1

    def lines(self) -> int:
        return int(self.sim.call("GET", "/_sim/health")["connections"])

    def create(self, region: str, index: int) -> bool:
        if self.lines() >= self.target_lines * 1.05:
            return self.delete(region, index) or self.terminate(region, index)
        self.sim.call(
            "POST", "/_sim/connections", {"region": region, "fields": {"Status": "Initial"}}
        )
        return True

    def _patch(self, selector: dict[str, Any], fields: dict[str, Any]) -> bool:
        pc_id = self.sim.select("select", selector)
        if pc_id is None:
            return False
        self.sim.call("PATCH", f"/_sim/connections/{pc_id}", fields)
        return True

    def enable(self, region: str, index: int) -> bool:
        selector = {"Status": "Confirmed", "region": region, "index": index}
        return self._patch(selector, {"Status": "Enabled"})

    def lock(self, region: str, index: int) -> bool:
        selector = {
            "Status": "Enabled",
            "BusinessStatus": "Normal",
            "region": region,
            "index": index,
        }
        return self._patch(selector, {"BusinessStatus": "FinancialLocked"})

    def unlock(self, region: str, index: int) -> bool:
        selector = {"BusinessStatus": "FinancialLocked", "region": region, "index": index}
        return self._patch(selector, {"BusinessStatus": "Normal", "EndTime": "now+30d"})

    def terminate(self, region: str, index: int) -> bool:
        selector = {"Status": "Enabled", "region": region, "index": index}
        return self._patch(selector, {"Status": "Terminating"})

    def delete(self, region: str, index: int) -> bool:
        if self.lines() <= self.target_lines * 0.95:
            return self.create(region, index)
        pc_id = self.sim.select(
            "select", {"Status": "Terminated", "region": region, "index": index}
        )
        if pc_id is None:
            return False
        self.sim.call("DELETE", f"/_sim/connections/{pc_id}")
        return True

    def add_vbr(self, region: str, index: int) -> bool:
        pc_id = self.sim.select("select", {"Status": "Enabled", "region": region, "index": index})
        if pc_id is None:
            return False
        self.sim.call("POST", "/_sim/vbrs", {"connection": pc_id, "peers": 1})
        return True

    def remove_vbr(self, region: str, index: int) -> bool:
        vbr_id = self.sim.select("vbrs/select", {"region": region, "index": index})
        if vbr_id is None:
            return False
        self.sim.call("DELETE", f"/_sim/vbrs/{vbr_id}")
        return True

    def flap(self, region: str, index: int) -> bool:
        peer_id = self.sim.select(
            "bgp-peers/select", {"BgpStatus": "Established", "region": region, "index": index}
        )
        if peer_id is None:
            return False
        self.sim.call("POST", f"/_sim/bgp-peers/{peer_id}/flap", {"seconds": 10})
        return True

    def fail_region(self, seconds: float) -> str:
        region = self.rng.choice(self.regions)
        spec = {"kind": "ServiceUnavailable", "region": region}
        self.faults[int(self.sim.call("POST", "/_sim/faults", spec)["id"])] = time.time() + seconds
        self.done["region failure"] += 1
        return region

    def recover_due(self) -> None:
        now = time.time()
        for fault_id, until in list(self.faults.items()):
            if now >= until:
                self.sim.call("DELETE", f"/_sim/faults/{fault_id}")
                del self.faults[fault_id]
                self.done["region recovery"] += 1

    def clear_faults(self) -> None:
        self.sim.call("DELETE", "/_sim/faults")
        self.faults.clear()


# ---------------------------------------------------------------- the exporter's wall clock

LIBFAKETIME = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
)


@dataclass
class WallClock:
    """The exporter's wall clock through libfaketime: an offset in a file it re-reads on every
    call (``FAKETIME_NO_CACHE``); monotonic time is not faked, as on a real clock step."""

    path: Path
    step: float
    offset: float = 0.0

    def env(self) -> dict[str, str]:
        library = next((path for path in LIBFAKETIME if Path(path).exists()), None)
        if library is None:
            raise SystemExit(
                "--clock-step needs libfaketime (Debian package faketime); --clock-step 0 runs "
                "the soak without clock steps"
            )
        self.set(0.0)
        return {
            "LD_PRELOAD": library,
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def set(self, offset: float) -> None:
        self.path.write_text(f"{offset:+.0f}\n")
        self.offset = offset


@dataclass(frozen=True)
class Step:
    """What happened while the clock was stepped back."""

    seconds: float
    requests: float  # API requests made meanwhile
    moved: int  # keys whose last success moved meanwhile
    down: int  # keys with region_up 0 when the clock was put right
    keys: int
    ahead: float  # how far the newest last success was ahead of the real clock (<= 0: never)


def api_requests(url: str) -> tuple[float, dict[tuple[str, str], float], tuple[int, int]]:
    """Every API request so far, each key's last success, and (keys down, keys)."""
    text = http(url + "/metrics", timeout=60).decode()
    up = [s.value for s in samples(text, ("expressconnect_region_up",))]
    down = (sum(value == 0 for value in up), len(up))
    names = ("expressconnect_api_requests_total",)
    requests = sum(s.value for s in samples(text, names))
    last = "expressconnect_region_last_success_timestamp_seconds"
    success = {
        (s.labels["region_id"], s.labels["collector"]): s.value for s in samples(text, (last,))
    }
    return requests, success, down


# ---------------------------------------------------------------- exporter


@dataclass
class Exporter:
    proc: subprocess.Popen[bytes]
    url: str
    config_path: Path
    state_path: Path
    clock: WallClock
    reloads: int = 0

    def config(self, args: argparse.Namespace, sim_url: str, regions: list[str]) -> dict[str, Any]:
        every = f"{args.interval:g}s"
        return {
            "web": {"listen_address": self.url.removeprefix("http://")},
            "refresh": {"interval": every, "timeout": every, "max_staleness": "60s"},
            "api": {
                "endpoint": sim_url,
                "max_requests_per_second": args.rate,
                "retries": 2,
                "request_timeout": "2s",
            },
            "collectors": {PC: {"enabled": True}, VBR: {"enabled": True, "interval": every}},
            "accounts": [{"name": "soak", "credentials": ACCESS_KEY, "regions": regions}],
            "labels": {"tags": ["env", "team"] if self.reloads % 2 else ["env"]},
            "state_file": str(self.state_path),
            "log": {"level": "warning"},
        }

    def reload(self, args: argparse.Namespace, sim_url: str, all_regions: list[str]) -> list[str]:
        """Every other reload drops the last region (it comes back on the next); tags change."""
        self.reloads += 1
        regions = all_regions[:-1] if self.reloads % 2 else list(all_regions)
        self.config_path.write_text(yaml.safe_dump(self.config(args, sim_url, regions)))
        self.proc.send_signal(signal.SIGHUP)
        return regions


def start(args: argparse.Namespace, work: Path, procs: list[Any]) -> tuple[Sim, Exporter]:
    regions = list(REGION_IDS[: args.regions])
    sim_port, port = free_port(), free_port()
    sim_proc = spawn(
        [
            "-m",
            "exporter",
            "simulate",
            "--listen",
            f"{LOOPBACK}:{sim_port}",
            "--connections",
            str(args.lines),
            "--regions",
            ",".join(regions),
            "--seed",
            str(args.seed),
            "--time-scale",
            f"{args.time_scale:g}",
        ],
        work / "simulator.log",
    )
    procs.append(sim_proc)
    sim = Sim(f"http://{LOOPBACK}:{sim_port}")
    wait_http(sim.url + "/_sim/health", proc=sim_proc)
    exp = Exporter(
        sim_proc,
        f"http://{LOOPBACK}:{port}",
        work / "exporter.yml",
        work / "state.json",
        WallClock(work / "faketime", args.clock_step),
    )
    exp.config_path.write_text(yaml.safe_dump(exp.config(args, sim.url, regions)))
    env = exp.clock.env() if args.clock_step else None
    exp.proc = spawn(
        ["-m", "exporter", "--config.file", str(exp.config_path)], work / "exporter.log", env
    )
    procs.append(exp.proc)
    wait_http(exp.url + "/readyz", timeout=300, proc=exp.proc)
    return sim, exp


# ---------------------------------------------------------------- samples and checks


@dataclass
class Sampler:
    """Exporter RSS and state file size every ``every`` s, on its own thread."""

    pid: int
    state_path: Path
    every: float
    points: list[tuple[float, float, int]] = field(default_factory=list)  # (t, MB, bytes)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            size = self.state_path.stat().st_size if self.state_path.exists() else 0
            rss = proc_status_mb(self.pid, "VmRSS")
            self.points.append((time.monotonic() - started, rss, size))
            self._stop.wait(self.every)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


Passes = dict[tuple[str, str], tuple[float, float, float]]
Objects = dict[str, dict[str, str]]


def exported(url: str) -> tuple[Passes, Objects, Objects]:
    """Pass health per (region, collector), and lines and VBRs as the truth spells them."""
    text = http(url + "/metrics", timeout=60).decode()
    names = (
        "expressconnect_region_up",
        "expressconnect_region_last_success_timestamp_seconds",
        "expressconnect_region_refresh_duration_seconds",
    )
    health: dict[tuple[str, str], dict[str, float]] = {}
    for s in samples(text, names):
        health.setdefault((s.labels["region_id"], s.labels["collector"]), {})[s.name] = s.value
    passes: Passes = {}
    for key, values in health.items():
        up, end, duration = (values.get(n, float("nan")) for n in names)
        passes[key] = (up, end, duration)
    status: dict[str, dict[str, str]] = {}
    business: dict[str, dict[str, str]] = {}
    vbrs: dict[str, dict[str, str]] = {}
    families = {
        "expressconnect_physical_connection_status": ("physical_connection_id", status),
        "expressconnect_physical_connection_business_status": ("physical_connection_id", business),
        "expressconnect_vbr_status": ("vbr_id", vbrs),
    }
    for s in samples(text, families):
        if s.value == 1:
            id_label, into = families[s.name]
            label = "business_status" if into is business else "status"
            into.setdefault(s.labels["region_id"], {})[s.labels[id_label]] = s.labels[label]
    lines = {
        region: {i: f"{st}/{business.get(region, {}).get(i, '?')}" for i, st in ids.items()}
        for region, ids in status.items()
    }
    return passes, lines, vbrs


@dataclass(frozen=True)
class Check:
    at: float  # seconds since the soak started
    line_mismatches: int
    vbr_mismatches: int
    waited: float
    unchecked: tuple[str, ...]  # regions with no pass after the freeze in time
    examples: tuple[str, ...]


def check_truth(
    sim: Sim, exp: Exporter, regions: list[str], args: argparse.Namespace, t0: float
) -> Check:
    """Freeze the simulated clock, read the truth, wait for a pass of every key, compare."""
    sim.call("POST", "/_sim/clock", {"time_scale": FROZEN})
    try:
        # Lifecycle changes already due are applied by the simulator's next tick (every 0.5 s,
        # minutes of simulated time here): apply them now, or they would land after the truth.
        sim.call("POST", "/_sim/tick")
        freeze = time.time()
        lines, vbrs = sim.truth(regions)
        deadline = time.monotonic() + 3 * args.interval + 30
        while True:
            passes, seen_lines, seen_vbrs = exported(exp.url)
            late = sorted(
                {r for r in regions for c in (PC, VBR) if not _fresh(passes.get((r, c)), freeze)}
            )
            if not late or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        waited = time.time() - freeze
    finally:
        sim.call("POST", "/_sim/clock", {"time_scale": args.time_scale})
    checked = [r for r in regions if r not in late]
    keep = set(checked) | (set(seen_lines) - set(regions)) | (set(seen_vbrs) - set(regions))
    line_diff = mismatches(_only(seen_lines, keep), _only(lines, keep))
    vbr_diff = mismatches(_only(seen_vbrs, keep), _only(vbrs, keep))
    return Check(
        time.monotonic() - t0,
        len(line_diff),
        len(vbr_diff),
        waited,
        tuple(late),
        tuple((line_diff + vbr_diff)[:5]),
    )


def _fresh(health: tuple[float, float, float] | None, freeze: float) -> bool:
    """The key's last pass succeeded and started after ``freeze``."""
    return health is not None and health[0] == 1 and health[1] - health[2] > freeze


def _only(data: dict[str, dict[str, str]], keep: set[str]) -> dict[str, dict[str, str]]:
    return {region: ids for region, ids in data.items() if region in keep}


# ---------------------------------------------------------------- the run


@dataclass
class Outcome:
    checks: list[Check] = field(default_factory=list)
    done: Counter[str] = field(default_factory=Counter)
    failed_passes: float = 0.0
    minutes: float = 0.0
    steps: list[Step] = field(default_factory=list)


@dataclass
class Stepper:
    """Steps the exporter's clock back a while after each check and puts it right before the
    next, recording what the exporter did meanwhile."""

    exp: Exporter
    every: float  # --check-every
    outcome: Outcome
    back_at: float | None = None
    right_at: float | None = None
    started: tuple[float, float, dict[tuple[str, str], float]] | None = None

    def schedule(self, now: float) -> None:
        if self.exp.clock.step:
            self.back_at, self.right_at = now + 0.2 * self.every, None

    def tick(self, now: float) -> None:
        if self.back_at is not None and now >= self.back_at:
            requests, success, _ = api_requests(self.exp.url)
            self.exp.clock.set(-self.exp.clock.step)
            self.started = (now, requests, success)
            self.back_at, self.right_at = None, now + 0.5 * self.every
        elif self.right_at is not None and self.started is not None and now >= self.right_at:
            requests, success, (down, keys) = api_requests(self.exp.url)
            ahead = max(success.values(), default=0.0) - time.time()
            self.exp.clock.set(0.0)
            since, before, last = self.started
            kept = [key for key in last if key in success]
            moved = sum(success[key] != last[key] for key in kept)
            step = Step(now - since, requests - before, moved, down, keys, ahead)
            self.outcome.steps.append(step)
            print(
                f"clock stepped back {self.exp.clock.step:g} s for {step.seconds:.0f} s: "
                f"{step.requests:.0f} API requests, last success moved for {moved}/{len(kept)} "
                f"keys, {down}/{keys} keys down, newest last success {ahead:+.0f} s "
                "from the real time; clock put right",
                flush=True,
            )
            self.right_at = None


def churn_loop(
    args: argparse.Namespace, sim: Sim, exp: Exporter, churn: Churn, outcome: Outcome
) -> None:
    """Churn, faults and reloads until the deadline, with a truth check every so often."""
    all_regions = list(churn.regions)
    regions = list(all_regions)
    t0 = time.monotonic()
    deadline = t0 + args.minutes * 60
    next_check = t0 + args.check_every
    next_fault, next_reload = t0 + 20, t0 + 30
    stepper = Stepper(exp, args.check_every, outcome)
    stepper.schedule(t0)
    while time.monotonic() < deadline:
        if exp.proc.poll() is not None:
            raise SystemExit(f"exporter exited with {exp.proc.returncode}")
        now = time.monotonic()
        if now >= next_check:
            churn.clear_faults()
            time.sleep(1.0)  # a reload signalled just before has been applied
            check = check_truth(sim, exp, regions, args, t0)
            outcome.checks.append(check)
            print(
                f"[{check.at / 60:5.1f} min] check: {check.line_mismatches} line and "
                f"{check.vbr_mismatches} VBR mismatches, waited {check.waited:.1f} s, "
                f"unchecked {list(check.unchecked)} {list(check.examples)}",
                flush=True,
            )
            next_check = time.monotonic() + args.check_every
            stepper.schedule(time.monotonic())
            continue
        stepper.tick(now)
        if now >= next_reload:
            regions = exp.reload(args, sim.url, all_regions)
            churn.done["reload (SIGHUP)"] += 1
            next_reload = now + churn.rng.uniform(30, 50)
        if now >= next_fault:
            churn.fail_region(churn.rng.uniform(2, 4) * args.interval)
            next_fault = now + churn.rng.uniform(20, 40)
        churn.recover_due()
        churn.step()
        time.sleep(0.5)
    outcome.minutes = (time.monotonic() - t0) / 60


def soak(args: argparse.Namespace, work: Path, procs: list[Any]) -> tuple[Outcome, Sampler]:
    sim, exp = start(args, work, procs)
    churn = Churn(sim, list(REGION_IDS[: args.regions]), random.Random(args.seed), args.lines)
    sampler = Sampler(exp.proc.pid, exp.state_path, args.sample_every)
    thread = sampler.start()
    outcome = Outcome(done=churn.done)
    try:
        churn_loop(args, sim, exp, churn, outcome)
    except KeyboardInterrupt:
        print("interrupted: reporting what was measured", flush=True)
    finally:
        sampler.stop()
        thread.join()
    text = http(exp.url + "/metrics", timeout=60).decode()
    outcome.failed_passes = sum(
        s.value for s in samples(text, ("expressconnect_region_refresh_errors_total",))
    )
    return outcome, sampler


def report(args: argparse.Namespace, outcome: Outcome, sampler: Sampler) -> None:
    checks = outcome.checks
    print(
        f"soak: {outcome.minutes:.1f} min, {args.lines} lines over {args.regions} regions, "
        f"time scale {args.time_scale:g}, both collectors every {args.interval:g} s"
    )
    print("churn: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome.done.items())))
    print(f"failed passes (faults, as intended): {outcome.failed_passes:.0f}")
    bad = [c for c in checks if c.line_mismatches or c.vbr_mismatches]
    unchecked = sum(len(c.unchecked) for c in checks)
    print(
        f"truth checks: {len(checks)}, with mismatches: {len(bad)} (target 0); line "
        f"mismatches {sum(c.line_mismatches for c in checks)}, VBR mismatches "
        f"{sum(c.vbr_mismatches for c in checks)}; regions left unchecked {unchecked}; "
        f"wait for a fresh pass max {max((c.waited for c in checks), default=0):.1f} s"
    )
    steps = outcome.steps
    if steps:
        print(
            f"clock steps back of {args.clock_step:g} s: {len(steps)}; API requests while "
            f"stepped back min {min(s.requests for s in steps):.0f} (0: collection stopped), "
            f"keys whose last success moved min {min(s.moved for s in steps)}, keys down at the "
            f"end max {max(s.down for s in steps)} of {max(s.keys for s in steps)}; newest last "
            f"success ahead of the real time at most {max(s.ahead for s in steps):+.0f} s (> 0 "
            "would hold back the staleness alert)"
        )
    points = sampler.points
    if len(points) < 2:
        print("too few samples for slopes")
        return
    hours = [(t / 3600, rss) for t, rss, _ in points]
    half = hours[len(hours) // 2 :]
    rss = [r for _, r in hours]
    print(
        f"exporter RSS: first {rss[0]:.1f} MB, min {min(rss):.1f}, max {max(rss):.1f}, last "
        f"{rss[-1]:.1f}; slope {least_squares_slope(hours):+.2f} MB/hour over all "
        f"{len(hours)} samples, {least_squares_slope(half):+.2f} MB/hour over the second half"
    )
    sizes = [(t / 3600, size / 1024) for t, _, size in points]
    print(f"state file: slope {least_squares_slope(sizes):+.1f} KiB/hour; size over time (KiB):")
    step = max(1, len(points) // 12)
    print(
        "  "
        + ", ".join(
            f"{t / 60:.1f}m {size / 1024:.0f}" for t, _, size in [*points[::step], points[-1]]
        )
    )


def main() -> int:
    args = parse_args()
    # Stopped by a signal (even from a shell that ignores SIGINT): report, stop the children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        outcome, sampler = soak(args, work, procs)
    finally:
        for proc in procs:
            stop(proc)
    report(args, outcome, sampler)
    print(f"logs, configuration and state file in {work}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    raise SystemExit(main())
