"""Property tests: every API response parser turns any JSON into a typed record or a one-line
rejection, never another exception.

Records come from a valid sample with one or several fields replaced by arbitrary JSON values
(None, booleans, ints up to thousands of digits, floats with nan/inf/1e308, text with lone
surrogates, lists, dicts), or are fully random dicts. Typed records must hold ``str`` where text
is promised and ``None`` or a finite float where a number is. One odd field must never cost
more than its own value: a parser may reject a record only for its missing ID, with a
``ValueError`` whose message is one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporter.client import ApiError, _decode, code_label
from exporter.collectors.base import PassError, listed, total_count
from exporter.collectors.physical_connections import (
    PhysicalConnection,
    parse_connection,
)
from exporter.collectors.traffic import _point, parse_datapoints
from exporter.collectors.virtual_border_routers import (
    BgpPeer,
    VirtualBorderRouter,
    parse_peer,
    parse_vbr,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Ints JSON may carry (it has no size limit): some a float holds, some beyond any float.
BEYOND_FLOAT_INTS = (2**1024, 10**309, -(10**400), 10**4000)
HUGE_INTS = (2**53 + 1, 2**63, -(2**63) - 1, 10**300, -(10**308), *BEYOND_FLOAT_INTS)
# A document json.loads cannot decode within Python's recursion limit.
DEEP_JSON = "[" * 100_000

ANY_CHAR = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates, as a JSON "\ud800" escape decodes to
    st.sampled_from('"\\\n\r\t\x00\x85\u2028\u2029{}=,# '),
)
ANY_TEXT = st.text(ANY_CHAR, max_size=20)
TRICKY_TEXT = st.sampled_from(
    ["", " ", "\ud800", "a\udfffb", "nan", "NaN", "inf", "-inf", "1e999", "-1", "0x10", "1_0",
     "2024-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
     "true", "false", "Enabled", "Allocation Failed", "\n", "null"]
)  # fmt: skip
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 1e11, 1e9, 1e7]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    FLOATS,
    ANY_TEXT,
    TRICKY_TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)

# ----------------------------------------------------------------------------- samples

CONNECTION = {
    "PhysicalConnectionId": "pc-bp1abc",
    "Name": "line-1",
    "Type": "VPC",
    "ProductType": "VirtualPhysicalConnection",
    "AccessPointId": "ap-cn-hangzhou-xx-A",
    "LineOperator": "CT",
    "PortType": "10GBase-LR",
    "PortNumber": "1/1/1",
    "Spec": "10G",
    "CircuitCode": "longtel001",
    "PeerLocation": "Hangzhou",
    "AdLocation": "Room 1",
    "ChargeType": "Prepaid",
    "RedundantPhysicalConnectionId": "pc-bp1def",
    "ParentPhysicalConnectionId": "",
    "ResourceGroupId": "rg-1",
    "LoaStatus": "Available",
    "Status": "Enabled",
    "BusinessStatus": "Normal",
    "Bandwidth": 10000,
    "CreationTime": "2021-06-08T12:20:55Z",
    "EnabledTime": "2021-06-09T12:20:55Z",
    "EndTime": "2031-06-08T16:00:00Z",
    "Description": "first line",
    "Tags": {"tags": [{"Key": "team", "Value": "net"}]},
}
VBR = {
    "VbrId": "vbr-bp1xyz",
    "Status": "active",
    "PhysicalConnectionId": "pc-bp1abc",
    "Name": "vbr-1",
    "Type": "pconnVBR",
    "VlanId": 100,
    "LocalGatewayIp": "10.0.0.1",
    "PeerGatewayIp": "10.0.0.2",
    "LocalIpv6GatewayIp": "",
    "PeerIpv6GatewayIp": "",
    "AccessPointId": "ap-cn-hangzhou-xx-A",
    "CircuitCode": "longtel001",
    "PhysicalConnectionOwnerUid": "1234567890",
    "Bandwidth": 1000,
    "Tags": {"Tags": [{"Key": "team", "Value": "net"}]},
}
PEER = {
    "BgpPeerId": "bgp-bp1peer",
    "RouterId": "vbr-bp1xyz",
    "BgpGroupId": "bgpg-bp1grp",
    "Name": "peer-1",
    "PeerIpAddress": "10.0.0.2",
    "PeerAsn": "65001",
    "LocalAsn": "45104",
    "IpVersion": "IPv4",
    "EnableBfd": False,
    "Status": "Available",
    "BgpStatus": "Established",
    "ReceivedRouteCount": 12,
    "AdvertisedRouteCount": 3,
    "RouteLimit": "110",
    "AuthKey": "s3cret-bgp-key",
}
DATAPOINT = {
    "instanceId": "vbr-bp1xyz",
    "timestamp": 1_700_000_000_000,
    "Value": 12345.5,
    "Average": 12000,
    "Maximum": 13000,
    "userId": "1234567890",
}

_DELETE = object()


def mutated(sample: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``sample`` with one or several fields replaced by any JSON value, or dropped."""
    keys = [*sorted(sample), "Unexpected", "tags", "Tag"]
    replacements = st.dictionaries(
        st.sampled_from(keys), st.one_of(JSON, st.just(_DELETE)), min_size=1, max_size=len(keys)
    )

    def apply(changes: dict[str, Any]) -> dict[str, Any]:
        record = dict(sample)
        for key, value in changes.items():
            if value is _DELETE:
                record.pop(key, None)
            else:
                record[key] = value
        return record

    return replacements.map(apply)


def random_dicts(sample: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Fully random dicts, their keys partly the documented ones."""
    return st.dictionaries(st.one_of(st.sampled_from(sorted(sample)), ANY_TEXT), JSON, max_size=8)


def records(sample: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(mutated(sample), random_dicts(sample))


# ----------------------------------------------------------------------------- checks


def assert_one_line(message: str) -> None:
    assert message, "empty error message"
    assert len(message.splitlines()) == 1, f"error message on several lines: {message!r}"


def parsed_or_rejected(parse: Callable[[Any], Any], record: Any) -> Any:
    """The parser's record, or None when it rejected the input with a one-line ValueError."""
    try:
        return parse(record)
    except ValueError as error:
        assert_one_line(str(error))
        return None


def assert_finite_or_none(value: object, where: str) -> None:
    assert value is None or (type(value) is float and math.isfinite(value)), f"{where} = {value!r}"


def assert_str_pairs(pairs: object, where: str) -> None:
    assert isinstance(pairs, tuple | Mapping), f"{where} = {pairs!r}"
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    for key, value in items:
        assert type(key) is str and type(value) is str, f"{where}: {key!r}={value!r}"


def assert_typed(record: object) -> None:
    """Every field of a typed record holds what its annotation promises.

    A field with an annotation this check does not know fails it, so a new field gets a rule.
    """
    assert dataclasses.is_dataclass(record) and not isinstance(record, type)
    for spec in dataclasses.fields(record):
        value = getattr(record, spec.name)
        where = f"{type(record).__name__}.{spec.name}"
        kind = str(spec.type)
        if kind == "str":
            assert type(value) is str, f"{where} = {value!r}"
        elif kind == "float | None":
            assert_finite_or_none(value, where)
        elif kind in ("tuple[tuple[str, str], ...]", "Mapping[str, str]"):
            assert_str_pairs(value, where)
        elif kind == "Mapping[str, Any]":  # fields the API added later, kept as they came
            assert isinstance(value, Mapping), where
        else:
            raise AssertionError(f"{where}: no rule for annotation {kind!r}")


def rejected_only_for_id(result: object, record: Mapping[str, Any], id_field: str) -> None:
    """A record is rejected exactly when its ID is not non-empty text."""
    good_id = isinstance(record.get(id_field), str) and record[id_field] != ""
    assert (result is not None) == good_id, (id_field, record.get(id_field))


# ----------------------------------------------------------------------------- parsers


def check_typed_record(
    parse: Callable[[Any], Any], record: dict[str, Any], id_field: str, kind: type
) -> Any:
    """The parser's record is fully typed, and rejected only for a missing ID."""
    result = parsed_or_rejected(parse, record)
    rejected_only_for_id(result, record, id_field)
    if result is not None:
        assert isinstance(result, kind)
        assert_typed(result)
        assert result.id == record[id_field]
    return result


@PROPERTY
@given(records(CONNECTION))
def test_parse_connection_types_any_json(record: dict[str, Any]) -> None:
    check_typed_record(parse_connection, record, "PhysicalConnectionId", PhysicalConnection)


@PROPERTY
@given(records(VBR))
def test_parse_vbr_types_any_json(record: dict[str, Any]) -> None:
    check_typed_record(parse_vbr, record, "VbrId", VirtualBorderRouter)


@PROPERTY
@given(records(PEER))
def test_parse_peer_types_any_json(record: dict[str, Any]) -> None:
    result = check_typed_record(parse_peer, record, "BgpPeerId", BgpPeer)
    assert "s3cret-bgp-key" not in repr(result), "the BGP AuthKey reached a record"


@PROPERTY
@given(records(DATAPOINT))
def test_datapoint_is_usable_or_none(point: dict[str, Any]) -> None:
    found = parsed_or_rejected(_point, point)
    if found is not None:
        instance, stamp, value = found
        assert type(instance) is str
        assert type(stamp) is float and math.isfinite(stamp)
        assert type(value) is float and math.isfinite(value)


def datapoints_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """``Datapoints`` as any JSON value, as the JSON text of any value, or as any text."""
    as_text = JSON.map(lambda value: json.dumps(value))
    points = st.lists(st.one_of(records(DATAPOINT), JSON), max_size=4)
    field_value = st.one_of(JSON, as_text, ANY_TEXT, points, points.map(json.dumps))
    return st.one_of(
        st.fixed_dictionaries({"Datapoints": field_value}),
        random_dicts({"Datapoints": "[]", "Code": "200", "Success": True}),
    )


@PROPERTY
@given(datapoints_bodies())
def test_parse_datapoints_lists_mappings_or_fails_one_line(body: dict[str, Any]) -> None:
    try:
        points = parse_datapoints(body)
    except PassError as error:
        assert_one_line(str(error))
        return
    assert isinstance(points, list)
    assert all(isinstance(point, Mapping) for point in points)


# ----------------------------------------------------------------------------- paging helpers


LISTED_WRAPPERS = (
    ("PhysicalConnectionSet", "PhysicalConnectionType"),
    ("VirtualBorderRouterSet", "VirtualBorderRouterType"),
    ("BgpPeers", "BgpPeer"),
)


def list_bodies() -> st.SearchStrategy[tuple[dict[str, Any], str, str]]:
    """A list answer whose wrapper, item list, items or TotalCount may be any JSON."""

    def body(wrapper: str, item: str) -> st.SearchStrategy[dict[str, Any]]:
        items = st.lists(st.one_of(records(CONNECTION), JSON), max_size=4)
        inner = st.one_of(st.dictionaries(st.just(item), st.one_of(items, JSON)), JSON)
        sample = {"TotalCount": 1, wrapper: {item: [CONNECTION]}, "RequestId": "r-1"}
        return st.one_of(
            mutated(sample),
            st.fixed_dictionaries({wrapper: inner, "TotalCount": JSON}),
            random_dicts(sample),
        )

    return st.sampled_from(LISTED_WRAPPERS).flatmap(
        lambda pair: st.tuples(body(*pair), st.just(pair[0]), st.just(pair[1]))
    )


@PROPERTY
@given(list_bodies())
def test_listed_gives_mappings_or_fails_one_line(case: tuple[dict[str, Any], str, str]) -> None:
    body, wrapper, item = case
    try:
        found = listed(body, wrapper, item)
    except PassError as error:
        assert_one_line(str(error))
        return
    assert isinstance(found, list)
    assert all(isinstance(record, Mapping) for record in found)


@PROPERTY
@given(list_bodies())
@example(({"TotalCount": 10**4000}, "", ""))
@example(({"TotalCount": "1\n2"}, "", ""))
def test_total_count_is_a_count_or_fails_one_line(case: tuple[dict[str, Any], str, str]) -> None:
    body = case[0]
    try:
        total = total_count(body)
    except PassError as error:
        assert_one_line(str(error))
        return
    assert type(total) is int and total >= 0
    assert total == body["TotalCount"]


# ----------------------------------------------------------------------------- client


STATUSES = st.one_of(
    st.sampled_from([200, 201, 204, 299, 300, 400, 403, 404, 429, 500, 502, 503]),
    st.integers(100, 599),
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return _LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


ANSWER = {
    "RequestId": "0ED8D006-F706-4D23-88ED-E11ED28DCAC0",
    "Code": "Throttling.User",
    "Message": "Request was denied due to user flow control.",
    "Success": False,
    "HostId": "vpc.cn-hangzhou.aliyuncs.com",
    "Datapoints": "[]",
}


def answer_documents() -> st.SearchStrategy[Any]:
    """Answer bodies: realistic error/success documents with any JSON in their fields, or any
    JSON document at all."""
    return st.one_of(mutated(ANSWER), random_dicts(ANSWER), JSON)


def encodings(document: Any) -> st.SearchStrategy[bytes]:
    """The document as an API could send it: escaped JSON, raw UTF-8, or cut short.

    (Raw bytes of lone surrogates are ``test_raw_surrogate_bytes_are_scrubbed``'s.)
    """
    escaped = json.dumps(document).encode()
    variants = [st.just(escaped), st.integers(0, len(escaped)).map(lambda n: escaped[:n])]
    # A document holding a lone surrogate has no valid raw UTF-8 form.
    with contextlib.suppress(UnicodeEncodeError):
        variants.append(st.just(json.dumps(document, ensure_ascii=False).encode()))
    return st.one_of(variants)


def check_decoded(status: int, raw: bytes, success_field: bool) -> None:
    try:
        body = _decode("DescribeThings", status, raw, success_field=success_field)
    except ApiError as error:
        message = str(error)
        assert_one_line(message)
        message.encode("utf-8")  # a log line or the status page must be able to write it
        assert code_label(error.code) == error.code
        assert message.startswith(f"DescribeThings: {error.code}")
        return
    assert isinstance(body, dict)
    assert status < 300
    assert not has_lone_surrogate(body), "a lone surrogate survived the decoding"


@PROPERTY
@given(st.binary(max_size=200), STATUSES, st.booleans())
def test_decode_any_bytes(raw: bytes, status: int, success_field: bool) -> None:
    check_decoded(status, raw, success_field)


@PROPERTY
@given(answer_documents().flatmap(encodings), STATUSES, st.booleans())
@example(b'{"Code": "\\ud800\\n", "Message": "a\\u2028b\\rc"}', 400, False)
@example(b'{"Success": "false", "Code": 10000000000000000000000}', 200, True)
def test_decode_any_json_document(raw: bytes, status: int, success_field: bool) -> None:
    check_decoded(status, raw, success_field)


def test_decode_keeps_a_plain_success() -> None:
    """The property's success branch is reachable: a normal answer comes back as sent."""
    raw = json.dumps({"RequestId": "r-1", "TotalCount": 0, "Note": "\ud800"}).encode()
    assert _decode("DescribeThings", 200, raw) == {
        "RequestId": "r-1",
        "TotalCount": 0,
        "Note": "\ufffd",
    }


# -------------------------------------------------- found by these tests, now fixed


BEYOND_FLOAT_CASES = [
    (parse_connection, CONNECTION, "Bandwidth", "bandwidth_mbps"),
    (parse_vbr, VBR, "Bandwidth", "bandwidth_mbps"),
    (parse_peer, PEER, "ReceivedRouteCount", "received_routes"),
    (parse_peer, PEER, "AdvertisedRouteCount", "advertised_routes"),
    (parse_peer, PEER, "RouteLimit", "route_limit"),
]


@pytest.mark.parametrize(("parse", "sample", "api_field", "attribute"), BEYOND_FLOAT_CASES)
def test_ints_beyond_float_range_are_absent(
    parse: Callable[[Any], Any], sample: dict[str, Any], api_field: str, attribute: str
) -> None:
    """An int no float holds is an absurd value like inf: absent, the record kept."""
    for huge in BEYOND_FLOAT_INTS:
        result = parse({**sample, api_field: huge})
        assert getattr(result, attribute) is None
        assert_typed(result)


@pytest.mark.parametrize("api_field", ["timestamp", "Value"])
def test_datapoint_ints_beyond_float_range_are_absent(api_field: str) -> None:
    for huge in BEYOND_FLOAT_INTS:
        found = _point({**DATAPOINT, api_field: huge})
        if api_field == "timestamp":
            assert found is None
        else:  # the next statistic is read instead
            assert found == (DATAPOINT["instanceId"], 1_700_000_000.0, 12000.0)


def test_deeply_nested_answer_is_an_api_error() -> None:
    check_decoded(200, DEEP_JSON.encode(), False)


def test_deeply_nested_datapoints_is_a_pass_error() -> None:
    with pytest.raises(PassError) as caught:
        parse_datapoints({"Datapoints": DEEP_JSON})
    assert_one_line(str(caught.value))


SURROGATE_TEXT = st.tuples(ANY_TEXT, st.characters(categories=["Cs"]), ANY_TEXT).map("".join)


def surrogate_documents() -> st.SearchStrategy[dict[str, Any]]:
    """Answers with a lone surrogate in some key or value (a field that matters or not)."""
    return st.builds(
        lambda document, key, value: {**document, key: value},
        mutated(ANSWER),
        st.one_of(st.sampled_from(sorted(ANSWER)), SURROGATE_TEXT),
        st.one_of(SURROGATE_TEXT, st.lists(SURROGATE_TEXT, min_size=1, max_size=2)),
    )


def raw_surrogate_bytes(document: Any) -> st.SearchStrategy[bytes]:
    """Lone surrogates written unescaped, as a CESU-8 or UTF-16 encoder writes them."""
    text = json.dumps(document, ensure_ascii=False)
    return st.sampled_from(
        [text.encode("utf-8", "surrogatepass"), text.encode("utf-16-le", "surrogatepass")]
    )


@settings(PROPERTY)
@given(
    surrogate_documents().flatmap(raw_surrogate_bytes),
    STATUSES,
    st.booleans(),
)
@example(b'{"TotalCount": 0, "Note": "\xed\xa0\x80"}', 200, False)
@example(b'{"Code": "Forbidden", "Message": "no \xed\xb0\x80"}', 403, False)
def test_raw_surrogate_bytes_are_scrubbed(raw: bytes, status: int, success_field: bool) -> None:
    """Whatever the encoding of a lone surrogate, no decoded body nor error keeps one: a label,
    log line or state file holding it cannot be written."""
    check_decoded(status, raw, success_field)
