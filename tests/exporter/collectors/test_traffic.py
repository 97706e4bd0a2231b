"""The traffic collector against the simulator's CloudMonitor: values, units, call budget,
errors that come back as HTTP 200, and its dependency on the VBR inventory."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.app import Exporter
from exporter.collectors import traffic
from exporter.config import Config, parse_config
from exporter.simulator import Simulator, SimulatorThread
from exporter.simulator.accounts import Account
from tests.exporter.test_app import samples, series, value

pytestmark = pytest.mark.e2e

ACCOUNT = Account(name="alpha", access_key_id="ak-alpha", access_key_secret="sk-alpha-secret")
REGIONS = ["cn-hangzhou", "cn-shanghai"]
# Exported family → (CloudMonitor metric, direction label or None, scale to base units)
EXPECTED = {
    (traffic.TRAFFIC, "idc_to_vpc"): ("RateInFromIDCToVpc", 1 / 8),
    (traffic.TRAFFIC, "vpc_to_idc"): ("RateOutFromVpcToIDC", 1 / 8),
    (traffic.PACKETS, "idc_to_vpc"): ("PkgsInFromIDCToVpc", 1.0),
    (traffic.PACKETS, "vpc_to_idc"): ("PkgsOutFromVpcToIDC", 1.0),
    (traffic.DROPPED, "idc_to_vpc"): ("PkgsDropInFromIDCToVpc", 1.0),
    (traffic.DROPPED, "vpc_to_idc"): ("PkgsDropOutFromVpcToIDC", 1.0),
    (traffic.HEALTH_LATENCY, None): ("VbrHealthyCheckLatency", 1e-6),
    (traffic.HEALTH_LOSS, None): ("VbrHealthyCheckLossRate", 1e-2),
}


@pytest.fixture
def sim() -> Iterator[tuple[Simulator, str]]:
    simulator = Simulator(
        seed=5, connections=240, regions=REGIONS, accounts=[ACCOUNT], lifecycle=False
    )
    with SimulatorThread(simulator) as url:
        yield simulator, url


def config(url: str, cms: str | None = None, **collectors: Any) -> Config:
    """``cms``: CloudMonitor's endpoint (``{region_id}`` in its path tells the simulator which
    region's endpoint is asked)."""
    api: dict[str, Any] = {"endpoint": url, "max_requests_per_second": 200, "retries": 0}
    if cms is not None:
        api["cms_endpoint"] = cms
    return parse_config(
        {
            "web": {"listen_address": "127.0.0.1:0"},
            "api": api,
            "collectors": {"traffic": {"interval": "1m"}, **collectors},
            "accounts": [
                {
                    "name": ACCOUNT.name,
                    "credentials": {
                        "type": "access_key",
                        "access_key_id": ACCOUNT.access_key_id,
                        "access_key_secret": ACCOUNT.access_key_secret,
                    },
                    "regions": REGIONS,
                }
            ],
        },
        "test",
    )


async def one_pass(cfg: Config) -> tuple[bytes, bool, Exporter]:
    """Every collector once, in table order (the daemon's ``--once`` path)."""
    exporter = Exporter(cfg)
    await exporter.open()
    try:
        ok = await exporter.refresh_everything()
        return exporter.body(), ok, exporter
    finally:
        await exporter.stop()


async def test_values_units_and_sample_times_match_cloudmonitor(
    sim: tuple[Simulator, str],
) -> None:
    simulator, url = sim
    body, ok, _ = await one_pass(config(url))
    assert ok
    got = samples(body)
    checked = 0
    for region in REGIONS:
        for vbr in simulator.vbr_infos(ACCOUNT.name, region):
            ident = {"account": ACCOUNT.name, "region_id": region, "vbr_id": vbr.vbr_id}
            stamp = value(body, traffic.SAMPLE_TIME, **ident)
            for (family, direction), (metric, scale) in EXPECTED.items():
                labels = dict(ident, **({"direction": direction} if direction else {}))
                exported = got.get((family, frozenset(labels.items())))
                # The newest point of each metric: the sample time's minute, or the one before
                # when a minute boundary passed between two metrics' calls of the same pass.
                at = 0 if stamp is None else int(stamp * 1000)
                truths = [simulator.vbr_metric_value(vbr.vbr_id, metric, t, 60)
                          for t in (at, at - 60_000)]  # fmt: skip
                if truths[0] is None:
                    assert exported is None, (vbr.vbr_id, metric)
                    continue
                assert exported is not None and any(
                    t is not None and math.isclose(exported, t * scale) for t in truths
                ), (vbr.vbr_id, metric)
                checked += 1
    assert checked > 100
    # VBRs without a health check have no latency series at all, as CloudMonitor has no point.
    no_check = [
        v for r in REGIONS for v in simulator.vbr_infos(ACCOUNT.name, r) if not v.health_check
    ]
    assert no_check and not any(
        series(body, traffic.HEALTH_LATENCY, vbr_id=v.vbr_id) for v in no_check
    )


async def test_one_pass_costs_metrics_times_batches_of_fifty(sim: tuple[Simulator, str]) -> None:
    simulator, url = sim
    simulator.clear_requests()
    _, ok, _ = await one_pass(config(url, traffic={"interval": "1m", "query": "named"}))
    assert ok
    expected = sum(
        len(traffic.METRICS) * math.ceil(len(simulator.vbr_infos(ACCOUNT.name, r)) / 50)
        for r in REGIONS
    )
    assert any(len(simulator.vbr_infos(ACCOUNT.name, r)) > 50 for r in REGIONS)
    assert simulator.cms_calls(ACCOUNT.name)[ACCOUNT.name] == {"DescribeMetricLast": expected}


@pytest.mark.parametrize("scope", ["global", "regional"])
async def test_namespace_read_costs_metrics_times_pages_per_answering_endpoint(
    sim: tuple[Simulator, str], scope: str
) -> None:
    """No Dimensions, one call per metric and page of 1000 points. Global scope: the regions
    share one read (8 calls for the account); regional: each region's endpoint is read once."""
    simulator, url = sim
    simulator.cms_settings({"scope": scope})
    simulator.clear_requests()
    body, ok, exporter = await one_pass(config(url, url + "/{region_id}"))
    assert ok, [s.last_error for s in exporter.region_statuses()]
    counts = {r: len(simulator.vbr_infos(ACCOUNT.name, r)) for r in REGIONS}
    assert all(counts.values())
    if scope == "global":
        expected = len(traffic.METRICS) * math.ceil(sum(counts.values()) / 1000)
    else:
        expected = sum(len(traffic.METRICS) * math.ceil(n / 1000) for n in counts.values())
    assert simulator.cms_calls(ACCOUNT.name)[ACCOUNT.name] == {"DescribeMetricLast": expected}
    for region in REGIONS:  # every region has its own VBRs' figures, and its own up
        up = {"account": ACCOUNT.name, "region_id": region, "collector": traffic.NAME}
        assert value(body, "expressconnect_region_up", **up) == 1
        exported = {k["vbr_id"] for k in series(body, traffic.SAMPLE_TIME, region_id=region)}
        assert exported and exported <= {
            v.vbr_id for v in simulator.vbr_infos(ACCOUNT.name, region)
        }
    unmatched = f'{traffic.UNMATCHED}{{account="{ACCOUNT.name}"}} 0.0'
    assert unmatched in exporter.live_block(openmetrics=False).decode()


def traffic_figures(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    families = {family for family, _ in EXPECTED} | {traffic.SAMPLE_TIME}
    return {k: v for k, v in samples(body).items() if k[0] in families}


@pytest.mark.parametrize("scope", ["global", "regional"])
async def test_namespace_and_named_reads_give_the_same_figures(
    sim: tuple[Simulator, str], scope: str
) -> None:
    """Same simulator, both query modes, within one CloudMonitor minute (the simulator's
    newest point moves each minute: the pair is run again when a minute boundary fell inside
    it): every VBR gets exactly the same series and values."""
    simulator, url = sim
    simulator.cms_settings({"scope": scope})
    for _ in range(5):
        minute = time.time() // 60
        runs = {}
        for query in ("named", "namespace"):
            body, ok, _ = await one_pass(
                config(url, url + "/{region_id}", traffic={"interval": "1m", "query": query})
            )
            assert ok
            runs[query] = traffic_figures(body)
        if time.time() // 60 == minute:
            break
    else:
        pytest.fail("every pair of runs crossed a minute boundary")
    assert runs["named"] and runs["named"] == runs["namespace"]


async def test_a_200_answer_with_success_false_fails_the_pass(sim: tuple[Simulator, str]) -> None:
    """Never "no data": an error in a 200 body is counted under its code and up goes to 0."""
    simulator, url = sim
    simulator.add_fault({"kind": "success_false", "action": "DescribeMetricLast",
                         "code": "400", "message": "The dimensions is invalid."})  # fmt: skip
    body, ok, exporter = await one_pass(config(url))
    assert not ok
    for region in REGIONS:
        up = {"account": ACCOUNT.name, "region_id": region, "collector": traffic.NAME}
        assert value(body, "expressconnect_region_up", **up) == 0
        assert not series(body, traffic.TRAFFIC, region_id=region)
    codes = {
        dict(k[1])["code"]
        for k in samples(body)
        if k[0] == "expressconnect_api_requests_total"
        and dict(k[1])["action"] == "DescribeMetricLast"
    }
    assert codes == {"400"}
    statuses = [s for s in exporter.region_statuses() if s.collector == traffic.NAME]
    assert all("The dimensions is invalid." in (s.last_error or "") for s in statuses)


@pytest.mark.parametrize("query", ["named", "namespace"])
async def test_fails_at_once_when_the_vbr_inventory_failed(
    sim: tuple[Simulator, str], query: str
) -> None:
    """A failed VBR pass with nothing to serve fails the traffic pass at once, saying why:
    waiting refresh.timeout for an inventory that cannot come only delays --once and
    readiness. It is a failed pass (counted), and no CloudMonitor call is made."""
    simulator, url = sim
    simulator.add_fault({"kind": "Forbidden.RAM", "action": "DescribeVirtualBorderRouters"})
    base = config(url, traffic={"interval": "1m", "query": query})
    cfg = base.model_copy(update={"refresh": base.refresh.model_copy(update={"timeout": 30.0})})
    _, ok, exporter = await one_pass(cfg)
    assert not ok
    assert simulator.cms_calls(ACCOUNT.name) == {}
    live = exporter.live_block(openmetrics=False).decode()
    errors = 'expressconnect_region_refresh_errors_total{account="alpha",collector="traffic"'
    counted = [line for line in live.splitlines() if line.startswith(errors)]
    assert counted and all(line.endswith(" 1.0") for line in counted)
    statuses = [s for s in exporter.region_statuses() if s.collector == traffic.NAME]
    assert statuses and all(
        not s.up
        and "the virtual_border_routers collector failed in this region" in str(s.last_error)
        and "Forbidden.RAM" in str(s.last_error)
        for s in statuses
    )


async def test_a_deleted_vbrs_traffic_goes_with_the_vbr_pass(sim: tuple[Simulator, str]) -> None:
    """Issue 20 item 16: the VBR pass that no longer lists a VBR takes its traffic series at
    once, not at the next traffic pass; the other VBRs keep theirs."""
    simulator, url = sim
    exporter = Exporter(config(url))
    await exporter.open()
    try:
        assert await exporter.refresh_everything()
        region = REGIONS[0]
        with_traffic = {s["vbr_id"] for s in series(exporter.body(), traffic.SAMPLE_TIME,
                                                    region_id=region)}  # fmt: skip
        gone = sorted(with_traffic)[0]
        simulator.remove_vbr(gone)
        status = await exporter.refresh(ACCOUNT.name, region, "virtual_border_routers")
        assert status is not None and status.up
        body = exporter.body()
        left = {s["vbr_id"] for s in series(body, traffic.SAMPLE_TIME, region_id=region)}
        assert left == with_traffic - {gone}
        assert not series(body, traffic.TRAFFIC, vbr_id=gone)
    finally:
        await exporter.stop()


async def test_traffic_ages_out_with_its_vbr_input(sim: tuple[Simulator, str]) -> None:
    """Issue 20 item 5: once the VBR inventory is stale (failing longer than max_staleness),
    traffic passes fail (counted, up 0) and traffic series age out too, instead of being
    skipped while old series stay exported with up 1."""
    simulator, url = sim
    offset = [0.0]
    exporter = Exporter(config(url), clock=lambda: time.time() + offset[0])
    await exporter.open()
    try:
        assert await exporter.refresh_everything()
        assert series(exporter.body(), traffic.TRAFFIC)
        simulator.add_fault({"kind": "Forbidden.RAM", "action": "DescribeVirtualBorderRouters"})
        offset[0] = 2 * 3600.0  # beyond refresh.max_staleness (1h)
        await exporter.refresh_everything()
        body = exporter.body()
        assert not series(body, traffic.TRAFFIC)
        for region in REGIONS:
            up = {"account": ACCOUNT.name, "region_id": region, "collector": traffic.NAME}
            assert value(body, "expressconnect_region_up", **up) == 0
        statuses = [s for s in exporter.region_statuses() if s.collector == traffic.NAME]
        assert all("virtual_border_routers collector failed" in str(s.last_error)
                   for s in statuses)  # fmt: skip
    finally:
        await exporter.stop()


def test_period_is_the_interval_rounded_down_to_a_minute() -> None:
    assert [traffic.period_for(s) for s in (1, 59, 60, 119, 300, 330)] == [
        60,
        60,
        60,
        60,
        300,
        300,
    ]
