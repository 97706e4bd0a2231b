"""Authentication as the real service does it: V1 and V3 signatures, STS, time window, nonces."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from exporter import signing
from exporter.simulator import Account, Simulator, SimulatorThread, StsCredential

from .conftest import AK, SECRET, STS_AK, STS_SECRET, STS_TOKEN, send, utc

DESCRIBE = "DescribePhysicalConnections"
REGION = {"RegionId": "cn-hangzhou"}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    expired = StsCredential("STS.expired", "expired-secret", "expired-token", time.time() - 1)
    accounts = [
        Account("default", AK, SECRET, sts=(StsCredential(STS_AK, STS_SECRET, STS_TOKEN), expired)),
        Account("other", "other-ak", "other-secret"),
    ]
    with SimulatorThread(Simulator(seed=3, connections=12, accounts=accounts)) as u:
        yield u


@pytest.mark.parametrize(
    ("sig", "method", "form"),
    [
        ("v1", "GET", False),
        ("v1", "POST", False),
        ("v1", "POST", True),
        ("v3", "POST", False),
        ("v3", "POST", True),
        ("v3", "GET", False),
    ],
)
def test_valid_signatures_are_accepted(url: str, sig: str, method: str, form: bool) -> None:
    answer = send(url, DESCRIBE, REGION, sig=sig, method=method, form=form)
    assert answer.status == 200, answer.body
    assert answer.json["TotalCount"] == 3
    assert answer.json["RequestId"]


def test_v1_wrong_secret_returns_server_string_to_sign(url: str) -> None:
    ts, nonce = utc(), "fixed-nonce-v1-wrong"
    answer = send(url, DESCRIBE, REGION, secret="wrong", timestamp=ts, nonce=nonce)
    assert (answer.status, answer.code) == (400, "SignatureDoesNotMatch")
    expected = signing.v1_string_to_sign(
        "GET",
        {
            "Action": DESCRIBE,
            "Version": "2016-04-28",
            "Format": "JSON",
            "AccessKeyId": AK,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": nonce,
            "Timestamp": ts,
            **REGION,
        },
    )
    assert answer.json["Message"].endswith("server string to sign is:" + expected)
    assert set(answer.json) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_v3_wrong_secret_rejected_with_string_to_sign(url: str) -> None:
    answer = send(url, DESCRIBE, REGION, sig="v3", method="POST", secret="wrong")
    assert (answer.status, answer.code) == (400, "SignatureDoesNotMatch")
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in answer.json["Message"]


@pytest.mark.parametrize("sig", ["v1", "v3"])
def test_unknown_access_key(url: str, sig: str) -> None:
    answer = send(url, DESCRIBE, REGION, sig=sig, method="POST", ak="nobody")
    assert (answer.status, answer.code) == (404, "InvalidAccessKeyId.NotFound")


@pytest.mark.parametrize("sig", ["v1", "v3"])
@pytest.mark.parametrize(("offset", "ok"), [(-14 * 60, True), (-16 * 60, False), (16 * 60, False)])
def test_fifteen_minute_window(url: str, sig: str, offset: int, ok: bool) -> None:
    answer = send(
        url, DESCRIBE, REGION, sig=sig, method="POST", timestamp=utc(time.time() + offset)
    )
    if ok:
        assert answer.status == 200, answer.body
    else:
        assert (answer.status, answer.code) == (400, "InvalidTimeStamp.Expired")


def test_malformed_timestamp(url: str) -> None:
    answer = send(url, DESCRIBE, REGION, timestamp="yesterday")
    assert (answer.status, answer.code) == (400, "InvalidTimeStamp.Format")


@pytest.mark.parametrize("sig", ["v1", "v3"])
def test_nonce_replay(url: str, sig: str) -> None:
    nonce = f"replay-{sig}-{time.time()}"
    first = send(url, DESCRIBE, REGION, sig=sig, method="POST", nonce=nonce)
    second = send(url, DESCRIBE, REGION, sig=sig, method="POST", nonce=nonce)
    assert first.status == 200
    assert (second.status, second.code) == (400, "SignatureNonceUsed")


def test_bad_signature_does_not_burn_the_nonce(url: str) -> None:
    nonce = f"unburnt-{time.time()}"
    assert send(url, DESCRIBE, REGION, secret="bad", nonce=nonce).code == "SignatureDoesNotMatch"
    assert send(url, DESCRIBE, REGION, nonce=nonce).status == 200


@pytest.mark.parametrize("sig", ["v1", "v3"])
def test_sts_token(url: str, sig: str) -> None:
    ok = send(
        url, DESCRIBE, REGION, sig=sig, method="POST", ak=STS_AK, secret=STS_SECRET, token=STS_TOKEN
    )
    assert ok.status == 200, ok.body
    assert ok.json["TotalCount"] == 3
    for token in (None, "wrong-token"):
        bad = send(
            url, DESCRIBE, REGION, sig=sig, method="POST", ak=STS_AK, secret=STS_SECRET, token=token
        )
        assert (bad.status, bad.code) == (400, "InvalidSecurityToken.MismatchWithAccessKey")


def test_expired_sts_token(url: str) -> None:
    answer = send(
        url, DESCRIBE, REGION, ak="STS.expired", secret="expired-secret", token="expired-token"
    )
    assert (answer.status, answer.code) == (400, "InvalidSecurityToken.Expired")


def test_v3_extra_signed_headers_are_rebuilt(url: str) -> None:
    answer = send(
        url,
        DESCRIBE,
        REGION,
        sig="v3",
        method="POST",
        extra_headers={"accept": "application/json", "user-agent": "test/1.0"},
    )
    assert answer.status == 200, answer.body


def test_v3_requires_host_and_acs_headers_signed(url: str) -> None:
    import urllib.request
    from urllib.parse import urlsplit

    def request(signed_drop: str) -> tuple[int, str]:
        host = urlsplit(url).netloc
        headers = signing.sign_v3_headers(
            access_key_id=AK,
            secret=SECRET,
            method="POST",
            host=host,
            action=DESCRIBE,
            version="2016-04-28",
            params=REGION,
            date=utc(),
            nonce=f"n-{time.time()}",
        )
        names = sorted(h for h in headers if h != "Authorization" and h != signed_drop)
        canonical = signing.v3_canonical_request(
            "POST", "/", REGION, headers, names, signing.EMPTY_SHA256
        )
        sig = signing.v3_signature(SECRET, signing.v3_string_to_sign(canonical))
        headers["Authorization"] = signing.v3_authorization(AK, names, sig)
        req = urllib.request.Request(f"{url}/?RegionId=cn-hangzhou", method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, ""
        except urllib.error.HTTPError as exc:
            import json

            return exc.code, json.loads(exc.read())["Code"]

    assert request("") == (200, "")
    assert request("host") == (400, "IncompleteSignature")
    assert request("x-acs-signature-nonce") == (400, "IncompleteSignature")


def test_v3_body_must_match_content_hash(url: str) -> None:
    import urllib.request
    from urllib.parse import urlsplit

    headers = signing.sign_v3_headers(
        access_key_id=AK,
        secret=SECRET,
        method="POST",
        host=urlsplit(url).netloc,
        action=DESCRIBE,
        version="2016-04-28",
        params=REGION,
        date=utc(),
        nonce=f"body-{time.time()}",
        body=b"PageSize=1",
        extra_headers={"content-type": "application/x-www-form-urlencoded"},
    )
    req = urllib.request.Request(
        f"{url}/?RegionId=cn-hangzhou", data=b"PageSize=2", method="POST", headers=headers
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 400
    assert b"SignatureDoesNotMatch" in info.value.read()


def test_no_signature_at_all(url: str) -> None:
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{url}/?Action={DESCRIBE}&RegionId=cn-hangzhou")
    assert info.value.code == 400
    assert b"IncompleteSignature" in info.value.read()


def test_each_account_sees_only_its_own(url: str) -> None:
    mine = send(url, DESCRIBE, {**REGION, "PageSize": "50"}).json
    theirs = send(
        url, DESCRIBE, {**REGION, "PageSize": "50"}, ak="other-ak", secret="other-secret"
    ).json
    my_ids = {
        r["PhysicalConnectionId"] for r in mine["PhysicalConnectionSet"]["PhysicalConnectionType"]
    }
    their_ids = {
        r["PhysicalConnectionId"] for r in theirs["PhysicalConnectionSet"]["PhysicalConnectionType"]
    }
    assert my_ids and their_ids and not my_ids & their_ids
    target = sorted(their_ids)[0]
    answer = send(url, "CancelPhysicalConnection", {**REGION, "PhysicalConnectionId": target})
    assert (answer.status, answer.code) == (404, "InvalidPhysicalConnectionId.NotFound")
