"""RFC 6238 one-time codes (HMAC-SHA1, 6 digits, 30 s: Keycloak's defaults), for the step-up tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time


def totp(secret_base32: str, at: float | None = None) -> str:
    key = base64.b32decode(
        secret_base32.replace(" ", "").upper() + "=" * (-len(secret_base32.replace(" ", "")) % 8)
    )
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"
