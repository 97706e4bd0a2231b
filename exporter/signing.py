"""Request signing for the Alibaba Cloud RPC API, shared by the client and the simulator.

One module, tested once against the vendor's test vectors: the client signs with it and the
simulator verifies with it, so a bug cannot hide by being made twice in the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

V3_ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def percent_encode(value: str) -> str:
    """RFC 3986 encoding with only ``A-Za-z0-9-_.~`` literal, as both signature versions need."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Sorted ``enc(k)=enc(v)`` pairs joined by ``&`` (``Signature`` is never part of it)."""
    return "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&enc(CanonicalQuery)``."""
    return f"{method.upper()}&%2F&{percent_encode(canonical_query(params))}"


def v1_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """Base64 HMAC-SHA1 keyed with ``secret + '&'``."""
    string_to_sign = v1_string_to_sign(method, params)
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def v3_canonical_request(
    method: str,
    path: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    signed_headers: list[str],
    body_sha256: str,
) -> str:
    """Canonical request over exactly the headers named in ``signed_headers``.

    ``headers`` must be keyed by lower-case names; ``signed_headers`` is sorted here so the
    verifier can rebuild the request from whatever order the client listed.
    """
    names = sorted(h.lower() for h in signed_headers)
    canonical_headers = "".join(f"{n}:{headers.get(n, '').strip()}\n" for n in names)
    return "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(params),
            canonical_headers,
            ";".join(names),
            body_sha256,
        ]
    )


def v3_string_to_sign(canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{V3_ALGORITHM}\n{digest}"


def v3_signature(secret: str, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 keyed with the secret itself (no ``&``)."""
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def v3_authorization(access_key_id: str, signed_headers: list[str], signature: str) -> str:
    names = ";".join(sorted(h.lower() for h in signed_headers))
    return f"{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={names},Signature={signature}"


def parse_v3_authorization(value: str) -> dict[str, str] | None:
    """Split an ``Authorization`` header into Credential/SignedHeaders/Signature, or None."""
    if not value.startswith(V3_ALGORITHM + " "):
        return None
    parts: dict[str, str] = {}
    for item in value[len(V3_ALGORITHM) + 1 :].split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            return None
        parts[key] = val
    if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
        return None
    return parts


def sign_v3_headers(
    *,
    access_key_id: str,
    secret: str,
    method: str,
    host: str,
    action: str,
    version: str,
    params: Mapping[str, str],
    date: str,
    nonce: str,
    body: bytes = b"",
    security_token: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    path: str = "/",
) -> dict[str, str]:
    """Every header a V3 request needs, ``Authorization`` included (all headers sent are signed;
    ``path``: the endpoint's path, part of the canonical request)."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date,
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    if security_token:
        headers["x-acs-security-token"] = security_token
    for k, v in (extra_headers or {}).items():
        headers[k.lower()] = v
    signed = sorted(headers)
    request = v3_canonical_request(
        method, path, params, headers, signed, headers["x-acs-content-sha256"]
    )
    signature = v3_signature(secret, v3_string_to_sign(request))
    headers["Authorization"] = v3_authorization(access_key_id, signed, signature)
    return headers
