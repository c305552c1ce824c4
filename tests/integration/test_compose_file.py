"""compose.yaml describes the production topology: valid against the Compose specification schema,
and defining every service the code expects. (No container engine runs here, so it is not started.)"""

from __future__ import annotations

import json
import re
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
        "keycloak", "postgres", "redis", "signing", "audit", "audit-db", "audit-migrate", "zap",
        "scanners",
    }  # fmt: skip
    assert compose["services"]["keycloak"]["environment"]["KC_DB"] == "postgres"
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


def _redis_users(command: list[str]) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for index, argument in enumerate(command):
        if argument == "--user":
            end = next(
                (i for i in range(index + 1, len(command)) if command[i].startswith("--")),
                len(command),
            )
            users[command[index + 1]] = command[index + 2 : end]
    return users


def test_redis_has_one_user_per_service_with_the_devstacks_rules(compose: dict[str, Any]) -> None:
    """Production's Redis runs the ACLs the tests attack in the devstack: the default user off,
    nobody with +@all, each service's rules exactly as devstack.redis_server.ACL_RULES."""
    from devstack.redis_server import ACL_RULES, DEFAULT_USER_RULES

    users = _redis_users(compose["services"]["redis"]["command"])
    assert " ".join(users.pop("default")) == DEFAULT_USER_RULES
    assert set(users) == set(ACL_RULES)
    for user, arguments in users.items():
        state, password, *rules = arguments
        assert state == "on"
        assert re.fullmatch(rf">\$\{{REDIS_{user.upper()}_PASSWORD:\?[^}}]+\}}", password), user
        assert " ".join(rules) == ACL_RULES[user], user
        assert "+@all" not in rules and "allcommands" not in rules
    env = {name: compose["services"][name]["environment"] for name in ("signing", "audit")}
    assert env["signing"]["SIGNING_REDIS_USERNAME"] == "signing"
    assert env["audit"]["AUDIT_REDIS_USERNAME"] == "audit"
    assert env["audit"]["AUDIT_PRODUCER_KEYS"].startswith("${AUDIT_PRODUCER_KEYS:?")


def test_the_scanner_runs_on_a_schedule_as_its_own_producer(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scanner that takes the dashboard's scan requests runs in production: on a schedule, with
    the scanners' Redis user and producer key, and its settings load as gateway-scan reads them."""
    import base64
    import secrets

    from scanners.connection import ScanConnection

    scanner = compose["services"]["scanners"]
    assert scanner["command"][:3] == ["gateway-scan", "run", "--every"]
    env = scanner["environment"]
    assert env["SCAN_REDIS_USERNAME"] == "scanners"
    assert (
        "KEYCLOAK_ADMIN_PASSWORD" not in env["KEYCLOAK_ADMIN_PASSWORD"]
    )  # not the bootstrap admin
    filled = {
        name: re.sub(r"\$\{[^}]*\}", base64.b64encode(secrets.token_bytes(32)).decode(), str(value))
        for name, value in env.items()
    }
    for name, value in filled.items():
        monkeypatch.setenv(name, value)
    trail = ScanConnection.load().audit_trail()
    assert trail.redis_username == "scanners" and trail.redis_url == "redis://redis:6379/0"
