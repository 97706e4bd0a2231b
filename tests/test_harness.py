"""tests.harness.require_binary: the venv's own bin directory first, then PATH; a missing
binary fails under CI and skips only on a dev box."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.harness import require_binary


def make_tool(directory: Path, name: str, executable: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tool = directory / name
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755 if executable else 0o644)
    return tool


@pytest.fixture
def venv_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An interpreter in a venv whose bin directory is not on PATH; CI on, so a binary not
    found fails the test instead of skipping it."""
    directory = tmp_path / "venv" / "bin"
    directory.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(directory / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("CI", "true")
    return directory


def test_found_next_to_the_interpreter_without_path(venv_bin: Path) -> None:
    tool = make_tool(venv_bin, "some-linter")
    assert require_binary("some-linter") == str(tool)


def test_interpreter_directory_wins_over_path(
    venv_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beside = make_tool(venv_bin, "some-linter")
    on_path = make_tool(tmp_path / "on-path", "some-linter")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert require_binary("some-linter") == str(beside)


def test_non_executable_beside_interpreter_falls_back_to_path(
    venv_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tool(venv_bin, "some-linter", executable=False)
    on_path = make_tool(tmp_path / "on-path", "some-linter")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert require_binary("some-linter") == str(on_path)


def test_missing_fails_under_ci(venv_bin: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="no-such-tool is not installed"):
        require_binary("no-such-tool")


def test_missing_skips_on_a_dev_box(venv_bin: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool is not installed"):
        require_binary("no-such-tool")
