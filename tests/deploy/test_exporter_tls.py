"""The real exporter (`python -m exporter --web.config.file`) over TLS on loopback: basic auth,
mutual TLS, plain HTTP refused, password change without restart, and a real Prometheus scraping
it with tls_config + basic_auth. Certificates are made in the test."""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import harness
from tests.deploy.pki import CA, PKI, bcrypt_hash

PASSWORD = "scrape-pass-0123456789"
SIM_SECRET = "sim-access-key-secret"


def exporter_config(directory: Path, sim_url: str, port: int) -> Path:
    path = directory / "exporter.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "web": {"listen_address": f"127.0.0.1:{port}"},
                "refresh": {"interval": "30s", "timeout": "20s"},
                "api": {"endpoint": sim_url},
                "accounts": [
                    {
                        "name": "tls",
                        "credentials": {
                            "type": "access_key",
                            "access_key_id": "sim-access-key-id",
                            "access_key_secret": SIM_SECRET,
                        },
                        "regions": ["cn-hangzhou"],
                    }
                ],
            }
        )
    )
    return path


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def request(
    port: int,
    path: str,
    context: ssl.SSLContext | None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def client_context(ca: CA, cert: Any = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.path))
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    return context


def refused(port: int, path: str, context: ssl.SSLContext | None, **kw: Any) -> None:
    with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
        request(port, path, context, **kw)


@dataclass
class Running:
    proc: harness.Proc
    port: int
    ca: CA
    web_config: Path
    pki: PKI


def start_tls_exporter(
    directory: Path, sim_url: str, web: dict[str, Any], ca: CA, client: Any = None
) -> tuple[harness.Proc, int, Path]:
    port = harness.free_port()
    config = exporter_config(directory, sim_url, port)
    web_config = directory / "web-config.yml"
    web_config.write_text(yaml.safe_dump(web))
    argv = [
        sys.executable,
        "-m",
        "exporter",
        "--config",
        str(config),
        "--web.config.file",
        str(web_config),
    ]
    proc = harness.Proc("exporter", argv, f"https://127.0.0.1:{port}", directory / "exporter.log")
    context = client_context(ca, client)

    def ready() -> bool:
        if proc.process.poll() is not None:
            raise AssertionError(f"exporter exited:\n{proc.log_tail()}")
        status, _, _ = request(port, "/readyz", context, basic("prometheus", PASSWORD))
        return status == 200

    try:
        harness.wait_until(ready, 30, "the TLS exporter's /readyz")
    except AssertionError as exc:
        proc.stop()
        raise AssertionError(f"{exc}\n{proc.log_tail()}") from None
    return proc, port, web_config


@pytest.fixture(scope="module")
def simulator() -> Iterator[harness.Proc]:
    with harness.start_simulator(["--connections", "6", "--regions", "cn-hangzhou"]) as sim:
        yield sim


@pytest.fixture(scope="module")
def tls_exporter(
    simulator: harness.Proc, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("tls-exporter")
    pki = PKI(directory / "pki")
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    web = {
        "tls_server_config": {"cert_file": "pki/server.crt", "key_file": "pki/server.key"},
        "basic_auth_users": {"prometheus": bcrypt_hash(PASSWORD)},
        "http_server_config": {"headers": {"X-Frame-Options": "deny"}},
        "unauthenticated_paths": ["/healthz"],
    }
    assert server.cert == directory / web["tls_server_config"]["cert_file"]
    proc, port, web_config = start_tls_exporter(directory, simulator.url, web, ca)
    with proc:
        yield Running(proc, port, ca, web_config, pki)


def test_scrape_over_tls_with_basic_auth(tls_exporter: Running) -> None:
    context = client_context(tls_exporter.ca)
    status, headers, body = request(
        tls_exporter.port, "/metrics", context, basic("prometheus", PASSWORD)
    )
    assert status == 200
    up = b'expressconnect_region_up{account="tls",region_id="cn-hangzhou",'
    assert up + b'collector="physical_connections"} 1' in body
    assert body.count(b"expressconnect_physical_connection_info{") == 6
    status, headers, _ = request(tls_exporter.port, "/", context, basic("prometheus", PASSWORD))
    assert status == 200 and headers["X-Frame-Options"] == "deny"
    # The probe paths listed are open; nothing else is.
    assert request(tls_exporter.port, "/healthz", context)[0] == 200
    assert request(tls_exporter.port, "/readyz", context)[0] == 401
    assert request(tls_exporter.port, "/-/ready", context)[0] == 401


def test_configured_headers_on_the_streamed_metrics_response(tls_exporter: Running) -> None:
    """/metrics is streamed by its handler: the headers come from on_response_prepare."""
    context = client_context(tls_exporter.ca)
    status, headers, _ = request(
        tls_exporter.port, "/metrics", context, basic("prometheus", PASSWORD)
    )
    assert status == 200
    assert headers["X-Frame-Options"] == "deny"


def test_wrong_password_and_unknown_user_get_the_same_401(tls_exporter: Running) -> None:
    context = client_context(tls_exporter.ca)
    replies = [
        request(tls_exporter.port, "/metrics", context, basic("prometheus", PASSWORD + "x")),
        request(tls_exporter.port, "/metrics", context, basic("admin", PASSWORD)),
        request(tls_exporter.port, "/metrics", context),
    ]
    for status, headers, body in replies:
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic")
        assert body == b"Unauthorized\n"
        assert b"expressconnect_" not in body


def test_plain_http_to_the_tls_port_is_refused_cleanly(tls_exporter: Running) -> None:
    refused(tls_exporter.port, "/metrics", None, headers=basic("prometheus", PASSWORD))
    refused(tls_exporter.port, "/healthz", None)
    # Still serving. The answer also means the one event loop is past the refused connections
    # (the client saw them closed), so whatever it logs for them is in the log already.
    context = client_context(tls_exporter.ca)
    assert request(tls_exporter.port, "/healthz", context)[0] == 200
    log = tls_exporter.proc.log_path.read_text()
    assert "Traceback" not in log
    assert PASSWORD not in log and SIM_SECRET not in log


@pytest.mark.e2e
def test_prometheus_scrapes_the_exporter_over_tls_with_basic_auth(
    tls_exporter: Running, tmp_path: Path
) -> None:
    password_file = tmp_path / "scrape-password"
    password_file.write_text(PASSWORD)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "expressconnect",
                "scheme": "https",
                "tls_config": {"ca_file": str(tls_exporter.ca.path)},
                "basic_auth": {"username": "prometheus", "password_file": str(password_file)},
                "static_configs": [{"targets": [f"127.0.0.1:{tls_exporter.port}"]}],
            }
        ],
    }
    with harness.start_prometheus(yaml.safe_dump(config), tmp_path) as prometheus:
        prometheus.wait_for_targets_up(timeout=30)
        (target,) = prometheus.api("targets")["activeTargets"]
        assert target["scrapeUrl"] == f"https://127.0.0.1:{tls_exporter.port}/metrics"
        assert target["lastError"] == ""
        result = prometheus.wait_until(
            lambda: prometheus.query(
                'expressconnect_region_up{job="expressconnect",collector="physical_connections"}'
                " == 1"
            ),
            timeout=30,
            what="expressconnect_region_up == 1 in Prometheus",
        )
        assert [r["metric"]["region_id"] for r in result] == ["cn-hangzhou"]
        count = prometheus.query("count(expressconnect_physical_connection_info)")
        assert count[0]["value"][1] == "6"


def test_password_change_is_picked_up_without_restart(tls_exporter: Running) -> None:
    """Last in this module: it changes the password the other tests use."""
    context = client_context(tls_exporter.ca)
    pid = tls_exporter.proc.process.pid
    web = yaml.safe_load(tls_exporter.web_config.read_text())
    web["basic_auth_users"] = {"prometheus": bcrypt_hash("rotated-password")}
    tls_exporter.web_config.write_text(yaml.safe_dump(web))
    st = tls_exporter.web_config.stat()
    os.utime(tls_exporter.web_config, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))

    def old_refused() -> bool:
        return (
            request(tls_exporter.port, "/metrics", context, basic("prometheus", PASSWORD))[0] == 401
        )

    harness.wait_until(old_refused, 10, "the old password to be refused")
    status, _, _ = request(
        tls_exporter.port, "/metrics", context, basic("prometheus", "rotated-password")
    )
    assert status == 200
    assert tls_exporter.proc.process.pid == pid and tls_exporter.proc.process.poll() is None


@pytest.mark.e2e
def test_mutual_tls_refuses_a_client_without_certificate(
    simulator: harness.Proc, tmp_path: Path
) -> None:
    pki = PKI(tmp_path / "pki")
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    client = pki.issue(ca, "client", server=False)
    stranger = pki.issue(pki.ca("other"), "stranger", server=False)
    web = {
        "tls_server_config": {
            "cert_file": str(server.cert),
            "key_file": str(server.key),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": str(ca.path),
        }
    }
    proc, port, _ = start_tls_exporter(tmp_path, simulator.url, web, ca, client)
    with proc:
        status, _, body = request(port, "/metrics", client_context(ca, client))
        assert status == 200 and b"expressconnect_region_up" in body
        refused(port, "/metrics", client_context(ca))
        refused(port, "/metrics", client_context(ca, stranger))
        refused(port, "/metrics", None)
        assert request(port, "/healthz", client_context(ca, client))[0] == 200
        assert "Traceback" not in proc.log_path.read_text()

        # Prometheus' own (Go) TLS client: with the client certificate it is up, without it
        # the handshake fails.
        jobs = [
            {
                "job_name": name,
                "scheme": "https",
                "tls_config": {"ca_file": str(ca.path), **extra},
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }
            for name, extra in (
                ("with-cert", {"cert_file": str(client.cert), "key_file": str(client.key)}),
                ("without-cert", {}),
            )
        ]
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}}
        config["scrape_configs"] = jobs  # type: ignore[assignment]
        prom_dir = tmp_path / "prometheus"
        prom_dir.mkdir()
        with harness.start_prometheus(yaml.safe_dump(config), prom_dir) as prometheus:

            def both_scraped() -> dict[str, dict[str, str]] | None:
                targets = prometheus.api("targets")["activeTargets"]
                by_job = {t["labels"]["job"]: t for t in targets}
                done = len(by_job) == 2 and all(t["health"] != "unknown" for t in targets)
                return by_job if done else None

            by_job = prometheus.wait_until(both_scraped, 30, "both mTLS jobs scraped")
            assert by_job["with-cert"]["health"] == "up", by_job["with-cert"]["lastError"]
            # TLS 1.3: the server checks the certificate after the client's Finished, so Go
            # reports the refusal as a reset on the first read (TLS 1.2 would name a bad cert).
            assert by_job["without-cert"]["health"] == "down"
            assert by_job["without-cert"]["lastError"] != ""
            scraped = prometheus.wait_until(
                lambda: prometheus.query(
                    'expressconnect_region_up{job="with-cert",collector="physical_connections"}'
                ),
                10,
                "the with-cert job's samples",
            )
            assert [r["value"][1] for r in scraped] == ["1"]


def test_bad_web_config_file_stops_the_exporter_with_one_line(tmp_path: Path) -> None:
    config = exporter_config(tmp_path, "http://127.0.0.1:9", harness.free_port())
    web_config = tmp_path / "web.yml"
    web_config.write_text("tls_server_config: {cert_file: nope.crt, key_file: nope.key}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config",
            str(config),
            "--web.config.file",
            str(web_config),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=harness.ROOT,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].endswith(
        f"web config {web_config}: tls_server_config.cert_file/key_file: cannot load "
        f"{tmp_path}/nope.crt with {tmp_path}/nope.key: No such file or directory"
    ), lines[0]


def test_check_config_loads_the_web_config_certificates_too(pki: PKI, tmp_path: Path) -> None:
    config = exporter_config(tmp_path, "http://127.0.0.1:9", harness.free_port())
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    web_config = tmp_path / "web.yml"
    argv = [sys.executable, "-m", "exporter", "--config", str(config), "--check-config"]
    argv += ["--web.config.file", str(web_config)]

    web_config.write_text(
        yaml.safe_dump(
            {"tls_server_config": {"cert_file": str(server.cert), "key_file": str(server.key)}}
        )
    )
    good = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=harness.ROOT)
    assert good.returncode == 0, good.stderr

    # Syntactically fine, but the key does not belong to the certificate.
    web_config.write_text(
        yaml.safe_dump(
            {"tls_server_config": {"cert_file": str(ca.path), "key_file": str(server.key)}}
        )
    )
    bad = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=harness.ROOT)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "tls_server_config.cert_file/key_file: cannot load" in bad.stderr
    assert "KEY_VALUES_MISMATCH" in bad.stderr
