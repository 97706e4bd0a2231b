"""Golden exposition: recorded multi-page API responses → /metrics bytes, byte for byte.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/exporter`` and review
the diff by eye: the golden files are the contract dashboards and alerts are built on.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import subprocess
from pathlib import Path

import aiohttp
import pytest

from exporter.client import AccountClient, ClientSettings
from exporter.collectors import by_name, physical_connections
from exporter.collectors.base import PassContext
from exporter.credentials import Credential, StaticCredentialSource
from exporter.exposition import Exposition
from exporter.families import RenderContext, tag_label_names
from exporter.regiontable import RegionStatus, RegionTable, render_objects
from exporter.state_file import StateStore
from tests.exporter.ecx_fakeapi import GOLDEN, KEY_ID, SECRET, FakeApi, load_recorded_pages
from tests.harness import require_binary

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TAGS = ("env", "owner", "cost-center")


async def recorded_statuses() -> tuple[list[RegionStatus], dict[tuple[str, str], dict[str, float]]]:
    api = FakeApi(load_recorded_pages()["accounts"]["prod"])
    state = StateStore(None)
    statuses: list[RegionStatus] = []
    since: dict[tuple[str, str], dict[str, float]] = {}
    async with api.serve() as url, aiohttp.ClientSession() as session:
        settings = ClientSettings(
            endpoint=url, request_timeout=2.0, retries=0, max_requests_per_second=1000.0
        )
        source = StaticCredentialSource("access_key", Credential(KEY_ID, SECRET))
        client = AccountClient(session, "prod", source, settings)
        for index, region in enumerate(("cn-hangzhou", "cn-shanghai")):
            ctx = PassContext(client, "prod", region, page_size=5, clock=lambda: NOW)
            snap = await physical_connections.collect(ctx)
            since[("prod", region)] = state.observe("prod", region, snap.connections, NOW - 60)
            statuses.append(
                RegionStatus(
                    account="prod",
                    region_id=region,
                    collector=physical_connections.NAME,
                    snapshot=dataclasses.replace(snap, duration_seconds=0.5),
                    passes=3,
                    up=True,
                    last_attempt=NOW,
                    last_success=NOW,
                    last_duration=0.25 + index,
                )
            )
    # A region whose passes keep failing, still within max_staleness: old data, up 0.
    failing = dataclasses.replace(
        statuses[1], up=False, last_error="Forbidden.RAM", last_duration=0.125
    )
    statuses[1] = failing
    # A region that never succeeded and one gone stale: only their health series remain.
    statuses.append(
        RegionStatus("dev", "cn-beijing", physical_connections.NAME, passes=1, last_duration=2.0)
    )
    statuses.append(
        dataclasses.replace(
            statuses[0], account="dev", stale=True, up=False, last_success=NOW - 7200
        )
    )
    return statuses, since


def assemble(
    statuses: list[RegionStatus], since: dict[tuple[str, str], dict[str, float]]
) -> Exposition:
    """The daemon's path: objects rendered per snapshot, the table assembles the exposition."""
    collector = physical_connections.COLLECTOR
    table = RegionTable(by_name((collector,)), 300.0)
    table.reconcile([status.key for status in statuses])
    for status in statuses:
        objects = None
        if status.exposed is not None:
            ctx = RenderContext(
                status.account, status.region_id, tag_label_names(TAGS), since[status.key[:2]]
            )
            objects = render_objects(collector, status.exposed, ctx)
        table.update(status, objects)
    return table.exposition


@pytest.mark.parametrize(
    ("openmetrics", "name"), [(False, "exposition.prom"), (True, "exposition.openmetrics.txt")]
)
async def test_golden_exposition(openmetrics: bool, name: str) -> None:
    statuses, since = await recorded_statuses()
    body = b"".join(assemble(statuses, since).parts(openmetrics=openmetrics, gzipped=False))
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_bytes(body)
    assert body == golden.read_bytes()


def test_golden_passes_promtool(tmp_path: Path) -> None:
    binary = require_binary("promtool")
    result = subprocess.run(
        [binary, "check", "metrics"],
        input=(GOLDEN / "exposition.prom").read_bytes(),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert not result.stdout.strip() and not result.stderr.strip()


async def test_gzip_members_join_to_the_same_bytes() -> None:
    statuses, since = await recorded_statuses()
    exposition = assemble(statuses, since)
    for openmetrics in (False, True):
        plain = b"".join(exposition.parts(openmetrics=openmetrics, gzipped=False))
        zipped = b"".join(exposition.parts(openmetrics=openmetrics, gzipped=True))
        assert gzip.decompress(zipped) == plain
