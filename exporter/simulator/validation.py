"""Parameter rules of the API reference, each raising the documented error.

Rules the document leaves open are chosen here and listed in README.md (CircuitCode and
PeerLocation lengths, the quota error code).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from exporter.simulator.errors import ErrorAnswer, invalid_parameter, missing_parameter
from exporter.simulator.lines.model import DOCUMENTED_PORT_TYPES, LINE_OPERATORS

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{1,127}")
_CIRCUIT = re.compile(r"[^\s\x00-\x1f]{1,128}")
BANDWIDTH_KEYS = ("bandwidth", "BandWidth", "Bandwidth")


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if value == "":
        raise missing_parameter(name)
    return value


def _starts_with_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def name(value: str) -> str:
    """2-128 chars of letters, digits, ``.``, ``_``, ``-``; starts with a letter; no URL."""
    if _starts_with_url(value) or not _NAME.fullmatch(value):
        raise ErrorAnswer("InvalidName.Malformed", 'The specified "Name" is not valid.')
    return value


def description(value: str) -> str:
    """2-256 chars, starts with a letter, not ``http://``/``https://``."""
    if (
        not 2 <= len(value) <= 256
        or not value[0].isascii()
        or not value[0].isalpha()
        or _starts_with_url(value)
    ):
        raise ErrorAnswer(
            "InvalidDescription.Malformed", 'The specifid "Description" is not valid.'
        )
    return value


def bandwidth(params: Mapping[str, str]) -> int | None:
    """``bandwidth`` (what the SDK sends), ``BandWidth`` or ``Bandwidth``: Mbit/s in 2..10240."""
    raw = next((params[k] for k in BANDWIDTH_KEYS if k in params), None)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 2 <= value <= 10240:
        raise ErrorAnswer("InvalidBandwidth", "invalid physical connection banwidth.")
    return value


def port_type(value: str) -> str:
    if value not in DOCUMENTED_PORT_TYPES:
        raise ErrorAnswer("InvalidPortType.Malformd", "The PortType provided was invalid.")
    return value


def line_operator(value: str) -> str:
    if value not in LINE_OPERATORS:
        raise ErrorAnswer("InvalidLineOperator.Malformd", "The LineOperator provided was invalid.")
    return value


def peer_location(value: str) -> str:
    if not 1 <= len(value) <= 256:
        raise ErrorAnswer("InvalidPeerLocation.Malformd", "The PeerLocation provided was invalid.")
    return value


def circuit_code(value: str) -> str:
    if not _CIRCUIT.fullmatch(value):
        raise ErrorAnswer("InvalidCircuitCode.Malformed", "circuitCode is illegal.")
    return value


def client_token(params: Mapping[str, str]) -> str | None:
    token = params.get("ClientToken")
    if token is None:
        return None
    if not 1 <= len(token) <= 64 or not token.isascii():
        raise invalid_parameter("ClientToken", token)
    return token


def int_param(params: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(key, raw) from None
    if not low <= value <= high:
        raise invalid_parameter(key, raw)
    return value


def bool_param(params: Mapping[str, str], key: str) -> bool | None:
    """``true``/``false`` in any case (the official SDK sends Python's ``True``)."""
    raw = params.get(key)
    if raw is None:
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise invalid_parameter(key, raw)
