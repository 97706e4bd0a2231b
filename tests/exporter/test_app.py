"""The running exporter in-process (real HTTP both ways) against recorded pages."""

from __future__ import annotations

import asyncio
import copy
import functools
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.config import Config, load_config, parse_config
from exporter.daemon import run_once
from tests.exporter.ecx_fakeapi import KEY_ID, SECRET, FakeApi, load_recorded_pages

FORBIDDEN = (403, {"Code": "Forbidden.RAM", "Message": "User not authorized."})

PC = "physical_connections"  # the collector label of the connection passes


def config_dict(url: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "web": {"listen_address": "127.0.0.1:0"},
        "refresh": {"interval": "1s", "timeout": "1s", "max_staleness": "1h"},
        "api": {
            "endpoint": url,
            "page_size": 5,
            "max_requests_per_second": 200,
            "retries": 1,
            "request_timeout": "1s",
        },
        "accounts": [
            {
                "name": "prod",
                "credentials": {
                    "type": "access_key",
                    "access_key_id": KEY_ID,
                    "access_key_secret": SECRET,
                },
                "regions": ["cn-hangzhou", "cn-shanghai"],
            }
        ],
        "labels": {"tags": ["env", "owner"]},
    }
    for key, value in overrides.items():
        data[key] = value
    return data


def fast(config: Config, interval: float = 0.3, **refresh: float) -> Config:
    """The config with a sub-second interval (validation asks for >= 1s; tests want speed)."""
    changed = config.refresh.model_copy(update={"interval": interval, "timeout": 5.0, **refresh})
    return config.model_copy(update={"refresh": changed})


def make_config(url: str, **overrides: Any) -> Config:
    return fast(parse_config(config_dict(url, **overrides), "test"))


async def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def scrape(url: str, **headers: str) -> tuple[dict[str, str], bytes]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        headers.setdefault("Accept-Encoding", "identity")
        async with session.get(url + "/metrics", headers=headers) as response:
            assert response.status == 200
            return dict(response.headers), await response.read()


@functools.lru_cache(maxsize=4)  # tests look up many values in one body: parse it once
def samples(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(body: bytes, name: str, **labels: str) -> float | None:
    return samples(body).get((name, frozenset(labels.items())))


def region_up(body: bytes, **labels: str) -> float | None:
    """``expressconnect_region_up`` of the physical connections collector."""
    return value(body, "expressconnect_region_up", **labels, collector=PC)


def series(body: bytes, name: str, **labels: str) -> list[dict[str, str]]:
    found = []
    for (sample_name, sample_labels), _ in samples(body).items():
        as_dict = dict(sample_labels)
        if sample_name == name and all(as_dict.get(k) == v for k, v in labels.items()):
            found.append(as_dict)
    return found


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


@pytest.fixture
def pages() -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(load_recorded_pages()["accounts"]["prod"])


async def test_ready_after_first_pass_and_metrics_match_pages(pages: Any) -> None:
    api = FakeApi(pages)
    api.gate = asyncio.Event()
    async with api.serve() as url, Exporter(make_config(url)) as exporter:
        assert (await get(exporter.url + "/readyz"))[0] == 503
        assert (await get(exporter.url + "/healthz"))[0] == 200
        _, body = await scrape(exporter.url)  # a scrape never waits on the API
        assert region_up(body, account="prod", region_id="cn-hangzhou") == 0
        api.gate.set()
        await wait_for(lambda: exporter.ready())
        assert (await get(exporter.url + "/readyz"))[0] == 200
        _, body = await scrape(exporter.url)
    for region, count in (("cn-hangzhou", 13), ("cn-shanghai", 3)):
        labels = {"account": "prod", "region_id": region}
        assert region_up(body, **labels) == 1
        assert value(body, "expressconnect_region_physical_connections", **labels) == count
        assert len(series(body, "expressconnect_physical_connection_info", **labels)) == count
    info = series(
        body, "expressconnect_physical_connection_info", physical_connection_id="pc-bp1hz0005golden"
    )[0]
    assert info["tag_env"] == "prod" and info["tag_owner"] == "team-2"
    assert info["line_operator"] == "Other" and info["port_type"] == "40GBase-LR"
    assert value(body, "expressconnect_exporter_build_info", version=exporter.version) == 1
    assert value(body, "expressconnect_config_last_reload_successful") == 1
    ok = value(
        body,
        "expressconnect_api_requests_total",
        account="prod",
        region_id="cn-hangzhou",
        action="DescribePhysicalConnections",
        code="Success",
    )
    assert ok is not None and ok >= 3
    assert value(body, "expressconnect_unknown_enum_values_total", field="Status") >= 1  # type: ignore[operator]
    assert any(key[0] == "process_resident_memory_bytes" for key in samples(body))


async def test_content_negotiation_and_gzip(pages: Any) -> None:
    api = FakeApi(pages)
    async with api.serve() as url, Exporter(make_config(url)) as exporter:
        await wait_for(lambda: exporter.ready())
        api.gate = asyncio.Event()  # no pass completes meanwhile: both scrapes see one exposition
        headers, plain = await scrape(exporter.url)
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        headers, zipped = await scrape(exporter.url, **{"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip"
        unzipped = gzip.decompress(zipped)
        static = plain[: plain.index(b"# HELP process_")]
        assert unzipped.startswith(static)
        accept = (
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )
        headers, om = await scrape(exporter.url, Accept=accept, **{"Accept-Encoding": "gzip"})
        assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        om_text = gzip.decompress(om).decode()
        assert om_text.endswith("# EOF\n") and om_text.count("# EOF") == 1
        assert "# TYPE expressconnect_physical_connection info\n" in om_text
        # The strict OpenMetrics parser accepts the whole body (info family, EOF, escaping).
        families = {f.name: f for f in om_parser.text_string_to_metric_families(om_text)}
        assert families["expressconnect_physical_connection"].type == "info"
        api.gate.set()
        names = [
            line.split()[2] for line in plain.decode().splitlines() if line.startswith("# TYPE")
        ]
        assert len(names) == len(set(names))  # each family's header exactly once


async def test_wrong_secret_account_is_down_while_the_other_completes(pages: Any) -> None:
    api = FakeApi(pages, secrets={KEY_ID: SECRET, "dev-key": "dev-secret"})
    async with api.serve() as url:
        data = config_dict(url)
        data["accounts"].append(
            {
                "name": "dev",
                "credentials": {
                    "type": "access_key",
                    "access_key_id": "dev-key",
                    "access_key_secret": "not-the-dev-secret",
                },
                "regions": ["cn-hangzhou"],
            }
        )
        async with Exporter(fast(parse_config(data, "test"))) as exporter:
            await wait_for(lambda: exporter.ready())
            _, body = await scrape(exporter.url)
            _, page = await get(exporter.url + "/")
    assert region_up(body, account="dev", region_id="cn-hangzhou") == 0
    assert region_up(body, account="prod", region_id="cn-hangzhou") == 1
    assert len(series(body, "expressconnect_physical_connection_info", account="dev")) == 0
    assert len(series(body, "expressconnect_physical_connection_info", account="prod")) == 16
    rejected = value(
        body,
        "expressconnect_api_requests_total",
        account="dev",
        region_id="cn-hangzhou",
        action="DescribePhysicalConnections",
        code="SignatureDoesNotMatch",
    )
    failed_passes = value(
        body,
        "expressconnect_region_refresh_errors_total",
        account="dev",
        region_id="cn-hangzhou",
        collector=PC,
    )
    assert rejected is not None and rejected == failed_passes  # one request per pass: no retry
    assert "SignatureDoesNotMatch" in page and "dev" in page
    for text in (body.decode(), page):
        assert "not-the-dev-secret" not in text and SECRET not in text


async def test_failed_pass_keeps_snapshot_then_staleness_drops_it(pages: Any) -> None:
    api = FakeApi(pages)
    async with api.serve() as url:
        cfg = fast(make_config(url), 0.2, max_staleness=1.5)
        async with Exporter(cfg) as exporter:
            await wait_for(lambda: exporter.ready())
            # From now on every request fails for good (not retryable): passes fail.
            api.fail_all = FORBIDDEN
            labels = {"account": "prod", "region_id": "cn-hangzhou"}

            async def down() -> bool:
                _, body = await scrape(exporter.url)
                return region_up(body, **labels) == 0

            await wait_for(down)
            _, body = await scrape(exporter.url)
            assert len(series(body, "expressconnect_physical_connection_info", **labels)) == 13
            assert value(body, "expressconnect_region_physical_connections", **labels) == 13
            assert (
                value(body, "expressconnect_region_refresh_errors_total", **labels, collector=PC)
                >= 1
            )  # type: ignore[operator]
            last_ok = value(
                body, "expressconnect_region_last_success_timestamp_seconds", **labels, collector=PC
            )
            assert last_ok is not None and last_ok < time.time()

            async def dropped() -> bool:
                _, body = await scrape(exporter.url)
                return not series(body, "expressconnect_physical_connection_info", **labels)

            await wait_for(dropped)
            _, body = await scrape(exporter.url)
            assert value(body, "expressconnect_region_physical_connections", **labels) == 0
            assert (
                value(
                    body,
                    "expressconnect_region_last_success_timestamp_seconds",
                    **labels,
                    collector=PC,
                )
                == last_ok
            )
            _, page = await get(exporter.url + "/")
            assert "stale" in page and "Forbidden.RAM" in page
            # The API recovers: everything comes back.
            api.fail_all = None

            async def back() -> bool:
                _, body = await scrape(exporter.url)
                return len(series(body, "expressconnect_physical_connection_info", **labels)) == 13

            await wait_for(back)


async def test_deleted_connection_vanishes_and_status_change_is_tracked(
    pages: Any, tmp_path: Path
) -> None:
    api = FakeApi(pages)
    state_file = tmp_path / "state" / "exporter.json"
    async with api.serve() as url:
        cfg = make_config(url, state_file=str(state_file))
        async with Exporter(cfg) as exporter:
            await wait_for(lambda: exporter.ready())
            _, body = await scrape(exporter.url)
            gone = {"physical_connection_id": "pc-uf6terminated03"}
            changing = {
                "account": "prod",
                "region_id": "cn-hangzhou",
                "physical_connection_id": "pc-bp1hz0000golden",
            }
            steady = dict(changing, physical_connection_id="pc-bp1hz0001golden")
            name = "expressconnect_physical_connection_status_change_timestamp_seconds"
            first_change = value(body, name, **changing)
            steady_since = value(body, name, **steady)
            assert first_change is not None and steady_since is not None
            assert series(body, "expressconnect_physical_connection_info", **gone)
            # Delete one connection in cn-shanghai, change one status in cn-hangzhou.
            shanghai = pages["cn-shanghai"][0]
            records = shanghai["PhysicalConnectionSet"]["PhysicalConnectionType"]
            shanghai["PhysicalConnectionSet"]["PhysicalConnectionType"] = records[:2]
            shanghai["TotalCount"] = 2
            for page in pages["cn-hangzhou"]:
                for record in page["PhysicalConnectionSet"]["PhysicalConnectionType"]:
                    if record["PhysicalConnectionId"] == changing["physical_connection_id"]:
                        record["Status"] = "Approved"

            async def updated() -> Any:
                _, body = await scrape(exporter.url)
                if series(body, "expressconnect_physical_connection_info", **gone):
                    return None
                if (
                    value(
                        body,
                        "expressconnect_physical_connection_status",
                        status="Approved",
                        **changing,
                    )
                    != 1
                ):
                    return None
                return body

            body = await wait_for(updated)
            assert not any(
                gone["physical_connection_id"] in line for line in body.decode().splitlines()
            )
            changed_at = value(body, name, **changing)
            assert changed_at is not None and changed_at > first_change
            assert value(body, name, **steady) == steady_since
        saved = json.loads(state_file.read_text())
        # Its series went at once; its times stay for refresh.max_staleness in case it comes
        # back (docs/configuration.md), then go (tests/exporter/test_passes.py).
        assert "pc-uf6terminated03" in saved["accounts"]["prod"]["cn-shanghai"]
        # Restart: the status-change times come back from the state file, not "now".
        async with Exporter(cfg) as again:
            await wait_for(lambda: again.ready())
            _, body = await scrape(again.url)
            assert value(body, name, **changing) == changed_at
            assert value(body, name, **steady) == steady_since


async def test_reload_with_bad_config_keeps_serving(pages: Any, tmp_path: Path) -> None:
    api = FakeApi(pages)
    path = tmp_path / "exporter.yml"
    async with api.serve() as url:
        path.write_text(yaml.safe_dump(config_dict(url)))
        loader = lambda: fast(load_config(path))  # noqa: E731
        async with Exporter(loader(), loader=loader) as exporter:
            await wait_for(lambda: exporter.ready())
            path.write_text("accounts:\n  - name: prod\n    regions: [cn-hangzou]\n")
            async with (
                aiohttp.ClientSession() as session,
                session.post(exporter.url + "/-/reload") as response,
            ):
                assert response.status == 500
                text = await response.text()
            assert "cn-hangzou" in text and "keeping the running configuration" in text
            _, body = await scrape(exporter.url)
            assert value(body, "expressconnect_config_last_reload_successful") == 0
            assert region_up(body, account="prod", region_id="cn-shanghai") == 1
            # A good config applies: a region goes away, another account's region appears.
            data = config_dict(url)
            data["accounts"][0]["regions"] = ["cn-hangzhou"]
            path.write_text(yaml.safe_dump(data))
            ok, message = await exporter.reload()
            assert ok, message
            _, body = await scrape(exporter.url)
            assert value(body, "expressconnect_config_last_reload_successful") == 1
            assert not series(body, "expressconnect_region_up", region_id="cn-shanghai")
            assert not series(
                body, "expressconnect_physical_connection_info", region_id="cn-shanghai"
            )


async def test_a_collector_switched_off_by_reload_leaves_the_state_file(
    pages: Any, tmp_path: Path
) -> None:
    api = FakeApi(pages)
    path, state_file = tmp_path / "exporter.yml", tmp_path / "state.json"
    async with api.serve() as url:
        data = config_dict(url, state_file=str(state_file))
        path.write_text(yaml.safe_dump(data))
        loader = lambda: fast(load_config(path))  # noqa: E731
        async with Exporter(loader(), loader=loader) as exporter:
            await wait_for(lambda: exporter.ready())
            await wait_for(lambda: state_file.exists())
            assert json.loads(state_file.read_text())["accounts"]["prod"]
            data["collectors"] = {"physical_connections": {"enabled": False}}
            path.write_text(yaml.safe_dump(data))
            ok, message = await exporter.reload()
            assert ok, message
            # Written at the reload: no times that nothing updates any more.
            assert json.loads(state_file.read_text())["accounts"] == {}


async def test_regions_all_uses_describe_regions(pages: Any) -> None:
    api = FakeApi(pages)
    async with api.serve() as url:
        data = config_dict(url)
        data["accounts"][0]["regions"] = "all"
        async with Exporter(fast(parse_config(data, "test"))) as exporter:
            regions = lambda: sorted({s.region_id for s in exporter.region_statuses()})  # noqa: E731
            await wait_for(lambda: exporter.ready() and len(regions()) == 2)
            await wait_for(lambda: all(s.up for s in exporter.region_statuses()))
    assert regions() == ["cn-hangzhou", "cn-shanghai"]
    assert any(r["_action"] == "DescribeRegions" for r in api.requests)


async def test_run_once(pages: Any) -> None:
    api = FakeApi(pages)
    async with api.serve() as url:
        body, ok = await run_once(make_config(url))
        assert ok
        assert (
            value(
                body,
                "expressconnect_region_physical_connections",
                account="prod",
                region_id="cn-hangzhou",
            )
            == 13
        )
        api.fail_all = FORBIDDEN
        body, ok = await run_once(make_config(url))
        assert not ok
        assert region_up(body, account="prod", region_id="cn-hangzhou") == 0


async def test_landing_page_escapes_api_error_text(pages: Any) -> None:
    api = FakeApi(pages)
    api.fail_all = (403, {"Code": "Forbidden.RAM", "Message": "<script>alert(1)</script>"})
    async with api.serve() as url, Exporter(make_config(url)) as exporter:
        await wait_for(lambda: exporter.ready())
        status, page = await get(exporter.url + "/")
    assert status == 200 and exporter.version in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "cn-hangzhou" in page and "FAILING" in page
