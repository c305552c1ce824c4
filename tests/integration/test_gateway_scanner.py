"""The scan of the gateway itself: its seal certificate, its CRL, its key store and its audit path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from devstack import Stack, StackInfo
from scanners import scan_gateway

pytestmark = [pytest.mark.keycloak, pytest.mark.softhsm, pytest.mark.pki, pytest.mark.redis]


def test_the_running_gateway_is_healthy(stack_info: StackInfo) -> None:
    findings = asyncio.run(
        scan_gateway(
            signing_url=stack_info.signing_url,
            audit_url=stack_info.audit_url,
            seal_certificate_pem=Path(stack_info.seal_certificate).read_bytes(),
        )
    )
    assert findings == []


def test_an_expiring_seal_and_an_unreachable_key_store_are_found(
    stack: Stack, stack_info: StackInfo
) -> None:
    cert, _ = stack.pki.issue_server_certificate("seal.test", days=10)
    findings = asyncio.run(
        scan_gateway(
            signing_url="http://127.0.0.1:9",  # nothing answers: the key store is out of reach
            audit_url=stack_info.audit_url,
            seal_certificate_pem=cert.public_bytes(serialization.Encoding.PEM),
        )
    )
    by_rule = {f.rule_id: f for f in findings}
    assert set(by_rule) == {"GW-001", "GW-003"}
    assert "expires in" in by_rule["GW-001"].evidence
    assert by_rule["GW-003"].severity.value == "critical"
