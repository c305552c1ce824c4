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
department's systems live there.

A name is resolved once per scan and the scan connects to those addresses (:meth:`TargetRegistry.pin`),
each of them checked: a system whose DNS answers a public address to the check and then 127.0.0.1 or
169.254.169.254 to the tool (DNS rebinding) cannot turn the scan inward. The headers scanner connects
to the pinned address, sslyze is given it, and wapiti runs behind :class:`scanners.egress.EgressGate`,
which pins every registered origin it is asked for. OWASP ZAP, a daemon elsewhere, resolves names
itself: its host's egress is the deployment's to limit.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

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


def addresses_of(host: str, port: int) -> list[str]:
    """``host`` itself if it is an address, else what it resolves to now (``[]`` if nothing)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class PinnedTarget:
    """A registered URL and the addresses its name had when it was checked: what to connect to."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]

    def url_at(self, address: str) -> str:
        """``url`` with its host replaced by ``address`` (send ``Host`` and SNI as ``host``)."""
        parts = urlsplit(self.url)
        at = f"[{address}]" if ":" in address else address
        return urlunsplit(parts._replace(netloc=f"{at}:{self.port}"))


class TargetRegistry:
    """The origins that may be scanned, and how their names become addresses (``resolve``: the
    system's resolver; in the tests, a school's DNS that rebinds)."""

    def __init__(
        self,
        urls: Iterable[str],
        *,
        loopback_allowed: bool = False,
        resolve: Callable[[str, int], list[str]] = addresses_of,
    ) -> None:
        self.origins = frozenset(o for o in (origin_of(u) for u in urls) if o is not None)
        self.loopback_allowed = loopback_allowed
        self._resolve = resolve

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
        return self.pin(url).url

    def pin(self, url: str) -> PinnedTarget:
        """``url`` checked as :meth:`require` does, with the addresses checked: the scan connects
        to those, never to what the name resolves to later. No address (the name does not
        resolve) is left to the scan, which says the system is unreachable."""
        origin = origin_of(url)
        if origin is None or origin not in self.origins:
            raise TargetNotRegistered(f"origin {origin or 'invalid'} is not registered")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self._resolve(host, port)
        inside = next(
            (a for a in addresses if _inside(a, loopback_allowed=self.loopback_allowed)), None
        )
        if inside is not None:
            raise TargetNotRegistered(
                f"origin {origin} is, or resolves to, {inside}: inside the scanner's own host or "
                "link, never scanned"
            )
        return PinnedTarget(url, host, port, tuple(addresses))
