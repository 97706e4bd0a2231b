"""Create/Cancel/Modify/Terminate/Enable/Delete: every validation rule and state precondition."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from exporter.simulator import Account, Simulator, SimulatorThread

from .conftest import AK, SECRET, Answer, send

R = "cn-hangzhou"
AP = "ap-cn-hangzhou-yh-B"


@pytest.fixture
def env() -> Iterator[tuple[Simulator, str]]:
    """An account with no lines yet (so the five-pending quota starts at zero) and another."""
    accounts = [
        Account("mine", AK, SECRET, connections=0),
        Account("theirs", "their-ak", "their-secret", connections=4, regions=(R,)),
    ]
    sim = Simulator(seed=2, connections=0, regions=[R], accounts=accounts, lifecycle=False)
    with SimulatorThread(sim) as url:
        yield sim, url


def call(url: str, action: str, **params: Any) -> Answer:
    return send(url, action, {"RegionId": R, **{k: str(v) for k, v in params.items()}})


def create(url: str, **params: Any) -> Answer:
    base = {"AccessPointId": AP, "LineOperator": "CT", "PeerLocation": "Hangzhou DC 1"}
    return call(url, "CreatePhysicalConnection", **{**base, **params})


def new_line(sim: Simulator, url: str, status: str = "Initial", **params: Any) -> str:
    answer = create(url, **params)
    assert answer.status == 200, answer.body
    pc_id: str = answer.json["PhysicalConnectionId"]
    if status != "Initial":
        sim.set_fields(pc_id, {"Status": status})
    return pc_id


def error(answer: Answer) -> tuple[int, str | None]:
    return answer.status, answer.code


def test_create_defaults_and_record(env: tuple[Simulator, str]) -> None:
    sim, url = env
    answer = create(url, Name="hz-line-1", Description="First line", CircuitCode="ct123")
    assert answer.status == 200 and set(answer.json) == {"RequestId", "PhysicalConnectionId"}
    record = sim.connection(answer.json["PhysicalConnectionId"])
    assert record["Status"] == "Initial" and record["Bandwidth"] == 100
    assert record["PortType"] == "1000Base-T" and record["Name"] == "hz-line-1"
    assert record["AccessPointId"] == AP and record["LineOperator"] == "CT"
    assert sim.owner(record["PhysicalConnectionId"]) == ("mine", R)


@pytest.mark.parametrize("missing", ["AccessPointId", "LineOperator", "PeerLocation"])
def test_create_required_parameters(env: tuple[Simulator, str], missing: str) -> None:
    _, url = env
    answer = create(url, **{missing: ""})
    assert error(answer) == (400, "MissingParameter")
    assert f'"{missing}"' in answer.json["Message"]


@pytest.mark.parametrize("spelling", ["bandwidth", "BandWidth", "Bandwidth"])
@pytest.mark.parametrize(
    ("value", "ok"), [("2", True), ("10240", True), ("1", False), ("10241", False), ("fast", False)]
)
def test_bandwidth_range_and_spellings(
    env: tuple[Simulator, str], spelling: str, value: str, ok: bool
) -> None:
    sim, url = env
    answer = create(url, **{spelling: value})
    if ok:
        assert answer.status == 200, answer.body
        assert sim.connection(answer.json["PhysicalConnectionId"])["Bandwidth"] == int(value)
    else:
        assert error(answer) == (400, "InvalidBandwidth")
        assert answer.json["Message"] == "invalid physical connection banwidth."


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ab", True),
        ("a" * 128, True),
        ("line.1_x-y", True),
        ("a", False),
        ("a" * 129, False),
        ("1line", False),
        ("http://line", False),
        ("https://line", False),
        ("line one", False),
        ("_line", False),
    ],
)
def test_name_rules(env: tuple[Simulator, str], name: str, ok: bool) -> None:
    _, url = env
    answer = create(url, Name=name)
    assert (answer.status == 200) is ok, answer.body
    if not ok:
        assert error(answer) == (400, "InvalidName.Malformed")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("ok", True),
        ("A" * 256, True),
        ("Line to DC 1, rack 4", True),
        ("x", False),
        ("A" * 257, False),
        ("1 line", False),
        ("http://x.example", False),
        ("https://x.example", False),
    ],
)
def test_description_rules(env: tuple[Simulator, str], text: str, ok: bool) -> None:
    _, url = env
    create_answer = create(url, Description=text)
    assert (create_answer.status == 200) is ok, create_answer.body
    if not ok:
        assert error(create_answer) == (400, "InvalidDescription.Malformed")


def test_port_types_and_operators(env: tuple[Simulator, str]) -> None:
    sim, url = env
    for port in ("100Base-T", "1000Base-T", "1000Base-LX", "10GBase-T", "10GBase-LR"):
        pc_id = new_line(sim, url, PortType=port)
        assert sim.connection(pc_id)["PortType"] == port
        sim.remove_connection(pc_id)
    assert error(create(url, PortType="E1-2M")) == (400, "InvalidPortType.Malformd")
    for operator in ("CT", "CU", "CM", "CO", "Equinix", "Other"):
        sim.remove_connection(new_line(sim, url, LineOperator=operator))
    assert error(create(url, LineOperator="AT&T")) == (400, "InvalidLineOperator.Malformd")
    assert error(create(url, AccessPointId="ap-cn-beijing-dx-A")) == (
        404,
        "InvalidAccessPointId.NotFound",
    )
    assert error(create(url, CircuitCode="has space")) == (400, "InvalidCircuitCode.Malformed")
    assert error(create(url, PeerLocation="x" * 257)) == (400, "InvalidPeerLocation.Malformd")


def test_at_most_five_pending(env: tuple[Simulator, str]) -> None:
    sim, url = env
    ids = [new_line(sim, url) for _ in range(5)]
    answer = create(url)
    assert error(answer) == (400, "QuotaExceeded.PhysicalConnection")
    sim.set_fields(ids[0], {"Status": "Enabled"})
    sixth = new_line(sim, url)
    sim.set_fields(sixth, {"Status": "Canceled"})
    assert create(url).status == 200  # canceled applications no longer count


def test_client_token_idempotency(env: tuple[Simulator, str]) -> None:
    sim, url = env
    first = create(url, ClientToken="token-1", Name="idem")
    again = create(url, ClientToken="token-1", Name="idem")
    assert first.status == again.status == 200
    assert first.json["PhysicalConnectionId"] == again.json["PhysicalConnectionId"]
    assert first.json["RequestId"] != again.json["RequestId"]
    assert len(sim.connections(account="mine")) == 1
    changed = create(url, ClientToken="token-1", Name="other")
    assert error(changed) == (400, "IdempotentParameterMismatch")
    assert error(create(url, ClientToken="x" * 65)) == (400, "InvalidParameter")
    pc_id = first.json["PhysicalConnectionId"]
    assert (
        call(url, "CancelPhysicalConnection", PhysicalConnectionId=pc_id, ClientToken="c-1").status
        == 200
    )
    # A retried cancel with the same token is answered again, not refused as Canceled.
    assert (
        call(url, "CancelPhysicalConnection", PhysicalConnectionId=pc_id, ClientToken="c-1").status
        == 200
    )
    assert error(call(url, "CancelPhysicalConnection", PhysicalConnectionId=pc_id)) == (
        400,
        "Forbidden.NotAllowedInState",
    )


def test_redundant_connection_rules(env: tuple[Simulator, str]) -> None:
    sim, url = env
    theirs = sim.connections(account="theirs")[0]["PhysicalConnectionId"]
    answer = create(url, RedundantPhysicalConnectionId=theirs)
    assert error(answer) == (400, "InvalidRedundantPhysicalConnection")
    pending = new_line(sim, url)
    answer = create(url, RedundantPhysicalConnectionId=pending)
    assert error(answer) == (400, "InvalidRedundantPhysicalConnectionStatus")
    for status in ("Allocated", "Confirmed", "Enabled"):
        sim.set_fields(pending, {"Status": status})
        pc_id = new_line(sim, url, RedundantPhysicalConnectionId=pending)
        assert sim.connection(pc_id)["RedundantPhysicalConnectionId"] == pending
        sim.remove_connection(pc_id)


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        ("Initial", True),
        ("Approved", True),
        ("Allocating", True),
        ("Allocated", True),
        ("Confirmed", True),
        ("Rejected", True),
        ("Allocation Failed", True),
        ("Enabled", False),
        ("Terminating", False),
        ("Terminated", False),
        ("Canceled", False),
    ],
)
def test_cancel_preconditions(env: tuple[Simulator, str], status: str, ok: bool) -> None:
    sim, url = env
    pc_id = new_line(sim, url, status)
    answer = call(url, "CancelPhysicalConnection", PhysicalConnectionId=pc_id)
    if ok:
        assert answer.status == 200 and sim.connection(pc_id)["Status"] == "Canceled"
    else:
        assert error(answer) == (400, "Forbidden.NotAllowedInState")
        assert sim.connection(pc_id)["Status"] == status


@pytest.mark.parametrize(
    "action",
    [
        "CancelPhysicalConnection",
        "TerminatePhysicalConnection",
        "EnablePhysicalConnection",
        "DeletePhysicalConnection",
        "ModifyPhysicalConnectionAttribute",
    ],
)
def test_not_found(env: tuple[Simulator, str], action: str) -> None:
    sim, url = env
    theirs = sim.connections(account="theirs")[0]["PhysicalConnectionId"]
    for pc_id in ("pc-doesnotexist", theirs):
        assert error(call(url, action, PhysicalConnectionId=pc_id)) == (
            404,
            "InvalidPhysicalConnectionId.NotFound",
        )
    assert error(call(url, action)) == (400, "MissingParameter")
    mine = new_line(sim, url)  # right account, wrong region
    answer = send(url, action, {"RegionId": "cn-beijing", "PhysicalConnectionId": mine})
    assert error(answer) == (404, "InvalidPhysicalConnectionId.NotFound")


def test_terminate_only_from_enabled(env: tuple[Simulator, str]) -> None:
    sim, url = env
    pc_id = new_line(sim, url)
    assert error(call(url, "TerminatePhysicalConnection", PhysicalConnectionId=pc_id)) == (
        400,
        "Forbidden.NotAllowedInState",
    )
    sim.set_fields(pc_id, {"Status": "Enabled"})
    assert call(url, "TerminatePhysicalConnection", PhysicalConnectionId=pc_id).status == 200
    assert sim.connection(pc_id)["Status"] == "Terminating"


def test_enable_only_from_confirmed(env: tuple[Simulator, str]) -> None:
    sim, url = env
    pc_id = new_line(sim, url, "Allocated")
    assert error(call(url, "EnablePhysicalConnection", PhysicalConnectionId=pc_id)) == (
        400,
        "Forbidden.NotAllowedInState",
    )
    sim.set_fields(pc_id, {"Status": "Confirmed"})
    assert call(url, "EnablePhysicalConnection", PhysicalConnectionId=pc_id).status == 200
    record = sim.connection(pc_id)
    assert record["Status"] == "Enabled" and "EnabledTime" in record and "EndTime" in record


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        ("Canceled", True),
        ("Rejected", True),
        ("Allocation Failed", True),
        ("Terminated", True),
        ("Initial", False),
        ("Enabled", False),
        ("Terminating", False),
    ],
)
def test_delete_preconditions(env: tuple[Simulator, str], status: str, ok: bool) -> None:
    sim, url = env
    pc_id = new_line(sim, url, status)
    answer = call(url, "DeletePhysicalConnection", PhysicalConnectionId=pc_id)
    if ok:
        assert answer.status == 200
        assert pc_id not in {r["PhysicalConnectionId"] for r in sim.connections()}
    else:
        assert error(answer) == (400, "Forbidden.NotAllowedInState")


@pytest.mark.parametrize("status", ["Canceled", "Allocating", "Allocation Failed", "Terminated"])
def test_no_modify_in_closed_states(env: tuple[Simulator, str], status: str) -> None:
    sim, url = env
    pc_id = new_line(sim, url, status)
    answer = call(
        url, "ModifyPhysicalConnectionAttribute", PhysicalConnectionId=pc_id, Name="renamed"
    )
    assert error(answer) == (400, "InvalidStatus")
    assert answer.json["Message"] == "invalid physical connection status."


def test_modify_spec_only_in_initial_or_rejected(env: tuple[Simulator, str]) -> None:
    sim, url = env
    pc_id = new_line(sim, url, "Enabled")
    modify = "ModifyPhysicalConnectionAttribute"
    assert (
        call(
            url,
            modify,
            PhysicalConnectionId=pc_id,
            Name="renamed",
            Description="New text",
            LineOperator="CU",
            CircuitCode="cu1",
            PeerLocation="Elsewhere",
        ).status
        == 200
    )
    record = sim.connection(pc_id)
    assert (record["Name"], record["Description"], record["LineOperator"]) == (
        "renamed",
        "New text",
        "CU",
    )
    for change in ({"bandwidth": "200"}, {"PortType": "10GBase-LR"}):
        assert error(call(url, modify, PhysicalConnectionId=pc_id, **change)) == (
            400,
            "InvalidStatus",
        )
    partner = new_line(sim, url, "Enabled")
    assert error(
        call(url, modify, PhysicalConnectionId=pc_id, RedundantPhysicalConnectionId=partner)
    ) == (400, "InvalidStatus")
    sim.set_fields(pc_id, {"Status": "Initial"})
    assert (
        call(
            url,
            modify,
            PhysicalConnectionId=pc_id,
            BandWidth="300",
            RedundantPhysicalConnectionId=partner,
        ).status
        == 200
    )
    record = sim.connection(pc_id)
    assert record["Bandwidth"] == 300 and record["RedundantPhysicalConnectionId"] == partner


def test_modify_rejected_returns_to_initial(env: tuple[Simulator, str]) -> None:
    sim, url = env
    pc_id = new_line(sim, url, "Rejected")
    answer = call(
        url, "ModifyPhysicalConnectionAttribute", PhysicalConnectionId=pc_id, Bandwidth="500"
    )
    assert answer.status == 200
    assert sim.connection(pc_id)["Status"] == "Initial"


def test_modify_validates_every_field(env: tuple[Simulator, str]) -> None:
    sim, url = env
    pc_id = new_line(sim, url)
    modify = "ModifyPhysicalConnectionAttribute"
    cases = [
        ({"Name": "1bad"}, "InvalidName.Malformed"),
        ({"Description": "x"}, "InvalidDescription.Malformed"),
        ({"Bandwidth": "1"}, "InvalidBandwidth"),
        ({"PortType": "E1-2M"}, "InvalidPortType.Malformd"),
        ({"LineOperator": "XX"}, "InvalidLineOperator.Malformd"),
        ({"PeerLocation": ""}, "InvalidPeerLocation.Malformd"),
        ({"CircuitCode": "a b"}, "InvalidCircuitCode.Malformed"),
        ({"RedundantPhysicalConnectionId": "pc-nope"}, "InvalidRedundantPhysicalConnection"),
    ]
    for params, code in cases:
        assert error(call(url, modify, PhysicalConnectionId=pc_id, **params)) == (400, code)
