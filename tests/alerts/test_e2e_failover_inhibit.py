"""The committed failover-test inhibit rule in a real Alertmanager: while
ExpressConnectFailoverTestRunning fires for a line, that line's own pages stay quiet and the info
alert reaches chat; the partner's pages, the pair-wide pages and another region's page for the
same line ID still page; once the test window closes, the held-back pages go out. The alerts
carry the labels the rules give them (pair key, VBR): without them Alertmanager counts a missing
label as equal, and a pair alert would hold back every leg alert of the region.

The same fault driven end to end (simulator, exporter, Prometheus, Alertmanager) is
test_e2e_alerts.py's failover test case."""

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


def alert(
    name: str, severity: str, pc_id: str, region_id: str = "cn-hangzhou", **extra: str
) -> dict[str, Any]:
    labels = {
        "alertname": name,
        "severity": severity,
        "account": "prod",
        "region_id": region_id,
        "physical_connection_id": pc_id,
        **extra,
    }
    return {"labels": labels, "annotations": {"summary": "s"}}


def test_a_failover_test_holds_back_its_lines_pages_only(tmp_path: Any, webhook: Webhook) -> None:  # noqa: F811
    """Labels as the rules give them (issue 18): every alert about a line carries its ID, VBR
    alerts their VBR, legs of a pair the pair key. Each held-back alert sits on its own line
    under test (so no other cause on the same line holds it back once the window closes); pair
    pc-a/pc-b has a test on pc-a and pc-b's session down; pair pc-c/pc-d has a test on pc-c
    and is lost as a whole (pair-wide pages on its older leg pc-c)."""
    lines = [f"pc-held-{i}" for i in range(len(resilience.HELD_BACK))]
    tested = ["pc-a", "pc-c", *lines]
    running = [alert("ExpressConnectFailoverTestRunning", "info", pc) for pc in tested]
    held = [
        alert(name, "critical", pc, vbr_id=f"vbr-{pc}")
        for name, pc in zip(resilience.HELD_BACK, lines, strict=True)
    ]
    passed = [
        # the partner of a line under test
        alert(
            "ExpressConnectBgpSessionDown",
            "critical",
            "pc-b",
            vbr_id="vbr-b",
            redundancy_pair_id="pc-a",
        ),
        # pair-wide, on a pair one of whose legs is under test
        alert("ExpressConnectRedundancyLost", "critical", "pc-c", redundancy_pair_id="pc-c"),
        alert("ExpressConnectRedundantPairBgpDown", "critical", "pc-c", redundancy_pair_id="pc-c"),
        # the same line ID in another region
        alert("ExpressConnectBgpSessionDown", "critical", "pc-a", "cn-shanghai", vbr_id="vbr-s"),
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
        post_alerts(am.url, [*running, *held, *passed])
        wait_until(lambda: expected <= paged(), 30, "the pages not held back")
        wait_until(lambda: len(webhook.alerts("chat")) == len(tested), 30, "the tests in chat")
        assert {a["labels"]["alertname"] for a in webhook.alerts("chat")} == {
            "ExpressConnectFailoverTestRunning"
        }
        # A group created after the held-back ones has been flushed (same 1s group_wait), so
        # theirs has been too: had they not been inhibited, they would be here by now.
        canary = alert("ExpressConnectPhysicalConnectionDown", "critical", "pc-canary")
        post_alerts(am.url, [canary])
        wait_until(lambda: any(p[1] == "pc-canary" for p in paged()), 30, "the canary page")
        assert paged() == expected | {
            ("ExpressConnectPhysicalConnectionDown", "pc-canary", "cn-hangzhou")
        }

        # The test windows close: the same faults page.
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for test in running:
            test["endsAt"] = now
        post_alerts(am.url, [*running, *held])
        names = set(resilience.HELD_BACK)
        wait_until(
            lambda: names <= {p[0] for p in paged() if p[1] in lines},
            30,
            "the held-back pages once the test window closed",
        )
