"""The Alibaba Cloud APIs the collectors call: one table, ``APIS``, keyed by ``Collector.api``.

Each entry says which product version is signed, where its endpoint comes from in the ``api:``
section of the configuration (an override, or the product's host for the region), its rate
limit, and how it answers errors. The clients (``Accounts``) and the pass plan both read it;
adding an API is one entry here plus its endpoint field in ``ApiConfig``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from exporter.client import API_VERSION, ClientSettings, endpoint_url
from exporter.config import ApiConfig
from exporter.region_ids import endpoint_host


def cms_host(region_id: str) -> str:
    """CloudMonitor's regional host (built here: the SDK's map misses some regions)."""
    return f"metrics.{region_id}.aliyuncs.com"


@dataclass(frozen=True, slots=True)
class Api:
    """One API product, as the clients and the plan need it."""

    #: The product version every request signs (``x-acs-version``).
    version: str
    #: The endpoint override from the ``api:`` section (``{region_id}`` may be in it), or None
    #: for ``https://<default_host(region)>/``.
    endpoint: Callable[[ApiConfig], str | None]
    #: The host for a region when no override is configured.
    default_host: Callable[[str], str]
    #: Requests per second and account.
    max_requests_per_second: Callable[[ApiConfig], float]
    #: Whether a 200 answer with ``"Success": false`` (or a ``Code`` other than "200") is an
    #: error, as CloudMonitor answers errors.
    success_field: bool = False

    def client_settings(self, api: ApiConfig) -> ClientSettings:
        return ClientSettings(
            endpoint=self.endpoint(api),
            request_timeout=api.request_timeout,
            retries=api.retries,
            max_requests_per_second=self.max_requests_per_second(api),
            api_version=self.version,
            default_host=self.default_host,
            success_field=self.success_field,
            max_response_bytes=api.max_response_bytes,
        )

    def url(self, api: ApiConfig, region_id: str) -> str:
        """The URL a pass in ``region_id`` calls (for the plan and the logs)."""
        return str(endpoint_url(self.endpoint(api), region_id, self.default_host))


APIS: Mapping[str, Api] = MappingProxyType(
    {
        # VPC: Express Connect physical connections, VBRs, BGP, DescribeRegions.
        "vpc": Api(
            version=API_VERSION,
            endpoint=lambda api: api.endpoint,
            default_host=endpoint_host,
            max_requests_per_second=lambda api: api.max_requests_per_second,
        ),
        # CloudMonitor: one override for both APIs (a proxy, the simulator) unless CMS has its own.
        "cms": Api(
            version="2019-01-01",
            endpoint=lambda api: api.cms_endpoint or api.endpoint,
            default_host=cms_host,
            max_requests_per_second=lambda api: api.cms_max_requests_per_second,
            success_field=True,
        ),
        # CEN (Cbn): one central host for every region; the region goes in the request.
        "cbn": Api(
            version="2017-09-12",
            endpoint=lambda api: api.cbn_endpoint or api.endpoint,
            default_host=lambda region_id: "cbn.aliyuncs.com",
            max_requests_per_second=lambda api: api.max_requests_per_second,
        ),
    }
)

#: The API region discovery (``regions: all``) calls.
DISCOVERY_API = "vpc"
