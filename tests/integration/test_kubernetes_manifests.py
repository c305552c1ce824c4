"""deploy/kubernetes (applied with ``kubectl apply -k deploy``) describes the production topology for a cluster: valid against the Kubernetes
schemas (kubernetes-validate, which ships them) and CloudNativePG's Cluster schema (its CRD, compiled
by kubernetes-models), holding the settings the services need, no secret in the files, the dev stack's
Redis ACLs, and pods that run restricted. (No cluster here: nothing is applied. The Keycloak
operator's CRD is published neither on Maven Central nor on npm or PyPI, so the Keycloak resource is
checked against what the tests know it must say, not against a schema.)"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MODELS = ROOT / ".work" / "tools" / "k8s-models"
#: The Kubernetes release the manifests are written for (a kind or field it lacks fails).
KUBERNETES = "1.33.0"
OPERATOR_KINDS = {"Cluster", "Keycloak"}


def _documents() -> list[dict[str, Any]]:
    """What ``kubectl apply -k deploy`` applies: the resources, and the ConfigMaps its generator
    makes from files (as kustomize makes them: one key per file, named by the file)."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    documents = [
        doc
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((DEPLOY / name).read_text())
        if doc
    ]
    assert kustomization["generatorOptions"]["disableNameSuffixHash"] is True
    for generator in kustomization["configMapGenerator"]:
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"], "namespace": generator["namespace"]},
                "data": {Path(f).name: (DEPLOY / f).read_text() for f in generator["files"]},
            }
        )
    return documents


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return _documents()


def _one(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def _pod_specs(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    specs = {}
    for doc in documents:
        spec = doc.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template")
        if template is not None:
            specs[doc["metadata"]["name"]] = template["spec"]
    return specs


def _env(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    container = _pod_specs([_one(documents, kind, name)])[name]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _cnpg_verdicts(clusters: list[dict[str, Any]]) -> list[str]:
    """CloudNativePG's schema on each Cluster: "ok" or the validator's message."""
    node = shutil.which("node")
    assert node, "Node.js runs CloudNativePG's compiled schema"
    assert (MODELS / "node_modules" / "@kubernetes-models" / "cloudnative-pg").exists(), (
        "scripts/bootstrap.sh installs @kubernetes-models/cloudnative-pg; run `make test`"
    )
    script = (
        'import { Cluster } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/Cluster";'
        'import { readFileSync } from "node:fs";'
        "for (const doc of JSON.parse(readFileSync(0, 'utf8'))) {"
        '  try { new Cluster(doc).validate(); console.log("ok"); }'
        '  catch (e) { console.log(e.message.split("\\n")[0]); } }'
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        input=json.dumps(clusters),
        capture_output=True,
        text=True,
        cwd=MODELS,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_every_resource_is_valid_against_the_kubernetes_schemas(
    documents: list[dict[str, Any]],
) -> None:
    core = [d for d in documents if d["kind"] not in OPERATOR_KINDS]
    assert {d["kind"] for d in core} >= {
        "Namespace", "Deployment", "StatefulSet", "Service", "ConfigMap", "Job", "CronJob",
        "Ingress", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler",
    }  # fmt: skip
    for doc in core:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_postgres_clusters_are_valid_against_cloudnative_pgs_schema(
    documents: list[dict[str, Any]],
) -> None:
    clusters = [d for d in documents if d["kind"] == "Cluster"]
    assert {c["metadata"]["name"] for c in clusters} == {"keycloak-db", "audit-db"}
    assert _cnpg_verdicts(clusters) == ["ok", "ok"]
    for cluster in clusters:
        assert cluster["spec"]["instances"] >= 3  # a primary and two replicas
        assert cluster["spec"]["postgresql"]["synchronous"]["number"] >= 1  # no commit lost


def test_a_malformed_manifest_is_refused_by_both_schemas(documents: list[dict[str, Any]]) -> None:
    """Attack class: a malformed manifest (a wrong type, an unknown field) — the schemas above are
    live, and refuse copies of our own resources broken in this run."""
    signing = copy.deepcopy(_one(documents, "StatefulSet", "signing"))
    signing["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(signing, KUBERNETES, strict=True)
    typo = copy.deepcopy(_one(documents, "StatefulSet", "signing"))
    typo["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"nam": "x"}}]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES, strict=True)
    cluster = copy.deepcopy(_one(documents, "Cluster", "audit-db"))
    cluster["spec"]["instances"] = "three"
    storage = copy.deepcopy(_one(documents, "Cluster", "keycloak-db"))
    storage["spec"]["storage"] = {"size": 20}
    verdicts = _cnpg_verdicts([cluster, storage])
    assert all(v != "ok" for v in verdicts), verdicts


def test_the_keycloak_resource_says_what_the_cluster_needs(
    documents: list[dict[str, Any]],
) -> None:
    """Not a schema check (see the module's docstring): the fields the production topology
    relies on, named as the Keycloak operator's documentation names them."""
    keycloak = _one(documents, "Keycloak", "sso")
    assert keycloak["apiVersion"] == "k8s.keycloak.org/v2alpha1"
    spec = keycloak["spec"]
    assert spec["instances"] >= 2  # a cluster: the sizing in docs/architecture.md says 4 to 6
    database = spec["db"]
    assert database["vendor"] == "postgres"
    # CloudNativePG serves the primary as <cluster>-rw and writes <cluster>-app.
    assert database["host"] == "keycloak-db-rw"
    assert (
        database["usernameSecret"]["name"]
        == database["passwordSecret"]["name"]
        == "keycloak-db-app"
    )
    assert spec["proxy"]["headers"] == "xforwarded"
    assert spec["hostname"]["hostname"].startswith("https://")
    annotations = spec["ingress"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"  # sticky sessions
    assert annotations["nginx.ingress.kubernetes.io/session-cookie-secure"] == "true"


def test_no_ingress_writes_the_urls_that_carry_secrets_to_its_log(
    documents: list[dict[str, Any]],
) -> None:
    """Attack class: a capability or a citizen ID read from the ingress controller's access log
    (ingress-nginx writes the whole request line: ``/approve/pair/<code>``, a logout's
    ``id_token_hint``, Keycloak's ``q=citizen_id:`` search). Both ways in keep no access log."""
    gateway = _one(documents, "Ingress", "gateway")["metadata"]["annotations"]
    keycloak = _one(documents, "Keycloak", "sso")["spec"]["ingress"]["annotations"]
    for said in (gateway, keycloak):
        assert said["nginx.ingress.kubernetes.io/enable-access-log"] == "false"


def test_the_services_get_every_setting_they_require_and_no_unknown_one(
    documents: list[dict[str, Any]],
) -> None:
    from audit.settings import AuditSettings
    from signing_service.settings import SigningSettings

    for kind, name, settings in (
        ("StatefulSet", "signing", SigningSettings),
        ("Deployment", "audit", AuditSettings),
    ):
        prefix = str(settings.model_config.get("env_prefix", ""))
        env = _env(documents, kind, name)
        for field, info in settings.model_fields.items():
            if info.is_required():
                assert f"{prefix}{field}".upper() in env, (name, field)
        for variable in env:
            if variable.startswith(prefix):
                assert variable[len(prefix) :].lower() in settings.model_fields, (name, variable)


def test_no_secret_is_written_in_the_manifests(documents: list[dict[str, Any]]) -> None:
    """Every password, PIN, key, token and database URL comes from a Secret (a label is no secret)."""
    secretish = re.compile(r"PASSWORD|_PIN$|SECRET|TOKEN$|_KEYS?$|DATABASE_URL$")
    checked = 0
    for name, pod in _pod_specs(documents).items():
        for container in pod["containers"]:
            for entry in container.get("env", []):
                if secretish.search(entry["name"]) and not entry["name"].endswith("_LABEL"):
                    checked += 1
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (name, entry["name"])
    assert checked >= 15, checked
    configs = [d for d in documents if d["kind"] == "ConfigMap"]
    assert not re.search(r"\s>\S", json.dumps(configs)), "a plain-text Redis password"


def _acl(template: str) -> dict[str, str]:
    users = {}
    for line in template.splitlines():
        _, user, rest = line.split(" ", 2)
        users[user] = rest
    return users


def test_redis_runs_the_dev_stacks_users_with_hashed_passwords(
    documents: list[dict[str, Any]],
) -> None:
    """The ACLs the tests attack on the dev stack (devstack/redis_server.py, redis_sentinel.py),
    each password given as the SHA-256 of its Secret's value."""
    from devstack.redis_sentinel import (
        DISCOVERY_RULES,
        REPLICATION_RULES,
        SENTINEL_ON_SERVERS_RULES,
        SENTINEL_PEER_RULES,
    )
    from devstack.redis_server import ACL_RULES, DEFAULT_USER_RULES

    data = _one(documents, "ConfigMap", "redis-config")["data"]

    def expect(user: str, rules: str) -> str:
        return f"on #${{REDIS_{user.upper()}_PASSWORD_SHA256}} {rules}"

    servers = _acl(data["users.acl.template"])
    assert servers.pop("default") == DEFAULT_USER_RULES
    assert servers == {
        **{user: expect(user, rules) for user, rules in ACL_RULES.items()},
        "replication": expect("replication", REPLICATION_RULES),
        "sentinel": expect("sentinel", SENTINEL_ON_SERVERS_RULES),
    }
    sentinels = _acl(data["sentinel-users.template"])
    assert sentinels.pop("default") == "off resetkeys resetchannels -@all"
    assert sentinels == {
        "sentinel": expect("sentinel", SENTINEL_PEER_RULES),
        **{user: expect(user, DISCOVERY_RULES) for user in ACL_RULES},
    }


def test_the_redis_start_script_renders_hashes_not_passwords(
    documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The pods' own render script, run here with sh and awk on the ConfigMap's template."""
    data = _one(documents, "ConfigMap", "redis-config")["data"]
    (tmp_path / "render.sh").write_text(data["render.sh"])
    (tmp_path / "users.acl.template").write_text(data["users.acl.template"])
    users = ("audit", "signing", "accounts", "scanners", "replication", "sentinel")
    passwords = {
        user: hashlib.sha256(f"{user}-{os.getpid()}".encode()).hexdigest() for user in users
    }
    env = {"PATH": os.environ["PATH"]} | {
        f"REDIS_{user.upper()}_PASSWORD": password for user, password in passwords.items()
    }
    rendered = subprocess.run(
        ["sh", str(tmp_path / "render.sh"), str(tmp_path / "users.acl.template")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for user, password in passwords.items():
        assert password not in rendered
        digest = hashlib.sha256(password.encode()).hexdigest()
        assert f"user {user} on #{digest} " in rendered, user
    assert "${" not in rendered


def test_the_gateway_finds_redis_through_the_three_sentinels(
    documents: list[dict[str, Any]],
) -> None:
    from devstack.redis_sentinel import SERVICE
    from gateway_runtime.redis_connection import RedisAddress

    for kind, name, variable in (
        ("StatefulSet", "signing", "SIGNING_REDIS_URL"),
        ("Deployment", "audit", "AUDIT_REDIS_URL"),
        ("CronJob", "scanners", "SCAN_REDIS_URL"),
    ):
        address = RedisAddress.parse(_env(documents, kind, name)[variable])
        assert len(address.sentinels) == 3 and address.service == SERVICE, name
        assert address.replicas == 1  # an audit event counts once a replica holds it


def test_every_pod_runs_restricted_with_its_resources_and_a_pinned_image(
    documents: list[dict[str, Any]],
) -> None:
    namespace = _one(documents, "Namespace", "edu-gateway")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, pod in _pod_specs(documents).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name
            image = container["image"]
            assert re.search(r":\d[\w.-]*$", image) and not image.endswith(":latest"), image


def test_nothing_reaches_a_pod_that_a_policy_does_not_let_in(
    documents: list[dict[str, Any]],
) -> None:
    policies = [d for d in documents if d["kind"] == "NetworkPolicy"]
    deny = _one(documents, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), policy["metadata"]["name"]  # never "from anywhere"
            assert rule.get("ports"), policy["metadata"]["name"]


def test_the_redis_pods_give_the_scripts_what_they_read(documents: list[dict[str, Any]]) -> None:
    """deploy/redis's scripts are valid shell, and each StatefulSet sets the variables they read."""
    for script in ("render.sh", "port.sh", "primary.sh", "start-redis.sh", "start-sentinel.sh"):
        subprocess.run(["sh", "-n", str(DEPLOY / "redis" / script)], check=True)
    needed = {"REDIS_ANNOUNCE", "REDIS_FIRST_PRIMARY", "REDIS_SENTINEL_HOSTS"}
    needed |= {f"REDIS_{u.upper()}_PASSWORD" for u in ("audit", "signing", "accounts", "scanners")}
    needed |= {"REDIS_REPLICATION_PASSWORD", "REDIS_SENTINEL_PASSWORD"}
    for name in ("redis", "redis-sentinel"):
        assert needed <= set(_env(documents, "StatefulSet", name)), name


def test_what_a_signing_replica_accepted_survives_its_restart(
    documents: list[dict[str, Any]],
) -> None:
    """The audit spool and the record spool (what was accepted while Redis had no primary) are on
    a volume of the replica's own, kept across restarts; the batches on the volume all share."""
    signing = _one(documents, "StatefulSet", "signing")
    claims = {c["metadata"]["name"] for c in signing["spec"]["volumeClaimTemplates"]}
    env = _env(documents, "StatefulSet", "signing")
    mounts = {
        m["mountPath"]: m["name"]
        for m in signing["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }

    def volume_of(path: str) -> str:
        return str(next(name for mount, name in mounts.items() if path.startswith(mount + "/")))

    for variable in ("SIGNING_AUDIT_SPOOL_DIR", "SIGNING_RECORD_SPOOL_PATH"):
        assert volume_of(env[variable]) in claims, variable
    assert volume_of(env["SIGNING_BATCH_DIR"]) == "batches"
