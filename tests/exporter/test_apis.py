"""The API table: each API's version, endpoint (override or regional host) and rate limit come
from one entry and the ``api:`` section, and every registered collector names a known API."""

from __future__ import annotations

from exporter.apis import APIS, DISCOVERY_API
from exporter.collectors import COLLECTORS
from exporter.config import parse_config

ACCOUNTS = [{"name": "a", "regions": ["cn-hangzhou"]}]


def test_every_collector_calls_a_declared_api() -> None:
    assert {c.api for c in COLLECTORS} <= set(APIS)
    assert DISCOVERY_API in APIS


def test_default_endpoints_are_the_regional_hosts() -> None:
    api = parse_config({"accounts": ACCOUNTS}).api
    assert APIS["vpc"].url(api, "cn-beijing") == "https://vpc.cn-beijing.aliyuncs.com/"
    assert APIS["cms"].url(api, "cn-beijing") == "https://metrics.cn-beijing.aliyuncs.com/"


def test_one_override_serves_both_unless_cloudmonitor_has_its_own() -> None:
    api = parse_config({"api": {"endpoint": "http://127.0.0.1:1/{region_id}"},
                        "accounts": ACCOUNTS}).api  # fmt: skip
    assert APIS["cms"].url(api, "cn-x") == "http://127.0.0.1:1/cn-x"
    api = parse_config(
        {
            "api": {"endpoint": "http://127.0.0.1:1", "cms_endpoint": "http://127.0.0.1:2"},
            "accounts": ACCOUNTS,
        }
    ).api
    assert APIS["vpc"].url(api, "cn-x") == "http://127.0.0.1:1/"
    assert APIS["cms"].url(api, "cn-x") == "http://127.0.0.1:2/"


def test_client_settings_take_version_limit_and_error_style_from_the_entry() -> None:
    api = parse_config({"api": {"cms_max_requests_per_second": 2.5}, "accounts": ACCOUNTS}).api
    vpc, cms = APIS["vpc"].client_settings(api), APIS["cms"].client_settings(api)
    assert (vpc.api_version, vpc.max_requests_per_second, vpc.success_field) == (
        "2016-04-28", 10.0, False)  # fmt: skip
    assert (cms.api_version, cms.max_requests_per_second, cms.success_field) == (
        "2019-01-01", 2.5, True)  # fmt: skip
