"""Keycloak, fetched from Maven Central with Maven, built once, started in production mode.

The distribution (``idp_config.keycloak_distribution``: its version, fetched by Maven into the
project's work folder and unpacked there) gets the project's Keycloak extensions compiled into its
``providers`` folder; ``kc.sh build`` runs once per set of build
options and extension sources (embedded ``dev-file`` database, health and metrics on, local caches),
then every stack starts it with ``start --optimized`` and its own database folder, ports and bootstrap
admin (from the environment, never committed).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import InstallFailed
from devstack.process import ManagedProcess, http_ready
from idp_config.jdk import find_java_home
from idp_config.keycloak_distribution import (
    VERSION,
    build_extensions,
    extensions_fingerprint,
    fetch,
    unpack,
)

BUILD_OPTIONS = (
    "--db=dev-file",
    "--health-enabled=true",
    "--metrics-enabled=true",
    "--cache=local",
)


#: The cluster's build (the production topology, ``gateway run --topology ha``): PostgreSQL, and the
#: distributed Infinispan caches, whose nodes find each other through that database (``jdbc-ping``).
CLUSTER_BUILD_OPTIONS = (
    "--db=postgres",
    "--health-enabled=true",
    "--metrics-enabled=true",
    "--cache=ispn",
)


def install(cache: Path, *, cluster: bool = False) -> Path:
    """Return the home of a built Keycloak distribution under ``cache``, fetching it if needed:
    the single node's build, or (``cluster``) the cluster's, in a copy of its own."""
    options = CLUSTER_BUILD_OPTIONS if cluster else BUILD_OPTIONS
    name = f"keycloak-{VERSION}-cluster" if cluster else f"keycloak-{VERSION}"
    home = cache / name
    marker = home / ".edu-gateway-build"
    fingerprint = extensions_fingerprint(" ".join(options))
    if marker.exists() and marker.read_text() == fingerprint:
        return home
    home = unpack(fetch(cache), cache, name)
    java_home = find_java_home()
    build_extensions(home, java_home)
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    result = subprocess.run(
        [str(home / "bin" / "kc.sh"), "build", *options],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        raise InstallFailed(f"kc.sh build failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    marker.write_text(fingerprint)
    return home


@dataclass(frozen=True)
class KeycloakEndpoint:
    url: str
    management_url: str
    admin_user: str
    admin_password: str

    def issuer(self, realm: str) -> str:
        return f"{self.url}/realms/{realm}"


@dataclass(frozen=True)
class ClusterNode:
    """One node of a Keycloak cluster on this machine: its name, its database (PostgreSQL, which
    is also where the nodes find each other) and its cluster transport's port on loopback, and the
    balancer's address that both nodes give as their own (the issuer is the same on every node)."""

    name: str
    db_url: str
    db_username: str
    db_password: str
    transport_port: int
    public_url: str


def launch(
    home: Path,
    stack_dir: Path,
    *,
    port: int,
    management_port: int,
    admin_user: str,
    admin_password: str,
    trust_store: Path,
    node: ClusterNode | None = None,
) -> tuple[ManagedProcess, KeycloakEndpoint]:
    """Start Keycloak without waiting; call :func:`wait_ready` with the result. It trusts the
    certificates in ``trust_store`` (PEM files; the test PKI's roots) besides the JDK's.

    Without ``node``: the single node of the dev stack (embedded database, local caches). With it:
    a node of the cluster (a distribution from ``install(cluster=True)``), behind the balancer."""
    name = node.name if node is not None else "keycloak"
    data = stack_dir / name
    data.mkdir(parents=True, exist_ok=True)
    url = node.public_url if node is not None else f"http://localhost:{port}"
    management = f"http://127.0.0.1:{management_port}"
    if node is None:
        specific = [
            # A runtime option too: given only to `kc.sh build`, Infinispan still opened its cluster
            # ports (7800, 57800) on every interface. One node, no cluster, nothing beyond loopback.
            "--cache=local",
            f"--db-url=jdbc:h2:file:{data}/keycloakdb;NON_KEYWORDS=VALUE",
        ]
        secrets = {}
    else:
        specific = [
            "--cache-stack=jdbc-ping",
            "--cache-embedded-network-bind-address=127.0.0.1",
            f"--cache-embedded-network-bind-port={node.transport_port}",
            f"--db-url={node.db_url}",
            # The balancer keeps a browser on one node with its own cookie (HAProxy's), as
            # Keycloak's reverse-proxy guide says to when the balancer does the routing.
            "--spi-sticky-session-encoder--infinispan--should-attach-route=false",
            "--proxy-headers=xforwarded",
            "--proxy-trusted-addresses=127.0.0.1",
        ]
        secrets = {"KC_DB_USERNAME": node.db_username, "KC_DB_PASSWORD": node.db_password}
    process = ManagedProcess(name, stack_dir)
    process.launch(
        [
            str(home / "bin" / "kc.sh"),
            "start",
            "--optimized",
            "--http-enabled=true",
            "--http-host=127.0.0.1",
            *specific,
            f"--http-port={port}",
            f"--http-management-port={management_port}",
            f"--hostname={url}",
            f"--truststore-paths={trust_store}",
            "--log-level=INFO",
        ],
        env={
            "JAVA_HOME": str(find_java_home()),
            "JAVA_OPTS_KC_HEAP": "-Xms128m -Xmx1024m",
            "KC_BOOTSTRAP_ADMIN_USERNAME": admin_user,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
            **secrets,
        },
        cwd=stack_dir,
    )
    return process, KeycloakEndpoint(url, management, admin_user, admin_password)


def wait_ready(process: ManagedProcess, endpoint: KeycloakEndpoint, timeout: float = 240.0) -> None:
    process.wait_ready(http_ready(f"{endpoint.management_url}/health/ready"), timeout=timeout)
