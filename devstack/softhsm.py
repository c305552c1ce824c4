"""SoftHSM2 (Debian's ``softhsm2``) as the PKCS#11 token of dev and tests.

Each stack has its own token folder and configuration file (``SOFTHSM2_CONF``); the token is
initialised once with the SO and user PINs from the stack's secrets.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pkcs11

from devstack.errors import InstallFailed

MODULE_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
)


def module_path() -> Path:
    for candidate in MODULE_CANDIDATES:
        if candidate.exists():
            return candidate
    raise InstallFailed("libsofthsm2.so not found; the setup script installs softhsm2")


def configure(stack_dir: Path) -> Path:
    """Write the stack's SoftHSM2 configuration; return its path (for ``SOFTHSM2_CONF``)."""
    folder = stack_dir / "softhsm"
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    tokens.chmod(0o700)
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = false\n"
    )
    return conf


def ensure_token(conf: Path, *, label: str, so_pin: str, user_pin: str) -> None:
    """Initialise the token ``label`` unless it exists. Needs ``SOFTHSM2_CONF`` = ``conf``."""
    lib = pkcs11.lib(str(module_path()))
    for slot in lib.get_slots(token_present=True):
        if slot.get_token().label == label:
            return
    tool = shutil.which("softhsm2-util")
    if tool is None:
        raise InstallFailed("softhsm2-util is not installed; the setup script installs softhsm2")
    result = subprocess.run(
        [tool, "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin],
        capture_output=True,
        text=True,
        check=False,
        env={"SOFTHSM2_CONF": str(conf)},
    )
    if result.returncode != 0:
        # softhsm2-util's own messages never echo the PINs.
        raise InstallFailed(f"softhsm2-util could not initialise token {label!r}: {result.stderr}")
    lib.reinitialize()
