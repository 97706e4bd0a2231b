"""Request authentication as the real service does it: V1 (query HMAC-SHA1) and V3
(ACS3-HMAC-SHA256 headers), STS tokens, a 15-minute timestamp window and nonce replay checks.

Signatures are computed with :mod:`exporter.signing`, the module the exporter's client signs
with, so the simulator never carries a second implementation.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exporter import signing
from exporter.simulator.accounts import Account
from exporter.simulator.errors import ErrorAnswer, missing_parameter

WINDOW_SECONDS = 15 * 60
_REQUIRED_V3_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)


@dataclass(frozen=True)
class IncomingRequest:
    """What authentication needs from an HTTP request (header names lower-case)."""

    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Caller:
    account: Account
    access_key_id: str
    signature_version: str  # "v1" or "v3"
    sts: bool


@dataclass(frozen=True)
class _Key:
    account: Account
    secret: str
    token: str | None
    expiration: float | None


def _incomplete() -> ErrorAnswer:
    return ErrorAnswer(
        "IncompleteSignature", "The request signature does not conform to Aliyun standards."
    )


def _parse_timestamp(value: str) -> float:
    """``YYYY-MM-DDThh:mm:ssZ`` (UTC); a missing ``Z`` is read as UTC too."""
    text = value[:-1] if value.endswith("Z") else value
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        raise ErrorAnswer(
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        ) from None


class Authenticator:
    """Thread-safe verifier over a fixed set of accounts."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._keys: dict[str, _Key] = {}
        for account in accounts:
            self._keys[account.access_key_id] = _Key(account, account.access_key_secret, None, None)
            for sts in account.sts:
                self._keys[sts.access_key_id] = _Key(
                    account, sts.access_key_secret, sts.security_token, sts.expiration
                )
        self._lock = threading.Lock()
        self._nonces: set[str] = set()
        self._nonce_expiry: deque[tuple[float, str]] = deque()

    def verify(self, req: IncomingRequest) -> Caller:
        auth = req.headers.get("authorization", "")
        if auth.startswith(signing.V3_ALGORITHM):
            return self._verify_v3(req, auth)
        params = {**req.query, **req.form}
        if "Signature" in params:
            return self._verify_v1(req, params)
        raise _incomplete()

    # -- V1 -----------------------------------------------------------------------------
    def _verify_v1(self, req: IncomingRequest, params: dict[str, str]) -> Caller:
        for name in ("AccessKeyId", "SignatureMethod", "SignatureNonce", "Timestamp"):
            if not params.get(name):
                raise missing_parameter(name)
        if params["SignatureMethod"] != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            raise _incomplete()
        ak = params["AccessKeyId"]
        key = self._lookup(ak, params.get("SecurityToken"))
        stamp = self._check_time(params["Timestamp"])
        expected = signing.v1_signature(key.secret, req.method, params)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            raise _mismatch(signing.v1_string_to_sign(req.method, params))
        self._use_nonce(ak, params["SignatureNonce"], stamp)
        return Caller(key.account, ak, "v1", key.token is not None)

    # -- V3 -----------------------------------------------------------------------------
    def _verify_v3(self, req: IncomingRequest, value: str) -> Caller:
        parts = signing.parse_v3_authorization(value)
        if parts is None:
            raise _incomplete()
        signed = [h.strip().lower() for h in parts["SignedHeaders"].split(";") if h.strip()]
        headers = req.headers
        for name in _REQUIRED_V3_HEADERS:
            if name not in headers:
                raise missing_parameter(name)
        unsigned_acs = [h for h in headers if h.startswith("x-acs-") and h not in signed]
        if "host" not in signed or unsigned_acs:
            raise _incomplete()
        ak = parts["Credential"]
        key = self._lookup(ak, headers.get("x-acs-security-token"))
        stamp = self._check_time(headers["x-acs-date"])
        body_hash = hashlib.sha256(req.body).hexdigest()
        canonical = signing.v3_canonical_request(
            req.method, req.path, req.query, headers, signed, body_hash
        )
        string_to_sign = signing.v3_string_to_sign(canonical)
        expected = signing.v3_signature(key.secret, string_to_sign)
        if not hmac.compare_digest(expected.encode(), parts["Signature"].lower().encode()):
            raise _mismatch(string_to_sign)
        self._use_nonce(ak, headers["x-acs-signature-nonce"], stamp)
        return Caller(key.account, ak, "v3", key.token is not None)

    # -- shared ---------------------------------------------------------------------------
    def _lookup(self, access_key_id: str, token: str | None) -> _Key:
        key = self._keys.get(access_key_id)
        if key is None:
            raise ErrorAnswer(
                "InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404
            )
        if key.token is not None:
            if not token or not hmac.compare_digest(token.encode(), key.token.encode()):
                raise ErrorAnswer(
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    "Specified SecurityToken mismatch with the AccessKey.",
                )
            if key.expiration is not None and time.time() >= key.expiration:
                raise ErrorAnswer(
                    "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
                )
        return key

    @staticmethod
    def _check_time(value: str) -> float:
        stamp = _parse_timestamp(value)
        if abs(time.time() - stamp) > WINDOW_SECONDS:
            raise ErrorAnswer(
                "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        return stamp

    def _use_nonce(self, access_key_id: str, nonce: str, stamp: float) -> None:
        """Refuse a nonce seen before; remember it only while its timestamp is acceptable
        (a later replay fails the window check anyway), which bounds memory under load."""
        now = time.time()
        entry = f"{access_key_id}\0{nonce}"
        with self._lock:
            expiry = self._nonce_expiry
            while expiry and expiry[0][0] < now:
                self._nonces.discard(expiry.popleft()[1])
            if entry in self._nonces:
                raise ErrorAnswer(
                    "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self._nonces.add(entry)
            expiry.append((max(now, stamp) + WINDOW_SECONDS + 1, entry))


def _mismatch(string_to_sign: str) -> ErrorAnswer:
    return ErrorAnswer(
        "SignatureDoesNotMatch",
        "Specified signature is not matched with our calculation. "
        f"server string to sign is:{string_to_sign}",
    )
