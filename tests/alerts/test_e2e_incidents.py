"""Two incidents played end to end with the harness of test_e2e_alerts.py: simulator → exporter
(every collector on, the resilience ones included) → Prometheus (the generator's rules with
short `for`/windows) → Alertmanager (the committed routing) → the webhook counting posts per
receiver.

- A failover test on one leg of a redundant pair, started through the simulator's control plane
  (``POST /_sim/failover-tests``), and that leg's BGP session taken down: the info alert
  reaches chat, Alertmanager holds the BGP page back (inhibited by the test), nothing reaches
  the pager; once the test is stopped and its grace period is over, the same fault pages.
- One region's API failing (the simulator answers ServiceUnavailable to every action in
  cn-shanghai): the region alerts reach chat as one notification group, no page at all, even
  once the region's data is older than max_staleness and its series are dropped.

The shortened values (rules: BgpSessionDown `for` 10s, failover test grace 15s, a 2s refresh
interval for the exporter-health thresholds; exporter: 1s refresh, 2s resilience collectors)
keep each run near a minute.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.generate import _config, render
from tests.alerts.test_e2e_alerts import (
    Webhook,
    alertmanager_config,
    critical_ever,
    exporter_config,
    patch,
    prometheus_config,
    webhook,  # noqa: F401  (the fixture)
)
from tests.harness import (
    Proc,
    Prometheus,
    free_port,
    http_get,
    start_alertmanager,
    start_exporter,
    start_prometheus,
    start_simulator,
    wait_until,
)

pytestmark = pytest.mark.e2e

PAIR_A, PAIR_B = "pc-bp1e2edrilla00000001", "pc-bp1e2edrillb00000001"
PEER_A, PEER_B = "bgp-bp1e2edrilla0000001", "bgp-bp1e2edrillb0000001"
SH_LINE, SH_PEER = "pc-uf1e2eregion0000001", "bgp-uf1e2eregion000001"
BGP_DOWN = "ExpressConnectBgpSessionDown"
RUNNING = "ExpressConnectFailoverTestRunning"


def scenario(path: Path) -> Path:
    """A redundant pair in cn-hangzhou and a line in cn-shanghai, each line with a VBR (health
    check on) and one Established BGP session."""
    steps: list[dict[str, Any]] = []
    lines = (
        ("cn-hangzhou", PAIR_A, "hz-drill-a", PEER_A, PAIR_B),
        ("cn-hangzhou", PAIR_B, "hz-drill-b", PEER_B, PAIR_A),
        ("cn-shanghai", SH_LINE, "sh-region", SH_PEER, None),
    )
    for region, pc_id, name, peer, partner in lines:
        line: dict[str, Any] = {"region": region, "id": pc_id, "Name": name}
        if partner:
            line["RedundantPhysicalConnectionId"] = partner
        vbr_id = pc_id.replace("pc-", "vbr-")
        steps += [
            {"at": "0s", "add": line},
            {"at": "0s", "add_vbr": {"connection": pc_id, "id": vbr_id, "peers": 0}},
            {"at": "0s", "add_bgp_peer": {"vbr": vbr_id, "id": peer}},
        ]
    path.write_text(yaml.safe_dump({"description": "e2e incidents", "steps": steps}))
    return path


def rules(path: Path) -> Path:
    config = copy.deepcopy(_config)
    config["for"][BGP_DOWN] = "10s"
    config["failover_test_grace"] = "15s"
    # RegionDown after 2 x 2s, DataStale after 3 x 2s: the region test waits for them.
    config["refresh_interval_seconds"] = 2
    config["collector_interval_seconds"] = {}  # the resilience collectors run every 2s here too
    path.write_text(render(config))
    return path


def exporter_yaml(path: Path, simulator: str) -> Path:
    """test_e2e_alerts.py's exporter config with the resilience collectors every 2s, series of a
    failing region dropped after 5s, and no CloudMonitor traffic (not needed here)."""
    config = yaml.safe_load(exporter_config(path, simulator).read_text())
    config["refresh"]["max_staleness"] = "5s"
    config["collectors"] = {
        "virtual_border_routers": {"interval": "1s"},
        "traffic": {"enabled": False},
        "health_checks": {"interval": "2s"},
        "failover_tests": {"interval": "2s"},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Stack:
    sim: Proc
    prom: Prometheus
    am: Proc


@contextmanager
def stack(tmp_path: Path, hook: Webhook) -> Iterator[Stack]:
    args = ["--seed", "7", "--connections", "0", "--regions", "cn-hangzhou,cn-shanghai"]
    with start_simulator([*args, "--scenario", str(scenario(tmp_path / "scenario.yml"))]) as sim:
        port = free_port()
        cfg = exporter_yaml(tmp_path / "exporter.yml", sim.url)
        am_dir, prom_dir = tmp_path / "am", tmp_path / "prom"
        am_dir.mkdir()
        prom_dir.mkdir()
        rule_file = rules(tmp_path / "rules.yml")
        with (
            start_exporter(cfg, port=port),
            start_alertmanager(alertmanager_config(hook.url), am_dir) as am,
            start_prometheus(
                prometheus_config(f"127.0.0.1:{port}", am.url.removeprefix("http://"), rule_file),
                prom_dir,
            ) as prom,
        ):
            prom.wait_until(
                lambda: prom.query("sum(expressconnect:bgp_session_established) == 3"),
                what="the three BGP sessions Established and watched",
            )
            prom.wait_until(
                lambda: len(prom.query("expressconnect_region_up == 1")) == 8,
                what="both regions read by the four collectors",
            )
            yield Stack(sim, prom, am)


def control(simulator: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """POST to the simulator's control plane."""
    request = urllib.request.Request(
        f"{simulator}/_sim/{path}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def am_alerts(am: str, alertname: str) -> list[dict[str, Any]]:
    query = urllib.parse.quote(f'alertname="{alertname}"')
    alerts: list[dict[str, Any]] = json.loads(http_get(f"{am}/api/v2/alerts?filter={query}"))
    return alerts


def names(hook: Webhook, receiver: str, status: str | None = None) -> set[tuple[str, str]]:
    return {
        (a["labels"]["alertname"], a["labels"].get("physical_connection_id", ""))
        for a in hook.alerts(receiver, status)
    }


def test_a_failover_test_holds_its_lines_bgp_page_until_the_window_closes(
    tmp_path: Path,
    webhook: Webhook,  # noqa: F811
) -> None:
    with stack(tmp_path, webhook) as s:
        job = control(s.sim.url, "failover-tests", {"connections": [PAIR_A], "duration": 3})
        wait_until(
            lambda: (RUNNING, PAIR_A) in names(webhook, "chat", "firing"),
            60,
            "the failover test's info alert in chat",
            interval=0.5,
        )
        patch(s.sim.url, PEER_A, {"BgpStatus": "Idle"}, kind="bgp-peers")

        def held() -> bool:
            alerts = am_alerts(s.am.url, BGP_DOWN)
            return bool(alerts) and all(
                a["labels"]["physical_connection_id"] == PAIR_A
                and a["status"]["state"] == "suppressed"
                and a["status"]["inhibitedBy"]
                for a in alerts
            )

        # Firing in Prometheus (past its `for`), received by Alertmanager and held back there.
        wait_until(held, 60, "the BGP page firing and inhibited in Alertmanager", interval=0.5)
        assert s.prom.query(f'ALERTS{{alertname="{BGP_DOWN}", alertstate="firing"}}')
        assert not webhook.alerts("pager"), "a page reached on-call during the failover test"

        stopped = time.monotonic()
        control(s.sim.url, f"failover-tests/{job['id']}/stop")
        wait_until(
            lambda: (BGP_DOWN, PAIR_A) in names(webhook, "pager", "firing"),
            90,
            "the BGP page once the test window closed",
            interval=0.5,
        )
        assert names(webhook, "pager") == {(BGP_DOWN, PAIR_A)}
        assert all(n.received > stopped for n in webhook.notifications if n.receiver == "pager")
        assert len(webhook.groups("pager")) == 1


def test_a_region_api_failing_is_one_chat_notification_and_no_page(
    tmp_path: Path,
    webhook: Webhook,  # noqa: F811
) -> None:
    with stack(tmp_path, webhook) as s:
        control(s.sim.url, "faults", {"kind": "ServiceUnavailable", "region": "cn-shanghai"})
        region = 'region_id="cn-shanghai"'
        # Every collector's passes fail there, and the data ages out: its series are dropped.
        s.prom.wait_until(
            lambda: len(s.prom.query(f"expressconnect_region_up{{{region}}} == 0")) == 4,
            what="all four collectors failing in cn-shanghai",
        )
        s.prom.wait_until(
            lambda: not s.prom.query(f"expressconnect_physical_connection_info{{{region}}}"),
            what="cn-shanghai's series dropped after max_staleness",
        )
        # Past the longest shortened `for` (10s) with the region down: a symptom page would
        # have been firing by now.
        s.prom.wait_until(
            lambda: s.prom.query(
                f'count_over_time(ALERTS{{alertname="ExpressConnectRegionDown", {region},'
                ' alertstate="firing"}[1m]) >= 20'
            ),
            what="the region down for 20 evaluations",
        )
        wait_until(
            lambda: any(
                a["labels"]["alertname"] == "ExpressConnectRegionDown"
                for a in webhook.alerts("chat")
            ),
            30,
            "the region alert in chat",
        )
        assert not critical_ever(s.prom), "a critical alert was pending or firing"
        assert not webhook.alerts("pager"), "a failing region paged"
        groups = webhook.groups("chat")
        assert list(groups.values()) == [{"account": "prod", "region_id": "cn-shanghai"}]
        assert {a["labels"]["alertname"] for a in webhook.alerts("chat")} <= {
            "ExpressConnectRegionDown",
            "ExpressConnectDataStale",
        }
