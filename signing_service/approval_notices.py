"""How a signer learns that an approval waits, or that a device was added to their account: the
notifier :class:`~signing_service.approvals.Approvals` announces each pending approval (a signature
or a new device to confirm) and each new device through (a log line in development, a push gateway
in production)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import httpx
import structlog

if TYPE_CHECKING:
    from signing_service.approvals import Device, PendingApproval

_log = structlog.get_logger(__name__)


class ApprovalNotifier(Protocol):
    async def announce(self, approval: PendingApproval, url: str) -> None:
        """Tell the signer's device that ``approval`` waits at ``url``."""
        ...

    async def device_paired(self, device: Device, requested_by: str) -> None:
        """Tell the person that ``device`` can now approve their signatures (if they did not add
        it, they revoke it and report it)."""
        ...


class LogNotifier:
    """Development default: log that an approval waits (by id; never the hashes)."""

    async def announce(self, approval: PendingApproval, url: str) -> None:
        _log.info(
            "approval.pending",
            kind=approval.kind,
            approval_id=approval.approval_id,
            owner=approval.owner,
        )

    async def device_paired(self, device: Device, requested_by: str) -> None:
        _log.info("approval.device_paired", owner=device.owner, requested_by=requested_by)


class WebhookNotifier:
    """POST the approval link to a push gateway (web push, the citizens' app, an SMS gateway)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout

    async def announce(self, approval: PendingApproval, url: str) -> None:
        await self._post(
            {
                "kind": approval.kind,
                "owner": approval.owner,
                "url": url,
                "fingerprint": approval.fingerprint,
                "documents": len(approval.hashes),
                "requested_by": approval.requested_by,
                "expires_at": int(approval.expires_at),
            }
        )

    async def device_paired(self, device: Device, requested_by: str) -> None:
        await self._post(
            {
                "kind": "device-paired",
                "owner": device.owner,
                "label": device.label,
                "requested_by": requested_by,
                "paired_at": int(device.created_at),
            }
        )

    async def _post(self, payload: dict[str, object]) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(self._url, json=payload)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            # The approval stays valid: the signer can still open it from the app's list.
            _log.warning("approval.notify_failed", kind=payload["kind"], error=type(exc).__name__)
