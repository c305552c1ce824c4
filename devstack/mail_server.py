"""The dev stack's mail server: real SMTP on loopback that keeps every message it is given.

Keycloak sends the realm's mail (password reset, e-mail verification) here the way it would to the
department's relay: STARTTLS with a certificate from the test PKI (Keycloak trusts that PKI's root,
``--truststore-paths``), then ``AUTH`` with a user and password from the stack's secret store; no
message and no password is accepted in clear. Messages go to a Maildir in the stack's folder
(``mail/``), where people (``gateway run``) and tests (:func:`messages_to`) read them.

Run as its own process by the stack (:func:`start_mail_server`: ``--folder F --port P ...``),
the password in ``MAIL_SERVER_PASSWORD``.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import hmac
import mailbox
import os
import signal
import socket
import ssl
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography.hazmat.primitives import serialization

from devstack.layout import PROJECT_ROOT
from devstack.pki import ISSUING, TestPki
from devstack.process import ManagedProcess

__all__ = ["accepts_connections", "main", "messages_to", "start_mail_server"]

#: The largest message accepted (Keycloak's mails are a few kilobytes).
MAX_MESSAGE_BYTES = 1024 * 1024


class _Keeper:
    """Puts each accepted message in the Maildir, as received (with the envelope's recipients)."""

    def __init__(self, folder: Path) -> None:
        self.maildir = mailbox.Maildir(folder, create=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        recipients = ", ".join(str(r) for r in envelope.rcpt_tos)
        self.maildir.add(f"X-Envelope-To: {recipients}\r\n".encode() + content)
        print(f"mail: kept a message for {len(envelope.rcpt_tos)} recipient(s)", flush=True)
        return "250 Message accepted for delivery"


def _authenticator(user: str, password: str) -> Any:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            good_user = hmac.compare_digest(auth_data.login, user.encode())
            good_password = hmac.compare_digest(auth_data.password, password.encode())
            if good_user and good_password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return authenticate


def accepts_connections(port: int) -> bool:
    """True once something answers SMTP's greeting on ``127.0.0.1:port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(4).startswith(b"220")
    except OSError:
        return False


def start_mail_server(
    stack_folder: Path, pki: TestPki, *, port: int, user: str, password: str
) -> None:
    """Start the stack's mail server (its own process, ``mail``) unless it runs; its certificate
    (for 127.0.0.1) is issued by the test PKI once and kept in ``mail-server/``."""
    tls = stack_folder / "mail-server"
    tls.mkdir(parents=True, exist_ok=True)
    tls.chmod(0o700)
    cert_path, key_path = tls / "server.pem", tls / "server-key.pem"
    if not cert_path.exists() or not key_path.exists():
        cert, key = pki.issue_server_certificate("127.0.0.1", days=825)
        chain = [cert, pki.certificate(ISSUING)]
        cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
    ManagedProcess("mail", stack_folder).start(
        [
            sys.executable,
            "-c",  # not -m: the devstack package imports this module first
            "import sys; from devstack.mail_server import main; sys.exit(main())",
            "--folder",
            str(stack_folder / "mail"),
            "--port",
            str(port),
            "--cert",
            str(cert_path),
            "--key",
            str(key_path),
            "--user",
            user,
        ],
        env={"MAIL_SERVER_PASSWORD": password, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        ready=lambda: accepts_connections(port),
        timeout=60,
    )


def messages_to(folder: Path, address: str) -> list[EmailMessage]:
    """The messages kept in the Maildir ``folder`` for ``address``, oldest first."""
    if not folder.exists():
        return []
    box = mailbox.Maildir(folder, create=False)
    found: list[tuple[float, EmailMessage]] = []
    for key in list(box.iterkeys()):
        message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        recipients = [r.strip().lower() for r in str(message["X-Envelope-To"] or "").split(",")]
        if address.lower() in recipients:
            found.append((box.get_message(key).get_date(), message))
    return [message for _, message in sorted(found, key=lambda pair: pair[0])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack.mail_server", description=__doc__)
    parser.add_argument("--folder", type=Path, required=True, help="the Maildir to keep mail in")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True, help="TLS certificate chain (PEM)")
    parser.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
    parser.add_argument("--user", required=True, help="the one account allowed to send")
    options = parser.parse_args(argv)
    password = os.environ.get("MAIL_SERVER_PASSWORD", "")
    if not password:
        print("MAIL_SERVER_PASSWORD is not set", file=sys.stderr)
        return 2
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(options.cert, options.key)
    controller = Controller(
        _Keeper(options.folder),
        hostname="127.0.0.1",
        port=options.port,
        server_hostname="mail.localhost",
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator(options.user, password),
        auth_required=True,
        auth_require_tls=True,
        data_size_limit=MAX_MESSAGE_BYTES,
    )
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    controller.start()
    print(f"mail: listening on 127.0.0.1:{options.port} (STARTTLS, AUTH)", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
