"""Log lines: logfmt and JSON, one line per record, extras included, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from exporter.logs import MASK, redact, register_secret, setup_logging

SECRET = "REGISTERED-secret-4242"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


def test_logfmt_fields_and_extras(stream: io.StringIO) -> None:
    setup_logging("info", "logfmt", stream=stream)
    logging.getLogger("exporter.test").info(
        "refreshed %s", "cn-hangzhou", extra={"account": "prod", "connections": 137, "ok": True}
    )
    (line,) = lines(stream)
    assert line.startswith("ts=")
    ts = line.split(" ", 1)[0].removeprefix("ts=")
    assert len(ts) == len("2026-01-01T00:00:00.000Z") and ts.endswith("Z")
    assert line.endswith(
        ' level=info logger=exporter.test msg="refreshed cn-hangzhou" account=prod'
        " connections=137 ok=true"
    )


def test_logfmt_quotes_and_escapes_to_one_line(stream: io.StringIO) -> None:
    setup_logging("info", "logfmt", stream=stream)
    logging.getLogger("x").warning('two\nlines "quoted" back\\slash', extra={"empty": ""})
    (line,) = lines(stream)
    assert 'msg="two\\nlines \\"quoted\\" back\\\\slash" empty=""' in line


def test_exceptions_stay_on_one_line(stream: io.StringIO) -> None:
    setup_logging("info", "json", stream=stream)
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("x").exception("failed")
    (line,) = lines(stream)
    record = json.loads(line)
    assert record["msg"] == "failed"
    assert record["exc"].startswith("Traceback") and "ValueError: bad value" in record["exc"]


def test_json_lines(stream: io.StringIO) -> None:
    setup_logging("debug", "json", stream=stream)
    logging.getLogger("exporter.a").debug("one", extra={"region_id": "cn-beijing", "n": 1.5})
    logging.getLogger("exporter.b").error("two")
    first, second = (json.loads(x) for x in lines(stream))
    assert first["level"] == "debug" and first["logger"] == "exporter.a"
    assert (first["msg"], first["region_id"], first["n"]) == ("one", "cn-beijing", 1.5)
    assert set(first) == {"ts", "level", "logger", "msg", "region_id", "n"}
    assert second["level"] == "error" and second["msg"] == "two"


def test_level_filters_and_setup_replaces_its_handler(stream: io.StringIO) -> None:
    setup_logging("warning", "logfmt", stream=stream)
    setup_logging("warning", "logfmt", stream=stream)  # a reload: still one handler
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown")
    assert len(lines(stream)) == 1 and "shown" in lines(stream)[0]


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_secrets_are_masked(stream: io.StringIO, fmt: str) -> None:
    setup_logging("info", fmt, stream=stream)
    register_secret(SECRET)
    log = logging.getLogger("exporter.client")
    log.info("signing with %s", SECRET)
    log.info(
        "request",
        extra={
            "access_key_secret": "extra-secret-1",
            "headers": {"Authorization": "ACS3-HMAC-SHA256 Credential=x,Signature=ab", "ok": 1},
            "url": "http://127.0.0.1/?AccessKeyId=LTAI&Signature=c2lnbmF0dXJl&SecurityToken=tok123",
        },
    )
    log.info('body {"AccessKeySecret": "json-secret-2", "SecurityToken": "json-token-3"}')
    log.info("password=hunter2222 security_token: tok-4444")
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("boom")
    output = stream.getvalue()
    for leaked in (
        SECRET,
        "extra-secret-1",
        "c2lnbmF0dXJl",
        "tok123",
        "json-secret-2",
        "json-token-3",
        "hunter2222",
        "tok-4444",
        "Signature=ab",
    ):
        assert leaked not in output, leaked
    assert MASK in output
    assert "AccessKeyId=LTAI" in output  # the key ID is not a secret
    assert len(lines(stream)) == 5


def test_library_logger_is_adopted(stream: io.StringIO) -> None:
    """alibabacloud_credentials attaches its own handler to `credentials`: ours replaces it."""
    library = logging.getLogger("credentials")
    foreign = logging.StreamHandler(io.StringIO())
    library.addHandler(foreign)
    setup_logging("info", "logfmt", stream=stream)
    assert foreign not in library.handlers
    try:
        raise OSError("connect failed")
    except OSError:
        library.exception("Refresh credentials failed")
    (line,) = lines(stream)
    assert 'msg="Refresh credentials failed"' in line
    assert "Traceback" not in line  # the exporter reports the failure itself


def test_redact_plain_text() -> None:
    register_secret(SECRET)
    register_secret("abc")  # too short to mask safely: ignored
    assert redact(f"x {SECRET} y abc") == f"x {MASK} y abc"
    assert redact("Signature=abc&x=1") == f"Signature={MASK}&x=1"
    assert redact("'password': 'p1'") == f"'password': '{MASK}'"
