"""Issue 16 end to end: the resilience collectors against the simulator's own records.

Simulator in its own thread → exporter → /metrics over real HTTP; the truth is read from the
simulator's control routes, never from the exporter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from exporter.app import Exporter
from exporter.collectors import failover_tests as ft
from exporter.collectors import health_checks as hc
from exporter.config import Config, parse_config
from exporter.simulator import Simulator, SimulatorThread
from exporter.simulator.accounts import Account
from tests.e2e.test_exporter_e2e import unix
from tests.exporter.test_app import fast, get, samples, scrape, series, value, wait_for

pytestmark = pytest.mark.e2e

REGIONS = ["cn-hangzhou", "cn-shanghai"]
ACCOUNT = Account(name="alpha", access_key_id="ak-alpha", access_key_secret="sk-alpha-secret")


def config(url: str, max_staleness: str = "1h") -> Config:
    data = {
        "web": {"listen_address": "127.0.0.1:0"},
        "refresh": {"interval": "1s", "timeout": "1s", "max_staleness": max_staleness},
        "api": {
            "endpoint": url,
            "page_size": 2,
            "max_requests_per_second": 200,
            "retries": 2,
            "request_timeout": "1s",
        },
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
        "collectors": {
            "traffic": {"enabled": False},
            "health_checks": {"enabled": True, "interval": "1s"},
            "failover_tests": {"enabled": True, "interval": "1s"},
        },
    }
    return fast(parse_config(data, "e2e"))


@pytest.fixture
def sim() -> Iterator[tuple[Simulator, str]]:
    simulator = Simulator(
        seed=5, connections=40, regions=REGIONS, accounts=[ACCOUNT], lifecycle=False
    )
    with SimulatorThread(simulator) as url:
        yield simulator, url


async def truth(url: str, route: str, region: str) -> list[dict[str, Any]]:
    status, text = await get(f"{url}/_sim/{route}?account={ACCOUNT.name}&region={region}")
    assert status == 200, text
    result: list[dict[str, Any]] = json.loads(text)
    return result


def check_health_checks(
    body: bytes, sim: Simulator, records: list[dict[str, Any]], region: str
) -> None:
    base = {"account": ACCOUNT.name, "region_id": region}
    by_vbr = {r["health_check"]["VbrInstanceId"]: r["health_check"] for r in records}
    vbrs = [v["VbrId"] for v in sim.vbrs(ACCOUNT.name, region)]
    assert vbrs and by_vbr
    assert sorted(x["vbr_id"] for x in series(body, hc.CONFIGURED, **base)) == sorted(vbrs)
    assert set(by_vbr) <= set(vbrs)
    got = samples(body)
    for vbr in vbrs:
        key = frozenset({**base, "vbr_id": vbr}.items())
        assert got[(hc.CONFIGURED, key)] == (1 if vbr in by_vbr else 0), vbr
        record = by_vbr.get(vbr)
        if record is None:
            assert not series(body, hc.INFO, vbr_id=vbr)
            continue
        info = series(body, hc.INFO, **base, vbr_id=vbr)
        assert info == [
            {
                **base,
                "vbr_id": vbr,
                "cen_id": record["CenId"],
                "source_ip": record["HealthCheckSourceIp"],
                "target_ip": record["HealthCheckTargetIp"],
            }
        ]
        assert got[(hc.INTERVAL, key)] == float(record["HealthCheckInterval"])
        assert got[(hc.HEALTHY_THRESHOLD, key)] == float(record["HealthyThreshold"])
        assert got[(hc.SWITCHES_ROUTES, key)] == (0 if record.get("HealthCheckOnly") else 1)


def check_jobs(body: bytes, sim: Simulator, records: list[dict[str, Any]], region: str) -> set[str]:
    base = {"account": ACCOUNT.name, "region_id": region}
    got = samples(body)
    jobs = [r["job"] for r in records]
    assert sorted(s["job_id"] for s in series(body, ft.TEST_INFO, **base)) == sorted(
        j["JobId"] for j in jobs
    )
    active: set[str] = set()
    last: dict[str, float] = {}
    for job in jobs:
        key = frozenset({**base, "job_id": job["JobId"]}.items())
        assert series(body, ft.TEST_INFO, **base, job_id=job["JobId"]) == [
            {**base, "job_id": job["JobId"], "name": job["Name"], "job_type": job["JobType"]}
        ]
        states = {
            s["status"]: got[(ft.TEST_STATUS, frozenset(s.items()))]
            for s in series(body, ft.TEST_STATUS, **base, job_id=job["JobId"])
        }
        assert len(states) == 5 and states[job["Status"]] == 1 and sum(states.values()) == 1
        assert got.get((ft.TEST_START, key)) == unix(job.get("StartTime"))
        stopped = job["Status"] == "Stopped"
        assert got.get((ft.TEST_STOP, key)) == (unix(job["StopTime"]) if stopped else None)
        assert sorted(
            s["physical_connection_id"]
            for s in series(body, ft.TEST_RESOURCE, **base, job_id=job["JobId"])
        ) == sorted(job["ResourceId"])
        for pc in job["ResourceId"]:
            if job["Status"] in ("Starting", "Testing", "Stopping"):
                active.add(pc)
            stop = unix(job["StopTime"])
            if stopped and stop is not None:
                last[pc] = max(last.get(pc, stop), stop)
    lines = {r["PhysicalConnectionId"] for r in sim.connections(ACCOUNT.name, region)}
    assert lines  # every line of the inventory has the flag, with a VBR or not
    for pc in sorted(lines | {pc for job in jobs for pc in job["ResourceId"]}):
        key = frozenset({**base, "physical_connection_id": pc}.items())
        assert got[(ft.LINE_ACTIVE, key)] == (1 if pc in active else 0), pc
        assert got.get((ft.LINE_LAST_TEST, key)) == last.get(pc), pc
    assert last  # the grown data has stopped tests in every region
    return active


def check_ha(body: bytes, records: list[dict[str, Any]], region: str) -> None:
    base = {"account": ACCOUNT.name, "region_id": region}
    groups = [r["group"] for r in records]
    assert sorted(map(frozenset, (x.items() for x in series(body, ft.HA_INFO, **base)))) == sorted(
        frozenset(
            {
                **base,
                "vbr_ha_id": g["VbrHaId"],
                "vbr_id": g["VbrId"],
                "peer_vbr_id": g["PeerVbrId"],
                "name": g["Name"],
            }.items()
        )
        for g in groups
    )
    got = samples(body)
    for g in groups:
        states = {
            s["status"]: got[(ft.HA_STATUS, frozenset(s.items()))]
            for s in series(body, ft.HA_STATUS, **base, vbr_ha_id=g["VbrHaId"])
        }
        assert states == {
            "Creating": float(g["Status"] == "Creating"),
            "Active": float(g["Status"] == "Active"),
        }


async def check_all(url: str, exporter_url: str, sim: Simulator) -> tuple[bytes, set[str]]:
    """One scrape checked against every region's truth; returns it and the lines under test."""
    _, body = await scrape(exporter_url)
    active: set[str] = set()
    for region in REGIONS:
        check_health_checks(body, sim, await truth(url, "health-checks", region), region)
        active |= check_jobs(body, sim, await truth(url, "failover-tests", region), region)
        check_ha(body, await truth(url, "vbr-ha", region), region)
    return body, active


def paged(sim: Simulator, action: str, region: str) -> bool:
    """Whether the exporter followed a NextToken / PageNumber past the first page there."""
    params = [r.params for r in sim.requests(action=action) if r.region == region]
    return any(p.get("NextToken") or p.get("PageNumber", "1") != "1" for p in params)


async def test_resilience_metrics_match_the_simulator_through_paging(
    sim: tuple[Simulator, str],
) -> None:
    simulator, url = sim
    async with Exporter(config(url)) as exporter:
        await wait_for(exporter.ready, timeout=30)
        _, active = await check_all(url, exporter.url, simulator)
        assert active  # the grown data has a test running now
        for region in REGIONS:
            assert paged(simulator, "DescribeFailoverTestJobs", region), region
            assert paged(simulator, "DescribeCenVbrHealthCheck", region), region


async def control(url: str, method: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
    """A simulator control-plane call (the way an operator's script would make it)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{url}/_sim/{route}", json=body) as response,
    ):
        assert response.status in (200, 201), await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def _scraped(exporter_url: str, predicate: Any) -> bool:
    return bool(predicate((await scrape(exporter_url))[1]))


def line_active(body: bytes, region: str, pc: str) -> float | None:
    return value(
        body, ft.LINE_ACTIVE, account=ACCOUNT.name, region_id=region, physical_connection_id=pc
    )


async def test_a_test_started_and_stopped_at_run_time_is_followed(
    sim: tuple[Simulator, str],
) -> None:
    simulator, url = sim
    await control(url, "PATCH", "resilience/settings", {"transition_seconds": 1})
    region = REGIONS[1]
    busy = {j["job"]["ResourceId"][0] for j in await truth(url, "failover-tests", region)}
    pc = next(
        v["PhysicalConnectionId"]
        for v in simulator.vbrs(ACCOUNT.name, region)
        if v["PhysicalConnectionId"] not in busy
    )
    async with Exporter(config(url)) as exporter:
        await wait_for(exporter.ready, timeout=30)
        _, body = await scrape(exporter.url)
        assert line_active(body, region, pc) == 0
        job = (await control(url, "POST", "failover-tests", {"connections": [pc], "name": "e2e"}))[
            "id"
        ]

        async def active_is(flag: float) -> bool:
            return line_active((await scrape(exporter.url))[1], region, pc) == flag

        await wait_for(lambda: active_is(1))

        def testing(body: bytes) -> bool:
            labels = {"account": ACCOUNT.name, "region_id": region, "job_id": job}
            return value(body, ft.TEST_STATUS, **labels, status="Testing") == 1

        # Starting lasts a (simulated) second: compare once the exporter has seen Testing
        await wait_for(lambda: _scraped(exporter.url, testing))
        await check_all(url, exporter.url, simulator)
        await control(url, "POST", f"failover-tests/{job}/stop", {})
        await wait_for(lambda: active_is(0))

        async def stopped_and_seen() -> bool:
            state = await control(url, "GET", f"failover-tests/{job}", {})
            if state["job"]["Status"] != "Stopped":
                return False
            got = value(
                (await scrape(exporter.url))[1],
                ft.LINE_LAST_TEST,
                account=ACCOUNT.name,
                region_id=region,
                physical_connection_id=pc,
            )
            return got == unix(state["job"]["StopTime"])

        await wait_for(stopped_and_seen)
        await check_all(url, exporter.url, simulator)


def region_ups(body: bytes) -> dict[tuple[str, str], float]:
    return {
        (labels["region_id"], labels["collector"]): value(
            body, "expressconnect_region_up", **labels
        )
        or 0.0
        for labels in series(body, "expressconnect_region_up", account=ACCOUNT.name)
    }


async def test_a_cen_failure_in_one_region_downs_only_health_checks_there(
    sim: tuple[Simulator, str],
) -> None:
    simulator, url = sim
    broken, fine = REGIONS[1], REGIONS[0]
    async with Exporter(config(url, max_staleness="4s")) as exporter:
        await wait_for(exporter.ready, timeout=30)
        before, _ = await check_all(url, exporter.url, simulator)
        ups = region_ups(before)
        assert len(ups) >= 8 and set(ups.values()) == {1.0}
        simulator.add_fault(
            {"kind": "ServiceUnavailable", "action": "DescribeCenVbrHealthCheck", "region": broken}
        )

        async def down() -> bytes | None:
            body = (await scrape(exporter.url))[1]
            return body if region_ups(body)[(broken, hc.NAME)] == 0 else None

        body = await wait_for(down)
        assert {k: v for k, v in region_ups(body).items() if v != 1} == {(broken, hc.NAME): 0.0}
        # the last good snapshot is kept, so the series still match the (unchanged) truth
        await check_all(url, exporter.url, simulator)

        async def stale() -> bytes | None:
            body = (await scrape(exporter.url))[1]
            return body if not series(body, hc.CONFIGURED, region_id=broken) else None

        body = await wait_for(stale)
        assert {k: v for k, v in region_ups(body).items() if v != 1} == {(broken, hc.NAME): 0.0}
        assert series(body, hc.CONFIGURED, region_id=fine)
        check_health_checks(body, simulator, await truth(url, "health-checks", fine), fine)


FAMILIES = (ft.HA_INFO, ft.HA_STATUS, ft.HA_CREATION)


def ha_series(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {k: v for k, v in samples(body).items() if k[0] in FAMILIES}


def last_success(body: bytes, region: str) -> float:
    labels = {"account": ACCOUNT.name, "region_id": region, "collector": ft.NAME}
    return value(body, "expressconnect_region_last_success_timestamp_seconds", **labels) or 0.0


async def ha_pass_under(simulator: Simulator, exporter_url: str, status: int) -> bytes:
    """A scrape once a whole failover_tests pass in each region ran after the setting changed
    (the pass that ends after the change may have begun before it: wait for the next one), and
    its "no group" answers had that HTTP status."""

    async def after(marks: dict[str, float]) -> dict[str, float] | None:
        body = (await scrape(exporter_url))[1]
        now = {region: last_success(body, region) for region in REGIONS}
        return now if all(now[r] > marks[r] for r in REGIONS) else None

    changed = {r: time.time() for r in REGIONS}
    first = await wait_for(lambda: after(changed))
    simulator.clear_requests()
    await wait_for(lambda: after(first))
    answers = {r.status for r in simulator.requests(action="DescribeVbrHa")}
    assert status in answers and answers <= {200, status}
    return (await scrape(exporter_url))[1]


async def test_both_no_group_answers_give_the_same_metrics(sim: tuple[Simulator, str]) -> None:
    simulator, url = sim
    async with Exporter(config(url)) as exporter:
        await wait_for(exporter.ready, timeout=30)
        await control(url, "PATCH", "resilience/settings", {"vbr_ha_not_found": "404"})
        by_404 = await ha_pass_under(simulator, exporter.url, 404)
        assert ha_series(by_404)
        for reading in ("empty", "blank"):  # the documented empty 200, and one of blank fields
            await control(url, "PATCH", "resilience/settings", {"vbr_ha_not_found": reading})
            body = await ha_pass_under(simulator, exporter.url, 200)
            assert ha_series(body) == ha_series(by_404), reading
            for region in REGIONS:
                check_ha(body, await truth(url, "vbr-ha", region), region)
            assert set(region_ups(body).values()) == {1.0}, reading


async def test_health_check_only_absent_when_false_still_switches_routes(
    sim: tuple[Simulator, str],
) -> None:
    """Older shapes leave HealthCheckOnly out when false: the documented default, switching."""
    simulator, url = sim
    await control(
        url, "PATCH", "resilience/settings", {"health_check_only_field": "absent_when_false"}
    )
    async with Exporter(config(url)) as exporter:
        await wait_for(exporter.ready, timeout=30)
        _, body = await scrape(exporter.url)
        switching = 0.0
        for region in REGIONS:
            records = await truth(url, "health-checks", region)
            check_health_checks(body, simulator, records, region)
            switching += sum(
                value(body, hc.SWITCHES_ROUTES, account=ACCOUNT.name, region_id=region, vbr_id=v)
                or 0.0
                for v in (r["health_check"]["VbrInstanceId"] for r in records)
            )
        assert switching > 0
        # the simulator's wire record (what the control route shows) leaves the field out
        wire = [r["health_check"] for r in await truth(url, "health-checks", REGIONS[0])]
        assert any("HealthCheckOnly" not in r for r in wire)
