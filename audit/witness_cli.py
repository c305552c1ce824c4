"""``gateway-witness``: run a witness of the audit log (``c2sp.org/tlog-witness``).

Exit codes: 0 done, 2 bad configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from audit.witness import (
    WitnessConfig,
    WitnessError,
    cosigner,
    generate_key,
    load_key,
    serve,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Nhân chứng nhật ký / witness")
console = Console()

ConfigOption = Annotated[
    Path, typer.Option(exists=True, dir_okay=False, help="witness.yaml (name, key, state, logs)")
]


def _config(path: Path) -> WitnessConfig:
    try:
        return WitnessConfig.load(path)
    except (WitnessError, ValidationError) as exc:
        console.print(f"{path}: {exc}")
        raise typer.Exit(2) from exc


@app.command()
def init(config: ConfigOption) -> None:
    """Create the witness's Ed25519 key (mode 0600) if it has none; print its verifier key, which
    the audit service is configured with (AUDIT_WITNESSES)."""
    settings = _config(config)
    key = (
        load_key(settings.key_file)
        if settings.key_file.exists()
        else generate_key(settings.key_file)
    )
    console.print(cosigner(settings.name, key).verifier.vkey(), soft_wrap=True)


@app.command()
def vkey(config: ConfigOption) -> None:
    """Print the witness's verifier key (``name+keyid+base64``)."""
    settings = _config(config)
    try:
        key = load_key(settings.key_file)
    except (OSError, WitnessError) as exc:
        console.print(f"{settings.key_file}: {exc}")
        raise typer.Exit(2) from exc
    console.print(cosigner(settings.name, key).verifier.vkey(), soft_wrap=True)


@app.command("serve")
def serve_command(config: ConfigOption) -> None:
    """Answer ``POST /add-checkpoint`` on the configured loopback address until stopped."""
    settings = _config(config)
    try:
        serve(settings)
    except (OSError, WitnessError) as exc:
        console.print(str(exc))
        raise typer.Exit(2) from exc


if __name__ == "__main__":
    app()
