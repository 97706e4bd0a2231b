"""Fault injection and per-(account, region, action) rate limits.

A fault matches requests by account name, region, action and page number (each optional) and
fires ``count`` times (or forever) with a ``probability``; the probability draws come from a
seeded generator so a run repeats.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

ErrorKind = Literal[
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "ServiceUnavailable",
    "InternalError",
    "Forbidden.RAM",
]
ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)  # the faults answered as API error codes
FaultKind = Literal[
    ErrorKind,
    "latency",
    "hang",
    "reset",
    "malformed_json",
    "truncated_json",
    "total_count_change",
    "shift_records",
    "success_false",
]


class FaultSpec(BaseModel):
    """What to inject and where. ``seconds``: latency added (default 1) or hang length
    (default 600); ``delta``: TotalCount offset or records moved (default 1); ``status``:
    HTTP status of an error kind instead of the catalogue's; ``code``/``message``: the
    ``success_false`` body's."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: FaultKind
    account: str | None = None
    region: str | None = None
    action: str | None = None
    page: int | None = Field(default=None, ge=1)
    count: int | None = Field(default=None, ge=1)
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    seconds: float | None = Field(default=None, ge=0.0)
    delta: int = 1
    # HTTP status for error kinds when not the catalogue's (throttling's 400 is unverified).
    status: int | None = Field(default=None, ge=400, le=599)
    # ``success_false`` (CloudMonitor): the body's Code (default "400") and Message; the answer
    # is HTTP 200 unless ``status`` is given.
    code: str | None = Field(default=None, min_length=1, max_length=64)
    message: str | None = Field(default=None, max_length=512)

    def matches(self, account: str, region: str, action: str, page: int | None) -> bool:
        return (
            (self.account is None or self.account == account)
            and (self.region is None or self.region == region)
            and (self.action is None or self.action == action)
            and (self.page is None or self.page == page)
        )


class RateLimitSpec(BaseModel):
    """``rate`` requests per second per (account, region, action), bursts up to ``burst``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: float = Field(gt=0)
    burst: int | None = Field(default=None, ge=1)
    status: int = Field(default=400, ge=400, le=599)  # of the Throttling.User answer
    account: str | None = None
    region: str | None = None
    action: str | None = None


@dataclass
class _Active:
    id: int
    spec: FaultSpec
    remaining: int | None
    fired: int = 0


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._active: list[_Active] = []
        self._ids = itertools.count(1)
        self._rng = random.Random(f"{seed}:faults")
        self.fired_by_kind: dict[str, int] = {}

    def add(self, spec: FaultSpec) -> int:
        with self._lock:
            fault_id = next(self._ids)
            self._active.append(_Active(fault_id, spec, spec.count))
            return fault_id

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._active)
            self._active = [f for f in self._active if f.id != fault_id]
            return len(self._active) != before

    def clear(self) -> None:
        with self._lock:
            self._active.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": f.id,
                    **f.spec.model_dump(exclude_none=True),
                    "remaining": f.remaining,
                    "fired": f.fired,
                }
                for f in self._active
            ]

    def fire(self, account: str, region: str, action: str, page: int | None) -> list[FaultSpec]:
        """The faults this request gets (counts used up here; exhausted faults go away)."""
        if not self._active:
            return []
        fired: list[FaultSpec] = []
        with self._lock:
            for fault in self._active:
                spec = fault.spec
                if not spec.matches(account, region, action, page):
                    continue
                if spec.probability < 1.0 and self._rng.random() >= spec.probability:
                    continue
                fault.fired += 1
                self.fired_by_kind[spec.kind] = self.fired_by_kind.get(spec.kind, 0) + 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                fired.append(spec)
            self._active = [f for f in self._active if f.remaining is None or f.remaining > 0]
        return fired


class RequestPolicer:
    """Token buckets, one per (rule, account, region, action); real (monotonic) time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[RateLimitSpec] = []
        self._buckets: dict[tuple[int, str, str, str], tuple[float, float]] = {}

    def set(self, specs: list[RateLimitSpec]) -> None:
        with self._lock:
            self._rules = list(specs)
            self._buckets.clear()

    def add(self, spec: RateLimitSpec) -> None:
        with self._lock:
            self._rules.append(spec)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.model_dump(exclude_none=True) for r in self._rules]

    def allow(self, account: str, region: str, action: str) -> int | None:
        """None if the request may pass, else the HTTP status to refuse it with."""
        if not self._rules:
            return None
        now = time.monotonic()
        refused: int | None = None
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not (
                    (rule.account is None or rule.account == account)
                    and (rule.region is None or rule.region == region)
                    and (rule.action is None or rule.action == action)
                ):
                    continue
                capacity = float(rule.burst or max(1, round(rule.rate)))
                key = (index, account, region, action)
                tokens, last = self._buckets.get(key, (capacity, now))
                tokens = min(capacity, tokens + (now - last) * rule.rate)
                if tokens >= 1.0:
                    self._buckets[key] = (tokens - 1.0, now)
                else:
                    self._buckets[key] = (tokens, now)
                    refused = rule.status
        return refused
