"""Times derived from the ones a file sets, and contradictions between times.

``refresh: {interval: 30s}`` alone means timeout 30s, request timeout 10s and staleness 1h
(as Prometheus derives ``scrape_timeout``), instead of contradicting defaults meant for 5m.
Contradictions are reported at the path of the value to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from exporter.durations import DurationError, format_duration, parse_duration

if TYPE_CHECKING:
    from exporter.config.schema import Config

__all__ = ["derived", "time_problems"]


def time_problems(config: Config) -> Iterator[tuple[str, str]]:
    """Contradictions between times, each at the path of the value to change."""
    refresh = config.refresh
    if refresh.timeout > refresh.interval:
        yield (
            "refresh.timeout",
            f"{_fmt(refresh.timeout)} must not exceed refresh.interval"
            f" ({_fmt(refresh.interval)}): passes of one region would overlap",
        )
    if refresh.max_staleness < refresh.interval:
        yield (
            "refresh.max_staleness",
            f"{_fmt(refresh.max_staleness)} must be at least refresh.interval"
            f" ({_fmt(refresh.interval)}): series would drop between two good passes",
        )
    if config.api.request_timeout > refresh.timeout:
        yield (
            "api.request_timeout",
            f"{_fmt(config.api.request_timeout)} must not exceed refresh.timeout"
            f" ({_fmt(refresh.timeout)})",
        )
    for path, interval in _collector_intervals(config):
        if interval > refresh.max_staleness:
            yield (
                path,
                f"{_fmt(interval)} must not exceed refresh.max_staleness"
                f" ({_fmt(refresh.max_staleness)}): series would drop between two good passes",
            )


def _collector_intervals(config: Config) -> Iterator[tuple[str, float]]:
    """(YAML path, seconds) of every collector interval written in the file."""
    blocks = [("collectors", config.collectors)]
    blocks += [(f"accounts[{i}].collectors", a.collectors) for i, a in enumerate(config.accounts)]
    for prefix, block in blocks:
        for name in block.names():
            interval = block.get(name).interval
            if interval is not None:
                yield f"{prefix}.{name}.interval", interval


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
