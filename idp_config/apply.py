"""Converge a live Keycloak realm on a :class:`~idp_config.model.RealmSpec` (create or update).

One loop over the table of resource kinds (:data:`~idp_config.resources.KINDS`): what ``plan``
finds missing is created, what it finds different is updated, in the table's order; nothing is
deleted. Idempotent: a second apply finds nothing to change and sends nothing that changes
anything. Secrets (client secrets, first passwords, the secrets held at external providers) are
passed in, never read from the YAML, and never logged.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from keycloak import KeycloakAdmin

from idp_config.errors import keycloak_errors
from idp_config.model import RealmSpec
from idp_config.plan import Action, desired_state, diff, live_state
from idp_config.representation import evaluated_clients, realm_representation
from idp_config.resources import KINDS, ApplyReport, Secrets, Session
from policies import PolicyViolation, Violation, evaluate_realm

__all__ = ["ApplyReport", "admin_client", "apply_realm", "check_realm"]

_log = structlog.get_logger(__name__)


def admin_client(server_url: str, username: str, password: str) -> KeycloakAdmin:
    """An admin API client logged in to the master realm (its login is tried now: a wrong
    password is :class:`~idp_config.errors.KeycloakRefused`, no answer ``KeycloakUnreachable``)."""
    with keycloak_errors(f"logging in to {server_url} as {username!r}"):
        admin = KeycloakAdmin(
            server_url=server_url,
            username=username,
            password=password,
            realm_name="master",
            user_realm_name="master",
            verify=True,
        )
        admin.get_realms()
    return admin


def check_realm(spec: RealmSpec) -> list[Violation]:
    """The policy violations of ``spec``, judged on exactly what would be sent to Keycloak; those
    the files accept (``accepted_findings``) are marked so and do not stop ``apply``."""
    return evaluate_realm(
        realm_representation(spec),
        evaluated_clients(spec),
        accepted={(a.rule, a.subject): a.reason for a in spec.accepted_findings},
    )


def apply_realm(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    *,
    client_secrets: Mapping[str, str],
    user_passwords: Mapping[str, str],
    provider_secrets: Mapping[str, str] | None = None,
    smtp_password: str | None = None,
) -> ApplyReport:
    """Converge the live realm on ``spec``; refuse (changing nothing) if it breaks a policy.

    ``provider_secrets``: the client secret the realm holds at each external identity provider,
    by alias (set when the provider is created or changed, never diffed or shown).
    ``smtp_password``: the realm's password at its mail relay (``smtp.user``), sent with every
    change of the realm, never read back."""
    violations = [v for v in check_realm(spec) if not v.accepted]
    if violations:
        _log.warning("idp.realm_refused", realm=spec.realm, rules=[v.rule_id for v in violations])
        raise PolicyViolation("; ".join(v.line() for v in violations))
    report = ApplyReport()
    secrets = Secrets(client_secrets, user_passwords, provider_secrets or {}, smtp_password)
    with keycloak_errors(f"applying realm {spec.realm!r}"):
        # Only what differs is sent: a second apply makes no call that changes anything.
        actions = {
            change.address: change.action
            for change in diff(desired_state(spec), live_state(admin, spec))
        }
        session = Session(admin, spec, secrets, report)
        for kind in KINDS:
            missing, different = [], []
            for want in kind.desired(spec):
                action = actions.get(want.address)
                if action is Action.CREATE:
                    missing.append(want.item)
                elif action is Action.UPDATE:
                    different.append(want.item)
            if missing:
                kind.create(session, missing)
            if different:
                kind.update(session, different)
            kind.settle(session, [*missing, *different])
    _log.info("idp.realm_applied", realm=spec.realm, created=len(report.created))
    return report
