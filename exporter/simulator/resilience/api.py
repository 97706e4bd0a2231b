"""The resilience actions: CEN ``DescribeCenVbrHealthCheck`` (Cbn 2017-09-12) and VPC
``DescribeFailoverTestJobs``, ``DescribeFailoverTestJob``, ``DescribeVbrHa`` (2016-04-28).

A request is CEN when its ``Version`` is ``2017-09-12`` (as CloudMonitor is told apart by its
own); CEN never reads ``RegionId``: the region is ``VbrInstanceRegionId``, and gateway errors
carry the CEN host. Shapes, paging and errors follow the facts sheet; the readings it leaves
open are :class:`~exporter.simulator.resilience.model.ResilienceSettings`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from exporter.region_ids import REGION_IDS
from exporter.simulator import validation as v
from exporter.simulator.accounts import Account
from exporter.simulator.errors import ErrorAnswer
from exporter.simulator.filters import parse_filters
from exporter.simulator.resilience.state import Resilience

CBN_VERSION = "2017-09-12"
VPC_VERSION = "2016-04-28"
CBN_HOST = "cbn.aliyuncs.com"
CBN_ACTIONS = ("DescribeCenVbrHealthCheck",)
VPC_ACTIONS = ("DescribeFailoverTestJobs", "DescribeFailoverTestJob", "DescribeVbrHa")
RESILIENCE_ACTIONS = (*CBN_ACTIONS, *VPC_ACTIONS)
JOB_FILTER_KEYS = ("JobId", "JobName", "JobStatus", "ResourceId", "ResourceName", "ResourceType")
MAX_RESULTS = 100
DEFAULT_RESULTS = 20


def is_cbn(params: dict[str, str]) -> bool:
    return params.get("Version") == CBN_VERSION


def handles(action: str, params: dict[str, str]) -> bool:
    """Whether this module answers the request (every CEN request, the three VPC actions)."""
    return is_cbn(params) or (action in VPC_ACTIONS and params.get("Version") == VPC_VERSION)


def request_region(params: dict[str, str]) -> str:
    """The region a request is about, for fault matching and the request log."""
    if is_cbn(params):
        return params.get("VbrInstanceRegionId", "")
    return params.get("RegionId", "")


def cbn_error_body(error: ErrorAnswer, request_id: str) -> bytes:
    """The gateway's error body with the CEN host and product."""
    return json.dumps(
        {
            "RequestId": request_id,
            "HostId": CBN_HOST,
            "Code": error.code,
            "Message": error.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}&product=Cbn"
            f"&requestId={request_id}",
        }
    ).encode()


def _dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _region_not_found() -> ErrorAnswer:
    return ErrorAnswer(
        "InvalidRegionId.NotFound", "The specified RegionId does not exist in our records.", 404
    )


def _illegal(name: str) -> ErrorAnswer:
    return ErrorAnswer(f"IllegalParam.{name}", f"The param of {name} is illegal.")


class ResilienceApi:
    def __init__(self, state: Resilience) -> None:
        self.state = state

    def handle(
        self,
        action: str,
        params: dict[str, str],
        account: Account,
        request_id: str,
        total_count_delta: int = 0,
    ) -> bytes:
        """The answer to one resilience action (ErrorAnswer for failures)."""
        if action not in RESILIENCE_ACTIONS or (action in CBN_ACTIONS) != is_cbn(params):
            raise ErrorAnswer(
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                404,
            )
        if action == "DescribeCenVbrHealthCheck":
            return self._health_checks(params, account, request_id, total_count_delta)
        region = v.required(params, "RegionId")
        if region not in REGION_IDS:
            raise _region_not_found()
        v.client_token(params)
        if action == "DescribeVbrHa":
            return self._vbr_ha(params, account.name, region, request_id)
        if action == "DescribeFailoverTestJob":
            job_id = v.required(params, "JobId")
            with self.state.lock:
                try:
                    job = self.state.job(job_id)
                except KeyError:
                    raise _illegal("JobId") from None
                if (job.account, job.region) != (account.name, region):
                    raise _illegal("JobId")
                view = job.view(self.state.clock.now(), self.state.settings)
            return _dump({"RequestId": request_id, "FailoverTestJobModel": view})
        return self._jobs(params, account.name, region, request_id, total_count_delta)

    # -- CEN ------------------------------------------------------------------------------------
    def _health_checks(
        self, params: dict[str, str], account: Account, request_id: str, delta: int
    ) -> bytes:
        region = v.required(params, "VbrInstanceRegionId")
        page_number = v.int_param(params, "PageNumber", 1, 1, 2**31 - 1)
        page_size = v.int_param(params, "PageSize", 10, 1, 50)
        owner = params.get("VbrInstanceOwnerId")
        if owner is not None and not owner.isdigit():
            raise ErrorAnswer(
                "InvalidParameter",
                f'The specified parameter "VbrInstanceOwnerId" is not valid: {owner[:64]!r}.',
            )
        items: list[dict[str, Any]] = []
        if region not in REGION_IDS:
            if self.state.settings.cen_unknown_region == "error":
                raise _region_not_found()
        elif owner is None or int(owner) == account.uid:
            cen, vbr_id = params.get("CenId") or None, params.get("VbrInstanceId") or None
            items = [
                view
                for vbr, view in self.state.health_checks(account.name, region)
                if (cen is None or view["CenId"] == cen) and (vbr_id is None or vbr.id == vbr_id)
            ]
        start = (page_number - 1) * page_size
        return _dump(
            {
                "RequestId": request_id,
                "PageNumber": page_number,
                "PageSize": page_size,
                "TotalCount": len(items) + delta,
                "VbrHealthChecks": {"VbrHealthCheck": items[start : start + page_size]},
            }
        )

    # -- failover tests -------------------------------------------------------------------------
    def _jobs(
        self, params: dict[str, str], account: str, region: str, request_id: str, delta: int
    ) -> bytes:
        size = _max_results(params)
        parsed = parse_filters(params, JOB_FILTER_KEYS)
        if parsed.tags:
            raise _illegal("Tags")
        conditions = dict(parsed.conditions)
        if ("ResourceId" in conditions or "ResourceName" in conditions) and (
            "ResourceType" not in conditions
        ):
            raise ErrorAnswer(
                "MissingParam.ResourceType",
                "The ResourceType filter is required with ResourceId or ResourceName.",
            )
        fingerprint = hashlib.sha256(
            repr(sorted((k, sorted(w)) for k, w in conditions.items())).encode()
        ).hexdigest()[:12]
        offset = _offset(params.get("NextToken", ""), fingerprint)
        state = self.state
        with state.lock:
            now = state.clock.now()
            names = {c.id: str(c.fields.get("Name", "")) for c in state.lines}
            views = [job.view(now, state.settings) for job in state.ordered_jobs(account, region)]
        matching = [view for view in views if _job_matches(view, conditions, names)]
        page = matching[offset : offset + size]
        body: dict[str, Any] = {
            "RequestId": request_id,
            "TotalCount": len(matching) + delta,
            "Count": len(page),
            "MaxResults": size,
            "NextToken": "",
            "FailoverTestJobList": page,
        }
        if offset + size < len(matching):
            body["NextToken"] = _token(offset + size, fingerprint)
        elif state.settings.next_token_last_page == "absent":
            del body["NextToken"]
        return _dump(body)

    # -- VBR HA -----------------------------------------------------------------------------------
    def _vbr_ha(self, params: dict[str, str], account: str, region: str, request_id: str) -> bytes:
        ha_id, vbr_id = params.get("VbrHaId") or None, params.get("VbrId") or None
        if ha_id is None and vbr_id is None:
            raise ErrorAnswer(
                "MissingParam.VbrHaIdOrVbrId", "The param VbrHaId or VbrId is missing."
            )
        if v.bool_param(params, "DryRun"):
            raise ErrorAnswer(
                "DryRunOperation", "Request validation has been passed with DryRun flag set."
            )
        state = self.state
        with state.lock:
            found = None
            for group in state.groups(account, region):
                if (ha_id is None or group.ha_id == ha_id) and (
                    vbr_id is None or vbr_id in (group.vbr_id, group.peer_vbr_id)
                ):
                    found = group.view(vbr_id, state.settings)
                    break
            not_found = state.settings.vbr_ha_not_found
        if found is not None:
            return _dump({"RequestId": request_id, **found})
        if not_found == "404":
            raise ErrorAnswer("ResourceNotFound.VbrHa", "The VBR HA resource is not found.", 404)
        if not_found == "blank":
            keys = ("VbrHaId", "VbrId", "PeerVbrId", "Name", "Description", "Status")
            return _dump(
                {
                    "RequestId": request_id,
                    **dict.fromkeys(keys, ""),
                    "RegionId": region,
                    "CreationTime": "",
                }
            )
        return _dump({"RequestId": request_id})


def _max_results(params: dict[str, str]) -> int:
    raw = params.get("MaxResults")
    if raw is None or raw == "":
        return DEFAULT_RESULTS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_RESULTS:
        raise _illegal("MaxResults")
    return int(raw)


def _token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{fingerprint}".encode()).decode().rstrip("=")


def _offset(token: str, fingerprint: str) -> int:
    """The position a NextToken points at; a token of another query is refused."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        number, _, printed = text.partition(":")
        if printed == fingerprint and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _illegal("NextToken")


def _job_matches(
    view: dict[str, Any], conditions: dict[str, frozenset[str]], names: dict[str, str]
) -> bool:
    for key, wanted in conditions.items():
        if key == "JobId" and view["JobId"] not in wanted:
            return False
        if key == "JobName" and view["Name"] not in wanted:
            return False
        if key == "JobStatus" and view["Status"] not in wanted:
            return False
        if key == "ResourceType" and view["ResourceType"] not in wanted:
            return False
        if key == "ResourceId" and not wanted & set(view["ResourceId"]):
            return False
        if key == "ResourceName" and not wanted & {names.get(r, "") for r in view["ResourceId"]}:
            return False
    return True
