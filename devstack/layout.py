"""Where a local stack listens, and what it tells the people and tests that use it.

:class:`Ports`: the stack's ports on loopback (the defaults of ``gateway run``, a consecutive block,
or free ports for tests). :class:`StackInfo`: the addresses and files of a running stack, saved as
``stack.json`` in its folder while it runs.
"""

from __future__ import annotations

import json
import random
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.errors import StackError

#: The project's checkout: services run from here, its ``.work`` folder holds caches and stacks.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


#: How many ports a stack takes (:meth:`Ports.consecutive`).
BLOCK = 9


@dataclass(frozen=True)
class Ports:
    keycloak: int = 8080
    keycloak_management: int = 9000
    redis: int = 6380
    pki: int = 8700
    signing: int = 8701
    audit: int = 8702
    witness_so: int = 8710
    witness_phong: int = 8711
    #: The dev stack's own SMTP server (STARTTLS on a submission port, like the department's relay).
    mail: int = 8587

    @classmethod
    def consecutive(cls, base: int) -> Ports:
        return cls(*range(base, base + BLOCK))

    @staticmethod
    def free_block(size: int = 9) -> int:
        """The first of ``size`` consecutive ports free on loopback now (for tests and benches).

        Below Linux's ephemeral range (32768 and up): a port handed out for an outgoing connection
        between this check and the service's start would make it fail to bind."""
        for _ in range(100):
            base = random.randint(20000, 32767 - size)  # noqa: S311 - choosing a port, not a secret
            try:
                for port in range(base, base + size):
                    with socket.socket() as sock:
                        sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
        raise StackError("no block of free ports on loopback")


@dataclass(frozen=True)
class StackInfo:
    folder: str
    keycloak_url: str
    keycloak_admin_console: str
    keycloak_health: str
    issuer: str
    redis_url: str
    pki_url: str
    signing_url: str
    audit_url: str
    softhsm_conf: str
    seal_certificate: str
    trust_store: str

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> StackInfo:
        return cls(**json.loads(path.read_text()))
