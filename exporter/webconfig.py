"""TLS, basic auth and response headers from a `--web.config.file`.

The file uses the Prometheus exporter-toolkit format, so a web config written for a Go exporter
works here unchanged (within the limits listed below)::

    tls_server_config:
      cert_file: server.crt          # relative paths resolve from the config file's directory
      key_file: server.key
      min_version: TLS12             # TLS12 (default) or TLS13; max_version likewise
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: clients-ca.crt
    http_server_config:
      headers: {X-Content-Type-Options: nosniff}
    basic_auth_users:
      prometheus: $2b$12$...         # bcrypt hash, e.g. `htpasswd -nBC 12 prometheus`
    unauthenticated_paths: [/healthz]  # this exporter's extension: paths served without auth

Why the reload machinery looks the way it does: the listening socket holds one `ssl.SSLContext`
for its whole life, but certificates rotate. `ssl_context` is therefore one front context whose
SNI callback (OpenSSL calls it for every ClientHello, with or without a server name) swaps in a
freshly built context holding the current certificate and client CAs. A CA removed from
`client_ca_file` is thus really distrusted at the next handshake, which re-loading into one
context (OpenSSL only ever adds CAs) could not do. Files are re-checked at most once a second, on
handshakes and on requests; a new file that does not load is logged and the old one stays.

Differences from the Go toolkit, because Python's `ssl` verifies every client certificate it
asks for: `RequireAnyClientCert` needs `client_ca_file` and verifies against it, and
`RequestClientCert` without a CA does not ask for a certificate (the exporter never uses an
unverified one, so access is the same). Inline `cert`/`key`/`client_ca`, `cipher_suites`,
`curve_preferences`, `client_allowed_sans` and `rate_limit` are refused as unsupported;
`http2` is accepted and ignored (aiohttp serves HTTP/1.1).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
import ssl
import struct
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import bcrypt
import yaml
from aiohttp import hdrs, web
from pydantic import Field, ValidationError, field_validator

from exporter.config import StrictModel, UniqueKeyLoader

__all__ = ["WebConfigError", "WebConfigManager", "load_web_config"]

log = logging.getLogger("exporter.webconfig")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

#: Headers the exporter-toolkit lets a web config set, with their allowed values (None: any).
ALLOWED_HEADERS: Mapping[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
#: Toolkit keys this exporter refuses, rather than silently ignoring a security setting.
UNSUPPORTED_TLS_KEYS = (
    "cert",
    "key",
    "client_ca",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
)
UNSUPPORTED_TOP_KEYS = ("rate_limit",)

ClientAuthType = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "RequireClientCert",  # the toolkit's old name for RequireAnyClientCert
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
TLSVersionName = Literal["TLS12", "TLS13"]
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# Salt: 22 characters of bcrypt's base64 encoding 16 bytes, so the last one carries 2 bits and
# can only be one of ".Oeu"; the 31 hash characters encode 23 bytes, the last one 4 bits.
_BCRYPT_HASH = re.compile(
    r"^\$2[aby]\$(?P<cost>\d\d)\$[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{30}[.CGKOSWaeimquy26]$"
)
_BCRYPT_COSTS = range(4, 32)  # what bcrypt accepts; anything else fails at check time
_RECHECK_SECONDS = 1.0
_CACHE_SIZE = 256
#: Logins waiting for (or in) the bcrypt thread; more are answered 503 at once, so a flood of
#: wrong passwords cannot queue up without bound (cached logins never wait).
_MAX_PENDING_CHECKS = 8
_REALM = 'Basic realm="expressconnect-exporter", charset="UTF-8"'


#: (path, (mtime_ns, size, inode) or None when missing) for every file a generation was read from.
_Signature = tuple[tuple[str, tuple[int, int, int] | None], ...]


class WebConfigError(Exception):
    """An unusable web config; the message is one line naming the file and the field."""


class TLSServerConfig(StrictModel):
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: ClientAuthType = "NoClientCert"
    client_ca_file: str = ""
    min_version: TLSVersionName = "TLS12"
    max_version: TLSVersionName = "TLS13"


class HTTPServerConfig(StrictModel):
    http2: bool = True
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _toolkit_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if name not in ALLOWED_HEADERS:
                allowed = ", ".join(ALLOWED_HEADERS)
                raise ValueError(f".{name}: cannot be configured (allowed: {allowed})")
            values = ALLOWED_HEADERS[name]
            if values is not None and value not in values:
                raise ValueError(f".{name}: must be one of {', '.join(values)}, got {value!r}")
            if "\r" in value or "\n" in value:
                raise ValueError(f".{name}: line breaks are not allowed")
        return headers


class WebConfigFile(StrictModel):
    """The validated file; paths are as written (see `load_web_config` for resolving)."""

    tls_server_config: TLSServerConfig = Field(default_factory=TLSServerConfig)
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    unauthenticated_paths: tuple[str, ...] = ()

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_users(cls, users: dict[str, str]) -> dict[str, str]:
        for user, hashed in users.items():
            if not user or ":" in user:
                raise ValueError(f"user name {user!r} must be non-empty and contain no ':'")
            match = _BCRYPT_HASH.match(hashed) if isinstance(hashed, str) else None
            if match is None:
                # Never echo the value: it is a hash, but a pasted plaintext password is likely.
                raise ValueError(f".{user}: not a bcrypt hash (make one with htpasswd -nBC 12)")
            if int(match["cost"]) not in _BCRYPT_COSTS:
                raise ValueError(
                    f".{user}: bcrypt cost {match['cost']} is outside 04-31 "
                    "(make one with htpasswd -nBC 12)"
                )
        return users

    @field_validator("unauthenticated_paths")
    @classmethod
    def _absolute_paths(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for index, path in enumerate(paths):
            if not path.startswith("/"):
                raise ValueError(f"[{index}]: {path!r} must start with '/'")
        return paths

    @property
    def tls_enabled(self) -> bool:
        """True when a certificate, key, CA or client auth type is set, as in the toolkit
        (which then requires both certificate and key)."""
        tls = self.tls_server_config
        paths = tls.cert_file or tls.key_file or tls.client_ca_file
        return bool(paths) or "client_auth_type" in tls.model_fields_set


@dataclass(frozen=True)
class _Loaded:
    """One successfully loaded generation of the web config."""

    config: WebConfigFile
    tls: ssl.SSLContext | None  # the inner context: certificate and client CAs of this load
    verify_mode: ssl.VerifyMode
    signature: _Signature
    users: Mapping[str, bytes]

    @property
    def bcrypt_cost(self) -> int:
        """The highest cost among the users' hashes: what a decoy check must cost."""
        return max((int(hashed[4:6]) for hashed in self.users.values()), default=10)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "literal_error":
        message = f"{message}, got {error['input']!r}"
    # A validator's message may start with "[0]:" or ".name:" to extend the location.
    if message.startswith(("[", ".")):
        return f"{loc}{message}"
    return f"{loc}: {message}" if loc else message


def _check_unsupported(raw: Mapping[str, Any]) -> None:
    for key in UNSUPPORTED_TOP_KEYS:
        if key in raw:
            raise WebConfigError(f"{key}: not supported by this exporter")
    tls = raw.get("tls_server_config")
    if isinstance(tls, Mapping):
        for key in UNSUPPORTED_TLS_KEYS:
            if key in tls:
                raise WebConfigError(f"tls_server_config.{key}: not supported by this exporter")


def parse_web_config(text: str) -> WebConfigFile:
    """Validate the YAML text of a web config; WebConfigError names the first bad field."""
    try:
        # The config module's loader: duplicate keys (two entries for one user) are errors.
        raw = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except RecursionError:
        raise WebConfigError("YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(exc, "problem", "") or "")
        if problem.startswith("duplicate key"):
            raise WebConfigError(f"{problem}{where}") from None
        raise WebConfigError(f"not valid YAML{where}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise WebConfigError("the top level must be a mapping")
    _check_unsupported(raw)
    try:
        return WebConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise WebConfigError(_first_error(exc)) from None


def _resolve(base: Path, name: str) -> str:
    return name if not name or os.path.isabs(name) else str(base / name)


def _verify_mode(tls: TLSServerConfig) -> ssl.VerifyMode:
    """Map the toolkit's client_auth_type onto what Python's ssl can do (see module doc)."""
    auth, has_ca = tls.client_auth_type, bool(tls.client_ca_file)
    if has_ca and auth == "NoClientCert":
        raise WebConfigError(
            "tls_server_config.client_ca_file: set but client_auth_type is NoClientCert"
        )
    if auth in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert") and not has_ca:
        raise WebConfigError(
            f"tls_server_config.client_ca_file: required for client_auth_type {auth}"
        )
    if auth in ("RequireAnyClientCert", "RequireClientCert") and not has_ca:
        raise WebConfigError(
            f"tls_server_config.client_ca_file: required for client_auth_type {auth} here "
            "(Python's ssl verifies every client certificate it requires)"
        )
    if auth in ("RequireAnyClientCert", "RequireClientCert", "RequireAndVerifyClientCert"):
        return ssl.CERT_REQUIRED
    if auth == "NoClientCert" or not has_ca:
        return ssl.CERT_NONE
    return ssl.CERT_OPTIONAL


def _no_password() -> bytes:
    """Refuse encrypted keys instead of letting OpenSSL prompt on the terminal."""
    return b""


def _server_context(tls: TLSServerConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _TLS_VERSIONS[tls.min_version]
    context.maximum_version = _TLS_VERSIONS[tls.max_version]
    return context


def _load_tls(tls: TLSServerConfig, verify_mode: ssl.VerifyMode) -> ssl.SSLContext:
    if not tls.cert_file:
        raise WebConfigError("tls_server_config.cert_file: missing (TLS needs cert and key)")
    if not tls.key_file:
        raise WebConfigError("tls_server_config.key_file: missing (TLS needs cert and key)")
    if _TLS_VERSIONS[tls.min_version] > _TLS_VERSIONS[tls.max_version]:
        raise WebConfigError("tls_server_config.min_version: higher than max_version")
    context = _server_context(tls)
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WebConfigError(
            f"tls_server_config.cert_file/key_file: cannot load {tls.cert_file} with "
            f"{tls.key_file}: {reason}"
        ) from None
    if tls.client_ca_file:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise WebConfigError(
                f"tls_server_config.client_ca_file: cannot load {tls.client_ca_file}: {reason}"
            ) from None
    context.verify_mode = verify_mode
    return context


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _signature(paths: list[str]) -> _Signature:
    return tuple((p, _stat(p)) for p in paths)


def _watched(path: Path, config: WebConfigFile | None) -> list[str]:
    paths = [str(path)]
    if config is not None and config.tls_enabled:
        tls = config.tls_server_config
        paths += [p for p in (tls.cert_file, tls.key_file, tls.client_ca_file) if p]
    return paths


def load_web_config(path: Path) -> WebConfigFile:
    """Validate a web config file completely, certificate, key and CA files loaded (for
    --check-config); WebConfigError names the first problem."""
    return _load(path).config


def _read_web_config(path: Path) -> WebConfigFile:
    """Read and validate the file itself, relative paths resolved; WebConfigError if bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise WebConfigError(f"web config {path}: cannot read: {reason}") from None
    try:
        config = parse_web_config(text)
    except WebConfigError as exc:
        raise WebConfigError(f"web config {path}: {exc}") from None
    tls = config.tls_server_config
    base = path.parent
    resolved = tls.model_copy(
        update={
            "cert_file": _resolve(base, tls.cert_file),
            "key_file": _resolve(base, tls.key_file),
            "client_ca_file": _resolve(base, tls.client_ca_file),
        }
    )
    return config.model_copy(update={"tls_server_config": resolved})


def _load(path: Path) -> _Loaded:
    # The signature is taken before reading, so a change during the read is seen next time.
    config_stat = _stat(str(path))
    config = _read_web_config(path)
    signature = ((str(path), config_stat), *_signature(_watched(path, config)[1:]))
    tls = config.tls_server_config
    verify_mode = ssl.CERT_NONE
    context = None
    try:
        if config.tls_enabled:
            verify_mode = _verify_mode(tls)
            context = _load_tls(tls, verify_mode)
    except WebConfigError as exc:
        raise WebConfigError(f"web config {path}: {exc}") from None
    users = {user: hashed.encode("ascii") for user, hashed in config.basic_auth_users.items()}
    return _Loaded(config, context, verify_mode, signature, users)


@functools.lru_cache(maxsize=8)
def _decoy_hash(cost: int) -> bytes:
    """A hash to check unknown users against, so they cost what known users cost."""
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))


def _check_password(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # e.g. longer than bcrypt's 72 bytes: cannot match
        return False


def _check_decoy(password: bytes, cost: int) -> bool:
    """An unknown user's check: as costly as a known user's, never a match."""
    _check_password(password, _decoy_hash(cost))
    return False


def _basic_credentials(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user, sep, password = decoded.partition(b":")
        return (user.decode("utf-8"), password) if sep else None
    except (binascii.Error, UnicodeDecodeError):
        return None


class WebConfigManager:
    """The live web config of one server: its TLS context and its auth/headers middleware.

    Put `middleware` first in the application's middleware list, append `on_response_prepare`
    to `app.on_response_prepare` (headers on streamed responses), and pass `ssl_context` (None
    when the file configures no TLS) to the site. All follow changes to the file and to the
    certificate, key and CA files without a restart.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._current = _load(path)
        self._failed_signature: _Signature | None = None
        self._checked_at = time.monotonic()
        self._cache_key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()  # verified logins only
        self._pending = 0
        # One thread: bcrypt is CPU-bound, so failed logins queue instead of eating every core.
        self._bcrypt = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webconfig-bcrypt")
        self._warm_decoy(self._current)
        self._middleware = self._make_middleware()
        self._front: ssl.SSLContext | None = None
        if self._current.tls is not None:
            self._front = _server_context(self._current.config.tls_server_config)
            self._apply_to_front(self._current)
            self._front.sni_callback = self._on_client_hello

    def _warm_decoy(self, loaded: _Loaded) -> None:
        """Make the decoy hash in the background, so even the first unknown user costs what a
        known one does."""
        if loaded.users:
            self._bcrypt.submit(_decoy_hash, loaded.bcrypt_cost)

    @property
    def config(self) -> WebConfigFile:
        """The web config in force (paths resolved)."""
        return self._current.config

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The one context to listen with; None when the file configures no TLS."""
        return self._front

    @property
    def middleware(self) -> Middleware:
        """aiohttp middleware: basic auth (401 with WWW-Authenticate) and configured headers."""
        return self._middleware

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Add the configured headers to responses a handler streams itself.

        A handler that calls `StreamResponse.prepare()` sends its headers before the
        middleware sees the response, so register this too:
        `app.on_response_prepare.append(manager.on_response_prepare)`.
        """
        response.headers.update(self._current.config.http_server_config.headers)

    def close(self) -> None:
        """Stop the bcrypt worker and forget cached logins."""
        self._bcrypt.shutdown(wait=False, cancel_futures=True)
        self._cache.clear()

    def maybe_reload(self) -> bool:
        """Reload if the config, certificate, key or CA file changed; at most once a second.

        Returns True when a new generation was put in force. A file that does not load is
        logged once and the previous generation keeps serving.
        """
        now = time.monotonic()
        if now - self._checked_at < _RECHECK_SECONDS:
            return False
        self._checked_at = now
        signature = _signature(_watched(self._path, self._current.config))
        if signature in (self._current.signature, self._failed_signature):
            return False
        try:
            loaded = _load(self._path)
            if (loaded.tls is None) != (self._front is None):
                raise WebConfigError(
                    f"web config {self._path}: tls_server_config: turning TLS on or off "
                    "needs a restart"
                )
            if loaded.tls is not None:
                self._apply_to_front(loaded)
        except WebConfigError as exc:
            self._failed_signature = signature
            log.error(
                "web config not reloaded, keeping the previous one", extra={"error": str(exc)}
            )
            return False
        self._failed_signature = None
        self._current = loaded
        self._cache.clear()
        self._warm_decoy(loaded)
        log.info("web config reloaded", extra={"path": str(self._path)})
        return True

    def _apply_to_front(self, loaded: _Loaded) -> None:
        """Per-connection settings OpenSSL copies from the listening context at accept time.

        The certificate and CA store come from the inner context swapped in by the SNI
        callback; the front deliberately has no CAs, so if the swap ever failed to happen
        client verification would fail closed.
        """
        assert self._front is not None and loaded.tls is not None
        tls = loaded.config.tls_server_config
        # First, as the one step that can fail (files changed again since _load): then the
        # front is left as it was.
        try:
            self._front.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
        except OSError as exc:
            raise WebConfigError(
                f"web config {self._path}: tls_server_config.cert_file/key_file: changed "
                f"while loading: {exc.strerror or exc}"
            ) from None
        self._front.minimum_version = _TLS_VERSIONS[tls.min_version]
        self._front.maximum_version = _TLS_VERSIONS[tls.max_version]
        self._front.verify_mode = loaded.verify_mode

    def _on_client_hello(
        self, ssl_object: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        try:
            self.maybe_reload()
        except Exception:  # never let a reload bug kill handshakes
            log.exception("web config reload failed")
        if self._current.tls is not None:
            ssl_object.context = self._current.tls

    def _make_middleware(self) -> Middleware:
        @web.middleware
        async def web_config_middleware(
            request: web.Request, handler: Handler
        ) -> web.StreamResponse:
            return await self._handle(request, handler)

        return web_config_middleware

    async def _handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.maybe_reload()
        current = self._current
        config = current.config
        headers = config.http_server_config.headers
        if current.users and request.path not in config.unauthenticated_paths:
            authorized = await self._authorized(current, request.headers.get(hdrs.AUTHORIZATION))
            if authorized is None:
                return web.Response(
                    status=503,
                    text="Too many logins being checked, retry shortly\n",
                    headers={hdrs.RETRY_AFTER: "1", **headers},
                )
            if not authorized:
                return web.Response(
                    status=401,
                    text="Unauthorized\n",
                    headers={hdrs.WWW_AUTHENTICATE: _REALM, **headers},
                )
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        if not response.prepared:
            response.headers.update(headers)
        return response

    def _login_key(self, user: str, hashed: bytes, password: bytes) -> bytes:
        """Cache key for a verified login: a keyed hash of (user, stored hash, password), so no
        plaintext is kept and a changed hash in the file is a different key."""
        message = b"".join(
            struct.pack(">I", len(part)) + part for part in (user.encode(), hashed, password)
        )
        return hmac.new(self._cache_key, message, hashlib.sha256).digest()

    async def _authorized(self, current: _Loaded, header: str | None) -> bool | None:
        """True for valid credentials, False for anything else, None when too many checks
        are already waiting for bcrypt (the caller answers 503 at once).

        Only successes are cached (as the exporter-toolkit does): caching failures would let
        a flood of wrong passwords evict the real scraper's entry and push it into the queue.
        """
        credentials = _basic_credentials(header)
        if credentials is None:
            return False
        user, password = credentials
        stored = current.users.get(user)
        key = self._login_key(user, stored, password) if stored is not None else b""
        if key in self._cache:
            self._cache.move_to_end(key)
            return True
        if self._pending >= _MAX_PENDING_CHECKS:
            return None
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            if stored is None:  # same cost as a known user, always refused
                await loop.run_in_executor(
                    self._bcrypt, _check_decoy, password, current.bcrypt_cost
                )
                return False
            matches = await loop.run_in_executor(self._bcrypt, _check_password, password, stored)
        finally:
            self._pending -= 1
        if matches and self._current is current:  # not a login for a replaced file
            self._cache[key] = True
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return matches
