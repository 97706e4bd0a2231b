"""The exposition: region snapshots → bytes, rendered once per refresh, never per scrape.

Every (metric family, region) pair is rendered into its own chunk of sample lines, plain and
gzipped. A scrape writes, family by family, the family's HELP/TYPE header followed by each
region's chunk, then the small live block (self-metrics from a prometheus_client registry). So
each family's header appears once however many regions there are, and a gzipped scrape is a
concatenation of gzip members prepared in advance (concatenated members are one valid stream).

Static families are gauges in both formats and their sample lines are byte-identical in text
0.0.4 and OpenMetrics; only the header of the ``_info`` family differs (OpenMetrics ``info``).
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

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

from exporter.config import tag_label_name
from exporter.durations import format_duration
from exporter.snapshot import BUSINESS_STATUSES, STATUSES, PhysicalConnection, RegionStatus

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

BYTES_PER_MBIT = 125_000
_GZIP_LEVEL = 6
_COALESCE_BELOW = 32 * 1024

INFO = "expressconnect_physical_connection_info"
STATUS = "expressconnect_physical_connection_status"
BUSINESS_STATUS = "expressconnect_physical_connection_business_status"
BANDWIDTH = "expressconnect_physical_connection_bandwidth_bytes_per_second"
EXPIRY = "expressconnect_physical_connection_expiry_timestamp_seconds"
CREATION = "expressconnect_physical_connection_creation_timestamp_seconds"
ENABLED = "expressconnect_physical_connection_enabled_timestamp_seconds"
STATUS_CHANGE = "expressconnect_physical_connection_status_change_timestamp_seconds"
REGION_UP = "expressconnect_region_up"
REGION_LAST_SUCCESS = "expressconnect_region_last_success_timestamp_seconds"
REGION_DURATION = "expressconnect_region_refresh_duration_seconds"
REGION_CONNECTIONS = "expressconnect_region_physical_connections"

# Family → HELP (without the caching note, added with the configured interval).
CONNECTION_FAMILIES: dict[str, str] = {
    INFO: "Express Connect physical connection: 1, with its descriptive attributes as labels.",
    STATUS: "Physical connection lifecycle status as a state set: 1 for the current status.",
    BUSINESS_STATUS: "Physical connection business status as a state set: 1 for the current one.",
    BANDWIDTH: "Physical connection bandwidth (the API's Mbit/s times 125000).",
    EXPIRY: "Physical connection expiry time (EndTime) as Unix time; absent when there is none.",
    CREATION: "Physical connection creation time (CreationTime) as Unix time.",
    ENABLED: "Physical connection enabled time (EnabledTime) as Unix time.",
    STATUS_CHANGE: "When this exporter first saw the connection's current status, as Unix time.",
}
REGION_FAMILIES: dict[str, str] = {
    REGION_UP: "1 when the last refresh of this account and region succeeded, else 0.",
    REGION_LAST_SUCCESS: "Unix time of the last successful refresh of this account and region.",
    REGION_DURATION: "Wall time of the last refresh pass of this account and region.",
    REGION_CONNECTIONS: "Number of physical connections exported for this account and region.",
}
FAMILIES: tuple[str, ...] = (*CONNECTION_FAMILIES, *REGION_FAMILIES)


def tag_label_names(tags: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(label name, tag key) pairs for the configured tags (the config rejects collisions)."""
    pairs: dict[str, str] = {}
    for key in tags:
        pairs.setdefault(tag_label_name(key), key)
    return tuple(pairs.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Sample lines of one family for one region, and the same bytes as one gzip member."""

    plain: bytes
    gzipped: bytes


def _chunk(lines: list[str]) -> Chunk:
    plain = "".join(lines).encode()
    return Chunk(plain, gzip.compress(plain, _GZIP_LEVEL, mtime=0) if plain else b"")


@dataclass(frozen=True, slots=True)
class RegionBlock:
    """Everything one account/region contributes to ``/metrics``, per family, ready to send."""

    key: tuple[str, str]
    chunks: Mapping[str, Chunk]


def render_connections(
    account: str,
    region_id: str,
    connections: Sequence[PhysicalConnection],
    status_since: Mapping[str, float],
    tag_labels: Sequence[tuple[str, str]] = (),
) -> dict[str, Chunk]:
    """Per-connection families for one region (pure: same input, same bytes)."""
    lines: dict[str, list[str]] = {family: [] for family in CONNECTION_FAMILIES}
    region_labels = f'account="{_escape(account)}",region_id="{_escape(region_id)}"'
    for conn in connections:
        ident = f'{region_labels},physical_connection_id="{_escape(conn.id)}"'
        info = "".join(f',{label}="{_escape(value)}"' for label, value in conn.info_labels())
        tags = "".join(f',{label}="{_escape(conn.tags.get(key, ""))}"' for label, key in tag_labels)
        lines[INFO].append(f"{INFO}{{{ident}{info}{tags}}} 1\n")
        for family, label, known, current in (
            (STATUS, "status", STATUSES, conn.status),
            (BUSINESS_STATUS, "business_status", BUSINESS_STATUSES, conn.business_status),
        ):
            out = lines[family]
            for state in known:
                out.append(f'{family}{{{ident},{label}="{state}"}} {int(state == current)}\n')
            if current and current not in known:
                out.append(f'{family}{{{ident},{label}="{_escape(current)}"}} 1\n')
        for family, value in (
            (
                BANDWIDTH,
                None if conn.bandwidth_mbps is None else conn.bandwidth_mbps * BYTES_PER_MBIT,
            ),
            (EXPIRY, conn.end_time),
            (CREATION, conn.creation_time),
            (ENABLED, conn.enabled_time),
            (STATUS_CHANGE, status_since.get(conn.id)),
        ):
            if value is not None:
                lines[family].append(f"{family}{{{ident}}} {_number(value)}\n")
    return {family: _chunk(family_lines) for family, family_lines in lines.items()}


def render_region_health(status: RegionStatus) -> dict[str, Chunk]:
    """The per-region families (up, last success, duration, count)."""
    labels = f'{{account="{_escape(status.account)}",region_id="{_escape(status.region_id)}"}}'
    values: list[tuple[str, float | None]] = [
        (REGION_UP, 1.0 if status.up else 0.0),
        (REGION_LAST_SUCCESS, status.last_success),
        (REGION_DURATION, status.last_duration),
        (REGION_CONNECTIONS, float(len(status.exposed_connections))),
    ]
    return {
        family: _chunk([] if value is None else [f"{family}{labels} {_number(value)}\n"])
        for family, value in values
    }


def build_block(
    status: RegionStatus,
    connection_chunks: Mapping[str, Chunk] | None,
) -> RegionBlock:
    """Join a region's connection chunks (``None`` when stale or never read) with its health."""
    chunks: dict[str, Chunk] = dict(connection_chunks or {})
    chunks.update(render_region_health(status))
    return RegionBlock(
        key=status.key, chunks={family: chunk for family, chunk in chunks.items() if chunk.plain}
    )


def _help_line(name: str, text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {escaped}\n"


def family_headers(interval_seconds: float) -> dict[str, tuple[bytes, bytes]]:
    """Family → (text 0.0.4 header, OpenMetrics header); HELP notes the data is cached."""
    note = f" Cached: refreshed every {format_duration(interval_seconds)} per account and region."
    headers: dict[str, tuple[bytes, bytes]] = {}
    for family, help_text in {**CONNECTION_FAMILIES, **REGION_FAMILIES}.items():
        text = _help_line(family, help_text + note) + f"# TYPE {family} gauge\n"
        if family == INFO:
            base = family.removesuffix("_info")
            om = _help_line(base, help_text + note) + f"# TYPE {base} info\n"
        else:
            om = text
        headers[family] = (text.encode(), om.encode())
    return headers


def _coalesce(parts: Iterable[bytes]) -> tuple[bytes, ...]:
    """Merge runs of small parts so a scrape makes few writes; big parts are passed by reference."""
    out: list[bytes] = []
    pending: list[bytes] = []
    pending_size = 0
    for part in parts:
        if not part:
            continue
        if len(part) >= _COALESCE_BELOW:
            if pending:
                out.append(b"".join(pending))
                pending, pending_size = [], 0
            out.append(part)
            continue
        pending.append(part)
        pending_size += len(part)
        if pending_size >= _COALESCE_BELOW:
            out.append(b"".join(pending))
            pending, pending_size = [], 0
    if pending:
        out.append(b"".join(pending))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Exposition:
    """The static part of ``/metrics`` in four encodings, as lists of byte parts."""

    text: tuple[bytes, ...]
    text_gzip: tuple[bytes, ...]
    openmetrics: tuple[bytes, ...]
    openmetrics_gzip: tuple[bytes, ...]

    def parts(self, *, openmetrics: bool, gzipped: bool) -> tuple[bytes, ...]:
        if openmetrics:
            return self.openmetrics_gzip if gzipped else self.openmetrics
        return self.text_gzip if gzipped else self.text


def build_exposition(
    blocks: Iterable[RegionBlock], headers: Mapping[str, tuple[bytes, bytes]]
) -> Exposition:
    """Order blocks by family then (account, region); cheap: parts are shared, not copied."""
    ordered = sorted(blocks, key=lambda block: block.key)
    gz_headers = {
        family: tuple(gzip.compress(h, _GZIP_LEVEL, mtime=0) for h in pair)
        for family, pair in headers.items()
    }

    def parts(variant: int, gzipped: bool) -> Iterator[bytes]:
        for family in FAMILIES:
            chunks = [block.chunks[family] for block in ordered if family in block.chunks]
            if not chunks:
                continue
            yield (gz_headers if gzipped else headers)[family][variant]
            for chunk in chunks:
                yield chunk.gzipped if gzipped else chunk.plain

    return Exposition(
        text=_coalesce(parts(0, False)),
        text_gzip=_coalesce(parts(0, True)),
        openmetrics=_coalesce(parts(1, False)),
        openmetrics_gzip=_coalesce(parts(1, True)),
    )


def render_static(
    statuses: Iterable[RegionStatus],
    status_since: Mapping[tuple[str, str], Mapping[str, float]],
    tag_labels: Sequence[tuple[str, str]],
    interval_seconds: float,
    *,
    openmetrics: bool = False,
) -> bytes:
    """The whole static exposition in one go (for ``--once``, golden files and tests)."""
    blocks = []
    for status in statuses:
        connections = status.exposed_connections
        chunks = (
            render_connections(
                status.account,
                status.region_id,
                connections,
                status_since.get(status.key, {}),
                tag_labels,
            )
            if status.snapshot is not None and not status.stale
            else None
        )
        blocks.append(build_block(status, chunks))
    exposition = build_exposition(blocks, family_headers(interval_seconds))
    return b"".join(exposition.parts(openmetrics=openmetrics, gzipped=False))


LIVE_MAX_AGE = 1.0
API_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SelfMetrics:
    """The live block: the exporter's own metrics, rendered per scrape (it is small)."""

    def __init__(self, version: str) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self._cache: dict[tuple[bool, bool], tuple[float, bytes]] = {}
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(GC_COLLECTOR)
        self.api_requests = Counter(
            "expressconnect_api_requests_total",
            "VPC API requests by action and result code (Success, the API's error code, or a "
            "transport error class); every attempt, retries included.",
            ["account", "region_id", "action", "code"],
            registry=self.registry,
        )
        self.api_duration = Histogram(
            "expressconnect_api_request_duration_seconds",
            "VPC API request latency by action, every attempt.",
            ["action"],
            buckets=API_DURATION_BUCKETS,
            registry=self.registry,
        )
        build = Gauge(
            "expressconnect_exporter_build_info",
            "Exporter build: 1, with the version as a label.",
            ["version"],
            registry=self.registry,
        )
        build.labels(version).set(1)
        self.reload_ok = Gauge(
            "expressconnect_config_last_reload_successful",
            "1 when the last configuration (re)load succeeded; 0 keeps the previous one running.",
            registry=self.registry,
        )
        self.reload_timestamp = Gauge(
            "expressconnect_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
            registry=self.registry,
        )
        self.refresh_errors = Counter(
            "expressconnect_region_refresh_errors_total",
            "Failed refresh passes by account and region (the previous snapshot was kept).",
            ["account", "region_id"],
            registry=self.registry,
        )
        self.unknown_enum_values = Counter(
            "expressconnect_unknown_enum_values_total",
            "Status or BusinessStatus values outside the documented set, per record and pass.",
            ["field"],
            registry=self.registry,
        )

    def observe_request(
        self, account: str, region_id: str, action: str, code: str, seconds: float
    ) -> None:
        self.api_requests.labels(account, region_id, action, code).inc()
        self.api_duration.labels(action).observe(seconds)

    def forget_region(self, account: str, region_id: str) -> None:
        """A region left the configuration: its error counter goes with it."""
        with contextlib.suppress(KeyError):
            self.refresh_errors.remove(account, region_id)

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
