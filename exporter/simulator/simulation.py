"""The :class:`Simulation`: state, accounts, faults and clock, with thread-safe control methods.

The control plane (``control.py`` and the ``routes`` of ``vbr/`` and ``cms/``) and the HTTP
server (``server.py``, whose ``Simulator`` adds ``serve()``) are thin layers over the methods
here, so a test can drive the simulator from Python or over HTTP alike. Nothing here imports
them: the server sits on top.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from exporter.region_ids import REGION_IDS
from exporter.simulator.accounts import Account, default_account
from exporter.simulator.auth import Authenticator
from exporter.simulator.clock import SimClock
from exporter.simulator.cms.methods import CmsMethods
from exporter.simulator.faults import Faults, FaultSpec, RateLimitSpec, RequestPolicer
from exporter.simulator.lines.fleet import DEFAULT_REGIONS, generate_fleet, iso
from exporter.simulator.lines.model import Connection
from exporter.simulator.lines.store import Store
from exporter.simulator.requestlog import RequestLog, RequestRecord
from exporter.simulator.resilience.state import Resilience
from exporter.simulator.resilience.steps import run_resilience_step
from exporter.simulator.scenario import (
    ScenarioError,
    ScenarioFile,
    Step,
    Target,
    load_scenario,
    parse_duration,
    relative_time,
)
from exporter.simulator.vbr.methods import VbrMethods
from exporter.simulator.vpc import Api

log = logging.getLogger("exporter.simulator")
TICK_SECONDS = 0.5


class Simulation(VbrMethods, CmsMethods):
    """A simulated VPC API for one or more accounts: physical connections, and the VBRs and
    BGP peers on them (methods in :class:`~exporter.simulator.vbr.methods.VbrMethods`), and their
    CloudMonitor metrics (:class:`~exporter.simulator.cms.methods.CmsMethods`).

    ``connections``/``regions`` size each account's fleet unless the account sets its own.
    ``scenario`` is a YAML path (or parsed mapping) run from the moment serving starts
    (``Simulator.serve`` in ``server.py``).
    """

    def __init__(
        self,
        seed: int = 0,
        connections: int = 40,
        regions: Sequence[str] | None = None,
        accounts: Iterable[Account] | None = None,
        time_scale: float = 1.0,
        scenario: str | Path | dict[str, Any] | None = None,
        *,
        lifecycle: bool = True,
        request_log_size: int = 10_000,
    ) -> None:
        self.seed = seed
        self.regions = tuple(regions or DEFAULT_REGIONS)
        for region in self.regions:
            if region not in REGION_IDS:
                raise ValueError(f"unknown region {region!r}")
        self.accounts: tuple[Account, ...] = tuple(accounts or (default_account(),))
        for account in self.accounts:
            for region in account.regions or ():
                if region not in REGION_IDS:
                    raise ValueError(f"account {account.name}: unknown region {region!r}")
        names = [a.name for a in self.accounts]
        if len(set(names)) != len(names):
            raise ValueError("account names must be unique")
        self.clock = SimClock(time_scale)
        self.lifecycle = lifecycle
        self.store = Store(seed)
        now = self.clock.now()
        fleets = []
        for account in self.accounts:
            count = connections if account.connections is None else account.connections
            fleet = generate_fleet(
                seed=seed,
                account=account.name,
                uid=account.uid,
                count=count,
                regions=account.regions or self.regions,
                now=now,
            )
            for conn in fleet:
                self.store.add(conn)
            fleets.append((account, fleet))
        self._init_vbrs(fleets, now)
        self.resilience = Resilience(seed, self.store, self.vbr_store, self.clock, self.accounts)
        self.auth = Authenticator(self.accounts)
        self.api = Api(self.store, self.clock, self.vbr_store)
        self.faults = Faults(seed)
        self.rate_limits = RequestPolicer()
        self.log = RequestLog(request_log_size)
        self._init_cms()
        self._add_rng = random.Random(f"{seed}:added")
        self.scenario: ScenarioFile | None = None
        self.scenario_targets: list[str | None] = []
        self.scenario_done = 0
        if scenario is not None:
            self.scenario = load_scenario(scenario)
            self.scenario_targets = [
                self._resolve(step, n) for n, step in enumerate(self.scenario.steps)
            ]

    # -- connections ------------------------------------------------------------------------
    def connections(
        self, account: str | None = None, region: str | None = None
    ) -> list[dict[str, Any]]:
        """Copies of the vendor records, in generation order."""
        with self.store.lock:
            return [
                c.snapshot()
                for c in self.store
                if (account is None or c.account == account)
                and (region is None or c.region == region)
            ]

    def connection(self, pc_id: str) -> dict[str, Any]:
        with self.store.lock:
            return self._get(pc_id).snapshot()

    def owner(self, pc_id: str) -> tuple[str, str]:
        """(account name, region) of a connection."""
        conn = self._get(pc_id)
        return conn.account, conn.region

    def select(self, criteria: dict[str, Any]) -> str:
        """ID of the ``index``-th (default 0) connection whose fields equal the rest of
        ``criteria`` (``account``/``region`` match owner and region), in generation order."""
        want = dict(criteria)
        index = int(want.pop("index", 0))
        matches = self.store.select(want)
        if not -len(matches) <= index < len(matches):
            raise KeyError(f"no connection #{index} matches {want} ({len(matches)} match)")
        return matches[index].id

    def set_fields(self, pc_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set any vendor fields (``None`` removes one; ``now+3d`` style values become
        timestamps on the simulated clock). Returns the updated record."""
        now = self.clock.now()
        resolved = {k: self._value(v, now) for k, v in fields.items()}
        with self.store.lock:
            conn = self.store.update(pc_id, resolved, now)
            return conn.snapshot()

    def add_connection(
        self,
        region: str,
        account: str | None = None,
        fields: dict[str, Any] | None = None,
        pc_id: str | None = None,
    ) -> str:
        """Add a generated (Enabled, long-dated) connection, overriding ``fields``."""
        if region not in REGION_IDS:
            raise ValueError(f"unknown region {region!r}")
        owner = self._account(account)
        now = self.clock.now()
        with self.store.lock:
            conn = generate_fleet(
                seed=self._add_rng.randrange(2**32),
                account=owner.name,
                uid=owner.uid,
                count=3,
                regions=[region],
                now=now,
            )[2]
            if pc_id:
                conn.fields["PhysicalConnectionId"] = pc_id
            conn.fields.pop("RedundantPhysicalConnectionId", None)
            conn.update({k: self._value(v, now) for k, v in (fields or {}).items()}, now)
            conn.status_since = now
            self.store.add(conn)
            return conn.id

    def remove_connection(self, pc_id: str) -> None:
        """The line and the VBRs and BGP peers on it."""
        with self.store.lock:
            if self.store.remove(pc_id) is None:
                raise KeyError(f"no connection {pc_id}")
            self.vbr_store.remove_line(pc_id)

    # -- clock ------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def advance_clock(self, seconds: float | str) -> float:
        """Jump the simulated clock and apply every lifecycle change now due."""
        new = self.clock.advance(parse_duration(seconds))
        self.tick()
        return new

    def set_time_scale(self, time_scale: float) -> None:
        self.clock.set_time_scale(time_scale)

    def tick(self) -> list[tuple[str, dict[str, Any]]]:
        """Apply due lifecycle changes (the server also does this every half second)."""
        if not self.lifecycle:
            return []
        changes = self.store.tick(self.clock.now())
        for pc_id, change in changes:
            log.info("lifecycle: %s %s", pc_id, change)
        return changes

    # -- faults, limits, log ----------------------------------------------------------------
    def add_fault(self, spec: FaultSpec | dict[str, Any]) -> int:
        return self.faults.add(spec if isinstance(spec, FaultSpec) else FaultSpec(**spec))

    def remove_fault(self, fault_id: int) -> bool:
        return self.faults.remove(fault_id)

    def clear_faults(self) -> None:
        self.faults.clear()

    def list_faults(self) -> list[dict[str, Any]]:
        return self.faults.describe()

    def add_rate_limit(self, spec: RateLimitSpec | dict[str, Any]) -> None:
        self.rate_limits.add(spec if isinstance(spec, RateLimitSpec) else RateLimitSpec(**spec))

    def clear_rate_limits(self) -> None:
        self.rate_limits.set([])

    def requests(self, limit: int | None = None, action: str | None = None) -> list[RequestRecord]:
        return self.log.records(limit, action)

    def counters(self) -> dict[str, Any]:
        return {
            "requests_total": self.log.total(),
            "requests": self.log.counters(),
            "faults_fired": dict(self.faults.fired_by_kind),
        }

    def clear_requests(self) -> None:
        self.log.clear()

    # -- scenario ---------------------------------------------------------------------------
    def run_step(self, step: Step, target: str | None = None) -> None:
        if self.run_cms_step(step, target):
            return
        if self.run_vbr_step(step, target):
            return
        if run_resilience_step(self, step):
            return
        kind = step.kind()
        if kind == "set" and step.set is not None:
            self.set_fields(target or self._target_id(step.set), step.set.fields())
        elif kind == "remove" and step.remove is not None:
            self.remove_connection(target or self._target_id(step.remove))
        elif kind == "add" and step.add is not None:
            self.add_connection(step.add.region, step.add.account, step.add.fields(), step.add.id)
        elif kind == "fault" and step.fault is not None:
            self.add_fault(step.fault)
        elif kind == "clear_faults":
            self.clear_faults()
        elif kind == "rate_limit" and step.rate_limit is not None:
            self.add_rate_limit(step.rate_limit)
        elif kind == "clear_rate_limits":
            self.clear_rate_limits()
        elif kind == "advance" and step.advance is not None:
            self.advance_clock(step.advance)
        elif kind == "time_scale" and step.time_scale is not None:
            self.set_time_scale(step.time_scale)

    def scenario_status(self) -> dict[str, Any]:
        steps = self.scenario.steps if self.scenario else []
        return {
            "steps": [
                {**s.model_dump(exclude_none=True), "target": t, "done": i < self.scenario_done}
                for i, (s, t) in enumerate(zip(steps, self.scenario_targets, strict=True))
            ],
            "done": self.scenario_done,
        }

    async def _run_scenario(self) -> None:
        if self.scenario is None:
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, step in enumerate(self.scenario.steps):
            delay = start + step.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                self.run_step(step, self.scenario_targets[n])
                log.info("scenario step %d at %.1fs: %s", n, step.at, step.kind())
            except (KeyError, ValueError) as exc:
                log.warning("scenario step %d failed: %s", n, exc)
            except Exception:  # a bad step must not stop the timeline or the server
                log.exception("scenario step %d failed", n)
            self.scenario_done = n + 1

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.tick()
            except Exception:  # a lifecycle bug must not stop the server
                log.exception("lifecycle tick failed")

    # -- helpers ----------------------------------------------------------------------------
    def _get(self, pc_id: str) -> Connection:
        conn = self.store.get(pc_id)
        if conn is None:
            raise KeyError(f"no connection {pc_id}")
        return conn

    def _account(self, name: str | None) -> Account:
        if name is None:
            return self.accounts[0]
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(f"no account {name!r}")

    def _target_id(self, target: Target) -> str:
        if target.id is not None:
            return target.id
        return self.select(target.select or {})

    def _resolve(self, step: Step, n: int) -> str | None:
        if step.add is not None:
            try:
                self._account(step.add.account)
            except KeyError as exc:
                raise ScenarioError(f"scenario steps.{n}.add: {exc.args[0]}") from None
            if step.add.region not in REGION_IDS:
                raise ScenarioError(f"scenario steps.{n}.add: unknown region {step.add.region!r}")
        cms_target = self.resolve_cms_step(step, n)
        if cms_target is not None:
            return cms_target
        vbr_target = self.resolve_vbr_step(step, n)
        if vbr_target is not None:
            return vbr_target
        target = step.set or step.remove
        if target is None:
            return None
        if target.id is not None:
            return target.id  # may name a connection an earlier step adds
        try:
            return self.select(target.select or {})
        except KeyError as exc:
            raise ScenarioError(f"scenario steps.{n}: {exc.args[0]}") from None

    @staticmethod
    def _value(value: Any, now: float) -> Any:
        when = relative_time(value, now)
        return iso(when) if when is not None else value
