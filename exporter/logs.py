"""Logging set-up: one line per record, logfmt or JSON, with secrets masked on the way out.

Every log line goes through one handler on the root logger, so its redaction filter also covers
third-party loggers (``alibabacloud_credentials`` logs through its own ``credentials`` logger
with its own handler: ``adopt_logger`` routes it back through ours). Redaction is defence in
depth: the code never logs a secret on purpose, this catches the accidents.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, TextIO

__all__ = [
    "JsonFormatter",
    "LogfmtFormatter",
    "RedactingFilter",
    "adopt_logger",
    "redact",
    "register_secret",
    "setup_logging",
]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR
MASK = "[REDACTED]"

# Attributes every LogRecord has: anything else on a record came from ``extra={...}``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

#: Field names whose values are always masked, wherever they appear (extras, ``k=v``, JSON).
SECRET_KEYS = (
    "access_key_secret",
    "accesskeysecret",
    "secret",
    "security_token",
    "securitytoken",
    "x-acs-security-token",
    "password",
    "passwd",
    "authorization",
    "signature",
)
_SECRET_KEY_RE = "|".join(re.escape(k).replace("_", "[_-]?") for k in SECRET_KEYS)
# key=value, key: value, "key": "value" (quoted or bare values up to a separator)
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>["']?\b(?:{_SECRET_KEY_RE})\b["']?\s*[:=]\s*)
    (?P<value>"[^"]*"|'[^']*'|[^\s,&;}}\])]+)
    """
)

# insertion-ordered and bounded: rotating STS credentials add two values an hour, forever
_secrets: dict[str, None] = {}
_secrets_lock = threading.Lock()
_MIN_SECRET_LENGTH = 4  # shorter strings would mask ordinary words
_MAX_SECRETS = 256


def register_secret(value: str | None) -> None:
    """Mask this exact value in every later log line (a key secret, an STS token)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.pop(value, None)
            _secrets[value] = None
            while len(_secrets) > _MAX_SECRETS:
                del _secrets[next(iter(_secrets))]


def redact(text: str) -> str:
    """``text`` with registered secret values and values of secret-named keys masked."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)

    def mask(match: re.Match[str]) -> str:
        value = match.group("value")
        quote = value[0] if value[:1] in ("'", '"') else ""
        return f"{match.group('key')}{quote}{MASK}{quote}"

    return _KEY_VALUE.sub(mask, text)


def _is_secret_key(name: str) -> bool:
    flat = name.lower().replace("-", "_")
    return any(flat == k.replace("-", "_") or flat.endswith("_" + k) for k in SECRET_KEYS)


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: MASK if _is_secret_key(str(k)) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites each record in place: message rendered and masked, extras masked, args cleared."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for key in _extra_keys(record):
            value = record.__dict__[key]
            record.__dict__[key] = MASK if _is_secret_key(key) else _redact_value(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # formatted (and masked) above; never re-rendered raw
        return True


def _extra_keys(record: logging.LogRecord) -> Iterable[str]:
    return [k for k in record.__dict__ if k not in _STANDARD_ATTRS and not k.startswith("_")]


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> list[tuple[str, Any]]:
    fields: list[tuple[str, Any]] = [
        ("ts", _timestamp(record)),
        ("level", record.levelname.lower()),
        ("logger", record.name),
        ("msg", record.getMessage()),
    ]
    fields.extend((k, record.__dict__[k]) for k in _extra_keys(record))
    if record.exc_text:
        fields.append(("exc", record.exc_text))
    return fields


_BARE = re.compile(r"[^\s\"=\\]+")


def _logfmt_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if _BARE.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)  # quotes, escapes \n, \" and \\


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=info logger=... msg="..." key=value``; newlines escaped, one line."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the same fields as logfmt."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(dict(_fields(record)), default=str, ensure_ascii=False)


class _ExporterHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler ``setup_logging`` installed, so a second call replaces it."""


def setup_logging(level: str, fmt: str, *, stream: TextIO | None = None) -> None:
    """Route every logger through one redacting handler; safe to call again on reload."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    if fmt not in ("logfmt", "json"):
        raise ValueError(f"unknown log format {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ExporterHandler)]:
        root.removeHandler(old)
    handler = _ExporterHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(LogfmtFormatter() if fmt == "logfmt" else JsonFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    # APScheduler says "Running job ..." at info for every run: only worth it when debugging.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    logging.getLogger("apscheduler").setLevel(quiet)
    adopt_logger("credentials")


class _DropTraceback(logging.Filter):
    """A library's ``log.exception`` becomes its one-line message unless we are debugging;
    the exporter reports the same failure itself, with context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            record.exc_info = None
            record.exc_text = None
        return True


def adopt_logger(name: str) -> None:
    """Drop handlers a library attached to its own logger so its records reach ours (masked)."""
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    if not any(isinstance(f, _DropTraceback) for f in logger.filters):
        logger.addFilter(_DropTraceback())
