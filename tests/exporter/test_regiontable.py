"""A region's status: a failed pass keeps the last good snapshot until it is older than
max_staleness, then the snapshot is no longer exposed; a success makes it fresh again."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.collectors import COLLECTORS, by_name
from exporter.collectors.physical_connections import PhysicalConnection, RegionSnapshot
from exporter.collectors.traffic import TrafficSnapshot, VbrMetrics
from exporter.regiontable import RegionStatus, RegionTable


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


def test_failing_since_and_stale_since() -> None:
    """The status page shows how long a row has failed and when its series went dark."""
    status = RegionStatus("a", "cn-hangzhou", "physical_connections").succeeded(
        Snap(completed_at=1000.0), 999.0
    )
    assert status.failing_since is None and status.stale_since is None
    first = status.failed(1300.0, "boom", max_staleness=600.0, duration=1.0)
    second = first.failed(1500.0, "boom", max_staleness=600.0, duration=1.0)
    third = second.failed(1700.0, "boom", max_staleness=600.0, duration=1.0)
    fourth = third.failed(1900.0, "boom", max_staleness=600.0, duration=1.0)
    assert (first.failing_since, second.failing_since, fourth.failing_since) == (1300.0,) * 3
    assert second.stale_since is None
    assert (third.stale_since, fourth.stale_since) == (1700.0, 1700.0)
    again = fourth.succeeded(Snap(completed_at=2000.0), 1999.0)
    assert again.failing_since is None and again.stale_since is None
    never = RegionStatus("a", "cn-hangzhou", "traffic").failed(5.0, "x", 600.0, 1.0)
    assert never.failing_since == 5.0


def _traffic_snapshot(vbr_ids: tuple[str, ...]) -> TrafficSnapshot:
    return TrafficSnapshot(
        account="a",
        region_id="cn-hangzhou",
        completed_at=1000.0,
        duration_seconds=0.5,
        calls=8,
        vbrs=tuple(
            VbrMetrics(id=v, values={"RateInFromIDCToVpc": 1.0}, newest_sample=990.0)
            for v in vbr_ids
        ),
    )


def test_objects_of_the_traffic_collector_are_the_vbrs_with_traffic_data() -> None:
    """docs/grafana.md: objects are lines, VBRs, or VBRs with traffic data for ``traffic``;
    the status page said 0 for traffic whatever it served (it has no count family)."""
    table = RegionTable(by_name(COLLECTORS), 300.0)
    key = ("a", "cn-hangzhou", "traffic")
    table.reconcile([key])
    status = RegionStatus(*key).succeeded(_traffic_snapshot(("vbr-1", "vbr-2", "vbr-3")), 999.0)
    table.update(status, {})
    served = table.get(key)
    assert served is not None and served.exported == 3
    # and gone with the series once stale
    dropped = served.failed(5000.0, "boom", max_staleness=600.0, duration=1.0)
    table.update(dropped, None)
    assert (table.get(key) or dropped).exported == 0


def test_objects_of_every_collector_count_its_first_kind_of_record() -> None:
    """Lines for physical_connections, VBRs for virtual_border_routers: unchanged."""
    connections = tuple(PhysicalConnection(id=f"pc-{n}") for n in range(4))
    snapshot = RegionSnapshot(
        account="a", region_id="cn-hangzhou", completed_at=1.0, duration_seconds=0.1,
        connections=connections,
    )  # fmt: skip
    table = RegionTable(by_name(COLLECTORS), 300.0)
    key = ("a", "cn-hangzhou", "physical_connections")
    table.reconcile([key])
    table.update(RegionStatus(*key).succeeded(snapshot, 0.5), {})
    assert (table.get(key) or RegionStatus(*key)).exported == 4
