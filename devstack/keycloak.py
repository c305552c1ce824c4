"""Keycloak, fetched from Maven Central with Maven, built once, started in production mode.

The distribution ``org.keycloak:keycloak-quarkus-dist`` (zip) is copied by Maven into the project's work
folder and unpacked there; the project's Keycloak extensions (``idp_config/extensions/*``: the
first-broker-login authenticator that links a national e-ID by citizen ID) are compiled against the
distribution's own jars into its ``providers`` folder; ``kc.sh build`` runs once per set of build
options and extension sources (embedded ``dev-file`` database, health and metrics on, local caches),
then every stack starts it with ``start --optimized`` and its own database folder, ports and bootstrap
admin (from the environment, never committed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import InstallFailed
from devstack.java import find_java_home
from devstack.process import ManagedProcess, http_ready

VERSION = "26.7.3"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
BUILD_OPTIONS = (
    "--db=dev-file",
    "--health-enabled=true",
    "--metrics-enabled=true",
    "--cache=local",
)


EXTENSIONS = Path(__file__).resolve().parent.parent / "idp_config" / "extensions"


def _extension_sources() -> list[Path]:
    return sorted(p for p in EXTENSIONS.rglob("*") if p.is_file() and "src" in p.parts)


def _tool(failure: str, program: Path, options: list[str], *arguments: str) -> None:
    result = subprocess.run(
        [str(program), *options, *arguments], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InstallFailed(f"{failure}:\n{result.stderr[-3000:]}")


def build_extensions(home: Path, java_home: Path) -> list[Path]:
    """Compile each extension under ``idp_config/extensions`` into a jar in ``home/providers``."""
    javac, jar = java_home / "bin" / "javac", java_home / "bin" / "jar"
    if not javac.exists() or not jar.exists():
        raise InstallFailed(f"{java_home} has no javac/jar: a JDK (not only a JRE) is needed")
    built: list[Path] = []
    for project in sorted(p for p in EXTENSIONS.iterdir() if (p / "src").is_dir()):
        classes = home / "extensions-build" / project.name
        shutil.rmtree(classes, ignore_errors=True)
        classes.mkdir(parents=True)
        sources = [str(p) for p in sorted((project / "src" / "main" / "java").rglob("*.java"))]
        classpath = str(home / "lib" / "lib" / "main" / "*")
        _tool(
            f"extension {project.name} does not compile",
            javac,
            ["--release", "21", "-encoding", "UTF-8", "-cp", classpath, "-d", str(classes)],
            *sources,
        )
        resources = project / "src" / "main" / "resources"
        if resources.is_dir():
            shutil.copytree(resources, classes, dirs_exist_ok=True)
        target = home / "providers" / f"edu-gateway-{project.name}.jar"
        _tool(
            f"extension {project.name} could not be packed",
            jar,
            ["--create", "--file", str(target), "-C", str(classes), "."],
        )
        built.append(target)
    return built


def install(cache: Path) -> Path:
    """Return the home of a built Keycloak distribution under ``cache``, fetching it if needed."""
    home = cache / f"keycloak-{VERSION}"
    marker = home / ".edu-gateway-build"
    digest = hashlib.sha256(" ".join(BUILD_OPTIONS).encode())
    for source in _extension_sources():
        digest.update(str(source.relative_to(EXTENSIONS)).encode() + b"\0" + source.read_bytes())
    fingerprint = digest.hexdigest()
    if marker.exists() and marker.read_text() == fingerprint:
        return home
    downloads = cache / "downloads"
    archive = downloads / f"keycloak-quarkus-dist-{VERSION}.zip"
    if not archive.exists():
        if shutil.which("mvn") is None:
            raise InstallFailed("Maven (mvn) is not installed; the setup script installs it")
        result = subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                f"{DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact={ARTIFACT}",
                f"-DoutputDirectory={downloads}",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=cache,
        )
        if result.returncode != 0 or not archive.exists():
            raise InstallFailed(f"Maven could not fetch {ARTIFACT}:\n{result.stdout[-2000:]}")
    if home.exists():
        shutil.rmtree(home)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(cache)
    for script in (home / "bin").glob("*.sh"):
        script.chmod(0o755)
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
) -> tuple[ManagedProcess, KeycloakEndpoint]:
    """Start Keycloak without waiting; call :func:`wait_ready` with the result."""
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
            f"--http-port={port}",
            f"--http-management-port={management_port}",
            f"--hostname={url}",
            f"--db-url=jdbc:h2:file:{data}/keycloakdb;NON_KEYWORDS=VALUE",
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
