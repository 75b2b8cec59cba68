"""deploy/: the systemd unit, the container files and the Kubernetes manifests, checked.

None of them can run here (no systemd as PID 1, no container engine, no cluster), so
each is checked the way its tool would: ``systemd-analyze verify`` and ``security``,
a parse of the Dockerfile and compose file for the essentials, and the Kubernetes
manifests against the API schemas (``kubernetes-validate``, strict: misspelled fields
fail). Every zone they carry must pass ``gslb check``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gslb.cli import main
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "systemd" / "gslb.service"
DOCKERFILE = DEPLOY / "container" / "Dockerfile"
COMPOSE = DEPLOY / "container" / "compose.yaml"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")  # oldest supported by the PDB/probe fields used, newest


# --------------------------------------------------------------------------- systemd


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_runs_gslb_serve_unprivileged_and_hardened() -> None:
    s = unit_settings()
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert one["ExecStart"].startswith("/opt/gslb/bin/gslb serve ")
    assert "--zones /etc/gslb/zones" in one["ExecStart"]
    assert "--state /var/lib/gslb/state.json" in one["ExecStart"]
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert one["Restart"] == "on-failure"
    assert one["DynamicUser"] == "yes" and one["StateDirectory"] == "gslb"
    assert one["AmbientCapabilities"] == one["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }.items():  # fmt: skip
        assert one[key] == value, key
    assert s["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
    assert ":53" in one["Environment"] or any(":53" in e for e in s["Environment"])


@pytest.fixture
def unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this environment's gslb (verify wants it)."""
    gslb = str(Path(sys.executable).with_name("gslb"))
    if not Path(gslb).exists():
        pytest.skip("no gslb executable in this environment")
    unit = tmp_path / "gslb.service"
    unit.write_text(UNIT.read_text().replace("/opt/gslb/bin/gslb", gslb))
    return unit


def test_unit_verifies(unit_here: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    result = subprocess.run([analyze, "verify", str(unit_here)], capture_output=True, text=True)
    # unknown keys and bad values are warnings on stderr with exit status 0
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unit_security_exposure_is_low(unit_here: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit_here)],
        capture_output=True, text=True,
    )  # fmt: skip
    if "--offline" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert level is not None, result.stdout + result.stderr
    assert float(level.group(1)) <= 2.0  # systemd calls up to 2.0 "OK" (1.6 at writing)


# --------------------------------------------------------------------------- container


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_essentials() -> None:
    steps = dockerfile()
    by = lambda name: [args for word, args in steps if word == name]  # noqa: E731
    for base in by("FROM"):
        image = base.split()[0]
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", image), image  # slim, pinned
        assert not image.endswith(":latest")
    user = by("USER")[-1].split(":")[0]
    assert user not in ("root", "0") and steps.index(("USER", by("USER")[-1])) > max(
        i for i, (word, _) in enumerate(steps) if word == "RUN"
    )  # the last RUN happens before dropping root; nothing runs as root after
    (healthcheck,) = by("HEALTHCHECK")
    assert "/healthz" in healthcheck and '"python"' in healthcheck and "curl" not in healthcheck
    exposed = " ".join(by("EXPOSE")).split()
    assert {"53/udp", "53/tcp"} <= set(exposed) and any(p.startswith("8053") for p in exposed)
    runs = " ".join(by("RUN"))
    assert not re.search(r"(curl|wget)[^|;&]*\|\s*(ba|z)?sh", runs)
    assert "pip install" in runs and ".whl" in runs  # the wheel, with its package data
    entry = json.loads(by("ENTRYPOINT")[0])
    cmd = json.loads(by("CMD")[0])
    assert entry == ["gslb", "serve"] and "--http" in cmd and "0.0.0.0:8053" in cmd
    copied = " ".join(by("COPY"))
    assert "data/dbip-city-lite.mmdb.xz" in copied and "zones" in copied


def test_compose_runs_gslb_next_to_demo_backends() -> None:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    gslb = services["gslb"]
    assert gslb["build"]["dockerfile"] == "deploy/container/Dockerfile"
    assert (COMPOSE.parent / gslb["build"]["context"] / gslb["build"]["dockerfile"]).is_file()
    backends = [n for n, svc in services.items() if "demo-backend" in svc.get("entrypoint", [])]
    assert len(backends) >= 2
    for port in ("53/udp", "53/tcp"):
        assert any(p.endswith(port) and p.startswith("127.0.0.1:") for p in gslb["ports"])
    (mount,) = gslb["volumes"]
    source, target, mode = mount.split(":")
    assert target == "/etc/gslb/zones" and mode == "ro"
    zone_dir = COMPOSE.parent / source
    text = "\n".join(p.read_text() for p in zone_dir.glob("*.yaml"))
    for name in backends:  # every backend is probed by the zone
        assert f'target: "{name}:8081"' in text
    assert main(["check", str(zone_dir)]) == 0


# --------------------------------------------------------------------------- kubernetes


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_kubernetes_schemas(version: str) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    kinds = []
    for doc in manifests():
        if doc["kind"] == "Kustomization":
            continue
        kv.validate(doc, version, strict=True)  # raises on any schema violation
        kinds.append(doc["kind"])
    assert sorted(kinds) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "Service"]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests() if d["kind"] == kind]


def test_deployment_probes_resources_and_security() -> None:
    (deployment,) = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert ports["http"]["containerPort"] == 8053
    assert f"--http=0.0.0.0:{ports['http']['containerPort']}" in container["args"]
    dns_port = ports["dns-udp"]["containerPort"]
    assert ports["dns-tcp"]["containerPort"] == dns_port
    assert f"--dns=0.0.0.0:{dns_port}" in container["args"]
    resources = container["resources"]
    assert resources["requests"]["memory"] == "200Mi" and resources["limits"]["memory"] == "300Mi"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]  # 1053 in the pod: nothing to add
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/gslb/zones"]["readOnly"] is True
    assert "--state=/var/lib/gslb/state.json" in container["args"]
    assert "/var/lib/gslb" in mounts  # the state file needs a writable place


def test_service_answers_udp_and_tcp_53_and_pdb_guards_the_pods() -> None:
    (deployment,) = by_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    dns_service = next(s for s in by_kind("Service") if s["metadata"]["name"] == "gslb")
    assert {(p["port"], p["protocol"]) for p in dns_service["spec"]["ports"]} == {
        (53, "UDP"), (53, "TCP"),
    }  # fmt: skip
    assert dns_service["spec"]["externalTrafficPolicy"] == "Local"  # keep resolver addresses
    for service in by_kind("Service"):
        assert service["spec"]["selector"].items() <= labels.items()
    (pdb,) = by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 0 < pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_configmap_zones_pass_check(tmp_path: Path) -> None:
    (configmap,) = by_kind("ConfigMap")
    for name, text in configmap["data"].items():
        (tmp_path / name).write_text(text)
    assert main(["check", str(tmp_path)]) == 0
