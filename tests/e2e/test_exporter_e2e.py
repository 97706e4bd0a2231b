"""End to end over real HTTP: the simulator (own thread and loop) → the exporter → /metrics.

Every metric value and info label is checked against the simulator's own records, field by
field, with an independent parser for the API's timestamps.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from exporter.app import Exporter
from exporter.config import Config, parse_config
from exporter.simulator import Simulator, SimulatorThread
from exporter.simulator.accounts import Account
from tests.exporter.test_app import (
    PC,
    fast,
    region_up,
    samples,
    scrape,
    series,
    value,
    wait_for,
)

pytestmark = pytest.mark.e2e

REGIONS = ["cn-hangzhou", "cn-shanghai", "ap-southeast-1", "eu-central-1"]
ACCOUNTS = [
    Account(name="alpha", access_key_id="ak-alpha", access_key_secret="sk-alpha-secret"),
    Account(name="beta", access_key_id="ak-beta", access_key_secret="sk-beta-secret"),
]
INFO_FIELDS = {
    "name": "Name",
    "type": "Type",
    "product_type": "ProductType",
    "access_point_id": "AccessPointId",
    "line_operator": "LineOperator",
    "port_type": "PortType",
    "port_number": "PortNumber",
    "spec": "Spec",
    "circuit_code": "CircuitCode",
    "peer_location": "PeerLocation",
    "ad_location": "AdLocation",
    "charge_type": "ChargeType",
    "redundant_physical_connection_id": "RedundantPhysicalConnectionId",
    "parent_physical_connection_id": "ParentPhysicalConnectionId",
    "resource_group_id": "ResourceGroupId",
    "loa_status": "LoaStatus",
}
P = "expressconnect_physical_connection"


def exporter_config(url: str, secrets: dict[str, str] | None = None, **refresh: float) -> Config:
    secrets = secrets or {}
    data = {
        "web": {"listen_address": "127.0.0.1:0"},
        "refresh": {"interval": "1s", "timeout": "1s", "max_staleness": "1h"},
        "api": {
            "endpoint": url,
            "page_size": 50,
            "max_requests_per_second": 100,
            "retries": 6,
            "request_timeout": "1s",
        },
        "accounts": [
            {
                "name": account.name,
                "credentials": {
                    "type": "access_key",
                    "access_key_id": account.access_key_id,
                    "access_key_secret": secrets.get(account.name, account.access_key_secret),
                },
                "regions": REGIONS,
            }
            for account in ACCOUNTS
        ],
        "labels": {"tags": ["env", "team"]},
        # This suite checks physical connections field by field; the VBR and traffic collectors
        # have suites of their own. Their series would only make every scrape (parsed on the
        # exporter's own event loop, in-process) slower.
        "collectors": {"virtual_border_routers": {"enabled": False}},
    }
    return fast(parse_config(data, "e2e"), **refresh)


@pytest.fixture
def sim() -> Iterator[tuple[Simulator, str]]:
    simulator = Simulator(
        seed=11, connections=250, regions=REGIONS, accounts=ACCOUNTS, lifecycle=False
    )
    with SimulatorThread(simulator) as url:
        yield simulator, url


def unix(text: Any) -> float | None:
    """Independent of the exporter's parser: strptime, with or without the trailing Z."""
    if not text:
        return None
    text = str(text).rstrip("Z")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def check_against_simulator(body: bytes, sim: Simulator, account: str, region: str) -> int:
    """Assert that /metrics says exactly what the simulator holds; returns the count."""
    records = sim.connections(account, region)
    got = samples(body)
    base = {"account": account, "region_id": region}
    info_series = series(body, f"{P}_info", **base)
    assert sorted(s["physical_connection_id"] for s in info_series) == sorted(
        r["PhysicalConnectionId"] for r in records
    )
    by_id = {s["physical_connection_id"]: s for s in info_series}
    for record in records:
        pc = record["PhysicalConnectionId"]
        ident = {**base, "physical_connection_id": pc}
        labels = by_id[pc]
        for label, api_field in INFO_FIELDS.items():
            expected = record.get(api_field)
            assert labels[label] == ("" if expected is None else str(expected)), (pc, label)
        tags = {t["Key"]: t["Value"] for t in record.get("Tags", {}).get("tags", [])}
        assert labels["tag_env"] == tags.get("env", "") and labels["tag_team"] == tags.get(
            "team", ""
        )
        status = "AllocationFailed" if record["Status"] == "Allocation Failed" else record["Status"]
        states = {
            dict(k[1])["status"]: v
            for k, v in got.items()
            if k[0] == f"{P}_status" and dict(k[1]).get("physical_connection_id") == pc
        }
        assert len(states) >= 11 and states[status] == 1 and sum(states.values()) == 1
        business = {
            dict(k[1])["business_status"]: v
            for k, v in got.items()
            if k[0] == f"{P}_business_status" and dict(k[1]).get("physical_connection_id") == pc
        }
        assert business[record["BusinessStatus"]] == 1 and sum(business.values()) == 1
        assert got.get((f"{P}_bandwidth_bytes_per_second", frozenset(ident.items()))) == (
            record["Bandwidth"] * 125_000
        )
        for metric, api_field in (
            ("expiry", "EndTime"),
            ("creation", "CreationTime"),
            ("enabled", "EnabledTime"),
        ):
            assert got.get((f"{P}_{metric}_timestamp_seconds", frozenset(ident.items()))) == unix(
                record.get(api_field)
            ), (pc, metric)
        assert (f"{P}_status_change_timestamp_seconds", frozenset(ident.items())) in got
    assert value(body, "expressconnect_region_physical_connections", **base) == len(records)
    return len(records)


async def test_fleet_of_500_field_by_field_through_throttling_and_5xx(
    sim: tuple[Simulator, str],
) -> None:
    simulator, url = sim
    # Bursts of throttling, 5xx and dropped connections while the first passes run.
    simulator.add_fault({"kind": "Throttling.User", "count": 12, "probability": 0.5})
    simulator.add_fault({"kind": "ServiceUnavailable", "count": 6, "probability": 0.3})
    simulator.add_fault({"kind": "InternalError", "count": 4, "probability": 0.3})
    simulator.add_fault({"kind": "reset", "count": 2, "probability": 0.3})
    cfg = exporter_config(url, interval=30.0)  # one pass per region in this test
    cfg = cfg.model_copy(update={"api": cfg.api.model_copy(update={"page_size": 20})})
    async with Exporter(cfg) as exporter:
        await wait_for(exporter.ready, timeout=60)
        _, body = await scrape(exporter.url)
    total = 0
    for account in ACCOUNTS:
        for region in REGIONS:
            labels = {"account": account.name, "region_id": region}
            assert region_up(body, **labels) == 1, labels
            total += check_against_simulator(body, simulator, account.name, region)
    assert total == 500
    retried = [
        k
        for k in samples(body)
        if k[0] == "expressconnect_api_requests_total" and dict(k[1])["code"] not in ("Success",)
    ]
    assert retried, "the faults fired and were ridden out"


async def test_wrong_secret_for_one_account(sim: tuple[Simulator, str]) -> None:
    simulator, url = sim
    cfg = exporter_config(url, secrets={"beta": "a-wrong-secret"})
    async with Exporter(cfg) as exporter:
        await wait_for(exporter.ready, timeout=30)
        _, body = await scrape(exporter.url)
    for region in REGIONS:
        assert region_up(body, account="beta", region_id=region) == 0
        assert region_up(body, account="alpha", region_id=region) == 1
        check_against_simulator(body, simulator, "alpha", region)
    assert not series(body, f"{P}_info", account="beta")
    assert b"a-wrong-secret" not in body


async def test_half_way_failure_keeps_snapshot_and_deleted_connection_vanishes(
    sim: tuple[Simulator, str],
) -> None:
    simulator, url = sim
    cfg = exporter_config(url, interval=0.3)
    cfg = cfg.model_copy(update={"api": cfg.api.model_copy(update={"page_size": 10})})
    region, account = "cn-shanghai", "alpha"
    labels = {"account": account, "region_id": region}
    async with Exporter(cfg) as exporter:
        await wait_for(exporter.ready, timeout=30)
        _, before = await scrape(exporter.url)
        check_against_simulator(before, simulator, account, region)
        previous = copy.deepcopy(simulator.connections(account, region))
        # Page 3 of every later pass fails for good; page 1 would already show the rename.
        victim = previous[0]["PhysicalConnectionId"]
        simulator.add_fault(
            {"kind": "Forbidden.RAM", "account": account, "region": region, "page": 3}
        )
        simulator.set_fields(victim, {"Name": "renamed-mid-failure"})

        async def down() -> bytes | None:
            _, body = await scrape(exporter.url)
            return body if region_up(body, **labels) == 0 else None

        body = await wait_for(down)
        info = series(body, f"{P}_info", physical_connection_id=victim)[0]
        assert info["name"] == previous[0]["Name"]  # half a pass is never published
        assert len(series(body, f"{P}_info", **labels)) == len(previous)
        # Recovery, then a connection is terminated and deleted.
        simulator.clear_faults()
        simulator.set_fields(victim, {"Status": "Terminated"})

        async def terminated() -> bool:
            _, body = await scrape(exporter.url)
            return (
                value(
                    body,
                    f"{P}_status",
                    status="Terminated",
                    **labels,
                    physical_connection_id=victim,
                )
                == 1
            )

        await wait_for(terminated)
        simulator.remove_connection(victim)

        async def vanished() -> bytes | None:
            _, body = await scrape(exporter.url)
            return None if victim.encode() in body else body

        body = await wait_for(vanished)
        check_against_simulator(body, simulator, account, region)


async def test_staleness_and_restart_keep_status_change_times(
    sim: tuple[Simulator, str], tmp_path: Path
) -> None:
    simulator, url = sim
    cfg = exporter_config(url, interval=0.3, max_staleness=1.5)
    cfg = cfg.model_copy(update={"state_file": tmp_path / "state.json"})
    labels = {"account": "beta", "region_id": "eu-central-1"}
    name = f"{P}_status_change_timestamp_seconds"
    async with Exporter(cfg) as exporter:
        await wait_for(exporter.ready, timeout=30)
        _, body = await scrape(exporter.url)
        since = {
            s["physical_connection_id"]: value(body, name, **s)
            for s in series(body, name, account="alpha")
        }
        assert since and all(v is not None and v <= time.time() for v in since.values())
        simulator.add_fault(
            {"kind": "ServiceUnavailable", "account": "beta", "region": "eu-central-1"}
        )

        async def dropped() -> bool:
            _, body = await scrape(exporter.url)
            return region_up(body, **labels) == 0 and not series(body, f"{P}_info", **labels)

        await wait_for(dropped, timeout=30)
    # the restart happens visibly later than the first sighting
    await wait_for(lambda: time.time() > max(since.values()) + 1.0)
    simulator.clear_faults()
    async with Exporter(cfg) as again:
        await wait_for(again.ready, timeout=30)
        _, body = await scrape(again.url)
    after = {
        s["physical_connection_id"]: value(body, name, **s)
        for s in series(body, name, account="alpha")
    }
    assert after == since


async def test_drift_is_redone_and_mangled_or_hung_responses_retried(
    sim: tuple[Simulator, str],
) -> None:
    simulator, url = sim
    cfg = exporter_config(url, interval=30.0)
    cfg = cfg.model_copy(update={"api": cfg.api.model_copy(update={"page_size": 10})})
    target = {"account": "alpha", "region": "cn-hangzhou"}
    simulator.add_fault({"kind": "shift_records", "page": 2, "count": 1, "delta": 3, **target})
    simulator.add_fault({"kind": "truncated_json", "page": 3, "count": 1, **target})
    simulator.add_fault({"kind": "malformed_json", "page": 4, "count": 1, **target})
    simulator.add_fault({"kind": "hang", "seconds": 2, "page": 5, "count": 1, **target})
    # TotalCount keeps moving in another region: redone once, then the pass fails.
    simulator.add_fault({"kind": "total_count_change", "account": "beta",
                         "region": "cn-shanghai", "page": 2})  # fmt: skip
    async with Exporter(cfg) as exporter:
        await wait_for(exporter.ready, timeout=60)
        _, body = await scrape(exporter.url)
        statuses = {s.key: s for s in exporter.region_statuses()}
    assert region_up(body, account="alpha", region_id="cn-hangzhou") == 1
    check_against_simulator(body, simulator, "alpha", "cn-hangzhou")
    codes = {dict(k[1])["code"] for k in samples(body)
             if k[0] == "expressconnect_api_requests_total"
             and dict(k[1])["region_id"] == "cn-hangzhou"}  # fmt: skip
    assert {"InvalidResponse", "Timeout"} <= codes, codes
    first_pages = [
        r for r in simulator.requests(action="DescribePhysicalConnections")
        if r.account == "alpha" and r.region == "cn-hangzhou" and r.params.get("PageNumber") == "1"
    ]  # fmt: skip
    # The shifted records made the pass start over, once; the redo read page 1 again at its end.
    assert len(first_pages) == 3
    assert region_up(body, account="beta", region_id="cn-shanghai") == 0
    assert "drifted twice" in (statuses[("beta", "cn-shanghai", PC)].last_error or "")
    assert not series(body, f"{P}_info", account="beta", region_id="cn-shanghai")


async def test_client_side_rate_limit_per_account(sim: tuple[Simulator, str]) -> None:
    simulator, url = sim
    cfg = exporter_config(url, interval=30.0)
    api = cfg.api.model_copy(update={"page_size": 10, "max_requests_per_second": 20.0})
    async with Exporter(cfg.model_copy(update={"api": api})) as exporter:
        await wait_for(exporter.ready, timeout=60)
    for account in ACCOUNTS:
        times = sorted(
            r.time for r in simulator.requests(action="DescribePhysicalConnections")
            if r.account == account.name
        )  # fmt: skip
        per_region = [-(-len(simulator.connections(account.name, r)) // 10) for r in REGIONS]
        assert sum(per_region) == 28  # 250 connections over 4 regions, 10 per page
        # A listing of several pages reads its first and last pages again at its end.
        assert len(times) == 28 + 2 * sum(1 for n in per_region if n > 1)
        # All regions of one account share one bucket: n requests at 20/s span >= (n-1)/20 s.
        assert times[-1] - times[0] >= (len(times) - 1) / 20.0 * 0.95
    assert not [r for r in simulator.requests() if r.code.startswith("Throttling")]


async def test_regions_all_discovers_every_region(sim: tuple[Simulator, str]) -> None:
    simulator, url = sim
    cfg = exporter_config(url, interval=30.0)
    alpha = cfg.accounts[0].model_copy(update={"regions": "all"})
    async with Exporter(cfg.model_copy(update={"accounts": (alpha,)})) as exporter:
        await wait_for(exporter.ready, timeout=60)
        await wait_for(lambda: len(exporter.region_statuses()) > 1, timeout=30)
        await wait_for(exporter.ready, timeout=60)
        _, body = await scrape(exporter.url)
        regions = [s.region_id for s in exporter.region_statuses()]
    answered = [
        r for r in simulator.requests(action="DescribeRegions") if r.account == "alpha"
    ]  # fmt: skip
    assert answered and answered[0].code == "OK"
    assert set(REGIONS) <= set(regions)
    for region in regions:
        assert region_up(body, account="alpha", region_id=region) == 1
    for region in REGIONS:
        check_against_simulator(body, simulator, "alpha", region)
