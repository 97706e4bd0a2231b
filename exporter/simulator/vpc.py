"""The VPC API actions on physical connections, answering with the vendor's JSON shapes.

Each action validates its parameters and the connection's state exactly as the API reference
says, then changes the store. ``DescribePhysicalConnections`` renders pages by joining each
record's cached JSON bytes, which keeps one simulator process far faster than any client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporter.region_ids import REGION_IDS, endpoint_host
from exporter.simulator import validation as v
from exporter.simulator.accounts import Account
from exporter.simulator.clock import SimClock
from exporter.simulator.errors import ErrorAnswer, not_allowed_in_state, not_found
from exporter.simulator.filters import parse_filters, tags_match
from exporter.simulator.lines.fleet import (
    DAY,
    access_points,
    iso,
    new_connection_id,
    resource_groups,
    spec_for,
)
from exporter.simulator.lines.model import (
    ALLOCATION_FAILED,
    DEDICATED,
    FILTER_KEYS,
    Connection,
)
from exporter.simulator.lines.store import Predicate, Store
from exporter.simulator.vbr.actions import VBR_ACTIONS, VbrApi
from exporter.simulator.vbr.store import VbrStore
from exporter.vocabulary import wire_status

API_VERSION = "2016-04-28"
ACTIONS = (
    "DescribePhysicalConnections",
    "CreatePhysicalConnection",
    "CancelPhysicalConnection",
    "ModifyPhysicalConnectionAttribute",
    "TerminatePhysicalConnection",
    "EnablePhysicalConnection",
    "DeletePhysicalConnection",
    "DescribeRegions",
    *VBR_ACTIONS,
)
MAX_PENDING = 5
# Statuses that count against the "at most five not Enabled" rule: finished applications
# (Canceled, Terminated) no longer count.
_NOT_COUNTED = frozenset({"Enabled", "Canceled", "Terminated"})
_NO_MODIFY = frozenset({"Canceled", "Allocating", ALLOCATION_FAILED, "Terminated"})
_NO_CANCEL = frozenset({"Enabled", "Terminating", "Terminated", "Canceled"})
_DELETABLE = frozenset({"Canceled", "Rejected", ALLOCATION_FAILED, "Terminated"})
_REDUNDANT_OK = frozenset({"Allocated", "Confirmed", "Enabled"})
_COMMON_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "Timestamp",
        "Signature",
        "SecurityToken",
        "ClientToken",
        "RegionId",
    }
)
_LOCAL_NAMES = {
    "cn-qingdao": "华北1（青岛）",
    "cn-beijing": "华北2（北京）",
    "cn-zhangjiakou": "华北3（张家口）",
    "cn-huhehaote": "华北5（呼和浩特）",
    "cn-wulanchabu": "华北6（乌兰察布）",
    "cn-hangzhou": "华东1（杭州）",
    "cn-shanghai": "华东2（上海）",
    "cn-nanjing": "华东5（南京-本地地域）",
    "cn-fuzhou": "华东6（福州-本地地域）",
    "cn-shenzhen": "华南1（深圳）",
    "cn-heyuan": "华南2（河源）",
    "cn-guangzhou": "华南3（广州）",
    "cn-chengdu": "西南1（成都）",
    "cn-hongkong": "中国香港",
    "ap-southeast-1": "新加坡",
    "ap-northeast-1": "日本（东京）",
    "us-east-1": "美国（弗吉尼亚）",
    "us-west-1": "美国（硅谷）",
    "eu-central-1": "德国（法兰克福）",
    "eu-west-1": "英国（伦敦）",
}


@dataclass(frozen=True)
class Call:
    """One authenticated API call."""

    action: str
    params: dict[str, str]
    account: Account
    request_id: str
    total_count_delta: int = 0


def _dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class Api:
    def __init__(self, store: Store, clock: SimClock, vbrs: VbrStore | None = None) -> None:
        self.store = store
        self.clock = clock
        self.vbr_api = VbrApi(vbrs if vbrs is not None else VbrStore(store, {}))
        self._tokens: dict[tuple[str, str, str], tuple[tuple[tuple[str, str], ...], bytes]] = {}
        self._tokens_lock = threading.Lock()
        self._handlers: dict[str, Callable[[Call, str], dict[str, Any]]] = {
            "CreatePhysicalConnection": self._create,
            "CancelPhysicalConnection": self._cancel,
            "ModifyPhysicalConnectionAttribute": self._modify,
            "TerminatePhysicalConnection": self._terminate,
            "EnablePhysicalConnection": self._enable,
            "DeletePhysicalConnection": self._delete,
        }

    def handle(self, call: Call) -> bytes:
        if call.action not in ACTIONS:
            raise ErrorAnswer(
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                404,
            )
        version = call.params.get("Version")
        if version != API_VERSION:
            raise ErrorAnswer(
                "InvalidVersion", f"Specified parameter Version is not valid: {version!r}."
            )
        if call.action == "DescribeRegions":  # the one action without a RegionId
            return self._regions(call)
        region = v.required(call.params, "RegionId")
        if region not in REGION_IDS:
            raise ErrorAnswer(
                "InvalidRegionId.NotFound",
                "The specified RegionId does not exist in our records.",
                404,
            )
        if call.action == "DescribePhysicalConnections":
            return self._describe(call, region)
        if call.action in VBR_ACTIONS:
            return self.vbr_api.handle(
                call.action,
                call.params,
                call.account.name,
                region,
                call.request_id,
                call.total_count_delta,
            )
        return self._idempotent(call, region, self._handlers[call.action])

    # -- reading ----------------------------------------------------------------------------
    def _describe(self, call: Call, region: str) -> bytes:
        params = call.params
        page_number = v.int_param(params, "PageNumber", 1, 1, 2**31 - 1)
        page_size = v.int_param(params, "PageSize", 10, 1, 50)
        v.bool_param(params, "IncludeReservationData")
        v.client_token(params)
        predicate = build_predicate(params)
        total, records = self.store.page(
            call.account.name, region, predicate, page_number, page_size
        )
        head = (
            f'{{"RequestId":"{call.request_id}","PageNumber":{page_number},'
            f'"PageSize":{page_size},"TotalCount":{total + call.total_count_delta},'
            '"PhysicalConnectionSet":{"PhysicalConnectionType":['
        ).encode()
        return head + b",".join(records) + b"]}}"

    def _regions(self, call: Call) -> bytes:
        regions = [
            {
                "RegionId": r,
                "LocalName": _LOCAL_NAMES.get(r, r),
                "RegionEndpoint": endpoint_host(r),
            }
            for r in REGION_IDS
        ]
        return _dump({"RequestId": call.request_id, "Regions": {"Region": regions}})

    # -- changing ---------------------------------------------------------------------------
    def _idempotent(
        self, call: Call, region: str, handler: Callable[[Call, str], dict[str, Any]]
    ) -> bytes:
        """Same ClientToken and same parameters: the first answer again, nothing changes twice.
        Same token with different parameters: ``IdempotentParameterMismatch``."""
        token = v.client_token(call.params)
        if token is None:
            return _dump({"RequestId": call.request_id, **handler(call, region)})
        key = (call.account.name, call.action, token)
        fingerprint = (
            *sorted((k, val) for k, val in call.params.items() if k not in _COMMON_PARAMS),
            ("RegionId", region),
        )
        with self.store.lock:
            seen = self._tokens.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise ErrorAnswer(
                        "IdempotentParameterMismatch",
                        "The request uses the same client token as a previous, "
                        "but non-identical request.",
                    )
                result = json.loads(seen[1])
            else:
                result = handler(call, region)
                self._tokens[key] = (fingerprint, _dump(result))
        return _dump({"RequestId": call.request_id, **result})

    def _own(self, call: Call, region: str) -> Connection:
        pc_id = v.required(call.params, "PhysicalConnectionId")
        conn = self.store.get(pc_id)
        if conn is None or conn.account != call.account.name or conn.region != region:
            raise not_found()
        return conn

    def _own_if(self, call: Call, region: str, allowed: Callable[[str], bool]) -> Connection:
        """The caller's connection, if its status allows the action (else the API's error)."""
        conn = self._own(call, region)
        if not allowed(conn.status):
            raise not_allowed_in_state()
        return conn

    def _check_redundant(self, call: Call, pc_id: str, self_id: str | None) -> None:
        other = self.store.get(pc_id)
        if other is None or other.account != call.account.name or pc_id == self_id:
            raise ErrorAnswer(
                "InvalidRedundantPhysicalConnection",
                "redundant physical connection doesn't belong to current user.",
            )
        if other.status not in _REDUNDANT_OK:
            raise ErrorAnswer(
                "InvalidRedundantPhysicalConnectionStatus",
                "invalid redundant physical connection status .",
            )

    def _create(self, call: Call, region: str) -> dict[str, Any]:
        p = call.params
        access_point = v.required(p, "AccessPointId")
        operator = v.line_operator(v.required(p, "LineOperator"))
        peer = v.peer_location(v.required(p, "PeerLocation"))
        if access_point not in access_points(region):
            raise ErrorAnswer(
                "InvalidAccessPointId.NotFound",
                "The specified AccessPointId does not exist in our records.",
                404,
            )
        bandwidth = v.bandwidth(p) or 100
        port = v.port_type(p.get("PortType", "1000Base-T"))
        fields = _described(p)
        redundant = p.get("RedundantPhysicalConnectionId")
        with self.store.lock:
            if redundant:
                self._check_redundant(call, redundant, None)
            pending = sum(
                1
                for c in self.store
                if c.account == call.account.name and c.status not in _NOT_COUNTED
            )
            if pending >= MAX_PENDING:
                raise ErrorAnswer(
                    "QuotaExceeded.PhysicalConnection",
                    "The number of physical connections that are not in the Enabled status "
                    f"cannot exceed {MAX_PENDING}.",
                )
            pc_id = new_connection_id(self.store.rng, region)
            while self.store.get(pc_id) is not None:
                pc_id = new_connection_id(self.store.rng, region)
            now = self.clock.now()
            record: dict[str, Any] = {
                "PhysicalConnectionId": pc_id,
                **{k: fields[k] for k in ("Name", "Description") if k in fields},
                "AccessPointId": access_point,
                "AccessPointType": "VPC",
                "Type": p.get("Type", "VPC"),
                "ProductType": DEDICATED,
                "Status": "Initial",
                "BusinessStatus": "Normal",
                "LoaStatus": "Applying",
                "Bandwidth": bandwidth,
                "Spec": spec_for(bandwidth),
                "ExpectSpec": spec_for(bandwidth),
                "PortType": port,
                "LineOperator": operator,
                "ChargeType": "Prepaid",
                "OrderMode": "PayByPhysicalConnectionOwner",
                "HasReservationData": "false",
                "ResourceGroupId": resource_groups(call.account.name)[0],
                "PeerLocation": peer,
                "CreationTime": iso(now),
                "VirtualPhysicalConnectionCount": 0,
                "DownDelayTime": 0,
            }
            if "CircuitCode" in fields:
                record["CircuitCode"] = fields["CircuitCode"]
            if redundant:
                record["RedundantPhysicalConnectionId"] = redundant
            self.store.add(Connection(call.account.name, region, record, now))
        return {"PhysicalConnectionId": pc_id}

    def _cancel(self, call: Call, region: str) -> dict[str, Any]:
        with self.store.lock:
            conn = self._own_if(call, region, lambda status: status not in _NO_CANCEL)
            conn.update({"Status": "Canceled"}, self.clock.now())
        return {}

    def _terminate(self, call: Call, region: str) -> dict[str, Any]:
        with self.store.lock:
            conn = self._own_if(call, region, lambda status: status == "Enabled")
            conn.update({"Status": "Terminating"}, self.clock.now())
        return {}

    def _enable(self, call: Call, region: str) -> dict[str, Any]:
        with self.store.lock:
            conn = self._own_if(call, region, lambda status: status == "Confirmed")
            now = self.clock.now()
            changes: dict[str, Any] = {
                "Status": "Enabled",
                "EnabledTime": iso(now),
                "LoaStatus": "Available",
            }
            if conn.fields.get("ChargeType", "Prepaid") == "Prepaid" and not conn.fields.get(
                "EndTime"
            ):
                changes["EndTime"] = iso(now + 365 * DAY)
            conn.update(changes, now)
        return {}

    def _delete(self, call: Call, region: str) -> dict[str, Any]:
        with self.store.lock:
            conn = self._own_if(call, region, lambda status: status in _DELETABLE)
            self.store.remove(conn.id)
        return {}

    def _modify(self, call: Call, region: str) -> dict[str, Any]:
        p = call.params
        changes = _described(p)
        if "LineOperator" in p:
            changes["LineOperator"] = v.line_operator(p["LineOperator"])
        if "PeerLocation" in p:
            changes["PeerLocation"] = v.peer_location(p["PeerLocation"])
        spec_change = False
        bandwidth = v.bandwidth(p)
        if bandwidth is not None:
            changes.update(Bandwidth=bandwidth, ExpectSpec=spec_for(bandwidth))
            spec_change = True
        if "PortType" in p:
            changes["PortType"] = v.port_type(p["PortType"])
            spec_change = True
        redundant = p.get("RedundantPhysicalConnectionId")
        with self.store.lock:
            conn = self._own(call, region)
            status = conn.status
            if status in _NO_MODIFY:
                raise _invalid_status()
            if (spec_change or redundant) and status not in ("Initial", "Rejected"):
                raise _invalid_status()
            if redundant:
                self._check_redundant(call, redundant, conn.id)
                changes["RedundantPhysicalConnectionId"] = redundant
            if status == "Rejected":
                changes["Status"] = "Initial"
            conn.update(changes, self.clock.now())
        return {}


def _described(params: dict[str, str]) -> dict[str, Any]:
    """Name, Description and CircuitCode, checked alike by create and modify."""
    fields: dict[str, Any] = {}
    if "Name" in params:
        fields["Name"] = v.name(params["Name"])
    if "Description" in params:
        fields["Description"] = v.description(params["Description"])
    if "CircuitCode" in params:
        fields["CircuitCode"] = v.circuit_code(params["CircuitCode"])
    return fields


def _invalid_status() -> ErrorAnswer:
    return ErrorAnswer("InvalidStatus", "invalid physical connection status.")


def build_predicate(params: dict[str, str]) -> Predicate | None:
    """Filters (keys ANDed, values ORed), tags (all must match) and resource group."""
    parsed = parse_filters(params, FILTER_KEYS)
    conditions = [
        (key, frozenset(wire_status(s) for s in wanted) if key == "Status" else wanted)
        for key, wanted in parsed.conditions
    ]
    tags = parsed.tags
    group = params.get("ResourceGroupId") or None
    if not conditions and not tags and group is None:
        return None

    def predicate(conn: Connection) -> bool:
        f = conn.fields
        if group is not None and f.get("ResourceGroupId") != group:
            return False
        for key, wanted in conditions:
            if str(f.get(key)) not in wanted:
                return False
        return not tags or tags_match(f.get("Tags", {}).get("tags", []), tags)

    return predicate
