"""Doc blocks that restate a file or a family table are held against it: a user copies them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from exporter.collectors import COLLECTORS
from exporter.families import Family

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
POLICY_FILE = ROOT / "deploy" / "ram-policy.json"


def _json_blocks(text: str) -> list[Any]:
    return [json.loads(b) for b in re.findall(r"^```json\n(.*?)^```$", text, flags=re.S | re.M)]


def _policy_actions(policy: Any) -> set[str]:
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
    return set(statement["Action"])


def _policies(text: str) -> list[Any]:
    return [b for b in _json_blocks(text) if isinstance(b, dict) and "Statement" in b]


def test_deploy_doc_prints_the_policy_file() -> None:
    """docs/deploy.md once printed four actions while the file had six: Forbidden on traffic."""
    (printed,) = _policies((ROOT / "docs" / "deploy.md").read_text())
    assert printed == json.loads(POLICY_FILE.read_text())


def test_readme_policies_are_the_file_with_and_without_describe_regions() -> None:
    """The README shows the policy without DescribeRegions (explicit regions) and the full one."""
    full = _policy_actions(json.loads(POLICY_FILE.read_text()))
    printed = [_policy_actions(p) for p in _policies(README)]
    assert printed == [full - {"vpc:DescribeRegions"}, full]


def _families() -> list[Family[Any]]:
    return [f for c in COLLECTORS for group in c.records for f in group.families]


def _carries_tags(family: Family[Any]) -> bool:
    """Whether an ``info`` family appends the configured tag labels (its ``with_tags``)."""
    code = family.extract.__code__
    if "with_tags" not in code.co_freevars or family.extract.__closure__ is None:
        return False
    cell = family.extract.__closure__[code.co_freevars.index("with_tags")]
    return cell.cell_contents is not None


def test_readme_names_every_family_that_carries_tag_labels() -> None:
    tagged = {f.name for f in _families() if _carries_tags(f)}
    assert tagged, "no family carries tags: the detection above is broken"
    (row,) = re.findall(r"^\| `labels\.tags` \|.*$", README, flags=re.M)
    named = set(re.findall(r"`(expressconnect_[a-z_]+)`", row))
    assert named == tagged


def _unknown_labels(text: str, labels: dict[str, set[str]]) -> list[str]:
    """ "`label` on `expressconnect_y`" phrases naming a label family y does not carry."""
    flat = re.sub(r"\s+", " ", text)
    phrases = re.findall(r"`([A-Za-z_]+)` (?:label )?on `(expressconnect_\w+)`", flat)
    return [
        f"{metric}: {label}"
        for label, metric in phrases
        if metric in labels and not label.startswith("tag_") and label not in labels[metric]
    ]


def test_label_on_metric_phrases_in_docs_name_real_labels() -> None:
    """A runbook once told on-call to compare the VBR's `Mtu` on expressconnect_vbr_info."""
    labels = {f.name: set(f.labels) for f in _families()}
    old_runbook = "the VBR's\n`Mtu` on `expressconnect_vbr_info` against the customer router's"
    assert _unknown_labels(old_runbook, labels) == ["expressconnect_vbr_info: Mtu"]
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert _unknown_labels(path.read_text(), labels) == [], path.name


def test_provisioned_datasource_is_not_a_second_default() -> None:
    """Copied into a Grafana that provisions its own default, isDefault: true would clash."""
    (ds_file,) = (ROOT / "grafana" / "provisioning" / "datasources").glob("*.yml")
    for datasource in yaml.safe_load(ds_file.read_text())["datasources"]:
        assert not datasource.get("isDefault", False)
