"""Unset times derive from set ones; every single key set alone is a valid configuration; every
problem in a file is reported, one self-contained line each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporter.config import ConfigError, load_config, parse_config

ACCOUNT = {"name": "a", "regions": ["cn-hangzhou"]}

# (section, key, value): each alone, the rest default, must validate
SINGLE_KEYS: list[tuple[str, str, object]] = [
    ("refresh", "interval", "1s"),
    ("refresh", "interval", "30s"),
    ("refresh", "interval", "1m"),
    ("refresh", "interval", "2h"),
    ("refresh", "interval", "1d"),
    ("refresh", "timeout", "1s"),
    ("refresh", "timeout", "5s"),
    ("refresh", "timeout", "5m"),
    ("refresh", "max_staleness", "5m"),
    ("refresh", "max_staleness", "1d"),
    ("api", "request_timeout", "100ms"),
    ("api", "request_timeout", "2m"),
    ("api", "page_size", 1),
    ("api", "max_requests_per_second", 0.1),
    ("api", "retries", 0),
    ("api", "max_records_per_region", 1),
    ("api", "cms_max_requests_per_second", 100),
    ("api", "cms_endpoint", "http://127.0.0.1:1"),
    ("api", "endpoint", "http://127.0.0.1:1/{region_id}"),
    ("api", "max_response_bytes", 65536),
    ("api", "max_response_bytes", 1 << 34),
    ("collectors", "traffic", {"interval": "1s"}),
    ("collectors", "traffic", {"interval": "3h"}),
    ("collectors", "virtual_border_routers", {"enabled": False}),
    ("collectors", "physical_connections", {"interval": "1d"}),
    ("web", "listen_address", "127.0.0.1:0"),
    ("web", "telemetry_path", "/m"),
    ("web", "write_timeout", "100ms"),
    ("web", "write_timeout", "1h"),
    ("log", "level", "debug"),
    ("log", "format", "json"),
    ("labels", "tags", ["env"]),
]


@pytest.mark.parametrize(
    ("section", "key", "value"), SINGLE_KEYS, ids=[f"{s}.{k}={v}" for s, k, v in SINGLE_KEYS]
)
def test_every_key_alone_is_valid(section: str, key: str, value: object) -> None:
    config = parse_config({section: {key: value}, "accounts": [ACCOUNT]})
    refresh = config.refresh
    assert refresh.timeout <= refresh.interval <= refresh.max_staleness
    assert config.api.request_timeout <= refresh.timeout


@pytest.mark.parametrize(
    ("refresh", "api", "expected"),
    [
        ({"interval": "30s"}, {}, (30.0, 30.0, 3600.0, 10.0)),
        ({"interval": "5s"}, {}, (5.0, 5.0, 3600.0, 5.0)),
        ({"interval": "2h"}, {}, (7200.0, 120.0, 7200.0, 10.0)),
        ({"timeout": "3s"}, {}, (300.0, 3.0, 3600.0, 3.0)),
        ({}, {}, (300.0, 120.0, 3600.0, 10.0)),
        (
            {"interval": "30s", "timeout": "20s"},
            {"request_timeout": "15s"},
            (30.0, 20.0, 3600.0, 15.0),
        ),
    ],
)
def test_unset_times_derive_from_set_ones(
    refresh: dict[str, Any], api: dict[str, Any], expected: tuple[float, ...]
) -> None:
    config = parse_config({"refresh": refresh, "api": api, "accounts": [ACCOUNT]})
    r = config.refresh
    assert (r.interval, r.timeout, r.max_staleness, config.api.request_timeout) == expected


@pytest.mark.parametrize(
    ("refresh", "api", "expected"),
    [
        (
            {"interval": "30s", "timeout": "1m"},
            {},
            "refresh.timeout: 1m must not exceed refresh.interval (30s): passes of one region"
            " would overlap",
        ),
        (
            {"interval": "2h", "max_staleness": "1h"},
            {},
            "refresh.max_staleness: 1h must be at least refresh.interval (2h): series would drop"
            " between two good passes",
        ),
        (
            {"interval": "30s"},
            {"request_timeout": "1m"},
            "api.request_timeout: 1m must not exceed refresh.timeout (30s)",
        ),
    ],
)
def test_explicit_contradictions_stay_errors(
    refresh: dict[str, Any], api: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"refresh": refresh, "api": api, "accounts": [ACCOUNT]})
    assert str(caught.value) == f"<config>: {expected}"


def test_every_problem_is_reported_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(
        "web: {listen_adress: ':9756'}\n"
        "api: {page_size: 500, retries: -1}\n"
        "accounts:\n"
        "  - {name: a, regions: [cn-hangzou, xx-nowhere-1, cn-beijing, cn-beijing]}\n"
        "  - {name: a, regions: all, filters: {Stat: x, Status: [a, b, c, d, e, f]}}\n"
        "labels: {tags: [env, '', env]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert error.lines == tuple(
        f"{path}: {line}"
        for line in (
            "web.listen_adress: unknown key (did you mean 'listen_address'?)",
            "api.page_size: must be at most 50",
            "api.retries: must be at least 0",
            "accounts[0].regions[0]: unknown region 'cn-hangzou' (did you mean 'cn-hangzhou'?)",
            "accounts[0].regions[1]: unknown region 'xx-nowhere-1'",
            "accounts[0].regions[3]: region 'cn-beijing' is listed twice",
            "accounts[1].filters.Stat: unknown filter key 'Stat' (did you mean 'Status'?) (one"
            " of: PhysicalConnectionId, AccessPointId, Type, LineOperator, Spec, Status, Name,"
            " ProductType)",
            "accounts[1].filters.Status: at most 5 values are allowed, got 6",
            "labels.tags[1]: expected a non-empty tag key",
            "labels.tags[2]: tag key 'env' is listed twice",
        )
    )
    assert str(error) == "\n".join(error.lines)
    # the first line is what a single-problem report said: the first problem
    assert (error.path, error.problem) == (
        "web.listen_adress",
        "unknown key (did you mean 'listen_address'?)",
    )


def test_account_names_twice_and_cross_field_problems_all_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "refresh": {"interval": "1m", "timeout": "2m", "max_staleness": "30s"},
                "api": {"request_timeout": "3m"},
                "accounts": [ACCOUNT, ACCOUNT, ACCOUNT],
            }
        )
    assert [line.split(": ")[1] for line in caught.value.lines] == [
        "accounts[1].name",
        "accounts[2].name",
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "refresh": {"interval": "1m", "timeout": "2m", "max_staleness": "30s"},
                "api": {"request_timeout": "3m"},
                "accounts": [ACCOUNT],
            }
        )
    assert [line.split(": ")[1] for line in caught.value.lines] == [
        "refresh.timeout",
        "refresh.max_staleness",
        "api.request_timeout",
    ]


@pytest.mark.parametrize("regions", ["ALL", "All", ["ALL"]])
def test_regions_all_in_capitals_gets_a_hint(regions: object) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"accounts": [{"name": "a", "regions": regions}]})
    assert str(caught.value).endswith("(did you mean 'all'?)")
    assert "accounts[0].regions" in str(caught.value)
