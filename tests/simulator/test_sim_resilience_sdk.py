"""CEN health checks, failover test jobs and VBR HA groups read with the official SDKs
(alibabacloud-cbn20170912, alibabacloud-vpc20160428) as independent clients, V3 and V1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alibabacloud_cbn20170912 import models as cbn
from alibabacloud_cbn20170912.client import Client as CbnClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_vpc20160428 import models as vpc

from exporter.simulator import Simulator, SimulatorThread

from .conftest import AK, NO_RETRY, SECRET, control, sdk_client, send

ACCOUNT = "default"
JobFilter = vpc.DescribeFailoverTestJobsRequestFilter


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=7, connections=40, lifecycle=False)
    with SimulatorThread(sim) as url:
        yield sim, url


@pytest.fixture
def fresh() -> Iterator[tuple[Simulator, str]]:
    sim = Simulator(seed=7, connections=40, lifecycle=False)
    with SimulatorThread(sim) as url:
        yield sim, url


def cbn_client(url: str, algorithm: str | None = None) -> CbnClient:
    config = open_api_models.Config(
        access_key_id=AK,
        access_key_secret=SECRET,
        endpoint=f"127.0.0.1:{url.rsplit(':', 1)[1]}",
        protocol="http",
        signature_algorithm=algorithm,
    )
    return CbnClient(config)


def all_health_checks(url: str, region: str, algorithm: str | None, **kw: Any) -> list[Any]:
    client = cbn_client(url, algorithm)
    out: list[Any] = []
    page = 1
    while True:
        request = cbn.DescribeCenVbrHealthCheckRequest(
            vbr_instance_region_id=region, page_size=4, page_number=page, **kw
        )
        body = client.describe_cen_vbr_health_check_with_options(request, NO_RETRY).body
        assert (body.page_number, body.page_size) == (page, 4) and body.request_id
        out += body.vbr_health_checks.vbr_health_check
        if page * 4 >= body.total_count:
            assert len(out) == body.total_count
            return out
        page += 1


def region_with_checks(sim: Simulator) -> str:
    counts: dict[str, int] = {}
    for vbr, _ in sim.resilience.health_checks(ACCOUNT):
        counts[vbr.region] = counts.get(vbr.region, 0) + 1
    return max(counts, key=lambda r: counts[r])


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_health_checks_sdk(served: tuple[Simulator, str], algorithm: str | None) -> None:
    sim, url = served
    region = region_with_checks(sim)
    truth = {vbr.id: view for vbr, view in sim.resilience.health_checks(ACCOUNT, region)}
    assert len(truth) > 4  # more than one page of 4
    got = all_health_checks(url, region, algorithm)
    assert {c.vbr_instance_id: c.to_map() for c in got} == truth
    for check in got:
        assert isinstance(check.health_check_only, bool)
        assert check.health_check_interval in (2, 3) and 3 <= check.healthy_threshold <= 8
        assert check.vbr_instance_region_id == region and check.cen_id.startswith("cen-")
        vbr = sim.vbr(check.vbr_instance_id)  # the health check's CEN is one of the VBR's
        assert check.cen_id in {c["CenId"] for c in vbr["AssociatedCens"]["AssociatedCen"]}
    # VBRs without a health check are absent; their flag says so
    configured = {v.vbr_id for v in sim.vbr_infos(ACCOUNT, region) if v.health_check}
    assert configured == set(truth)
    last = sim.requests(action="DescribeCenVbrHealthCheck")[-1]
    assert "RegionId" not in last.params and last.region == region
    assert last.signature_version == ("v1" if algorithm else "v3")


def test_health_check_filters(served: tuple[Simulator, str]) -> None:
    sim, url = served
    region = region_with_checks(sim)
    vbr, view = sim.resilience.health_checks(ACCOUNT, region)[1]
    one = all_health_checks(url, region, None, vbr_instance_id=vbr.id)
    assert [c.to_map() for c in one] == [view]
    by_cen = all_health_checks(url, region, None, cen_id=view["CenId"])
    assert by_cen and all(c.cen_id == view["CenId"] for c in by_cen)
    assert all_health_checks(url, region, None, cen_id="cen-none") == []
    uid = sim.accounts[0].uid
    assert len(all_health_checks(url, region, None, vbr_instance_owner_id=uid)) > 1
    assert all_health_checks(url, region, None, vbr_instance_owner_id=uid + 1) == []


def test_health_check_errors_and_faults(fresh: tuple[Simulator, str]) -> None:
    sim, url = fresh
    cen = {"sig": "v3", "version": "2017-09-12"}
    missing = send(url, "DescribeCenVbrHealthCheck", {}, **cen)  # type: ignore[arg-type]
    assert missing.status == 400 and missing.code == "MissingParameter"
    assert (
        missing.json["HostId"] == "cbn.aliyuncs.com" and "product=Cbn" in missing.json["Recommend"]
    )
    params = {"VbrInstanceRegionId": "xx-nowhere-1"}
    unknown = send(url, "DescribeCenVbrHealthCheck", params, **cen)  # type: ignore[arg-type]
    assert unknown.status == 404 and unknown.code == "InvalidRegionId.NotFound"
    sim.resilience.configure({"cen_unknown_region": "empty"})
    empty = send(url, "DescribeCenVbrHealthCheck", params, **cen)  # type: ignore[arg-type]
    assert empty.status == 200 and empty.json["TotalCount"] == 0
    big = send(
        url,
        "DescribeCenVbrHealthCheck",
        {"VbrInstanceRegionId": "cn-beijing", "PageSize": "51"},
        **cen,
    )  # type: ignore[arg-type]
    assert big.status == 400 and big.code == "InvalidParameter"
    other = send(url, "DescribeCens", {}, **cen)  # type: ignore[arg-type]
    assert other.status == 404 and other.code == "InvalidAction.NotFound"
    # a CEN failure in one region: the fault's region matcher sees VbrInstanceRegionId
    sim.add_fault(
        {
            "kind": "ServiceUnavailable",
            "action": "DescribeCenVbrHealthCheck",
            "region": "cn-beijing",
        }
    )
    with pytest.raises(ServerException) as failed:
        all_health_checks(url, "cn-beijing", None)
    assert failed.value.code == "ServiceUnavailable"
    assert all_health_checks(url, "cn-hangzhou", "v2") is not None
    sim.clear_faults()
    sim.resilience.configure({"health_check_only_field": "absent_when_false"})
    old_shape = all_health_checks(url, "cn-hangzhou", None)
    assert None in {c.health_check_only for c in old_shape} <= {None, True}
    sim.add_fault({"kind": "Throttling.User", "action": "DescribeCenVbrHealthCheck", "count": 1})
    with pytest.raises(ClientException) as throttled:
        all_health_checks(url, "cn-hangzhou", None)
    assert throttled.value.code == "Throttling.User"
    assert all_health_checks(url, "cn-hangzhou", None) is not None


def all_jobs(url: str, region: str, algorithm: str | None, size: int, **kw: Any) -> list[Any]:
    client = sdk_client(url, algorithm, region=region)
    out: list[Any] = []
    token = None
    pages = 0
    while True:
        request = vpc.DescribeFailoverTestJobsRequest(
            region_id=region, max_results=size, next_token=token, **kw
        )
        body = client.describe_failover_test_jobs_with_options(request, NO_RETRY).body
        pages += 1
        assert body.max_results == size and body.count == len(body.failover_test_job_list)
        out += body.failover_test_job_list
        token = body.next_token
        if not token:
            assert len(out) == body.total_count
            return out


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_failover_jobs_paging(fresh: tuple[Simulator, str], algorithm: str | None) -> None:
    sim, url = fresh
    region = "cn-hangzhou"
    line = sim.connections(ACCOUNT, region)[0]["PhysicalConnectionId"]
    for n in range(25):  # history: more than one page even at the largest page of 20
        start = f"now-{10 + n * 7}d"
        sim.resilience.add_failover_test(
            [line], name=f"drill-{n}", duration=30, start_time=start, stop_time=f"{start}"
        )
    truth = {
        j.job_id: sim.resilience.job_view(j.job_id) for j in sim.resilience.jobs(ACCOUNT, region)
    }
    assert len(truth) > 25
    got = all_jobs(url, region, algorithm, 7)
    assert {j.job_id: j.to_map() for j in got} == truth
    assert len(all_jobs(url, region, algorithm, 20)) == len(truth)
    stopped = [j for j in got if j.status == "Stopped"]
    assert len(stopped) >= 25 and all(j.stop_time.endswith("Z") for j in stopped)
    assert all(isinstance(j.resource_id, list) and j.job_duration.isdigit() for j in got)


def test_failover_filters_and_errors(served: tuple[Simulator, str]) -> None:
    sim, url = served
    running = [
        j for j in sim.resilience.jobs(ACCOUNT) if sim.resilience.job_status(j.job_id) == "Testing"
    ]
    assert len(running) == 1
    job = running[0]
    region, line = job.region, job.resources[0]
    testing = all_jobs(
        url, region, None, 20, filter=[JobFilter(key="JobStatus", value=["Testing", "Init"])]
    )
    assert [j.job_id for j in testing if j.status == "Testing"] == [job.job_id]
    assert {j.status for j in testing} <= {"Testing", "Init"}
    on_line = all_jobs(
        url,
        region,
        "v2",
        20,
        filter=[
            JobFilter(key="ResourceType", value=["PHYSICALCONNECTION"]),
            JobFilter(key="ResourceId", value=[line]),
        ],
    )
    assert {j.job_id for j in on_line} == {
        j.job_id for j in sim.resilience.jobs(ACCOUNT, region, line)
    }
    client = sdk_client(url, region=region)
    with pytest.raises(ClientException) as no_type:
        all_jobs(url, region, None, 20, filter=[JobFilter(key="ResourceId", value=[line])])
    assert no_type.value.code == "MissingParam.ResourceType"
    with pytest.raises(ClientException) as bad_key:
        all_jobs(url, region, None, 20, filter=[JobFilter(key="Colour", value=["x"])])
    assert bad_key.value.code == "InvalidFilterKey.ValueNotSupported"
    with pytest.raises(ClientException) as bad_size:
        all_jobs(url, region, None, 101)
    assert bad_size.value.code == "IllegalParam.MaxResults"
    bad_token = send(url, "DescribeFailoverTestJobs", {"RegionId": region, "NextToken": "zzz"})
    assert bad_token.status == 400 and bad_token.code == "IllegalParam.NextToken"
    one = client.describe_failover_test_job_with_options(
        vpc.DescribeFailoverTestJobRequest(region_id=region, job_id=job.job_id), NO_RETRY
    ).body.failover_test_job_model
    assert one.to_map() == sim.resilience.job_view(job.job_id) and one.status == "Testing"
    with pytest.raises(ClientException) as unknown:
        client.describe_failover_test_job_with_options(
            vpc.DescribeFailoverTestJobRequest(region_id=region, job_id="ftj-none"), NO_RETRY
        )
    assert unknown.value.code == "IllegalParam.JobId"
    no_region = send(url, "DescribeFailoverTestJobs", {})
    assert no_region.status == 400 and no_region.code == "MissingParameter"


def ha(url: str, region: str, algorithm: str | None = None, **kw: Any) -> Any:
    client = sdk_client(url, algorithm, region=region)
    request = vpc.DescribeVbrHaRequest(region_id=region, **kw)
    return client.describe_vbr_ha_with_options(request, NO_RETRY).body


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_vbr_ha(fresh: tuple[Simulator, str], algorithm: str | None) -> None:
    sim, url = fresh
    groups = sim.resilience.groups(ACCOUNT)
    assert {g.status for g in groups} == {"Active", "Creating"}
    group = groups[0]
    truth = sim.resilience.group_view(group.ha_id)
    for kw in ({"vbr_id": group.vbr_id}, {"vbr_id": group.peer_vbr_id}, {"vbr_ha_id": group.ha_id}):
        body = ha(url, group.region, algorithm, **kw)
        assert {k: v for k, v in body.to_map().items() if k != "RequestId"} == truth
    assert len(truth["CreationTime"]) == 19 and not truth["CreationTime"].endswith("Z")
    sim.resilience.configure({"vbr_ha_peer_view": "swapped"})
    swapped = ha(url, group.region, algorithm, vbr_id=group.peer_vbr_id)
    assert (swapped.vbr_id, swapped.peer_vbr_id) == (group.peer_vbr_id, group.vbr_id)
    alone = next(
        v.vbr_id
        for v in sim.vbr_infos(ACCOUNT, group.region)
        if sim.resilience.group_of(v.vbr_id) is None
    )
    with pytest.raises(ClientException) as missing:
        ha(url, group.region, algorithm, vbr_id=alone)
    assert missing.value.code == "ResourceNotFound.VbrHa"
    assert missing.value.data["statusCode"] == 404
    sim.resilience.configure({"vbr_ha_not_found": "empty"})
    empty = ha(url, group.region, algorithm, vbr_id=alone)
    assert empty.request_id and empty.vbr_ha_id is None
    sim.resilience.configure({"vbr_ha_not_found": "blank"})
    assert ha(url, group.region, algorithm, vbr_id=alone).vbr_ha_id == ""
    dry = send(
        url, "DescribeVbrHa", {"RegionId": group.region, "VbrId": group.vbr_id, "DryRun": "True"}
    )
    assert dry.status == 400 and dry.code == "DryRunOperation"
    with pytest.raises(ClientException) as neither:
        ha(url, group.region, algorithm)
    assert neither.value.code == "MissingParam.VbrHaIdOrVbrId"
    other_region = "cn-beijing" if group.region != "cn-beijing" else "cn-shanghai"
    assert ha(url, other_region, algorithm, vbr_id=group.vbr_id).vbr_ha_id == ""


def test_ha_and_jobs_faults(fresh: tuple[Simulator, str]) -> None:
    sim, url = fresh
    group = sim.resilience.groups(ACCOUNT)[0]
    sim.add_fault({"kind": "Throttling.User", "action": "DescribeVbrHa", "region": group.region})
    with pytest.raises(ClientException) as throttled:
        ha(url, group.region, vbr_id=group.vbr_id)
    assert throttled.value.code == "Throttling.User"
    sim.add_fault({"kind": "InternalError", "action": "DescribeFailoverTestJobs", "count": 1})
    with pytest.raises(ServerException) as failed:
        all_jobs(url, group.region, None, 20)
    assert failed.value.code == "InternalError"
    assert all_jobs(url, group.region, None, 20)
    status, body = control(url, "GET", "counters")
    assert status == 200 and body["faults_fired"]["InternalError"] == 1


def test_job_order_settings_and_shift(fresh: tuple[Simulator, str]) -> None:
    sim, url = fresh
    region = "cn-beijing"
    ids = [j.job_id for j in all_jobs(url, region, None, 100)]
    assert len(ids) > 2
    sim.resilience.configure({"job_order": "newest_first"})
    newest = all_jobs(url, region, None, 100)
    starts = [j.start_time or "9999" for j in newest]
    assert starts == sorted(starts, reverse=True)
    sim.resilience.configure({"job_order": "oldest_first", "next_token_last_page": "absent"})
    body = (
        sdk_client(url, region=region)
        .describe_failover_test_jobs_with_options(
            vpc.DescribeFailoverTestJobsRequest(region_id=region, max_results=100), NO_RETRY
        )
        .body
    )
    assert body.next_token is None
    oldest = [j.job_id for j in body.failover_test_job_list]
    assert oldest == [j.job_id for j in reversed(newest)]
    sim.add_fault({"kind": "shift_records", "action": "DescribeFailoverTestJobs", "count": 1})
    shifted = [j.job_id for j in all_jobs(url, region, None, 100)]
    assert shifted == oldest[1:] + oldest[:1]
    sim.add_fault({"kind": "total_count_change", "action": "DescribeFailoverTestJobs", "count": 1})
    raw = send(url, "DescribeFailoverTestJobs", {"RegionId": region, "MaxResults": "100"}).json
    assert raw["TotalCount"] == len(ids) + 1 and raw["Count"] == len(ids)
