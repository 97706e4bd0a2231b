"""Scenario step parts for the resilience state (fields of ``scenario.Step``).

They depend on pydantic only, so the scenario module can import them without a cycle. Their
targets are resolved when the step runs (a job started by an earlier step can be stopped by a
later one), not when the scenario loads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StartTestSpec(BaseModel):
    """Start the Init job ``id``, or a new StartNow job on ``connections`` (line IDs) or on the
    line a ``select`` (line selector) picks, ``duration`` minutes long."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    connections: list[str] | None = None
    select: dict[str, Any] | None = None
    duration: int = Field(default=60, ge=1, le=4320)
    name: str = ""


class StopTestSpec(BaseModel):
    """Stop the job ``id``, or the job running on ``connection`` or on the selected line."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    connection: str | None = None
    select: dict[str, Any] | None = None


class HealthCheckSpec(BaseModel):
    """The VBR ``vbr`` or the one a VBR ``select`` picks; other keys are health check fields
    (``HealthCheckOnly``, ``HealthCheckInterval``, ``HealthyThreshold``…)."""

    model_config = ConfigDict(extra="allow")
    vbr: str | None = None
    select: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AddVbrHaSpec(BaseModel):
    """A group of ``vbr`` and ``peer_vbr``, or of the first VBRs on ``connection`` and
    ``peer_connection``."""

    model_config = ConfigDict(extra="forbid")
    vbr: str | None = None
    peer_vbr: str | None = None
    connection: str | None = None
    peer_connection: str | None = None
    status: Literal["Creating", "Active"] = "Creating"
    name: str = ""
    id: str | None = None


class SetVbrHaSpec(BaseModel):
    """Change the group ``id`` (``Status``, ``Name``, ``Description``)."""

    model_config = ConfigDict(extra="allow")
    id: str

    def fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


RESILIENCE_STEPS = (
    "start_failover_test",
    "stop_failover_test",
    "set_health_check",
    "remove_health_check",
    "add_vbr_ha",
    "set_vbr_ha",
)
