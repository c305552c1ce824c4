"""Which stack a folder runs (``gateway run --topology``), and the balancer's configuration."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from devstack import Ports, haproxy
from devstack.errors import StackError
from devstack.ha import TOPOLOGY_FILE, HaStack, open_stack
from devstack.stack import Stack
from tests.service_routes import NOT_SECRET, route_paths, service_apps


def test_a_folder_keeps_the_topology_it_was_asked_for(tmp_path: Path) -> None:
    assert type(open_stack(tmp_path)) is Stack  # nothing said: one machine
    (tmp_path / TOPOLOGY_FILE).write_text("ha\n")  # what HaStack.up writes
    assert isinstance(open_stack(tmp_path), HaStack)  # `gateway stop`, `status`: no option needed
    assert type(open_stack(tmp_path, topology="single")) is Stack
    assert not (tmp_path / TOPOLOGY_FILE).exists()  # and from now on, one machine again


def test_an_unknown_topology_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="'cluster'"):
        open_stack(tmp_path, topology="cluster")


FRONTS = [
    haproxy.Front(
        "keycloak",
        18080,
        [haproxy.Server("keycloak-1", 18081), haproxy.Server("keycloak-2", 18082)],
        "/realms/master/.well-known/openid-configuration",
        sticky=True,
        retry_reads=True,
    ),
    haproxy.Front("signing", 18701, [haproxy.Server("signing-1", 18721)], "/health/live", api=True),
]


def test_the_balancer_configuration_is_what_haproxy_accepts() -> None:
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy is not installed (scripts/bootstrap.sh installs it)")
    text = haproxy.config(FRONTS)
    checked = subprocess.run(
        [binary, "-c", "-f", "/dev/stdin"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Sticky and retried reads on Keycloak's front only; the API front answers in the envelope.
    keycloak, signing = text.split("frontend signing")
    assert "cookie EDU_KC_NODE insert" in keycloak and "retry-on" in keycloak
    assert "disable-l7-retry unless METH_GET" in keycloak  # a POST is never sent twice
    assert "cookie" not in signing and "retry-on" not in signing
    assert '"code": "service-unavailable"' in signing and "Retry-After" in signing
    assert all(
        "127.0.0.1:" in line for line in text.splitlines() if line.strip().startswith("bind")
    )


def _logged_by_the_balancer(tmp_path: Path, requests: list[tuple[int, str, str]]) -> str:
    """The real HAProxy with the configuration the stacks and compose.yaml use, its servers down:
    each ``(front, method, path)`` is asked (front 0 is Keycloak's, 1 the signing API's) and
    answered 503; returns its log once every failed request is in it."""
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy is not installed (scripts/bootstrap.sh installs it)")
    base = Ports.free_block(4)
    fronts = [
        haproxy.Front("keycloak", base, [haproxy.Server("kc", base + 1)], "/", sticky=True),
        haproxy.Front("signing", base + 2, [haproxy.Server("sg", base + 3)], "/", api=True),
    ]
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(haproxy.config(fronts))
    log = tmp_path / "haproxy.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, "-db", "-f", str(conf)], stdout=out, stderr=out)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{base}{haproxy.MONITOR_PATH}", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        with httpx.Client() as client:
            for front, method, path in requests:
                # Sent as written: httpx would re-encode what an attacker spelled on purpose.
                url = httpx.URL(f"http://127.0.0.1:{fronts[front].port}").copy_with(
                    raw_path=path.encode()
                )
                assert client.request(method, url).status_code == 503, path
        deadline = time.monotonic() + 5
        while log.read_text().count("<NOSRV>") < len(requests) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(10)
    return log.read_text(errors="replace")


def test_the_balancer_logs_what_went_wrong_without_the_query_string(tmp_path: Path) -> None:
    """Attack class: secrets and citizen IDs in a URL's query (Keycloak's admin search by
    ``citizen_id``, a logout's ``id_token_hint``) written to the balancer's log. The failed
    requests are logged (they were not at all before, at the ``notice`` level), path and status,
    never the query."""
    secret_query = "q=citizen_id:001185000111&id_token_hint=eyJhbGciOi.secret.part"
    text = _logged_by_the_balancer(
        tmp_path,
        [
            (0, "GET", f"/admin/realms/education/users?{secret_query}"),
            (1, "POST", f"/v1/documents:verify?{secret_query}"),
        ],
    )
    assert '"GET /admin/realms/education/users HTTP/1.1"' in text, text
    assert '"POST /v1/documents:verify HTTP/1.1"' in text, text
    assert "001185000111" not in text and "secret" not in text and "citizen_id" not in text


def test_no_capability_in_a_path_reaches_the_balancer_log(tmp_path: Path) -> None:
    """Attack class: a capability in a URL's *path* (a phone's pairing link
    ``/approve/pair/<code>``, which registers whoever opens it as the signer's device; an
    approval's id, which denies it) copied to the balancer's log when the request fails, and a
    path spelled to forge log lines (``%0A``) or to slip the capability past the mask (``%2F``
    for the slash, as the services decode it). Every route of both services is asked with a
    fresh value in each parameter: a new route with a capability in its path fails this test
    until the balancer hides it (``devstack.haproxy.LOGGED_PATH``)."""
    routes = sorted({r for app in service_apps() for r in route_paths(app) if "{" in r})
    assert {"/approve/pair/{code}", "/approve/{approval_id}/deny"} <= set(routes)
    values: dict[str, str] = {}

    def filled(route: str) -> str:
        def value(match: re.Match[str]) -> str:
            values[match.group(0)] = values.get(match.group(0)) or secrets.token_urlsafe(18)
            return values[match.group(0)]

        return re.sub(r"\{[a-z_]+\}", value, route)

    asked = [filled(route) for route in routes]
    code, approval = values["{code}"], values["{approval_id}"]
    spelled = [f"/approve%2Fpair%2F{code}%2Foptions", f"/approve%2f{approval}/deny"]
    forged = '/x%0D%0A127.0.0.1:1 [01/Jan/2026:00:00:00.000] forged%22 "GET /ok HTTP/1.1"'
    text = _logged_by_the_balancer(
        tmp_path, [(1, "POST", path) for path in [*asked, *spelled]] + [(1, "GET", forged)]
    )
    lines = text.splitlines()
    for parameter, value in values.items():
        shown = value in text
        assert shown == (parameter.strip("{}") in NOT_SECRET), (parameter, text)
    assert any(line.endswith('"POST /approve/pair/* HTTP/1.1"') for line in lines), text
    assert any(line.endswith('"POST /approve/*/deny HTTP/1.1"') for line in lines), text
    assert any(line.endswith('"POST /approve/pair/*/options HTTP/1.1"') for line in lines), text
    assert not any(line.startswith("127.0.0.1:1 ") for line in lines), text  # no forged line
    assert any("/x??127.0.0.1:1?[01/Jan/2026:00:00:00.000]?forged" in line for line in lines), text
