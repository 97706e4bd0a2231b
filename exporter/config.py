"""The exporter's YAML configuration: reading, ``${ENV}`` interpolation and validation.

Everything that can be checked without the network is checked here, at start and by
``--check-config``, so that a typo (``cn-hangzou``) stops the daemon with one line naming the
YAML path instead of surfacing as a failed refresh an hour later. The result is a frozen pydantic
model the rest of the exporter reads; secrets stay ``SecretStr`` so no repr or error prints them.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
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

__all__ = [
    "FILTER_KEYS",
    "AccessKeyCredentials",
    "AccountConfig",
    "ApiConfig",
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
    "StsCredentials",
    "WebConfig",
    "load_config",
    "parse_config",
    "split_listen_address",
    "tag_label_name",
]

#: ``Filter.N.Key`` values DescribePhysicalConnections accepts (others answer HTTP 404).
FILTER_KEYS: tuple[str, ...] = (
    "PhysicalConnectionId",
    "AccessPointId",
    "Type",
    "LineOperator",
    "Spec",
    "Status",
    "Name",
    "ProductType",
)
MAX_FILTER_KEYS = 5
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
_ENV_REF = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(Exception):
    """A configuration problem, rendered as one line: ``<source>: <yaml path>: <problem>``.

    ``path`` is empty for problems with the file as a whole (unreadable, not YAML, empty).
    """

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = " ".join(problem.split())  # one line, whatever the cause said
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {self.problem}")


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


#: Seconds, written as `500ms`, `5m`, `1h30m` or a plain number.
Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]


class _Model(BaseModel):
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


class WebConfig(_Model):
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


class RefreshConfig(_Model):
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


class ApiConfig(_Model):
    endpoint: str | None = None
    page_size: int = Field(default=50, ge=1, le=50)
    max_requests_per_second: float = Field(default=10.0, gt=0)
    request_timeout: Duration = 10.0
    retries: int = Field(default=4, ge=0, le=20)

    @field_validator("request_timeout")
    @classmethod
    def _check_request_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
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


class DefaultCredentials(_Model):
    """The provider chain: environment, OIDC (RRSA), CLI profile, credentials file, ECS role."""

    type: Literal["default"] = "default"


class AccessKeyCredentials(_Model):
    type: Literal["access_key"]
    access_key_id: NonEmpty
    access_key_secret: Secret


class StsCredentials(_Model):
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


class _AssumedRole(_Model):
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


class EcsRamRoleCredentials(_Model):
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


class AccountConfig(_Model):
    name: str
    credentials: CredentialsConfig = Field(default_factory=DefaultCredentials)
    regions: tuple[str, ...] | Literal["all"]
    filters: dict[str, tuple[str, ...]] = Field(default_factory=dict)

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
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValueError('expected a list of region IDs or "all"')
        if not value:
            raise ValueError('must list at least one region (or be "all")')
        seen: set[str] = set()
        for index, region in enumerate(value):
            if not isinstance(region, str):
                raise _ItemError(index, f"expected a region ID, got {type(region).__name__}")
            if region not in REGION_IDS:
                raise _ItemError(index, f"unknown region {region!r}" + _suggest(region, REGION_IDS))
            if region in seen:
                raise _ItemError(index, f"region {region!r} is listed twice")
            seen.add(region)
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
        result: dict[str, tuple[str, ...]] = {}
        for key, values in value.items():
            if key not in FILTER_KEYS:
                raise _ItemError(
                    str(key),
                    f"unknown filter key {key!r}"
                    + _suggest(str(key), FILTER_KEYS)
                    + " (one of: "
                    + ", ".join(FILTER_KEYS)
                    + ")",
                )
            if isinstance(values, str | int | float) and not isinstance(values, bool):
                values = [values]
            if not isinstance(values, list | tuple) or not values:
                raise _ItemError(key, "expected a value or a non-empty list of values")
            if len(values) > MAX_FILTER_VALUES:
                raise _ItemError(
                    key, f"at most {MAX_FILTER_VALUES} values are allowed, got {len(values)}"
                )
            texts = []
            for index, item in enumerate(values):
                if isinstance(item, bool) or not isinstance(item, str | int | float):
                    raise _ItemError((key, index), "expected a string")
                if not str(item).strip():
                    raise _ItemError((key, index), "must not be empty")
                texts.append(str(item))
            result[key] = tuple(texts)
        return result


class _ItemError(ValueError):
    """A problem with one element of a list or mapping: moves the YAML path down to it."""

    def __init__(self, item: int | str | tuple[int | str, ...], problem: str) -> None:
        super().__init__(problem)
        self.item: tuple[int | str, ...] = item if isinstance(item, tuple) else (item,)
        self.problem = problem


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------- labels, log


def tag_label_name(key: str) -> str:
    """The label for resource tag ``key``: ``tag_`` + the key with every character outside
    ``[A-Za-z0-9_]`` replaced by ``_`` (``cost-center`` → ``tag_cost_center``)."""
    return "tag_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


class LabelsConfig(_Model):
    tags: tuple[str, ...] = ()

    @field_validator("tags", mode="before")
    @classmethod
    def _check_tags(cls, value: object) -> object:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ValueError("expected a list of tag keys")
        seen: dict[str, str] = {}
        for index, key in enumerate(value):
            if not isinstance(key, str) or not key.strip():
                raise _ItemError(index, "expected a non-empty tag key")
            label = tag_label_name(key)  # always a valid label name, but maybe not unique
            if seen.get(label) == key:
                raise _ItemError(index, f"tag key {key!r} is listed twice")
            if label in seen:
                raise _ItemError(
                    index,
                    f"tag key {key!r} gives label {label!r}, as does tag key {seen[label]!r}",
                )
            seen[label] = key
        return tuple(value)


class LogConfig(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["logfmt", "json"] = "logfmt"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


# ---------------------------------------------------------------------------- the whole


class Config(_Model):
    web: WebConfig = Field(default_factory=WebConfig)
    refresh: RefreshConfig = Field(default_factory=RefreshConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    accounts: tuple[AccountConfig, ...]
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    state_file: Path | None = None
    log: LogConfig = Field(default_factory=LogConfig)

    @field_validator("accounts")
    @classmethod
    def _check_accounts(cls, value: tuple[AccountConfig, ...]) -> tuple[AccountConfig, ...]:
        if not value:
            raise ValueError("at least one account is required")
        seen: set[str] = set()
        for index, account in enumerate(value):
            if account.name in seen:
                raise _ItemError((index, "name"), f"account name {account.name!r} is used twice")
            seen.add(account.name)
        return value

    @model_validator(mode="after")
    def _check_times(self) -> Config:
        refresh = self.refresh
        if refresh.timeout > refresh.interval:
            raise _PathError(
                "refresh.timeout",
                f"{_fmt(refresh.timeout)} must not exceed refresh.interval"
                f" ({_fmt(refresh.interval)}): passes of one region would overlap",
            )
        if refresh.max_staleness < refresh.interval:
            raise _PathError(
                "refresh.max_staleness",
                f"{_fmt(refresh.max_staleness)} must be at least refresh.interval"
                f" ({_fmt(refresh.interval)}): series would drop between two good passes",
            )
        if self.api.request_timeout > refresh.timeout:
            raise _PathError(
                "api.request_timeout",
                f"{_fmt(self.api.request_timeout)} must not exceed refresh.timeout"
                f" ({_fmt(refresh.timeout)})",
            )
        return self

    def region_count(self) -> int:
        """Configured (account, region) pairs; ``regions: all`` counts as none until discovered."""
        return sum(len(a.regions) for a in self.accounts if a.regions != "all")


class _PathError(ValueError):
    """A cross-field problem that belongs to a path other than where pydantic raised it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


def _fmt(seconds: float) -> str:
    return format_duration(seconds)


# ---------------------------------------------------------------------------- loading


def load_config(
    path: Path, *, listen_address: str | None = None, log_level: str | None = None
) -> Config:
    """Read, interpolate and validate ``path``; command-line overrides win over the file.

    A relative ``state_file`` is taken relative to the config file's directory, as Prometheus
    does with the paths in its own configuration.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read config: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(source, "", "cannot read config: not UTF-8 text") from None
    data = _parse_yaml(text, source)
    config = parse_config(data, source, listen_address=listen_address, log_level=log_level)
    if config.state_file is not None and not config.state_file.is_absolute():
        config = config.model_copy(update={"state_file": Path(path).parent / config.state_file})
    return config


def parse_config(
    data: object,
    source: str = "<config>",
    *,
    listen_address: str | None = None,
    log_level: str | None = None,
) -> Config:
    """Validate already-parsed YAML (a dict), after ``${ENV}`` interpolation."""
    if data is None:
        raise ConfigError(source, "", "config is empty")
    if not isinstance(data, dict):
        raise ConfigError(source, "", f"top level must be a mapping, got {_kind(data)}")
    try:
        data = _interpolate(data, (), source)
    except RecursionError:
        raise ConfigError(source, "", "nested too deeply") from None
    assert isinstance(data, dict)
    if listen_address is not None:
        data["web"] = {**_as_dict(data.get("web")), "listen_address": listen_address}
    if log_level is not None:
        data["log"] = {**_as_dict(data.get("log")), "level": log_level}
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        path, problem = _describe(exc.errors()[0])
        raise ConfigError(source, path, problem) from None


def _as_dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


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
        if not what.startswith("duplicate key"):
            what = f"YAML syntax error: {what}"
        raise ConfigError(where, "", what) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"YAML syntax error: {type(exc).__name__}") from None


def _interpolate(
    value: object, path: tuple[str | int, ...], source: str, parents: frozenset[int] = frozenset()
) -> object:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string; ``$$`` is a literal ``$``.

    Returns a copy, so YAML aliases stop being shared; an alias inside itself is an error.
    """
    if isinstance(value, dict | list):
        if id(value) in parents:
            raise ConfigError(source, _format_path(path), "a YAML alias refers to itself")
        inner = parents | {id(value)}
        if isinstance(value, dict):
            return {k: _interpolate(v, (*path, str(k)), source, inner) for k, v in value.items()}
        return [_interpolate(v, (*path, i), source, inner) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, sep, default = match.group(1).partition(":-")
        if not _ENV_NAME.fullmatch(name):
            raise ConfigError(
                source, _format_path(path), f"invalid environment reference ${{{match.group(1)}}}"
            )
        found = os.environ.get(name)
        if found is not None and (found or not sep):
            return found
        if sep:
            return default
        raise ConfigError(source, _format_path(path), f"environment variable {name} is not set")

    return _ENV_REF.sub(substitute, value)


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
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "path_type": "expected a file path",
    "finite_number": "expected a finite number",
}


def _describe(error: ErrorDetails) -> tuple[str, str]:
    """(YAML path, problem) for pydantic's first error, without ever echoing the input value."""
    loc: list[str | int] = []
    for index, part in enumerate(error["loc"]):
        # a discriminated union puts its tag into the location: credentials.access_key.x
        if index and error["loc"][index - 1] == "credentials" and part in _TAGS:
            continue
        loc.append(part)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, _ItemError):
        loc.extend(cause.item)
        return _format_path(tuple(loc)), cause.problem
    if isinstance(cause, _PathError):
        return cause.path, cause.problem
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
