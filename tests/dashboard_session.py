"""A dashboard session as the audit service signs it (Starlette's signed cookie), made with the
service's own key: for tests that need a logged-in officer of any shape without a login (the
dashboard's gate: expired, tampered, unknown unit). The dynamic scan logs in through the SSO
(:mod:`scanners.sso_login`)."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from base64 import b64encode
from typing import Any

import itsdangerous

from audit.deps import SESSION_COOKIE
from devstack import Stack
from organisation import ROOT_CODE

COOKIE = SESSION_COOKIE


def session_cookie(stack: Stack, record: dict[str, Any]) -> str:
    signer = itsdangerous.TimestampSigner(stack.secrets.get("audit:session-key", length=32))
    payload = b64encode(json.dumps({"officer": record}).encode())
    return signer.sign(payload).decode()


def officer(actor: str, **changes: Any) -> dict[str, Any]:
    """A security officer of the department (the whole province), for ten minutes."""
    record = {
        "sub": str(uuid.uuid4()),
        "actor": actor,
        "name": "Cán bộ thử nghiệm",
        "roles": ["security-officer"],
        "unit": ROOT_CODE,
        "csrf": secrets.token_urlsafe(24),  # as the login makes it: random
        "until": time.time() + 600,
    }
    return {**record, **changes}
