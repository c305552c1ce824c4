"""compose.yaml describes the production topology: valid against the Compose specification schema,
and defining every service the code expects. (No container engine runs here, so it is not started.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / ".work" / "cache" / "compose-spec" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_compose_file_is_valid_against_the_specification(compose: dict[str, Any]) -> None:
    assert SCHEMA.exists(), "scripts/bootstrap.sh fetches the Compose schema; run `make test`"
    schema = json.loads(SCHEMA.read_text())
    # The schema names draft 2019-09 by a URL form jsonschema does not know; say which draft it is.
    jsonschema.Draft201909Validator.check_schema(schema)
    jsonschema.Draft201909Validator(schema).validate(compose)


def test_every_component_is_defined(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {
        "keycloak-1", "keycloak-2", "sso-balancer", "postgres", "redis-1", "redis-2", "redis-3", "sentinel-1", "sentinel-2",
        "sentinel-3", "signing", "audit", "audit-db", "audit-migrate", "zap", "scanners",
    }  # fmt: skip
    assert compose["services"]["keycloak-1"]["environment"]["KC_DB"] == "postgres"
    # The audit store runs on its own PostgreSQL in production (SQLite is the embedded default).
    assert "audit-db" in compose["services"]["audit"]["depends_on"]


def test_the_audit_service_connects_as_the_runtime_role_after_the_migration(
    compose: dict[str, Any],
) -> None:
    """Issue 18: the service's credentials are the runtime role's (SELECT, INSERT, retention's
    UPDATE); the owner's are given to the one-shot migration alone, which runs to completion
    before the service starts; the roles are those the init script makes and the tests attack
    (``devstack.postgres``, ``test_audit_database_roles.py``)."""
    from devstack.postgres import DATABASE, INIT_ROLES, OWNER_ROLE, RUNTIME_ROLE

    services = compose["services"]
    runtime = f"postgresql://{RUNTIME_ROLE}:${{AUDIT_DB_RUNTIME_PASSWORD:?"
    owner = f"postgresql://{OWNER_ROLE}:${{AUDIT_DB_OWNER_PASSWORD:?"
    audit = services["audit"]
    assert audit["environment"]["AUDIT_DATABASE_URL"].startswith(runtime)
    assert audit["environment"]["AUDIT_DATABASE_URL"].endswith(f"@audit-db:5432/{DATABASE}")
    assert audit["depends_on"]["audit-migrate"] == {"condition": "service_completed_successfully"}
    migrate = services["audit-migrate"]
    assert migrate["command"] == ["gateway-audit", "migrate", "--runtime-role", RUNTIME_ROLE]
    assert migrate["environment"]["AUDIT_MIGRATION_DATABASE_URL"].startswith(owner)
    assert migrate["restart"] == "no"
    # Nobody but the database and the migration holds the owner's password.
    for name, service in services.items():
        if name not in {"audit-db", "audit-migrate"}:
            assert "AUDIT_DB_OWNER_PASSWORD" not in json.dumps(service), name
            assert "AUDIT_MIGRATION_DATABASE_URL" not in service.get("environment", {}), name
    database = services["audit-db"]
    assert database["environment"]["POSTGRES_USER"] not in {OWNER_ROLE, RUNTIME_ROLE}
    assert (
        "POSTGRES_DB" not in database["environment"]
    )  # init-roles.sh makes it, owned by the owner
    mount = f"./{INIT_ROLES.relative_to(ROOT)}:/docker-entrypoint-initdb.d/10-audit-roles.sh:ro"
    assert mount in database["volumes"]
    script = INIT_ROLES.read_text()
    assert f"CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER" in script
    assert f"CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER" in script
    assert f"CREATE DATABASE {DATABASE} OWNER {OWNER_ROLE};" in script


def test_services_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    """Long-running services wait until what they use is healthy; a one-shot job (``restart:
    "no"``, no healthcheck) is waited for until it completed successfully."""
    for name, service in compose["services"].items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            target = compose["services"][dependency]
            if target.get("restart") == "no":
                assert condition["condition"] == "service_completed_successfully", (
                    name,
                    dependency,
                )
            else:
                assert condition["condition"] == "service_healthy", (name, dependency)
                assert "healthcheck" in target, dependency


def test_no_secret_has_a_default(compose: dict[str, Any]) -> None:
    text = (ROOT / "compose.yaml").read_text()
    for variable in re.findall(r"\$\{([A-Z_]*(?:PASSWORD|_PIN|API_KEY))([^}]*)\}", text):
        name, rest = variable
        assert rest.startswith(":?"), f"{name} must be required (${{{name}:?...}})"


def test_settings_the_services_require_are_all_provided(compose: dict[str, Any]) -> None:
    from audit.settings import AuditSettings
    from signing_service.settings import SigningSettings

    for service, settings in (("signing", SigningSettings), ("audit", AuditSettings)):
        prefix = settings.model_config.get("env_prefix", "")
        env = compose["services"][service]["environment"]
        required = [n for n, f in settings.model_fields.items() if f.is_required()]
        for field in required:
            assert f"{prefix}{field}".upper() in env, (service, field)


def test_redis_is_replicated_behind_three_sentinels_with_the_shared_scripts(
    compose: dict[str, Any],
) -> None:
    """Three servers and three sentinels run deploy/redis's scripts (the ones Kubernetes runs; their
    ACL templates are the dev stack's rules: tests/integration/test_kubernetes_manifests.py), and
    every part of the gateway finds the primary through the three sentinels."""
    from devstack.redis_sentinel import SERVICE
    from gateway_runtime.redis_connection import RedisAddress

    services = compose["services"]
    for name, script in [
        *((f"redis-{n}", "start-redis.sh") for n in (1, 2, 3)),
        *((f"sentinel-{n}", "start-sentinel.sh") for n in (1, 2, 3)),
    ]:
        service = services[name]
        assert service["command"] == ["sh", f"/config/{script}"], name
        assert "./deploy/redis:/config:ro" in service["volumes"], name
        assert service["environment"]["REDIS_ANNOUNCE"] == name
        assert service["environment"]["REDIS_FIRST_PRIMARY"] == "redis-1"
        assert set(service["environment"]["REDIS_SENTINEL_HOSTS"].split()) == {
            "sentinel-1", "sentinel-2", "sentinel-3",
        }  # fmt: skip
    for name, variable in (
        ("signing", "SIGNING_REDIS_URL"),
        ("audit", "AUDIT_REDIS_URL"),
        ("scanners", "SCAN_REDIS_URL"),
    ):
        address = RedisAddress.parse(services[name]["environment"][variable])
        hosts = {host for host, _ in address.sentinels}
        assert hosts == {"sentinel-1", "sentinel-2", "sentinel-3"}, name
        assert address.service == SERVICE and address.replicas == 1, name


#: compose.yaml's balancer in front of the two Keycloak nodes, as devstack/haproxy.py writes the
#: failure tests' one (sticky, a page request retried on the other node), for containers.
_SSO_FRONT = dict(
    name="keycloak",
    port=8080,
    check_path="/realms/education/.well-known/openid-configuration",
    sticky=True,
    retry_reads=True,
    bind="0.0.0.0",  # noqa: S104 — a container's port, published on the host's loopback only
    forwarded_proto=None,  # the TLS proxy in front says https
    secure_cookie=True,
)
#: Docker's resolver on a user-defined network: a node's new address after a restart is found.
_CONTAINER_DNS = "127.0.0.11:53"


def _sso_balancer_config() -> str:
    from devstack import haproxy

    front = haproxy.Front(
        servers=[haproxy.Server(f"keycloak-{n}", 8080, host=f"keycloak-{n}") for n in (1, 2)],
        **_SSO_FRONT,  # type: ignore[arg-type]
    )
    return haproxy.config([front], dns_server=_CONTAINER_DNS)


def test_keycloak_runs_as_two_nodes_behind_the_tested_balancer(compose: dict[str, Any]) -> None:
    """Two nodes of one cluster behind HAProxy with the configuration the failure tests' balancer
    has (deploy/haproxy/haproxy.cfg is devstack/haproxy.py's text for these containers), which
    HAProxy itself accepts; everything that used Keycloak goes through the balancer."""
    services = compose["services"]
    assert "keycloak" not in services
    for name in ("keycloak-1", "keycloak-2"):
        env = services[name]["environment"]
        assert env["KC_CACHE"] == "ispn" and env["KC_CACHE_STACK"] == "jdbc-ping", name
        assert env["KC_DB"] == "postgres" and env["KC_PROXY_HEADERS"] == "xforwarded", name
        assert "ports" not in services[name], name  # reached through the balancer only
    balancer = services["sso-balancer"]
    assert (
        "./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in balancer["volumes"]
    )
    written = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    body = "\n".join(line for line in written.splitlines() if not line.startswith("#"))
    assert body.strip() == _sso_balancer_config().strip(), (
        "regenerate deploy/haproxy/haproxy.cfg from tests/integration/test_compose_file.py"
    )
    assert "cookie EDU_KC_NODE insert indirect nocache httponly secure" in body
    assert f"nameserver dns {_CONTAINER_DNS}" in body
    haproxy = shutil.which("haproxy")
    assert haproxy, "scripts/bootstrap.sh installs HAProxy"
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(ROOT / "deploy" / "haproxy" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for name in ("signing", "audit", "scanners"):
        assert "sso-balancer" in services[name]["depends_on"], name
    assert services["scanners"]["environment"]["KEYCLOAK_URL"] == "http://sso-balancer:8080"
