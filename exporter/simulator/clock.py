"""The simulator's own clock: real time scaled by ``time_scale`` plus jumps.

Generated timestamps (CreationTime, EndTime, lifecycle steps) use this clock so a demo can show
a day of events in minutes; request timestamps are still checked against real wall time, as the
real service does.
"""

from __future__ import annotations

import threading
import time


class SimClock:
    def __init__(self, time_scale: float = 1.0, start: float | None = None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self._lock = threading.Lock()
        self._real_base = time.time()
        self._sim_base = self._real_base if start is None else start
        self._scale = time_scale

    def now(self) -> float:
        with self._lock:
            return self._sim_base + (time.time() - self._real_base) * self._scale

    @property
    def time_scale(self) -> float:
        return self._scale

    def set_time_scale(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        with self._lock:
            real = time.time()
            self._sim_base += (real - self._real_base) * self._scale
            self._real_base = real
            self._scale = time_scale

    def advance(self, seconds: float) -> float:
        """Jump forward (or back, if negative); returns the new simulated time."""
        with self._lock:
            self._sim_base += seconds
        return self.now()
