"""The collectors' settings: built from the registry, defaults from each collector's
declaration, per-account overrides, automatic switch-off (``needs``), and the api keys."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.collectors import COLLECTORS, by_name
from exporter.config import Config, ConfigError, parse_config
from exporter.plan import CollectorPlan, build_plan, resolve


def config_with(**top: Any) -> dict[str, Any]:
    accounts = top.pop("accounts", [{"name": "a", "regions": ["cn-hangzhou"]}])
    return {**top, "accounts": accounts}


def settings(config: Config, account: str, name: str) -> CollectorPlan:
    return resolve(config, config.account(account), by_name()[name])


def on_at(plan: CollectorPlan) -> tuple[bool, float, str | None]:
    return plan.enabled, plan.interval, plan.off_reason


def test_the_collectors_blocks_are_the_registry() -> None:
    names = tuple(parse_config(config_with()).collectors.names())
    assert names == tuple(collector.name for collector in COLLECTORS)
    assert names == (
        "physical_connections",
        "virtual_border_routers",
        "traffic",
        "health_checks",
        "failover_tests",
    )


def test_defaults_follow_refresh_interval_for_physical_connections() -> None:
    config = parse_config(config_with(refresh={"interval": "2m"}))
    assert on_at(settings(config, "a", "physical_connections")) == (True, 120.0, None)
    assert on_at(settings(config, "a", "virtual_border_routers")) == (True, 60.0, None)
    assert on_at(settings(config, "a", "traffic")) == (True, 300.0, None)


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
    assert settings(config, "a", "physical_connections").enabled is False
    assert settings(config, "a", "traffic").interval == 600.0
    assert on_at(settings(config, "b", "physical_connections")) == (True, 300.0, None)
    assert settings(config, "b", "traffic").interval == 120.0


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
    novbr = settings(config, "novbr", "traffic")
    assert novbr.enabled is False
    assert novbr.off_reason == (
        "the traffic collector needs the virtual_border_routers collector,"
        " which is disabled for account 'novbr'"
    )
    assert settings(config, "a", "traffic").off_reason is None
    off_reasons = [p.off_reason for p in build_plan(config, COLLECTORS).off()]
    assert off_reasons == [
        f"the {name} collector needs the virtual_border_routers collector,"
        " which is disabled for account 'novbr'"
        for name in ("traffic", "health_checks", "failover_tests")
    ]
    # switched off by the user: not "automatic"
    off = parse_config(config_with(collectors={"traffic": {"enabled": False}}))
    assert on_at(settings(off, "a", "traffic")) == (False, 300.0, None)


def test_collector_blocks_refuse_unknown_names() -> None:
    config = parse_config(config_with())
    with pytest.raises(KeyError):
        config.account("nobody")
    with pytest.raises(ValueError, match="unknown collector 'trafic'"):
        config.collectors.get("trafic")
    assert config.collectors.entry("trafic") is None


def test_settings_are_frozen() -> None:
    plan = settings(parse_config(config_with()), "a", "traffic")
    with pytest.raises(AttributeError):
        plan.enabled = False  # type: ignore[misc]


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
    assert on_at(settings(config, "a", "traffic")) == (True, 300.0, None)
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
        name: settings(cfg, "a", name).timeout
        for name in ("physical_connections", "virtual_border_routers", "traffic")
    }
    assert timeouts == {
        "physical_connections": 120.0,
        "virtual_border_routers": 120.0,
        "traffic": 540.0,
    }
