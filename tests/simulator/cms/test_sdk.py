"""CloudMonitor through the official SDK (alibabacloud-cms20190101), a client nobody here wrote.

V3 signing (the SDK default) and V1 (``signature_algorithm='v2'``): ``Datapoints`` arrives as a
JSON string and parses into points that match the simulator's own figures; NextToken pages; the
50-instance limit, HTTP 200 ``Success: false`` bodies and throttling surface the way the SDK
reports them. Retries are off so one call is one request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_cms20190101 import models as cms
from alibabacloud_cms20190101.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException

from exporter.simulator import Simulator, SimulatorThread
from tests.simulator.conftest import AK, NO_RETRY, SECRET, control, wait_for

NS = "acs_physical_connection"
RATE_IN = "RateInFromIDCToVpc"
ALGORITHMS = [None, "v2"]  # V3 (default) and V1


def cms_client(url: str, algorithm: str | None = None) -> Client:
    port = url.rsplit(":", 1)[1]
    config = open_api_models.Config(
        endpoint=f"127.0.0.1:{port}",
        protocol="http",
        access_key_id=AK,
        access_key_secret=SECRET,
        signature_algorithm=algorithm,
    )
    return Client(config)


def dims(vbr_ids: list[str]) -> str:
    return json.dumps([{"instanceId": v} for v in vbr_ids])


def last(client: Client, metric: str, vbr_ids: list[str], **extra: str) -> Any:
    request = cms.DescribeMetricLastRequest(
        namespace=NS, metric_name=metric, period="60", dimensions=dims(vbr_ids), **extra
    )
    return client.describe_metric_last_with_options(request, NO_RETRY).body


def points(body: Any) -> list[dict[str, Any]]:
    assert isinstance(body.datapoints, str)  # a JSON string on the wire, not an array
    parsed = json.loads(body.datapoints)
    assert isinstance(parsed, list)
    return parsed


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=11, connections=40, lifecycle=False)
    sim.cms_settings({"qps": None})  # the tests below call faster than the real limit
    with SimulatorThread(sim) as url:
        yield sim, url


def _traffic_vbrs(sim: Simulator, n: int = 3) -> list[str]:
    return [v["VbrId"] for v in sim.vbrs() if v["Status"] == "active"][:n]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_last_parses_and_matches_the_simulator(
    served: tuple[Simulator, str], algorithm: str | None
) -> None:
    sim, url = served
    ids = _traffic_vbrs(sim)
    body = last(cms_client(url, algorithm), RATE_IN, ids)
    assert body.code == "200" and body.success is True and body.period == "60"
    assert body.request_id and body.next_token is None
    got = points(body)
    assert [p["instanceId"] for p in got] == ids
    uid = str(sim.accounts[0].uid)
    for point in got:
        assert set(point) == {"timestamp", "userId", "instanceId", "Value"}
        assert point["userId"] == uid
        stamp = point["timestamp"]
        assert isinstance(stamp, int) and stamp % 60_000 == 0
        assert time.time() * 1000 - 2 * 60_000 <= stamp <= time.time() * 1000 - 60_000
        expected = sim.vbr_metric_value(point["instanceId"], RATE_IN, stamp)
        assert point["Value"] == expected and expected is not None and expected > 0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_list_pages_with_next_token(served: tuple[Simulator, str], algorithm: str | None) -> None:
    sim, url = served
    ids = _traffic_vbrs(sim)
    client = cms_client(url, algorithm)
    end = (int(time.time()) // 60 - 5) * 60_000  # a fixed window, well in the past
    request = cms.DescribeMetricListRequest(
        namespace=NS,
        metric_name="PkgsOutFromVpcToIDC",
        period="60",
        dimensions=dims(ids),
        start_time=str(end - 60 * 60_000),
        end_time=str(end),
        length="50",
    )
    seen: list[dict[str, Any]] = []
    pages = 0
    while True:
        body = client.describe_metric_list_with_options(request, NO_RETRY).body
        assert body.success is True and body.code == "200"
        page = points(body)
        seen.extend(page)
        pages += 1
        if not body.next_token:
            break
        assert len(page) == 50
        request.next_token = body.next_token
    assert pages == 4 and len(seen) == 3 * 60  # (start, end]: 60 points per VBR
    for vbr_id in ids:
        stamps = [p["timestamp"] for p in seen if p["instanceId"] == vbr_id]
        assert stamps == list(range(end - 59 * 60_000, end + 1, 60_000))
    for p in seen[::17]:
        assert p["Value"] == sim.vbr_metric_value(
            p["instanceId"], "PkgsOutFromVpcToIDC", p["timestamp"]
        )


def test_fifty_instances_at_most(served: tuple[Simulator, str]) -> None:
    _, url = served
    client = cms_client(url)
    fake = [f"vbr-bp1fake{i:014d}" for i in range(51)]
    body = last(client, RATE_IN, fake[:50])  # 50 is fine (none of them exists: no points)
    assert body.success is True and points(body) == []
    with pytest.raises(ClientException) as caught:
        last(client, RATE_IN, fake)
    assert caught.value.code == "ParameterInvalid"
    assert caught.value.status_code == 400
    assert "51" in caught.value.message


def test_errors_as_http_200_with_success_false() -> None:
    sim = Simulator(seed=11, connections=20, lifecycle=False)
    sim.cms_settings({"errors_as_200": True})
    with SimulatorThread(sim) as url:
        client = cms_client(url, "v2")
        fake = [f"vbr-bp1fake{i:014d}" for i in range(51)]
        body = last(client, RATE_IN, fake)  # the SDK raises nothing on HTTP 200
        assert body.success is False and body.code == "400" and body.datapoints is None
        assert "at most 50" in body.message
        body = last(client, "NoSuchMetric", fake[:1])
        assert body.success is False and body.code == "404"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_success_false_fault_is_surfaced(
    served: tuple[Simulator, str], algorithm: str | None
) -> None:
    sim, url = served
    client = cms_client(url, algorithm)
    status, _ = control(
        url,
        "POST",
        "faults",
        {
            "kind": "success_false",
            "action": "DescribeMetricLast",
            "count": 1,
            "code": "ResourceNotFound",
            "message": "Metric not found.",
        },
    )
    assert status == 201
    body = last(client, RATE_IN, _traffic_vbrs(sim))
    assert body.success is False and body.code == "ResourceNotFound"
    assert body.message == "Metric not found." and body.datapoints is None
    body = last(client, RATE_IN, _traffic_vbrs(sim))  # the fault fired once
    assert body.success is True and len(points(body)) == 3


def test_throttling_fault_and_call_limit() -> None:
    sim = Simulator(seed=11, connections=20, lifecycle=False)
    with SimulatorThread(sim) as url:
        client = cms_client(url)
        ids = _traffic_vbrs(sim, 1)
        sim.add_fault({"kind": "Throttling.User", "action": "DescribeMetricList", "count": 1})
        request = cms.DescribeMetricListRequest(namespace=NS, metric_name=RATE_IN)
        with pytest.raises(ClientException) as caught:
            client.describe_metric_list_with_options(request, NO_RETRY)
        assert caught.value.code == "Throttling.User"
        assert client.describe_metric_list_with_options(request, NO_RETRY).body.success

        sim.cms_settings({"qps": 1})  # one call per second per (account, action)

        def refused() -> str | None:
            try:
                last(client, RATE_IN, ids)
            except ClientException as exc:
                return str(exc.code)
            return None

        assert wait_for(refused, "a throttled DescribeMetricLast", timeout=5) == "Throttling.User"
        assert sim.cms_calls()["default"]["DescribeMetricLast"] >= 2


def test_unknown_namespace_and_metric(served: tuple[Simulator, str]) -> None:
    sim, url = served
    client = cms_client(url)
    for namespace, metric in ((NS, "NoSuchMetric"), ("acs_ecs_dashboard", RATE_IN)):
        request = cms.DescribeMetricLastRequest(namespace=namespace, metric_name=metric)
        with pytest.raises(ClientException) as caught:
            client.describe_metric_last_with_options(request, NO_RETRY)
        assert caught.value.code == "ResourceNotFound" and caught.value.status_code == 404
    # A name seen in the wild but never documented answers no data.
    body = last(client, "VbrHealthyCheckLossPercent", _traffic_vbrs(sim))
    assert body.success is True and points(body) == []


def test_meta_list(served: tuple[Simulator, str]) -> None:
    _, url = served
    request = cms.DescribeMetricMetaListRequest(namespace=NS, page_size=50)
    body = cms_client(url).describe_metric_meta_list_with_options(request, NO_RETRY).body
    assert body.success is True and body.total_count == "9"
    names = {r.metric_name for r in body.resources.resource}
    assert {RATE_IN, "VbrHealthyCheckLatency", "PkgsDropOutFromVpcToIDC"} <= names
    assert all(
        r.statistics == "Value" and r.dimensions == "userId,instanceId"
        for r in body.resources.resource
    )
