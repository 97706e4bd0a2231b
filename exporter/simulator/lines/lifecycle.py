"""How the provider moves a connection along, as pure rules over (connection, simulated now).

Dwell times are in simulated seconds; with ``time_scale`` 60 an application goes from Initial to
Confirmed in about 3 real minutes. Which applications get Rejected or fail allocation is a
deterministic function of the connection ID, so runs repeat.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from exporter.simulator.lines.model import ALLOCATION_FAILED, Connection

DWELL_SECONDS: dict[str, float] = {
    "Initial": 1800.0,
    "Approved": 1800.0,
    "Allocating": 3600.0,
    "Allocated": 7200.0,
    "Terminating": 3600.0,
}
_LOA_AFTER = {
    "Approved": "Accept",
    "Allocating": "Accept",
    "Allocated": "Available",
    "Confirmed": "Completing",
    "Rejected": "Rejected",
    ALLOCATION_FAILED: "Rejected",
    "Terminated": "Deleted",
}
_end_cache: dict[str, float | None] = {}


def _unlucky(conn_id: str, status: str) -> bool:
    """One application in ten is rejected, and one allocation in ten fails."""
    return hashlib.sha256(f"{conn_id}/{status}".encode()).digest()[0] % 10 == 0


def next_status(conn_id: str, status: str) -> str | None:
    if status == "Initial":
        return "Rejected" if _unlucky(conn_id, status) else "Approved"
    if status == "Approved":
        return "Allocating"
    if status == "Allocating":
        return ALLOCATION_FAILED if _unlucky(conn_id, status) else "Allocated"
    if status == "Allocated":
        return "Confirmed"  # then waits for the customer's EnablePhysicalConnection
    if status == "Terminating":
        return "Terminated"
    return None


def parse_time(value: object) -> float | None:
    """Vendor timestamps (``...Z`` or without zone, read as UTC) to epoch seconds."""
    if not isinstance(value, str):
        return None
    cached = _end_cache.get(value)
    if cached is not None or value in _end_cache:
        return cached
    text = value[:-1] if value.endswith("Z") else value
    try:
        parsed: float | None = datetime.fromisoformat(text + "+00:00").timestamp()
    except ValueError:
        parsed = None
    if len(_end_cache) > 200_000:
        _end_cache.clear()
    _end_cache[value] = parsed
    return parsed


def due_time(conn: Connection) -> float | None:
    """When :func:`step` will next return a change for this connection (None: never by time)."""
    dwell = DWELL_SECONDS.get(conn.status)
    if dwell is not None:
        return conn.status_since + dwell
    if conn.status == "Enabled" and conn.fields.get("BusinessStatus") == "Normal":
        end_text = conn.fields.get("EndTime")
        if conn.expired_end_time != end_text:
            return parse_time(end_text)
    return None


def step(conn: Connection, now: float) -> tuple[dict[str, Any], float] | None:
    """The next change due by ``now`` and when it was due, or None if nothing is due."""
    status = conn.status
    dwell = DWELL_SECONDS.get(status)
    if dwell is not None:
        due = conn.status_since + dwell
        if due <= now:
            new = next_status(conn.id, status)
            if new is not None:
                changes: dict[str, Any] = {"Status": new}
                if new in _LOA_AFTER and "LoaStatus" in conn.fields:
                    changes["LoaStatus"] = _LOA_AFTER[new]
                return changes, due
        return None
    if status == "Enabled":
        end_text = conn.fields.get("EndTime")
        end = parse_time(end_text)
        if end is not None and end <= now and conn.expired_end_time != end_text:
            conn.expired_end_time = str(end_text)
            if conn.fields.get("BusinessStatus") == "Normal":
                return {"BusinessStatus": "FinancialLocked"}, end
    return None
