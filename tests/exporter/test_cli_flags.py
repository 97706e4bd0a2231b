"""The Prometheus-style flags beside the YAML keys, and multi-line configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter import cli
from exporter.config import Config


@pytest.fixture
def captured_config(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """Run the --once path without the exporter core: record the configuration it would use."""
    seen: list[Config] = []

    def fake_once(config: Config) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(cli, "_once", fake_once)
    monkeypatch.setattr("exporter.logs.setup_logging", lambda level, fmt: None)
    return seen


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("flag", ["--config.file", "--config"])
def test_config_file_flag_and_its_alias(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    path = write(tmp_path, "accounts: [{name: a, regions: [cn-hangzhou]}]\n")
    assert cli.main(["--check-config", flag, str(path)]) == 0
    assert capsys.readouterr().out == "config OK: 1 account, 1 region\n"
    assert cli.main(["--check-config", f"{flag}={path}"]) == 0


def test_flags_win_over_the_file(tmp_path: Path, captured_config: list[Config]) -> None:
    path = write(
        tmp_path,
        "web: {telemetry_path: /metrics}\nlog: {format: logfmt}\n"
        "accounts: [{name: a, regions: [cn-hangzhou]}]\n",
    )
    argv = ["--once", "--config.file", str(path), "--web.telemetry-path", "/m2"]
    assert cli.main([*argv, "--log.format", "json"]) == 0
    (config,) = captured_config
    assert (config.web.telemetry_path, config.log.format) == ("/m2", "json")


def test_a_bad_telemetry_path_flag_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "accounts: [{name: a, regions: [cn-hangzhou]}]\n")
    assert cli.main(["--check-config", "--config", str(path), "--web.telemetry-path", "x"]) == 2
    assert capsys.readouterr().err == (
        f"{path}: web.telemetry_path: must start with '/', got 'x'\n"
    )


def test_log_format_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", "x.yml", "--log.format", "text"]) == 2
    assert capsys.readouterr().err == (
        "expressconnect-exporter: argument --log.format: invalid choice: 'text' (choose from"
        " 'logfmt', 'json') (see --help)\n"
    )


def test_every_problem_is_printed_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "api: {page_size: 0}\naccounts: [{name: a, regions: [cn-hangzou]}]\n")
    assert cli.main(["--check-config", "--config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: api.page_size: must be at least 1",
        f"{path}: accounts[0].regions[0]: unknown region 'cn-hangzou' (did you mean"
        " 'cn-hangzhou'?)",
    ]
