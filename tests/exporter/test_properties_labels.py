"""Property tests: any label value survives the real path to ``/metrics`` and back.

A value goes into an API answer as JSON, is decoded by the client (which replaces lone
surrogates with U+FFFD), typed by the collector's parser, rendered by the collector's
``RecordFamilies`` and assembled by the exposition; prometheus_client's parsers (text 0.0.4 and
OpenMetrics) must then read back exactly the value that went in. Quotes, backslashes, line
breaks of every kind, control characters and any Unicode included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

from exporter.client import _decode
from exporter.collectors import physical_connections as pc
from exporter.collectors import virtual_border_routers as vbrs
from exporter.collectors.base import Collector, listed
from exporter.exposition import Block, Header, build_exposition, chunk, render_headers
from exporter.families import RenderContext, render_families, tag_label_names
from exporter.vocabulary import (
    BGP_PEER_STATUSES,
    BGP_STATUS_UNKNOWN,
    BGP_STATUSES,
    BUSINESS_STATUSES,
    STATUSES,
    VBR_STATUSES,
    canonical_status,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ANY_CHAR = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates: the client turns them into U+FFFD
    st.sampled_from('"\\\n\r\t\x00\x0b\x0c\x1c\x85\u2028\u2029{}=,# \ufeff'),
)
VALUES = st.text(ANY_CHAR, max_size=12)
IDS = st.text(ANY_CHAR, min_size=1, max_size=12)
# Names from the configuration (account, region): text, never a lone surrogate.
CONFIG_TEXT = st.text(
    st.one_of(st.characters(codec="utf-8"), st.sampled_from('"\\\n\r{}=,# ')),
    min_size=1,
    max_size=12,
)
TAG_KEYS = st.lists(CONFIG_TEXT.filter(str.strip), max_size=3, unique=True)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def on_the_wire(value: str) -> str:
    """What the exporter holds after the API sent ``value`` as JSON: a surrogate pair escaped
    as two halves decodes to one character, any other half becomes U+FFFD."""
    decoded = json.loads(json.dumps(value))
    assert isinstance(decoded, str)
    return _LONE_SURROGATE.sub("\ufffd", decoded)


def through_client(action: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The answer as the client hands it over: JSON bytes decoded by the real ``_decode``."""
    return _decode(action, 200, json.dumps(body).encode())


def exposition_text(
    collector: Collector[Any], snapshot: Any, ctx: RenderContext
) -> tuple[str, str]:
    """(text 0.0.4, OpenMetrics) of one region's static part, rendered as ``/metrics`` does."""
    lines = dict(render_families(collector.records, snapshot, ctx))
    block = Block(
        (ctx.account, ctx.region_id, collector.name),
        {name: chunk(family_lines) for name, family_lines in lines.items()},
    )
    headers = [
        Header(family.name, family.help, family.kind)
        for group in collector.records
        for family in group.families
    ]
    order = [header.name for header in headers]
    exposition = build_exposition([block], order, render_headers(headers, 300.0))

    def joined(openmetrics: bool) -> str:
        return b"".join(exposition.parts(openmetrics=openmetrics, gzipped=False)).decode()

    return joined(False), joined(True) + "# EOF\n"


Series = dict[str, list[tuple[dict[str, str], float]]]


def parsed(text: str, openmetrics: str) -> Series:
    """Sample name → [(labels, value)], from the text parser; the OpenMetrics parser must read
    the same samples (info families' samples keep their ``_info`` name there too)."""
    found: Series = {}
    for family in text_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    again: Series = {}
    for family in openmetrics_families(openmetrics):
        for sample in family.samples:
            again.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    assert again == found, "OpenMetrics and text 0.0.4 disagree"
    return found


def only(series: Series, name: str, where: Mapping[str, str]) -> list[tuple[dict[str, str], float]]:
    """The samples of ``name`` whose labels include ``where``."""
    return [
        (labels, value)
        for labels, value in series.get(name, [])
        if all(labels.get(k) == v for k, v in where.items())
    ]


def assert_state_set(
    samples: Sequence[tuple[dict[str, str], float]], label: str, known: Iterable[str], now: str
) -> None:
    """One series per documented state plus the current one if undocumented; 1 only for it."""
    states = {labels[label]: value for labels, value in samples}
    assert len(states) == len(samples), "a state appears twice"
    assert set(states) == set(known) | ({now} if now else set())
    assert {state for state, value in states.items() if value == 1.0} == ({now} if now else set())


def tag_entries(
    configured: Sequence[str], values: Sequence[str], others: Mapping[str, str]
) -> list[dict[str, str]]:
    """The API's tag list: the first configured keys (one per value), then other tags."""
    entries = [{"Key": key, "Value": value} for key, value in zip(configured, values, strict=False)]
    entries += [{"Key": key, "Value": value} for key, value in others.items()]
    return entries


def expected_tags(
    configured: Sequence[str], entries: Sequence[Mapping[str, str]]
) -> dict[str, str]:
    """``tag_<key>`` → the tag's value as exported ("" when the object lacks the tag; the
    last of several entries with one key wins)."""
    by_key = {on_the_wire(entry["Key"]): on_the_wire(entry["Value"]) for entry in entries}
    return {label: by_key.get(key, "") for label, key in tag_label_names(configured)}


# ----------------------------------------------------------------------------- connections


connection_records = st.fixed_dictionaries(
    {"PhysicalConnectionId": IDS, "Status": VALUES, "BusinessStatus": VALUES}
    | {api_field: VALUES for _, api_field in pc.INFO_FIELDS}
)


@PROPERTY
@given(
    st.lists(
        connection_records,
        min_size=1,
        max_size=3,
        unique_by=lambda r: on_the_wire(r["PhysicalConnectionId"]),
    ),
    CONFIG_TEXT,
    CONFIG_TEXT,
    TAG_KEYS,
    st.lists(VALUES, max_size=3),
    st.dictionaries(VALUES, VALUES, max_size=2),
)
@example(
    [{"PhysicalConnectionId": 'pc-"\\\n', "Status": "Allocation Failed", "BusinessStatus": "",
      **{api_field: 'a"b\\c\nd\re\u2028f\ud800' for _, api_field in pc.INFO_FIELDS}}],
    'acc"\\\n',
    "cn-\u2028hangzhou",
    ["cost-center", "cost_center", "环境"],
    ['x"\\\ny', "\ud83d\ude00", "\udfff"],
    {},
)  # fmt: skip
def test_physical_connection_labels_round_trip(
    records: list[dict[str, Any]],
    account: str,
    region_id: str,
    tag_keys: list[str],
    tag_values: list[str],
    other_tags: dict[str, str],
) -> None:
    tags = tag_entries(tag_keys, tag_values, other_tags)
    answer = {
        "TotalCount": len(records),
        "PhysicalConnectionSet": {
            "PhysicalConnectionType": [{**record, "Tags": {"tags": tags}} for record in records]
        },
    }
    body = through_client(pc.ACTION, answer)
    connections = tuple(
        pc.parse_connection(record) for record in listed(body, pc.LISTING.wrapper, pc.LISTING.item)
    )
    snapshot = pc.RegionSnapshot(
        account=account,
        region_id=region_id,
        connections=connections,
        completed_at=0.0,
        duration_seconds=0.0,
    )
    ctx = RenderContext(account, region_id, tag_labels=tag_label_names(tag_keys))
    series = parsed(*exposition_text(pc.COLLECTOR, snapshot, ctx))

    for record in records:
        conn_id = on_the_wire(record["PhysicalConnectionId"])
        identity = {"account": account, "region_id": region_id, "physical_connection_id": conn_id}
        expected = identity | {label: on_the_wire(record[key]) for label, key in pc.INFO_FIELDS}
        assert only(series, pc.INFO, identity) == [(expected | expected_tags(tag_keys, tags), 1.0)]
        status = canonical_status(on_the_wire(record["Status"]))
        assert_state_set(only(series, pc.STATUS, identity), "status", STATUSES, status)
        business = on_the_wire(record["BusinessStatus"])
        assert_state_set(
            only(series, pc.BUSINESS_STATUS, identity), "business_status", BUSINESS_STATUSES,
            business,
        )  # fmt: skip


# ----------------------------------------------------------------------------- VBRs, peers


vbr_records = st.fixed_dictionaries(
    {"VbrId": IDS, "Status": VALUES} | {api_field: VALUES for _, api_field in vbrs.VBR_INFO_FIELDS}
)
AUTH_KEY = "s3cret-bgp-auth-key"
peer_records = st.fixed_dictionaries(
    {
        "BgpPeerId": IDS,
        "RouterId": VALUES,
        "BgpGroupId": VALUES,
        "Name": VALUES,
        "PeerIpAddress": VALUES,
        "PeerAsn": VALUES,
        "LocalAsn": VALUES,
        "IpVersion": VALUES,
        "EnableBfd": st.one_of(st.booleans(), VALUES),
        "Status": VALUES,
        "BgpStatus": VALUES,
        "AuthKey": st.just(AUTH_KEY),
    }
)


def expected_peer_info(record: Mapping[str, Any]) -> dict[str, str]:
    bfd = record["EnableBfd"]
    return {
        "bgp_group_id": on_the_wire(record["BgpGroupId"]),
        "name": on_the_wire(record["Name"]),
        "peer_ip_address": on_the_wire(record["PeerIpAddress"]),
        "peer_asn": on_the_wire(record["PeerAsn"]),
        "local_asn": on_the_wire(record["LocalAsn"]),
        "ip_version": on_the_wire(record["IpVersion"]).lower(),
        "enable_bfd": "true" if bfd is True or str(bfd).lower() == "true" else "false",
    }


@PROPERTY
@given(
    st.lists(vbr_records, min_size=1, max_size=2, unique_by=lambda r: on_the_wire(r["VbrId"])),
    st.lists(peer_records, max_size=2, unique_by=lambda r: on_the_wire(r["BgpPeerId"])),
    CONFIG_TEXT,
    CONFIG_TEXT,
    TAG_KEYS,
    st.lists(VALUES, max_size=3),
)
@example(
    [{"VbrId": 'vbr-"\\\n', "Status": 'weird"\n',
      **{api_field: '\\"\n\u0085\ud800' for _, api_field in vbrs.VBR_INFO_FIELDS}}],
    [{"BgpPeerId": "bgp-\u2029", "RouterId": 'vbr-"\\\n', "BgpGroupId": "g\\n", "Name": '"',
      "PeerIpAddress": "\n", "PeerAsn": "\\", "LocalAsn": "\r", "IpVersion": "İPv4",
      "EnableBfd": "TRUE", "Status": "", "BgpStatus": "", "AuthKey": AUTH_KEY}],
    "a",
    "r",
    ["env"],
    ["prod\n"],
)  # fmt: skip
def test_vbr_and_bgp_labels_round_trip(
    vbr_list: list[dict[str, Any]],
    peer_list: list[dict[str, Any]],
    account: str,
    region_id: str,
    tag_keys: list[str],
    tag_values: list[str],
) -> None:
    tags = tag_entries(tag_keys, tag_values, {})
    vbr_answer = {
        "TotalCount": len(vbr_list),
        "VirtualBorderRouterSet": {
            "VirtualBorderRouterType": [{**vbr, "Tags": {"Tags": tags}} for vbr in vbr_list]
        },
    }
    peer_answer = {"TotalCount": len(peer_list), "BgpPeers": {"BgpPeer": peer_list}}
    vbr_body = through_client("DescribeVirtualBorderRouters", vbr_answer)
    peer_body = through_client("DescribeBgpPeers", peer_answer)
    snapshot = vbrs.VbrSnapshot(
        account=account,
        region_id=region_id,
        vbrs=tuple(map(vbrs.parse_vbr, listed(vbr_body, vbrs.VBRS.wrapper, vbrs.VBRS.item))),
        peers=tuple(map(vbrs.parse_peer, listed(peer_body, vbrs.PEERS.wrapper, vbrs.PEERS.item))),
        completed_at=0.0,
        duration_seconds=0.0,
    )
    ctx = RenderContext(account, region_id, tag_labels=tag_label_names(tag_keys))
    text, openmetrics = exposition_text(vbrs.COLLECTOR, snapshot, ctx)
    assert AUTH_KEY not in text, "the BGP AuthKey reached /metrics"
    series = parsed(text, openmetrics)

    where = {"account": account, "region_id": region_id}
    for vbr in vbr_list:
        identity = where | {"vbr_id": on_the_wire(vbr["VbrId"])}
        info = {label: on_the_wire(vbr[key]) for label, key in vbrs.VBR_INFO_FIELDS}
        expected = identity | info | expected_tags(tag_keys, tags)
        assert only(series, vbrs.VBR_INFO, identity) == [(expected, 1.0)]
        status = on_the_wire(vbr["Status"])
        assert_state_set(only(series, vbrs.VBR_STATUS, identity), "status", VBR_STATUSES, status)
    for peer in peer_list:
        identity = where | {
            "vbr_id": on_the_wire(peer["RouterId"]),
            "bgp_peer_id": on_the_wire(peer["BgpPeerId"]),
        }
        assert only(series, vbrs.BGP_INFO, identity) == [(identity | expected_peer_info(peer), 1.0)]
        assert_state_set(
            only(series, vbrs.BGP_PEER_STATUS, identity), "status", BGP_PEER_STATUSES,
            on_the_wire(peer["Status"]),
        )  # fmt: skip
        session = on_the_wire(peer["BgpStatus"]) or BGP_STATUS_UNKNOWN
        assert_state_set(
            only(series, vbrs.BGP_STATUS, identity), "bgp_status",
            (*BGP_STATUSES, BGP_STATUS_UNKNOWN), session,
        )  # fmt: skip
