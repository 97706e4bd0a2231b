"""Kubernetes manifests, the generated PrometheusRule, the systemd unit and the RAM policy."""

from __future__ import annotations

import configparser
import glob
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from exporter.webconfig import parse_web_config
from tests.harness import require_binary

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
NAMESPACE = "expressconnect-exporter"
API_VERSIONS = {
    "Namespace": "v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def all_objects() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in documents(path)]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        o
        for o in all_objects()
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def test_every_manifest_parses_with_sane_kind_and_api_version() -> None:
    objects = all_objects()
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == sorted(API_VERSIONS)
    for obj in objects:
        assert obj["apiVersion"] == API_VERSIONS[obj["kind"]], obj["kind"]
        if obj["kind"] == "Kustomization":
            continue
        meta = obj["metadata"]
        assert meta["name"]
        assert meta["labels"]["app.kubernetes.io/name"] == "expressconnect-exporter"
        if obj["kind"] != "Namespace":
            assert meta["namespace"] == NAMESPACE, (obj["kind"], meta["name"])


def test_kustomization_lists_every_manifest_but_the_example_secrets() -> None:
    kustomization = one("Kustomization")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.example.yaml"}


def test_deployment_is_locked_down_and_probed() -> None:
    deployment = one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    port_names = {p["name"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in port_names
        assert container[probe]["httpGet"]["scheme"] == "HTTPS"

    # Every mount has a volume, every volume names an object shipped here or an example Secret.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts.values()) == set(volumes)
    assert all("subPath" not in m for m in container["volumeMounts"])  # updates must propagate
    config_map = volumes[mounts["/etc/expressconnect-exporter"]]["configMap"]["name"]
    assert "config.yml" in one("ConfigMap", config_map)["data"]
    args = container["args"]
    assert args[args.index("--config") + 1] == "/etc/expressconnect-exporter/config.yml"
    web_config_path = Path(args[args.index("--web.config.file") + 1])
    web_volume = volumes[mounts[str(web_config_path.parent)]]
    assert web_config_path.name in example_secret(web_volume["secret"]["secretName"])
    assert one("ServiceAccount", pod["serviceAccountName"])
    for source in container["envFrom"]:
        example_secret(source["secretRef"]["name"])


def example_secret(name: str) -> dict[str, str]:
    secrets = [d for d in documents(K8S / "secret.example.yaml") if d["metadata"]["name"] == name]
    assert len(secrets) == 1, name
    data: dict[str, str] = secrets[0]["stringData"]
    return data


def test_example_web_config_is_valid_and_matches_the_scrape_password() -> None:
    web = parse_web_config(example_secret("expressconnect-exporter-web")["web-config.yml"])
    scrape = example_secret("expressconnect-exporter-scrape-auth")
    deployment = one("Deployment")["spec"]["template"]["spec"]
    container = deployment["containers"][0]
    hashed = web.basic_auth_users[scrape["username"]]
    assert bcrypt.checkpw(scrape["password"].encode(), hashed.encode())
    # What the probes use, and every other probe path the exporter serves.
    probes = {container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
    assert probes <= {"/healthz", "/readyz", "/-/healthy", "/-/ready"}
    assert set(web.unauthenticated_paths) == {"/healthz", "/readyz", "/-/healthy", "/-/ready"}
    tls = web.tls_server_config
    mounts = {m["name"]: m["mountPath"] for m in deployment["containers"][0]["volumeMounts"]}
    tls_secret = {v["name"]: v for v in deployment["volumes"]}["tls"]["secret"]["secretName"]
    keys = example_secret(tls_secret)
    for path in (tls.cert_file, tls.key_file):
        assert Path(path).parent == Path(mounts["tls"]) and Path(path).name in keys


@pytest.mark.parametrize(
    "config",
    ["configmap", "docker"],
)
def test_shipped_exporter_configs_pass_check_config(config: str, tmp_path: Path) -> None:
    if config == "configmap":
        path = tmp_path / "config.yml"
        path.write_text(one("ConfigMap")["data"]["config.yml"])
    else:
        path = ROOT / "deploy" / "docker" / "config.yml"
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config", str(path), "--check-config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("config OK")


def test_service_and_service_monitor_line_up_with_the_alert_rules() -> None:
    deployment = one("Deployment")
    service = one("Service")
    monitor = one("ServiceMonitor")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {
        p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert all(p["targetPort"] in container_ports for p in service_ports.values())
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in service_ports
    assert endpoint["scheme"] == "https" and endpoint["path"] == "/metrics"
    assert endpoint["tlsConfig"]["ca"]["secret"]["key"] == "ca.crt"
    assert endpoint["basicAuth"]["password"]["name"] == "expressconnect-exporter-scrape-auth"
    example_secret(endpoint["basicAuth"]["password"]["name"])
    # The rules select job="expressconnect": the ServiceMonitor must produce that job label.
    rules_text = "".join(Path(p).read_text() for p in glob.glob(str(ROOT / "config/alerts/*.yml")))
    assert 'job="expressconnect"' in rules_text
    assert {"action": "replace", "targetLabel": "job", "replacement": "expressconnect"} in endpoint[
        "relabelings"
    ]


def test_rrsa_namespace_label_and_service_account_role() -> None:
    namespace = one("Namespace")
    assert namespace["metadata"]["labels"]["pod-identity.alibabacloud.com/injection"] == "on"
    account = one("ServiceAccount")
    assert account["metadata"]["annotations"]["pod-identity.alibabacloud.com/role-name"]


def test_prometheus_rule_is_exactly_the_committed_rule_files() -> None:
    committed = [
        group
        for path in sorted((ROOT / "config" / "alerts").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    ]
    assert committed, "no alert rules committed under config/alerts"
    assert one("PrometheusRule")["spec"]["groups"] == committed


def test_prometheus_rule_generator_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(K8S / "generate_prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ram_policy_grants_exactly_the_describe_actions_the_collectors_call() -> None:
    """Read-only actions only. The traffic collector calls CloudMonitor's DescribeMetricLast,
    whose RAM action CloudMonitor documents as cms:QueryMetricLast: both spellings are
    granted, so whichever the service checks is allowed. The CEN action's RAM namespace is
    ``cen:`` (the API product is Cbn)."""
    policy = json.loads((ROOT / "deploy" / "ram-policy.json").read_text())
    assert policy["Version"] == "1"
    (statement,) = policy["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": [
            "vpc:DescribePhysicalConnections",
            "vpc:DescribeRegions",
            "vpc:DescribeVirtualBorderRouters",
            "vpc:DescribeBgpPeers",
            "vpc:DescribeFailoverTestJobs",
            "vpc:DescribeVbrHa",
            "cms:DescribeMetricLast",
            "cms:QueryMetricLast",
            "cen:DescribeCenVbrHealthCheck",
        ],
        "Resource": "*",
    }


UNIT = ROOT / "deploy" / "systemd" / "expressconnect-exporter.service"


def test_systemd_unit_is_hardened() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    service = parser["Service"]
    assert service["User"] == "expressconnect-exporter"
    assert "--web.config.file" in service["ExecStart"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "StateDirectory": "expressconnect-exporter",
    }.items():
        assert service[key] == value, key
    # Room for many scrapers and probes: at the limit accept() fails and clients hang.
    assert int(service["LimitNOFILE"]) >= 65536
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze")
    # Same unit, with a binary that exists here in place of the installed console script.
    unit = tmp_path / UNIT.name
    unit.write_text(
        UNIT.read_text().replace(
            "/opt/expressconnect-exporter/bin/expressconnect-exporter", "/bin/true"
        )
    )
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
