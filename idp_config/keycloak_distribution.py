"""The Keycloak the realm is written for, and the project's extensions compiled for it.

Keycloak ``VERSION`` (``org.keycloak:keycloak-quarkus-dist``, the zip) is fetched by Maven from
Maven Central and unpacked in a cache folder; the project's extensions (``idp_config/extensions/*``:
the first-broker-login authenticator that links a national e-ID by citizen ID, and the department's
theme for the login pages, the account console and mail) are compiled against
the distribution's own jars with a JDK's ``javac`` and packed as jars, for its ``providers``
folder. ``idp-config build-extensions`` does this for a production Keycloak (``compose.yaml``
mounts the folder); the dev stack does it for the Keycloak it runs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

from idp_config.errors import ExtensionBuildFailed, ToolMissing
from idp_config.theme_fonts import add_theme_fonts

VERSION = "26.7.3"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
EXTENSIONS = Path(__file__).resolve().parent / "extensions"
#: Where the distribution is kept between runs (the project's ignored work folder).
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".work" / "cache"


def extension_sources() -> list[Path]:
    return sorted(p for p in EXTENSIONS.rglob("*") if p.is_file() and "src" in p.parts)


def extensions_fingerprint(build_options: str) -> str:
    """A digest of a build's options and every extension source (path and content): a changed
    source means a rebuild."""
    digest = hashlib.sha256(build_options.encode())
    for source in extension_sources():
        digest.update(str(source.relative_to(EXTENSIONS)).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _tool(failure: str, program: Path, options: list[str], *arguments: str) -> None:
    result = subprocess.run(
        [str(program), *options, *arguments], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ExtensionBuildFailed(f"{failure}:\n{result.stderr[-3000:]}")


def fetch(cache: Path) -> Path:
    """The distribution's zip in ``cache/downloads``, fetched by Maven if not there yet."""
    downloads = cache / "downloads"
    archive = downloads / f"keycloak-quarkus-dist-{VERSION}.zip"
    if archive.exists():
        return archive
    if shutil.which("mvn") is None:
        raise ToolMissing("Maven (mvn) is not installed; the setup script installs it")
    cache.mkdir(parents=True, exist_ok=True)
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
        raise ToolMissing(f"Maven could not fetch {ARTIFACT}:\n{result.stdout[-2000:]}")
    return archive


def unpack(archive: Path, cache: Path, name: str = f"keycloak-{VERSION}") -> Path:
    """A fresh copy of the distribution in ``cache/<name>`` (``keycloak-VERSION`` by default: a
    second build, such as the cluster's, gets a copy of its own); its home."""
    home = cache / name
    staging = cache / f"{name}.unpacking"
    for folder in (home, staging):
        if folder.exists():
            shutil.rmtree(folder)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(staging)
    (staging / f"keycloak-{VERSION}").rename(home)
    staging.rmdir()
    for script in (home / "bin").glob("*.sh"):
        script.chmod(0o755)
    return home


def distribution(cache: Path = DEFAULT_CACHE) -> Path:
    """The home of an unpacked distribution under ``cache`` (the dev stack's, if it has one)."""
    home = cache / f"keycloak-{VERSION}"
    if (home / "lib" / "lib" / "main").is_dir():
        return home
    return unpack(fetch(cache), cache)


def build_extensions(home: Path, java_home: Path, out: Path | None = None) -> list[Path]:
    """Compile each extension under ``idp_config/extensions`` against the distribution at
    ``home`` into a jar in ``out`` (default: the distribution's ``providers`` folder)."""
    javac, jar = java_home / "bin" / "javac", java_home / "bin" / "jar"
    if not javac.exists() or not jar.exists():
        raise ToolMissing(f"{java_home} has no javac/jar: a JDK (not only a JRE) is needed")
    target_folder = out if out is not None else home / "providers"
    target_folder.mkdir(parents=True, exist_ok=True)
    built: list[Path] = []
    for project in sorted(p for p in EXTENSIONS.iterdir() if (p / "src").is_dir()):
        classes = home / "extensions-build" / project.name
        shutil.rmtree(classes, ignore_errors=True)
        classes.mkdir(parents=True)
        sources = [str(p) for p in sorted((project / "src" / "main" / "java").rglob("*.java"))]
        classpath = str(home / "lib" / "lib" / "main" / "*")
        if sources:  # a theme is resources only
            _tool(
                f"extension {project.name} does not compile",
                javac,
                ["--release", "21", "-encoding", "UTF-8", "-cp", classpath, "-d", str(classes)],
                *sources,
            )
        resources = project / "src" / "main" / "resources"
        if resources.is_dir():
            shutil.copytree(resources, classes, dirs_exist_ok=True)
        if (classes / "theme").is_dir():
            add_theme_fonts(classes / "theme")
        target = target_folder / f"edu-gateway-{project.name}.jar"
        _tool(
            f"extension {project.name} could not be packed",
            jar,
            ["--create", "--file", str(target), "-C", str(classes), "."],
        )
        built.append(target)
    return built
