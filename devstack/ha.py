"""The production topology on one machine (``gateway run --topology ha``): every part doubled or
replicated, the real engines, everything on loopback.

- **Keycloak**: two nodes of one cluster (distributed Infinispan caches; the nodes find each other
  through the shared PostgreSQL database, ``jdbc-ping``), PostgreSQL as Keycloak's database.
- **Signing**: two replicas sharing batches (Redis and the batch folder; a batch a dead replica
  held is taken over when its lock expires) and the same token.
- **Audit**: one service (one ingestor), its store in PostgreSQL.
- **Redis**: a primary, two replicas and three sentinels (:mod:`devstack.redis_sentinel`).
- **HAProxy** in front of Keycloak, the signing replicas and the audit service
  (:mod:`devstack.haproxy`): the stack's public ports are the balancer's.

The rest (test PKI, witnesses, mail) is the single-machine stack's. PostgreSQL is made anew at each
start (a throw-away cluster, as in the tests): the realm and the demo accounts are applied again.
"""

from __future__ import annotations

import random
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from devstack import haproxy, keycloak, postgres, redis_sentinel
from devstack.errors import ServiceDidNotStart, StackError
from devstack.layout import Ports, StackInfo
from devstack.process import ManagedProcess
from devstack.stack import Progress, Stack, _quiet
from devstack.witnesses import WITNESSES

#: The file in a stack's folder that says which topology it runs (absent: the single machine's).
TOPOLOGY_FILE = "topology"
POSTGRES_HOME_FILE = "postgres-home"
KEYCLOAK_DATABASE = "keycloak"
KEYCLOAK_ROLE = "keycloak"
#: What the balancer asks a Keycloak node to know it serves logins.
KEYCLOAK_CHECK = "/realms/master/.well-known/openid-configuration"


@dataclass(frozen=True)
class HaPorts:
    """The ports behind the balancer (the public ones are the stack's :class:`Ports`)."""

    keycloak_nodes: tuple[int, int]
    keycloak_management: tuple[int, int]
    #: The cluster transport (JGroups). Below 15536: its failure detection listens 50,000 higher.
    transport: tuple[int, int]
    signing_replicas: tuple[int, int]
    audit: int
    redis_servers: tuple[int, int, int]
    sentinels: tuple[int, int, int]
    postgres: int

    @classmethod
    def defaults(cls) -> HaPorts:
        return cls(
            keycloak_nodes=(8081, 8082),
            keycloak_management=(9001, 9002),
            transport=(7800, 7801),
            signing_replicas=(8721, 8722),
            audit=8723,
            redis_servers=(6381, 6382, 6383),
            sentinels=(26381, 26382, 26383),
            postgres=5433,
        )

    @classmethod
    def free(cls) -> HaPorts:
        """Free ports for a test run."""
        base = Ports.free_block(14)
        return cls(
            keycloak_nodes=(base, base + 1),
            keycloak_management=(base + 2, base + 3),
            transport=_free_transport_ports(),
            signing_replicas=(base + 4, base + 5),
            audit=base + 6,
            redis_servers=(base + 7, base + 8, base + 9),
            sentinels=(base + 10, base + 11, base + 12),
            postgres=base + 13,
        )


def _free_transport_ports() -> tuple[int, int]:
    for _ in range(200):
        port = random.randint(7800, 15000)  # noqa: S311 - choosing a port, not a secret
        try:
            for candidate in (port, port + 1, port + 50_000, port + 50_001):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port, port + 1
    raise StackError("no free ports for Keycloak's cluster transport")


class HaStack(Stack):
    """The production topology; the same folder layout, secrets and :class:`StackInfo` as
    :class:`Stack`, whose steps it replaces where the topology differs."""

    def __init__(
        self,
        folder: Path,
        ports: Ports | None = None,
        ha_ports: HaPorts | None = None,
        *,
        checkpoint_interval: float = 30.0,
    ) -> None:
        super().__init__(folder, ports, checkpoint_interval=checkpoint_interval)
        self.ha_ports = ha_ports or HaPorts.defaults()
        self.postgres: postgres.Postgres | None = None

    def processes(self) -> list[ManagedProcess]:
        names = [
            "postgres",
            "keycloak-1",
            "keycloak-2",
            *(f"redis-{n}" for n in (1, 2, 3)),
            *(f"sentinel-{n}" for n in (1, 2, 3)),
            "mail",
            "pki",
            *(name for name, _ in WITNESSES),
            "audit",
            "signing-1",
            "signing-2",
            "haproxy",
        ]
        return [ManagedProcess(name, self.folder) for name in names]

    def up(self, progress: Progress = _quiet) -> StackInfo:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / TOPOLOGY_FILE).write_text("ha\n")
        return super().up(progress)

    def down(self) -> list[str]:
        stopped = super().down()
        note = self.folder / POSTGRES_HOME_FILE
        if note.exists():
            home = Path(note.read_text().strip())
            if home.name.startswith("edu-gateway-pg-"):
                shutil.rmtree(home, ignore_errors=True)
            note.unlink()
        return stopped

    # -- Keycloak: PostgreSQL, two nodes, the balancer in front ---------------------------------
    def _launch_keycloak(self, progress: Progress) -> Callable[[], keycloak.KeycloakEndpoint]:
        progress("PostgreSQL")
        self.postgres = postgres.start(self.folder, port=self.ha_ports.postgres)
        # Its throw-away cluster lives outside the folder (PostgreSQL runs as its own user): noted
        # here so that `down` (from any process) removes it.
        (self.folder / POSTGRES_HOME_FILE).write_text(str(self.postgres.data_dir.parent))
        db_password = self.secrets.get("postgres:keycloak", length=24)
        with psycopg.connect(self.postgres.admin_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(KEYCLOAK_ROLE), sql.Literal(db_password)
                )
            )
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(KEYCLOAK_DATABASE), sql.Identifier(KEYCLOAK_ROLE)
                )
            )
        progress("Keycloak: cài đặt bản cụm / install the cluster build")
        home = keycloak.install(self.cache, cluster=True)
        public = f"http://localhost:{self.ports.keycloak}"
        nodes = []
        for n in (1, 2):
            node = keycloak.ClusterNode(
                name=f"keycloak-{n}",
                db_url=f"jdbc:postgresql://127.0.0.1:{self.ha_ports.postgres}/{KEYCLOAK_DATABASE}",
                db_username=KEYCLOAK_ROLE,
                db_password=db_password,
                transport_port=self.ha_ports.transport[n - 1],
                public_url=public,
            )
            nodes.append(
                keycloak.launch(
                    home,
                    self.folder,
                    port=self.ha_ports.keycloak_nodes[n - 1],
                    management_port=self.ha_ports.keycloak_management[n - 1],
                    admin_user="admin",
                    admin_password=self.secrets.get("keycloak:admin", length=18),
                    trust_store=self.pki.trust_store,
                    node=node,
                )
            )
            if n == 1:
                # The first node creates the schema; the second joins a cluster that exists.
                keycloak.wait_ready(*nodes[0])

        def ready() -> keycloak.KeycloakEndpoint:
            keycloak.wait_ready(*nodes[1])
            self._start_balancer()
            return nodes[0][1]

        return ready

    def _start_balancer(self) -> None:
        ha = self.ha_ports
        fronts = [
            haproxy.Front(
                "keycloak",
                self.ports.keycloak,
                [
                    # Not /health/ready: after one node crashes, the other reports its cluster
                    # health check DOWN for ~30 s (it cannot tell a crash from a split), and the
                    # balancer would take out the only node left. A node that serves a realm's
                    # discovery document serves logins.
                    haproxy.Server(f"keycloak-{n}", port)
                    for n, port in zip((1, 2), ha.keycloak_nodes, strict=True)
                ],
                KEYCLOAK_CHECK,
                sticky=True,
                retry_reads=True,
            ),
            haproxy.Front(
                "signing",
                self.ports.signing,
                [
                    # Its own parts only: while Redis fails over every replica still signs
                    # (spooling its audit events); taking them all out would be an outage.
                    haproxy.Server(f"signing-{n}", port)
                    for n, port in zip((1, 2), ha.signing_replicas, strict=True)
                ],
                "/health/live",
                api=True,
            ),
            haproxy.Front(
                "audit",
                self.ports.audit,
                [haproxy.Server("audit", ha.audit)],
                "/health",
                api=True,
            ),
        ]
        haproxy.start(self.folder, fronts)
        # Through the balancer, once its health checks see a node.
        _wait_for(
            f"http://127.0.0.1:{self.ports.keycloak}/realms/master", "Keycloak behind HAProxy"
        )

    # -- Redis: replicated, behind sentinels -----------------------------------------------------
    def _start_redis(self) -> str:
        replicated = redis_sentinel.start(
            self.folder,
            server_ports=self.ha_ports.redis_servers,
            sentinel_ports=self.ha_ports.sentinels,
            passwords={user: self.redis_password(user) for user in redis_sentinel.USERS},
        )
        return replicated.url

    # -- the services, behind the balancer -------------------------------------------------------
    def audit_store_environment(self) -> dict[str, str]:
        if self.postgres is None:
            raise StackError("PostgreSQL is started with Keycloak, before the audit service")
        return {"AUDIT_DATABASE_URL": self.postgres.url}

    def _start_audit(self, env: dict[str, str]) -> None:
        self._service("audit", "audit.app:create_app", self.ha_ports.audit, _behind_balancer(env))

    def _start_signing(self, env: dict[str, str]) -> None:
        for n, port in zip((1, 2), self.ha_ports.signing_replicas, strict=True):
            self._service(
                f"signing-{n}", "signing_service.app:create_app", port, _behind_balancer(env)
            )

    def _after_services(self, progress: Progress) -> None:
        progress("HAProxy: dịch vụ ký số / signing replicas")
        for url in (
            f"http://127.0.0.1:{self.ports.signing}/health",
            f"http://127.0.0.1:{self.ports.audit}/health",
        ):
            _wait_for(url, url)


def _behind_balancer(env: dict[str, str]) -> dict[str, str]:
    """A client's address is the one HAProxy forwards (it is the only proxy trusted)."""
    return {**env, "GATEWAY_TRUSTED_PROXIES": "127.0.0.1"}


def _wait_for(url: str, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5.0)
            if response.status_code == 200:
                return
            last = str(response.status_code)
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise ServiceDidNotStart(f"{what}: not answering through the balancer ({last})")


def open_stack(folder: Path, ports: Ports | None = None, *, topology: str | None = None) -> Stack:
    """The stack in ``folder``: the topology asked for, else the one it was started with."""
    marker = folder / TOPOLOGY_FILE
    chosen = topology or (marker.read_text().strip() if marker.exists() else "single")
    if chosen == "single" and marker.exists() and not (folder / "stack.json").exists():
        marker.unlink()  # asked for the single machine again: the folder says so from now on
    if chosen == "ha":
        return HaStack(folder, ports)
    if chosen != "single":
        raise StackError(f"unknown topology {chosen!r}: 'single' or 'ha'")
    return Stack(folder, ports)


__all__ = ["HaPorts", "HaStack", "open_stack"]
