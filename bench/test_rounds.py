"""The round arithmetic of the hand-run bench (run: pytest bench/test_rounds.py): which calls
a round needs one after another, its bound, and the CloudMonitor budget."""

from __future__ import annotations

import argparse

from bench.rounds import (
    PC,
    TRAFFIC,
    VBR,
    ExporterState,
    Round,
    chain_of,
    cms_bound,
    expected_calls,
    make_round,
)
from exporter.collectors import traffic

VBRS = "expressconnect_region_virtual_border_routers"


def args(**changes: object) -> argparse.Namespace:
    base = dict(rate=10.0, cms_rate=50.0, page_size=50, latency=0.05,
                traffic_query="namespace", cms_scope="global")  # fmt: skip
    return argparse.Namespace(**{**base, **changes})


def with_vbrs(per_region: dict[str, float]) -> ExporterState:
    state = ExporterState()
    state.counts[VBRS] = dict(per_region)
    return state


def test_a_namespace_read_chains_one_metrics_pages_and_named_batches_run_four_at_a_time() -> None:
    state = with_vbrs({"a": 2500.0, "b": 1200.0, "c": 0.0})
    assert chain_of(TRAFFIC, state, args()) == 4  # 3,700 VBRs: 4 pages, every metric at once
    assert chain_of(TRAFFIC, state, args(cms_scope="regional")) == 3  # the largest region
    named = len(traffic.METRICS) * 50  # 2,500 VBRs in 50s, per metric
    assert chain_of(TRAFFIC, state, args(traffic_query="named")) == -(-named // 4)


def test_the_cloudmonitor_budget_counts_regions_with_vbrs_and_thousands_of_vbrs() -> None:
    assert cms_bound(with_vbrs({"a": 2500.0, "b": 1200.0, "c": 0.0})) == 8 * (2 + 4)


def test_a_round_spans_first_start_to_last_end_against_requests_over_rate() -> None:
    before, after = ExporterState(), ExporterState()
    # (up, last success = end, duration): passes from 100 s to 112 s and 101 s to 120 s.
    after.passes = {("a", PC): (1.0, 112.0, 12.0), ("b", VBR): (1.0, 120.0, 19.0)}
    after.requests.update(DescribePhysicalConnections=40.0, DescribeVirtualBorderRouters=60.0)
    found = make_round("both", (PC, VBR), before, after, args())
    assert (found.requests, found.wall, found.bound) == (100.0, 20.0, 10.0)
    assert "ratio 2.000" in found.line()


def test_a_round_is_flagged_latency_bound_only_when_its_chain_outlasts_the_bound() -> None:
    slow = Round("r", 10, 0, 2.0, 1.0, chain=8, mean_call=0.2)
    quick = Round("r", 10, 0, 2.0, 1.0, chain=8, mean_call=0.1)
    assert "latency-bound: 8 calls" in slow.line() and "latency-bound" not in quick.line()


def test_expected_calls_count_the_pages_and_the_two_rereads_of_a_listing_of_several() -> None:
    state = ExporterState()
    state.counts["expressconnect_region_physical_connections"] = {"a": 500.0, "b": 20.0}
    assert expected_calls(state, PC, 50) == (10 + 2) + 1  # b: one page, nothing read again


def test_a_round_on_two_apis_is_bound_by_the_slower_limit() -> None:
    after = ExporterState()
    after.passes = {("a", PC): (1.0, 30.0, 30.0), ("a", TRAFFIC): (1.0, 31.0, 30.0)}
    after.requests.update(DescribePhysicalConnections=200.0, DescribeMetricLast=100.0)
    found = make_round("cold", (PC, TRAFFIC), ExporterState(), after, args())
    assert found.bound == 20.0 and found.wall == 31.0  # VPC 200 / 10 over CloudMonitor 100 / 50
    assert found.label == "cold [larger of vpc 20.00 s, cms 2.00 s]" and found.expected == 0
