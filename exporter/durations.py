"""Durations as people write them in YAML (``500ms``, ``2s``, ``5m``, ``1h30m``) ↔ seconds.

Kept apart from the config module because the CLI (``demo --interval``) and the status page
use the same spelling, Prometheus-style, so one parser serves all of them.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


class DurationError(ValueError):
    """A value that is not a duration; the message quotes the value and the accepted forms."""


def parse_duration(value: object) -> float:
    """Seconds from ``1h30m``-style text or a plain number of seconds (int, float or numeric text).

    Negative, infinite and boolean values are refused: a YAML ``yes`` is never a duration.
    """
    if isinstance(value, bool):
        raise DurationError(f"expected a duration like 30s, 5m or 1h, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            if not _WHOLE.fullmatch(text):
                raise DurationError(
                    f"invalid duration {value!r} (use a number of seconds or units ms, s, m, h, d,"
                    " e.g. 500ms, 30s, 5m, 1h30m)"
                ) from None
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    else:
        raise DurationError(f"expected a duration like 30s, 5m or 1h, got {type(value).__name__}")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise DurationError(f"invalid duration {value!r}: must be a finite, non-negative time")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest text ``parse_duration`` reads back: ``300.0`` → ``5m``, ``0.5`` → ``500ms``."""
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"cannot format {seconds!r} as a duration")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    if millis % 1000:
        return f"{millis}ms" if millis < 1000 else f"{seconds:g}s"
    whole = millis // 1000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            count, whole = divmod(whole, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)
