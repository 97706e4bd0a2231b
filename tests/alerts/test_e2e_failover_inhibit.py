"""The committed failover-test inhibit rule in a real Alertmanager: while
ExpressConnectFailoverTestRunning fires for a line, that line's own pages stay quiet and the info
alert reaches chat; the partner's pages, the pair-wide pages and another region's page for the
same line ID still page; once the test window closes, the held-back page goes out."""

from __future__ import annotations

import time
from typing import Any

import pytest

from alerts import resilience
from tests.alerts.test_e2e_alerts import (
    Webhook,
    alertmanager_config,
    post_alerts,
    webhook,  # noqa: F401  (the fixture)
)
from tests.harness import start_alertmanager, wait_until

pytestmark = pytest.mark.e2e


def alert(name: str, severity: str, pc_id: str, region_id: str = "cn-hangzhou") -> dict[str, Any]:
    labels = {
        "alertname": name,
        "severity": severity,
        "account": "prod",
        "region_id": region_id,
        "physical_connection_id": pc_id,
    }
    return {"labels": labels, "annotations": {"summary": "s"}}


def test_a_failover_test_holds_back_its_lines_pages_only(tmp_path: Any, webhook: Webhook) -> None:  # noqa: F811
    running = alert("ExpressConnectFailoverTestRunning", "info", "pc-a")
    held = [alert(name, "critical", "pc-a") for name in resilience.HELD_BACK]
    passed = [
        alert("ExpressConnectBgpSessionDown", "critical", "pc-b"),  # the partner
        alert("ExpressConnectRedundancyLost", "critical", "pc-a"),  # pair-wide
        alert("ExpressConnectRedundantPairBgpDown", "critical", "pc-a"),  # pair-wide
        alert("ExpressConnectBgpSessionDown", "critical", "pc-a", "cn-shanghai"),
    ]

    def paged() -> set[tuple[str, str, str]]:
        return {
            (
                a["labels"]["alertname"],
                a["labels"]["physical_connection_id"],
                a["labels"]["region_id"],
            )
            for a in webhook.alerts("pager")
        }

    expected = {
        (a["labels"]["alertname"], a["labels"]["physical_connection_id"], a["labels"]["region_id"])
        for a in passed
    }
    with start_alertmanager(alertmanager_config(webhook.url), tmp_path) as am:
        post_alerts(am.url, [running, *held, *passed])
        wait_until(lambda: expected <= paged(), 30, "the pages not held back")
        wait_until(lambda: webhook.alerts("chat"), 30, "the failover test info in chat")
        assert {a["labels"]["alertname"] for a in webhook.alerts("chat")} == {
            "ExpressConnectFailoverTestRunning"
        }
        # A group created after the held-back ones has been flushed (same 1s group_wait), so
        # theirs has been too: had they not been inhibited, they would be here by now.
        canary = alert("ExpressConnectPhysicalConnectionDown", "critical", "pc-canary")
        post_alerts(am.url, [canary])
        wait_until(lambda: any(p[1] == "pc-canary" for p in paged()), 30, "the canary page")
        assert {p for p in paged() if p[1] == "pc-a" and p[2] == "cn-hangzhou"} == {
            ("ExpressConnectRedundancyLost", "pc-a", "cn-hangzhou"),
            ("ExpressConnectRedundantPairBgpDown", "pc-a", "cn-hangzhou"),
        }

        # The test window closes: the same faults page.
        running["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        post_alerts(am.url, [running, *held])
        names = set(resilience.HELD_BACK)
        wait_until(
            lambda: names <= {p[0] for p in paged() if p[1] == "pc-a"},
            30,
            "the held-back pages once the test window closed",
        )
