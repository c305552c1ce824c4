"""The registry of systems that may be scanned, and nothing else.

Targets are the origins (scheme, host, port) of the education systems registered as clients in the
realm files, plus the gateway's own services. A scan request names a URL; unless its origin is exactly
one of these, it is refused before any packet is sent (no SSRF through a scan request). Redirects are not
followed, so a registered system cannot point the scanner elsewhere either.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar
from urllib.parse import urlsplit

from idp_config.model import RealmSpec
from scanners.errors import ScannerError


class TargetNotRegistered(ScannerError):
    code: ClassVar[str] = "target-not-registered"
    status_code: ClassVar[int] = 403
    message_vi: ClassVar[str] = "Hệ thống này không có trong danh mục được phép quét."
    message_en: ClassVar[str] = "This system is not in the registry of systems that may be scanned."


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username is not None:
        return None
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{parts.hostname.lower()}:{port or default}"


class TargetRegistry:
    def __init__(self, urls: Iterable[str]) -> None:
        self.origins = frozenset(o for o in (origin_of(u) for u in urls) if o is not None)

    @classmethod
    def from_realm(cls, spec: RealmSpec, *, own_services: Iterable[str] = ()) -> TargetRegistry:
        urls = [u for c in spec.clients for u in (*c.redirect_uris, *c.web_origins)]
        return cls([*urls, *own_services])

    def require(self, url: str) -> str:
        """``url`` itself if its origin is registered; :class:`TargetNotRegistered` otherwise."""
        origin = origin_of(url)
        if origin is None or origin not in self.origins:
            raise TargetNotRegistered(f"origin {origin or 'invalid'} is not registered")
        return url
