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


def install(cache: Path) -> Path:
    """Return the home of a built Keycloak distribution under ``cache``, fetching it if needed."""
    home = cache / f"keycloak-{VERSION}"
    marker = home / ".edu-gateway-build"
    fingerprint = extensions_fingerprint(" ".join(BUILD_OPTIONS))
    if marker.exists() and marker.read_text() == fingerprint:
        return home
    home = unpack(fetch(cache), cache)
    java_home = find_java_home()
    build_extensions(home, java_home)
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    result = subprocess.run(
        [str(home / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
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


def launch(
    home: Path,
    stack_dir: Path,
    *,
    port: int,
    management_port: int,
    admin_user: str,
    admin_password: str,
    trust_store: Path,
) -> tuple[ManagedProcess, KeycloakEndpoint]:
    """Start Keycloak without waiting; call :func:`wait_ready` with the result. It trusts the
    certificates in ``trust_store`` (PEM files; the test PKI's roots) besides the JDK's."""
    data = stack_dir / "keycloak"
    data.mkdir(parents=True, exist_ok=True)
    url = f"http://localhost:{port}"
    management = f"http://127.0.0.1:{management_port}"
    process = ManagedProcess("keycloak", stack_dir)
    process.launch(
        [
            str(home / "bin" / "kc.sh"),
            "start",
            "--optimized",
            "--http-enabled=true",
            "--http-host=127.0.0.1",
            # A runtime option too: given only to `kc.sh build`, Infinispan still opened its cluster
            # ports (7800, 57800) on every interface. One node, no cluster, nothing beyond loopback.
            "--cache=local",
            f"--http-port={port}",
            f"--http-management-port={management_port}",
            f"--hostname={url}",
            f"--db-url=jdbc:h2:file:{data}/keycloakdb;NON_KEYWORDS=VALUE",
            f"--truststore-paths={trust_store}",
            "--log-level=INFO",
        ],
        env={
            "JAVA_HOME": str(find_java_home()),
            "JAVA_OPTS_KC_HEAP": "-Xms128m -Xmx1024m",
            "KC_BOOTSTRAP_ADMIN_USERNAME": admin_user,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
        },
        cwd=stack_dir,
    )
    return process, KeycloakEndpoint(url, management, admin_user, admin_password)


def wait_ready(process: ManagedProcess, endpoint: KeycloakEndpoint, timeout: float = 240.0) -> None:
    process.wait_ready(http_ready(f"{endpoint.management_url}/health/ready"), timeout=timeout)
