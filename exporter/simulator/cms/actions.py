"""CloudMonitor (CMS ``2019-01-01``) actions for VBR metrics, served beside the VPC API.

A request is CMS when its ``Version`` is ``2019-01-01``, as the real gateway tells products
apart. CMS data is account-wide: every region's VBRs answer on any host and no ``RegionId``
is read. ``Datapoints`` is a JSON *string*, ``Code`` the string ``"200"`` on success; action
errors carry ``Success: false`` and can be switched to HTTP 200 answers (``errors_as_200``).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from exporter.region_ids import REGION_IDS
from exporter.simulator.cms.metrics import (
    HEALTH_METRICS,
    LATENCY,
    METRICS,
    NAMESPACE,
    NO_DATA_METRICS,
    VbrState,
    sample,
)
from exporter.simulator.cms.state import CmsState, newest_point_ms
from exporter.simulator.errors import ErrorAnswer, common
from exporter.simulator.vbr.model import ACTIVE, Vbr, vbr_status
from exporter.simulator.vbr.store import VbrStore

CMS_VERSION = "2019-01-01"
CMS_HOST = "metrics.aliyuncs.com"
METRIC_ACTIONS = ("DescribeMetricLast", "DescribeMetricList")
CMS_ACTIONS = (*METRIC_ACTIONS, "DescribeMetricMetaList")
MAX_INSTANCES = 50
MAX_LENGTH = 1440
DEFAULT_LENGTH = 1000
MAX_SPAN_MS = 31 * 86400 * 1000
_TEXT_TIMES = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ")
_TOKEN_PARAMS = ("Namespace", "MetricName", "Period", "Dimensions", "StartTime", "EndTime")


class CmsError(ErrorAnswer):
    """An action error, answered ``{"RequestId","Code","Message","Success":false}``."""


def is_cms(params: dict[str, str]) -> bool:
    return params.get("Version") == CMS_VERSION


def invalid(detail: str) -> CmsError:
    """``ParameterInvalid``: the documented message, then what exactly is wrong."""
    return CmsError("ParameterInvalid", f"Illegal parameters: {detail}", 400)


def not_found(detail: str) -> CmsError:
    return CmsError("ResourceNotFound", f"The specified resource is not found: {detail}", 404)


def success_false(code: str | None, message: str | None, status: int | None) -> CmsError:
    """The injected ``success_false`` fault: HTTP 200 (or ``status``) with Success false."""
    return CmsError(code or "400", message or "The request failed.", status or 200)


def cms_error_body(error: ErrorAnswer, request_id: str) -> bytes:
    """Action errors as CMS bodies; gateway errors (signature, throttling, faults) in the
    gateway's shape with the CMS host."""
    if isinstance(error, CmsError):
        body: dict[str, Any] = {
            "RequestId": request_id,
            "Code": error.code,
            "Message": error.message,
            "Success": False,
        }
    else:
        body = {
            "RequestId": request_id,
            "HostId": CMS_HOST,
            "Code": error.code,
            "Message": error.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}&product=Cms"
            f"&requestId={request_id}",
        }
    return json.dumps(body, ensure_ascii=False).encode()


def _dump(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Instance:
    """One VBR as CMS sees it: dimensions and what its metrics depend on."""

    vbr_id: str
    user_id: str
    state: VbrState
    region: str = ""


Group = tuple[Instance, list[int]]  # a VBR and the timestamps it has points at


@dataclass(frozen=True)
class Query:
    """A metric request, resolved: window ``(start_ms, end_ms]`` and the page offset."""

    metric: str
    period: int
    length: int
    start_ms: int
    end_ms: int
    offset: int
    fingerprint: str


class CmsApi:
    def __init__(self, seed: int, vbrs: VbrStore, state: CmsState) -> None:
        self.seed = seed
        self.vbrs = vbrs
        self.state = state

    def handle(
        self,
        action: str,
        params: dict[str, str],
        account: str,
        uid: int,
        request_id: str,
        endpoint: str | None = None,
    ) -> bytes:
        """The answer to a CMS action; CmsError/ErrorAnswer for failures. ``endpoint``: the
        region whose endpoint was asked (``regional`` scope answers only its VBRs)."""
        if action not in CMS_ACTIONS:
            raise ErrorAnswer(
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                404,
            )
        refused = self.state.limiter.allow(account, "", action)
        if refused is not None:
            raise common("Throttling.User", refused)
        try:
            if action == "DescribeMetricMetaList":
                return _meta_list(params, request_id)
            return self._metrics(action, params, account, uid, request_id, endpoint)
        except CmsError as exc:
            if self.state.settings.errors_as_200:
                raise CmsError(str(exc.status), exc.message, 200) from None
            raise

    # -- DescribeMetricList / DescribeMetricLast ----------------------------------------------
    def _metrics(
        self,
        action: str,
        params: dict[str, str],
        account: str,
        uid: int,
        request_id: str,
        endpoint: str | None = None,
    ) -> bytes:
        query = parse_query(action, params, time.time())
        instances = self.select(account, uid, params.get("Dimensions"))
        if self.state.settings.scope == "regional" and endpoint is not None:
            instances = [i for i in instances if i.region == endpoint]
        if action == "DescribeMetricLast":
            points = self._last(instances, query)
        else:
            points = self._series(instances, query)
        page = _slice(points, query.offset, query.length + 1)
        more = len(page) > query.length
        rendered = [self._render(p, query) for p in page[: query.length]]
        body: dict[str, Any] = {
            "RequestId": request_id,
            "Code": "200",
            "Success": True,
            "Period": str(query.period),
        }
        if more:
            body["NextToken"] = _token(query, query.offset + query.length)
        body["Datapoints"] = json.dumps(rendered, separators=(",", ":"))
        return _dump(body)

    def select(self, account: str, uid: int, raw: str | None) -> list[Instance]:
        """The account's VBRs (any region) that the ``Dimensions`` name, in their order."""
        wanted = parse_dimensions(raw)
        if wanted and all("instanceId" in dims for dims in wanted):
            candidates = self.instances(account, uid, [d["instanceId"] for d in wanted])
        else:
            candidates = self.instances(account, uid)
        if not wanted:
            return candidates
        chosen: dict[str, Instance] = {}
        for dims in wanted:
            for inst in candidates:
                shown = {"userId": inst.user_id, "instanceId": inst.vbr_id}
                if all(shown.get(k) == v for k, v in dims.items()):
                    chosen.setdefault(inst.vbr_id, inst)
        return list(chosen.values())

    def instances(self, account: str, uid: int, ids: list[str] | None = None) -> list[Instance]:
        """The account's VBRs (``ids``: only those, where they are the account's)."""
        store = self.vbrs
        out = []
        with store.lock:
            if ids is None:
                vbrs = store.vbrs(account)
            else:
                found = (_find(store, i) for i in dict.fromkeys(ids))
                vbrs = [v for v in found if v is not None and v.account == account]
            sharing = Counter(v.pc_id for v in store.vbrs(account))  # they share its bandwidth
            for vbr in vbrs:
                line = store.line(vbr)
                flowing = (
                    vbr_status(vbr, line) == ACTIVE
                    and line.status == "Enabled"
                    and line.fields.get("BusinessStatus", "Normal") == "Normal"
                )
                mbps = _megabits(vbr.fields.get("Bandwidth")) or _megabits(
                    line.fields.get("Bandwidth")
                )
                share = 1.0 / sharing[vbr.pc_id]
                state = VbrState(flowing, (mbps or 1000.0) * 1e6, vbr.health_check, share)
                out.append(Instance(vbr.id, str(uid), state, vbr.region))
        return out

    def value(self, inst: Instance, metric: str, ts: int, period: int) -> float | None:
        if self.state.current(inst.vbr_id).no_data:  # hides the past too
            return None
        override = self.state.at(inst.vbr_id, ts, period)
        return sample(self.seed, inst.vbr_id, inst.state, override, metric, ts, period)

    def _series(self, instances: list[Instance], q: Query) -> Iterator[Group]:
        """Each VBR's point timestamps (values are computed for the page alone)."""
        stamps = _stamps(q)
        for inst in instances:
            if not _never(inst, q.metric, self.state):
                yield inst, self._present(inst, q, stamps)

    def _last(self, instances: list[Instance], q: Query) -> Iterator[Group]:
        """Each VBR's newest point."""
        stamps = _stamps(q)
        for inst in instances:
            if not _never(inst, q.metric, self.state):
                present = self._present(inst, q, stamps)
                if present:
                    yield inst, present[-1:]

    def _present(self, inst: Instance, q: Query, stamps: list[int]) -> list[int]:
        """The timestamps with a point: all of them, except that a VBR without traffic has
        latency points only where an override sets the latency."""
        if q.metric != LATENCY or inst.state.carries_traffic:
            return stamps
        return [
            ts for ts in stamps if self.state.at(inst.vbr_id, ts, q.period).latency_us is not None
        ]

    def _render(self, point: tuple[Instance, int], q: Query) -> dict[str, Any]:
        inst, ts = point
        value = self.value(inst, q.metric, ts, q.period)
        out: dict[str, Any] = {
            "timestamp": ts,
            "userId": inst.user_id,
            "instanceId": inst.vbr_id,
            "Value": value,
        }
        if self.state.settings.extra_statistics:
            out.update(Average=value, Maximum=value, Minimum=value)
        return out


def endpoint_region(host: str, path: str) -> str | None:
    """The region an endpoint serves: ``metrics.<region>.aliyuncs.com``, or a first path
    segment that is a region ID (``http://127.0.0.1:port/{region_id}``); None: central."""
    name = host.split(":")[0]
    if name.startswith("metrics.") and name.endswith(".aliyuncs.com"):
        middle = name[len("metrics.") : -len(".aliyuncs.com")]
        if middle in REGION_IDS:
            return middle
    first = path.strip("/").split("/")[0]
    return first if first in REGION_IDS else None


def _find(store: VbrStore, vbr_id: str) -> Vbr | None:
    try:
        return store.vbr(vbr_id)
    except KeyError:
        return None


def _megabits(value: Any) -> float | None:
    """A bandwidth field as a positive number of Mbit/s, or None (absent or set to junk)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 and number == number else None


def _never(inst: Instance, metric: str, state: CmsState) -> bool:
    """No point at all: undocumented names, health checks not configured, ``no_data`` set."""
    if metric in NO_DATA_METRICS or state.current(inst.vbr_id).no_data:
        return True
    return metric in HEALTH_METRICS and not inst.state.health_check


def _slice(groups: Iterator[Group], start: int, count: int) -> list[tuple[Instance, int]]:
    """Points ``start`` to ``start + count`` of the groups laid end to end (whole groups before
    the page are skipped by their length)."""
    out: list[tuple[Instance, int]] = []
    for inst, stamps in groups:
        if start >= len(stamps):
            start -= len(stamps)
            continue
        out.extend((inst, ts) for ts in stamps[start : start + count - len(out)])
        start = 0
        if len(out) >= count:
            break
    return out


def _stamps(q: Query) -> list[int]:
    """Period-aligned timestamps in ``(start, end]`` (ascending)."""
    step = q.period * 1000
    first = (q.start_ms // step + 1) * step
    last = (q.end_ms // step) * step
    return list(range(first, last + 1, step)) if last >= first else []


# -- parameters -------------------------------------------------------------------------------
def parse_query(action: str, params: dict[str, str], now: float) -> Query:
    """Validated parameters and the window they select; ParameterInvalid naming the problem."""
    namespace = params.get("Namespace") or ""
    metric = params.get("MetricName") or ""
    if not namespace:
        raise invalid("Namespace is mandatory")
    if not metric:
        raise invalid("MetricName is mandatory")
    if namespace != NAMESPACE:
        raise not_found(f"namespace {namespace[:64]!r}")
    if metric not in METRICS and metric not in NO_DATA_METRICS:
        raise not_found(f"metric {metric[:64]!r} in namespace {NAMESPACE}")
    period = _int(params, "Period", 60, 60, 86400)
    if period % 60:
        raise invalid(f"Period must be a multiple of 60 for {NAMESPACE}, got {period}")
    length = _int(params, "Length", DEFAULT_LENGTH, 1, MAX_LENGTH)
    fingerprint = _fingerprint(params)
    token = params.get("NextToken")
    if token:
        offset, start, end = _read_token(token, fingerprint)
        return Query(metric, period, length, start, end, offset, fingerprint)
    start, end = _window(action, params, period, now)
    return Query(metric, period, length, start, end, 0, fingerprint)


def _window(action: str, params: dict[str, str], period: int, now: float) -> tuple[int, int]:
    start_given = _time(params, "StartTime")
    end_given = _time(params, "EndTime")
    end = int(now * 1000) if end_given is None else end_given
    start = end - 3600 * 1000 if start_given is None else start_given
    if end <= start:
        raise invalid("EndTime must be later than StartTime")
    if end - start > MAX_SPAN_MS:
        raise invalid("EndTime - StartTime must not exceed 31 days")
    if action == "DescribeMetricLast":  # looks back at least 2 h (2 days at hourly periods)
        start = min(start, end - (2 * 86400 if period >= 3600 else 7200) * 1000)
    retention = (31 if period < 300 else 91) * 86400 * 1000
    newest = newest_point_ms(now, period)
    return max(start, int(now * 1000) - retention), min(end, newest)


def _time(params: dict[str, str], name: str) -> int | None:
    """Unix ms (or s, below 10^11), ``YYYY-MM-DD hh:mm:ss`` or ``YYYY-MM-DDThh:mm:ssZ`` (UTC)."""
    raw = params.get(name)
    if not raw:
        return None
    text = raw.strip()
    if text.isdigit():
        number = int(text)
        return number * 1000 if number < 10**11 else number
    for fmt in _TEXT_TIMES:
        try:
            return calendar.timegm(time.strptime(text, fmt)) * 1000
        except ValueError:
            continue
    raise invalid(f"{name} must be Unix milliseconds or 'YYYY-MM-DD hh:mm:ss', got {raw[:40]!r}")


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise invalid(f"{name} must be an integer in {low}..{high}, got {raw[:40]!r}")
    return int(raw)


def parse_dimensions(raw: str | None) -> list[dict[str, str]]:
    """``[{"instanceId": "vbr-…"}, …]`` (or one object); at most 50 entries."""
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        raise invalid("Dimensions is not valid JSON") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise invalid("Dimensions must be a JSON array of objects")
    if len(data) > MAX_INSTANCES:
        raise invalid(f"Dimensions names {len(data)} instances, at most {MAX_INSTANCES}")
    out = []
    for dims in data:
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in dims.values()):
            raise invalid("Dimensions values must be strings")
        out.append({str(k): str(v) for k, v in dims.items()})
    return out


def _fingerprint(params: dict[str, str]) -> str:
    text = "\0".join(f"{k}={params.get(k, '')}" for k in _TOKEN_PARAMS)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _token(q: Query, offset: int) -> str:
    """Opaque cursor: offset, the resolved window (so pages agree while time moves on) and
    the request it belongs to."""
    return f"{offset:x}.{q.start_ms:x}.{q.end_ms:x}.{q.fingerprint}"


def _read_token(token: str, fingerprint: str) -> tuple[int, int, int]:
    parts = token.split(".")
    try:
        offset, start, end = (int(p, 16) for p in parts[:3])
    except ValueError:
        raise invalid("NextToken is not a token this API returned") from None
    if len(parts) != 4 or parts[3] != fingerprint:
        raise invalid("NextToken belongs to a different request")
    return offset, start, end


# -- DescribeMetricMetaList ---------------------------------------------------------------------
def _meta_list(params: dict[str, str], request_id: str) -> bytes:
    namespace = params.get("Namespace") or ""
    metric = params.get("MetricName") or ""
    number = _int(params, "PageNumber", 1, 1, 2**31 - 1)
    size = _int(params, "PageSize", 30, 1, 10000)
    labels = params.get("Labels")
    if labels:
        try:
            json.loads(labels)
        except ValueError:
            raise invalid("Labels is not valid JSON") from None
    items = [
        {
            "Namespace": NAMESPACE,
            "MetricName": name,
            "Description": description,
            "Unit": unit,
            "Dimensions": "userId,instanceId",
            "Periods": "60,300",
            "Statistics": "Value",
            "Labels": json.dumps([{"name": "metricCategory", "value": "instanceId"}]),
        }
        for name, (unit, description) in METRICS.items()
        if namespace in ("", NAMESPACE) and metric in ("", name)
    ]
    page = items[(number - 1) * size : number * size]
    return _dump(
        {
            "RequestId": request_id,
            "Code": "200",
            "Success": True,
            "TotalCount": str(len(items)),
            "Resources": {"Resource": page},
        }
    )
