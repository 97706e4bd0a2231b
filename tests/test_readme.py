"""README's examples are the first thing a new user copies: they must work."""

import re
import subprocess
from pathlib import Path

import pytest

from exporter.config import load_config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_demo_then_the_test_command() -> None:
    blocks = re.findall(r"^```sh\n(.*?)^```$", README, flags=re.S | re.M)
    assert "expressconnect-exporter demo" in blocks[0]
    assert (
        "pytest" in blocks[1]
        and "apt-get install -y python3-venv prometheus prometheus-alertmanager" in (blocks[1])
    )


def test_ci_runs_exactly_the_readme_test_command() -> None:
    extracted = subprocess.run(
        ["awk", r"/^```sh$/{n++; next} /^```$/{next} n==2{print; exit}", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    blocks = re.findall(r"^```sh\n(.*?)^```$", README, flags=re.S | re.M)
    assert extracted == blocks[1].strip()
    assert (
        "awk '/^```sh$/{n++; next} /^```$/{next} n==2{print; exit}' README.md"
        in (ROOT / ".ci" / "run").read_text()
    )


def test_readme_configuration_example_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = re.search(r"^```yaml\n(.*?)^```$", README, flags=re.S | re.M)
    assert example is not None
    path = tmp_path / "exporter.yml"
    path.write_text(example.group(1))
    monkeypatch.setenv("PROD_AK_ID", "id")
    monkeypatch.setenv("PROD_AK_SECRET", "secret")
    config = load_config(path)
    assert [a.name for a in config.accounts] == ["prod", "staging"]
    assert config.labels.tags == ("env", "owner")


def _readme_metric_rows() -> dict[str, str]:
    """Metric name → its row, from the README's metrics tables."""
    section = README.split("## Metrics", 1)[1].split("### Example PromQL", 1)[0]
    rows = re.findall(r"^\| `(expressconnect_[a-z_]+)[^`]*` \|(.*)$", section, flags=re.M)
    return dict(rows)


def test_readme_metrics_tables_match_the_family_tables() -> None:
    """Every family the exporter can emit is documented, with its labels, and nothing else."""
    from exporter import regiontable, selfmetrics
    from exporter.collectors import COLLECTORS

    rows = _readme_metric_rows()
    families = [f for c in COLLECTORS for group in c.records for f in group.families]
    expected = {f.name for f in families}
    expected |= {count.name for c in COLLECTORS for count in c.counts}
    expected |= {tally.name for c in COLLECTORS for tally in c.tallies}
    expected |= {h.name for h in regiontable.HEALTH_FAMILIES}
    expected |= {
        value
        for name, value in vars(selfmetrics).items()
        if name.isupper() and isinstance(value, str) and value.startswith("expressconnect_")
    }
    assert set(rows) == expected
    for family in families:
        for label in family.labels:
            assert f"`{label}`" in rows[family.name], (family.name, label)
