"""The shipped Alertmanager templates and example receivers, with Debian's amtool: both configs
pass `amtool check-config`, and every template renders, for every shipped alert, without
`<no value>`. The sample alerts are the firing cases of the promtool unit tests (the exact labels
and annotations the rules produce), so an alert added to the rules is rendered here too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.alerts.test_alert_rules import alert_rules, run_tool, unit_cases
from tests.harness import require_binary

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "config" / "alertmanager" / "templates"
CONFIGS = (
    ROOT / "config" / "alertmanager.yml",
    ROOT / "config" / "alertmanager" / "receivers.example.yml",
)
NAMES = (
    "expressconnect.title",
    "expressconnect.text",
    "expressconnect.slack.title",
    "expressconnect.slack.text",
    "expressconnect.email.subject",
    "expressconnect.email.html",
    "expressconnect.pagerduty.description",
    "expressconnect.wechat.message",
)
STARTS = "2026-12-05T09:00:00Z"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_amtool_check_config(config: Path) -> None:
    result = run_tool([require_binary("amtool"), "check-config", str(config)])
    assert "1 templates" in result.stdout


def sample_alerts() -> dict[str, dict[str, Any]]:
    """One firing alert per shipped alert name, as the unit tests pin it."""
    samples: dict[str, dict[str, Any]] = {}
    for case in unit_cases():
        for alert in case.get("exp_alerts") or []:
            name = case["alertname"]
            samples.setdefault(
                name,
                {
                    "labels": {"alertname": name, **alert["exp_labels"]},
                    "annotations": alert["exp_annotations"],
                },
            )
    return samples


def render(tmp_path: Path, alerts: list[dict[str, Any]], status: str, template: str) -> str:
    group = {"account", "region_id", "physical_connection_id"}
    first = alerts[0]["labels"]
    data = {
        "receiver": "pager",
        "status": status,
        "externalURL": "http://127.0.0.1:9093",
        "groupLabels": {k: v for k, v in first.items() if k in group},
        "commonLabels": first,
        "commonAnnotations": {},
        "alerts": [
            {
                "status": status,
                **alert,
                "startsAt": STARTS,
                "endsAt": STARTS if status == "resolved" else "0001-01-01T00:00:00Z",
            }
            for alert in alerts
        ],
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    result = subprocess.run(
        [
            require_binary("amtool"),
            "template",
            "render",
            f"--template.glob={TEMPLATES}/*.tmpl",
            f"--template.data={path}",
            f'--template.text={{{{ template "{template}" . }}}}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_shipped_alert_renders_in_every_template(tmp_path: Path) -> None:
    samples = sample_alerts()
    shipped = {rule["alert"] for rule in alert_rules()}
    assert set(samples) == shipped
    for name, alert in sorted(samples.items()):
        bare = {"labels": {"alertname": name, "severity": "critical"}, "annotations": {}}
        for template in NAMES:
            for alerts, status in (([alert], "firing"), ([alert], "resolved"), ([bare], "firing")):
                text = render(tmp_path, alerts, status, template)
                assert "<no value>" not in text, f"{template} for {name}: {text}"
                assert text.strip(), f"{template} renders nothing for {name}"


def test_a_page_names_the_line_and_links_runbook_dashboard_and_silence(tmp_path: Path) -> None:
    samples = sample_alerts()
    for name, alert in sorted(samples.items()):
        labels, annotations = alert["labels"], alert["annotations"]
        if labels["severity"] != "critical" or "physical_connection_id" not in labels:
            continue
        title = render(tmp_path, [alert], "firing", "expressconnect.title")
        assert f'line "{labels["name"]}"' in title, (name, title)
        if "circuit_code" in labels:
            assert f"circuit {labels['circuit_code']}" in title, (name, title)
        if "bgp_status" in labels:
            assert labels["peer_ip_address"] in title and labels["bgp_status"] in title, title
        text = render(tmp_path, [alert], "firing", "expressconnect.text")
        assert annotations["runbook_url"] in text, name
        assert annotations["dashboard_url"] in text, name
        pc_id = labels["physical_connection_id"]
        assert f"physical_connection_id%3D%22{pc_id}%22" in text, name
