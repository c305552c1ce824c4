"""One-time codes of Keycloak's default OTP policy (RFC 6238: HMAC-SHA1, 6 digits, 30 s), for the
step-up tests; ``pyotp`` computes them, as the scanner's own login does."""

from __future__ import annotations

import pyotp


def totp(secret_base32: str, at: float | None = None) -> str:
    code = pyotp.TOTP(secret_base32.replace(" ", "").upper())
    return code.now() if at is None else code.at(int(at))
