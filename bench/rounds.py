"""What the bench reads back from the exporter, and how a round is timed against its bound.

The exporter's own metrics say when each (region, collector) pass started and ended, how many
requests each action made and how long they took; a round is the span from the first pass
start to the last pass end of its collectors, set against ``requests / rate limit`` of their
API (``make_round``). Kept apart from ``bench_exporter.py``, which starts the processes and
runs the stages.
"""

from __future__ import annotations

import argparse
import gzip
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.benchlib import Window, http, pages, pass_window, samples
from exporter.apis import APIS
from exporter.collectors import by_name, traffic
from exporter.collectors.base import DEFAULT_PAGE_CONCURRENCY
from exporter.config import ApiConfig

PC, VBR, TRAFFIC = "physical_connections", "virtual_border_routers", "traffic"
HEALTH, FAILOVER = "health_checks", "failover_tests"
COLLECTORS = (PC, VBR, TRAFFIC, HEALTH, FAILOVER)
DEPENDENTS = (TRAFFIC, HEALTH, FAILOVER)  # read the VBR inventory: on once it is there
ACTIONS = {
    PC: ("DescribePhysicalConnections",),
    VBR: ("DescribeVirtualBorderRouters", "DescribeBgpPeers"),
    TRAFFIC: ("DescribeMetricLast",),
    HEALTH: ("DescribeCenVbrHealthCheck",),
    FAILOVER: ("DescribeFailoverTestJobs", "DescribeVbrHa"),
}
# Round trips one region's pass needs at least: page 1, then the rest in parallel, per listing
# (failover tests: the job pages, then the HA calls in parallel); traffic: ``chain_of``.
CHAIN = {PC: 2, VBR: 4, HEALTH: 2, FAILOVER: 2}


# ---------------------------------------------------------------- what the exporter says


@dataclass
class ExporterState:
    """One read of the exporter's own metrics."""

    passes: dict[tuple[str, str], tuple[float, float, float]] = field(default_factory=dict)
    requests: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    # Per action: (sum, count) of the exporter's request-duration histogram, every attempt.
    durations: dict[str, tuple[float, float]] = field(default_factory=dict)

    def window(self, collector: str) -> Window:
        return pass_window((e, d) for (_, c), (_, e, d) in self.passes.items() if c == collector)

    def collector_requests(self, collector: str) -> float:
        return sum(self.requests[action] for action in ACTIONS[collector])

    def duration_totals(self, collector: str) -> tuple[float, float]:
        found = [self.durations.get(action, (0.0, 0.0)) for action in ACTIONS[collector]]
        return sum(s for s, _ in found), sum(n for _, n in found)

    def started_after(self, collector: str, moment: float) -> bool:
        keys = [v for (_, c), v in self.passes.items() if c == collector]
        return bool(keys) and all(up == 1 and e - d >= moment for up, e, d in keys)


COUNT_FAMILIES = (
    "expressconnect_region_physical_connections",
    "expressconnect_region_virtual_border_routers",
    "expressconnect_region_bgp_peers",
)
DURATION = "expressconnect_api_request_duration_seconds"
# Series counted per region: one per health check, failover test job and VBR HA group.
INFO_FAMILIES = (
    "expressconnect_vbr_health_check_info",
    "expressconnect_failover_test_info",
    "expressconnect_vbr_ha_info",
)


def read_state(url: str) -> ExporterState:
    gz = {"Accept-Encoding": "gzip"}
    text = gzip.decompress(http(url + "/metrics", headers=gz)).decode()
    state = ExporterState()
    health: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    names = (
        "expressconnect_region_up",
        "expressconnect_region_last_success_timestamp_seconds",
        "expressconnect_region_refresh_duration_seconds",
    )
    for s in samples(text, names):
        health[(s.labels["region_id"], s.labels["collector"])][s.name] = s.value
    for key, values in health.items():
        state.passes[key] = tuple(values.get(n, float("nan")) for n in names)  # type: ignore[assignment]
    for s in samples(text, ("expressconnect_api_requests_total",)):
        state.requests[s.labels["action"]] += s.value
    for s in samples(text, COUNT_FAMILIES):
        state.counts[s.name][s.labels["region_id"]] = s.value
    sums = {s.labels["action"]: s.value for s in samples(text, (DURATION + "_sum",))}
    for s in samples(text, (DURATION + "_count",)):
        state.durations[s.labels["action"]] = (sums.get(s.labels["action"], 0.0), s.value)
    for s in samples(text, INFO_FAMILIES):
        region = s.labels["region_id"]
        state.counts[s.name][region] = state.counts[s.name].get(region, 0.0) + 1
    return state


def wait_round(url: str, collector: str, after: float, timeout: float) -> ExporterState:
    """Poll until every region's ``collector`` pass started at/after ``after`` and succeeded."""
    return wait_rounds(url, (collector,), after, timeout)[collector]


def wait_rounds(
    url: str, collectors: tuple[str, ...], after: float, timeout: float
) -> dict[str, ExporterState]:
    """For each collector, the first read in which every region's pass started at/after
    ``after`` and succeeded (its first round, before a second one can replace it)."""
    deadline = time.monotonic() + timeout
    found: dict[str, ExporterState] = {}
    while True:
        state = read_state(url)
        for collector in collectors:
            if collector not in found and state.started_after(collector, after):
                found[collector] = state
        if len(found) == len(collectors):
            return found
        if time.monotonic() > deadline:
            missing = ", ".join(c for c in collectors if c not in found)
            raise SystemExit(f"no complete {missing} round after {after} within {timeout:g} s")
        time.sleep(1.0)  # the times come from the exporter: polling only has to notice the end


def region_total(state: ExporterState, family: str) -> float:
    return sum(state.counts[family].values())


def expected_calls(state: ExporterState, collector: str, page_size: int) -> int:
    """The calls a round of ``collector`` needs, from what it exported: every region's listings'
    pages, and for a listing of more than one page its first and last page read again at the
    end (``list_all``'s check that the listing did not move); failover tests: job pages plus
    one DescribeVbrHa per VBR in no group and per group."""
    counts = state.counts
    listings = {
        PC: ("expressconnect_region_physical_connections",),
        VBR: ("expressconnect_region_virtual_border_routers", "expressconnect_region_bgp_peers"),
        HEALTH: ("expressconnect_vbr_health_check_info",),
        FAILOVER: ("expressconnect_failover_test_info",),
    }
    regions = {r for family in counts.values() for r in family}
    total = 0
    for region in regions:
        for family in listings.get(collector, ()):
            read = pages(int(counts[family].get(region, 0)), page_size)
            total += read + (2 if read > 1 and collector != FAILOVER else 0)
        if collector == FAILOVER:
            vbrs = counts["expressconnect_region_virtual_border_routers"].get(region, 0)
            total += int(vbrs - counts["expressconnect_vbr_ha_info"].get(region, 0))
    return total


def api_of(collector: str) -> str:
    """The API (hence the rate limit, one per API and account) the collector calls."""
    return by_name()[collector].api


def rate_of(args: argparse.Namespace, collector: str) -> float:
    api = ApiConfig(max_requests_per_second=args.rate, cms_max_requests_per_second=args.cms_rate)
    return APIS[api_of(collector)].max_requests_per_second(api)


def chain_of(collector: str, state: ExporterState, args: argparse.Namespace) -> int:
    """Round trips a round of ``collector`` needs one after another (each >= ``--latency``).

    Traffic, namespace: every metric at once, each one's pages chained by NextToken (1000 VBRs
    a page, one read for all regions under global scope); named: each region's (metric, 50
    VBRs) batches, ``DEFAULT_PAGE_CONCURRENCY`` at a time."""
    if collector != TRAFFIC:
        return CHAIN[collector]
    vbrs = [int(n) for n in state.counts["expressconnect_region_virtual_border_routers"].values()]
    metrics = len(traffic.METRICS)
    if args.traffic_query == "named":
        batches = metrics * pages(max(vbrs, default=0), traffic.MAX_INSTANCES)
        return -(-batches // DEFAULT_PAGE_CONCURRENCY)
    read = sum(vbrs) if args.cms_scope == "global" else max(vbrs, default=0)
    return pages(read, traffic.PAGE_LENGTH)


@dataclass(frozen=True)
class Round:
    label: str
    requests: float
    expected: int
    wall: float
    bound: float
    other_requests: float = 0.0  # requests of other collectors on the same rate limit meanwhile
    chain: int = 1  # calls one after another the round needs at least
    mean_call: float = 0.0  # seconds, the exporter's mean request duration in the round

    def line(self) -> str:
        extra, expected = "", f" ({self.expected} expected)" if self.expected else ""
        if self.other_requests:
            extra = f", {self.other_requests:.0f} other requests on its limit meanwhile"
        if self.chain * self.mean_call > self.bound:
            extra += (
                f"; latency-bound: {self.chain} calls in sequence x mean call "
                f"{self.mean_call * 1000:.0f} ms = {self.chain * self.mean_call:.2f} s"
            )
        return (
            f"  {self.label:38s} {self.requests:5.0f} requests{expected}, wall "
            f"{self.wall:7.2f} s, bound {self.bound:7.2f} s, ratio "
            f"{self.wall / self.bound:.3f} (target <= 1.15){extra}"
        )


def _sent(before: ExporterState, after: ExporterState, collectors: Iterable[str]) -> float:
    return sum(after.collector_requests(c) - before.collector_requests(c) for c in collectors)


def make_round(
    label: str,
    collectors: tuple[str, ...],
    before: ExporterState,
    after: ExporterState,
    args: argparse.Namespace,
) -> Round:
    """The round of ``collectors`` between two reads, against its bound: each API's requests
    over its rate limit, the largest of them (collectors on several APIs wait on the slowest
    limit, the others run beside it), and at least the calls it needs one after another."""
    limits = {api_of(c): rate_of(args, c) for c in collectors}
    by_api = {
        api: _sent(before, after, (c for c in collectors if api_of(c) == api)) / rate
        for api, rate in limits.items()
    }
    others = tuple(c for c in COLLECTORS if c not in collectors and api_of(c) in limits)
    windows = [after.window(c) for c in collectors]
    chain = max(chain_of(c, after, args) for c in collectors)
    spent = calls = 0.0
    for c in collectors:
        (a, n), (b, m) = after.duration_totals(c), before.duration_totals(c)
        spent, calls = spent + a - b, calls + n - m
    # Traffic's calls depend on the scope and on which instances answer: the CloudMonitor line
    # sets them against their budget (``cms_line``), so a round with traffic expects none.
    expected = sum(expected_calls(after, c, args.page_size) for c in collectors)
    if TRAFFIC in collectors:
        expected = 0
    if len(limits) == 1:
        ((api, rate),) = limits.items()
        label = f"{label} [{api} {rate:g}/s]"
    else:
        label += " [larger of " + ", ".join(f"{a} {t:.2f} s" for a, t in by_api.items()) + "]"
    return Round(
        label,
        _sent(before, after, collectors),
        expected,
        max(w.end for w in windows) - min(w.start for w in windows),
        max(*by_api.values(), chain * args.latency),
        _sent(before, after, others),
        chain,
        spent / calls if calls else 0.0,
    )


# ---------------------------------------------------------------- CloudMonitor (traffic)


def cms_bound(state: ExporterState) -> int:
    """CloudMonitor calls one traffic round may need: 8 × (regions with VBRs + ceil(VBRs /
    1000)), namespace-wide reads in either scope."""
    vbrs = state.counts["expressconnect_region_virtual_border_routers"]
    with_vbrs = sum(1 for n in vbrs.values() if n > 0)
    return 8 * (with_vbrs + -(-int(sum(vbrs.values())) // 1000))


def cms_line(args: argparse.Namespace, before: ExporterState, after: ExporterState) -> str:
    """The first traffic round's CloudMonitor calls against their budget."""
    calls = after.collector_requests(TRAFFIC) - before.collector_requests(TRAFFIC)
    bound = cms_bound(after)
    return (
        f"  CloudMonitor calls, first traffic round ({args.traffic_query}, {args.cms_scope} "
        f"scope): {calls:.0f}, budget {bound} = 8 x (regions with VBRs + ceil(VBRs / 1000)) "
        f"({calls / bound if bound else float('nan'):.2f}x, target <= 1)"
    )
