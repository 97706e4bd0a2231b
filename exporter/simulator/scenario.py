"""YAML scenarios: a timeline of changes, faults and clock jumps applied while serving.

``at`` is real (wall-clock) time since the simulator started serving. Steps that target a
connection name it by ``id`` or by ``select`` (field equality plus ``index`` in generation
order, optionally ``account``/``region``); selectors are resolved once, when the scenario is
loaded, against the initial fleet, so two steps with the same selector hit the same connection.
The format is documented in README.md beside this module.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exporter.simulator.faults import FaultSpec, RateLimitSpec
from exporter.simulator.resilience.specs import (
    AddVbrHaSpec,
    HealthCheckSpec,
    SetVbrHaSpec,
    StartTestSpec,
    StopTestSpec,
)
from exporter.simulator.resilience.steps import check_resilience_step

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(.+))?$")


class ScenarioError(ValueError):
    pass


def parse_duration(value: str | float | int) -> float:
    """``30s``, ``5m``, ``1h``, ``7d``, ``2w``, ``250ms`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h, 7d)")
    return float(match[1]) * _UNITS[match[2] or "s"]


def relative_time(value: Any, now: float) -> float | None:
    """``now``, ``now+3d``, ``now-1h`` as simulated epoch seconds; None for anything else."""
    if not isinstance(value, str):
        return None
    match = _RELATIVE.match(value.strip())
    if not match:
        return None
    if match[1] is None:
        return now
    offset = parse_duration(match[2])
    return now + offset if match[1] == "+" else now - offset


class _WithFields(BaseModel):
    """A step part whose keys other than its own are field values for the record it makes or
    changes."""

    model_config = ConfigDict(extra="allow")

    def fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Target(_WithFields):
    """``id`` or ``select`` (exactly one) naming the connection a step acts on."""

    id: str | None = None
    select: dict[str, Any] | None = None


class AddSpec(_WithFields):
    region: str
    account: str | None = None
    id: str | None = None


class AddVbrSpec(_WithFields):
    """A generated VBR on the line named by ``connection`` or ``select`` (a line selector),
    with ``peers`` BGP peers (IPv4, then IPv6) and field overrides."""

    connection: str | None = None
    select: dict[str, Any] | None = None
    id: str | None = None
    health_check: bool = True
    peers: int = Field(default=1, ge=0, le=2)


class AddPeerSpec(_WithFields):
    """A generated BGP peer on the VBR named by ``vbr`` or ``select`` (a VBR selector)."""

    vbr: str | None = None
    select: dict[str, Any] | None = None
    id: str | None = None
    ip_version: Literal["ipv4", "ipv6"] = "ipv4"


class FlapSpec(BaseModel):
    """Session ``status`` (default Down) for ``seconds`` of real time, then back by itself."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    select: dict[str, Any] | None = None
    seconds: float = Field(gt=0)
    status: str = "Down"

    @field_validator("seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: float = 0.0
    set: Target | None = None
    add: AddSpec | None = None
    remove: Target | None = None
    fault: FaultSpec | None = None
    clear_faults: bool | None = None
    rate_limit: RateLimitSpec | None = None
    clear_rate_limits: bool | None = None
    advance: float | None = None
    time_scale: float | None = Field(default=None, gt=0)
    set_vbr: Target | None = None
    add_vbr: AddVbrSpec | None = None
    remove_vbr: Target | None = None
    set_bgp_peer: Target | None = None
    add_bgp_peer: AddPeerSpec | None = None
    remove_bgp_peer: Target | None = None
    flap: FlapSpec | None = None
    set_vbr_metrics: Target | None = None
    clear_vbr_metrics: Target | None = None
    start_failover_test: StartTestSpec | None = None
    stop_failover_test: StopTestSpec | None = None
    set_health_check: HealthCheckSpec | None = None
    remove_health_check: HealthCheckSpec | None = None
    add_vbr_ha: AddVbrHaSpec | None = None
    set_vbr_ha: SetVbrHaSpec | None = None

    @field_validator("at", "advance", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    def kind(self) -> str:
        present = [name for name in STEP_KINDS if getattr(self, name) is not None]
        if len(present) != 1:
            raise ValueError(
                f"each step needs exactly one of {', '.join(STEP_KINDS)} (got {present or 'none'})"
            )
        return present[0]

    def target(self) -> Target | AddVbrSpec | AddPeerSpec | FlapSpec | None:
        """What the step names by ``id``/``select`` (or ``connection``/``vbr``), if anything."""
        found = getattr(self, self.kind())
        if isinstance(found, Target | AddVbrSpec | AddPeerSpec | FlapSpec):
            return found
        return None


STEP_KINDS: tuple[str, ...] = tuple(name for name in Step.model_fields if name != "at")


class ScenarioFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    steps: list[Step] = []


def load_scenario(source: str | Path | dict[str, Any]) -> ScenarioFile:
    """Read and validate a scenario (a path or an already-parsed mapping)."""
    where = "scenario" if isinstance(source, dict) else str(source)
    if isinstance(source, dict):
        raw: Any = source
    else:
        try:
            raw = yaml.safe_load(Path(source).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ScenarioError(f"{where}: cannot read scenario: {exc}") from None
    try:
        scenario = ScenarioFile.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ScenarioError(f"{where}: {loc}: {err['msg']}") from None
    for n, step in enumerate(scenario.steps):
        try:
            step.kind()
        except ValueError as exc:
            raise ScenarioError(f"{where}: steps.{n}: {exc}") from None
        _check_target(step, f"{where}: steps.{n}")
        try:
            check_resilience_step(step, f"{where}: steps.{n}")
        except ValueError as exc:
            raise ScenarioError(str(exc)) from None
    scenario.steps.sort(key=lambda s: s.at)
    return scenario


def _check_target(step: Step, where: str) -> None:
    """Exactly one way of naming what the step acts on."""
    target = step.target()
    if isinstance(target, AddVbrSpec):
        if (target.connection is None) == (target.select is None):
            raise ScenarioError(f"{where}: give exactly one of connection or select")
    elif isinstance(target, AddPeerSpec):
        if (target.vbr is None) == (target.select is None):
            raise ScenarioError(f"{where}: give exactly one of vbr or select")
    elif target is not None and (target.id is None) == (target.select is None):
        raise ScenarioError(f"{where}: give exactly one of id or select")
