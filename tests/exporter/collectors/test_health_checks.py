"""The health_checks collector against a fake Caller answering in the wire shapes of the
resilience facts sheet: CEN paging by PageNumber without RegionId, every VBR covered, the
HealthCheckOnly default, waiting for the VBR inventory; the wiring of the CEN (cbn) client; and
the golden exposition and one real-HTTP pass of both resilience collectors together."""

from __future__ import annotations

import dataclasses
import os
import subprocess

import pytest

from exporter.accounts import Accounts
from exporter.apis import APIS
from exporter.app import Exporter
from exporter.client import endpoint_url
from exporter.collectors import by_name, failover_tests, health_checks
from exporter.collectors.base import NotReady
from exporter.config import Config, parse_config
from exporter.families import RenderContext
from exporter.plan import CollectorPlan, resolve
from exporter.regiontable import RegionStatus, RegionTable, render_objects
from tests.exporter.collectors.resilience_fakes import (
    CHECKS,
    INVENTORY,
    JOBS,
    NOW,
    REGION,
    calls,
    cen,
    context,
    vpc,
)
from tests.exporter.ecx_fakeapi import GOLDEN, FakeApi, load_recorded_pages
from tests.exporter.test_app import config_dict, value
from tests.harness import require_binary


async def test_health_checks_page_without_region_id_and_cover_every_vbr() -> None:
    ctx = context(cen(CHECKS), page_size=3)
    snap = await health_checks.collect(ctx)
    requests = calls(ctx).of(health_checks.ACTION)
    # Two pages, then both read again: the listing did not move while it was paged.
    assert [r["PageNumber"] for r in requests] == ["1", "2", "1", "2"]
    assert all(r["VbrInstanceRegionId"] == REGION and "RegionId" not in r for r in requests)
    assert {v.id: v.configured for v in snap.vbrs} == {
        "vbr-a": True,
        "vbr-b": True,
        "vbr-c": True,
        "vbr-d": False,
    }
    checks = {c.vbr_id: c for c in snap.checks}
    assert set(checks) == {"vbr-a", "vbr-b", "vbr-c"}
    assert [checks[v].switches_routes for v in ("vbr-a", "vbr-b", "vbr-c")] == [True, False, True]
    assert (checks["vbr-b"].interval_seconds, checks["vbr-b"].healthy_threshold) == (3.0, 5.0)
    assert (checks["vbr-a"].cen_id, checks["vbr-a"].target_ip) == ("cen-1", "10.0.0.2")


@pytest.mark.parametrize(("value", "switches"), [("True", False), ("FALSE", True), (None, True)])
def test_health_check_only_is_read_in_any_spelling(value: object, switches: bool) -> None:
    record = {"VbrInstanceId": "vbr-a", "HealthCheckOnly": value}
    assert health_checks.parse_health_check(record).switches_routes is switches


async def test_health_checks_wait_for_the_vbr_inventory() -> None:
    ctx = dataclasses.replace(context(cen(CHECKS)), sibling=lambda name: None)
    with pytest.raises(NotReady):
        await health_checks.collect(ctx)
    assert not calls(ctx).calls


async def test_a_region_without_vbrs_or_checks_is_an_empty_good_pass() -> None:
    ctx = context(cen([]))
    empty = dataclasses.replace(INVENTORY, vbrs=())
    ctx = dataclasses.replace(ctx, sibling={"virtual_border_routers": empty}.get)
    snap = await health_checks.collect(ctx)
    assert snap.vbrs == () and snap.checks == ()


# --------------------------------------------------------------------------- wiring

KEYS = {"type": "access_key", "access_key_id": "x", "access_key_secret": "y"}
ACCOUNT = {"name": "a", "credentials": KEYS, "regions": [REGION]}


def plan_of(config: Config, name: str) -> CollectorPlan:
    return resolve(config, config.account("a"), by_name()[name])


def test_config_and_cbn_client_defaults() -> None:
    account = ACCOUNT
    config = parse_config({"accounts": [account]}, "test")
    for name in (health_checks.NAME, failover_tests.NAME):
        settings = plan_of(config, name)
        assert (settings.enabled, settings.interval) == (True, 600.0)
    cbn_host = APIS["cbn"].default_host
    assert str(endpoint_url(None, REGION, cbn_host)) == "https://cbn.aliyuncs.com/"
    overridden = parse_config(
        {
            "collectors": {"health_checks": {"interval": "15m"}},
            "accounts": [{**account, "collectors": {"failover_tests": {"enabled": False}}}],
            "api": {"endpoint": "http://127.0.0.1:1"},
        },
        "test",
    )
    assert plan_of(overridden, health_checks.NAME).interval == 900.0
    assert not plan_of(overridden, failover_tests.NAME).enabled
    off = parse_config(
        {"accounts": [{**account, "collectors": {"virtual_border_routers": {"enabled": False}}}]},
        "test",
    )
    reason = plan_of(off, health_checks.NAME).off_reason
    assert reason and "virtual_border_routers" in reason


def test_cbn_client_signs_for_cen() -> None:
    account = ACCOUNT
    for api, expected in (({}, None), ({"endpoint": "http://127.0.0.1:1"}, "http://127.0.0.1:1"),
                          ({"endpoint": "http://127.0.0.1:1", "cbn_endpoint": "http://127.0.0.1:2"},
                           "http://127.0.0.1:2")):  # fmt: skip
        config = parse_config({"accounts": [account], "api": api}, "test")
        accounts = Accounts(lambda credentials: None, lambda *args: None)  # type: ignore[arg-type,return-value]
        accounts._build_clients(config, None)  # type: ignore[arg-type]
        client = accounts.client("a", "cbn")
        assert client is not None
        assert client._settings.api_version == "2017-09-12"
        assert client._settings.endpoint == expected
        assert client._settings.default_host(REGION) == "cbn.aliyuncs.com"


# --------------------------------------------------------------------------- exposition


async def golden_body() -> bytes:
    checks = await health_checks.collect(context(cen(CHECKS)))
    failover = await failover_tests.collect(context(vpc(JOBS), concurrency=1))
    collectors = by_name((health_checks.COLLECTOR, failover_tests.COLLECTOR))
    table = RegionTable(collectors, 600.0)
    statuses = [
        RegionStatus("alpha", REGION, name, passes=1, up=True, last_attempt=NOW,
                     last_success=NOW, last_duration=0.5,
                     snapshot=dataclasses.replace(snap, duration_seconds=0.5))
        for name, snap in ((health_checks.NAME, checks), (failover_tests.NAME, failover))
    ]  # fmt: skip
    # A second region with no VBRs and no jobs: up, and no object series.
    empty = dataclasses.replace(INVENTORY, region_id="cn-shanghai", vbrs=())
    for name, collect, handler in (
        (health_checks.NAME, health_checks.collect, cen([])),
        (failover_tests.NAME, failover_tests.collect, vpc([])),
    ):
        ctx = dataclasses.replace(context(handler), region_id="cn-shanghai",
                                  sibling={"virtual_border_routers": empty}.get)  # fmt: skip
        snap = dataclasses.replace(await collect(ctx), duration_seconds=0.25)  # type: ignore[operator]
        statuses.append(RegionStatus("alpha", "cn-shanghai", name, snapshot=snap, passes=1,
                                     up=True, last_attempt=NOW, last_success=NOW,
                                     last_duration=0.25))  # fmt: skip
    table.reconcile([status.key for status in statuses])
    for status in statuses:
        objects = None
        if status.exposed is not None:
            ctx = RenderContext(status.account, status.region_id)
            objects = render_objects(collectors[status.collector], status.exposed, ctx)
        table.update(status, objects)
    return b"".join(table.exposition.parts(openmetrics=False, gzipped=False))


async def test_golden_resilience_exposition_and_promtool() -> None:
    body = await golden_body()
    golden = GOLDEN / "resilience.prom"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_bytes(body)
    assert body == golden.read_bytes()
    result = subprocess.run(
        [require_binary("promtool"), "check", "metrics"], input=body, capture_output=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert not result.stdout.strip() and not result.stderr.strip()


async def test_one_pass_through_the_signed_clients_of_both_apis() -> None:
    """The daemon's --once path over real HTTP (signatures verified by the fake API): the CEN
    call goes out as Cbn 2017-09-12 without RegionId, the failover calls as VPC; a region with
    no VBRs and no jobs is up for both collectors."""
    api = FakeApi(load_recorded_pages()["accounts"]["prod"])
    async with api.serve() as url:
        data = config_dict(url)
        exporter = Exporter(parse_config(data, "test"))
        await exporter.open()
        try:
            ok = await exporter.refresh_everything()
            body = exporter.body()
        finally:
            await exporter.stop()
    assert ok
    sent = list(zip(api.requests, api.versions, strict=True))
    cen_calls = [(r, v) for r, v in sent if r["_action"] == health_checks.ACTION]
    assert cen_calls and all(v == "2017-09-12" and "RegionId" not in r for r, v in cen_calls)
    assert {r["VbrInstanceRegionId"] for r, _ in cen_calls} == {"cn-hangzhou", "cn-shanghai"}
    jobs = [(r, v) for r, v in sent if r["_action"] == failover_tests.JOBS_ACTION]
    assert jobs and all(v == "2016-04-28" for _, v in jobs)
    for name in (health_checks.NAME, failover_tests.NAME):
        for region in ("cn-hangzhou", "cn-shanghai"):
            up = value(body, "expressconnect_region_up", account="prod", region_id=region,
                       collector=name)  # fmt: skip
            assert up == 1, (name, region)
