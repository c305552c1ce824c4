"""Step-up authentication: the realm's browser flow with levels of authentication (LoA).

Level 1 is the password; level 2 adds a one-time code (OTP). A client that needs level 2 (privileged work:
administration, the audit dashboard) says so with its minimum ACR; Keycloak then asks a person who logged in
with a password only for the second factor, and no second password. The flow follows Keycloak's documented
step-up pattern ("Creating a browser login flow with step-up mechanism"):

    browser-loa
      Cookie                                   ALTERNATIVE
      Identity Provider Redirector             ALTERNATIVE  (``kc_idp_hint``: straight to VNeID)
      loa-levels (sub-flow)                    ALTERNATIVE
        loa-1 (sub-flow)                       CONDITIONAL
          Condition - Level of Authentication  REQUIRED   (level 1)
          Username Password Form               REQUIRED
        loa-2 (sub-flow)                       CONDITIONAL
          Condition - Level of Authentication  REQUIRED   (level 2)
          OTP Form                             REQUIRED

A person without an OTP device is asked to register one the first time a level-2 client needs it.
"""

from __future__ import annotations

from typing import Any

from keycloak import KeycloakAdmin

FLOW_ALIAS = "browser-loa"
#: The first-broker-login flow of external providers: link by verified citizen ID, nothing else.
BROKER_LINK_FLOW = "national-id-first-login"
BROKER_LINK_AUTHENTICATOR = "citizen-id-link"
_REDIRECTOR = "identity-provider-redirector"
#: ACR values and the levels they stand for (realm attribute ``acr.loa.map``).
ACR_LOA = {"1": 1, "2": 2}
_LEVELS = (
    ("loa-1", "1", "36000", "auth-username-password-form"),
    ("loa-2", "2", "300", "auth-otp-form"),
)


def step_up_flow_present(admin: KeycloakAdmin) -> bool:
    return any(f["alias"] == FLOW_ALIAS for f in admin.get_authentication_flows())


def _execution(admin: KeycloakAdmin, flow: str, name: str, *, provider: bool) -> dict[str, Any]:
    key = "providerId" if provider else "displayName"
    for execution in admin.get_authentication_flow_executions(flow):
        if execution.get(key) == name:
            return dict(execution)
    raise LookupError(f"{name} not found in {flow}")


def _require(admin: KeycloakAdmin, flow: str, execution: dict[str, Any], requirement: str) -> None:
    admin.update_authentication_flow_executions(
        {"id": execution["id"], "requirement": requirement}, flow
    )


def ensure_identity_provider_redirector(admin: KeycloakAdmin) -> bool:
    """Put Keycloak's identity-provider redirector right after the cookie check of the browser
    flow (what ``kc_idp_hint=vneid`` needs); True if it had to be added."""
    executions = admin.get_authentication_flow_executions(FLOW_ALIAS)
    if any(e.get("providerId") == _REDIRECTOR for e in executions):
        return False
    admin.create_authentication_flow_execution({"provider": _REDIRECTOR}, FLOW_ALIAS)
    execution = _execution(admin, FLOW_ALIAS, _REDIRECTOR, provider=True)
    _require(admin, FLOW_ALIAS, execution, "ALTERNATIVE")
    top_level = [e for e in executions if e.get("level", 0) == 0]
    # Added last; raised above whatever follows the cookie check (the login forms).
    for _ in range(max(0, len(top_level) - 1)):
        response = admin.connection.raw_post(
            f"admin/realms/{admin.connection.realm_name}/authentication/executions/"
            f"{execution['id']}/raise-priority",
            data="{}",
        )
        if response.status_code not in {200, 204}:
            raise LookupError(f"raise-priority answered HTTP {response.status_code}")
    return True


def create_step_up_flow(admin: KeycloakAdmin) -> None:
    """Create the step-up browser flow (once; the caller binds it to the realm)."""
    admin.create_authentication_flow(
        {
            "alias": FLOW_ALIAS,
            "description": "Đăng nhập theo mức xác thực (LoA) / browser login with step-up",
            "providerId": "basic-flow",
            "topLevel": True,
            "builtIn": False,
        }
    )
    admin.create_authentication_flow_execution({"provider": "auth-cookie"}, FLOW_ALIAS)
    _require(
        admin,
        FLOW_ALIAS,
        _execution(admin, FLOW_ALIAS, "auth-cookie", provider=True),
        "ALTERNATIVE",
    )
    ensure_identity_provider_redirector(admin)
    admin.create_authentication_flow_subflow(
        {"alias": "loa-levels", "type": "basic-flow", "provider": "registration-page-form"},
        FLOW_ALIAS,
    )
    _require(
        admin,
        FLOW_ALIAS,
        _execution(admin, FLOW_ALIAS, "loa-levels", provider=False),
        "ALTERNATIVE",
    )
    for alias, level, max_age, authenticator in _LEVELS:
        admin.create_authentication_flow_subflow(
            {"alias": alias, "type": "basic-flow", "provider": "registration-page-form"},
            "loa-levels",
        )
        _require(
            admin,
            "loa-levels",
            _execution(admin, "loa-levels", alias, provider=False),
            "CONDITIONAL",
        )
        admin.create_authentication_flow_execution(
            {"provider": "conditional-level-of-authentication"}, alias
        )
        condition = _execution(admin, alias, "conditional-level-of-authentication", provider=True)
        _require(admin, alias, condition, "REQUIRED")
        admin.create_execution_config(
            condition["id"],
            {
                "alias": f"{alias}-condition",
                "config": {"loa-condition-level": level, "loa-max-age": max_age},
            },
        )
        admin.create_authentication_flow_execution({"provider": authenticator}, alias)
        _require(admin, alias, _execution(admin, alias, authenticator, provider=True), "REQUIRED")


def broker_link_flow_present(admin: KeycloakAdmin) -> bool:
    return any(f["alias"] == BROKER_LINK_FLOW for f in admin.get_authentication_flows())


def create_broker_link_flow(admin: KeycloakAdmin, link_attribute: str) -> None:
    """Create the first-broker-login flow of external providers (once): the ``citizen-id-link``
    authenticator alone, required. Keycloak's default flow would offer to link by e-mail or
    username, or create an account; this one links by verified citizen ID or refuses."""
    admin.create_authentication_flow(
        {
            "alias": BROKER_LINK_FLOW,
            "description": "Liên kết VNeID theo số định danh / link the national e-ID by citizen ID",
            "providerId": "basic-flow",
            "topLevel": True,
            "builtIn": False,
        }
    )
    admin.create_authentication_flow_execution(
        {"provider": BROKER_LINK_AUTHENTICATOR}, BROKER_LINK_FLOW
    )
    execution = _execution(admin, BROKER_LINK_FLOW, BROKER_LINK_AUTHENTICATOR, provider=True)
    _require(admin, BROKER_LINK_FLOW, execution, "REQUIRED")
    admin.create_execution_config(
        execution["id"],
        {"alias": f"{BROKER_LINK_FLOW}-config", "config": {"citizen-id-attribute": link_attribute}},
    )
