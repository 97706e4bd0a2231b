"""A region's status: a failed pass keeps the last good snapshot until it is older than
max_staleness, then the snapshot is no longer exposed; a success makes it fresh again."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.regiontable import RegionStatus


@dataclass(frozen=True)
class Snap:
    completed_at: float
    duration_seconds: float = 0.5


def test_failed_pass_keeps_the_snapshot_until_max_staleness() -> None:
    good = Snap(completed_at=1000.0)
    status = RegionStatus("a", "cn-hangzhou", "physical_connections").succeeded(good, 999.5)
    assert status.up and status.exposed is good and status.last_success == 1000.0

    within = status.failed(1300.0, "Throttling.User", max_staleness=600.0, duration=1.0)
    assert not within.up and not within.stale
    assert within.exposed is good and within.last_error == "Throttling.User"
    assert (within.passes, within.last_attempt) == (2, 1300.0)

    beyond = within.failed(1601.0, "Throttling.User", max_staleness=600.0, duration=1.0)
    assert beyond.stale and beyond.exposed is None
    assert beyond.snapshot is good and beyond.last_success == 1000.0  # kept, just not served

    fresh = beyond.succeeded(Snap(completed_at=1700.0), 1699.0)
    assert fresh.up and not fresh.stale and fresh.last_error is None
    assert fresh.exposed is fresh.snapshot


def test_failure_before_any_success_exposes_nothing_and_is_not_stale() -> None:
    status = RegionStatus("a", "cn-hangzhou", "physical_connections")
    failed = status.failed(10.0, "boom", max_staleness=600.0, duration=0.1)
    assert failed.exposed is None and not failed.stale and failed.last_success is None
