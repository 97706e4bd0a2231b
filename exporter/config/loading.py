"""Loading a configuration: read the file, parse it safely, interpolate, validate.

Safe to call from any thread (the daemon reloads off its event loop): nothing here keeps state
between calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from exporter.collectors import COLLECTORS
from exporter.collectors.base import Collector
from exporter.config.errors import ConfigError, kind
from exporter.config.interpolation import Interpolator
from exporter.config.metrics import pattern_problems
from exporter.config.schema import Config, config_model
from exporter.config.wording import describe_all
from exporter.config.yamlsafe import parse_yaml

log = logging.getLogger(__name__)

__all__ = ["keep_restart_only_settings", "load_config", "parse_config"]


#: Command-line overrides: keyword of load_config/parse_config → (section, key) it replaces.
_OVERRIDES = {
    "listen_address": ("web", "listen_address"),
    "telemetry_path": ("web", "telemetry_path"),
    "log_level": ("log", "level"),
    "log_format": ("log", "format"),
    "metric_allowlist": ("metrics", "allow"),
    "metric_denylist": ("metrics", "deny"),
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
    metric_allowlist: Sequence[str] | None = None,
    metric_denylist: Sequence[str] | None = None,
    collectors: Sequence[Collector[Any]] = COLLECTORS,
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
    data = parse_yaml(text, source)
    config = parse_config(
        data,
        source,
        listen_address=listen_address,
        telemetry_path=telemetry_path,
        log_level=log_level,
        log_format=log_format,
        metric_allowlist=metric_allowlist,
        metric_denylist=metric_denylist,
        collectors=collectors,
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
    metric_allowlist: Sequence[str] | None = None,
    metric_denylist: Sequence[str] | None = None,
    collectors: Sequence[Collector[Any]] = COLLECTORS,
) -> Config:
    """Validate already-parsed YAML (a dict), after ``${ENV}`` interpolation.

    Every problem is collected: interpolation errors first (in file order), then validation
    errors, except those at a path whose interpolation already failed. ``collectors`` are
    the ones the ``collectors:`` blocks may name (the registry unless a test brings its own).
    """
    if data is None:
        raise ConfigError(source, "", "config is empty")
    if not isinstance(data, dict):
        raise ConfigError(source, "", f"top level must be a mapping, got {kind(data)}")
    interpolator = Interpolator()
    try:
        data = interpolator.walk(data, (), frozenset())
    except RecursionError:
        raise ConfigError(source, "", "nested too deeply") from None
    assert isinstance(data, dict)
    given: dict[str, object] = {
        "listen_address": listen_address,
        "telemetry_path": telemetry_path,
        "log_level": log_level,
        "log_format": log_format,
        "metric_allowlist": None if metric_allowlist is None else list(metric_allowlist),
        "metric_denylist": None if metric_denylist is None else list(metric_denylist),
    }
    for keyword, value in given.items():
        if value is not None:
            section, key = _OVERRIDES[keyword]
            data[section] = {**_as_dict(data.get(section)), key: value}
    problems = list(interpolator.problems)
    model = config_model(collectors)
    config: Config | None = None
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        problems += interpolator.explain(describe_all(exc, model), skip=interpolator.failed)
    # Whether a pattern matches a family needs the collectors: checked after the model.
    problems += pattern_problems(data.get("metrics"), collectors)
    if config is not None and not problems:
        return config
    raise ConfigError(source, *problems[0], more=problems[1:]) from None


def _as_dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}
