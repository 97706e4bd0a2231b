"""The status page at ``/``: what on-call opens when Grafana is down.

Rendered on the server, from what ``/metrics`` serves (the region table's statuses and their
exposed snapshots): it never calls the API, and it shows nothing the exposition would not
(error texts are already redacted; every dynamic value is escaped here). Failing rows come
first, marked by colour *and* by text; each failure says what it means (a ``Forbidden.RAM``
names the RAM action to grant); lines are counted by problem with links to their runbooks.
The page reloads itself; a few lines of inline script add the reader's local time next to each
UTC time (without script, UTC alone is shown).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exporter import runbookpage
from exporter.collectors import COLLECTORS, by_name
from exporter.collectors.base import Collector
from exporter.collectors.physical_connections import (
    BYTES_PER_MBIT,
    PhysicalConnection,
    RegionSnapshot,
)
from exporter.collectors.physical_connections import NAME as LINES_COLLECTOR
from exporter.collectors.traffic import NAME as TRAFFIC_COLLECTOR
from exporter.collectors.traffic import TrafficSnapshot
from exporter.collectors.virtual_border_routers import NAME as VBR_COLLECTOR
from exporter.collectors.virtual_border_routers import VbrSnapshot
from exporter.durations import format_duration
from exporter.regiontable import RegionStatus

#: Seconds between the page's own reloads.
REFRESH_SECONDS = 30
#: The same thresholds as the shipped alerts (``alerts/generate.py``'s ``_config``; a test
#: holds them equal): a line expiring within 30 days, a line or VBR at 80 % of its bandwidth.
EXPIRY_WARNING_SECONDS = 30 * 86400.0
SATURATION_RATIO = 0.8
#: Business statuses that stop a line's traffic.
LOCKED_STATUSES = ("FinancialLocked", "SecurityLocked")
#: Statuses of a line that is over: its expiry no longer matters (as in the alerts).
OVER_STATUSES = ("Terminated", "Canceled")
#: Where the runbooks are: the exporter's own copy (``exporter.runbookpage``), one section per
#: alert anchored by the alert's name. Relative, so it holds behind a path-prefixing proxy too.
RUNBOOKS = runbookpage.PATH.lstrip("/")
#: RAM namespace of each API of ``exporter.apis.APIS`` (``Collector.api``): the CEN product is
#: signed as ``Cbn`` but granted as ``cen:``. A test holds every action a collector calls,
#: spelt this way, against ``deploy/ram-policy.json``.
RAM_NAMESPACES: Mapping[str, str] = {"vpc": "vpc", "cms": "cms", "cbn": "cen"}
#: RAM actions CloudMonitor checks under another name than the API action's.
RAM_ALIASES: Mapping[str, tuple[str, ...]] = {"cms:DescribeMetricLast": ("cms:QueryMetricLast",)}
#: The API of region discovery (``regions: all``), and its action.
DISCOVERY_API, DISCOVERY_ACTION = "vpc", "DescribeRegions"

_ERROR = re.compile(r"^(?P<action>[A-Za-z][A-Za-z0-9]*): (?P<code>[A-Za-z0-9._-]+)(?::|$)")
_UPSTREAM = re.compile(r"^the (?P<needs>[a-z_]+) collector failed in this region: (?P<rest>.*)$")
_PERMISSION_CODES = ("Forbidden.RAM", "AccessForbidden", "Forbidden", "NoPermission")
_CREDENTIAL_PREFIXES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "IncompleteSignature",
                        "InvalidSecurityToken", "InvalidAccessKeySecret")  # fmt: skip


def runbook(alert: str) -> str:
    """The runbook section of an alert (its heading's anchor)."""
    return f"{RUNBOOKS}#{runbookpage.anchor(alert)}"


def ram_actions(api: str, action: str) -> tuple[str, ...]:
    """The RAM actions that allow ``action`` of ``api``: ``vpc:DescribeVbrHa``, ..."""
    main = f"{RAM_NAMESPACES.get(api, api)}:{action}"
    return (main, *RAM_ALIASES.get(main, ()))


# ------------------------------------------------------------------------ what a failure means


def _code_meaning(api: str, action: str, code: str) -> str:
    if code in _PERMISSION_CODES:
        grant = " and ".join(ram_actions(api, action))
        return (
            f"Permission denied: grant the RAM action {grant} to this account's RAM user or "
            "role (deploy/ram-policy.json holds every action the exporter needs)."
        )
    if code.startswith("Throttling"):
        return (
            "The API throttles this account: lower api.max_requests_per_second (or "
            "api.cms_max_requests_per_second) or lengthen the collector's interval."
        )
    if code.startswith(_CREDENTIAL_PREFIXES):
        return "The credentials are wrong, disabled or expired: check this account's AccessKey."
    if code == "InvalidTimeStamp.Expired":
        return "This host's clock is off: requests are signed with the wrong time (check NTP)."
    if code == "Timeout":
        return "No answer within api.request_timeout: the API is slow or unreachable from here."
    if code.startswith("HTTP5") or code in ("ServiceUnavailable", "InternalError"):
        return "The API failed on its side (after api.retries retries): usually transient."
    if code.startswith(("Client", "Server")):
        return "The API endpoint cannot be reached: DNS, proxy, firewall or network of this host."
    return "The API refused the request: see the error text."


def meaning(collector: str, error: str | None) -> str:
    """What a row's last error means for on-call, in one or two sentences."""
    if not error:
        return ""
    upstream = _UPSTREAM.match(error)
    if upstream:
        needs = upstream["needs"]
        return f"Waits on the {needs} collector, which fails here. " + meaning(
            needs, upstream["rest"]
        )
    if error.startswith("refresh timed out"):
        return (
            "The whole pass overran its timeout (refresh.timeout, or 90 % of the interval): "
            "the API is slow or the rate limit too low for this many objects."
        )
    found = _ERROR.match(error)
    if not found:
        return "See the error text (nothing of this pass was published)."
    api = DISCOVERY_API if collector == "" else _api_of(collector)
    return _code_meaning(api, found["action"], found["code"])


def _api_of(collector: str) -> str:
    known = by_name(COLLECTORS).get(collector)
    return known.api if known else ""


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class Row:
    """One (account, region, collector) as the page shows it, or a failed region discovery."""

    account: str
    region_id: str
    collector: str
    state: str  # "stale", "failing", "pending" or "ok": the order rows are shown in
    failing_since: float | None
    last_success: float | None
    objects: int | None
    error: str
    stale_since: float | None = None


STATES: Mapping[str, tuple[str, str, str]] = {
    # state: (mark, text for everyone, runbook alert)
    "stale": ("✖", "FAILING, series dropped", "ExpressConnectDataStale"),
    "failing": ("✖", "FAILING", "ExpressConnectRegionDown"),
    "pending": ("…", "pending", ""),
    "ok": ("✔", "OK", ""),
}


def rows(statuses: Iterable[RegionStatus], discovery_errors: Mapping[str, str]) -> list[Row]:
    """Every row, failures first (dropped series first of all), then by account and region."""
    found = [
        Row(
            account=account,
            region_id="(all regions)",
            collector="",
            state="failing",
            failing_since=None,
            last_success=None,
            objects=None,
            error=error,
        )
        for account, error in discovery_errors.items()
    ]
    for s in statuses:
        state = "pending" if s.passes == 0 else "ok" if s.up else "failing"
        state = "stale" if s.stale else state
        found.append(
            Row(s.account, s.region_id, s.collector, state, s.failing_since, s.last_success,
                s.exported, s.last_error or "", s.stale_since)
        )  # fmt: skip
    order = list(STATES)
    return sorted(found, key=lambda r: (order.index(r.state), r.account, r.region_id, r.collector))


# ----------------------------------------------------------------------- line problems


@dataclass(frozen=True, slots=True)
class LineRef:
    account: str
    region_id: str
    id: str
    name: str
    detail: str


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    title: str
    alerts: tuple[str, ...]
    lines: tuple[LineRef, ...]
    # "account/region" where a collector this problem is read from serves nothing: there the
    # count cannot see anything, so 0 does not mean fine.
    unknown: tuple[str, ...] = ()


def _ref(where: tuple[str, str], line: PhysicalConnection, detail: str) -> LineRef:
    return LineRef(where[0], where[1], line.id, line.name, detail)


def _served(statuses: Iterable[RegionStatus], collector: str, kind: type) -> dict[Any, Any]:
    """(account, region) → the snapshot ``/metrics`` serves for that collector there."""
    return {
        (s.account, s.region_id): s.exposed
        for s in statuses
        if s.collector == collector and isinstance(s.exposed, kind)
    }


def _locked(lines: Mapping[Any, RegionSnapshot]) -> list[LineRef]:
    return [
        _ref(where, c, c.business_status)
        for where, snap in lines.items()
        for c in snap.connections
        if c.business_status in LOCKED_STATUSES
    ]


def _expiring(lines: Mapping[Any, RegionSnapshot], now: float) -> list[LineRef]:
    found = []
    for where, snap in lines.items():
        for c in snap.connections:
            if c.end_time is None or c.status in OVER_STATUSES:
                continue
            left = c.end_time - now
            if left < EXPIRY_WARNING_SECONDS:
                when = "expired" if left < 0 else f"expires in {age(left)}"
                found.append(_ref(where, c, when))
    return found


def _bgp_down(
    lines: Mapping[Any, RegionSnapshot], vbrs: Mapping[Any, VbrSnapshot]
) -> list[LineRef]:
    """Lines (Enabled, Normal) with an Available session on an active VBR not Established."""
    found: dict[str, LineRef] = {}  # line IDs are unique across regions
    for where, snap in vbrs.items():
        usable = {
            c.id: c
            for c in getattr(lines.get(where), "connections", ())
            if c.status == "Enabled" and c.business_status == "Normal"
        }
        line_of = {v.id: dict(v.info).get("physical_connection_id", "") for v in snap.vbrs}
        active = {v.id for v in snap.vbrs if v.status == "active"}
        for peer in snap.peers:
            line = usable.get(line_of.get(peer.vbr_id, ""))
            watched = line and peer.vbr_id in active and peer.peer_status == "Available"
            if line and watched and peer.status != "Established" and line.id not in found:
                found[line.id] = _ref(where, line, f"session {peer.id} is {peer.status or '?'}")
    return list(found.values())


_DIRECTIONS = (("idc_to_vpc", "RateInFromIDCToVpc"), ("vpc_to_idc", "RateOutFromVpcToIDC"))


def _line_utilisation(
    line: PhysicalConnection, vbrs: Sequence[Any], traffic: Mapping[str, Any]
) -> tuple[float, str]:
    """The higher of (all the line's VBRs' traffic / its bandwidth) and each VBR's traffic /
    its own bandwidth, per direction, as the alerts define it; (ratio, direction)."""
    best = (0.0, "")
    for direction, metric in _DIRECTIONS:
        rates = {v.id: traffic[v.id].get(metric) or 0.0 for v in vbrs if v.id in traffic}
        shares = [
            rates.get(v.id, 0.0) / (v.bandwidth_mbps * BYTES_PER_MBIT)
            for v in vbrs
            if v.bandwidth_mbps
        ]
        if line.bandwidth_mbps:
            shares.append(sum(rates.values()) / (line.bandwidth_mbps * BYTES_PER_MBIT))
        best = max(best, (max(shares, default=0.0), direction))
    return best


def _saturated(
    lines: Mapping[Any, RegionSnapshot],
    vbrs: Mapping[Any, VbrSnapshot],
    traffic: Mapping[Any, TrafficSnapshot],
) -> list[LineRef]:
    found = []
    for where, snap in traffic.items():
        figures = {v.id: v for v in snap.vbrs}
        on_line: dict[str, list[Any]] = {}
        for v in getattr(vbrs.get(where), "vbrs", ()):
            on_line.setdefault(dict(v.info).get("physical_connection_id", ""), []).append(v)
        for line in getattr(lines.get(where), "connections", ()):
            ratio, direction = _line_utilisation(line, on_line.get(line.id, []), figures)
            if ratio >= SATURATION_RATIO and math.isfinite(ratio):
                found.append(_ref(where, line, f"{ratio:.0%} {direction}"))
    return found


def problems(statuses: Sequence[RegionStatus], now: float) -> list[Problem]:
    """Lines by problem, from the snapshots served now (a stale region counts nothing)."""
    lines = _served(statuses, LINES_COLLECTOR, RegionSnapshot)
    vbrs = _served(statuses, VBR_COLLECTOR, VbrSnapshot)
    traffic = _served(statuses, TRAFFIC_COLLECTOR, TrafficSnapshot)
    pc = "ExpressConnectPhysicalConnection"
    found = (
        ("locked", "Locked", (f"{pc}FinancialLocked", f"{pc}SecurityLocked"),
         _locked(lines)),
        ("expiring", "Expiring within 30 days", (f"{pc}ExpiryImminent", f"{pc}ExpiringSoon"),
         _expiring(lines, now)),
        ("bgp_down", "BGP down", ("ExpressConnectBgpSessionDown",), _bgp_down(lines, vbrs)),
        ("saturated", f"Saturated (≥ {SATURATION_RATIO:.0%})", ("ExpressConnectLineSaturated",),
         _saturated(lines, vbrs, traffic)),
    )  # fmt: skip
    needs = {"locked": (LINES_COLLECTOR,), "expiring": (LINES_COLLECTOR,),
             "bgp_down": (LINES_COLLECTOR, VBR_COLLECTOR),
             "saturated": (LINES_COLLECTOR, VBR_COLLECTOR, TRAFFIC_COLLECTOR)}  # fmt: skip
    return [
        Problem(key, title, alerts, tuple(sorted(refs, key=_line_order)),
                _blind(statuses, needs[key]))
        for key, title, alerts, refs in found
    ]  # fmt: skip


def _line_order(ref: LineRef) -> tuple[str, str, str]:
    return (ref.account, ref.region_id, ref.id)


def _blind(statuses: Iterable[RegionStatus], collectors: Sequence[str]) -> tuple[str, ...]:
    """Where one of ``collectors`` is configured and serves nothing (failed first, or stale)."""
    return tuple(
        sorted({f"{s.account}/{s.region_id}" for s in statuses
                if s.collector in collectors and s.exposed is None})
    )  # fmt: skip


# ----------------------------------------------------------------------------- HTML

esc: Callable[[object], str] = lambda value: html.escape(str(value))  # noqa: E731


def age(seconds: float) -> str:
    """``250.4`` → ``4m10s``: whole seconds, for a human."""
    return format_duration(max(0.0, float(round(seconds))))


def when(stamp: float | None) -> str:
    """A UTC time the page's script completes with the reader's local time."""
    if stamp is None:
        return "never"
    moment = datetime.fromtimestamp(stamp, UTC)
    iso = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"<time datetime='{iso}'>{moment.strftime('%Y-%m-%d %H:%M:%S')} UTC</time>"


def _row_html(row: Row, collectors: Mapping[str, Collector[Any]], now: float) -> str:
    mark, text, alert = STATES[row.state]
    failing = row.state in ("stale", "failing")
    explained = meaning(row.collector, row.error) if failing else ""
    if row.state == "stale":
        explained = _went_dark(row, collectors.get(row.collector)) + " " + explained
    link = f" <a href='{esc(runbook(alert))}'>Runbook</a>" if alert else ""
    data_age = age(now - row.last_success) if row.last_success is not None else "no data"
    objects = "" if row.objects is None else str(row.objects)
    return (
        f"<tr class='row {row.state}' data-state='{row.state}'>"
        f"<td class='state'><span aria-hidden='true'>{mark}</span> <strong>{text}</strong></td>"
        f"<td>{esc(row.account)}</td><td>{esc(row.region_id)}</td>"
        f"<td>{esc(row.collector or 'region discovery')}</td>"
        f"<td>{when(row.failing_since) if failing else ''}</td>"
        f"<td>{when(row.last_success)}</td><td class='age'>{esc(data_age)}</td>"
        f"<td class='objects'>{objects}</td>"
        f"<td class='error'><code>{esc(row.error)}</code>"
        f"<p class='meaning'>{esc(explained.strip())}{link}</p></td></tr>"
    )


def _went_dark(row: Row, collector: Collector[Any] | None) -> str:
    """What a stale row no longer exports: on-call's alerts on those series are blind."""
    families = [f.name for g in (collector.records if collector else ()) for f in g.families]
    names = ", ".join(families) or "its object series"
    since = f" since {_utc(row.stale_since)}" if row.stale_since is not None else ""
    return (
        f"Older than refresh.max_staleness: {names} for this account and region are no "
        f"longer exported{since}, so their alerts cannot fire."
    )


def _utc(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _problem_html(problem: Problem) -> str:
    links = " · ".join(
        f"<a href='{esc(runbook(a))}'>{esc(a.removeprefix('ExpressConnect'))}</a>"
        for a in problem.alerts
    )
    count = len(problem.lines)
    listed = "".join(
        f"<li><code>{esc(r.id)}</code> {esc(r.name)} ({esc(r.account)}, {esc(r.region_id)}):"
        f" {esc(r.detail)}</li>"
        for r in problem.lines[:50]
    )
    more = f"<li>and {count - 50} more</li>" if count > 50 else ""
    details = f"<details><summary>Lines</summary><ul>{listed}{more}</ul></details>"
    blind = (
        f"<p class='unknown'>Not known in {esc(', '.join(problem.unknown))}: nothing served "
        "there (see the failing passes below).</p>"
        if problem.unknown
        else ""
    )
    return (
        f"<tr class='problem{' bad' if count else ''}' data-problem='{problem.key}'>"
        f"<th scope='row'>{esc(problem.title)}</th><td class='count'>{count}</td>"
        f"<td>{details if count else ''}{blind}</td><td>{links}</td></tr>"
    )


_STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:1.5em;color:#111;background:#fff}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #bbb;padding:.3em .5em;
text-align:left;vertical-align:top}thead th{background:#eee}
tr.failing td,tr.stale td{background:#fde2e1}tr.stale td.state,tr.failing td.state{color:#a00000}
tr.pending td.state{color:#7a5b00}tr.ok td.state{color:#0a6b1f}
tr.problem.bad .count{background:#fde2e1;color:#a00000;font-weight:bold}
.banner{padding:.6em 1em;border:2px solid;font-weight:bold}.banner.bad{border-color:#a00000;
background:#fde2e1;color:#a00000}.banner.good{border-color:#0a6b1f;color:#0a6b1f}
.meaning,.unknown{margin:.3em 0 0}.unknown{color:#7a5b00}.local{color:#555}
code{word-break:break-all}
"""

# Adds " · <local time> (UTC+hh:mm)" after each UTC time: the reader's zone, no framework.
_SCRIPT = """
(function(){function p(n){return String(n).padStart(2,'0')}
document.querySelectorAll('time[datetime]').forEach(function(t){
var d=new Date(t.getAttribute('datetime'));if(isNaN(d))return;
var o=-d.getTimezoneOffset(),s=document.createElement('span');s.className='local';
s.textContent=' · '+d.getFullYear()+'-'+p(d.getMonth()+1)+'-'+p(d.getDate())+' '+
p(d.getHours())+':'+p(d.getMinutes())+':'+p(d.getSeconds())+' local (UTC'+(o<0?'-':'+')+
p(Math.floor(Math.abs(o)/60))+':'+p(Math.abs(o)%60)+')';t.after(s)});})();
"""


def _banner(shown: Sequence[Row], found: Sequence[Problem]) -> str:
    failing = sum(r.state in ("stale", "failing") for r in shown)
    lines = sum(len(p.lines) for p in found)
    if failing or lines:
        return (
            f"<p class='banner bad' role='alert' id='summary'>{failing} of {len(shown)} "
            f"collector passes failing; {lines} line problems</p>"
        )
    return (
        f"<p class='banner good' role='status' id='summary'>All {len(shown)} collector passes "
        "OK; no line problems</p>"
    )


def render(
    statuses: Sequence[RegionStatus],
    discovery_errors: Mapping[str, str],
    *,
    version: str,
    telemetry_path: str,
    now: float,
) -> str:
    """The whole page; ``now`` is the time it is rendered at (data ages are relative to it)."""
    shown = rows(statuses, discovery_errors)
    found = problems(statuses, now)
    collectors = by_name(COLLECTORS)
    head = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Express Connect exporter: status</title><style>{_STYLE}</style></head>"
    )
    body = (
        f"<body><h1>Express Connect exporter</h1><p>Version {esc(version)} · page of "
        f"{when(now)} · reloads every {REFRESH_SECONDS}s · "
        f"<a href='{esc(telemetry_path)}'>Metrics</a> · <a href='/healthz'>Health</a> · "
        f"<a href='/readyz'>Readiness</a> · <a href='{RUNBOOKS}'>Runbooks</a></p>"
        + _banner(shown, found)
        + "<h2>Lines by problem</h2><table id='problems'><thead><tr><th>Problem</th>"
        "<th>Lines</th><th>Which</th><th>Runbooks</th></tr></thead><tbody>"
        + "".join(_problem_html(p) for p in found)
        + "</tbody></table><h2>Collector passes (failures first)</h2><table id='passes'>"
        "<thead><tr><th>State</th><th>Account</th><th>Region</th><th>Collector</th>"
        "<th>Failing since</th><th>Last success</th><th>Data age</th><th>Objects</th>"
        "<th>Last error and what it means</th></tr></thead><tbody>"
        + "".join(_row_html(r, collectors, now) for r in shown)
        + f"</tbody></table><script>{_SCRIPT}</script></body></html>\n"
    )
    return head + body
