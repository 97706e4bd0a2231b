"""The table of bad configurations: each gives exactly one line naming the YAML path and problem,
through ``load_config`` and through ``python -m exporter --check-config`` (status 2, no traceback).
"""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from exporter.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]
SECRET = "TOPSECRET-do-not-print-1234"

GOOD_ACCOUNT = """\
accounts:
  - name: prod
    credentials:
      {type: access_key, access_key_id: AKID, access_key_secret: TOPSECRET-do-not-print-1234}
    regions: [cn-hangzhou]
"""

# (case id, YAML text, the expected error after "<file>: "; "{file}" stands for the path)
CASES: list[tuple[str, str, str]] = [
    (
        "unknown-region",
        """\
        accounts:
          - name: prod
            regions: [cn-hangzhou]
          - name: dev
            regions: [cn-hangzou]
        """,
        "{file}: accounts[1].regions[0]: unknown region 'cn-hangzou' (did you mean 'cn-hangzhou'?)",
    ),
    (
        "region-listed-twice",
        "accounts: [{name: a, regions: [cn-beijing, cn-shanghai, cn-beijing]}]\n",
        "{file}: accounts[0].regions[2]: region 'cn-beijing' is listed twice",
    ),
    (
        "regions-empty",
        "accounts: [{name: a, regions: []}]\n",
        '{file}: accounts[0].regions: must list at least one region (or be "all")',
    ),
    (
        "regions-missing",
        "accounts: [{name: a}]\n",
        "{file}: accounts[0].regions: missing required key",
    ),
    ("accounts-missing", "web: {}\n", "{file}: accounts: missing required key"),
    ("accounts-empty", "accounts: []\n", "{file}: accounts: at least one account is required"),
    (
        "accounts-not-a-list",
        "accounts: prod\n",
        "{file}: accounts: expected a list",
    ),
    (
        "account-name-twice",
        "accounts: [{name: a, regions: all}, {name: a, regions: all}]\n",
        "{file}: accounts[1].name: account name 'a' is used twice",
    ),
    (
        "account-name-invalid",
        "accounts: [{name: 'prod west', regions: all}]\n",
        "{file}: accounts[0].name: invalid account name 'prod west': use 1-64 letters, digits,"
        " '_', '.' or '-', starting with a letter or digit",
    ),
    (
        "unknown-top-level-key",
        GOOD_ACCOUNT + "refesh: {interval: 1m}\n",
        "{file}: refesh: unknown key (did you mean 'refresh'?)",
    ),
    (
        "misspelt-web-key",
        GOOD_ACCOUNT + "web: {listen_adress: ':9756'}\n",
        "{file}: web.listen_adress: unknown key (did you mean 'listen_address'?)",
    ),
    (
        "listen-address-no-port",
        GOOD_ACCOUNT + "web: {listen_address: localhost}\n",
        "{file}: web.listen_address: invalid listen address 'localhost': expected host:port,"
        " e.g. ':9756'",
    ),
    (
        "listen-address-ipv6-unbracketed",
        GOOD_ACCOUNT + "web: {listen_address: '::1:9756'}\n",
        "{file}: web.listen_address: invalid listen address '::1:9756': write IPv6 hosts in"
        " brackets, e.g. '[::]:9756'",
    ),
    (
        "telemetry-path-relative",
        GOOD_ACCOUNT + "web: {telemetry_path: metrics}\n",
        "{file}: web.telemetry_path: must start with '/', got 'metrics'",
    ),
    (
        "bad-duration",
        GOOD_ACCOUNT + "refresh: {interval: 5 minutes}\n",
        "{file}: refresh.interval: invalid duration '5 minutes' (use a number of seconds or units"
        " ms, s, m, h, d, e.g. 500ms, 30s, 5m, 1h30m)",
    ),
    (
        "interval-too-short",
        GOOD_ACCOUNT + "refresh: {interval: 500ms, timeout: 100ms}\n",
        "{file}: refresh.interval: must be at least 1s",
    ),
    (
        "timeout-longer-than-interval",
        GOOD_ACCOUNT + "refresh: {interval: 1m, timeout: 90s}\n",
        "{file}: refresh.timeout: 1m30s must not exceed refresh.interval (1m): passes of one"
        " region would overlap",
    ),
    (
        "staleness-below-interval",
        GOOD_ACCOUNT + "refresh: {interval: 10m, max_staleness: 5m}\n",
        "{file}: refresh.max_staleness: 5m must be at least refresh.interval (10m): series would"
        " drop between two good passes",
    ),
    (
        "request-timeout-beyond-pass-timeout",
        GOOD_ACCOUNT + "refresh: {timeout: 30s}\napi: {request_timeout: 1m}\n",
        "{file}: api.request_timeout: 1m must not exceed refresh.timeout (30s)",
    ),
    (
        "page-size-too-big",
        GOOD_ACCOUNT + "api: {page_size: 100}\n",
        "{file}: api.page_size: must be at most 50",
    ),
    (
        "page-size-zero",
        GOOD_ACCOUNT + "api: {page_size: 0}\n",
        "{file}: api.page_size: must be at least 1",
    ),
    (
        "page-size-not-a-number",
        GOOD_ACCOUNT + "api: {page_size: fifty}\n",
        "{file}: api.page_size: expected an integer",
    ),
    (
        "retries-too-many",
        GOOD_ACCOUNT + "api: {retries: 50}\n",
        "{file}: api.retries: must be at most 20",
    ),
    (
        "rate-zero",
        GOOD_ACCOUNT + "api: {max_requests_per_second: 0}\n",
        "{file}: api.max_requests_per_second: must be greater than 0",
    ),
    (
        "endpoint-not-http",
        GOOD_ACCOUNT + "api: {endpoint: 'ftp://127.0.0.1:18080'}\n",
        "{file}: api.endpoint: invalid endpoint 'ftp://127.0.0.1:18080': expected an http:// or"
        " https:// URL",
    ),
    (
        "endpoint-unknown-placeholder",
        GOOD_ACCOUNT + "api: {endpoint: 'https://vpc.{region}.example.com'}\n",
        "{file}: api.endpoint: invalid endpoint 'https://vpc.{region}.example.com': the only"
        " placeholder is {region_id}",
    ),
    (
        "endpoint-with-password",
        GOOD_ACCOUNT + "api: {endpoint: 'http://user:hunter2pass@127.0.0.1:1'}\n",
        "{file}: api.endpoint: invalid endpoint: user info (user:password@) is not allowed",
    ),
    (
        "credentials-type-unknown",
        "accounts: [{name: a, regions: all, credentials: {type: accesskey}}]\n",
        "{file}: accounts[0].credentials.type: unknown credentials type 'accesskey' (one of:"
        " default, access_key, sts, ram_role_arn, ecs_ram_role, oidc_role_arn)",
    ),
    (
        "credentials-without-type",
        "accounts: [{name: a, regions: all, credentials: {access_key_id: x}}]\n",
        "{file}: accounts[0].credentials: 'type' is required when credentials are not empty"
        " (one of: default, access_key, sts, ram_role_arn, ecs_ram_role, oidc_role_arn)",
    ),
    (
        "credentials-secret-missing",
        "accounts: [{name: a, regions: all, credentials: {type: access_key, access_key_id: x}}]\n",
        "{file}: accounts[0].credentials.access_key_secret: missing required key",
    ),
    (
        "sts-token-missing",
        "accounts:\n  - name: a\n    regions: all\n    credentials: {type: sts, access_key_id: x,"
        " access_key_secret: TOPSECRET-do-not-print-1234}\n",
        "{file}: accounts[0].credentials.security_token: missing required key",
    ),
    (
        "credentials-unknown-field",
        "accounts:\n  - name: a\n    regions: all\n    credentials: {type: ecs_ram_role,"
        " role: my-role}\n",
        "{file}: accounts[0].credentials.role: unknown key",
    ),
    (
        "ram-role-arn-malformed",
        "accounts:\n  - name: a\n    regions: all\n    credentials: {type: ram_role_arn,"
        " access_key_id: x, access_key_secret: TOPSECRET-do-not-print-1234, role_arn: my-role}\n",
        "{file}: accounts[0].credentials.role_arn: invalid role ARN 'my-role': expected"
        " acs:ram::<account-id>:role/<role-name>",
    ),
    (
        "ram-role-duration-too-short",
        "accounts:\n  - name: a\n    regions: all\n    credentials: {type: ram_role_arn,"
        " access_key_id: x, access_key_secret: TOPSECRET-do-not-print-1234,"
        " role_arn: 'acs:ram::123:role/r', duration: 5m}\n",
        "{file}: accounts[0].credentials.duration: must be between 15m and 12h (STS AssumeRole"
        " limits)",
    ),
    (
        "filter-key-unknown",
        "accounts: [{name: a, regions: all, filters: {Stat: Enabled}}]\n",
        "{file}: accounts[0].filters.Stat: unknown filter key 'Stat' (did you mean 'Status'?)"
        " (one of: PhysicalConnectionId, AccessPointId, Type, LineOperator, Spec, Status, Name,"
        " ProductType)",
    ),
    (
        "filter-too-many-values",
        "accounts: [{name: a, regions: all, filters: {Status: [a, b, c, d, e, f]}}]\n",
        "{file}: accounts[0].filters.Status: at most 5 values are allowed, got 6",
    ),
    (
        "filter-value-not-a-string",
        "accounts: [{name: a, regions: all, filters: {Status: [Enabled, {x: 1}]}}]\n",
        "{file}: accounts[0].filters.Status[1]: expected a string",
    ),
    (
        "filter-too-many-keys",
        "accounts:\n  - name: a\n    regions: all\n    filters: {PhysicalConnectionId: a,"
        " AccessPointId: b, Type: c, LineOperator: d, Spec: e, Status: f}\n",
        "{file}: accounts[0].filters: at most 5 filter keys are allowed, got 6",
    ),
    (
        "tag-labels-collide",
        GOOD_ACCOUNT + "labels: {tags: [cost-center, cost_center]}\n",
        "{file}: labels.tags[1]: tag key 'cost_center' gives label 'tag_cost_center', as does tag"
        " key 'cost-center'",
    ),
    (
        "tag-listed-twice",
        GOOD_ACCOUNT + "labels: {tags: [env, owner, env]}\n",
        "{file}: labels.tags[2]: tag key 'env' is listed twice",
    ),
    (
        "tag-empty",
        GOOD_ACCOUNT + "labels: {tags: [env, '']}\n",
        "{file}: labels.tags[1]: expected a non-empty tag key",
    ),
    (
        "log-level-unknown",
        GOOD_ACCOUNT + "log: {level: verbose}\n",
        "{file}: log.level: must be one of 'debug', 'info', 'warning' or 'error'",
    ),
    (
        "log-format-unknown",
        GOOD_ACCOUNT + "log: {format: text}\n",
        "{file}: log.format: must be one of 'logfmt' or 'json'",
    ),
    (
        "state-file-not-a-path",
        GOOD_ACCOUNT + "state_file: [a, b]\n",
        "{file}: state_file: expected a file path",
    ),
    (
        "env-var-unset",
        "accounts:\n  - name: a\n    regions: all\n    credentials: {type: access_key,"
        " access_key_id: x, access_key_secret: '${EXPORTER_TEST_UNSET_SECRET}'}\n",
        "{file}: accounts[0].credentials.access_key_secret: environment variable"
        " EXPORTER_TEST_UNSET_SECRET is not set",
    ),
    (
        "env-reference-malformed",
        GOOD_ACCOUNT + "state_file: '${not a name}'\n",
        "{file}: state_file: invalid environment reference ${not a name}",
    ),
    (
        "yaml-syntax",
        "accounts:\n  - name: a\n   regions: all\n",
        "{file}:3:4: YAML syntax error: expected <block end>, but found '<block mapping start>'",
    ),
    (
        "yaml-duplicate-key",
        "accounts:\n  - name: a\n    regions: all\n    name: b\n",
        "{file}:4:5: duplicate key 'name'",
    ),
    (
        "yaml-alias-to-itself",
        "accounts:\n  - &a {name: a, regions: all, filters: {Name: [*a]}}\n",
        "{file}: accounts[0].filters.Name[0]: a YAML alias refers to itself",
    ),
    (
        "nested-too-deeply",
        "accounts: " + "[" * 2000 + "]" * 2000 + "\n",
        "{file}: YAML nested too deeply",
    ),
    (
        "collector-unknown",
        GOOD_ACCOUNT + "collectors: {vbr: {enabled: false}}\n",
        "{file}: collectors.vbr: unknown collector 'vbr' (one of: physical_connections,"
        " virtual_border_routers, traffic, health_checks, failover_tests)",
    ),
    (
        "regions-all-in-capitals",
        "accounts: [{name: a, regions: ALL}]\n",
        "{file}: accounts[0].regions: unknown region 'ALL' (did you mean 'all'?)",
    ),
    (
        "cms-endpoint-query",
        GOOD_ACCOUNT + "api: {cms_endpoint: 'https://127.0.0.1/?x=1'}\n",
        "{file}: api.cms_endpoint: invalid endpoint 'https://127.0.0.1/?x=1': no query or"
        " fragment allowed",
    ),
    (
        "yaml-alias-bomb",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\naccounts: [*e]\n",
        "{file}:5:4: YAML aliases expand to more than 100000 values",
    ),
    ("empty-file", "# nothing here\n", "{file}: config is empty"),
    ("top-level-list", "- accounts\n", "{file}: top level must be a mapping, got a list"),
    (
        "section-not-a-mapping",
        GOOD_ACCOUNT + "web: ':9756'\n",
        "{file}: web: expected a mapping",
    ),
]


def _write(tmp_path: Path, case_id: str, text: str) -> Path:
    path = tmp_path / f"{case_id}.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPORTER_TEST_UNSET_SECRET", raising=False)


def test_the_table_is_big_and_distinct() -> None:
    assert len(CASES) >= 20
    assert len({c[0] for c in CASES}) == len(CASES)
    assert len({c[2] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("case_id", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_load_config_error(tmp_path: Path, case_id: str, text: str, expected: str) -> None:
    path = _write(tmp_path, case_id, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message == expected.replace("{file}", str(path))
    assert "\n" not in message
    assert SECRET not in message
    assert SECRET not in repr(caught.value)


@pytest.fixture(scope="module")
def check_config_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    """``--check-config`` on every case, four processes at a time (each is a cold start)."""
    directory = tmp_path_factory.mktemp("bad-configs")
    env = {k: v for k, v in os.environ.items() if k != "EXPORTER_TEST_UNSET_SECRET"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")

    def run(case: tuple[str, str, str]) -> tuple[str, tuple[Path, object]]:
        path = _write(directory, case[0], case[1])
        result = subprocess.run(
            [sys.executable, "-m", "exporter", "--check-config", "--config", str(path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        )
        return case[0], (path, result)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, CASES))


@pytest.mark.parametrize(("case_id", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_check_config_subprocess(
    check_config_runs: dict[str, tuple[Path, subprocess.CompletedProcess[str]]],
    case_id: str,
    text: str,
    expected: str,
) -> None:
    path, result = check_config_runs[case_id]
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == expected.replace("{file}", str(path)) + "\n"
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_random_damage_always_gives_a_config_error_or_a_config() -> None:
    """Thousands of randomly damaged configurations: never any other exception, no secret."""
    rng = random.Random(20260101)
    base: dict[str, Any] = {
        "web": {"listen_address": ":9756", "telemetry_path": "/metrics"},
        "refresh": {"interval": "5m", "timeout": "2m", "max_staleness": "1h"},
        "api": {"endpoint": "http://127.0.0.1:1/{region_id}", "page_size": 50, "retries": 4},
        "accounts": [
            {
                "name": "a",
                "credentials": {
                    "type": "ram_role_arn",
                    "access_key_id": "x",
                    "access_key_secret": SECRET,
                    "role_arn": "acs:ram::1:role/r",
                    "duration": "1h",
                },
                "regions": ["cn-hangzhou"],
                "filters": {"Status": ["Enabled"]},
            }
        ],
        "labels": {"tags": ["env"]},
        "state_file": "/tmp/x",
        "log": {"level": "info", "format": "json"},
    }
    values: list[object] = [None, True, 0, -1, 1.5, float("nan"), float("inf"), "", " ", "x"]
    values += ["all", "$${X}", "${EXPORTER_TEST_UNSET_SECRET:-1}", "5m", [], {}, [1], {"a": 1}]
    values += [{1: 2}, ["cn-hangzhou"], "cn-hangzou", "\u00b2", 10**30, b"bytes", "acs:ram::"]
    outcomes = {"config": 0, "error": 0}
    for _ in range(3000):
        data = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            node: Any = data
            while rng.random() < 0.7:
                keys = list(node) if isinstance(node, dict) else list(range(len(node)))
                children = [k for k in keys if isinstance(node[k], dict | list) and node[k]]
                if not children:
                    break
                node = node[rng.choice(children)]
            value = copy.deepcopy(rng.choice(values))
            if isinstance(node, dict):
                node[rng.choice([*node, "extra", 7])] = value
            else:
                node.append(value)
        try:
            parse_config(data)
            outcomes["config"] += 1
        except ConfigError as error:
            # several problems are several lines, each complete on its own
            assert str(error).split("\n") == list(error.lines)
            assert all(line.startswith("<config>: ") for line in error.lines)
            assert SECRET not in str(error)
            outcomes["error"] += 1
    assert outcomes["config"] > 20 and outcomes["error"] > 1000  # both paths were exercised


SECRET_CASES = {
    # the secret sits on the line YAML complains about
    "syntax-error-on-secret-line": (
        "accounts:\n  - name: a\n    regions: all\n    credentials: {type: access_key,"
        ' access_key_id: x, access_key_secret: "TOPSECRET-do-not-print-1234}\n'
    ),
    "secret-of-wrong-type": (
        "accounts:\n  - name: a\n    regions: all\n    credentials: {type: access_key,"
        " access_key_id: x, access_key_secret: [TOPSECRET-do-not-print-1234]}\n"
    ),
    "secret-next-to-an-error": GOOD_ACCOUNT + "api: {page_size: 500}\n",
    "secret-in-an-unknown-type": (
        "accounts:\n  - name: a\n    regions: all\n    credentials: {type: acces_key,"
        " access_key_id: x, access_key_secret: TOPSECRET-do-not-print-1234}\n"
    ),
    "secret-from-the-environment": (
        "accounts:\n  - name: a\n    regions: [cn-hangzou]\n    credentials: {type: access_key,"
        " access_key_id: x, access_key_secret: '${EXPORTER_TEST_SECRET}'}\n"
    ),
}


@pytest.mark.parametrize("case_id", sorted(SECRET_CASES))
def test_errors_never_echo_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case_id: str
) -> None:
    monkeypatch.setenv("EXPORTER_TEST_SECRET", SECRET)
    path = _write(tmp_path, case_id, SECRET_CASES[case_id])
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert SECRET not in repr(caught.value.__cause__) and caught.value.__suppress_context__
