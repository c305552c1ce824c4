"""A second opinion on the services' OpenAPI documents that no one here wrote: schemathesis
generates requests from each document (valid, invalid, and chained through its links) and checks
every answer against it (`--checks all`: no server error, only documented statuses, content types
and schemas, invalid input refused, authentication enforced, ...). The services must do what their
documents say, and say what they do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack import StackInfo
from devstack.layout import PROJECT_ROOT
from tests.conftest import TokenFactory

pytestmark = [pytest.mark.keycloak, pytest.mark.redis, pytest.mark.softhsm, pytest.mark.pki]

SCHEMATHESIS = PROJECT_ROOT / ".work" / "tools" / "schemathesis" / "bin" / "schemathesis"
CONFIG = Path(__file__).parent.parent / "schemathesis.toml"


def _schemathesis(url: str, token: str, folder: Path) -> subprocess.CompletedProcess[str]:
    assert SCHEMATHESIS.exists(), "schemathesis is installed by scripts/bootstrap.sh for the tests"
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "15",
            "--max-time",
            "120",
            "--seed",
            "20261201",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
        cwd=folder,
    )


@pytest.mark.parametrize(
    ("service", "client"), [("signing", "demo-eoffice"), ("audit", "audit-reports")]
)
def test_the_service_does_what_its_openapi_document_says(
    stack_info: StackInfo, client_token: TokenFactory, tmp_path: Path, service: str, client: str
) -> None:
    url = stack_info.signing_url if service == "signing" else stack_info.audit_url
    run = _schemathesis(url, client_token(client), tmp_path)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    assert "No issues found" in run.stdout or " passed" in run.stdout, summary
