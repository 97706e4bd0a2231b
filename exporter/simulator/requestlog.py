"""The request log and counters the control plane reads (secrets never recorded)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

_SECRET_PARAMS = frozenset({"Signature", "SecurityToken"})


@dataclass(frozen=True)
class RequestRecord:
    time: float  # real epoch seconds
    request_id: str
    method: str
    action: str
    region: str
    account: str | None
    access_key_id: str | None
    signature_version: str | None
    status: int
    code: str  # "OK" on success
    params: dict[str, str]
    faults: tuple[str, ...]
    duration_seconds: float


def public_params(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in _SECRET_PARAMS}


class RequestLog:
    def __init__(self, size: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=size)
        self._counts: dict[tuple[str, str, str, str], int] = {}

    def add(self, record: RequestRecord) -> None:
        key = (record.account or "", record.region, record.action, record.code)
        with self._lock:
            self._records.append(record)
            self._counts[key] = self._counts.get(key, 0) + 1

    def records(self, limit: int | None = None, action: str | None = None) -> list[RequestRecord]:
        with self._lock:
            items = [r for r in self._records if action is None or r.action == action]
        return items[-limit:] if limit else items

    def counters(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"account": a, "region": r, "action": act, "code": c, "count": n}
                for (a, r, act, c), n in sorted(self._counts.items())
            ]

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._counts.clear()


def record_dict(record: RequestRecord) -> dict[str, Any]:
    out = asdict(record)
    out["faults"] = list(record.faults)
    return out
