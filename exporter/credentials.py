"""Credentials for signing: static keys directly, everything else via ``alibabacloud_credentials``.

The library does the provider work (the default chain, STS AssumeRole, OIDC/RRSA, the ECS
metadata service) but its refresh is synchronous behind a threading lock, so it runs in a worker
thread and its result is cached here until shortly before it expires: the event loop never waits
on it more than once per credential lifetime. The library reads its environment variables when
it is imported and its ECS provider starts a background thread when constructed, so it is
imported and constructed lazily, at the first ``get()``.
"""

from __future__ import annotations

import abc
import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter.config import (
    AccessKeyCredentials,
    CredentialsConfig,
    DefaultCredentials,
    EcsRamRoleCredentials,
    OidcRoleArnCredentials,
    RamRoleArnCredentials,
    StsCredentials,
)
from exporter.logs import adopt_logger, redact, register_secret

__all__ = [
    "Credential",
    "CredentialError",
    "CredentialSource",
    "ProviderCredentialSource",
    "StaticCredentialSource",
    "build_credential_source",
]

#: Refresh this long before a credential's stated expiry.
EXPIRY_MARGIN_SECONDS = 600.0
#: How long to keep a credential whose expiry the library does not tell (the default chain).
UNKNOWN_EXPIRY_CACHE_SECONDS = 60.0
#: A failure is answered from memory this long, so that the regions of one account waiting on
#: the same slow, failing refresh (an unreachable STS) fail together instead of one by one.
FAILURE_CACHE_SECONDS = 5.0
_MAX_ERROR_LENGTH = 600


@dataclass(frozen=True)
class Credential:
    """What a request is signed with; the secret parts are left out of ``repr``."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


class CredentialError(Exception):
    """Credentials could not be obtained; the message names the source, never a secret."""


class CredentialSource(abc.ABC):
    """Where one account's credentials come from."""

    kind: str

    @abc.abstractmethod
    async def get(self) -> Credential:
        """The credential to sign the next request with (refreshed when needed)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}>"


class StaticCredentialSource(CredentialSource):
    """AccessKey pair or STS token from the configuration: no refresh, no thread."""

    def __init__(self, kind: str, credential: Credential) -> None:
        self.kind = kind
        self._credential = credential

    async def get(self) -> Credential:
        return self._credential

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} id={self._credential.access_key_id}>"


class ProviderCredentialSource(CredentialSource):
    """A lazily built ``alibabacloud_credentials`` provider, called in a thread, cached."""

    def __init__(
        self,
        kind: str,
        factory: Callable[[], Any],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kind = kind
        self._factory = factory
        self._clock = clock
        self._provider: Any = None
        self._lock = threading.Lock()
        self._cached: tuple[Credential, float] | None = None  # (credential, valid until)
        self._failed: tuple[str, float] | None = None  # (message, repeat it until)

    async def get(self) -> Credential:
        cached = self._cached
        if cached is not None and self._clock() < cached[1]:
            return cached[0]
        return await asyncio.to_thread(self._refresh)

    def _refresh(self) -> Credential:
        with self._lock:  # one refresh at a time; the others find the fresh value
            cached = self._cached
            if cached is not None and self._clock() < cached[1]:
                return cached[0]
            failed = self._failed
            if failed is not None and self._clock() < failed[1]:
                raise CredentialError(failed[0])
            try:
                if self._provider is None:
                    self._provider = self._factory()
                    adopt_logger("credentials")
                result = self._provider.get_credentials()
                if result is None:
                    raise CredentialError("the provider returned no credentials")
                credential = Credential(
                    access_key_id=str(result.get_access_key_id() or ""),
                    access_key_secret=str(result.get_access_key_secret() or ""),
                    security_token=result.get_security_token() or None,
                )
                expiration = result.get_expiration()
                if not credential.access_key_id or not credential.access_key_secret:
                    raise CredentialError("the provider returned an empty key")
            except Exception as exc:
                message = _describe(self.kind, exc)
                self._failed = (message, self._clock() + FAILURE_CACHE_SECONDS)
                raise CredentialError(message) from None
            self._failed = None
            register_secret(credential.access_key_secret)
            register_secret(credential.security_token)
            now = self._clock()
            if expiration:
                valid_until = float(expiration) - EXPIRY_MARGIN_SECONDS
                # a credential shorter-lived than the margin is still used, briefly
                valid_until = max(valid_until, min(float(expiration), now + 30.0))
            else:
                valid_until = now + UNKNOWN_EXPIRY_CACHE_SECONDS
            self._cached = (credential, valid_until)
            return credential


def _describe(kind: str, exc: BaseException) -> str:
    """One line, masked (registered secrets, secret-named fields), bounded in length."""
    text = str(exc) if isinstance(exc, CredentialError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(redact(text).split())
    if len(text) > _MAX_ERROR_LENGTH:
        text = text[: _MAX_ERROR_LENGTH - 3] + "..."
    return f"{kind} credentials: {text}"


def build_credential_source(cfg: CredentialsConfig) -> CredentialSource:
    """The source for one account's ``credentials:`` block (nothing is contacted yet)."""
    if isinstance(cfg, AccessKeyCredentials):
        secret = cfg.access_key_secret.get_secret_value()
        register_secret(secret)
        return StaticCredentialSource("access_key", Credential(cfg.access_key_id, secret))
    if isinstance(cfg, StsCredentials):
        secret = cfg.access_key_secret.get_secret_value()
        token = cfg.security_token.get_secret_value()
        register_secret(secret)
        register_secret(token)
        return StaticCredentialSource("sts", Credential(cfg.access_key_id, secret, token))
    if isinstance(cfg, DefaultCredentials):
        return ProviderCredentialSource("default", _default_chain)
    if isinstance(cfg, RamRoleArnCredentials):
        register_secret(cfg.access_key_secret.get_secret_value())
        if cfg.security_token is not None:
            register_secret(cfg.security_token.get_secret_value())
        return ProviderCredentialSource("ram_role_arn", lambda: _ram_role_arn(cfg))
    if isinstance(cfg, EcsRamRoleCredentials):
        return ProviderCredentialSource("ecs_ram_role", lambda: _ecs_ram_role(cfg))
    if isinstance(cfg, OidcRoleArnCredentials):
        return ProviderCredentialSource("oidc_role_arn", lambda: _oidc_role_arn(cfg))
    raise CredentialError(f"unsupported credentials type {type(cfg).__name__}")


# The factories run in the worker thread on first use; each imports the library only then.


def _default_chain() -> Any:
    from alibabacloud_credentials.provider import DefaultCredentialsProvider

    return DefaultCredentialsProvider()


def _ram_role_arn(cfg: RamRoleArnCredentials) -> Any:
    from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider

    token = cfg.security_token.get_secret_value() if cfg.security_token else None
    return RamRoleArnCredentialsProvider(
        access_key_id=cfg.access_key_id,
        access_key_secret=cfg.access_key_secret.get_secret_value(),
        security_token=token,
        role_arn=cfg.role_arn,
        role_session_name=cfg.role_session_name,
        duration_seconds=int(cfg.duration),
        policy=cfg.policy,
        external_id=cfg.external_id,
        sts_endpoint=cfg.sts_endpoint,
    )


def _ecs_ram_role(cfg: EcsRamRoleCredentials) -> Any:
    from alibabacloud_credentials.provider import EcsRamRoleCredentialsProvider

    return EcsRamRoleCredentialsProvider(role_name=cfg.role_name)


def _oidc_role_arn(cfg: OidcRoleArnCredentials) -> Any:
    from alibabacloud_credentials.provider import OIDCRoleArnCredentialsProvider

    return OIDCRoleArnCredentialsProvider(
        role_arn=cfg.role_arn,
        oidc_provider_arn=cfg.oidc_provider_arn,
        oidc_token_file_path=cfg.oidc_token_file_path,
        role_session_name=cfg.role_session_name,
        duration_seconds=int(cfg.duration),
        policy=cfg.policy,
        sts_endpoint=cfg.sts_endpoint,
    )
