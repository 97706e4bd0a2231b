"""End to end: simulator → exporter → Prometheus (committed rules) → Alertmanager (committed
routing) → a webhook receiver in this test, all real processes on loopback.

The rules are the generator's defaults (the committed ones) with shorter `for` durations for
the pages this test waits on (E2E_FOR: BgpSessionDown 5m, and the critical variants of
LineSaturated 10m and VbrHealthCheckLoss 3m, all 1m), so the run stays short. Prometheus' and
Alertmanager's configs are the committed ones with only intervals and addresses changed (1s
scrape/evaluation, 1s group wait/interval, the test's ports). So only alerts whose `for` is short
can be waited for: the critical per-connection alerts have `for: 1m` or none (a status read from
the API is a fact, not a noisy sample; one minute rides out a single odd scrape), and this test
covers every one of them: FinancialLocked, SecurityLocked, Down, Terminated, ExpiryImminent and
RedundancyLost, plus BgpSessionDown (a session taken down through the simulator's control plane
on an Enabled line; the sessions of the lines it locks or takes down go Idle/Down with them and
must not page), LineSaturated (a VBR's CloudMonitor traffic forced to 97 % of its line's
bandwidth, both directions) and VbrHealthCheckLoss (60 % loss forced on another VBR; the VBRs of
the lines the test locks or takes down lose every probe and must not page). The exporter's
traffic collector runs every 5s here (CloudMonitor period 60s, its minimum). The
warnings with `for` of 5m-15m and the exporter-health alerts (10m+ by design, tied to the 5m
refresh interval) are covered by the promtool unit tests only. The inhibition of per-connection
pages while a region fails is checked against the same real Alertmanager by posting the alerts
to its API (RegionDown cannot be waited for: it needs two 5m refresh intervals).

One fault, one page: every page carries the line's _info labels (name, circuit code, access
point, provider, as Prometheus has them), the pair key on the pair's page and the BGP state on
the BGP page, and a dashboard link; the pager receives exactly one notification group per faulty
line or pair (nine: five of them on lines of cn-hangzhou, independent faults of one region stay
separate). The redundant pair lost pages once, on its older leg. The fibre cut (hz-e2e-bgp's
session down, its VBR losing every probe and carrying nothing) pages its BGP alert only. At the
end the exporter is stopped: ExpressConnectExporterDown pages as one more group. The pair losing
BGP on both legs is checked by posting the rules' labels to the same real Alertmanager.

Timeline: the steady fleet of tests/alerts/e2e_scenario.yml runs while Prometheus evaluates the
rules (no critical alert may even be pending); then the test breaks the e2e lines through the
simulator's control plane, waits for every page with exact labels and annotations, heals the
lines, and waits for every page to be resolved. At the end no line outside the broken ones has
ever had a critical alert, and provisioning traffic did happen meanwhile.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from alerts.generate import _config, render
from exporter.collectors import COLLECTORS
from tests.harness import (
    Prometheus,
    free_port,
    start_alertmanager,
    start_exporter,
    start_prometheus,
    start_simulator,
    wait_until,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).resolve().parent / "e2e_scenario.yml"
RUNBOOK = _config["runbook_url"]
DASHBOARD = _config["dashboard_url"] + "/d/expressconnect-connection"

# What the test breaks, and how it heals it: (id, region, name, break fields, heal fields).
FINLOCK = "pc-bp1e2efinlock0000001"
SECLOCK = "pc-bp1e2eseclock0000001"
EXPIRY = "pc-bp1e2eexpiry00000001"
DOWN = "pc-uf1e2edown0000000001"
TERM = "pc-uf1e2eterm0000000001"
PAIR_A = "pc-uf1e2epaira000000001"
PAIR_B = "pc-uf1e2epairb000000001"
BREAK: dict[str, dict[str, Any]] = {
    FINLOCK: {"BusinessStatus": "FinancialLocked"},
    SECLOCK: {"BusinessStatus": "SecurityLocked"},
    EXPIRY: {"EndTime": "now+3d"},
    DOWN: {"Status": "Confirmed"},
    TERM: {"Status": "Terminating"},
    PAIR_A: {"Status": "Confirmed"},
    PAIR_B: {"Status": "Confirmed"},
}
# Terminating cannot be undone: the heal is marking the termination as planned (the tag the
# committed rules exempt), which is what on-call does for a planned decommission.
HEAL: dict[str, dict[str, Any]] = {
    FINLOCK: {"BusinessStatus": "Normal"},
    SECLOCK: {"BusinessStatus": "Normal"},
    EXPIRY: {"EndTime": "now+365d"},
    DOWN: {"Status": "Enabled"},
    TERM: {"Tags": {"tags": [{"Key": "lifecycle", "Value": "decommission"}]}},
    PAIR_A: {"Status": "Enabled"},
    PAIR_B: {"Status": "Enabled"},
}
# The BGP session taken down on an Enabled, Normal line, and brought back.
BGP_LINE = "pc-bp1e2ebgp00000000001"
BGP_VBR = "vbr-bp1e2ebgp0000000001"
BGP_PEER = "bgp-bp1e2ebgp0000000001"
# CloudMonitor overrides (simulator control plane): a saturated VBR and a lossy health check.
SAT_LINE = "pc-bp1e2esat00000000001"
SAT_VBR = "vbr-bp1e2esat0000000001"
LOSS_LINE = "pc-uf1e2eloss0000000001"
LOSS_VBR = "vbr-uf1e2eloss000000001"
# The fibre cut: hz-e2e-bgp's session goes down, its VBR loses every probe and carries nothing;
# that is one incident: the BGP page only.
METRICS_BREAK = {
    SAT_VBR: {"utilisation": 97},
    LOSS_VBR: {"loss": 60},
    BGP_VBR: {"loss": 100, "utilisation": 0},
}
E2E_IDS = (*BREAK, BGP_LINE, SAT_LINE, LOSS_LINE)
# The `for` of the pages in this run (the committed ones would make the run minutes longer).
E2E_FOR = {
    "ExpressConnectBgpSessionDown": "1m",
    "ExpressConnectLineSaturated:critical": "1m",
    "ExpressConnectVbrHealthCheckLoss:critical": "1m",
    "ExpressConnectExporterDown": "1m",
}


def e2e_rules(path: Path) -> Path:
    """The generator's default rules with the shortened `for` of E2E_FOR."""
    config = copy.deepcopy(_config)
    config["for"].update(E2E_FOR)
    path.write_text(render(config))
    return path


@dataclass
class Notification:
    receiver: str
    received: float
    payload: dict[str, Any]


@dataclass
class Webhook:
    """An aiohttp server on its own thread recording Alertmanager's webhook posts."""

    port: int
    notifications: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def groups(self, receiver: str) -> dict[str, dict[str, str]]:
        """Group key -> group labels of the notifications to `receiver`."""
        with self.lock:
            return {
                n.payload["groupKey"]: n.payload["groupLabels"]
                for n in self.notifications
                if n.receiver == receiver
            }

    def alerts(self, receiver: str, status: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                alert
                for n in self.notifications
                if n.receiver == receiver
                for alert in n.payload["alerts"]
                if status is None or alert["status"] == status
            ]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(free_port())
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: web.AppRunner | None = None

    async def receive(request: web.Request) -> web.Response:
        payload = await request.json()
        with hook.lock:
            hook.notifications.append(
                Notification(request.match_info["receiver"], time.monotonic(), payload)
            )
        return web.Response(text="ok")

    async def start() -> None:
        nonlocal runner
        app = web.Application()
        app.router.add_post("/{receiver}", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", hook.port).start()
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    assert ready.is_set()
    try:
        yield hook
    finally:
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def prometheus_config(exporter: str, alertmanager: str, rules: Path) -> str:
    """The committed config/prometheus.yml with 1s intervals, the test's addresses and `rules`
    in place of the committed rule files."""
    config = yaml.safe_load((ROOT / "config" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    assert config["rule_files"] == ["alerts/*.yml"]
    config["rule_files"] = [str(rules)]
    (am,) = config["alerting"]["alertmanagers"]
    am["static_configs"] = [{"targets": [alertmanager]}]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "expressconnect"
    job["static_configs"] = [{"targets": [exporter]}]
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_config(webhook: str) -> str:
    """The committed config/alertmanager.yml with 1s grouping and the test's receiver."""
    config = yaml.safe_load((ROOT / "config" / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        (hook,) = receiver["webhook_configs"]
        hook["url"] = f"{webhook}/{receiver['name']}"
    return yaml.safe_dump(config, sort_keys=False)


def exporter_config(path: Path, simulator: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "refresh": {"interval": "1s", "timeout": "1s", "max_staleness": "1m"},
                # A traffic pass is 8 CloudMonitor calls per region; both regions' within the
                # 1s refresh timeout needs more than the default 10 calls/s (the simulator
                # allows 50/s per action).
                "api": {
                    "endpoint": simulator,
                    "request_timeout": "1s",
                    "cms_max_requests_per_second": 40,
                },
                "accounts": [
                    {
                        "name": "prod",
                        "credentials": {
                            "type": "access_key",
                            "access_key_id": "sim-access-key-id",
                            "access_key_secret": "sim-access-key-secret",
                        },
                        "regions": ["cn-hangzhou", "cn-shanghai"],
                    }
                ],
                "labels": {"tags": ["env", "lifecycle"]},
                # traffic: CloudMonitor period 60s (its minimum); a pass every 5s picks up an
                # override as soon as the simulator publishes it.
                "collectors": {
                    "virtual_border_routers": {"interval": "1s"},
                    "traffic": {"interval": "5s"},
                },
            }
        )
    )
    return path


def patch(
    simulator: str,
    pc_id: str,
    fields: dict[str, Any] | None,
    kind: str = "connections",
    method: str = "PATCH",
) -> None:
    request = urllib.request.Request(
        f"{simulator}/_sim/{kind}/{pc_id}",
        data=None if fields is None else json.dumps(fields).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def set_vbr_metrics(simulator: str, vbr_id: str, fields: dict[str, Any] | None) -> None:
    """Force CloudMonitor figures of a VBR (None: back to the synthetic ones)."""
    method = "DELETE" if fields is None else "PATCH"
    patch(simulator, f"{vbr_id}/metrics", fields, kind="vbrs", method=method)


def who(name: str, pc_id: str, region: str) -> str:
    return f"{name} ({pc_id}) in account prod, region {region}"


def sim_peer(simulator: str, peer_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{simulator}/_sim/bgp-peers/{peer_id}", timeout=5) as response:
        peer: dict[str, Any] = json.loads(response.read())["peer"]
        return peer


Key = tuple[str, str, str]  # alertname, physical_connection_id, direction ("" if none)


def expected_pages(
    instance: str, peer: dict[str, Any], older_leg: str
) -> dict[Key, tuple[dict[str, str], dict[str, Any]]]:
    """(alertname, connection id) → (exact labels, annotations; a compiled regex where the text
    holds a time left that depends on when the rule was evaluated). `peer`: the simulator's
    record of the BGP peer taken down."""
    scraped = {"job": "expressconnect", "instance": instance, "account": "prod"}

    def page(
        alertname: str, pc_id: str, region: str, labels: dict[str, str], summary: str, desc: Any
    ) -> tuple[Key, tuple[dict[str, str], dict[str, Any]]]:
        all_labels = {
            "alertname": alertname,
            "severity": "critical",
            "account": "prod",
            "region_id": region,
            "physical_connection_id": pc_id,
            **labels,
        }
        annotations = {
            "summary": summary,
            "description": desc,
            "runbook_url": f"{RUNBOOK}#{alertname.lower()}",
        }
        return (alertname, pc_id, labels.get("direction", "")), (all_labels, annotations)

    hz, sh = "cn-hangzhou", "cn-shanghai"
    pages = [
        page(
            "ExpressConnectPhysicalConnectionFinancialLocked",
            FINLOCK,
            hz,
            {**scraped, "name": "hz-e2e-finlock", "business_status": "FinancialLocked"},
            "Express Connect line hz-e2e-finlock is FinancialLocked",
            f"Physical connection {who('hz-e2e-finlock', FINLOCK, hz)} has business status "
            "FinancialLocked (overdue payment: traffic stops until the bill is paid).",
        ),
        page(
            "ExpressConnectPhysicalConnectionSecurityLocked",
            SECLOCK,
            hz,
            {**scraped, "name": "hz-e2e-seclock", "business_status": "SecurityLocked"},
            "Express Connect line hz-e2e-seclock is SecurityLocked",
            f"Physical connection {who('hz-e2e-seclock', SECLOCK, hz)} has business status "
            "SecurityLocked (a security lock by Alibaba Cloud: traffic is blocked).",
        ),
        page(
            "ExpressConnectPhysicalConnectionExpiryImminent",
            EXPIRY,
            hz,
            {**scraped, "name": "hz-e2e-expiry"},
            "Express Connect line hz-e2e-expiry expires in less than 7d",
            # EndTime is now+3d on the simulator's 30x clock, some simulated minutes ahead of
            # Prometheus' time() by the time the test breaks the line.
            re.compile(
                re.escape(f"Physical connection {who('hz-e2e-expiry', EXPIRY, hz)} expires in ")
                + r"3d [01]h \d{1,2}m \d{1,2}s"
                + re.escape(" (EndTime); renew it or it stops.")
            ),
        ),
        page(
            "ExpressConnectPhysicalConnectionDown",
            DOWN,
            sh,
            {**scraped, "name": "sh-e2e-down", "status": "Confirmed"},
            "Express Connect line sh-e2e-down was Enabled and is now Confirmed",
            f"Physical connection {who('sh-e2e-down', DOWN, sh)} was Enabled and is now "
            "Confirmed; it has no redundant partner carrying traffic.",
        ),
        page(
            "ExpressConnectPhysicalConnectionTerminated",
            TERM,
            sh,
            {**scraped, "name": "sh-e2e-term", "status": "Terminating"},
            "Express Connect line sh-e2e-term left Enabled for Terminating",
            f"Physical connection {who('sh-e2e-term', TERM, sh)} was Enabled within the last 1d "
            "and is now Terminating, and it is not marked for decommissioning.",
        ),
    ]
    ip, asn = peer["PeerIpAddress"], peer["PeerAsn"]
    pages.append(
        page(
            "ExpressConnectBgpSessionDown",
            BGP_LINE,
            hz,
            {
                **scraped,
                "name": "hz-e2e-bgp",
                "vbr_id": BGP_VBR,
                "bgp_peer_id": BGP_PEER,
                "peer_ip_address": ip,
                "peer_asn": asn,
            },
            f"BGP session {BGP_PEER} on Express Connect line hz-e2e-bgp is not Established",
            f"BGP session {BGP_PEER} (peer {ip}, AS {asn}) of VBR {BGP_VBR} on line hz-e2e-bgp "
            f"({BGP_LINE}) in account prod, region {hz} has not been Established for 1m, while "
            "the line is Enabled, the VBR active and the peer Available: no routes are "
            "exchanged over it.",
        )
    )
    # One page per pair: on the leg created first.
    for pc_id, name, partner in (
        (PAIR_A, "sh-e2e-pair-a", PAIR_B),
        (PAIR_B, "sh-e2e-pair-b", PAIR_A),
    ):
        if pc_id != older_leg:
            continue
        pages.append(
            page(
                "ExpressConnectRedundancyLost",
                pc_id,
                sh,
                {"name": name, "partner_physical_connection_id": partner},
                f"Both legs of redundant Express Connect pair {name} are down",
                f"Physical connection {who(name, pc_id, sh)} and its redundant partner {partner} "
                "were Enabled and neither is now.",
            )
        )
    pages += traffic_pages(scraped)
    return dict(pages)


def traffic_pages(
    scraped: dict[str, str],
) -> list[tuple[Key, tuple[dict[str, str], dict[str, Any]]]]:
    """The saturation pages (both directions) and the health-check loss page; the shares are
    patterns (CloudMonitor figures are rounded by the humanizer, not fixed by the test)."""
    hz, sh, name = "cn-hangzhou", "cn-shanghai", "hz-e2e-sat"
    pages = []
    for direction in ("idc_to_vpc", "vpc_to_idc"):
        labels = {
            "alertname": "ExpressConnectLineSaturated",
            "severity": "critical",
            "account": "prod",
            "region_id": hz,
            "physical_connection_id": SAT_LINE,
            "direction": direction,
            "name": name,
        }
        description = re.compile(
            re.escape(f"Traffic {direction} on line {who(name, SAT_LINE, hz)} is at ")
            + r"9[5-9](\.\d+)?%"
            + re.escape(
                " of its bandwidth (the line's, or a VBR's own where that is lower): packets "
                "are queued and dropped."
            )
        )
        annotations = {
            "summary": f"Express Connect line {name} is saturated ({direction})",
            "description": description,
            "runbook_url": f"{RUNBOOK}#expressconnectlinesaturated",
        }
        pages.append((("ExpressConnectLineSaturated", SAT_LINE, direction), (labels, annotations)))
    labels = {
        **scraped,
        "alertname": "ExpressConnectVbrHealthCheckLoss",
        "severity": "critical",
        "region_id": sh,
        "vbr_id": LOSS_VBR,
        "physical_connection_id": LOSS_LINE,
        "name": "sh-e2e-loss",
    }
    annotations = {
        "summary": f"VBR {LOSS_VBR} on Express Connect line sh-e2e-loss loses health-check probes",
        "description": re.compile(
            re.escape(
                f"The health check of VBR {LOSS_VBR} on line {who('sh-e2e-loss', LOSS_LINE, sh)}"
                " loses "
            )
            + r"6\d(\.\d+)?%"
            + re.escape(
                " of its probes while the VBR is active and the line Enabled: the path between "
                "the VBR and the customer side is lossy or down."
            )
        ),
        "runbook_url": f"{RUNBOOK}#expressconnectvbrhealthcheckloss",
    }
    pages.append((("ExpressConnectVbrHealthCheckLoss", LOSS_LINE, ""), (labels, annotations)))
    return pages


def key(alert: dict[str, Any]) -> Key:
    labels = alert["labels"]
    return (
        labels["alertname"],
        labels.get("physical_connection_id", ""),
        labels.get("direction", ""),
    )


def line_labels(prom: Prometheus, pc_id: str) -> dict[str, str]:
    """What every alert about the line carries from its _info series (as Prometheus has it)."""
    (info,) = prom.query(
        f'expressconnect_physical_connection_info{{physical_connection_id="{pc_id}"}}'
    )
    keys = ("name", "circuit_code", "access_point_id", "line_operator")
    return {k: v for k, v in info["metric"].items() if k in keys}


def check_page(
    alert: dict[str, Any],
    labels: dict[str, str],
    annotations: dict[str, Any],
    extra: dict[str, str],
) -> None:
    """`extra`: the line's _info labels, the pair key, the BGP state (read, not fixed)."""
    assert alert["labels"] == {**labels, **extra}
    pc_id = labels["physical_connection_id"]
    dashboard = (
        f"{DASHBOARD}?var-account=prod&var-region={labels['region_id']}&var-connection={pc_id}"
    )
    assert alert["annotations"].pop("dashboard_url") == dashboard
    assert set(alert["annotations"]) == set(annotations)
    for name, want in annotations.items():
        got = alert["annotations"][name]
        if isinstance(want, re.Pattern):
            assert want.fullmatch(got), f"{name}: {got!r} does not match {want.pattern!r}"
        else:
            assert got == want, name


def critical_ever(prom: Prometheus, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Critical alerts, pending or firing, at any evaluation in the last 10 minutes."""
    matcher = f',physical_connection_id!~"{"|".join(exclude)}"' if exclude else ""
    # ExporterDown is pending from Prometheus' start until its first scrape (absent(up)): only
    # its firing counts.
    exporter = 'alertname="ExpressConnectExporterDown"'
    return prom.query(
        f'count_over_time(ALERTS{{severity="critical", alertname!~"ExpressConnectExporterDown"'
        f"{matcher}}}[10m])"
        f' or count_over_time(ALERTS{{{exporter}, alertstate="firing"}}[10m])'
    )


def test_critical_alerts_page_and_resolve_and_a_steady_fleet_never_pages(
    tmp_path: Path, webhook: Webhook
) -> None:
    started = time.monotonic()
    with start_simulator(
        [
            "--seed",
            "7",
            "--connections",
            "0",
            "--regions",
            "cn-hangzhou,cn-shanghai",
            "--scenario",
            str(SCENARIO),
            "--time-scale",
            "30",
        ]
    ) as sim:
        exporter_port = free_port()
        instance = f"127.0.0.1:{exporter_port}"
        cfg = exporter_config(tmp_path / "exporter.yml", sim.url)
        am_dir, prom_dir = tmp_path / "am", tmp_path / "prom"
        am_dir.mkdir()
        prom_dir.mkdir()
        with (
            start_exporter(cfg, port=exporter_port) as exporter_proc,
            start_alertmanager(alertmanager_config(webhook.url), am_dir) as am,
            start_prometheus(
                prometheus_config(
                    instance, am.url.removeprefix("http://"), e2e_rules(tmp_path / "rules.yml")
                ),
                prom_dir,
            ) as prom,
        ):
            # Steady phase: Prometheus sees the whole fleet and evaluates the rules for a while.
            prom.wait_until(
                lambda: prom.query("count(expressconnect_physical_connection_info) == 19"),
                timeout=60,
                what="Prometheus scraping all 19 lines",
            )
            prom.wait_until(
                lambda: prom.query("sum(expressconnect:bgp_session_established) == 8"),
                timeout=60,
                what="all 8 BGP sessions Established and watched",
            )
            prom.wait_until(
                # Utilisation and health-check loss of the two VBRs the test overrides.
                lambda: (
                    len(
                        prom.query(
                            "expressconnect:physical_connection_traffic_utilisation_ratio"
                            f'{{physical_connection_id="{SAT_LINE}"}} < 0.8'
                        )
                    )
                    == 2
                    and prom.query(
                        f'expressconnect_vbr_health_check_loss_ratio{{vbr_id="{LOSS_VBR}"}} < 0.05'
                    )
                ),
                timeout=60,
                what="CloudMonitor figures of the saturation and health-check VBRs",
            )
            # Two regions, each read by every collector (the resilience ones included) at each
            # of ten scrapes.
            read = (
                "count_over_time(expressconnect_region_up[1m]) >= 10"
                " and min_over_time(expressconnect_region_up[1m]) == 1"
            )
            prom.wait_until(
                lambda: len(prom.query(read)) == 2 * len(COLLECTORS),
                timeout=60,
                what=f"ten good scrapes of both regions and all {len(COLLECTORS)} collectors",
            )
            assert not critical_ever(prom), "the steady fleet raised a critical alert"
            assert not webhook.alerts("pager"), "the steady fleet paged"

            # Break the e2e lines.
            for pc_id, fields in BREAK.items():
                patch(sim.url, pc_id, fields)
            patch(sim.url, BGP_PEER, {"BgpStatus": "Down"}, kind="bgp-peers")
            for vbr_id, metrics in METRICS_BREAK.items():
                set_vbr_metrics(sim.url, vbr_id, metrics)
            broken = time.monotonic()
            (older,) = prom.query(
                "bottomk(1, expressconnect_physical_connection_creation_timestamp_seconds"
                f'{{physical_connection_id=~"{PAIR_A}|{PAIR_B}"}})'
            )
            older_leg = older["metric"]["physical_connection_id"]
            expected = expected_pages(instance, sim_peer(sim.url, BGP_PEER), older_leg)

            def all_paged() -> bool:
                got = {key(a) for a in webhook.alerts("pager", "firing")}
                return set(expected) <= got

            wait_until(all_paged, 120, f"pages for {sorted(expected)}", interval=0.5)
            fired_after = time.monotonic() - broken
            state = prom.query(
                f'expressconnect_bgp_peer_bgp_status{{bgp_peer_id="{BGP_PEER}"}} == 1'
            )[0]["metric"]["bgp_status"]
            for alert in webhook.alerts("pager", "firing"):
                assert key(alert) in expected, f"unexpected page: {alert['labels']}"
                pc_id = alert["labels"]["physical_connection_id"]
                extra = line_labels(prom, pc_id)
                if pc_id == older_leg:
                    extra["redundancy_pair_id"] = older_leg
                if alert["labels"]["alertname"] == "ExpressConnectBgpSessionDown":
                    extra["bgp_status"] = state
                check_page(alert, *expected[key(alert)], extra)
            # One notification group per faulty line or pair (five lines of cn-hangzhou among
            # them: independent faults on lines of one region are separate incidents), each
            # group about one line; the fibre cut is one group, its BGP page.
            groups = webhook.groups("pager")
            incidents = {pc_id for _, pc_id, _ in expected}
            assert len(groups) == len(incidents), groups
            assert {g["physical_connection_id"] for g in groups.values()} == incidents
            print(f"e2e: {len(webhook.notifications)} notifications, pager groups {len(groups)}")
            for alert in webhook.alerts("chat"):
                assert alert["labels"]["severity"] != "critical", alert["labels"]

            # Heal them: every page resolves.
            for pc_id, fields in HEAL.items():
                patch(sim.url, pc_id, fields)
            patch(sim.url, BGP_PEER, {"BgpStatus": "Established"}, kind="bgp-peers")
            for vbr_id in METRICS_BREAK:
                set_vbr_metrics(sim.url, vbr_id, None)

            def all_resolved() -> bool:
                got = {key(a) for a in webhook.alerts("pager", "resolved")}
                return set(expected) <= got

            wait_until(all_resolved, 60, "every page resolved", interval=0.5)
            assert not prom.query('ALERTS{severity="critical"}'), "critical alerts left firing"

            # Nothing else ever paged, and the fleet's applications did move meanwhile.
            assert not critical_ever(prom, exclude=E2E_IDS)
            assert {key(a) for a in webhook.alerts("pager")} == set(expected)
            moved = prom.query(
                'max_over_time(expressconnect_physical_connection_status{status="Initial"}[10m])'
                ' == 1 unless expressconnect_physical_connection_status{status="Initial"} == 1'
            )
            assert {r["metric"]["physical_connection_id"] for r in moved} >= {
                "pc-bp1apply000000000001",
                "pc-uf1apply000000000001",
            }, "no provisioning traffic happened during the run"

            # The watcher is watched: the exporter stops, one page (every line is unwatched).
            before = set(webhook.groups("pager"))
            exporter_proc.stop()
            wait_until(
                lambda: any(
                    a["labels"]["alertname"] == "ExpressConnectExporterDown"
                    for a in webhook.alerts("pager", "firing")
                ),
                120,
                "the exporter-down page",
                interval=0.5,
            )
            assert len(set(webhook.groups("pager")) - before) == 1
    print(
        f"e2e: pages {fired_after:.0f}s after the break (rules' for: 1m); "
        f"whole run {time.monotonic() - started:.0f}s"
    )


def post_alerts(alertmanager: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{alertmanager}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def test_region_failing_inhibits_its_collectors_pages_only(
    tmp_path: Path, webhook: Webhook
) -> None:
    """The committed inhibit rules in a real Alertmanager: while the physical_connections
    collector fails for prod/cn-hangzhou, a line page there is held back but a BGP page there is
    not; while the virtual_border_routers collector's data is stale for prod/cn-shanghai, a BGP
    page there is held back but a line page there is not; while the traffic collector fails for
    prod/cn-qingdao, a saturation page there is held back but a BGP page there is not. Once the
    regions recover, the held-back pages go out."""

    def region(alertname: str, region_id: str, collector: str) -> dict[str, Any]:
        return {
            "labels": {
                "alertname": alertname,
                "severity": "warning",
                "account": "prod",
                "region_id": region_id,
                "collector": collector,
            },
            "annotations": {"summary": "region failing"},
        }

    def page(alertname: str, object_id: str, region_id: str) -> dict[str, Any]:
        return {
            "labels": {
                "alertname": alertname,
                "severity": "critical",
                "account": "prod",
                "region_id": region_id,
                "physical_connection_id": object_id,
            },
            "annotations": {"summary": "page"},
        }

    sources = [
        region("ExpressConnectRegionDown", "cn-hangzhou", "physical_connections"),
        region("ExpressConnectDataStale", "cn-shanghai", "virtual_border_routers"),
        region("ExpressConnectRegionDown", "cn-qingdao", "traffic"),
    ]
    locked = "ExpressConnectPhysicalConnectionFinancialLocked"
    bgp = "ExpressConnectBgpSessionDown"
    saturated = "ExpressConnectLineSaturated"
    held = [
        page(locked, "pc-hz", "cn-hangzhou"),
        page(bgp, "bgp-sh", "cn-shanghai"),
        page(saturated, "pc-qd", "cn-qingdao"),
    ]
    passed = [
        page(bgp, "bgp-hz", "cn-hangzhou"),
        page(locked, "pc-sh", "cn-shanghai"),
        page(bgp, "bgp-qd", "cn-qingdao"),
    ]

    def paged() -> set[str]:
        return {a["labels"]["physical_connection_id"] for a in webhook.alerts("pager")}

    with start_alertmanager(alertmanager_config(webhook.url), tmp_path) as am:
        post_alerts(am.url, [*sources, *held, *passed])
        wait_until(lambda: {"bgp-hz", "pc-sh", "bgp-qd"} <= paged(), 30, "the pages not inhibited")
        wait_until(lambda: len(webhook.alerts("chat")) == 3, 30, "the region alerts in chat")
        # A group created after the held-back ones has been flushed (same 1s group_wait), so
        # theirs has been too: had they not been inhibited, they would be here by now.
        post_alerts(am.url, [page("ExpressConnectRedundancyLost", "pc-canary", "cn-beijing")])
        wait_until(lambda: "pc-canary" in paged(), 30, "a page posted after the held-back ones")
        assert paged() == {"bgp-hz", "pc-sh", "bgp-qd", "pc-canary"}

        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for source in sources:
            source["endsAt"] = now
        post_alerts(am.url, [*sources, *held])
        wait_until(
            lambda: {"pc-hz", "bgp-sh", "pc-qd"} <= paged(),
            30,
            "the held-back pages once recovered",
        )


def test_a_critical_alert_holds_back_its_own_warning_only(tmp_path: Path, webhook: Webhook) -> None:
    """The committed severity inhibit rule in a real Alertmanager: while a line saturates
    critically in one direction, the saturation warning for that line and direction stays out of
    chat; the warning for the other direction, another line's, and a warning of another alert
    on the same line go to chat."""

    def alert(
        alertname: str, severity: str, pc_id: str, direction: str | None = None
    ) -> dict[str, Any]:
        labels = {
            "alertname": alertname,
            "severity": severity,
            "account": "prod",
            "region_id": "cn-hangzhou",
            "physical_connection_id": pc_id,
        }
        if direction:
            labels["direction"] = direction
        return {"labels": labels, "annotations": {"summary": "s"}}

    saturated = "ExpressConnectLineSaturated"
    posted = [
        alert(saturated, "critical", "pc-a", "idc_to_vpc"),
        alert(saturated, "warning", "pc-a", "idc_to_vpc"),  # held back
        alert(saturated, "warning", "pc-a", "vpc_to_idc"),
        alert(saturated, "warning", "pc-b", "idc_to_vpc"),
        alert("ExpressConnectVbrDroppingPackets", "warning", "pc-a", "idc_to_vpc"),
    ]

    def in_chat() -> set[tuple[str, str, str]]:
        return {
            (
                a["labels"]["alertname"],
                a["labels"]["physical_connection_id"],
                a["labels"]["direction"],
            )
            for a in webhook.alerts("chat")
        }

    passed = {
        (saturated, "pc-a", "vpc_to_idc"),
        (saturated, "pc-b", "idc_to_vpc"),
        ("ExpressConnectVbrDroppingPackets", "pc-a", "idc_to_vpc"),
    }
    with start_alertmanager(alertmanager_config(webhook.url), tmp_path) as am:
        post_alerts(am.url, posted)
        wait_until(lambda: passed <= in_chat(), 30, "the warnings not held back")
        wait_until(lambda: webhook.alerts("pager"), 30, "the critical page")
        # A group created after the held-back warning's has been flushed: it would be here.
        post_alerts(am.url, [alert(saturated, "warning", "pc-canary", "idc_to_vpc")])
        wait_until(lambda: (saturated, "pc-canary", "idc_to_vpc") in in_chat(), 30, "the canary")
        assert in_chat() == passed | {(saturated, "pc-canary", "idc_to_vpc")}
        assert {key(a) for a in webhook.alerts("pager")} == {(saturated, "pc-a", "idc_to_vpc")}


def test_a_pair_losing_bgp_on_both_legs_is_one_page(tmp_path: Path, webhook: Webhook) -> None:
    """The committed routing in a real Alertmanager, with the labels the rules give: the pair
    alert (on the older leg) holds back both legs' BGP and health-check alerts (the legs share
    redundancy_pair_id), so the pair is one notification group; a BGP session down on an
    unrelated line of the same region is a second group."""

    def alert(alertname: str, pc_id: str, **extra: str) -> dict[str, Any]:
        labels = {
            "alertname": alertname,
            "severity": "critical",
            "account": "prod",
            "region_id": "cn-shanghai",
            "physical_connection_id": pc_id,
            **extra,
        }
        return {"labels": labels, "annotations": {"summary": "s"}}

    pair = {"redundancy_pair_id": "pc-a"}
    posted = [
        alert(
            "ExpressConnectRedundantPairBgpDown",
            "pc-a",
            partner_physical_connection_id="pc-b",
            **pair,
        ),
        alert("ExpressConnectBgpSessionDown", "pc-a", vbr_id="vbr-a", bgp_peer_id="bgp-a", **pair),
        alert("ExpressConnectBgpSessionDown", "pc-b", vbr_id="vbr-b", bgp_peer_id="bgp-b", **pair),
        alert("ExpressConnectVbrHealthCheckLoss", "pc-b", vbr_id="vbr-b", **pair),
        alert("ExpressConnectBgpSessionDown", "pc-other", vbr_id="vbr-o", bgp_peer_id="bgp-o"),
    ]
    with start_alertmanager(alertmanager_config(webhook.url), tmp_path) as am:
        post_alerts(am.url, posted)
        wait_until(lambda: len(webhook.groups("pager")) >= 2, 30, "the two incidents")
        # A group created after the held-back ones has been flushed: they would be here by now.
        post_alerts(am.url, [alert("ExpressConnectRedundancyLost", "pc-canary")])
        wait_until(lambda: len(webhook.groups("pager")) == 3, 30, "the canary")
        paged = {
            (a["labels"]["alertname"], a["labels"]["physical_connection_id"])
            for a in webhook.alerts("pager")
        }
        assert paged == {
            ("ExpressConnectRedundantPairBgpDown", "pc-a"),
            ("ExpressConnectBgpSessionDown", "pc-other"),
            ("ExpressConnectRedundancyLost", "pc-canary"),
        }
        assert sorted(g["physical_connection_id"] for g in webhook.groups("pager").values()) == [
            "pc-a",
            "pc-canary",
            "pc-other",
        ]
