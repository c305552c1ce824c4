"""Attack class: a registered name pointed inside the scanner's own host or link.

A demo client's ``http://localhost:8765`` redirect address is registered like any school's system;
a school's DNS name can be pointed at 127.0.0.1 or at the cloud metadata service. The scanner would
send its attacks there. Refused before any packet is sent; loopback only where explicitly allowed
(the development stack), link-local never."""

from __future__ import annotations

import pytest

from scanners import TargetNotRegistered, TargetRegistry


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8765/",  # a name that resolves to loopback
        "http://127.0.0.1:8702/",
        "http://127.9.9.9/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",  # loopback written as an IPv4-mapped IPv6 address
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "http://[fe80::1]/",
        "http://0.0.0.0:8080/",
        "http://224.0.0.1/",
    ],
)
def test_an_address_on_the_scanners_own_host_or_link_is_never_scanned(url: str) -> None:
    registry = TargetRegistry([url])
    with pytest.raises(TargetNotRegistered, match="inside the scanner's own host or link"):
        registry.require(url)


def test_loopback_only_where_allowed_and_link_local_never() -> None:
    allowed = TargetRegistry(
        ["http://127.0.0.1:8702/", "http://169.254.169.254/"], loopback_allowed=True
    )
    assert allowed.require("http://127.0.0.1:8702/dashboard") == "http://127.0.0.1:8702/dashboard"
    with pytest.raises(TargetNotRegistered):
        allowed.require("http://169.254.169.254/")


def test_private_ranges_and_unresolved_names_are_left_to_the_scan() -> None:
    """A department's systems live in private ranges; a name that does not resolve is reported
    unreachable by the scan itself."""
    urls = ["http://10.20.30.40/", "https://192.168.1.10/", "https://lms.sogd.invalid/"]
    registry = TargetRegistry(urls)
    assert [registry.require(u) for u in urls] == urls


def test_the_realm_files_demo_clients_are_not_scanned_in_production() -> None:
    from idp_config import DEFAULT_REALM_FILE, load_realm

    spec = load_realm(DEFAULT_REALM_FILE, {})
    registry = TargetRegistry.from_realm(spec)
    demo = next(u for c in spec.clients for u in c.redirect_uris if "localhost" in u)
    with pytest.raises(TargetNotRegistered):
        registry.require(demo)
