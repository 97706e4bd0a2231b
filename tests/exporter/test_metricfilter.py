"""``metrics.allow`` / ``metrics.deny`` applied: what ``/metrics`` carries, in every variant, and
what a reload changes; the filter's own rules and its load warnings."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import cli
from exporter.app import Exporter
from exporter.collectors import COLLECTORS, by_name
from exporter.collectors import physical_connections as pc
from exporter.config import load_config
from exporter.families import RenderContext
from exporter.metricfilter import (
    KEEP_ALL,
    FamilyFilter,
    collector_families,
    filtered,
    load_warnings,
    own_health_families,
    shipped_usage,
)
from exporter.regiontable import HEALTH_FAMILIES, render_objects
from exporter.selfmetrics import API_REQUESTS, BUILD_INFO
from exporter.simulator import Simulator, SimulatorThread
from exporter.simulator.accounts import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from tests.exporter.ecx_fakeapi import FakeApi
from tests.exporter.test_app import (
    PC,
    config_dict,
    fast,
    make_config,
    pages,  # noqa: F401  (the fixture)
    region_up,
    scrape,
    series,
    value,
    wait_for,
)

INFO = pc.INFO
STATUS = pc.STATUS
COUNT = pc.REGION_COUNT
HZ = {"account": "prod", "region_id": "cn-hangzhou"}
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def test_deny_wins_over_allow_and_own_health_is_always_kept() -> None:
    keep = FamilyFilter(allow=("expressconnect_vbr_.*",), deny=("expressconnect_vbr_info",))
    assert keep.keeps("expressconnect_vbr_status")
    assert not keep.keeps("expressconnect_vbr_info")
    assert not keep.keeps(STATUS)  # not allowed
    broad = FamilyFilter(deny=(".*",))
    assert not any(broad.keeps(name) for name in collector_families(COLLECTORS))
    assert all(broad.keeps(name) for name in own_health_families())


def test_own_health_families_come_from_where_they_are_defined() -> None:
    own = own_health_families()
    assert {family.name for family in HEALTH_FAMILIES} <= own
    assert {API_REQUESTS, BUILD_INFO, "process_cpu_seconds_total"} <= own
    assert not own & set(collector_families(COLLECTORS))  # a collector family is never exempt


def test_filtered_tables_render_nothing_dropped() -> None:
    collector = by_name()[PC]
    keep = FamilyFilter(deny=(INFO, "expressconnect_region_.*"))
    assert filtered(collector, KEEP_ALL) is collector
    table = filtered(collector, keep)
    names = [family.name for group in table.records for family in group.families]
    assert INFO not in names and STATUS in names
    assert not table.counts  # the per-region count matched the broad pattern
    # A kind of record left without a family is not walked at all.
    only = filtered(collector, FamilyFilter(allow=(STATUS,)))
    assert [[f.name for f in group.families] for group in only.records] == [[STATUS]]


async def test_a_denied_family_is_never_served_and_health_stays(pages: Any) -> None:  # noqa: F811
    api = FakeApi(pages)
    async with api.serve() as url:
        config = make_config(url, metrics={"deny": [INFO, "expressconnect_region_.*"]})
        async with Exporter(config) as exporter:
            await wait_for(lambda: region_up_of(exporter) == 1)
            _, plain = await scrape(exporter.url)
            _, zipped = await scrape(exporter.url, **{"Accept-Encoding": "gzip"})
            _, om = await scrape(exporter.url, Accept=OPENMETRICS, **{"Accept-Encoding": "gzip"})
            exposition = exporter.exposition()
            snapshot = next(s for s in exporter.region_statuses() if s.collector == PC).snapshot
    for body in (plain, gzip.decompress(zipped)):
        text = body.decode()
        assert INFO not in text and COUNT not in text  # no sample, no HELP or TYPE line
        assert series(body, STATUS, **HZ)
        assert region_up(body, **HZ) == 1  # denied by the broad pattern, kept
        assert value(body, "expressconnect_region_refresh_errors_total", **HZ, collector=PC) == 0
        assert value(body, "expressconnect_region_last_success_timestamp_seconds", **HZ,
                     collector=PC) is not None  # fmt: skip
    assert INFO not in gzip.decompress(om).decode() and STATUS in gzip.decompress(om).decode()
    # The members prepared for gzip scrapes never held the family.
    for part in (*exposition.text_gzip, *exposition.openmetrics_gzip):
        assert INFO.encode() not in gzip.decompress(part)
    # What a pass renders with the filtered tables.
    keep = FamilyFilter(deny=(INFO,))
    ctx = RenderContext("prod", "cn-hangzhou")
    assert INFO not in render_objects(filtered(by_name()[PC], keep), snapshot, ctx)
    assert INFO in render_objects(by_name()[PC], snapshot, ctx)


def region_up_of(exporter: Exporter) -> float:
    statuses = [s for s in exporter.region_statuses() if s.collector == PC]
    return 1.0 if statuses and all(s.up for s in statuses) else 0.0


def _passes(exporter: Exporter) -> int:
    return sum(s.passes for s in exporter.region_statuses() if s.collector == PC)


async def test_a_reload_applies_a_changed_list(
    pages: Any,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = FakeApi(pages)
    path = tmp_path / "exporter.yml"
    warning = "metric family dropped by metrics.allow/deny is used by shipped alerts or dashboards"

    def warned() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage() == warning]

    async with api.serve() as url:
        data = config_dict(url)
        path.write_text(yaml.safe_dump(data))
        # A long interval: no pass runs between a reload and the scrape after it.
        loader = lambda: fast(load_config(path), interval=3600)  # noqa: E731
        async with Exporter(loader(), loader=loader) as exporter:
            await wait_for(lambda: region_up_of(exporter) == 1)
            _, body = await scrape(exporter.url)
            assert series(body, INFO, **HZ) and series(body, STATUS, **HZ)
            passes = _passes(exporter)
            caplog.set_level(logging.WARNING)

            data["metrics"] = {"deny": [STATUS]}
            path.write_text(yaml.safe_dump(data))
            assert (await exporter.reload())[0]
            _, body = await scrape(exporter.url)
            assert not series(body, STATUS) and series(body, INFO, **HZ)
            [record] = warned()  # once, naming the family and who reads it
            assert record.__dict__["family"] == STATUS
            assert record.__dict__["used_by"] == ", ".join(shipped_usage()[STATUS])
            assert "alert ExpressConnect" in record.__dict__["used_by"]

            assert (await exporter.reload())[0]  # the same list: nothing logged again
            assert len(warned()) == 1

            data["metrics"] = {"allow": [STATUS]}
            path.write_text(yaml.safe_dump(data))
            assert (await exporter.reload())[0]
            _, body = await scrape(exporter.url)
            assert series(body, STATUS, **HZ) and not series(body, INFO)
            assert region_up(body, **HZ) == 1

            del data["metrics"]
            path.write_text(yaml.safe_dump(data))
            assert (await exporter.reload())[0]
            _, body = await scrape(exporter.url)
            assert series(body, INFO, **HZ) and series(body, STATUS, **HZ)
            # Re-rendered from the kept snapshots, not by new passes.
            assert _passes(exporter) == passes


def test_load_warnings() -> None:
    assert load_warnings(KEEP_ALL, COLLECTORS) == []
    up = "expressconnect_region_up"
    [(message, fields)] = load_warnings(FamilyFilter(deny=(up,)), COLLECTORS)
    assert "only the exporter's own health families" in message
    assert fields == {"pattern": up, "families": up}
    unused = [name for name in collector_families(COLLECTORS) if name not in shipped_usage()]
    if unused:  # a family nothing shipped reads drops without a warning
        assert load_warnings(FamilyFilter(deny=(unused[0],)), COLLECTORS) == []


def test_once_with_the_flags_against_the_simulator(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """The command line end to end: the flags reach what ``--once`` prints."""
    sim = Simulator(seed=1, connections=8, regions=["cn-hangzhou"], lifecycle=False)
    with SimulatorThread(sim) as url:
        path = tmp_path / "exporter.yml"
        credentials = {"type": "access_key", "access_key_id": DEFAULT_ACCESS_KEY_ID,
                       "access_key_secret": DEFAULT_ACCESS_KEY_SECRET}  # fmt: skip
        account = {"name": "sim", "credentials": credentials, "regions": ["cn-hangzhou"]}
        data = {"api": {"endpoint": url}, "accounts": [account], "metrics": {"allow": [INFO]}}
        path.write_text(yaml.safe_dump(data))
        argv = ["--config", str(path), "--once", "--log.level", "error"]
        # The flag replaces the file's allow list (empty: every family), then denies a pattern.
        flags = ["--metric-allowlist", "", "--metric-denylist", "expressconnect_(vbr|bgp)_.*"]
        root, scheduler = logging.getLogger(), logging.getLogger("apscheduler")
        handlers, levels = list(root.handlers), (root.level, scheduler.level)
        try:
            status = cli.main([*argv, *flags])
        finally:  # the command set up logging for a process: give the other tests theirs back
            root.handlers[:] = handlers
            root.setLevel(levels[0])
            scheduler.setLevel(levels[1])
        out = capsysbinary.readouterr().out.decode()
    assert status == cli.EXIT_OK
    assert f"\n{STATUS}{{" in out and f"\n{INFO}{{" in out
    assert "expressconnect_vbr_" not in out and "expressconnect_bgp_" not in out
    up = 'expressconnect_region_up{account="sim",region_id="cn-hangzhou",collector="traffic"} 1'
    assert up in out  # health of a collector whose every family is denied
