"""The registry of systems that may be scanned, and nothing else.

Targets are the origins (scheme, host, port) of the education systems registered as clients in the
realm files, plus the gateway's own services. A scan request names a URL; unless its origin is exactly
one of these, it is refused before any packet is sent (no SSRF through a scan request). Redirects are not
followed, so a registered system cannot point the scanner elsewhere either.

A registered name is also refused when it is, or resolves to, an address inside the scanner's own
host or link (loopback, link-local — the cloud metadata service at 169.254.169.254 —, unspecified,
multicast, reserved): a demo client's ``http://localhost:8765`` redirect address, or a school's name
pointed at such an address, would turn the scanner's attacks on whatever listens there. Loopback is
allowed only where the systems scanned really run on the scanner's host (the development stack and
the tests: ``SCAN_LOOPBACK_TARGETS``). Private ranges (10/8, 172.16/12, 192.168/16) stay allowed: a
department's systems live there. Each tool resolves the name again (DNS rebinding between the check
and the scan is not prevented).
"""

from __future__ import annotations

import ipaddress
import socket
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


def _inside(address: str, *, loopback_allowed: bool) -> bool:
    """Whether ``address`` is on the scanner's own host or link (never a system to attack)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return not loopback_allowed
    return ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved


def internal_address(host: str, port: int, *, loopback_allowed: bool) -> str | None:
    """The first address of ``host`` (as given, or as resolved) inside the scanner's own host or
    link, or None. A name that does not resolve is left to the scan (it says unreachable)."""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            return None
        addresses = [str(info[4][0]) for info in found]
    return next((a for a in addresses if _inside(a, loopback_allowed=loopback_allowed)), None)


class TargetRegistry:
    def __init__(self, urls: Iterable[str], *, loopback_allowed: bool = False) -> None:
        self.origins = frozenset(o for o in (origin_of(u) for u in urls) if o is not None)
        self.loopback_allowed = loopback_allowed

    @classmethod
    def from_realm(
        cls,
        spec: RealmSpec,
        *,
        own_services: Iterable[str] = (),
        loopback_allowed: bool = False,
    ) -> TargetRegistry:
        urls = [u for c in spec.clients for u in (*c.redirect_uris, *c.web_origins)]
        return cls([*urls, *own_services], loopback_allowed=loopback_allowed)

    def require(self, url: str) -> str:
        """``url`` itself if its origin is registered and outside the scanner's own host and link;
        :class:`TargetNotRegistered` otherwise."""
        origin = origin_of(url)
        if origin is None or origin not in self.origins:
            raise TargetNotRegistered(f"origin {origin or 'invalid'} is not registered")
        parts = urlsplit(url)
        inside = internal_address(
            parts.hostname or "",
            parts.port or (443 if parts.scheme == "https" else 80),
            loopback_allowed=self.loopback_allowed,
        )
        if inside is not None:
            raise TargetNotRegistered(
                f"origin {origin} is, or resolves to, {inside}: inside the scanner's own host or "
                "link, never scanned"
            )
        return url
