"""The status page's content: row order and marks, what each failure means (the RAM action to
grant, held against deploy/ram-policy.json), lines by problem as the alerts define them, runbook
anchors that exist, and nothing unescaped. The browser test (test_statuspage_browser.py) reads
the same page as Chromium renders it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from alerts.generate import _config as alert_config
from exporter import statuspage
from exporter.apis import APIS
from exporter.collectors import COLLECTORS, by_name, traffic
from exporter.collectors import failover_tests as ft
from exporter.collectors import health_checks as hc
from exporter.collectors import physical_connections as pc
from exporter.collectors import virtual_border_routers as vbr
from exporter.regiontable import RegionStatus

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0
DAY = 86400.0
WHERE = {"account": "prod", "region_id": "cn-hangzhou", "completed_at": NOW - 30,
         "duration_seconds": 1.0}  # fmt: skip

# Every action each collector calls (and region discovery's), from the collector modules.
CALLED: dict[str, tuple[str, ...]] = {
    pc.NAME: (pc.ACTION,),
    vbr.NAME: (vbr.VBRS.action, vbr.PEERS.action),
    traffic.NAME: (traffic.ACTION,),
    hc.NAME: (hc.ACTION,),
    ft.NAME: (ft.JOBS_ACTION, ft.HA_ACTION),
}


def policy_actions() -> set[str]:
    policy = json.loads((ROOT / "deploy" / "ram-policy.json").read_text())
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def test_every_collector_is_known_and_every_api_has_a_ram_namespace() -> None:
    assert set(CALLED) == {c.name for c in COLLECTORS}
    assert set(statuspage.RAM_NAMESPACES) == set(APIS)


@pytest.mark.parametrize("collector", sorted(CALLED))
def test_a_refused_action_names_ram_actions_the_shipped_policy_grants(collector: str) -> None:
    api = by_name(COLLECTORS)[collector].api
    for action in CALLED[collector]:
        error = f"{action}: Forbidden.RAM: User not authorized to operate on the resource."
        explained = statuspage.meaning(collector, error)
        named = set(re.findall(r"\b[a-z]+:[A-Za-z]+\b", explained))
        assert named == set(statuspage.ram_actions(api, action)), explained
        assert named and named <= policy_actions(), explained


def test_meaning_of_other_failures() -> None:
    meaning = statuspage.meaning
    assert "cen:DescribeCenVbrHealthCheck" in meaning(hc.NAME, f"{hc.ACTION}: Forbidden.RAM")
    assert "cms:DescribeMetricLast and cms:QueryMetricLast" in meaning(
        traffic.NAME, f"{traffic.ACTION}: AccessForbidden: User not authorized"
    )
    assert "vpc:DescribeRegions" in meaning("", "DescribeRegions: Forbidden.RAM: no")
    upstream = meaning(
        traffic.NAME,
        "the virtual_border_routers collector failed in this region: "
        "DescribeBgpPeers: Forbidden.RAM: no",
    )
    assert upstream.startswith("Waits on the virtual_border_routers collector")
    assert "vpc:DescribeBgpPeers" in upstream
    assert "throttles" in meaning(pc.NAME, f"{pc.ACTION}: Throttling.User: slow down")
    assert "clock" in meaning(pc.NAME, f"{pc.ACTION}: InvalidTimeStamp.Expired: x")
    assert "credentials" in meaning(pc.NAME, f"{pc.ACTION}: InvalidAccessKeyId.NotFound: x")
    assert "cannot be reached" in meaning(pc.NAME, f"{pc.ACTION}: ClientConnectorError: x")
    assert "its side" in meaning(pc.NAME, f"{pc.ACTION}: HTTP502")
    assert "overran" in meaning(pc.NAME, "refresh timed out after 120s")
    assert meaning(pc.NAME, None) == ""


def test_thresholds_are_the_alerts() -> None:
    assert alert_config["expiry_warning_seconds"] == statuspage.EXPIRY_WARNING_SECONDS
    assert alert_config["saturation_warning_ratio"] == statuspage.SATURATION_RATIO


def status(collector: str, snapshot: object, **fields: object) -> RegionStatus:
    base = RegionStatus("prod", "cn-hangzhou", collector).succeeded(snapshot, NOW - 31)
    return replace(base, **fields)  # type: ignore[arg-type]


def line(id: str, **fields: object) -> pc.PhysicalConnection:
    defaults: dict[str, object] = {"status": "Enabled", "business_status": "Normal",
                                   "bandwidth_mbps": 1000.0, "name": f"name-{id}"}  # fmt: skip
    return pc.PhysicalConnection(id=id, **{**defaults, **fields})  # type: ignore[arg-type]


def fleet() -> list[RegionStatus]:
    lines = pc.RegionSnapshot(
        **WHERE,  # type: ignore[arg-type]
        connections=(
            line("pc-ok", end_time=NOW + 90 * DAY),
            line("pc-locked", business_status="FinancialLocked"),
            line("pc-secure", business_status="SecurityLocked"),
            line("pc-expiring", end_time=NOW + 3 * DAY),
            line("pc-expired", end_time=NOW - DAY),
            line("pc-gone", status="Terminated", end_time=NOW - DAY),
            line("pc-bgp"),
            line("pc-full", bandwidth_mbps=100.0),
        ),
    )
    on = (("physical_connection_id", ""),)

    def router(id: str, line_id: str, status: str = "active") -> vbr.VirtualBorderRouter:
        return vbr.VirtualBorderRouter(id, status, (("physical_connection_id", line_id),))

    vbrs = vbr.VbrSnapshot(
        **WHERE,  # type: ignore[arg-type]
        vbrs=(router("vbr-bgp", "pc-bgp"), router("vbr-lock", "pc-locked"),
              router("vbr-full", "pc-full"), router("vbr-ok", "pc-ok")),
        peers=(
            vbr.BgpPeer("bgp-1", "vbr-bgp", "Available", "Active", on),
            vbr.BgpPeer("bgp-2", "vbr-lock", "Available", "Idle", on),  # locked line: not BGP
            vbr.BgpPeer("bgp-3", "vbr-ok", "Available", "Established", on),
            vbr.BgpPeer("bgp-4", "vbr-ok", "Modifying", "Idle", on),  # being configured
        ),
    )  # fmt: skip
    # pc-full: 100 Mbit/s = 12.5 MB/s; 11 MB/s out is 88 %. pc-ok: 1 %.
    figures = traffic.TrafficSnapshot(
        **WHERE,  # type: ignore[arg-type]
        calls=8,
        vbrs=(
            traffic.VbrMetrics("vbr-full", {"RateOutFromVpcToIDC": 11e6}, NOW - 60),
            traffic.VbrMetrics("vbr-ok", {"RateInFromIDCToVpc": 1.25e6}, NOW - 60),
        ),
    )
    return [status(pc.NAME, lines), status(vbr.NAME, vbrs), status(traffic.NAME, figures)]


def test_lines_by_problem_as_the_alerts_define_them() -> None:
    found = {p.key: p for p in statuspage.problems(fleet(), NOW)}
    assert list(found) == ["locked", "expiring", "bgp_down", "saturated"]
    ids = {key: [r.id for r in p.lines] for key, p in found.items()}
    assert ids == {
        "locked": ["pc-locked", "pc-secure"],
        "expiring": ["pc-expired", "pc-expiring"],
        "bgp_down": ["pc-bgp"],
        "saturated": ["pc-full"],
    }
    assert found["saturated"].lines[0].detail == "88% vpc_to_idc"
    assert found["bgp_down"].lines[0].detail == "session bgp-1 is Active"
    assert found["expiring"].lines[0].detail == "expired"
    assert all(p.unknown == () for p in found.values())


def test_a_count_says_where_it_cannot_see() -> None:
    """Saturation needs traffic data: where the traffic collector serves nothing, 0 is not
    "fine", and the page says so; the other counts there are unaffected."""
    blind = RegionStatus("prod", "cn-shanghai", traffic.NAME).failed(NOW, "x: HTTP503", 60, 1)
    found = {p.key: p for p in statuspage.problems([*fleet(), blind], NOW)}
    assert found["saturated"].unknown == ("prod/cn-shanghai",)
    assert found["locked"].unknown == found["bgp_down"].unknown == ()
    page = statuspage.render([*fleet(), blind], {}, version="t", telemetry_path="/m", now=NOW)
    assert "Not known in prod/cn-shanghai" in page


def test_a_stale_region_counts_nothing_and_says_what_went_dark() -> None:
    stale = [s.failed(NOW, "DescribePhysicalConnections: Forbidden.RAM: no", 10.0, 1.0)
             for s in fleet()]  # fmt: skip
    assert all(s.stale for s in stale)
    found = statuspage.problems(stale, NOW)
    assert all(not p.lines and p.unknown == ("prod/cn-hangzhou",) for p in found)
    page = statuspage.render(stale, {}, version="t", telemetry_path="/metrics", now=NOW)
    assert "FAILING, series dropped" in page and pc.EXPIRY in page and traffic.TRAFFIC in page
    assert "no longer exported since 2027-01-15 08:00:00 UTC" in page


def test_rows_failures_first_then_pending_then_ok() -> None:
    ok = status(pc.NAME, fleet()[0].snapshot)
    failing = replace(ok, region_id="ap-southeast-1").failed(NOW, "x: Throttling: y", 3600, 1)
    stale = replace(ok, region_id="cn-beijing").failed(NOW, "x: Throttling: y", 1, 1)
    pending = RegionStatus("prod", "cn-shanghai", vbr.NAME)
    rows = statuspage.rows([ok, pending, failing, stale], {"dev": "DescribeRegions: HTTP503"})
    assert [(r.state, r.region_id) for r in rows] == [
        ("stale", "cn-beijing"),
        ("failing", "(all regions)"),
        ("failing", "ap-southeast-1"),
        ("pending", "cn-shanghai"),
        ("ok", "cn-hangzhou"),
    ]
    assert rows[2].failing_since == NOW and rows[4].last_success == NOW - 30


def test_every_dynamic_value_is_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>"
    bad = RegionStatus(evil, "cn-hangzhou", pc.NAME).failed(NOW, f"x: Forbidden: {evil}", 60, 1)
    page = statuspage.render([bad], {evil: evil}, version=evil, telemetry_path="/m", now=NOW)
    assert evil not in page and html_escaped(evil) in page


def html_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
