"""Everything the stack starts listens on loopback only (the README says so): read from the kernel's
own socket tables, for every process of the stack and its children (uvicorn's workers, Keycloak's
JVM), not from what the configuration intends."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from devstack import Stack

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]

_LISTEN = "0A"


def _listening(table: Path) -> dict[int, tuple[str, int]]:
    """Listening sockets of one /proc/net table, by inode: (address, port)."""
    found: dict[int, tuple[str, int]] = {}
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] != _LISTEN:
            continue
        address_hex, port_hex = fields[1].split(":")
        raw = bytes.fromhex(address_hex)
        # The kernel writes each 32-bit word in host (little-endian) order.
        packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        found[int(fields[9])] = (str(ipaddress.ip_address(packed)), int(port_hex, 16))
    return found


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(parts[1]), []).append(int(stat.parent.name))
    family, todo = set(), [pid]
    while todo:
        current = todo.pop()
        family.add(current)
        todo.extend(children.get(current, []))
    return family


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def test_every_listening_socket_of_the_stack_is_on_loopback(stack: Stack) -> None:
    listening = {**_listening(Path("/proc/net/tcp")), **_listening(Path("/proc/net/tcp6"))}
    seen: dict[str, list[tuple[str, int]]] = {}
    for process in stack.processes():
        pid = process.pid()
        assert pid is not None, f"{process.name} is not running"
        for member in _descendants(pid):
            for inode in _socket_inodes(member):
                if inode in listening:
                    seen.setdefault(process.name, []).append(listening[inode])
    assert "keycloak" in seen and "redis" in seen  # the reading itself works
    exposed = {
        name: [s for s in sockets if not _is_loopback(s[0])] for name, sockets in seen.items()
    }
    assert {name: sockets for name, sockets in exposed.items() if sockets} == {}
