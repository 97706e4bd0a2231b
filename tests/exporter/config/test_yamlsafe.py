"""YAML and ${ENV} edge cases: an alias bomb is refused quickly, loading is thread-safe,
nested defaults are interpolated, errors name the variable and never quote a secret."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exporter.config import MAX_YAML_NODES, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]
SECRET = "TOPSECRET-do-not-print-1234"

ALIAS_BOMB = textwrap.dedent(
    """\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    accounts: [{name: a, regions: all, filters: {Name: *i}}]
    """
)


def _limit_memory() -> None:  # runs in the child before exec
    limit = 1536 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_alias_bomb_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 700
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=30,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 2, result.stderr[-500:]
    assert result.stderr == (
        f"{path}:6:4: YAML aliases expand to more than {MAX_YAML_NODES} values\n"
    )


def test_merge_key_bomb_is_refused(tmp_path: Path) -> None:
    levels = ["a0: &a0 {x: 1, y: 2, z: 3}"]
    for n in range(1, 12):
        refs = ", ".join([f"*a{n - 1}"] * 8)
        levels.append(f"a{n}: &a{n} {{<<: [{refs}]}}")
    path = tmp_path / "merge.yml"
    path.write_text("\n".join(levels) + "\naccounts: []\n")
    with pytest.raises(ConfigError, match="YAML aliases expand to more than"):
        load_config(path)


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text(
        "accounts:\n"
        "  - {name: a, regions: &r [cn-hangzhou, cn-beijing], filters: {Status: &s [Enabled]}}\n"
        "  - {name: b, regions: *r, filters: {Status: *s}}\n"
    )
    config = load_config(path)
    assert config.accounts[1].regions == ("cn-hangzhou", "cn-beijing")


def test_loading_from_threads_gives_each_its_own_result(tmp_path: Path) -> None:
    paths = []
    for n in range(16):
        path = tmp_path / f"c{n}.yml"
        regions = "[cn-hangzou]" if n % 2 else "[cn-hangzhou]"
        path.write_text(f"accounts:\n  - {{name: acct{n}, regions: {regions}}}\n")
        paths.append(path)

    def load(path: Path) -> str:
        try:
            return load_config(path).accounts[0].name
        except ConfigError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(load, paths * 4))
    for n, result in enumerate(results):
        index = n % 16
        if index % 2:
            assert result.startswith(f"{paths[index]}: accounts[0].regions[0]: unknown region")
        else:
            assert result == f"acct{index}"


@pytest.mark.parametrize(
    ("environment", "text", "expected"),
    [
        ({"S": "", "FALLBACK": "fb"}, "${S:-${FALLBACK}}", "fb"),
        ({"FALLBACK": "fb"}, "${S:-${FALLBACK}}", "fb"),
        ({"S": "set"}, "${S:-${FALLBACK}}", "set"),
        ({}, "${S:-${T:-deep}}", "deep"),
        ({}, "x${S:-{a}}y", "x{a}y"),
        ({}, "${S:-$${FALLBACK}}", "${FALLBACK}"),
        ({"S": "${NOT_EXPANDED}"}, "${S}", "${NOT_EXPANDED}"),
        ({}, "cost $$5", "cost $5"),
        ({"S": ""}, "[${S}]", "[]"),
    ],
)
def test_nested_defaults_are_interpolated(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], text: str, expected: str
) -> None:
    for name in ("S", "T", "FALLBACK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config = parse_config(
        {"accounts": [{"name": "a", "regions": "all", "filters": {"Name": text}}]}
    )
    assert config.accounts[0].filters["Name"] == (expected,)


def _secret_config(secret: str) -> dict[str, object]:
    credentials = {"type": "access_key", "access_key_id": "x", "access_key_secret": secret}
    return {"accounts": [{"name": "a", "regions": "all", "credentials": credentials}]}


@pytest.mark.parametrize(
    "secret",
    [f"{SECRET}${{bad name {SECRET}}}", f"{SECRET}${{UNTERMINATED {SECRET}", f"${{{SECRET}}}"],
)
def test_reference_errors_in_a_literal_secret_do_not_quote_it(secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_secret_config(secret))
    message = str(caught.value)
    assert message.startswith("<config>: accounts[0].credentials.access_key_secret: ")
    assert SECRET not in message and "bad name" not in message
    assert "\n" not in message


def test_a_bad_value_from_a_variable_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PS", "abc")
    path = tmp_path / "c.yml"
    path.write_text("api: {page_size: '${PS:-50}'}\naccounts: [{name: a, regions: all}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: api.page_size: expected an integer (value from environment variable PS)"
    )


def test_an_unset_variable_and_other_problems_are_all_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EXPORTER_TEST_UNSET", raising=False)
    data = _secret_config("${EXPORTER_TEST_UNSET}")
    data["api"] = {"page_size": 0}
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.lines == (
        "<config>: accounts[0].credentials.access_key_secret: environment variable"
        " EXPORTER_TEST_UNSET is not set",
        "<config>: api.page_size: must be at least 1",
    )


def test_unquoted_reference_in_a_flow_mapping_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(
        "accounts:\n  - name: a\n    regions: all\n"
        "    credentials: {type: access_key, access_key_id: x, access_key_secret: ${S}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4:")
    assert "YAML syntax error" in message
    assert 'quote values that use ${...} inside {...} or [...], e.g. {key: "${VAR}"}' in message
    assert "\n" not in message


def test_no_hint_when_the_reference_is_quoted(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("accounts:\n  - name: a\n   regions: '${R}'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "quote" not in str(caught.value)
