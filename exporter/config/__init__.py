"""The exporter's YAML configuration: one concern per module, re-exported here.

- ``schema``: the frozen pydantic models (``Config`` and its sections) and their validators;
- ``loading``: read a file, parse, interpolate, validate (``load_config``, ``parse_config``);
- ``yamlsafe``: SafeLoader without duplicate keys or alias bombs;
- ``interpolation``: ``${ENV}`` references;
- ``derived``: times derived from the set ones, contradictions between times;
- ``errors`` and ``wording``: one line per problem, in the configuration's own words.

Callers import from ``exporter.config``; what they use is listed in ``__all__``.
"""

from __future__ import annotations

from exporter.config.errors import ConfigError
from exporter.config.loading import keep_restart_only_settings, load_config, parse_config
from exporter.config.schema import (
    COLLECTOR_NAMES,
    AccessKeyCredentials,
    AccountConfig,
    ApiConfig,
    CollectorConfig,
    CollectorsConfig,
    CollectorSettings,
    Config,
    CredentialsConfig,
    DefaultCredentials,
    EcsRamRoleCredentials,
    LabelsConfig,
    LogConfig,
    OidcRoleArnCredentials,
    RamRoleArnCredentials,
    RefreshConfig,
    StsCredentials,
    WebConfig,
    split_listen_address,
)
from exporter.config.yamlsafe import MAX_YAML_NODES, UniqueKeyLoader, YamlTooLargeError
from exporter.labels import tag_label_name
from exporter.models import Duration, StrictModel
from exporter.vocabulary import FILTER_KEYS

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
    "Duration",
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
    "keep_restart_only_settings",
    "load_config",
    "parse_config",
    "split_listen_address",
    "tag_label_name",
]
