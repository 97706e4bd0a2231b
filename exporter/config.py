"""The exporter's YAML configuration: reading, ``${ENV}`` interpolation and validation.

Everything that can be checked without the network is checked here, at start and by
``--check-config``, so that a typo (``cn-hangzou``) stops the daemon with one line naming the
YAML path instead of surfacing as a failed refresh an hour later. The result is a frozen pydantic
model the rest of the exporter reads; secrets stay ``SecretStr`` so no repr or error prints them.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from exporter.durations import DurationError, format_duration, parse_duration
from exporter.regions import REGION_IDS
from exporter.vocabulary import FILTER_KEYS, MAX_FILTER_KEYS

log = logging.getLogger(__name__)

__all__ = [
    "COLLECTOR_NAMES",
    "FILTER_KEYS",
    "MAX_YAML_NODES",
    "AccessKeyCredentials",
    "AccountConfig",
    "ApiConfig",
    "CollectorConfig",
    "CollectorSettings",
    "CollectorsConfig",
    "Config",
    "ConfigError",
    "CredentialsConfig",
    "DefaultCredentials",
    "EcsRamRoleCredentials",
    "LabelsConfig",
    "LogConfig",
    "OidcRoleArnCredentials",
    "RamRoleArnCredentials",
    "RefreshConfig",
    "StrictModel",
    "StsCredentials",
    "UniqueKeyLoader",
    "WebConfig",
    "YamlTooLargeError",
    "load_config",
    "parse_config",
    "split_listen_address",
    "tag_label_name",
]

MAX_FILTER_VALUES = 5

CREDENTIAL_TYPES: tuple[str, ...] = (
    "default",
    "access_key",
    "sts",
    "ram_role_arn",
    "ecs_ram_role",
    "oidc_role_arn",
)

_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(Exception):
    """Configuration problems, one line each: ``<source>: <yaml path>: <problem>``.

    ``path`` and ``problem`` describe the first problem (the one a reader fixes first); ``lines``
    holds every problem found, each line complete on its own, and ``str()`` joins them with
    newlines. ``path`` is empty for problems with the file as a whole (unreadable, not YAML).
    """

    def __init__(
        self, source: str, path: str, problem: str, more: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.source = source
        self.path = path
        self.problem = " ".join(problem.split())  # one line, whatever the cause said
        rest = ((where, " ".join(what.split())) for where, what in more)
        self.problems: tuple[tuple[str, str], ...] = ((path, self.problem), *rest)
        self.lines: tuple[str, ...] = tuple(
            f"{source}: {where}: {what}" if where else f"{source}: {what}"
            for where, what in self.problems
        )
        super().__init__("\n".join(self.lines))


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


#: Seconds, written as `500ms`, `5m`, `1h30m` or a plain number.
Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]


class StrictModel(BaseModel):
    """Every configuration model: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------- web


def split_listen_address(address: str) -> tuple[str | None, int]:
    """``":9756"`` → ``(None, 9756)`` (all interfaces), ``"[::1]:9756"`` → ``("::1", 9756)``."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"invalid listen address {address!r}: expected host:port, e.g. ':9756'")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"invalid listen address {address!r}: port {port} is out of range")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host or ":" not in host:
            raise ValueError(f"invalid listen address {address!r}: bad IPv6 address")
    elif ":" in host or any(c.isspace() or c in "/[]" for c in host):
        raise ValueError(
            f"invalid listen address {address!r}: write IPv6 hosts in brackets, e.g. '[::]:9756'"
        )
    return (host or None), port


class WebConfig(StrictModel):
    listen_address: str = ":9756"
    telemetry_path: str = "/metrics"

    @field_validator("listen_address")
    @classmethod
    def _check_listen_address(cls, value: str) -> str:
        split_listen_address(value)
        return value

    @field_validator("telemetry_path")
    @classmethod
    def _check_telemetry_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"must start with '/', got {value!r}")
        if any(c.isspace() or c in "?#" for c in value):
            raise ValueError(f"must be a plain URL path, got {value!r}")
        reserved = {"/", "/healthz", "/readyz", "/-/reload"}
        if value in reserved:
            raise ValueError(f"{value!r} is already used by the exporter")
        return value

    @property
    def listen_host(self) -> str | None:
        """Host to bind, ``None`` for every interface."""
        return split_listen_address(self.listen_address)[0]

    @property
    def listen_port(self) -> int:
        return split_listen_address(self.listen_address)[1]


# ---------------------------------------------------------------------------- refresh


class RefreshConfig(StrictModel):
    interval: Duration = 300.0
    timeout: Duration = 120.0
    max_staleness: Duration = 3600.0

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1s")
        return value

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


# ---------------------------------------------------------------------------- api


def _check_endpoint(value: str | None) -> str | None:
    """An http(s) URL with ``{region_id}`` as its only placeholder; a password is never quoted."""
    if value is None:
        return None
    # user info could hold a password: then the URL is not quoted back
    shown = "" if "@" in value else f" {value!r}"
    if "@" in value:
        raise ValueError("invalid endpoint: user info (user:password@) is not allowed")
    leftover = value.replace("{region_id}", "")
    if "{" in leftover or "}" in leftover:
        raise ValueError(f"invalid endpoint{shown}: the only placeholder is {{region_id}}")
    try:
        parts = urlsplit(value.replace("{region_id}", "cn-hangzhou"))
        _ = parts.port  # raises on a bad port
    except ValueError:
        raise ValueError(f"invalid endpoint{shown}: not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid endpoint{shown}: expected an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError(f"invalid endpoint{shown}: no query or fragment allowed")
    return value


Endpoint = Annotated[str | None, AfterValidator(_check_endpoint)]


class ApiConfig(StrictModel):
    """How the API is called. ``request_timeout`` left out derives from ``refresh.timeout``."""

    endpoint: Endpoint = None
    page_size: int = Field(default=50, ge=1, le=50)
    max_requests_per_second: float = Field(default=10.0, gt=0)
    request_timeout: Duration = 10.0
    retries: int = Field(default=4, ge=0, le=20)
    #: A pass refuses a TotalCount above this: a runaway answer must not eat the memory.
    max_records_per_region: int = Field(default=100_000, ge=1)
    #: CloudMonitor (traffic) endpoint; ``None`` is https://metrics.<region>.aliyuncs.com.
    cms_endpoint: Endpoint = None
    cms_max_requests_per_second: float = Field(default=10.0, gt=0)
    #: CEN (health_checks) endpoint; ``None`` is https://cbn.aliyuncs.com for every region.
    cbn_endpoint: Endpoint = None

    @field_validator("request_timeout")
    @classmethod
    def _check_request_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


# ---------------------------------------------------------------------------- collectors

#: What the exporter can collect; each may be switched off or given its own interval.
COLLECTOR_NAMES: tuple[str, ...] = (
    "physical_connections",
    "virtual_border_routers",
    "traffic",
    "health_checks",
    "failover_tests",
)
#: Seconds between passes when nothing is configured (physical connections: refresh.interval).
_COLLECTOR_INTERVALS = {
    "virtual_border_routers": 60.0,
    "traffic": 300.0,
    "health_checks": 600.0,
    "failover_tests": 600.0,
}
#: Collectors that read the virtual_border_routers snapshot: off where that one is off.
_READ_VBRS = frozenset({"traffic", "health_checks", "failover_tests"})


class CollectorConfig(StrictModel):
    """One collector's switch and interval; unset (``None``) means inherit the default."""

    enabled: bool | None = None
    interval: Duration | None = None

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, value: float | None) -> float | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1s")
        return value


def _empty_is_default(value: object) -> object:
    return {} if value is None else value


Collector = Annotated[CollectorConfig, BeforeValidator(_empty_is_default)]


class CollectorsConfig(StrictModel):
    """``collectors:`` at the top level (defaults) or under an account (overrides)."""

    physical_connections: Collector = Field(default_factory=CollectorConfig)
    virtual_border_routers: Collector = Field(default_factory=CollectorConfig)
    traffic: Collector = Field(default_factory=CollectorConfig)
    health_checks: Collector = Field(default_factory=CollectorConfig)
    failover_tests: Collector = Field(default_factory=CollectorConfig)

    def get(self, name: str) -> CollectorConfig:
        if name not in COLLECTOR_NAMES:
            raise ValueError(f"unknown collector {name!r} (one of: {', '.join(COLLECTOR_NAMES)})")
        value: CollectorConfig = getattr(self, name)
        return value


Collectors = Annotated[CollectorsConfig, BeforeValidator(_empty_is_default)]


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    """What the daemon needs to schedule one collector for one account, defaults resolved.

    ``auto_disabled_reason`` is set when the exporter turned the collector off itself (traffic
    without virtual border routers), so the daemon can say why in one log line.
    """

    enabled: bool
    interval: float
    auto_disabled_reason: str | None = None
    # Longest one pass may take (seconds); 0 means refresh.timeout. Derived, not configured:
    # left out of comparisons of what the user set.
    timeout: float = field(default=0.0, compare=False)


# ---------------------------------------------------------------------------- credentials


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _non_empty_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


NonEmpty = Annotated[str, AfterValidator(_non_empty)]
Secret = Annotated[SecretStr, AfterValidator(_non_empty_secret)]


class DefaultCredentials(StrictModel):
    """The provider chain: environment, OIDC (RRSA), CLI profile, credentials file, ECS role."""

    type: Literal["default"] = "default"


class AccessKeyCredentials(StrictModel):
    type: Literal["access_key"]
    access_key_id: NonEmpty
    access_key_secret: Secret


class StsCredentials(StrictModel):
    type: Literal["sts"]
    access_key_id: NonEmpty
    access_key_secret: Secret
    security_token: Secret


def _check_role_arn(value: str) -> str:
    if not value.startswith("acs:ram::") or ":role/" not in value:
        raise ValueError(
            f"invalid role ARN {value!r}: expected acs:ram::<account-id>:role/<role-name>"
        )
    return value


class _AssumedRole(StrictModel):
    """What every STS AssumeRole* credential shares: the role, its session and lifetime."""

    role_arn: str
    role_session_name: NonEmpty = "expressconnect-exporter"
    policy: str | None = None
    duration: Duration = 3600.0
    sts_endpoint: str | None = None

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        return _check_role_arn(value)

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: float) -> float:
        if not 900 <= value <= 43200:
            raise ValueError("must be between 15m and 12h (STS AssumeRole limits)")
        return value


class RamRoleArnCredentials(_AssumedRole):
    """AssumeRole with a source AccessKey (optionally itself an STS token)."""

    type: Literal["ram_role_arn"]
    access_key_id: NonEmpty
    access_key_secret: Secret
    security_token: SecretStr | None = None
    external_id: str | None = None


class EcsRamRoleCredentials(StrictModel):
    """The instance's RAM role from the ECS metadata service (IMDSv2 token first)."""

    type: Literal["ecs_ram_role"]
    role_name: str | None = None


class OidcRoleArnCredentials(_AssumedRole):
    """AssumeRoleWithOIDC, e.g. ACK RRSA with a projected service-account token."""

    type: Literal["oidc_role_arn"]
    oidc_provider_arn: NonEmpty
    oidc_token_file_path: NonEmpty


CredentialsConfig = Annotated[
    DefaultCredentials
    | AccessKeyCredentials
    | StsCredentials
    | RamRoleArnCredentials
    | EcsRamRoleCredentials
    | OidcRoleArnCredentials,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------------------- accounts


class AccountConfig(StrictModel):
    name: str
    credentials: CredentialsConfig = Field(default_factory=DefaultCredentials)
    regions: tuple[str, ...] | Literal["all"]
    filters: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    collectors: Collectors = Field(default_factory=CollectorsConfig)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _ACCOUNT_NAME.fullmatch(value):
            raise ValueError(
                f"invalid account name {value!r}: use 1-64 letters, digits, '_', '.' or '-',"
                " starting with a letter or digit"
            )
        return value

    @field_validator("credentials", mode="before")
    @classmethod
    def _default_type(cls, value: object) -> object:
        if value is None:
            return {"type": "default"}
        if isinstance(value, Mapping) and "type" not in value:
            if value:
                raise ValueError(
                    "'type' is required when credentials are not empty (one of: "
                    + ", ".join(CREDENTIAL_TYPES)
                    + ")"
                )
            return {"type": "default"}
        return value

    @field_validator("regions", mode="before")
    @classmethod
    def _check_regions(cls, value: object) -> object:
        if value == "all":
            return value
        if isinstance(value, str):
            if value.lower() == "all":
                raise ValueError(f"unknown region {value!r} (did you mean 'all'?)")
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValueError('expected a list of region IDs or "all"')
        if not value:
            raise ValueError('must list at least one region (or be "all")')
        problems = _Problems()
        seen: set[str] = set()
        for index, region in enumerate(value):
            if not isinstance(region, str):
                problems.add(index, f"expected a region ID, got {type(region).__name__}")
            elif region not in REGION_IDS:
                problems.add(index, f"unknown region {region!r}" + _suggest_region(region))
            elif region in seen:
                problems.add(index, f"region {region!r} is listed twice")
            else:
                seen.add(region)
        problems.raise_any()
        return tuple(value)

    @field_validator("filters", mode="before")
    @classmethod
    def _check_filters(cls, value: object) -> object:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping of filter key to value(s)")
        if len(value) > MAX_FILTER_KEYS:
            raise ValueError(f"at most {MAX_FILTER_KEYS} filter keys are allowed, got {len(value)}")
        problems = _Problems()
        result: dict[str, tuple[str, ...]] = {}
        for key, values in value.items():
            texts = _filter_values(key, values, problems)
            if texts is not None:
                result[key] = texts
        problems.raise_any()
        return result


def _filter_values(key: object, values: object, problems: _Problems) -> tuple[str, ...] | None:
    """One filter's values as strings, or ``None`` after adding what is wrong to ``problems``."""
    if key not in FILTER_KEYS:
        problems.add(
            str(key),
            f"unknown filter key {key!r}"
            + _suggest(str(key), FILTER_KEYS)
            + " (one of: "
            + ", ".join(FILTER_KEYS)
            + ")",
        )
        return None
    assert isinstance(key, str)
    if isinstance(values, str | int | float) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, list | tuple) or not values:
        problems.add(key, "expected a value or a non-empty list of values")
        return None
    if len(values) > MAX_FILTER_VALUES:
        problems.add(key, f"at most {MAX_FILTER_VALUES} values are allowed, got {len(values)}")
        return None
    before = len(problems)
    texts = []
    for index, item in enumerate(values):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            problems.add((key, index), "expected a string")
        elif not str(item).strip():
            problems.add((key, index), "must not be empty")
        else:
            texts.append(str(item))
    return tuple(texts) if len(problems) == before else None


def _suggest_region(region: str) -> str:
    if region.lower() == "all":
        return " (did you mean 'all'?)"
    return _suggest(region, REGION_IDS)


Item = int | str | tuple[int | str, ...]


class _Problems(ValueError):
    """Problems with elements of a list or mapping, each moving the YAML path down to its item.

    A validator collects every bad element before raising, so one run reports all of them.
    """

    def __init__(self, items: Sequence[tuple[Item, str]] = ()) -> None:
        super().__init__("; ".join(problem for _, problem in items))
        self.items: list[tuple[tuple[int | str, ...], str]] = []
        for item, problem in items:
            self.add(item, problem)

    def add(self, item: Item, problem: str) -> None:
        self.items.append((item if isinstance(item, tuple) else (item,), problem))

    def __len__(self) -> int:
        return len(self.items)

    def raise_any(self) -> None:
        if self.items:
            raise _Problems(self.items)


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------- labels, log


def tag_label_name(key: str) -> str:
    """The label for resource tag ``key``: ``tag_`` + the key with every character outside
    ``[A-Za-z0-9_]`` replaced by ``_`` (``cost-center`` → ``tag_cost_center``)."""
    return "tag_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


class LabelsConfig(StrictModel):
    tags: tuple[str, ...] = ()

    @field_validator("tags", mode="before")
    @classmethod
    def _check_tags(cls, value: object) -> object:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ValueError("expected a list of tag keys")
        problems = _Problems()
        seen: dict[str, str] = {}
        for index, key in enumerate(value):
            if not isinstance(key, str) or not key.strip():
                problems.add(index, "expected a non-empty tag key")
                continue
            label = tag_label_name(key)  # always a valid label name, but maybe not unique
            if seen.get(label) == key:
                problems.add(index, f"tag key {key!r} is listed twice")
            elif label in seen:
                problems.add(
                    index,
                    f"tag key {key!r} gives label {label!r}, as does tag key {seen[label]!r}",
                )
            else:
                seen[label] = key
        problems.raise_any()
        return tuple(value)


class LogConfig(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["logfmt", "json"] = "logfmt"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


# ---------------------------------------------------------------------------- the whole


class Config(StrictModel):
    web: WebConfig = Field(default_factory=WebConfig)
    refresh: RefreshConfig = Field(default_factory=RefreshConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    collectors: Collectors = Field(default_factory=CollectorsConfig)
    accounts: tuple[AccountConfig, ...]
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    state_file: Path | None = None
    log: LogConfig = Field(default_factory=LogConfig)

    @model_validator(mode="before")
    @classmethod
    def _derive_defaults(cls, data: object) -> object:
        """Fill unset times from the set ones, as Prometheus derives scrape_timeout.

        ``refresh: {interval: 30s}`` alone then means timeout 30s, request timeout 10s and
        staleness 1h, instead of contradicting the defaults meant for 5m.
        """
        if isinstance(data, dict):
            return _derived(data)
        return data

    @field_validator("accounts")
    @classmethod
    def _check_accounts(cls, value: tuple[AccountConfig, ...]) -> tuple[AccountConfig, ...]:
        if not value:
            raise ValueError("at least one account is required")
        problems = _Problems()
        seen: set[str] = set()
        for index, account in enumerate(value):
            if account.name in seen:
                problems.add((index, "name"), f"account name {account.name!r} is used twice")
            seen.add(account.name)
        problems.raise_any()
        return value

    @model_validator(mode="after")
    def _check_times(self) -> Config:
        problems = list(_time_problems(self))
        if problems:
            raise _PathError(problems)
        return self

    def region_count(self) -> int:
        """Configured (account, region) pairs; ``regions: all`` counts as none until discovered."""
        return sum(len(a.regions) for a in self.accounts if a.regions != "all")

    def account(self, name: str) -> AccountConfig:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(f"no account named {name!r}")

    def collector_settings(self, account_name: str, collector: str) -> CollectorSettings:
        """Whether and how often ``collector`` runs for the account, every default resolved.

        The account's ``collectors`` entry wins over the top-level one, which wins over the
        built-in default. Traffic is read per virtual border router, so it is switched off
        (not an error) where that collector is off; ``auto_disabled_reason`` says so.
        """
        account = self.account(account_name)
        enabled, interval = self._resolve(account, collector)
        if collector in _READ_VBRS and enabled:
            vbr_enabled, _ = self._resolve(account, "virtual_border_routers")
            if not vbr_enabled:
                reason = (
                    f"the {collector} collector needs the virtual_border_routers collector,"
                    f" which is disabled for account {account.name!r}"
                )
                return CollectorSettings(False, interval, reason)
        return CollectorSettings(enabled, interval, timeout=self._pass_timeout(collector, interval))

    def _pass_timeout(self, collector: str, interval: float) -> float:
        """``refresh.timeout`` for physical connections; the others may use up to 90 % of
        their own interval, since a pass never overlaps itself and one rate-limited account
        can need longer than ``refresh.timeout`` (10,000 VBRs: 1,600 CloudMonitor calls)."""
        if collector == "physical_connections":
            return self.refresh.timeout
        return max(self.refresh.timeout, 0.9 * interval)

    def _resolve(self, account: AccountConfig, collector: str) -> tuple[bool, float]:
        own, top = account.collectors.get(collector), self.collectors.get(collector)
        default = _COLLECTOR_INTERVALS.get(collector, self.refresh.interval)
        enabled = own.enabled if own.enabled is not None else top.enabled
        interval = own.interval if own.interval is not None else top.interval
        return enabled is not False, default if interval is None else interval


def _time_problems(config: Config) -> Iterator[tuple[str, str]]:
    """Contradictions between times, each at the path of the value to change."""
    refresh = config.refresh
    if refresh.timeout > refresh.interval:
        yield (
            "refresh.timeout",
            f"{_fmt(refresh.timeout)} must not exceed refresh.interval"
            f" ({_fmt(refresh.interval)}): passes of one region would overlap",
        )
    if refresh.max_staleness < refresh.interval:
        yield (
            "refresh.max_staleness",
            f"{_fmt(refresh.max_staleness)} must be at least refresh.interval"
            f" ({_fmt(refresh.interval)}): series would drop between two good passes",
        )
    if config.api.request_timeout > refresh.timeout:
        yield (
            "api.request_timeout",
            f"{_fmt(config.api.request_timeout)} must not exceed refresh.timeout"
            f" ({_fmt(refresh.timeout)})",
        )
    for path, interval in _collector_intervals(config):
        if interval > refresh.max_staleness:
            yield (
                path,
                f"{_fmt(interval)} must not exceed refresh.max_staleness"
                f" ({_fmt(refresh.max_staleness)}): series would drop between two good passes",
            )


def _collector_intervals(config: Config) -> Iterator[tuple[str, float]]:
    """(YAML path, seconds) of every collector interval written in the file."""
    blocks = [("collectors", config.collectors)]
    blocks += [(f"accounts[{i}].collectors", a.collectors) for i, a in enumerate(config.accounts)]
    for prefix, block in blocks:
        for name in COLLECTOR_NAMES:
            interval = block.get(name).interval
            if interval is not None:
                yield f"{prefix}.{name}.interval", interval


def _seconds(value: object) -> float | None:
    try:
        return parse_duration(value)
    except DurationError:
        return None


def _raw_collector_intervals(data: dict[str, Any]) -> Iterator[float]:
    """Collector intervals from not yet validated data; whatever is malformed is skipped."""
    blocks = [data.get("collectors")]
    accounts = data.get("accounts")
    if isinstance(accounts, list):
        blocks += [a.get("collectors") for a in accounts if isinstance(a, dict)]
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for entry in block.values():
            seconds = _seconds(entry.get("interval")) if isinstance(entry, dict) else None
            if seconds is not None:
                yield seconds


def _derived(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with unset refresh/api times derived from the set ones (see Config)."""
    refresh, api = data.get("refresh", {}), data.get("api", {})
    if not isinstance(refresh, dict) or not isinstance(api, dict):
        return data  # reported as "expected a mapping"
    refresh, api = dict(refresh), dict(api)
    interval = _seconds(refresh.get("interval", RefreshConfig.model_fields["interval"].default))
    if interval is None:
        return data  # reported at refresh.interval
    if "timeout" not in refresh:
        refresh["timeout"] = min(120.0, interval)
    if "max_staleness" not in refresh:
        refresh["max_staleness"] = max(3600.0, interval, *_raw_collector_intervals(data))
    timeout = _seconds(refresh["timeout"])
    if "request_timeout" not in api and timeout is not None and timeout > 0:
        api["request_timeout"] = min(10.0, timeout)
    return {**data, "refresh": refresh, "api": api}


class _PathError(ValueError):
    """Cross-field problems that belong to paths other than where pydantic raised them."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(problem for _, problem in problems))
        self.problems = tuple(problems)


def _fmt(seconds: float) -> str:
    return format_duration(seconds)


# ---------------------------------------------------------------------------- loading

#: Command-line overrides: keyword of load_config/parse_config → (section, key) it replaces.
_OVERRIDES = {
    "listen_address": ("web", "listen_address"),
    "telemetry_path": ("web", "telemetry_path"),
    "log_level": ("log", "level"),
    "log_format": ("log", "format"),
}


def keep_restart_only_settings(new: Config, running: Config) -> Config:
    """``new`` with the running ``web`` and ``state_file``: they apply only after a restart
    (a listening socket and an open state cannot move under a running daemon); says so."""
    for part in ("web", "state_file"):
        if getattr(new, part) != getattr(running, part):
            log.warning(f"{part} changes on reload only after a restart")
    return new.model_copy(update={"web": running.web, "state_file": running.state_file})


def load_config(
    path: Path,
    *,
    listen_address: str | None = None,
    telemetry_path: str | None = None,
    log_level: str | None = None,
    log_format: str | None = None,
) -> Config:
    """Read, interpolate and validate ``path``; command-line overrides win over the file.

    A relative ``state_file`` is taken relative to the config file's directory, as Prometheus
    does with the paths in its own configuration. Safe to call from any thread (the daemon
    reloads off its event loop): nothing here keeps state between calls.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read config: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(source, "", "cannot read config: not UTF-8 text") from None
    data = _parse_yaml(text, source)
    config = parse_config(
        data,
        source,
        listen_address=listen_address,
        telemetry_path=telemetry_path,
        log_level=log_level,
        log_format=log_format,
    )
    if config.state_file is not None and not config.state_file.is_absolute():
        config = config.model_copy(update={"state_file": Path(path).parent / config.state_file})
    return config


def parse_config(
    data: object,
    source: str = "<config>",
    *,
    listen_address: str | None = None,
    telemetry_path: str | None = None,
    log_level: str | None = None,
    log_format: str | None = None,
) -> Config:
    """Validate already-parsed YAML (a dict), after ``${ENV}`` interpolation.

    Every problem is collected: interpolation errors first (in file order), then validation
    errors, except those at a path whose interpolation already failed.
    """
    if data is None:
        raise ConfigError(source, "", "config is empty")
    if not isinstance(data, dict):
        raise ConfigError(source, "", f"top level must be a mapping, got {_kind(data)}")
    interpolator = _Interpolator()
    try:
        data = interpolator.walk(data, (), frozenset())
    except RecursionError:
        raise ConfigError(source, "", "nested too deeply") from None
    assert isinstance(data, dict)
    given = {
        "listen_address": listen_address,
        "telemetry_path": telemetry_path,
        "log_level": log_level,
        "log_format": log_format,
    }
    for keyword, value in given.items():
        if value is not None:
            section, key = _OVERRIDES[keyword]
            data[section] = {**_as_dict(data.get(section)), key: value}
    problems = list(interpolator.problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += interpolator.explain(_describe_all(exc), skip=interpolator.failed)
    else:
        if not problems:
            return config
    raise ConfigError(source, *problems[0], more=problems[1:]) from None


def _describe_all(exc: ValidationError) -> list[tuple[str, str]]:
    """Every (YAML path, problem) in pydantic's errors, duplicates dropped, order kept."""
    seen: dict[tuple[str, str], None] = {}
    for error in exc.errors():
        for problem in _describe(error):
            seen.setdefault(problem)
    return list(seen)


def _as_dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


#: Nodes a document may expand to through aliases. An "alias bomb" (each level referring to
#: the one before nine times) is a few hundred bytes but expands to billions of values.
MAX_YAML_NODES = 100_000


class YamlTooLargeError(yaml.composer.ComposerError):
    """The document expands (through aliases) to more than ``MAX_YAML_NODES`` nodes."""


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one, and
    documents whose aliases expand to more than ``MAX_YAML_NODES`` nodes.

    A fresh loader is made for every document (``yaml.load``), so loading is thread-safe.
    """

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node, {}, set())
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int], busy: set[int]) -> int:
    """Nodes in ``node`` with every alias expanded; YamlTooLargeError at the first (innermost)
    node past ``MAX_YAML_NODES``.

    Shared nodes are counted once per reference (that is what construction and interpolation
    will copy) but computed once; a node inside itself counts once (refused later, by path).
    """
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in busy:
        return 1
    busy.add(key)
    total = 1
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    for child in children:
        total += _expanded_size(child, sizes, busy)
        if total > MAX_YAML_NODES:
            raise YamlTooLargeError(
                None,
                None,
                f"YAML aliases expand to more than {MAX_YAML_NODES} values",
                node.start_mark,
            )
    busy.discard(key)
    sizes[key] = total
    return total


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        try:
            duplicate = key in seen
        except TypeError:
            duplicate = False
        if duplicate:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        seen.add(key)
    return loader.construct_mapping(node)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)

_FLOW_HINT = ' (quote values that use ${...} inside {...} or [...], e.g. {key: "${VAR}"})'


def _parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except RecursionError:
        raise ConfigError(source, "", "YAML nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        # problem/context only: the snippet YAML appends could show a secret on that line
        what = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, YamlTooLargeError):
            raise ConfigError(where, "", what) from None
        if not what.startswith("duplicate key"):
            what = f"YAML syntax error: {what}"
            if mark and _unquoted_reference(text, mark.line):
                what += _FLOW_HINT
        raise ConfigError(where, "", what) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"YAML syntax error: {type(exc).__name__}") from None


def _unquoted_reference(text: str, line: int) -> bool:
    """Whether line ``line`` (0-based) has a ``${`` outside quotes: in a flow mapping the
    braces of an unquoted ``${VAR}`` are YAML syntax, the usual cause of such an error."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return False
    unquoted = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", "", lines[line])
    return "${" in unquoted


#: Keys whose values are never quoted in an error, not even in part.
_SECRET_KEYS = frozenset({"access_key_secret", "security_token"})


class _Interpolator:
    """``${NAME}`` / ``${NAME:-default}`` in every string of a parsed document.

    ``:-`` takes the default when the variable is unset or empty, and the default is itself
    interpolated (``${A:-${B}}``), as in a shell; ``$$`` is a literal ``$``. Substitution
    happens after YAML parsing, so a value can never inject YAML structure. Problems are
    collected, not raised: the failed value becomes ``None`` and its path is remembered so
    the validation error it causes is not reported a second time.
    """

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.failed: list[str] = []
        self.variables: dict[str, list[str]] = {}  # path → names used in its value

    def walk(self, value: object, path: tuple[str | int, ...], parents: frozenset[int]) -> object:
        """A copy of ``value`` (YAML aliases stop being shared); an alias inside itself fails."""
        if isinstance(value, dict | list):
            if id(value) in parents:
                return self._fail(path, "a YAML alias refers to itself")
            inner = parents | {id(value)}
            if isinstance(value, dict):
                return {k: self.walk(v, (*path, str(k)), inner) for k, v in value.items()}
            return [self.walk(v, (*path, i), inner) for i, v in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value
        secret = any(part in _SECRET_KEYS for part in path if isinstance(part, str))
        try:
            return self._expand(value, _format_path(path), secret)
        except _Failure as failure:
            return self._fail(path, str(failure))

    def _fail(self, path: tuple[str | int, ...], problem: str) -> object:
        """Record the problem; the value becomes ``None``."""
        where = _format_path(path)
        self.problems.append((where, problem))
        self.failed.append(where)
        return None

    def _expand(self, text: str, where: str, secret: bool) -> str:
        out: list[str] = []
        index = 0
        while index < len(text):
            if text.startswith("$$", index):
                out.append("$")
                index += 2
            elif text.startswith("${", index):
                end = _closing_brace(text, index + 2)
                if end < 0:
                    raise _Failure(
                        "unterminated environment reference: '${' without '}'"
                        " (write $$ for a literal $)"
                    )
                out.append(self._reference(text[index + 2 : end], where, secret))
                index = end + 1
            else:
                out.append(text[index])
                index += 1
        return "".join(out)

    def _reference(self, body: str, where: str, secret: bool) -> str:
        name, sep, default = body.partition(":-")
        if not _ENV_NAME.fullmatch(name):
            if secret:  # the reference is part of a literal secret: quote none of it
                raise _Failure(
                    "invalid environment reference (not shown: the value is a secret;"
                    " write $$ for a literal $)"
                )
            raise _Failure(f"invalid environment reference ${{{body}}}")
        self.variables.setdefault(where, []).append(name)
        found = os.environ.get(name)
        if found is not None and (found or not sep):
            return found
        if sep:
            return self._expand(default, where, secret)
        raise _Failure(f"environment variable {name} is not set")

    def explain(
        self, problems: list[tuple[str, str]], skip: Sequence[str]
    ) -> list[tuple[str, str]]:
        """Validation problems minus those under ``skip``, naming the variables a value came
        from (``page_size: ${PS:-50}`` with ``PS=abc`` says PS, not just "expected a number")."""
        result = []
        for where, problem in problems:
            if any(_under(where, failed) for failed in skip):
                continue
            names = sorted({n for p, ns in self.variables.items() if _under(where, p) for n in ns})
            if names:
                problem += " (value from environment variable" + ("s " if len(names) > 1 else " ")
                problem += ", ".join(names) + ")"
            result.append((where, problem))
        return result


class _Failure(Exception):
    """An interpolation problem in one value."""


def _under(path: str, parent: str) -> bool:
    """Whether YAML path ``path`` is ``parent`` or inside it."""
    if not path.startswith(parent):
        return False
    rest = path[len(parent) :]
    return not rest or rest[0] in ".[" or not parent


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a ``${`` whose body starts at ``start``, or -1."""
    depth = 0
    index = start
    while index < len(text):
        if text.startswith("$$", index):
            index += 2
            continue
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


# ---------------------------------------------------------------------------- error text

_TAGS = set(CREDENTIAL_TYPES)
_MESSAGES = {
    "missing": "missing required key",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "path_type": "expected a file path",
    "finite_number": "expected a finite number",
}


def _describe(error: ErrorDetails) -> list[tuple[str, str]]:
    """(YAML path, problem) pairs for one pydantic error, without ever echoing the input value."""
    loc: list[str | int] = []
    for index, part in enumerate(error["loc"]):
        # a discriminated union puts its tag into the location: credentials.access_key.x
        if index and error["loc"][index - 1] == "credentials" and part in _TAGS:
            continue
        loc.append(part)
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _Problems):
        return [(_format_path((*loc, *item)), problem) for item, problem in cause.items]
    if isinstance(cause, _PathError):
        return list(cause.problems)
    return [_describe_one(error, loc)]


def _describe_one(error: ErrorDetails, loc: list[str | int]) -> tuple[str, str]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden" and len(loc) >= 2 and loc[-2] == "collectors":
        name = str(loc[-1])
        return _format_path(tuple(loc)), (
            f"unknown collector {name!r}"
            + _suggest(name, COLLECTOR_NAMES)
            + f" (one of: {', '.join(COLLECTOR_NAMES)})"
        )
    if kind == "extra_forbidden":
        return _format_path(tuple(loc)), "unknown key" + _suggest_key(loc)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return _format_path(tuple(loc)), f"must be {words} {bound}"
    if kind == "literal_error":
        return _format_path(tuple(loc)), f"must be one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return (
            _format_path((*loc, "type")),
            f"unknown credentials type {ctx.get('tag')!r} (one of: {', '.join(CREDENTIAL_TYPES)})",
        )
    if kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
        return _format_path(tuple(loc)), message
    if kind in _MESSAGES:
        return _format_path(tuple(loc)), _MESSAGES[kind]
    message = error["msg"]
    return _format_path(tuple(loc)), message[:1].lower() + message[1:]


def _suggest_key(loc: list[str | int]) -> str:
    """``did you mean`` for a misspelt key, from the fields of the model it sits in."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [a for a in (annotation, *args) if hasattr(a, "model_fields")]
        if len(candidates) != 1:  # none, or a union (credentials): no single list of names
            return ""
        model = candidates[0]
    names = tuple(getattr(model, "model_fields", {}))
    return _suggest(str(loc[-1]), names) if names else ""


def _format_path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
