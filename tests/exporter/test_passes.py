"""How a failed pass is described: timeouts by their limit, our own bugs by their type, API
errors by their text, secrets masked; and which failures count as bugs."""

from __future__ import annotations

from exporter.client import ApiError
from exporter.collectors.base import PassError
from exporter.logs import register_secret
from exporter.passes import failure_message, is_bug


def test_expected_failures_are_not_bugs() -> None:
    assert not is_bug(ApiError("Throttling.User", "slow down", action="X", http_status=400))
    assert not is_bug(PassError("TotalCount drifted twice"))
    assert not is_bug(TimeoutError())
    assert not is_bug(ConnectionResetError())
    assert is_bug(KeyError("PhysicalConnectionId"))
    assert is_bug(ValueError("record without VbrId"))


def test_failure_messages_are_one_line_named_and_redacted() -> None:
    assert failure_message(TimeoutError(), 30.0) == "refresh timed out after 30s"
    assert failure_message(PassError("first line\nsecond"), 30.0) == "first line"
    assert failure_message(ZeroDivisionError(), 30.0) == "ZeroDivisionError"
    assert failure_message(KeyError("x"), 30.0) == "KeyError: 'x'"
    secret = "passes-test-secret-0123456789"
    register_secret(secret)
    message = failure_message(PassError(f"bad answer with {secret}"), 30.0)
    assert secret not in message and message.startswith("bad answer with ")
