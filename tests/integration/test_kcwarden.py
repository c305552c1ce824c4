"""A second opinion on the realm that no one here wrote: kcwarden, an independent Keycloak
configuration auditor, reads the live `education` realm as `idp-config apply` left it.

No High or Critical finding; every Medium is in ``idp_config/realm/kcwarden-accepted.yaml`` with its
reason, and every entry there is still reported (none outlives its reason). Then the realm as
kcwarden read it is weakened in each way it knows, and both kcwarden and our own rules (``policies/``)
must see each weakness: our scanner finds what the independent one finds.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import Stack, StackInfo
from devstack.layout import PROJECT_ROOT
from idp_config import DEFAULT_REALM_FILE
from policies import evaluate_realm

pytestmark = pytest.mark.keycloak

KCWARDEN = PROJECT_ROOT / ".work" / "tools" / "kcwarden" / "bin" / "kcwarden"
ACCEPTED_FILE = DEFAULT_REALM_FILE.parent / "kcwarden-accepted.yaml"
#: Asks GitHub for the latest release: reported or not depending on the network, never stale.
NETWORK_DEPENDENT = {"KeycloakVersionShouldBeUpToDate"}


def _kcwarden(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    assert KCWARDEN.exists(), "kcwarden is installed by scripts/bootstrap.sh (BOOTSTRAP_FOR=test)"
    env = {**os.environ, **({"KCWARDEN_KEYCLOAK_PASSWORD": password} if password else {})}
    done = subprocess.run(
        [str(KCWARDEN), *args], capture_output=True, text=True, timeout=180, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _audit(dump: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    source, report = folder / "realm.json", folder / "report.json"
    source.write_text(json.dumps(dump))
    _kcwarden("audit", str(source), "--format", "json", "-s", "MEDIUM", "-o", str(report))
    findings: list[dict[str, Any]] = json.loads(report.read_text())
    return findings


@pytest.fixture(scope="module")
def live_dump(stack: Stack, stack_info: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> Any:
    output = tmp_path_factory.mktemp("kcwarden") / "education.json"
    _kcwarden(
        "download",
        "--realm",
        "education",
        "--auth-method",
        "password",
        "--user",
        "admin",
        "--output",
        str(output),
        stack_info.keycloak_url,
        password=stack.secrets.get("keycloak:admin"),
    )
    return json.loads(output.read_text())


def test_the_live_realm_has_no_high_finding_and_every_medium_is_accepted_with_its_reason(
    live_dump: dict[str, Any], tmp_path: Path
) -> None:
    findings = _audit(live_dump, tmp_path)
    serious = [f for f in findings if f["severity"] in {"High", "Critical"}]
    assert serious == [], [(f["reporting_auditor"], f["entity"]) for f in serious]
    accepted = {
        (entry["auditor"], entry["entity"]): entry["reason"]
        for entry in yaml.safe_load(ACCEPTED_FILE.read_text(encoding="utf-8"))["accepted"]
    }
    assert all(len(reason) > 40 for reason in accepted.values())
    reported = {(f["reporting_auditor"], f["entity"]) for f in findings}
    assert reported - accepted.keys() == set(), "a Medium finding nobody accepted"
    stale = {key for key in accepted.keys() - reported if key[0] not in NETWORK_DEPENDENT}
    assert stale == set(), "accepted in the file but no longer reported: remove it"


def _weaken(dump: dict[str, Any], client_id: str, **fields: Any) -> dict[str, Any]:
    weakened = copy.deepcopy(dump)
    for client in weakened["clients"]:
        if client["clientId"] == client_id:
            attributes = {**client.get("attributes", {}), **fields.pop("attributes", {})}
            client.update(fields, attributes=attributes)
    return weakened


@pytest.mark.parametrize(
    ("attack", "weaken", "auditor", "entity", "rule", "subject"),
    [
        (
            "password grant on a public built-in client",
            lambda d: _weaken(d, "admin-cli", directAccessGrantsEnabled=True),
            "PublicClientShouldDisableDirectAccessGrants",
            "admin-cli",
            "IDP-007",
            "client admin-cli",
        ),
        (
            "public client without PKCE (authorization code interception)",
            lambda d: _weaken(d, "account-console", attributes={"pkce.code.challenge.method": ""}),
            "PublicClientsMustEnforcePKCE",
            "account-console",
            "IDP-016",
            "client account-console",
        ),
        (
            "confidential client without PKCE (authorization code injection)",
            lambda d: _weaken(d, "e-office", attributes={"pkce.code.challenge.method": ""}),
            "ConfidentialClientShouldEnforcePKCE",
            "e-office",
            "IDP-017",
            "client e-office",
        ),
        (
            "offline tokens offered to an application",
            lambda d: _weaken(d, "lms", optionalClientScopes=["offline_access"]),
            "ClientWithOptionalOfflineAccessScope",
            "lms",
            "IDP-018",
            "client lms",
        ),
        (
            "refresh tokens reusable",
            lambda d: {**d, "revokeRefreshToken": False},
            "RefreshTokensShouldBeRevokedAfterUse",
            "education",
            "IDP-019",
            "realm",
        ),
    ],
)
def test_each_weakening_is_seen_by_kcwarden_and_by_our_own_rules(
    live_dump: dict[str, Any],
    tmp_path: Path,
    attack: str,
    weaken: Any,
    auditor: str,
    entity: str,
    rule: str,
    subject: str,
) -> None:
    weakened = weaken(live_dump)
    reported = {(f["reporting_auditor"], f["entity"]) for f in _audit(weakened, tmp_path)}
    assert (auditor, entity) in reported, attack
    ours = {(v.rule_id, v.subject) for v in evaluate_realm(weakened, weakened["clients"])}
    assert (rule, subject) in ours, attack
    # And neither sees it in the realm as it is.
    assert (rule, subject) not in {
        (v.rule_id, v.subject) for v in evaluate_realm(live_dump, live_dump["clients"])
    }
