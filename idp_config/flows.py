"""Step-up authentication: the realm's browser flow with levels of authentication (LoA).

Level 1 is the password; level 2 adds a one-time code (OTP). A client that needs level 2 (privileged work:
administration, the audit dashboard) says so with its minimum ACR; Keycloak then asks a person who logged in
with a password only for the second factor, and no second password. The flow follows Keycloak's documented
step-up pattern ("Creating a browser login flow with step-up mechanism"):

    browser-loa
      Cookie                                   ALTERNATIVE
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
