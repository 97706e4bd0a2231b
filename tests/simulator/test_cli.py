"""`python -m exporter simulate` as a real process: banner, credentials, API, clean stop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.harness import free_port, start_simulator

from .conftest import describe


def test_simulate_serves_and_prints_credentials() -> None:
    with start_simulator(
        ["--seed", "3", "--connections", "8", "--regions", "cn-hangzhou,cn-beijing"]
    ) as proc:
        data = describe(proc.url, "cn-beijing").json
        assert data["TotalCount"] == 4
        banner = proc.log_path.read_text()
        assert f"listening on {proc.url}/" in banner
        assert "sim-access-key-id" in banner and "sim-access-key-secret" in banner


def test_accounts_file_and_sigterm(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yml"
    accounts.write_text(
        textwrap.dedent("""\
        accounts:
          - name: prod
            access_key_id: prod-ak
            access_key_secret: prod-secret-value
            connections: 6
            regions: [cn-shanghai]
    """)
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "simulate",
            "--listen",
            f"127.0.0.1:{port}",
            "--accounts-file",
            str(accounts),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first
        from .conftest import send

        answer = send(
            f"http://127.0.0.1:{port}",
            "DescribePhysicalConnections",
            {"RegionId": "cn-shanghai"},
            ak="prod-ak",
            secret="prod-secret-value",
        )
        assert answer.json["TotalCount"] == 6
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "prod-secret-value" not in first + out  # a user's own secrets are never printed
    finally:
        if process.poll() is None:
            process.kill()


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    bad_accounts = tmp_path / "a.yml"
    bad_accounts.write_text(json.dumps({"accounts": [{"name": "x", "access_key_id": "a"}]}))
    for args, needle in [
        (["--regions", "cn-hangzou"], "--regions: unknown region(s) cn-hangzou"),
        (["--listen", "nowhere"], "--listen"),
        (["--accounts-file", str(bad_accounts)], "accounts.0.access_key_secret"),
        (["--scenario", str(tmp_path / "missing.yml")], "cannot read scenario"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "exporter", "simulate", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr


def test_port_in_use_is_a_one_line_error() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "exporter", "simulate", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "address already in use" in result.stderr
