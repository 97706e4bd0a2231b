"""The virtual_border_routers collector's record parsing: VBRs and BGP peers typed from one API
record each, ASNs read whether sent as strings or numbers, the BGP AuthKey never kept."""

from __future__ import annotations

import pytest

from exporter.collectors.virtual_border_routers import parse_peer, parse_vbr


def test_a_vbr_record_is_typed_with_its_info_labels() -> None:
    record = {
        "VbrId": "vbr-1",
        "Status": "active",
        "Bandwidth": 100,
        "PhysicalConnectionId": "pc-1",
        "VlanId": 42,
        "Name": "hz-a",
    }
    vbr = parse_vbr(record)
    assert (vbr.id, vbr.status, vbr.bandwidth_mbps) == ("vbr-1", "active", 100.0)
    info = dict(vbr.info)
    assert (info["physical_connection_id"], info["vlan_id"], info["name"]) == ("pc-1", "42", "hz-a")
    assert info["circuit_code"] == ""  # absent fields are empty labels, not missing ones


def test_a_record_without_its_id_is_refused() -> None:
    with pytest.raises(ValueError, match="record without VbrId"):
        parse_vbr({"Status": "active"})
    with pytest.raises(ValueError, match="record without BgpPeerId"):
        parse_peer({"RouterId": "vbr-1"})


def test_a_peer_keeps_its_asns_and_state_but_never_the_auth_key() -> None:
    record = {
        "BgpPeerId": "bgp-1",
        "RouterId": "vbr-1",
        "Status": "Available",
        "BgpStatus": "Established",
        "PeerAsn": 65001,
        "LocalAsn": "45104",
        "EnableBfd": "True",
        "AuthKey": "s3cret-bgp-key",
        "ReceivedRouteCount": 12,
    }
    peer = parse_peer(record)
    assert (peer.vbr_id, peer.peer_status, peer.status) == ("vbr-1", "Available", "Established")
    info = dict(peer.info)
    assert (info["peer_asn"], info["local_asn"], info["enable_bfd"]) == ("65001", "45104", "true")
    assert peer.received_routes == 12.0 and peer.route_limit is None
    assert "s3cret-bgp-key" not in repr(peer)
