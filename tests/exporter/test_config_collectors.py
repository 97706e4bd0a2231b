"""The collectors: defaults, per-account overrides, automatic switch-off, and the new api keys."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config import COLLECTOR_NAMES, CollectorSettings, ConfigError, parse_config


def config_with(**top: Any) -> dict[str, Any]:
    accounts = top.pop("accounts", [{"name": "a", "regions": ["cn-hangzhou"]}])
    return {**top, "accounts": accounts}


def test_collector_names() -> None:
    assert COLLECTOR_NAMES == (
        "physical_connections",
        "virtual_border_routers",
        "traffic",
        "health_checks",
        "failover_tests",
    )


def test_defaults_follow_refresh_interval_for_physical_connections() -> None:
    config = parse_config(config_with(refresh={"interval": "2m"}))
    assert config.collector_settings("a", "physical_connections") == CollectorSettings(
        enabled=True, interval=120.0, auto_disabled_reason=None
    )
    assert config.collector_settings("a", "virtual_border_routers") == CollectorSettings(True, 60.0)
    assert config.collector_settings("a", "traffic") == CollectorSettings(True, 300.0)


def test_account_overrides_win_over_the_top_level() -> None:
    config = parse_config(
        config_with(
            collectors={"traffic": {"interval": "10m"}, "physical_connections": {"enabled": False}},
            accounts=[
                {"name": "a", "regions": "all"},
                {
                    "name": "b",
                    "regions": "all",
                    "collectors": {
                        "physical_connections": {"enabled": True},
                        "traffic": {"interval": "2m"},
                    },
                },
            ],
        )
    )
    assert config.collector_settings("a", "physical_connections").enabled is False
    assert config.collector_settings("a", "traffic").interval == 600.0
    assert config.collector_settings("b", "physical_connections") == CollectorSettings(True, 300.0)
    assert config.collector_settings("b", "traffic").interval == 120.0


def test_traffic_is_switched_off_with_virtual_border_routers() -> None:
    config = parse_config(
        config_with(
            accounts=[
                {"name": "a", "regions": "all"},
                {
                    "name": "novbr",
                    "regions": "all",
                    "collectors": {"virtual_border_routers": {"enabled": False}},
                },
            ]
        )
    )
    settings = config.collector_settings("novbr", "traffic")
    assert settings.enabled is False
    assert settings.auto_disabled_reason is not None
    assert "virtual_border_routers" in settings.auto_disabled_reason
    assert "novbr" in settings.auto_disabled_reason
    assert config.collector_settings("a", "traffic").auto_disabled_reason is None
    # switched off by the user: not "automatic"
    off = parse_config(config_with(collectors={"traffic": {"enabled": False}}))
    assert off.collector_settings("a", "traffic") == CollectorSettings(False, 300.0, None)


def test_collector_settings_refuses_unknown_names() -> None:
    config = parse_config(config_with())
    with pytest.raises(KeyError):
        config.collector_settings("nobody", "traffic")
    with pytest.raises(ValueError, match="unknown collector 'trafic'"):
        config.collector_settings("a", "trafic")


def test_settings_are_frozen() -> None:
    settings = parse_config(config_with()).collector_settings("a", "traffic")
    with pytest.raises(AttributeError):
        settings.enabled = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            config_with(collectors={"trafic": {}}),
            "<config>: collectors.trafic: unknown collector 'trafic' (did you mean 'traffic'?)"
            " (one of: physical_connections, virtual_border_routers, traffic, health_checks,"
            " failover_tests)",
        ),
        (
            config_with(
                accounts=[
                    {"name": "a", "regions": "all", "collectors": {"virtual_border_router": {}}}
                ]
            ),
            "<config>: accounts[0].collectors.virtual_border_router: unknown collector"
            " 'virtual_border_router' (did you mean 'virtual_border_routers'?) (one of:"
            " physical_connections, virtual_border_routers, traffic, health_checks,"
            " failover_tests)",
        ),
        (
            config_with(collectors={"traffic": {"enabeld": True}}),
            "<config>: collectors.traffic.enabeld: unknown key (did you mean 'enabled'?)",
        ),
        (
            config_with(collectors={"traffic": {"interval": "500ms"}}),
            "<config>: collectors.traffic.interval: must be at least 1s",
        ),
        (
            config_with(
                collectors={"traffic": {"interval": "2h"}}, refresh={"max_staleness": "1h"}
            ),
            "<config>: collectors.traffic.interval: 2h must not exceed refresh.max_staleness (1h):"
            " series would drop between two good passes",
        ),
        (
            config_with(collectors={"traffic": {"enabled": "maybe"}}),
            "<config>: collectors.traffic.enabled: expected true or false",
        ),
    ],
)
def test_collector_errors(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == expected


def test_a_long_collector_interval_raises_the_default_staleness() -> None:
    config = parse_config(config_with(collectors={"traffic": {"interval": "2h"}}))
    assert config.refresh.max_staleness == 7200.0


def test_null_collector_blocks_mean_defaults() -> None:
    config = parse_config(config_with(collectors={"traffic": None}))
    assert config.collector_settings("a", "traffic") == CollectorSettings(True, 300.0)
    assert parse_config(config_with(collectors=None)).collectors.traffic.enabled is None


def test_api_limits_and_cloudmonitor_defaults() -> None:
    api = parse_config(config_with()).api
    assert api.max_records_per_region == 100_000
    assert api.cms_endpoint is None
    assert api.cms_max_requests_per_second == 10.0
    api = parse_config(
        config_with(
            api={
                "max_records_per_region": 5,
                "cms_endpoint": "http://127.0.0.1:18080/{region_id}",
                "cms_max_requests_per_second": 0.5,
            }
        )
    ).api
    assert (api.max_records_per_region, api.cms_max_requests_per_second) == (5, 0.5)
    assert api.cms_endpoint == "http://127.0.0.1:18080/{region_id}"


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        ({"max_records_per_region": 0}, "api.max_records_per_region: must be at least 1"),
        (
            {"cms_max_requests_per_second": 0},
            "api.cms_max_requests_per_second: must be greater than 0",
        ),
        (
            {"cms_endpoint": "metrics.example.com"},
            "api.cms_endpoint: invalid endpoint 'metrics.example.com': expected an http:// or"
            " https:// URL",
        ),
        (
            {"cms_endpoint": "https://u:pw@127.0.0.1"},
            "api.cms_endpoint: invalid endpoint: user info (user:password@) is not allowed",
        ),
    ],
)
def test_api_errors(api: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(api=api))
    assert str(caught.value) == f"<config>: {expected}"


def test_pass_timeouts_follow_each_collectors_interval() -> None:
    """Physical connections keep refresh.timeout; the others may use 90 % of their interval,
    as one account's rate-limited calls can need longer than refresh.timeout."""
    cfg = parse_config(
        {"accounts": [{"name": "a", "regions": ["cn-hangzhou"]}],
         "collectors": {"traffic": {"interval": "10m"}}},
        "test",
    )  # fmt: skip
    timeouts = {
        name: cfg.collector_settings("a", name).timeout
        for name in ("physical_connections", "virtual_border_routers", "traffic")
    }
    assert timeouts == {
        "physical_connections": 120.0,
        "virtual_border_routers": 120.0,
        "traffic": 540.0,
    }
