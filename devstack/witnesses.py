"""The demo's witnesses of the audit log: the department's and one district office's.

Each has its own folder under the stack's (``witnesses/<name>``, mode 0700): its key file, its
configuration and the state of what it last cosigned, and runs as its own process
(``gateway-witness serve``). The audit service sends them each new checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from audit.witness import cosigner, generate_key, load_key
from devstack.layout import PROJECT_ROOT
from devstack.process import ManagedProcess, http_ready
from devstack.token_keys import CHECKPOINT_ORIGIN

#: The demo's two witnesses: the department's and one district office's (name, key name).
WITNESSES = (
    ("witness-so", "so-gddt.localhost/witness"),
    ("witness-phong", "phong-760.localhost/witness"),
)


def witness_folder(stack_folder: Path, name: str) -> Path:
    return stack_folder / "witnesses" / name


def start_witnesses(
    stack_folder: Path, ports: tuple[int, int], log_vkey: str
) -> list[dict[str, str]]:
    """Start the demo's witnesses (each its own key file, state and process) on ``ports``;
    return the audit service's ``AUDIT_WITNESSES``."""
    configured = []
    for (name, key_name), port in zip(WITNESSES, ports, strict=True):
        folder = witness_folder(stack_folder, name)
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        key_file = folder / "witness-key.pem"
        key = load_key(key_file) if key_file.exists() else generate_key(key_file)
        config = folder / "witness.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "name": key_name,
                    "key_file": key_file.name,
                    "state_file": "state.json",
                    "host": "127.0.0.1",
                    "port": port,
                    "logs": [{"origin": CHECKPOINT_ORIGIN, "vkey": log_vkey}],
                }
            )
        )
        ManagedProcess(name, stack_folder).start(
            [sys.executable, "-m", "audit.witness_cli", "serve", "--config", str(config)],
            env={"PYTHONPATH": str(PROJECT_ROOT)},
            cwd=PROJECT_ROOT,
            ready=http_ready(f"http://127.0.0.1:{port}/"),
            timeout=60,
        )
        vkey = cosigner(key_name, key).verifier.vkey()
        configured.append({"url": f"http://127.0.0.1:{port}", "vkey": vkey})
    return configured
