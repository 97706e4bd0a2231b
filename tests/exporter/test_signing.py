"""The signing module against the documented signing test vectors."""

import hashlib

from exporter import signing

V1_COMMON = {"AccessKeyId": "testid", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0"}


def test_v1_vector_describe_regions() -> None:
    params = {
        **V1_COMMON,
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert signing.v1_signature("testsecret", "GET", params) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_v1_vector_describe_dedicated_hosts() -> None:
    params = {
        **V1_COMMON,
        "Action": "DescribeDedicatedHosts",
        "Format": "JSON",
        "RegionId": "cn-beijing",
        "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb",
        "Timestamp": "2023-03-13T08:34:30Z",
        "Version": "2014-05-26",
    }
    assert signing.v1_signature("testsecret", "GET", params) == "9NaGiOspFP5UPcwX8Iwt2YJXXuk="


def test_v1_signature_ignores_signature_param_and_encodes_colon_twice() -> None:
    params = {"Timestamp": "2016-02-23T12:46:24Z", "Signature": "x"}
    assert (
        signing.v1_string_to_sign("GET", params)
        == "GET&%2F&Timestamp%3D2016-02-23T12%253A46%253A24Z"
    )


def test_percent_encoding_rules() -> None:
    assert signing.percent_encode("a b*~/é") == "a%20b%2A~%2F%C3%A9"


V3_HEADERS = {
    "host": "ecs.cn-shanghai.aliyuncs.com",
    "x-acs-action": "RunInstances",
    "x-acs-version": "2014-05-26",
    "x-acs-date": "2023-10-26T10:22:32Z",
    "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
    "x-acs-content-sha256": signing.EMPTY_SHA256,
}
V3_QUERY = {
    "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
    "RegionId": "cn-shanghai",
}


def test_v3_vector_canonical_request_hash_and_signature() -> None:
    request = signing.v3_canonical_request(
        "POST", "/", V3_QUERY, V3_HEADERS, list(V3_HEADERS), signing.EMPTY_SHA256
    )
    assert (
        hashlib.sha256(request.encode()).hexdigest()
        == "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    signature = signing.v3_signature("YourAccessKeySecret", signing.v3_string_to_sign(request))
    assert signature == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"


def test_sign_v3_headers_reproduces_vector_and_round_trips_authorization() -> None:
    headers = signing.sign_v3_headers(
        access_key_id="YourAccessKeyId",
        secret="YourAccessKeySecret",
        method="POST",
        host=V3_HEADERS["host"],
        action="RunInstances",
        version="2014-05-26",
        params=V3_QUERY,
        date=V3_HEADERS["x-acs-date"],
        nonce=V3_HEADERS["x-acs-signature-nonce"],
    )
    parts = signing.parse_v3_authorization(headers["Authorization"])
    assert parts is not None
    assert parts["Credential"] == "YourAccessKeyId"
    assert parts["Signature"] == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    assert parts["SignedHeaders"] == ";".join(sorted(V3_HEADERS))


def test_sign_v3_headers_signs_the_endpoints_path() -> None:
    """An endpoint with a path (a proxy, ``https://host/cn-beijing``) is signed with that path,
    as the server recomputes the canonical request from the path it was sent to."""
    common = {
        "access_key_id": "YourAccessKeyId",
        "secret": "YourAccessKeySecret",
        "method": "POST",
        "host": V3_HEADERS["host"],
        "action": "RunInstances",
        "version": "2014-05-26",
        "params": V3_QUERY,
        "date": V3_HEADERS["x-acs-date"],
        "nonce": V3_HEADERS["x-acs-signature-nonce"],
    }
    root = signing.sign_v3_headers(**common)  # type: ignore[arg-type]
    pathed = signing.sign_v3_headers(**common, path="/cn-beijing")  # type: ignore[arg-type]
    signed = sorted(h for h in pathed if h != "Authorization")
    request = signing.v3_canonical_request(
        "POST", "/cn-beijing", V3_QUERY, pathed, signed, pathed["x-acs-content-sha256"]
    )
    expected = signing.v3_signature("YourAccessKeySecret", signing.v3_string_to_sign(request))
    parts = signing.parse_v3_authorization(pathed["Authorization"])
    assert parts is not None and parts["Signature"] == expected
    assert pathed["Authorization"] != root["Authorization"]


def test_parse_v3_authorization_rejects_other_schemes() -> None:
    assert signing.parse_v3_authorization("Basic abc") is None
    assert signing.parse_v3_authorization("ACS3-HMAC-SHA256 Credential=a") is None
