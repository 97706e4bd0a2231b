"""Good configurations: defaults, durations, ${ENV} interpolation, overrides, the example file."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from exporter.config import (
    AccessKeyCredentials,
    Config,
    ConfigError,
    DefaultCredentials,
    EcsRamRoleCredentials,
    OidcRoleArnCredentials,
    RamRoleArnCredentials,
    StsCredentials,
    load_config,
    parse_config,
    split_listen_address,
    tag_label_name,
)
from exporter.durations import DurationError, format_duration, parse_duration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config" / "exporter.example.yml"
MINIMAL = {"accounts": [{"name": "prod", "regions": ["cn-hangzhou"]}]}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_defaults_match_the_documented_values() -> None:
    config = parse_config(MINIMAL)
    assert config.web.listen_address == ":9756"
    assert (config.web.listen_host, config.web.listen_port) == (None, 9756)
    assert config.web.telemetry_path == "/metrics"
    assert (config.refresh.interval, config.refresh.timeout, config.refresh.max_staleness) == (
        300.0,
        120.0,
        3600.0,
    )
    assert config.api.endpoint is None
    assert config.api.page_size == 50
    assert config.api.max_requests_per_second == 10.0
    assert config.api.request_timeout == 10.0
    assert config.api.retries == 4
    account = config.accounts[0]
    assert isinstance(account.credentials, DefaultCredentials)
    assert account.regions == ("cn-hangzhou",)
    assert account.filters == {}
    assert config.labels.tags == ()
    assert config.state_file is None
    assert (config.log.level, config.log.format) == ("info", "logfmt")


def test_config_is_frozen() -> None:
    config = parse_config(MINIMAL)
    with pytest.raises(ValidationError):
        config.api.page_size = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("2s", 2.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("1.5s", 1.5),
        ("90", 90.0),
        (45, 45.0),
        (2.5, 2.5),
        (" 10s ", 10.0),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 m", "m", "-1s", "-5", "1y", "1h-30m", True, None, [1]])
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0.5, 1.0, 90.0, 300.0, 5400.0, 86400.0 + 61, 2.25])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_durations_in_config(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            refresh: {interval: 1h30m, timeout: 90s, max_staleness: 2h}
            api: {request_timeout: 1500ms}
            accounts: [{name: a, regions: all}]
            """,
        )
    )
    assert config.refresh.interval == 5400.0
    assert config.refresh.timeout == 90.0
    assert config.refresh.max_staleness == 7200.0
    assert config.api.request_timeout == 1.5
    assert config.accounts[0].regions == "all"
    assert config.region_count() == 0


def test_env_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXP_TEST_ID", "LTAI-from-env")
    monkeypatch.setenv("EXP_TEST_SECRET", "s3cret-from-env")
    monkeypatch.setenv("EXP_TEST_PORT", "19756")
    monkeypatch.setenv("EXP_TEST_EMPTY", "")
    monkeypatch.delenv("EXP_TEST_UNSET", raising=False)
    path = write(
        tmp_path,
        """\
        web: {listen_address: "127.0.0.1:${EXP_TEST_PORT}"}
        api:
          page_size: ${EXP_TEST_PAGE:-25}
          endpoint: "${EXP_TEST_UNSET:-http://127.0.0.1:18080}/{region_id}"
        accounts:
          - name: "${EXP_TEST_UNSET:-prod}"
            credentials:
              type: access_key
              access_key_id: ${EXP_TEST_ID}
              access_key_secret: ${EXP_TEST_SECRET}
            regions: [cn-hangzhou]
            filters: {Name: "cost $$5 ${EXP_TEST_EMPTY:-x}${EXP_TEST_EMPTY}"}
        """,
    )
    config = load_config(path)
    assert config.web.listen_address == "127.0.0.1:19756"
    assert config.api.page_size == 25
    assert config.api.endpoint == "http://127.0.0.1:18080/{region_id}"
    account = config.accounts[0]
    assert account.name == "prod"
    assert isinstance(account.credentials, AccessKeyCredentials)
    assert account.credentials.access_key_id == "LTAI-from-env"
    assert account.credentials.access_key_secret.get_secret_value() == "s3cret-from-env"
    # $$ is a literal $; an empty variable with a default takes the default, without one: ""
    assert account.filters == {"Name": ("cost $5 x",)}
    assert "s3cret-from-env" not in repr(config)
    assert "s3cret-from-env" not in str(config)
    assert "s3cret-from-env" not in config.model_dump_json()


def test_overrides_win_and_are_validated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        web: {listen_address: ":9756"}
        log: {level: info, format: json}
        accounts: [{name: a, regions: all}]
        """,
    )
    config = load_config(path, listen_address="127.0.0.1:1234", log_level="debug")
    assert config.web.listen_address == "127.0.0.1:1234"
    assert (config.log.level, config.log.format) == ("debug", "json")
    with pytest.raises(ConfigError, match=r"web\.listen_address: invalid listen address 'nope'"):
        load_config(path, listen_address="nope")


def test_relative_state_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "exporter.yml"
    path.write_text("state_file: state/ec.json\naccounts: [{name: a, regions: all}]\n")
    assert load_config(path).state_file == tmp_path / "etc" / "state" / "ec.json"
    path.write_text("state_file: /var/lib/ec.json\naccounts: [{name: a, regions: all}]\n")
    assert load_config(path).state_file == Path("/var/lib/ec.json")


def test_every_credentials_type_parses() -> None:
    data = {
        "accounts": [
            {"name": "d", "regions": "all"},
            {"name": "d2", "regions": "all", "credentials": {}},
            {"name": "d3", "regions": "all", "credentials": None},
            {
                "name": "ak",
                "regions": "all",
                "credentials": {
                    "type": "access_key",
                    "access_key_id": "i",
                    "access_key_secret": "s",
                },
            },
            {
                "name": "sts",
                "regions": "all",
                "credentials": {
                    "type": "sts",
                    "access_key_id": "i",
                    "access_key_secret": "s",
                    "security_token": "t",
                },
            },
            {
                "name": "arn",
                "regions": "all",
                "credentials": {
                    "type": "ram_role_arn",
                    "access_key_id": "i",
                    "access_key_secret": "s",
                    "role_arn": "acs:ram::123:role/r",
                    "duration": "2h",
                    "policy": "{}",
                },
            },
            {"name": "ecs", "regions": "all", "credentials": {"type": "ecs_ram_role"}},
            {
                "name": "oidc",
                "regions": "all",
                "credentials": {
                    "type": "oidc_role_arn",
                    "role_arn": "acs:ram::123:role/r",
                    "oidc_provider_arn": "acs:ram::123:oidc-provider/p",
                    "oidc_token_file_path": "/var/run/token",
                },
            },
        ]
    }
    kinds = [type(a.credentials) for a in parse_config(data).accounts]
    assert kinds == [
        DefaultCredentials,
        DefaultCredentials,
        DefaultCredentials,
        AccessKeyCredentials,
        StsCredentials,
        RamRoleArnCredentials,
        EcsRamRoleCredentials,
        OidcRoleArnCredentials,
    ]
    arn = parse_config(data).accounts[5].credentials
    assert isinstance(arn, RamRoleArnCredentials)
    assert arn.duration == 7200.0
    assert arn.role_session_name == "expressconnect-exporter"


def test_filters_single_value_becomes_a_tuple() -> None:
    config = parse_config(
        {
            "accounts": [
                {
                    "name": "a",
                    "regions": "cn-beijing",
                    "filters": {"Status": "Enabled", "LineOperator": ["CT", "CU"]},
                }
            ]
        }
    )
    assert config.accounts[0].regions == ("cn-beijing",)
    assert config.accounts[0].filters == {"Status": ("Enabled",), "LineOperator": ("CT", "CU")}


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":9756", (None, 9756)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("localhost:0", ("localhost", 0)),
        ("[::]:9756", ("::", 9756)),
        ("[::1]:1", ("::1", 1)),
    ],
)
def test_split_listen_address(address: str, expected: tuple[str | None, int]) -> None:
    assert split_listen_address(address) == expected


@pytest.mark.parametrize("address", ["9756", "host:", "host:99999", "::1:80", "[]:80", "a b:1"])
def test_split_listen_address_refuses(address: str) -> None:
    with pytest.raises(ValueError):
        split_listen_address(address)


@pytest.mark.parametrize(
    ("key", "label"),
    [("env", "tag_env"), ("cost-center", "tag_cost_center"), ("a.b/c:d", "tag_a_b_c_d")],
)
def test_tag_label_name(key: str, label: str) -> None:
    assert tag_label_name(key) == label


def test_example_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PROD_ACCESS_KEY_ID",
        "PROD_ACCESS_KEY_SECRET",
        "PARTNER_SOURCE_ACCESS_KEY_ID",
        "PARTNER_SOURCE_ACCESS_KEY_SECRET",
    ):
        monkeypatch.setenv(name, f"example-{name.lower()}")
    config = load_config(EXAMPLE)
    assert isinstance(config, Config)
    assert [a.name for a in config.accounts] == ["prod", "staging", "partner"]
    assert config.labels.tags == ("env", "owner")
    assert config.accounts[0].filters["Status"] == ("Enabled", "Allocated", "Confirmed")
    assert "example-prod_access_key_secret" not in repr(config)


def test_example_config_names_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROD_ACCESS_KEY_ID", "PROD_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PARTNER_SOURCE_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("PARTNER_SOURCE_ACCESS_KEY_SECRET", "y")
    with pytest.raises(ConfigError) as caught:
        load_config(EXAMPLE)
    assert str(caught.value) == (
        f"{EXAMPLE}: accounts[0].credentials.access_key_id: environment variable"
        " PROD_ACCESS_KEY_ID is not set\n"
        f"{EXAMPLE}: accounts[0].credentials.access_key_secret: environment variable"
        " PROD_ACCESS_KEY_SECRET is not set"
    )


def test_example_config_mentions_every_key() -> None:
    """Every field of the model appears in the example, so the example stays the reference."""
    text = EXAMPLE.read_text()
    models: list[type] = [Config]
    seen: set[type] = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            assert f"{name}:" in text, f"{model.__name__}.{name} is not in the example"
            for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
                if hasattr(arg, "model_fields"):
                    models.append(arg)


def test_docker_config_keeps_state_in_the_directory_the_image_creates() -> None:
    config = load_config(ROOT / "deploy" / "docker" / "config.yml")
    assert config.state_file is not None and config.state_file.is_absolute()
    dockerfile = (ROOT / "Dockerfile").read_text()
    created = re.findall(r"install -d [^\n]*?(/\S+)", dockerfile)
    assert str(config.state_file.parent) in created


def test_configuration_docs_cover_the_new_keys_flags_and_readiness() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    keys = ["max_records_per_region", "cms_endpoint", "cms_max_requests_per_second"]
    keys += ["collectors:", "physical_connections", "virtual_border_routers", "traffic"]
    keys += ["--config.file", "--web.telemetry-path", "--log.format"]
    for key in keys:
        assert key in text, key
    assert "even when every region is failing" in text
    assert '"${SECRET}"' in text  # quoting ${...} in flow mappings
