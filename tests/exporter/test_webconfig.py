"""The web config file: validation errors, and TLS/basic auth/headers on a small aiohttp app over
real TLS on loopback (certificates made in the test)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import logging
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from exporter import webconfig
from exporter.webconfig import WebConfigError, WebConfigManager, parse_web_config
from tests.deploy.pki import PKI, bcrypt_hash

# Well-formed (the salt's and the hash's last characters carry padding bits, hence "O" and "u").
HASH = "$2b$04$" + "a" * 21 + "O" + "a" * 30 + "u"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[1, 2]", "the top level must be a mapping"),
        ("tls_server_config: {cert_file: a\n", "not valid YAML at line 2"),
        ("basic_auth: {}", "basic_auth: unknown field"),
        (
            f"basic_auth_users:\n  alice: '{HASH}'\n  alice: '{HASH}'\n",
            "duplicate key 'alice' at line 3",
        ),
        ("tls_server_config: {certfile: x}", "tls_server_config.certfile: unknown field"),
        (
            "tls_server_config: {min_version: TLS11}",
            "tls_server_config.min_version: Input should be 'TLS12' or 'TLS13', got 'TLS11'",
        ),
        (
            "tls_server_config: {client_auth_type: RequireCert}",
            "tls_server_config.client_auth_type: Input should be 'NoClientCert', "
            "'RequestClientCert', 'RequireAnyClientCert', 'RequireClientCert', "
            "'VerifyClientCertIfGiven' or 'RequireAndVerifyClientCert', got 'RequireCert'",
        ),
        (
            "tls_server_config: {cipher_suites: [TLS_AES_128_GCM_SHA256]}",
            "tls_server_config.cipher_suites: not supported by this exporter",
        ),
        (
            "tls_server_config: {client_allowed_sans: [a]}",
            "tls_server_config.client_allowed_sans: not supported by this exporter",
        ),
        ("rate_limit: {burst: 1}", "rate_limit: not supported by this exporter"),
        (
            "basic_auth_users: {alice: hunter2}",
            "basic_auth_users.alice: not a bcrypt hash (make one with htpasswd -nBC 12)",
        ),
        (
            "basic_auth_users: {alice: '$2b$99$" + HASH[7:] + "'}",
            "basic_auth_users.alice: bcrypt cost 99 is outside 04-31 (make one with htpasswd "
            "-nBC 12)",
        ),
        (
            "basic_auth_users: {alice: '$2b$03$" + HASH[7:] + "'}",
            "basic_auth_users.alice: bcrypt cost 03 is outside 04-31 (make one with htpasswd "
            "-nBC 12)",
        ),
        (  # bcrypt refuses this salt ("Invalid salt"): its last character has stray bits
            "basic_auth_users: {alice: '" + HASH[:28] + "a" + HASH[29:] + "'}",
            "basic_auth_users.alice: not a bcrypt hash (make one with htpasswd -nBC 12)",
        ),
        (
            f"basic_auth_users: {{'a:b': '{HASH}'}}",
            "basic_auth_users: user name 'a:b' must be non-empty and contain no ':'",
        ),
        (
            "http_server_config: {headers: {Server: x}}",
            "http_server_config.headers.Server: cannot be configured (allowed: "
            "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, "
            "X-XSS-Protection, Content-Security-Policy)",
        ),
        (
            "http_server_config: {headers: {X-Frame-Options: allow}}",
            "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin, "
            "got 'allow'",
        ),
        (
            "unauthenticated_paths: [healthz]",
            "unauthenticated_paths[0]: 'healthz' must start with '/'",
        ),
        (
            "http_server_config: {http2: maybe}",
            "http_server_config.http2: Input should be a valid boolean, unable to interpret input",
        ),
    ],
)
def test_bad_web_config_text_gives_one_line_naming_the_field(text: str, error: str) -> None:
    with pytest.raises(WebConfigError) as raised:
        parse_web_config(text)
    assert str(raised.value) == error
    assert "\n" not in str(raised.value)


def test_plaintext_password_in_users_is_never_echoed() -> None:
    with pytest.raises(WebConfigError) as raised:
        parse_web_config("basic_auth_users: {alice: 'correct horse battery'}")
    assert "correct horse" not in str(raised.value)


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def tls_block(pki_dir: Path, server: Any, **extra: Any) -> dict[str, Any]:
    return {
        "tls_server_config": {"cert_file": str(server.cert), "key_file": str(server.key), **extra}
    }


@pytest.mark.parametrize(
    ("tls", "error"),
    [
        (
            {"key_file": "server.key"},
            "tls_server_config.cert_file: missing (TLS needs cert and key)",
        ),
        (
            {"cert_file": "server.crt"},
            "tls_server_config.key_file: missing (TLS needs cert and key)",
        ),
        (
            {"cert_file": "server.crt", "key_file": "server.key", "client_ca_file": "ca.crt"},
            "tls_server_config.client_ca_file: set but client_auth_type is NoClientCert",
        ),
        (
            {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "client_auth_type": "RequireAndVerifyClientCert",
            },
            "tls_server_config.client_ca_file: required for client_auth_type "
            "RequireAndVerifyClientCert",
        ),
        (
            {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "client_auth_type": "RequireAnyClientCert",
            },
            "tls_server_config.client_ca_file: required for client_auth_type "
            "RequireAnyClientCert here (Python's ssl verifies every client certificate it "
            "requires)",
        ),
        (
            {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "min_version": "TLS13",
                "max_version": "TLS12",
            },
            "tls_server_config.min_version: higher than max_version",
        ),
        (
            {"cert_file": "missing.crt", "key_file": "server.key"},
            "tls_server_config.cert_file/key_file: cannot load {d}/missing.crt with "
            "{d}/server.key: No such file or directory",
        ),
        (
            {"cert_file": "ca.crt", "key_file": "server.key"},
            "tls_server_config.cert_file/key_file: cannot load {d}/ca.crt with {d}/server.key: "
            "[X509: KEY_VALUES_MISMATCH] key values mismatch (_ssl.c:{line})",
        ),
        (
            {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "client_ca_file": "server.key",
                "client_auth_type": "VerifyClientCertIfGiven",
            },
            "tls_server_config.client_ca_file: cannot load {d}/server.key: [X509: "
            "NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found (_ssl.c:{line})",
        ),
    ],
)
def test_bad_tls_settings_name_the_field(pki: PKI, tls: dict[str, str], error: str) -> None:
    ca = pki.ca("ca")
    pki.issue(ca, "server", server=True)
    path = write(pki.dir / "web.yml", {"tls_server_config": tls})  # relative to the file
    with pytest.raises(WebConfigError) as raised:
        WebConfigManager(path)
    message = str(raised.value)
    expected = f"web config {path}: " + error.format(d=pki.dir, line="LINE")
    if "{line}" in error:
        message = message[: message.rindex(":") + 1] + "LINE)"
    assert message == expected
    assert "PRIVATE KEY" not in message


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match=r"^web config .*/nope.yml: cannot read: No such file"):
        WebConfigManager(tmp_path / "nope.yml")


def test_empty_file_means_no_tls_and_no_auth(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("")
    manager = WebConfigManager(path)
    assert manager.ssl_context is None
    assert manager.config.basic_auth_users == {}
    manager.close()


# --- a small app served with the manager, clients in a thread -------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    peer_cert: bytes | None


def client_context(
    ca: Path | None, client: Any = None, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    if max_version is not None:
        context.maximum_version = max_version
    return context


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def fetch(
    port: int,
    path: str = "/metrics",
    *,
    context: ssl.SSLContext | None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request on a new connection (so each one is a new TLS handshake)."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    try:
        conn.connect()
        peer = conn.sock.getpeercert(binary_form=True) if context is not None else None
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read(), peer)
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def serve(manager: WebConfigManager) -> AsyncIterator[int]:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text="expressconnect_region_up 1\n")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)  # headers leave before the middleware sees it
        await response.write(b"streamed\n")
        await response.write_eof()
        return response

    app = web.Application(middlewares=[manager.middleware])
    app.on_response_prepare.append(manager.on_response_prepare)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/stream", stream)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=manager.ssl_context)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
        manager.close()


async def call(port: int, path: str = "/metrics", **kwargs: Any) -> Reply:
    return await asyncio.to_thread(fetch, port, path, **kwargs)


async def refused(port: int, path: str = "/metrics", **kwargs: Any) -> BaseException:
    """The request must fail at the TLS/connection level, with no HTTP response at all."""
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException, OSError)) as exc:
        await call(port, path, **kwargs)
    return exc.value


@pytest.fixture
def fast_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-check files on every request instead of at most once a second."""
    monkeypatch.setattr(webconfig, "_RECHECK_SECONDS", 0.0)


def touch_later(*paths: Path) -> None:
    """Make sure a rewrite shows as a change even on coarse-mtime file systems."""
    for path in paths:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def tls_auth(pki: PKI) -> Iterator[tuple[PKI, Any, Path]]:
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    path = write(
        pki.dir / "web.yml",
        {
            **tls_block(pki.dir, server),
            "basic_auth_users": {"prometheus": bcrypt_hash("s3cret-pass")},
            "http_server_config": {
                "headers": {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "deny"}
            },
            "unauthenticated_paths": ["/healthz"],
        },
    )
    yield pki, ca, path


async def test_tls_with_basic_auth(tls_auth: tuple[PKI, Any, Path]) -> None:
    _, ca, path = tls_auth
    context = client_context(ca.path)
    async with serve(WebConfigManager(path)) as port:
        ok = await call(port, context=context, headers=basic("prometheus", "s3cret-pass"))
        assert ok.status == 200 and ok.body == b"expressconnect_region_up 1\n"
        assert ok.headers["X-Content-Type-Options"] == "nosniff"
        assert ok.headers["X-Frame-Options"] == "deny"

        wrong = await call(port, context=context, headers=basic("prometheus", "s3cret-pasS"))
        nobody = await call(port, context=context, headers=basic("nobody", "s3cret-pass"))
        missing = await call(port, context=context)
        garbage = await call(port, context=context, headers={"Authorization": "Basic %%%"})
        for reply in (wrong, nobody, missing, garbage):
            assert reply.status == 401
            assert reply.headers["WWW-Authenticate"].startswith("Basic realm=")
            assert reply.body == b"Unauthorized\n"  # same for unknown user and wrong password
            assert reply.headers["X-Frame-Options"] == "deny"

        probe = await call(port, "/healthz", context=context)
        assert probe.status == 200 and probe.body == b"ok\n"
        # The open path is matched after URL normalisation, exactly: no way around it.
        sneaky = await call(port, "/healthz/../metrics", context=context)
        assert sneaky.status == 401
        assert (await call(port, "/healthz/", context=context)).status == 401
        not_found = await call(
            port, "/nope", context=context, headers=basic("prometheus", "s3cret-pass")
        )
        assert not_found.status == 404 and not_found.headers["X-Frame-Options"] == "deny"
        streamed = await call(
            port, "/stream", context=context, headers=basic("prometheus", "s3cret-pass")
        )
        assert streamed.body == b"streamed\n" and streamed.headers["X-Frame-Options"] == "deny"


async def test_plain_http_to_tls_port_is_refused_without_traceback(
    tls_auth: tuple[PKI, Any, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _, ca, path = tls_auth
    caplog.set_level(logging.DEBUG)
    loop = asyncio.get_running_loop()
    handled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: handled.append(context))
    async with serve(WebConfigManager(path)) as port:
        await refused(port, context=None, headers=basic("prometheus", "s3cret-pass"))
        # The server is still fine afterwards.
        ok = await call(
            port, context=client_context(ca.path), headers=basic("prometheus", "s3cret-pass")
        )
        assert ok.status == 200
    assert handled == []
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING] == []


async def test_bcrypt_runs_once_per_credentials(
    tls_auth: tuple[PKI, Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ca, path = tls_auth
    calls: list[bytes] = []
    real = webconfig._check_password

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(webconfig, "_check_password", counting)
    manager = WebConfigManager(path)
    context = client_context(ca.path)
    async with serve(manager) as port:
        for _ in range(3):
            reply = await call(port, context=context, headers=basic("prometheus", "s3cret-pass"))
            assert reply.status == 200
        assert len(calls) == 1
        for _ in range(2):
            reply = await call(port, context=context, headers=basic("prometheus", "wrong"))
            assert reply.status == 401
        # Failures are checked every time: only verified logins are cached.
        assert len(calls) == 3
        # The cache holds keyed digests only, never the password.
        assert all(b"s3cret" not in key and len(key) == 32 for key in manager._cache)


async def test_password_change_is_picked_up_without_restart(
    tls_auth: tuple[PKI, Any, Path], fast_reload: None, caplog: pytest.LogCaptureFixture
) -> None:
    _, ca, path = tls_auth
    context = client_context(ca.path)
    manager = WebConfigManager(path)
    async with serve(manager) as port:
        assert (
            await call(port, context=context, headers=basic("prometheus", "s3cret-pass"))
        ).status == 200
        data = yaml.safe_load(path.read_text())
        data["basic_auth_users"] = {"prometheus": bcrypt_hash("n3w-pass")}
        write(path, data)
        touch_later(path)
        assert (
            await call(port, context=context, headers=basic("prometheus", "s3cret-pass"))
        ).status == 401
        assert (
            await call(port, context=context, headers=basic("prometheus", "n3w-pass"))
        ).status == 200

        # A broken new file keeps the last good one and says so once in the log.
        path.write_text("basic_auth_users: {prometheus: plaintext}\n")
        touch_later(path)
        caplog.clear()
        for _ in range(2):
            assert (
                await call(port, context=context, headers=basic("prometheus", "n3w-pass"))
            ).status == 200
        errors = [
            (r.getMessage(), getattr(r, "error", None))
            for r in caplog.records
            if r.levelno == logging.ERROR
        ]
        assert errors == [
            (
                "web config not reloaded, keeping the previous one",
                f"web config {path}: basic_auth_users.prometheus: not a bcrypt hash (make one "
                "with htpasswd -nBC 12)",
            )
        ]
        # Turning TLS off cannot happen under a running listener: refused, old config kept.
        write(path, {"basic_auth_users": {"prometheus": bcrypt_hash("n3w-pass")}})
        touch_later(path)
        caplog.clear()
        assert (
            await call(port, context=context, headers=basic("prometheus", "n3w-pass"))
        ).status == 200
        assert any(
            "turning TLS on or off needs a restart" in getattr(r, "error", "")
            for r in caplog.records
        )


async def test_mutual_tls_refuses_missing_and_foreign_client_certs(pki: PKI) -> None:
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    client = pki.issue(ca, "client", server=False)
    other = pki.ca("other-ca")
    stranger = pki.issue(other, "stranger", server=False)
    path = write(
        pki.dir / "web.yml",
        tls_block(
            pki.dir,
            server,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=str(ca.path),
        ),
    )
    async with serve(WebConfigManager(path)) as port:
        assert (await call(port, context=client_context(ca.path, client))).status == 200
        await refused(port, context=client_context(ca.path))
        await refused(port, context=client_context(ca.path, stranger))
        # Same with TLS 1.2, where the refusal happens inside the handshake itself.
        with pytest.raises(ssl.SSLError):
            await call(port, context=client_context(ca.path, None, ssl.TLSVersion.TLSv1_2))


async def test_verify_client_cert_if_given(pki: PKI) -> None:
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    client = pki.issue(ca, "client", server=False)
    stranger = pki.issue(pki.ca("other-ca"), "stranger", server=False)
    path = write(
        pki.dir / "web.yml",
        tls_block(
            pki.dir, server, client_auth_type="VerifyClientCertIfGiven", client_ca_file=str(ca.path)
        ),
    )
    async with serve(WebConfigManager(path)) as port:
        assert (await call(port, context=client_context(ca.path))).status == 200
        assert (await call(port, context=client_context(ca.path, client))).status == 200
        await refused(port, context=client_context(ca.path, stranger))


async def test_min_version_tls13_refuses_tls12(pki: PKI) -> None:
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    path = write(pki.dir / "web.yml", tls_block(pki.dir, server, min_version="TLS13"))
    async with serve(WebConfigManager(path)) as port:
        assert (await call(port, context=client_context(ca.path))).status == 200
        with pytest.raises(ssl.SSLError):
            await call(port, context=client_context(ca.path, None, ssl.TLSVersion.TLSv1_2))


async def test_certificate_and_client_ca_rotation_without_restart(
    pki: PKI, fast_reload: None
) -> None:
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    client = pki.issue(ca, "client", server=False)
    path = write(
        pki.dir / "web.yml",
        tls_block(
            pki.dir,
            server,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=str(pki.dir / "clients.crt"),
        ),
    )
    (pki.dir / "clients.crt").write_bytes(ca.path.read_bytes())
    manager = WebConfigManager(path)
    listening_context = manager.ssl_context
    async with serve(manager) as port:
        first = await call(port, context=client_context(ca.path, client))
        assert first.status == 200

        # New server certificate in place of the old files: the next handshake presents it.
        rotated = pki.issue(ca, "server-next", server=True)
        server.cert.write_bytes(rotated.cert.read_bytes())
        server.key.write_bytes(rotated.key.read_bytes())
        touch_later(server.cert, server.key)
        second = await call(port, context=client_context(ca.path, client))
        assert second.status == 200 and second.peer_cert != first.peer_cert
        from cryptography import x509

        assert (
            x509.load_der_x509_certificate(second.peer_cert or b"").serial_number == rotated.serial
        )

        # Client CA replaced: the old CA's clients are refused, the new CA's accepted.
        new_ca = pki.ca("clients-next")
        new_client = pki.issue(new_ca, "client-next", server=False)
        (pki.dir / "clients.crt").write_bytes(new_ca.path.read_bytes())
        touch_later(pki.dir / "clients.crt")
        await refused(port, context=client_context(ca.path, client))
        assert (await call(port, context=client_context(ca.path, new_client))).status == 200
    assert manager.ssl_context is listening_context


def test_example_web_config_loads_and_its_hash_matches_the_documented_password(
    pki: PKI,
) -> None:
    import bcrypt

    example = Path(__file__).resolve().parents[2] / "config" / "web-config.example.yml"
    ca = pki.ca("ca")
    server = pki.issue(ca, "server", server=True)
    # The example's relative cert_file/key_file resolve next to the file.
    (pki.dir / "web.yml").write_text(example.read_text())
    assert (server.cert.name, server.key.name) == ("server.crt", "server.key")
    manager = WebConfigManager(pki.dir / "web.yml")
    try:
        assert manager.ssl_context is not None
        # Every probe path is open, or a Deployment adapted from it never becomes Ready.
        assert set(manager.config.unauthenticated_paths) == {
            "/healthz",
            "/readyz",
            "/-/healthy",
            "/-/ready",
        }
        hashed = manager.config.basic_auth_users["prometheus"].encode()
        assert bcrypt.checkpw(b"change-me-to-a-long-random-password", hashed)
    finally:
        manager.close()


@pytest.mark.parametrize(
    ("auth", "with_ca", "mode"),
    [
        ("NoClientCert", False, ssl.CERT_NONE),
        ("RequestClientCert", False, ssl.CERT_NONE),  # nothing to verify against: not asked
        ("RequestClientCert", True, ssl.CERT_OPTIONAL),
        ("RequireAnyClientCert", True, ssl.CERT_REQUIRED),
        ("RequireClientCert", True, ssl.CERT_REQUIRED),
        ("VerifyClientCertIfGiven", True, ssl.CERT_OPTIONAL),
        ("RequireAndVerifyClientCert", True, ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_type_maps_to_what_python_ssl_enforces(
    auth: str, with_ca: bool, mode: ssl.VerifyMode
) -> None:
    tls = webconfig.TLSServerConfig.model_validate(
        {"client_auth_type": auth, "client_ca_file": "ca.crt" if with_ca else ""}
    )
    assert webconfig._verify_mode(tls) == mode


def test_header_values_cannot_smuggle_line_breaks() -> None:
    with pytest.raises(WebConfigError) as raised:
        parse_web_config('http_server_config: {headers: {Content-Security-Policy: "a\\r\\nX: b"}}')
    assert str(raised.value) == (
        "http_server_config.headers.Content-Security-Policy: line breaks are not allowed"
    )


def test_well_formed_hashes_from_bcrypt_itself_pass_and_the_test_hash_is_one() -> None:
    import bcrypt

    for cost in (4, 5):
        for i in range(64):
            hashed = bcrypt.hashpw(bytes([i]) * i, bcrypt.gensalt(cost)).decode()
            parse_web_config(f"basic_auth_users: {{u: '{hashed}'}}")
    assert bcrypt.checkpw(b"x", HASH.encode()) is False  # bcrypt accepts its salt


def test_a_hash_bcrypt_would_refuse_stops_the_load_instead_of_a_500_later(tmp_path: Path) -> None:
    """Before: `$2b$99$...` loaded, then an unknown user got 500 (the decoy could not be made
    at cost 99) while a known one got 401, which told users apart."""
    path = write(tmp_path / "web.yml", {"basic_auth_users": {"alice": "$2b$99$" + HASH[7:]}})
    with pytest.raises(WebConfigError) as raised:
        WebConfigManager(path)
    assert str(raised.value) == (
        f"web config {path}: basic_auth_users.alice: bcrypt cost 99 is outside 04-31 (make one "
        "with htpasswd -nBC 12)"
    )


async def test_unknown_and_known_users_get_the_same_answer(tmp_path: Path) -> None:
    path = write(tmp_path / "web.yml", {"basic_auth_users": {"alice": bcrypt_hash("pw", 5)}})
    async with serve(WebConfigManager(path)) as port:
        known = await call(port, context=None, headers=basic("alice", "wrong"))
        unknown = await call(port, context=None, headers=basic("mallory", "wrong"))
    for reply in (known, unknown):
        assert (reply.status, reply.body) == (401, b"Unauthorized\n")
    assert known.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


async def test_wrong_password_flood_neither_evicts_nor_delays_a_cached_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failures are not cached (a flood of distinct wrong passwords used to push the real
    scraper's entry out and queue it behind every bcrypt) and the bcrypt queue is bounded
    (overflow is answered 503 at once)."""
    import secrets as random_source

    path = write(tmp_path / "web.yml", {"basic_auth_users": {"prometheus": bcrypt_hash("pw", 6)}})
    manager = WebConfigManager(path)
    checked: list[bytes] = []
    pending: list[int] = []
    real = webconfig._check_password

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(password)
        pending.append(manager._pending)
        return real(password, hashed)

    monkeypatch.setattr(webconfig, "_check_password", spy)
    statuses: list[int] = []
    stop = asyncio.Event()

    async def flood_worker(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not stop.is_set():
                token = base64.b64encode(b"prometheus:" + random_source.token_hex(8).encode())
                writer.write(
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
                    + token
                    + b"\r\n\r\n"
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                statuses.append(int(head.split()[1]))
        finally:
            writer.close()

    async with serve(manager) as port:
        assert (await call(port, context=None, headers=basic("prometheus", "pw"))).status == 200
        workers = [asyncio.create_task(flood_worker(port)) for _ in range(24)]
        try:
            deadline = asyncio.get_running_loop().time() + 60
            # More distinct wrong passwords than the login cache holds.
            while len(statuses) <= 2 * webconfig._CACHE_SIZE:
                assert asyncio.get_running_loop().time() < deadline and not any(
                    worker.done() for worker in workers
                ), "flood did not get going"
                await asyncio.sleep(0.01)
            checked_before = len(checked)
            login = await call(port, context=None, headers=basic("prometheus", "pw"))
            flood_running = not stop.is_set() and not any(worker.done() for worker in workers)
        finally:
            stop.set()
            await asyncio.gather(*workers, return_exceptions=True)
    assert login.status == 200 and flood_running
    assert b"pw" not in checked[checked_before:]  # answered from the cache, no bcrypt
    assert set(statuses) == {401, 503}  # the queue overflowed and was answered at once
    assert max(pending) <= webconfig._MAX_PENDING_CHECKS
