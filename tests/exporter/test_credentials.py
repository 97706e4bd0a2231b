"""Credential sources: static keys, the library's providers (in a child process where the library
reads its environment at import), caching until near expiry, and secrets kept out of reprs and
errors. The only network address ever contacted is 127.0.0.1 (a closed port)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from exporter.config import parse_config
from exporter.credentials import (
    EXPIRY_MARGIN_SECONDS,
    FAILURE_CACHE_SECONDS,
    UNKNOWN_EXPIRY_CACHE_SECONDS,
    Credential,
    CredentialError,
    ProviderCredentialSource,
    StaticCredentialSource,
    build_credential_source,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "TOPSECRET-cred-value-9876"
TOKEN = "STS-TOKEN-value-5555"


def source_for(credentials: dict[str, Any]) -> Any:
    config = parse_config(
        {"accounts": [{"name": "a", "regions": "all", "credentials": credentials}]}
    )
    return build_credential_source(config.accounts[0].credentials)


async def test_static_access_key() -> None:
    source = source_for(
        {"type": "access_key", "access_key_id": "LTAI1", "access_key_secret": SECRET}
    )
    assert isinstance(source, StaticCredentialSource)
    credential = await source.get()
    assert credential == Credential("LTAI1", SECRET, None)
    assert SECRET not in repr(credential) and SECRET not in str(credential)
    assert SECRET not in repr(source)
    assert "LTAI1" in repr(credential)


async def test_static_sts() -> None:
    source = source_for(
        {
            "type": "sts",
            "access_key_id": "STS.1",
            "access_key_secret": SECRET,
            "security_token": TOKEN,
        }
    )
    credential = await source.get()
    assert (credential.access_key_id, credential.access_key_secret) == ("STS.1", SECRET)
    assert credential.security_token == TOKEN
    for text in (repr(credential), repr(source)):
        assert SECRET not in text and TOKEN not in text


class FakeResult:
    def __init__(self, n: int, expiration: float | None) -> None:
        self.n = n
        self.expiration = expiration

    def get_access_key_id(self) -> str:
        return f"id-{self.n}"

    def get_access_key_secret(self) -> str:
        return f"secret-{self.n}-{SECRET}"

    def get_security_token(self) -> str:
        return f"token-{self.n}"

    def get_expiration(self) -> float | None:
        return self.expiration


class FakeProvider:
    """Counts calls; each call is slow enough that concurrent callers would overlap."""

    def __init__(self, lifetime: float | None, now: list[float]) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.now = now
        self.lock = threading.Lock()

    def get_credentials(self) -> FakeResult:
        with self.lock:
            self.calls += 1
            n = self.calls
        threading.Event().wait(0.05)
        expiry = None if self.lifetime is None else self.now[0] + self.lifetime
        return FakeResult(n, expiry)


async def test_provider_cached_until_near_expiry() -> None:
    now = [1_000_000.0]
    provider = FakeProvider(lifetime=3600.0, now=now)
    source = ProviderCredentialSource("fake", lambda: provider, clock=lambda: now[0])
    first = await asyncio.gather(*(source.get() for _ in range(20)))
    assert provider.calls == 1  # twenty concurrent callers, one refresh
    assert {c.access_key_id for c in first} == {"id-1"}
    assert first[0].security_token == "token-1"
    now[0] += 3600.0 - EXPIRY_MARGIN_SECONDS - 1
    assert (await source.get()).access_key_id == "id-1"
    now[0] += 2
    assert (await source.get()).access_key_id == "id-2"
    assert provider.calls == 2


async def test_provider_without_expiry_is_asked_again_later() -> None:
    now = [50.0]
    provider = FakeProvider(lifetime=None, now=now)
    source = ProviderCredentialSource("fake", lambda: provider, clock=lambda: now[0])
    await source.get()
    await source.get()
    assert provider.calls == 1
    now[0] += UNKNOWN_EXPIRY_CACHE_SECONDS + 1
    await source.get()
    assert provider.calls == 2


async def test_provider_built_lazily_and_errors_masked() -> None:
    built = []

    class Failing:
        def get_credentials(self) -> None:
            raise RuntimeError(
                f'refresh failed: {{"AccessKeySecret": "{SECRET}",\n "Code": "Forbidden"}}'
            )

    def factory() -> Failing:
        built.append(1)
        return Failing()

    source = ProviderCredentialSource("ram_role_arn", factory)
    assert built == []  # nothing happens before the first get()
    with pytest.raises(CredentialError) as caught:
        await source.get()
    message = str(caught.value)
    assert built == [1]
    assert SECRET not in message and "\n" not in message
    assert message.startswith("ram_role_arn credentials: RuntimeError: refresh failed:")
    assert '"Code": "Forbidden"' in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_a_failure_is_shared_by_waiting_callers_then_retried() -> None:
    now = [0.0]
    calls: list[int] = []

    class Unreachable:
        def get_credentials(self) -> None:
            calls.append(1)
            threading.Event().wait(0.05)
            raise TimeoutError("sts.aliyuncs.com timed out")

    source = ProviderCredentialSource("ram_role_arn", Unreachable, clock=lambda: now[0])
    results = await asyncio.gather(*(source.get() for _ in range(10)), return_exceptions=True)
    assert len(calls) == 1  # the other nine waited on the lock and got the same answer
    assert {str(r) for r in results} == {
        "ram_role_arn credentials: TimeoutError: sts.aliyuncs.com timed out"
    }
    assert all(isinstance(r, CredentialError) for r in results)
    now[0] += FAILURE_CACHE_SECONDS + 0.1
    with pytest.raises(CredentialError):
        await source.get()
    assert len(calls) == 2


async def test_ram_role_arn_against_a_closed_local_port() -> None:
    """The real library provider: AssumeRole to 127.0.0.1:1 is refused; the error is ours."""
    source = source_for(
        {
            "type": "ram_role_arn",
            "access_key_id": "LTAI-source",
            "access_key_secret": SECRET,
            "role_arn": "acs:ram::1234567890:role/exporter",
            "sts_endpoint": "127.0.0.1:1",
        }
    )
    with pytest.raises(CredentialError) as caught:
        await source.get()
    message = str(caught.value)
    assert message.startswith("ram_role_arn credentials: ")
    assert "127.0.0.1" in message and "Signature=[REDACTED]" in message
    assert SECRET not in message and "\n" not in message


CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from exporter.config import parse_config
    from exporter.credentials import build_credential_source, CredentialError

    def source(credentials):
        config = parse_config({"accounts": [{"name": "a", "regions": "all",
                                              "credentials": credentials}]})
        return build_credential_source(config.accounts[0].credentials)

    async def attempt(credentials):
        try:
            c = await source(credentials).get()
            return {"id": c.access_key_id, "secret": c.access_key_secret,
                    "token": c.security_token}
        except CredentialError as e:
            return {"error": str(e)}

    default = source({})
    result = {"imported_before_get": "alibabacloud_credentials" in sys.modules}
    result["default"] = asyncio.run(attempt({}))
    result["ecs"] = asyncio.run(attempt({"type": "ecs_ram_role"}))
    result["oidc"] = asyncio.run(attempt({
        "type": "oidc_role_arn", "role_arn": "acs:ram::1:role/r",
        "oidc_provider_arn": "acs:ram::1:oidc-provider/p",
        "oidc_token_file_path": sys.argv[1], "sts_endpoint": "127.0.0.1:1"}))
    print(json.dumps(result))
    """
)


def run_child(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    clean.update(
        {
            "HOME": str(tmp_path),  # no ~/.aliyun/config.json or ~/.alibabacloud/credentials.ini
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            **env,
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "no-such-token")],
        capture_output=True,
        text=True,
        env=clean,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_default_chain_from_environment(tmp_path: Path) -> None:
    out = run_child(
        tmp_path,
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-env",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
            "ALIBABA_CLOUD_SECURITY_TOKEN": TOKEN,
        },
    )
    assert out["imported_before_get"] is False  # the library is imported lazily
    assert out["default"] == {"id": "LTAI-env", "secret": SECRET, "token": TOKEN}


def test_default_chain_empty_and_other_providers_fail_cleanly(tmp_path: Path) -> None:
    out = run_child(tmp_path, {})
    default = out["default"]["error"]
    assert default.startswith("default credentials: CredentialException: unable to load")
    assert "EnvironmentVariableCredentialsProvider" in default
    assert out["ecs"] == {
        "error": "ecs_ram_role credentials: ValueError: IMDS credentials is disabled"
    }
    assert out["oidc"]["error"].startswith("oidc_role_arn credentials: FileNotFoundError:")
