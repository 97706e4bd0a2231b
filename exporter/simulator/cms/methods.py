"""The Simulator's thread-safe CloudMonitor methods (a mixin of ``Simulation``): metric
overrides per VBR, CMS settings, the values the API would answer, and CMS calls per account.

The control plane and scenario steps call these same methods.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from exporter.simulator.cms.actions import CMS_ACTIONS, CmsApi
from exporter.simulator.cms.metrics import (
    METRICS,
    NO_DATA_METRICS,
    Override,
    merged_override,
)
from exporter.simulator.cms.state import CmsSettings, CmsState, newest_point_ms
from exporter.simulator.scenario import ScenarioError, Step, Target

if TYPE_CHECKING:
    from exporter.simulator.accounts import Account
    from exporter.simulator.requestlog import RequestLog
    from exporter.simulator.vbr.store import VbrStore

CMS_STEPS = ("set_vbr_metrics", "clear_vbr_metrics")
_HEALTH_OVERRIDES = ("loss", "latency_us")


class CmsMethods:
    """CloudMonitor methods; ``Simulation`` provides the attributes declared here."""

    seed: int
    vbr_store: VbrStore
    log: RequestLog
    accounts: tuple[Account, ...]

    def select_vbr(self, criteria: dict[str, Any]) -> str:
        raise NotImplementedError

    def _init_cms(self) -> None:
        self.cms_state = CmsState()
        self.cms_api = CmsApi(self.seed, self.vbr_store, self.cms_state)

    # -- overrides --------------------------------------------------------------------------
    def set_vbr_metrics(self, vbr_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Force metric values on a VBR from the newest published datapoint on:
        ``utilisation`` (%, both directions) or ``utilisation_in``/``utilisation_out``,
        ``drops``/``drops_in``/``drops_out`` (packets/s), ``loss`` (%), ``latency_us``,
        ``no_data`` (true: no points at all); ``None`` drops one override. Returns the
        overrides in force."""
        vbr = self.vbr_store.vbr(vbr_id)  # KeyError for an unknown VBR
        if not vbr.health_check and any(changes.get(k) is not None for k in _HEALTH_OVERRIDES):
            raise ValueError(
                f"{vbr_id} has no health check configured (set health_check first): "
                "loss and latency_us would have no datapoints"
            )
        return self.cms_state.set(vbr_id, changes).describe()

    def clear_vbr_metrics(self, vbr_id: str) -> None:
        """Back to the synthetic values from the newest published datapoint on."""
        self.vbr_store.vbr(vbr_id)
        self.cms_state.clear(vbr_id)

    def vbr_metrics_override(self, vbr_id: str) -> dict[str, Any]:
        """The overrides in force now (``{}``: none)."""
        self.vbr_store.vbr(vbr_id)
        return self.cms_state.current(vbr_id).describe()

    def vbr_metric_value(
        self, vbr_id: str, metric: str, timestamp_ms: int | None = None, period: int = 60
    ) -> float | None:
        """What the API answers for one VBR's datapoint (default: the newest published one);
        None where it would return no point."""
        if metric not in METRICS and metric not in NO_DATA_METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        if period <= 0 or period % 60:
            raise ValueError(f"period: a positive multiple of 60, got {period!r}")
        vbr = self.vbr_store.vbr(vbr_id)
        ts = newest_point_ms(time.time(), period) if timestamp_ms is None else timestamp_ms
        if ts % (period * 1000):
            raise ValueError(f"timestamp_ms: must be a multiple of the period, got {ts}")
        uid = next((a.uid for a in self.accounts if a.name == vbr.account), 0)
        (inst,) = self.cms_api.instances(vbr.account, uid, [vbr_id])
        return self.cms_api.value(inst, metric, ts, period)

    def vbr_metric_values(self, vbr_id: str, period: int = 60) -> dict[str, float | None]:
        """Every metric's newest published value for one VBR."""
        return {m: self.vbr_metric_value(vbr_id, m, None, period) for m in METRICS}

    # -- settings and calls -----------------------------------------------------------------
    def cms_settings(self, changes: dict[str, Any] | None = None) -> CmsSettings:
        """Read or change ``errors_as_200``, ``extra_statistics``, ``qps`` (None: no limit)."""
        if changes:
            return self.cms_state.configure(changes)
        return self.cms_state.settings

    def cms_calls(self, account: str | None = None) -> dict[str, dict[str, int]]:
        """CMS requests per account name and action (every answer counts, errors too; since
        the last ``clear_requests``): ``{"default": {"DescribeMetricLast": 9}}``."""
        out: dict[str, dict[str, int]] = {}
        for row in self.log.counters():
            name, action = row["account"], row["action"]
            if action not in CMS_ACTIONS or not name or (account and name != account):
                continue
            per = out.setdefault(name, {})
            per[action] = per.get(action, 0) + int(row["count"])
        return out

    # -- scenario steps ---------------------------------------------------------------------
    def run_cms_step(self, step: Step, target: str | None) -> bool:
        """Run a metric step; False if the step is of another kind."""
        kind = step.kind()
        spec = step.target()
        if kind not in CMS_STEPS or not isinstance(spec, Target):
            return False
        vbr_id = target or self._cms_target(spec)
        if kind == "set_vbr_metrics":
            self.set_vbr_metrics(vbr_id, spec.fields())
        else:
            self.clear_vbr_metrics(vbr_id)
        return True

    def resolve_cms_step(self, step: Step, n: int) -> str | None:
        """The VBR a metric step acts on (checked when the scenario loads); None for other
        steps."""
        kind = step.kind()
        spec = step.target()
        if kind not in CMS_STEPS or not isinstance(spec, Target):
            return None
        try:
            if kind == "set_vbr_metrics":
                merged_override(Override(), spec.fields())  # the changes must parse
            elif spec.fields():
                raise ValueError(f"unexpected fields {sorted(spec.fields())}")
            return self._cms_target(spec)
        except (KeyError, ValueError) as exc:
            raise ScenarioError(f"scenario steps.{n}.{kind}: {exc.args[0]}") from None

    def _cms_target(self, spec: Target) -> str:
        return spec.id if spec.id is not None else self.select_vbr(spec.select or {})


__all__ = ["CmsMethods", "CmsSettings"]
