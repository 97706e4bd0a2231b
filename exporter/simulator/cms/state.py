"""CloudMonitor state of the simulator: settings, the per-API call limit and metric overrides.

Overrides keep their history: each change opens a new segment from the newest published
datapoint at the moment of the change, so a time series read later shows a saturation begin
and end where it happened, while the newest point always reflects the override in force now.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from exporter.simulator.cms.metrics import Override, merged_override
from exporter.simulator.faults import RateLimitSpec, RequestPolicer

DEFAULT_QPS = 50.0
SCOPES = ("global", "regional")
_MAX_SEGMENTS = 200  # per VBR; older history is forgotten


@dataclass(frozen=True)
class CmsSettings:
    """``errors_as_200``: action errors (bad parameters, unknown metric) answer HTTP 200 with
    ``Success: false`` and a numeric ``Code`` instead of HTTP 4xx; ``extra_statistics``:
    datapoints carry ``Average``/``Maximum``/``Minimum`` besides ``Value``; ``qps``: calls per
    second per (account, action) before ``Throttling.User`` (None: unlimited); ``scope``:
    ``global``, every endpoint answers every region's VBRs, or ``regional``, an endpoint
    answers only the VBRs of its own region (which one holds is not documented)."""

    errors_as_200: bool = False
    extra_statistics: bool = False
    qps: float | None = DEFAULT_QPS
    scope: str = "global"

    def changed(self, changes: dict[str, Any]) -> CmsSettings:
        unknown = set(changes) - {"errors_as_200", "extra_statistics", "qps", "scope"}
        if unknown:
            raise ValueError(f"unknown CMS settings: {sorted(unknown)}")
        if changes.get("scope", self.scope) not in SCOPES:
            raise ValueError(f"scope: one of {', '.join(SCOPES)}, got {changes['scope']!r}")
        for key in ("errors_as_200", "extra_statistics"):
            if key in changes and not isinstance(changes[key], bool):
                raise ValueError(f"{key}: must be true or false, got {changes[key]!r}")
        qps = changes.get("qps", self.qps)
        if qps is not None and (
            isinstance(qps, bool) or not isinstance(qps, int | float) or not 0 < qps <= 1e6
        ):
            raise ValueError(f"qps: must be a number in (0, 1000000] or null, got {qps!r}")
        return replace(self, **{**changes, "qps": None if qps is None else float(qps)})


def newest_point_ms(now: float, period: int) -> int:
    """Timestamp of the newest published datapoint: the last whole period, one period back."""
    return (math.floor(now / period) - 1) * period * 1000


@dataclass(frozen=True)
class _Segment:
    since: float  # real epoch seconds
    until: float | None
    override: Override


class CmsState:
    """Thread-safe settings, call limiter and override timeline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.settings = CmsSettings()
        self.limiter = RequestPolicer()
        self.limiter.set([_limit(DEFAULT_QPS)])
        self._segments: dict[str, list[_Segment]] = {}

    def configure(self, changes: dict[str, Any]) -> CmsSettings:
        with self._lock:
            new = self.settings.changed(changes)
            if new.qps != self.settings.qps:
                self.limiter.set([] if new.qps is None else [_limit(new.qps)])
            self.settings = new
            return new

    def current(self, vbr_id: str) -> Override:
        with self._lock:
            segments = self._segments.get(vbr_id, [])
            if segments and segments[-1].until is None:
                return segments[-1].override
            return Override()

    def set(self, vbr_id: str, changes: dict[str, Any], now: float | None = None) -> Override:
        """Merge ``changes`` into the override in force (all or nothing)."""
        when = time.time() if now is None else now
        with self._lock:
            segments = self._segments.setdefault(vbr_id, [])
            base = segments[-1].override if segments and segments[-1].until is None else Override()
            new = merged_override(base, changes)
            self._close(segments, when)
            segments.append(_Segment(when, None, new))
            del segments[:-_MAX_SEGMENTS]
            return new

    def clear(self, vbr_id: str, now: float | None = None) -> None:
        with self._lock:
            self._close(self._segments.get(vbr_id, []), time.time() if now is None else now)

    def at(self, vbr_id: str, timestamp_ms: int, period: int) -> Override:
        """The override that applies to the datapoint at ``timestamp_ms``."""
        with self._lock:
            segments = self._segments.get(vbr_id)
            if not segments:
                return Override()
            for seg in reversed(segments):
                start = newest_point_ms(seg.since, period)
                end = None if seg.until is None else newest_point_ms(seg.until, period)
                if start <= timestamp_ms and (end is None or timestamp_ms < end):
                    return seg.override
            return Override()

    @staticmethod
    def _close(segments: list[_Segment], when: float) -> None:
        if segments and segments[-1].until is None:
            segments[-1] = replace(segments[-1], until=when)


def _limit(qps: float) -> RateLimitSpec:
    return RateLimitSpec(rate=qps, burst=max(1, math.ceil(qps)))
