"""Attack class: DNS rebinding against the scanner, and a scan sent off its registered targets.

A school registers its own system's name, and so controls what that name resolves to. It answers the
registry's check with the system's address, then, when the engine connects, an address inside the
scanner's host or link (127.0.0.2 here, standing for 127.0.0.1 or 169.254.169.254 in production): the
engine's attacks would land on whatever listens there. Two real HTTP servers on loopback play the
system and the inside service; the school's DNS is a resolver that answers one, then the other."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from scanners import TargetNotRegistered, TargetRegistry
from scanners.egress import EgressGate
from scanners.http_headers import scan_headers


@contextmanager
def _server(address: str, port: int, hits: list[str]) -> Iterator[None]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(f"{self.command} {self.path} Host={self.headers.get('Host')}")
            body = address.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rebinding(*answers: list[str]) -> tuple[Callable[[str, int], list[str]], list[str]]:
    """The school's DNS: each question gets the next answer (the last one from then on)."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return resolve, asked


@dataclass
class _School:
    """A school's system on a free port, by a name whose DNS answers 127.0.0.1, then 127.0.0.2."""

    path: str
    port: int = field(default_factory=lambda: _free_port())

    def __post_init__(self) -> None:
        self.url = f"http://school.example:{self.port}{self.path}"
        self.dns, self.asked = _rebinding(["127.0.0.1"], ["127.0.0.2"])
        self.registry = TargetRegistry([self.url], loopback_allowed=True, resolve=self.dns)


def test_the_engine_keeps_to_the_address_the_name_had_when_it_was_checked() -> None:
    school = _School("/")
    port, url, registry, asked = school.port, school.url, school.registry, school.asked
    system: list[str] = []
    inside: list[str] = []

    async def scan() -> list[str]:
        checked = registry.pin(url)  # the registry's check: the system's address
        async with EgressGate(registry, [checked]) as gate:
            async with httpx.AsyncClient(proxy=gate.url) as engine:
                answers = [(await engine.get(f"{url}page{n}?q=x")).text for n in range(5)]
            assert gate.counts.forwarded == 5
            return answers

    with _server("127.0.0.1", port, system), _server("127.0.0.2", port, inside):
        answers = asyncio.run(scan())
        # Without the gate, every connection asks again: the second one lands inside.
        direct = school.dns("school.example", port)
        assert httpx.get(f"http://{direct[0]}:{port}/").text == "127.0.0.2"
    assert answers == ["127.0.0.1"] * 5
    assert len(asked) == 2  # the check once (the gate never again), the direct connection once
    assert [hit.split(" Host=")[1] for hit in system[:5]] == [f"school.example:{port}"] * 5
    assert system[0].startswith("GET /page0?q=x ")  # the target made relative, query kept
    assert inside == [f"GET / Host=127.0.0.2:{port}"]  # only the direct connection


@pytest.mark.parametrize("answer", [["169.254.169.254"], ["203.0.113.7", "127.0.0.1"], ["::1"], []])
def test_a_name_that_resolves_inside_or_nowhere_is_refused_at_the_gate(answer: list[str]) -> None:
    """Any address inside the scanner's host or link among the answers (not only the first), or
    none at all: 403, and the engine reaches nothing."""
    url = "http://school.example:8080/"
    # Production: loopback not allowed.
    registry = TargetRegistry([url], resolve=lambda host, port: answer)

    async def scan() -> tuple[int, list[str]]:
        async with EgressGate(registry) as gate:
            async with httpx.AsyncClient(proxy=gate.url) as engine:
                status = (await engine.get(f"{url}login")).status_code
            return status, gate.counts.refused

    status, refused = asyncio.run(scan())
    assert (status, refused) == (403, ["http://school.example:8080"])
    if answer:
        with pytest.raises(TargetNotRegistered):
            registry.pin(url)


def test_the_gate_connects_nowhere_but_registered_origins() -> None:
    """A redirect or a link the engine follows off the target, a CONNECT to another port of the
    same host, an https origin asked in the clear: refused, whatever the engine's own scope says."""
    port = _free_port()
    hits: list[str] = []
    registry = TargetRegistry([f"http://127.0.0.1:{port}/"], loopback_allowed=True)

    async def scan() -> tuple[list[int], list[str]]:
        async with EgressGate(registry) as gate:
            async with httpx.AsyncClient(proxy=gate.url) as engine:
                statuses = [
                    (await engine.get(f"http://127.0.0.1:{port}/ok")).status_code,
                    (await engine.get(f"http://127.0.0.1:{port + 1}/")).status_code,
                    (await engine.get("http://169.254.169.254/latest/meta-data/")).status_code,
                ]
            reader, writer = await asyncio.open_connection("127.0.0.1", gate.port)
            writer.write(f"CONNECT 127.0.0.1:{port + 1} HTTP/1.1\r\n\r\n".encode())
            statuses.append(int((await reader.readline()).split()[1]))
            writer.close()
            return statuses, gate.counts.refused

    with _server("127.0.0.1", port, hits):
        statuses, refused = asyncio.run(scan())
    assert statuses == [200, 403, 403, 403]
    assert refused == [
        f"http://127.0.0.1:{port + 1}",
        "http://169.254.169.254:80",
        f"https://127.0.0.1:{port + 1}",
    ]
    assert [hit.split(" Host=")[0] for hit in hits] == ["GET /ok"]


def test_a_registered_https_origin_is_tunnelled_untouched() -> None:
    """TLS stays end to end: the gate only opens the tunnel to the pinned address."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        registry = TargetRegistry(
            [f"https://school.example:{port}/"],
            loopback_allowed=True,
            resolve=lambda host, p: ["127.0.0.1"],
        )

        def echo() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(connection.recv(1024)[::-1])

        threading.Thread(target=echo, daemon=True).start()

        async def tunnel() -> tuple[bytes, bytes]:
            async with EgressGate(registry) as gate:
                reader, writer = await asyncio.open_connection("127.0.0.1", gate.port)
                writer.write(f"CONNECT school.example:{port} HTTP/1.1\r\n\r\n".encode())
                established = await reader.readuntil(b"\r\n\r\n")
                writer.write(b"\x16\x03\x01 client hello")
                echoed = await reader.read(1024)
                writer.close()
                return established, echoed

        established, echoed = asyncio.run(tunnel())
    assert established.startswith(b"HTTP/1.1 200")
    assert echoed == b"olleh tneilc \x01\x03\x16"


def test_the_headers_scanner_asks_the_address_it_checked_with_the_systems_name() -> None:
    """The headers scanner resolves once (the check) and connects there, with the system's name
    as ``Host``: the name is never handed to a second resolution."""
    school = _School("/login")
    port, url, registry, asked = school.port, school.url, school.registry, school.asked
    system: list[str] = []
    inside: list[str] = []
    with _server("127.0.0.1", port, system), _server("127.0.0.2", port, inside):
        asyncio.run(scan_headers(url, registry))
    assert system == [f"GET /login Host=school.example:{port}"]
    assert inside == [] and asked == ["school.example"]
