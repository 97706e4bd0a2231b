"""The exporter's YAML configuration: one concern per module, re-exported here.

- ``schema``: the frozen pydantic models (``Config`` and its sections) and their validators;
- ``loading``: read a file, parse, interpolate, validate (``load_config``, ``parse_config``);
- ``yamlsafe``: SafeLoader without duplicate keys or alias bombs;
- ``interpolation``: ``${ENV}`` references;
- ``derived``: times derived from the set ones, contradictions between times;
- ``metrics``: the ``metrics:`` allow and deny lists, and whether each pattern matches a family;
- ``errors`` and ``wording``: one line per problem, in the configuration's own words.

Callers import from ``exporter.config``; what they use is listed in ``__all__``.
"""

from __future__ import annotations

from exporter.collectors.base import CollectorConfig
from exporter.config.errors import ConfigError
from exporter.config.loading import keep_restart_only_settings, load_config, parse_config
from exporter.config.metrics import MetricsConfig
from exporter.config.schema import (
    AccessKeyCredentials,
    AccountConfig,
    ApiConfig,
    CollectorsConfig,
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
    config_model,
    split_listen_address,
)
from exporter.config.yamlsafe import MAX_YAML_NODES, UniqueKeyLoader, YamlTooLargeError
from exporter.labels import tag_label_name
from exporter.models import Duration, StrictModel
from exporter.vocabulary import FILTER_KEYS

__all__ = [
    "FILTER_KEYS",
    "MAX_YAML_NODES",
    "AccessKeyCredentials",
    "AccountConfig",
    "ApiConfig",
    "CollectorConfig",
    "CollectorsConfig",
    "Config",
    "ConfigError",
    "CredentialsConfig",
    "DefaultCredentials",
    "Duration",
    "EcsRamRoleCredentials",
    "LabelsConfig",
    "LogConfig",
    "MetricsConfig",
    "OidcRoleArnCredentials",
    "RamRoleArnCredentials",
    "RefreshConfig",
    "StrictModel",
    "StsCredentials",
    "UniqueKeyLoader",
    "WebConfig",
    "YamlTooLargeError",
    "config_model",
    "keep_restart_only_settings",
    "load_config",
    "parse_config",
    "split_listen_address",
    "tag_label_name",
]
