"""Scanner: the TLS of a registered system, with sslyze, against Mozilla's intermediate profile.

sslyze runs in its own virtual environment (``SSLYZE_PYTHON``, default ``.work/tools/sslyze``, made by
``scripts/bootstrap.sh``) because it pins an older cryptography than pyHanko needs; this module starts
``scanners/tls_probe.py`` there and judges its JSON answer with the rules in ``policies/rules/tls.yaml``.
Only registered origins are probed; the probe gets a host and port, never a URL it could be redirected from.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from policies import Violation, evaluate_tls
from policies.tls_checks import TlsObservation
from scanners.errors import ScannerError, ScanTargetUnreachable, SystemUnreachable, Unreachable
from scanners.targets import TargetRegistry

_log = structlog.get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SSLYZE_PYTHON = PROJECT_ROOT / ".work" / "tools" / "sslyze" / "bin" / "python"
_PROBE = Path(__file__).with_name("tls_probe.py")


class SslyzeMissing(ScannerError):
    code = "sslyze-missing"
    status_code = 503
    message_vi = "Chưa cài sslyze cho bộ quét TLS (chạy scripts/bootstrap.sh)."
    message_en = "sslyze for the TLS scanner is not installed (run scripts/bootstrap.sh)."


def sslyze_python() -> Path:
    return Path(os.environ.get("SSLYZE_PYTHON", DEFAULT_SSLYZE_PYTHON))


async def probe_tls(
    url: str, registry: TargetRegistry, *, ca_file: Path | None = None, limit_seconds: float = 120
) -> TlsObservation:
    pinned = registry.pin(url)
    target = urlsplit(pinned.url)
    if target.scheme != "https" or not target.hostname:
        raise ScanTargetUnreachable("the TLS scanner needs an https:// address")
    python = sslyze_python()
    if not python.exists():
        raise SslyzeMissing(str(python))
    port = target.port or 443
    # sslyze connects to the address checked, never to what the name resolves to later.
    address = pinned.addresses[0] if pinned.addresses else "-"
    args = [
        str(_PROBE),
        target.hostname,
        str(port),
        address,
        *([str(ca_file)] if ca_file else []),
    ]
    process = await asyncio.create_subprocess_exec(
        str(python),
        "-W",
        "ignore",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit_seconds)
    except TimeoutError as exc:
        process.kill()
        raise SystemUnreachable(
            Unreachable.TIMED_OUT, f"sslyze did not finish in {limit_seconds:.0f} s"
        ) from exc
    if process.returncode != 0:
        _log.warning(
            "scan.tls_probe_failed",
            endpoint=f"{target.hostname}:{port}",
            stderr=err.decode(errors="replace")[-2000:],
        )
        raise SystemUnreachable(Unreachable.OTHER, "sslyze failed (details in the log)")
    answer = json.loads(out)
    if not answer.get("reachable"):
        _log.info(
            "scan.tls_unreachable",
            endpoint=f"{target.hostname}:{port}",
            error=answer.get("error", ""),
        )
        raise SystemUnreachable(
            Unreachable(answer.get("reason", Unreachable.OTHER)), f"{target.hostname}:{port}"
        )
    return TlsObservation(
        endpoint=f"{target.hostname}:{port}",
        protocols=list(answer.get("protocols", [])),
        certificate=dict(answer.get("certificate", {})),
        mozilla_intermediate_issues=dict(answer.get("mozilla_intermediate_issues", {})),
    )


async def scan_tls(
    url: str, registry: TargetRegistry, *, ca_file: Path | None = None
) -> list[Violation]:
    """Every TLS rule the registered endpoint ``url`` breaks."""
    return evaluate_tls(await probe_tls(url, registry, ca_file=ca_file))
