"""Times derived from the ones a file sets, and contradictions between times.

``refresh: {interval: 30s}`` alone means timeout 30s, request timeout 10s and staleness 1h
(as Prometheus derives ``scrape_timeout``), instead of contradicting defaults meant for 5m.
Contradictions are reported at the path of the value to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exporter.durations import DurationError, format_duration, parse_duration

__all__ = ["derived"]


def _seconds(value: object) -> float | None:
    try:
        return parse_duration(value)
    except DurationError:
        return None


def _raw_collector_intervals(data: dict[str, Any]) -> Iterator[float]:
    """Collector intervals from not yet validated data; whatever is malformed is skipped."""
    blocks = [data.get("collectors")]
    accounts = data.get("accounts")
    if isinstance(accounts, list):
        blocks += [a.get("collectors") for a in accounts if isinstance(a, dict)]
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for entry in block.values():
            seconds = _seconds(entry.get("interval")) if isinstance(entry, dict) else None
            if seconds is not None:
                yield seconds


def derived(data: dict[str, Any], default_interval: float) -> dict[str, Any]:
    """``data`` with unset refresh/api times derived from the set ones (see Config)."""
    refresh, api = data.get("refresh", {}), data.get("api", {})
    if not isinstance(refresh, dict) or not isinstance(api, dict):
        return data  # reported as "expected a mapping"
    refresh, api = dict(refresh), dict(api)
    interval = _seconds(refresh.get("interval", default_interval))
    if interval is None:
        return data  # reported at refresh.interval
    if "timeout" not in refresh:
        refresh["timeout"] = min(120.0, interval)
    if "max_staleness" not in refresh:
        refresh["max_staleness"] = max(3600.0, interval, *_raw_collector_intervals(data))
    timeout = _seconds(refresh["timeout"])
    if "request_timeout" not in api and timeout is not None and timeout > 0:
        api["request_timeout"] = min(10.0, timeout)
    return {**data, "refresh": refresh, "api": api}


def _fmt(seconds: float) -> str:
    return format_duration(seconds)
