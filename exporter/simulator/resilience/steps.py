"""Running the resilience scenario steps (``start_failover_test``, ``stop_failover_test``,
``set_health_check``, ``remove_health_check``, ``add_vbr_ha``, ``set_vbr_ha``) against a
Simulator. Selectors are resolved when the step runs."""

from __future__ import annotations

from typing import Any, Protocol

from exporter.simulator.resilience.specs import (
    RESILIENCE_STEPS,
    AddVbrHaSpec,
    HealthCheckSpec,
    SetVbrHaSpec,
    StartTestSpec,
    StopTestSpec,
)


class Simulator(Protocol):
    """What the steps use of the simulation. A protocol, not an import: the simulation runs
    these steps and the scenario loader checks them, so importing either back would be a cycle."""

    resilience: Any

    def select(self, criteria: dict[str, Any], /) -> str: ...

    def select_vbr(self, criteria: dict[str, Any], /) -> str: ...

    def vbrs(
        self, account: str | None = None, region: str | None = None, connection: str | None = None
    ) -> list[dict[str, Any]]: ...


def run_resilience_step(sim: Simulator, step: Any) -> bool:
    """Run the step if it is a resilience step; False for every other kind."""
    kind = step.kind()
    if kind not in RESILIENCE_STEPS:
        return False
    spec = getattr(step, kind)
    state = sim.resilience
    if isinstance(spec, StartTestSpec):
        if spec.id is not None:
            state.start_failover_test(spec.id)
        else:
            lines = spec.connections or [sim.select(spec.select or {})]
            state.add_failover_test(lines, "StartNow", spec.duration, spec.name)
    elif isinstance(spec, StopTestSpec):
        job = spec.id or state.running_job(spec.connection or sim.select(spec.select or {}))
        state.stop_failover_test(job)
    elif isinstance(spec, HealthCheckSpec):
        vbr = spec.vbr or sim.select_vbr(spec.select or {})
        if kind == "set_health_check":
            state.set_health_check(vbr, spec.fields())
        else:
            state.remove_health_check(vbr)
    elif isinstance(spec, AddVbrHaSpec):
        state.add_vbr_ha(
            spec.vbr or _first_vbr(sim, spec.connection),
            spec.peer_vbr or _first_vbr(sim, spec.peer_connection),
            spec.status,
            spec.name,
            ha_id=spec.id,
        )
    elif isinstance(spec, SetVbrHaSpec):
        state.update_vbr_ha(spec.id, spec.fields())
    return True


def check_resilience_step(step: Any, where: str) -> None:
    """Load-time checks: exactly one way of naming the target."""
    kind = step.kind()
    spec = getattr(step, kind, None)
    ways: list[Any] = []
    if isinstance(spec, StartTestSpec):
        ways = [spec.id, spec.connections, spec.select]
    elif isinstance(spec, StopTestSpec):
        ways = [spec.id, spec.connection, spec.select]
    elif isinstance(spec, HealthCheckSpec):
        ways = [spec.vbr, spec.select]
    elif isinstance(spec, AddVbrHaSpec):
        for one, other in ((spec.vbr, spec.connection), (spec.peer_vbr, spec.peer_connection)):
            if (one is None) == (other is None):
                raise ValueError(f"{where}: give exactly one of vbr/connection for each member")
        return
    else:
        return
    if sum(w is not None for w in ways) != 1:
        raise ValueError(f"{where}: name exactly one target")


def _first_vbr(sim: Simulator, pc_id: str | None) -> str:
    vbrs = sim.vbrs(connection=pc_id)
    if not vbrs:
        raise KeyError(f"no VBR on {pc_id}")
    return str(vbrs[0]["VbrId"])
