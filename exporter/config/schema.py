"""The configuration's schema: the frozen pydantic models the rest of the exporter reads.

Everything that can be checked without the network is checked here, at start and by
``--check-config``, so that a typo (``cn-hangzou``) stops the daemon with one line naming the
YAML path instead of surfacing as a failed refresh an hour later. Secrets stay ``SecretStr`` so
no repr or error prints them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    create_model,
    field_validator,
    model_validator,
)

from exporter.collectors import COLLECTORS
from exporter.collectors.base import Collector, CollectorConfig
from exporter.config.derived import derived
from exporter.config.errors import PathError, Problems, suggest
from exporter.config.metrics import MetricsConfig
from exporter.durations import format_duration as _fmt
from exporter.labels import tag_label_name
from exporter.models import Duration, StrictModel
from exporter.region_ids import REGION_IDS
from exporter.routes import RESERVED_PATHS
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
    #: A ``/metrics`` response not read within this is cut off and its connection closed: a
    #: client that asks and never reads must not pin an old exposition (and memory) for ever.
    write_timeout: Duration = 30.0

    @field_validator("write_timeout")
    @classmethod
    def _check_write_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

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
        if value in RESERVED_PATHS:
            reserved = ", ".join(RESERVED_PATHS)
            raise ValueError(f"{value!r} is already served by the exporter (reserved: {reserved})")
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
    #: One API answer larger than this (bytes) fails its pass before it is read further: a
    #: runaway answer must not eat the memory or stall the event loop while it is parsed.
    #: Real answers are far smaller (a 50-record page, 50 VBRs' last datapoints: < 1 MiB).
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
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


def _empty_is_default(value: object) -> object:
    return {} if value is None else value


class CollectorsConfig(StrictModel):
    """``collectors:`` at the top level (defaults) or under an account (overrides).

    Its fields are the collectors, one ``Collector.settings_model`` each, added by
    ``collectors_model`` from the registry: no collector is named here.
    """

    def names(self) -> tuple[str, ...]:
        return tuple(type(self).model_fields)

    def entry(self, name: str) -> CollectorConfig | None:
        """The collector's block as written (every field may be unset); None if unknown."""
        if name not in type(self).model_fields:
            return None
        value: CollectorConfig = getattr(self, name)
        return value

    def get(self, name: str) -> CollectorConfig:
        value = self.entry(name)
        if value is None:
            names = ", ".join(self.names())
            raise ValueError(f"unknown collector {name!r} (one of: {names})")
        return value


Signature = tuple[tuple[str, type[CollectorConfig]], ...]


def _signature(collectors: Sequence[Collector[Any]]) -> Signature:
    return tuple((spec.name, spec.settings_model) for spec in collectors)


def _collectors_model(signature: Signature) -> type[CollectorsConfig]:
    """The ``collectors:`` model for these (name, settings model) pairs, in their order."""
    fields: dict[str, Any] = {
        name: (Annotated[model, BeforeValidator(_empty_is_default)], Field(default_factory=model))
        for name, model in signature
    }
    return create_model("CollectorsConfig", __base__=CollectorsConfig, **fields)


#: ``collectors:`` for the registry, ``exporter.collectors.COLLECTORS``.
RegistryCollectors = _collectors_model(_signature(COLLECTORS))
if TYPE_CHECKING:  # the fields are built at run time: type checkers see the base
    Collectors = CollectorsConfig
else:
    Collectors = Annotated[RegistryCollectors, BeforeValidator(_empty_is_default)]


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
    collectors: Collectors = Field(default_factory=RegistryCollectors)

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
    collectors: Collectors = Field(default_factory=RegistryCollectors)
    accounts: tuple[AccountConfig, ...]
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
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


def config_model(collectors: Sequence[Collector[Any]] = COLLECTORS) -> type[Config]:
    """The ``Config`` model whose ``collectors:`` blocks know exactly ``collectors``.

    ``Config`` itself is the model of the registry (``exporter.collectors.COLLECTORS``); a test
    that serves collectors of its own reads its YAML with the model for those.
    """
    return _config_model(_signature(collectors))


@functools.cache
def _config_model(signature: Signature) -> type[Config]:
    if signature == _signature(COLLECTORS):
        return Config
    block = _collectors_model(signature)
    blocks: Any = Annotated[block, BeforeValidator(_empty_is_default)]  # type: ignore[valid-type]
    account = create_model(
        "AccountConfig", __base__=AccountConfig, collectors=(blocks, Field(default_factory=block))
    )
    return create_model(
        "Config",
        __base__=Config,
        collectors=(blocks, Field(default_factory=block)),
        accounts=(tuple[account, ...], ...),  # type: ignore[valid-type]
    )


# ------------------------------------------------------------- contradictions between times


def time_problems(config: Config) -> Iterator[tuple[str, str]]:
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
        for name in block.names():
            interval = block.get(name).interval
            if interval is not None:
                yield f"{prefix}.{name}.interval", interval
