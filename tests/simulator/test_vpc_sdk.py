"""The official SDK (alibabacloud-vpc20160428) as a client nobody here wrote.

Default V3 signing and ``signature_algorithm='v2'`` (V1 query signing), with and without an STS
token: every page parses into the SDK's models with field values intact, and errors surface as
the SDK's exceptions with the vendor codes. Retries are off so one call is one request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_vpc20160428 import models as vpc

from exporter.simulator import Simulator, SimulatorThread

from .conftest import AK, NO_RETRY, SECRET, STS_AK, STS_SECRET, STS_TOKEN, sdk_client

REGION = "cn-shanghai"
MODES = [(None, False), ("v2", False), (None, True), ("v2", True)]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=21, connections=137, regions=[REGION], lifecycle=False)
    with SimulatorThread(sim) as url:
        yield sim, url


@pytest.mark.parametrize(("algorithm", "sts"), MODES)
def test_pages_parse_into_sdk_models(
    served: tuple[Simulator, str], algorithm: str | None, sts: bool
) -> None:
    sim, url = served
    sdk = sdk_client(url, algorithm, sts)
    expected = sim.connections(region=REGION)
    seen: list[dict[str, Any]] = []
    page = 1
    while True:
        request = vpc.DescribePhysicalConnectionsRequest(
            region_id=REGION, page_size=50, page_number=page, include_reservation_data=True
        )
        body = sdk.describe_physical_connections_with_options(request, NO_RETRY).body
        assert body.total_count == 137 and body.page_size == 50 and body.page_number == page
        assert body.request_id
        items = body.physical_connection_set.physical_connection_type
        seen.extend(item.to_map() for item in items)
        if page * 50 >= body.total_count:
            break
        page += 1
    assert len(seen) == 137
    for model, record in zip(seen, expected, strict=True):
        # The SDK keeps the fields it knows; each must come through unchanged.
        assert model["PhysicalConnectionId"] == record["PhysicalConnectionId"]
        for key, value in model.items():
            assert value == record[key], key
        assert {"Status", "BusinessStatus", "Bandwidth", "PortNumber"} <= model.keys()
    tagged = next(m for m in seen if "Tags" in m)
    assert tagged["Tags"]["tags"][0]["Key"] == "env"


@pytest.mark.parametrize(("algorithm", "sts"), MODES)
def test_filters_through_the_sdk(
    served: tuple[Simulator, str], algorithm: str | None, sts: bool
) -> None:
    sim, url = served
    want = {
        r["PhysicalConnectionId"]
        for r in sim.connections(region=REGION)
        if r["Status"] in ("Enabled", "Allocation Failed")
    }
    request = vpc.DescribePhysicalConnectionsRequest(
        region_id=REGION,
        page_size=50,
        filter=[
            vpc.DescribePhysicalConnectionsRequestFilter(
                key="Status", value=["Enabled", "Allocation Failed"]
            )
        ],
    )
    body = (
        sdk_client(url, algorithm, sts)
        .describe_physical_connections_with_options(request, NO_RETRY)
        .body
    )
    assert body.total_count == len(want)


@pytest.mark.parametrize(("algorithm", "sts"), MODES)
def test_wrong_secret_is_rejected(
    served: tuple[Simulator, str], algorithm: str | None, sts: bool
) -> None:
    _, url = served
    sdk = sdk_client(url, algorithm, sts, secret="not-the-secret")
    with pytest.raises(ClientException) as info:
        sdk.describe_physical_connections_with_options(
            vpc.DescribePhysicalConnectionsRequest(region_id=REGION), NO_RETRY
        )
    assert info.value.code == "SignatureDoesNotMatch"
    assert info.value.status_code == 400


def test_errors_surface_as_sdk_exceptions(served: tuple[Simulator, str]) -> None:
    sim, url = served
    sdk = sdk_client(url, None, False)
    bad_filter = vpc.DescribePhysicalConnectionsRequest(
        region_id=REGION,
        filter=[vpc.DescribePhysicalConnectionsRequestFilter(key="Color", value=["red"])],
    )
    with pytest.raises(ClientException) as info:
        sdk.describe_physical_connections_with_options(bad_filter, NO_RETRY)
    assert (info.value.code, info.value.status_code) == ("InvalidFilterKey.ValueNotSupported", 404)
    plain = vpc.DescribePhysicalConnectionsRequest(region_id=REGION)
    fault = sim.add_fault({"kind": "ServiceUnavailable", "count": 1})
    with pytest.raises(ServerException) as server_info:
        sdk.describe_physical_connections_with_options(plain, NO_RETRY)
    assert (server_info.value.code, server_info.value.status_code) == ("ServiceUnavailable", 503)
    sim.remove_fault(fault)
    sim.add_fault({"kind": "Throttling.User", "count": 1})
    with pytest.raises(ClientException) as throttled:
        sdk.describe_physical_connections_with_options(plain, NO_RETRY)
    assert throttled.value.code == "Throttling.User"
    with pytest.raises(ClientException) as missing:
        sdk.cancel_physical_connection_with_options(
            vpc.CancelPhysicalConnectionRequest(region_id=REGION, physical_connection_id="pc-x"),
            NO_RETRY,
        )
    assert (missing.value.code, missing.value.status_code) == (
        "InvalidPhysicalConnectionId.NotFound",
        404,
    )


@pytest.mark.parametrize(("algorithm", "sts"), [(None, False), ("v2", True)])
def test_write_actions_through_the_sdk(algorithm: str | None, sts: bool) -> None:
    from exporter.simulator import Account, StsCredential

    account = Account(
        "solo", AK, SECRET, connections=0, sts=(StsCredential(STS_AK, STS_SECRET, STS_TOKEN),)
    )
    sim = Simulator(seed=1, connections=0, regions=[REGION], accounts=[account], lifecycle=False)
    with SimulatorThread(sim) as url:
        sdk = sdk_client(url, algorithm, sts)
        created = sdk.create_physical_connection_with_options(
            vpc.CreatePhysicalConnectionRequest(
                region_id=REGION,
                access_point_id="ap-cn-shanghai-nh-A",
                line_operator="CU",
                peer_location="Shanghai DC",
                bandwidth=500,
                port_type="10GBase-LR",
                name="sh-sdk-line",
                client_token="sdk-token-1",
            ),
            NO_RETRY,
        ).body
        pc_id = created.physical_connection_id
        assert sim.connection(pc_id)["Bandwidth"] == 500  # sent as lower-case `bandwidth`
        sdk.modify_physical_connection_attribute_with_options(
            vpc.ModifyPhysicalConnectionAttributeRequest(
                region_id=REGION,
                physical_connection_id=pc_id,
                bandwidth=800,
                description="Upgraded",
            ),
            NO_RETRY,
        )
        assert sim.connection(pc_id)["Bandwidth"] == 800
        sim.set_fields(pc_id, {"Status": "Confirmed"})
        sdk.enable_physical_connection_with_options(
            vpc.EnablePhysicalConnectionRequest(region_id=REGION, physical_connection_id=pc_id),
            NO_RETRY,
        )
        sdk.terminate_physical_connection_with_options(
            vpc.TerminatePhysicalConnectionRequest(region_id=REGION, physical_connection_id=pc_id),
            NO_RETRY,
        )
        assert sim.connection(pc_id)["Status"] == "Terminating"
        with pytest.raises(ClientException) as info:
            sdk.delete_physical_connection_with_options(
                vpc.DeletePhysicalConnectionRequest(region_id=REGION, physical_connection_id=pc_id),
                NO_RETRY,
            )
        assert info.value.code == "Forbidden.NotAllowedInState"
        regions = sdk.describe_regions_with_options(vpc.DescribeRegionsRequest(), NO_RETRY).body
        assert any(r.region_id == REGION for r in regions.regions.region)
