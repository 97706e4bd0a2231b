"""The live block: the exporter's own metrics (API requests, reloads, errors), per scrape.

Small, so it is rendered by prometheus_client's registry when scraped (cached for a second);
everything about the fleet is rendered at refresh instead (``exporter.exposition``).
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Iterable, Mapping

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client import exposition as text_exposition
from prometheus_client.openmetrics import exposition as om_exposition
from prometheus_client.platform_collector import PlatformCollector

API_REQUESTS = "expressconnect_api_requests_total"
API_DURATION = "expressconnect_api_request_duration_seconds"
BUILD_INFO = "expressconnect_exporter_build_info"
RELOAD_OK = "expressconnect_config_last_reload_successful"
RELOAD_TIMESTAMP = "expressconnect_config_last_reload_success_timestamp_seconds"
REFRESH_ERRORS = "expressconnect_region_refresh_errors_total"
UNKNOWN_ENUMS = "expressconnect_unknown_enum_values_total"

LIVE_MAX_AGE = 1.0
API_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SelfMetrics:
    """The live block: the exporter's own metrics, rendered per scrape (it is small)."""

    def __init__(self, version: str) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self._cache: dict[tuple[bool, bool], tuple[float, bytes]] = {}
        self._tracked: set[tuple[str, str, str]] = set()
        # Collectors' own counters (``Collector.tallies``), by name; which ones each has.
        self._tallies: dict[str, Counter] = {}
        self._tallies_of: dict[str, tuple[str, ...]] = {}
        self._tally_accounts: set[tuple[str, str]] = set()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(GC_COLLECTOR)
        self.api_requests = Counter(
            API_REQUESTS,
            "API requests by action and result code (Success, the API's error code, a "
            "transport error class, or Cancelled); every attempt that reached the API or may "
            "have, retries included.",
            ["account", "region_id", "action", "code"],
            registry=self.registry,
        )
        self.api_duration = Histogram(
            API_DURATION,
            "VPC API request latency by action, every attempt.",
            ["action"],
            buckets=API_DURATION_BUCKETS,
            registry=self.registry,
        )
        build = Gauge(
            BUILD_INFO,
            "Exporter build: 1, with the version as a label.",
            ["version"],
            registry=self.registry,
        )
        build.labels(version).set(1)
        self.reload_ok = Gauge(
            RELOAD_OK,
            "1 when the last configuration (re)load succeeded; 0 keeps the previous one running.",
            registry=self.registry,
        )
        self.reload_timestamp = Gauge(
            RELOAD_TIMESTAMP,
            "Unix time of the last successful configuration load.",
            registry=self.registry,
        )
        self.refresh_errors = Counter(
            REFRESH_ERRORS,
            "Failed refresh passes by account, region and collector (the previous snapshot was "
            "kept).",
            ["account", "region_id", "collector"],
            registry=self.registry,
        )
        self.unknown_enum_values = Counter(
            UNKNOWN_ENUMS,
            "Enumeration values outside the documented set (by API field), per record and pass.",
            ["field"],
            registry=self.registry,
        )

    def observe_request(
        self, account: str, region_id: str, action: str, code: str, seconds: float
    ) -> None:
        self.api_requests.labels(account, region_id, action, code).inc()
        self.api_duration.labels(action).observe(seconds)

    def track_regions(self, keys: Iterable[tuple[str, str, str]]) -> None:
        """Error counters exactly for these (account, region, collector) keys, new ones at 0.

        Present from the start, so ``increase()`` sees the first failure; a key that left the
        configuration takes its counter with it.
        """
        wanted = set(keys)
        for labels in self._tracked - wanted:
            with contextlib.suppress(KeyError):
                self.refresh_errors.remove(*labels)
        for labels in wanted - self._tracked:
            self.refresh_errors.labels(*labels)
        self._tracked = wanted
        accounts = {(name, a) for a, _, c in wanted for name in self._tallies_of.get(c, ())}
        for name, account in self._tally_accounts - accounts:
            with contextlib.suppress(KeyError):
                self._tallies[name].remove(account)
        for name, account in accounts - self._tally_accounts:
            self._tallies[name].labels(account)
        self._tally_accounts = accounts
        self.invalidate()

    def declare_tallies(self, by_collector: Mapping[str, Iterable[tuple[str, str]]]) -> None:
        """Counters the collectors declare (name, help), per account; ``track_regions`` makes
        each present at 0 for the accounts its collector runs for."""
        for collector, tallies in by_collector.items():
            names = []
            for name, help_text in tallies:
                if name not in self._tallies:
                    self._tallies[name] = Counter(
                        name, help_text, ["account"], registry=self.registry
                    )
                names.append(name)
            self._tallies_of[collector] = tuple(names)

    def add_tally(self, name: str, account: str, amount: int) -> None:
        if amount > 0:
            self._tallies[name].labels(account).inc(amount)
            self.invalidate()

    def loaded(self, *, ok: bool, now: float) -> None:
        """A configuration (re)load: accepted, or rejected with the previous one kept."""
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_timestamp.set(now)
        self.invalidate()

    def declare_enum_fields(self, fields: Iterable[str]) -> None:
        """Unknown-value counters at 0 for every checked field, before anything odd is seen."""
        for field in fields:
            self.unknown_enum_values.labels(field)

    def count_unknown(self, field: str) -> None:
        self.unknown_enum_values.labels(field).inc()
        self.invalidate()

    def render(self, *, openmetrics: bool, gzipped: bool = False) -> bytes:
        """The live block, re-rendered at most every ``LIVE_MAX_AGE`` seconds (and after events).

        prometheus_client's renderer costs about a millisecond; without the cache it would be
        most of a scrape's cost under many concurrent scrapers.
        """
        key = (openmetrics, gzipped)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < LIVE_MAX_AGE:
            return cached[1]
        body = self._render(openmetrics)
        if gzipped:
            body = gzip.compress(body, compresslevel=1, mtime=0)
        self._cache[key] = (now, body)
        return body

    def invalidate(self) -> None:
        """Something the exporter counts changed (a pass ended, a reload): render afresh."""
        self._cache.clear()

    def _render(self, openmetrics: bool) -> bytes:
        if openmetrics:
            return bytes(om_exposition.generate_latest(self.registry))  # type: ignore[no-untyped-call]
        return text_exposition.generate_latest(self.registry)
