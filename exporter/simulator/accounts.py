"""Accounts the simulator serves: AccessKey pairs, STS credentials and fleet sizes.

Secrets are excluded from reprs; the accounts file is validated with pydantic so a typo gets a
one-line error naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_ACCESS_KEY_ID = "sim-access-key-id"
DEFAULT_ACCESS_KEY_SECRET = "sim-access-key-secret"
DEFAULT_STS_ACCESS_KEY_ID = "STS.sim-sts-access-key-id"
DEFAULT_STS_ACCESS_KEY_SECRET = "sim-sts-access-key-secret"
DEFAULT_STS_TOKEN = "sim-security-token"


@dataclass(frozen=True)
class StsCredential:
    """A temporary key: valid only together with its security token, until ``expiration``."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)
    expiration: float | None = None  # real epoch seconds; None = never expires


@dataclass(frozen=True)
class Account:
    name: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    uid: int = 1234567890123456
    sts: tuple[StsCredential, ...] = ()
    connections: int | None = None  # None: the simulator's default count
    regions: tuple[str, ...] | None = None  # None: the simulator's default regions


def default_account() -> Account:
    return Account(
        name="default",
        access_key_id=DEFAULT_ACCESS_KEY_ID,
        access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
        sts=(
            StsCredential(
                DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, DEFAULT_STS_TOKEN
            ),
        ),
    )


class _StsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_key_id: str = Field(min_length=1)
    access_key_secret: str = Field(min_length=1)
    security_token: str = Field(min_length=1)
    expiration: float | None = None


class _AccountFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    access_key_id: str = Field(min_length=1)
    access_key_secret: str = Field(min_length=1)
    uid: int | None = None
    connections: int | None = Field(default=None, ge=0)
    regions: list[str] | None = None
    sts: list[_StsFile] = []


class _AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accounts: list[_AccountFile] = Field(min_length=1)


class AccountsFileError(ValueError):
    pass


def load_accounts(path: str | Path) -> list[Account]:
    """Read an accounts YAML file (format in README.md); one-line errors name the bad field."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AccountsFileError(f"{path}: cannot read accounts file: {exc}") from None
    try:
        parsed = _AccountsFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise AccountsFileError(f"{path}: {where}: {err['msg']}") from None
    names = [a.name for a in parsed.accounts]
    if len(set(names)) != len(names):
        raise AccountsFileError(f"{path}: account names must be unique")
    return [
        Account(
            name=a.name,
            access_key_id=a.access_key_id,
            access_key_secret=a.access_key_secret,
            uid=a.uid if a.uid is not None else 1234567890123456 + i,
            sts=tuple(
                StsCredential(s.access_key_id, s.access_key_secret, s.security_token, s.expiration)
                for s in a.sts
            ),
            connections=a.connections,
            regions=tuple(a.regions) if a.regions is not None else None,
        )
        for i, a in enumerate(parsed.accounts)
    ]
