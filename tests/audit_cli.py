"""Runs ``gateway-audit`` (``python -m audit``) as an officer would, in a clean environment."""

from __future__ import annotations

import subprocess
import sys


def run_audit_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"COLUMNS": "200", **(env or {})},
    )
