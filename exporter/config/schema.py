"""The configuration's schema: the frozen pydantic models the rest of the exporter reads.

Everything that can be checked without the network is checked here, at start and by
``--check-config``, so that a typo (``cn-hangzou``) stops the daemon with one line naming the
YAML path instead of surfacing as a failed refresh an hour later. Secrets stay ``SecretStr`` so
no repr or error prints them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from exporter.config.derived import derived, time_problems
from exporter.config.errors import PathError, Problems, suggest
from exporter.labels import tag_label_name
from exporter.models import Duration, StrictModel
from exporter.regions import REGION_IDS
from exporter.vocabulary import FILTER_KEYS, MAX_FILTER_KEYS

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

    @field_validator("request_timeout")
    @classmethod
    def _check_request_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


# ---------------------------------------------------------------------------- collectors

#: What the exporter can collect; each may be switched off or given its own interval.
COLLECTOR_NAMES: tuple[str, ...] = ("physical_connections", "virtual_border_routers", "traffic")
#: Seconds between passes when nothing is configured (physical connections: refresh.interval).
_COLLECTOR_INTERVALS = {"virtual_border_routers": 60.0, "traffic": 300.0}


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

    def names(self) -> tuple[str, ...]:
        return tuple(type(self).model_fields)

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
        problems = Problems()
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
        problems = Problems()
        result: dict[str, tuple[str, ...]] = {}
        for key, values in value.items():
            texts = _filter_values(key, values, problems)
            if texts is not None:
                result[key] = texts
        problems.raise_any()
        return result


def _filter_values(key: object, values: object, problems: Problems) -> tuple[str, ...] | None:
    """One filter's values as strings, or ``None`` after adding what is wrong to ``problems``."""
    if key not in FILTER_KEYS:
        problems.add(
            str(key),
            f"unknown filter key {key!r}"
            + suggest(str(key), FILTER_KEYS)
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
    return suggest(region, REGION_IDS)


# ---------------------------------------------------------------------------- labels, log


class LabelsConfig(StrictModel):
    tags: tuple[str, ...] = ()

    @field_validator("tags", mode="before")
    @classmethod
    def _check_tags(cls, value: object) -> object:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ValueError("expected a list of tag keys")
        problems = Problems()
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
            return derived(data, RefreshConfig.model_fields["interval"].default)
        return data

    @field_validator("accounts")
    @classmethod
    def _check_accounts(cls, value: tuple[AccountConfig, ...]) -> tuple[AccountConfig, ...]:
        if not value:
            raise ValueError("at least one account is required")
        problems = Problems()
        seen: set[str] = set()
        for index, account in enumerate(value):
            if account.name in seen:
                problems.add((index, "name"), f"account name {account.name!r} is used twice")
            seen.add(account.name)
        problems.raise_any()
        return value

    @model_validator(mode="after")
    def _check_times(self) -> Config:
        problems = list(time_problems(self))
        if problems:
            raise PathError(problems)
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
        if collector == "traffic" and enabled:
            vbr_enabled, _ = self._resolve(account, "virtual_border_routers")
            if not vbr_enabled:
                reason = (
                    "the traffic collector needs the virtual_border_routers collector,"
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
