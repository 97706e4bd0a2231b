"""The command line: usage errors, --check-config, --once against the simulator, the daemon's
start and stop, the simulate and demo subcommands. Child processes where exit status and
stderr are the contract; the simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import __version__, cli
from exporter.collectors import COLLECTORS
from exporter.simulator import Simulator, SimulatorThread
from tests import harness

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ["cn-hangzhou", "cn-shanghai"]
WRONG_SECRET = "WRONG-secret-value-31337"

PC = 'collector="physical_connections"'  # the label of the connection passes


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
    return env


def exporter_cmd(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=ROOT,
        timeout=timeout,
    )


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, text
    assert "Traceback" not in text
    return text.rstrip("\n")


# ------------------------------------------------------------------ in-process: argument paths


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"expressconnect-exporter {__version__}\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [],
            "expressconnect-exporter: --config FILE is required (or try: expressconnect-exporter"
            " demo) (see --help)",
        ),
        (
            ["--config", "x.yml", "--bogus"],
            "expressconnect-exporter: unrecognized arguments: --bogus (see --help)",
        ),
        (
            ["--check-config", "--once", "--config", "x.yml"],
            "expressconnect-exporter: argument --once: not allowed with argument --check-config"
            " (see --help)",
        ),
        (
            ["--log.level", "verbose"],
            "expressconnect-exporter: argument --log.level: invalid choice: 'verbose' (choose"
            " from 'debug', 'info', 'warning', 'error') (see --help)",
        ),
        (
            ["--conf=x.yml"],  # no abbreviations: --conf is not --config
            "expressconnect-exporter: unrecognized arguments: --conf=x.yml (see --help)",
        ),
        (
            ["demo", "--connections", "many"],
            "expressconnect-exporter demo: argument --connections: invalid int value: 'many'"
            " (see --help)",
        ),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err) == expected


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yml"
    path.write_text(text)
    return path


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path,
        "accounts:\n"
        "  - {name: a, regions: [cn-hangzhou, cn-beijing]}\n"
        "  - {name: b, regions: [ap-southeast-1]}\n"
        "  - {name: c, regions: all}\n",
    )
    assert cli.main(["--check-config", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "config OK: 3 accounts, 3 regions (+ all regions of c, discovered at start)\n"
    )
    assert captured.err == ""


def test_check_config_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, "accounts: [{name: a, regions: [cn-hangzhou]}]\n")
    assert cli.main(["--check-config", "--config", str(path)]) == 0
    assert capsys.readouterr().out == "config OK: 1 account, 1 region\n"


def test_check_config_applies_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, "accounts: [{name: a, regions: [cn-hangzhou]}]\n")
    argv = ["--check-config", "--config", str(path), "--web.listen-address", "9756"]
    assert cli.main(argv) == 2
    assert one_line(capsys.readouterr().err) == (
        f"{path}: web.listen_address: invalid listen address '9756': expected host:port,"
        " e.g. ':9756'"
    )


def test_check_config_checks_the_web_config_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, "accounts: [{name: a, regions: [cn-hangzhou]}]\n")
    missing = tmp_path / "web.yml"
    assert (
        cli.main(["--check-config", "--config", str(path), "--web.config.file", str(missing)]) == 2
    )
    err = one_line(capsys.readouterr().err)
    assert str(missing) in err and "cannot read" in err


def test_unexpected_error_is_one_line_unless_debugging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(argv: list[str]) -> int:
        raise RuntimeError("something broke")

    monkeypatch.setattr(cli, "_run", broken)
    assert cli.main(["--config", "x.yml"]) == 1
    assert one_line(capsys.readouterr().err) == (
        "expressconnect-exporter: error: RuntimeError: something broke"
    )
    assert cli.main(["--config", "x.yml", "--log.level", "debug"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.endswith(
        "expressconnect-exporter: error: RuntimeError: something broke\n"
    )


# ------------------------------------------------------------------ child processes


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=7, connections=30, regions=REGIONS, lifecycle=False)
    with SimulatorThread(sim) as url:
        yield sim, url


def sim_config(tmp_path: Path, url: str, *, bad_account: bool) -> Path:
    text = (
        f'api: {{endpoint: "{url}", retries: 0}}\n'
        "refresh: {interval: 30s, timeout: 20s}\n"
        "accounts:\n"
        "  - name: good\n"
        "    credentials: {type: access_key, access_key_id: sim-access-key-id,"
        " access_key_secret: sim-access-key-secret}\n"
        f"    regions: [{', '.join(REGIONS)}]\n"
    )
    if bad_account:
        text += (
            "  - name: bad\n"
            "    credentials: {type: access_key, access_key_id: sim-access-key-id,"
            f" access_key_secret: {WRONG_SECRET}}}\n"
            "    regions: [cn-hangzhou]\n"
        )
    return write_config(tmp_path, text)


def info_ids(exposition: str, account: str, region: str) -> set[str]:
    pattern = re.compile(
        r'^expressconnect_physical_connection_info\{account="'
        + account
        + r'",region_id="'
        + region
        + r'",physical_connection_id="([^"]+)"',
        re.M,
    )
    return set(pattern.findall(exposition))


def test_once_prints_the_exposition(tmp_path: Path, simulator: tuple[Simulator, str]) -> None:
    sim, url = simulator
    result = exporter_cmd("--once", "--config", str(sim_config(tmp_path, url, bad_account=False)))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for region in REGIONS:
        expected = {c["PhysicalConnectionId"] for c in sim.connections(region=region)}
        assert expected and info_ids(result.stdout, "good", region) == expected
        assert f'expressconnect_region_up{{account="good",region_id="{region}",{PC}}} 1\n' in (
            result.stdout
        )


def test_once_exits_1_when_a_region_fails(tmp_path: Path, simulator: tuple[Simulator, str]) -> None:
    _, url = simulator
    result = exporter_cmd("--once", "--config", str(sim_config(tmp_path, url, bad_account=True)))
    assert result.returncode == 1, result.stderr
    assert f'expressconnect_region_up{{account="bad",region_id="cn-hangzhou",{PC}}} 0\n' in (
        result.stdout
    )
    assert f'expressconnect_region_up{{account="good",region_id="cn-hangzhou",{PC}}} 1\n' in (
        result.stdout
    )
    assert info_ids(result.stdout, "bad", "cn-hangzhou") == set()
    assert "SignatureDoesNotMatch" in result.stderr  # logged, one line per record
    # The passes that read the VBR inventory fail at once, saying why, instead of waiting
    # refresh.timeout for an inventory that cannot come.
    assert "the virtual_border_routers collector failed in this region" in result.stderr
    assert "waiting for the virtual_border_routers" not in result.stderr
    assert "Traceback" not in result.stderr
    assert WRONG_SECRET not in result.stderr + result.stdout


def test_daemon_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, "accounts: [{name: a, regions: [cn-hangzou]}]\n")
    result = exporter_cmd("--config", str(path))
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        f"{path}: accounts[0].regions[0]: unknown region 'cn-hangzou' (did you mean 'cn-hangzhou'?)"
    )


def test_daemon_serves_and_stops_on_sigterm(
    tmp_path: Path, simulator: tuple[Simulator, str]
) -> None:
    _, url = simulator
    with harness.start_exporter(sim_config(tmp_path, url, bad_account=False)) as proc:
        harness.wait_until(
            lambda: b"expressconnect_region_up" in harness.http_get(proc.url + "/metrics"),
            20,
            "metrics",
        )
        proc.process.send_signal(signal.SIGTERM)
        assert proc.process.wait(timeout=20) == 0


def test_simulate_subcommand_passes_its_arguments_through() -> None:
    result = exporter_cmd("simulate", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: expressconnect-exporter simulate")
    assert "--time-scale" in result.stdout
    result = exporter_cmd("simulate", "--bogus")
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "expressconnect-exporter simulate: unrecognized arguments: --bogus (see --help)"
    )


@pytest.mark.e2e
def test_demo_runs_both_and_prints_the_urls() -> None:
    port, sim_port = harness.free_port(), harness.free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "demo",
            "--listen",
            f"127.0.0.1:{port}",
            "--simulator-listen",
            f"127.0.0.1:{sim_port}",
            "--connections",
            "40",
            "--interval",
            "2s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Press Ctrl-C"):
            line = process.stdout.readline()
            assert line, f"demo ended early: {banner}"
            banner.append(line)
        assert banner[0].startswith("expressconnect-exporter demo: 40 simulated connections in 4")
        assert f"  exporter:           http://127.0.0.1:{port}/\n" in banner
        assert f"  metrics:            http://127.0.0.1:{port}/metrics\n" in banner
        assert f"  simulator API:      http://127.0.0.1:{sim_port}/\n" in banner

        def all_up() -> bool:
            body = harness.http_get(f"http://127.0.0.1:{port}/metrics").decode()
            # four regions, each read by every collector
            return body.count("expressconnect_region_up{") == 4 * len(
                COLLECTORS
            ) and "} 0\n" not in "".join(
                line + "\n"
                for line in body.splitlines()
                if line.startswith("expressconnect_region_up{")
            )

        harness.wait_until(all_up, 60, "four regions up in the demo, every collector")
        # the printed control-plane example works and the change reaches /metrics
        (example,) = [line for line in banner if line.startswith("  try:")]
        pc_id = re.search(r"/_sim/connections/(pc-[a-z0-9]+) ", example)
        assert pc_id is not None
        request = urllib.request.Request(
            f"http://127.0.0.1:{sim_port}/_sim/connections/{pc_id.group(1)}",
            data=b'{"BusinessStatus": "FinancialLocked"}',
            headers={"Content-Type": "application/json"},
            method="PATCH",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        locked = (
            f'physical_connection_id="{pc_id.group(1)}",business_status="FinancialLocked"}} 1\n'
        )
        harness.wait_until(
            lambda: locked in harness.http_get(f"http://127.0.0.1:{port}/metrics").decode(),
            30,
            "the business status change in /metrics",
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("interval", ["1s", "15s", "2m", "1h"])
def test_demo_config_is_valid_for_any_interval(interval: str) -> None:
    from exporter.demo import demo_config
    from exporter.durations import parse_duration

    seconds = parse_duration(interval)
    config = demo_config("http://127.0.0.1:18080", ["cn-hangzhou"], seconds, "127.0.0.1:9756")
    assert config.refresh.interval == seconds
    assert config.api.endpoint == "http://127.0.0.1:18080"
    assert config.accounts[0].regions == ("cn-hangzhou",)


def test_demo_finds_the_scenario_of_a_checkout() -> None:
    from exporter.demo import find_demo_scenario

    scenario = find_demo_scenario()
    assert scenario == ROOT / "exporter" / "data" / "demo-scenario.yml"
    assert (ROOT / "config" / "demo-scenario.yml").resolve() == scenario
