"""``metrics: {allow, deny}`` and ``--metric-allowlist`` / ``--metric-denylist``: validation.

A pattern is checked at load: it must be a regular expression and match at least one family
of the collectors' tables or the exporter's own; one line per problem, with a did-you-mean.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import cli
from exporter.collectors import COLLECTORS
from exporter.config import ConfigError, load_config, parse_config
from exporter.metricfilter import every_family

ACCOUNT = {"name": "prod", "regions": ["cn-hangzhou"]}


def parse(metrics: Any = None, **flags: Any) -> Any:
    data: dict[str, Any] = {"accounts": [dict(ACCOUNT)]}
    if metrics is not None:
        data["metrics"] = metrics
    return parse_config(data, "exporter.yml", **flags)


def problems(metrics: Any, **flags: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse(metrics, **flags)
    return caught.value.lines


def test_the_default_keeps_every_family() -> None:
    config = parse()
    assert config.metrics.allow == () and config.metrics.deny == ()
    assert all(config.metrics.family_filter.keeps(name) for name in every_family(COLLECTORS))


@pytest.mark.parametrize("name", every_family(COLLECTORS))
@pytest.mark.parametrize("key", ["allow", "deny"])
def test_every_family_name_alone_is_valid_in_either_list(key: str, name: str) -> None:
    config = parse({key: [name]})
    assert getattr(config.metrics, key) == (name,)


def test_a_bad_regular_expression_is_one_line_at_its_path() -> None:
    lines = problems({"deny": ["expressconnect_vbr_info", "expressconnect_bgp_(peer"]})
    assert len(lines) == 1
    assert lines[0].startswith("exporter.yml: metrics.deny[1]: invalid regular expression")
    assert "'expressconnect_bgp_(peer'" in lines[0]


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        ("expressconnect_vbr_infp", "expressconnect_vbr_info"),  # a typo: the closest name
        ("expressconnect_vbr_inf", "expressconnect_vbr_info"),  # starts one name only
        ("expressconnect_vbr", "expressconnect_vbr.*"),  # starts several: anchored, add .*
    ],
)
def test_a_pattern_matching_no_family_is_an_error_with_a_did_you_mean(
    pattern: str, hint: str
) -> None:
    lines = problems({"allow": ["expressconnect_region_up", pattern]})
    assert lines == (
        f"exporter.yml: metrics.allow[1]: pattern {pattern!r} matches no metric family "
        f"(a pattern matches the whole name) (did you mean {hint!r}?)",
    )


def test_every_bad_pattern_is_reported_in_one_run() -> None:
    lines = problems({"allow": ["nothing_at_all"], "deny": ["(", "expressconnect_vbr_infp"]})
    assert len(lines) == 3
    assert {line.split(": ")[1] for line in lines} == {
        "metrics.allow[0]",
        "metrics.deny[0]",
        "metrics.deny[1]",
    }
    assert "did you mean" not in next(line for line in lines if "metrics.allow" in line)


@pytest.mark.parametrize(
    ("metrics", "problem"),
    [
        ({"deny": "expressconnect_vbr_info"}, "(write [pattern] for one pattern)"),
        ({"allow": [""]}, "expected a non-empty regular expression"),
        ({"allow": [3]}, "expected a non-empty regular expression"),
        ({"alow": ["x"]}, "unknown key (did you mean 'allow'?)"),
    ],
)
def test_malformed_sections(metrics: Any, problem: str) -> None:
    lines = problems(metrics)
    assert len(lines) == 1 and lines[0].endswith(problem), lines


def test_the_flags_override_their_yaml_key_only(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yml"
    data = {
        "accounts": [ACCOUNT],
        "metrics": {"allow": ["expressconnect_vbr_.*"], "deny": ["expressconnect_vbr_info"]},
    }
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, metric_denylist=["expressconnect_vbr_status"])
    assert config.metrics.allow == ("expressconnect_vbr_.*",)
    assert config.metrics.deny == ("expressconnect_vbr_status",)
    config = load_config(path, metric_allowlist=[])  # an empty flag clears the key
    assert config.metrics.allow == () and config.metrics.deny == ("expressconnect_vbr_info",)
    with pytest.raises(ConfigError) as caught:
        load_config(path, metric_allowlist=["expressconnect_vbr_infp"])
    assert caught.value.path == "metrics.allow[0]"


def test_flags_split_on_commas_as_kube_state_metrics_does() -> None:
    allow = "expressconnect_vbr_.*, expressconnect_bgp_peer_info,"
    argv = ["--metric-allowlist", allow, "--config", "x.yml", "--metric-denylist", ""]
    parsed = cli.build_parser().parse_args(argv)
    assert parsed.metric_allowlist == ["expressconnect_vbr_.*", "expressconnect_bgp_peer_info"]
    assert parsed.metric_denylist == []


def test_check_config_with_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text(yaml.safe_dump({"accounts": [ACCOUNT]}))
    argv = ["--config", str(path), "--check-config"]
    assert cli.main([*argv, "--metric-denylist", "expressconnect_vbr_.*"]) == cli.EXIT_OK
    assert cli.main([*argv, "--metric-denylist", "expressconnect_vbr_infp"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}: metrics.deny[0]: pattern 'expressconnect_vbr_infp' matches no metric family "
        "(a pattern matches the whole name) (did you mean 'expressconnect_vbr_info'?)"
    ]


def test_the_example_config_and_docs_name_the_section() -> None:
    root = Path(__file__).resolve().parents[3]
    example = yaml.safe_load((root / "config" / "exporter.example.yml").read_text())
    assert set(example["metrics"]) == {"allow", "deny"}
    docs = (root / "docs" / "configuration.md").read_text()
    for needle in ("--metric-allowlist", "--metric-denylist", "metrics.allow", "metrics.deny"):
        assert needle in docs


def test_the_documented_example_is_valid_and_its_error_lines_are_real() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text()
    section = docs.split("## Metrics: allow and deny lists", 1)[1].split("\n## ", 1)[0]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse(yaml.safe_load(example)["metrics"])
    assert not config.metrics.family_filter.keeps("expressconnect_vbr_health_check_info")
    assert config.metrics.family_filter.keeps("expressconnect_vbr_health_check_loss_ratio")
    block = re.search(r"\n  ```\n(.*?)\n  ```", section, flags=re.S)  # the error lines
    assert block is not None
    shown = [line.strip() for line in block.group(1).splitlines()]
    got = problems({"allow": ["expressconnect_vbr"]})
    got += problems({"deny": ["expressconnect_vbr_infp", "expressconnect_bgp_(peer"]})
    assert sorted(shown) == sorted(got)
