"""The whole gateway on one machine: Keycloak, Redis, SoftHSM2, the test PKI and the services.

:class:`Stack` owns one folder (``.work/run`` for ``gateway run``, a temporary one per test session)
holding every component's data, logs, pid files and generated secrets. :meth:`Stack.up` is idempotent:
what runs already is kept, what exists already (token, PKI, keys, realm objects) is reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from audit.producers import Producer, decode_key
from audit.trail import TrailSettings
from devstack import keycloak, national_id, redis_server, softhsm
from devstack.connection_file import connection_path, write_connection_file
from devstack.demo import seed_documents
from devstack.layout import PROJECT_ROOT, Ports, StackInfo
from devstack.mail_server import start_mail_server
from devstack.pki import TestPki
from devstack.process import ManagedProcess, start_service
from devstack.secrets_store import SecretStore
from devstack.service_environments import audit_environment, signing_environment
from devstack.token_keys import (
    CHECKPOINT_KEY,
    CHECKPOINT_ORIGIN,
    LEGACY_CHECKPOINT_KEY,
    SEAL_KEY,
    SIGNING_AUDIT_MAC_KEY,
    TOKEN_LABEL,
    enrol_checkpoint_key,
    enrol_seal,
    enrol_signing_audit_key,
)
from devstack.witnesses import WITNESSES, start_witnesses, witness_folder
from idp_config import DEFAULT_REALM_FILE, admin_client, apply_realm, load_realm

__all__ = [
    "CHECKPOINT_KEY",
    "CHECKPOINT_ORIGIN",
    "LEGACY_CHECKPOINT_KEY",
    "PROJECT_ROOT",
    "SEAL_KEY",
    "SIGNING_AUDIT_MAC_KEY",
    "TOKEN_LABEL",
    "Ports",
    "Stack",
    "StackInfo",
    "realm_variables",
]

REALM = "education"
#: The account Keycloak sends mail with, at the stack's own mail server.
MAIL_USER = "keycloak"
SERVICES = ("pki", *(name for name, _ in WITNESSES), "audit", "signing")


Progress = Callable[[str], None]


def realm_variables(keycloak_port: int, audit_port: int, mail_port: int) -> dict[str, str]:
    """The realm file's ``${...}`` variables for a stack on this machine at these ports."""
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mail_port),
        "SMTP_USER": MAIL_USER,
        "AUDIT_PUBLIC_URL": f"http://localhost:{audit_port}",
        "NATIONAL_ID_ISSUER": national_id.issuer(f"http://localhost:{keycloak_port}"),
        "NATIONAL_ID_CLIENT_ID": national_id.CLIENT_ID,
    }


def _quiet(_: str) -> None:
    pass


class Stack:
    def __init__(
        self,
        folder: Path,
        ports: Ports | None = None,
        *,
        checkpoint_interval: float = 30.0,
        revocation_cache_seconds: float = 300.0,
        retention_interval: float = 86400.0,
        alert_webhook_url: str | None = None,
        approval_webhook_url: str | None = None,
    ) -> None:
        self.alert_webhook_url = alert_webhook_url
        self.approval_webhook_url = approval_webhook_url
        self.folder = folder.resolve()
        self.checkpoint_interval = checkpoint_interval
        self.revocation_cache_seconds = revocation_cache_seconds
        #: How often the audit service's retention task runs (daily; a test shortens it).
        self.retention_interval = retention_interval
        self.ports = ports or Ports()
        self.cache = PROJECT_ROOT / ".work" / "cache"
        self.secrets = SecretStore(self.folder / "secrets.json")
        self.realm_spec = load_realm(DEFAULT_REALM_FILE, self.realm_variables)
        self.pki = TestPki(self.folder / "pki", f"http://127.0.0.1:{self.ports.pki}")

    # -- names -------------------------------------------------------------------------------
    @property
    def realm_variables(self) -> dict[str, str]:
        """The realm file's ``${...}`` variables for this stack's addresses."""
        return realm_variables(self.ports.keycloak, self.ports.audit, self.ports.mail)

    def provider_secret(self, alias: str) -> str:
        """The secret of the realm's client at the (stand-in) external identity provider."""
        return self.secrets.get(f"national-id:{alias}", length=24)

    @property
    def info_path(self) -> Path:
        return self.folder / "stack.json"

    def processes(self) -> list[ManagedProcess]:
        return [ManagedProcess(n, self.folder) for n in ("keycloak", "redis", "mail", *SERVICES)]

    @property
    def mail_password(self) -> str:
        """Keycloak's password at the stack's mail server."""
        return self.secrets.get("mail:keycloak", length=24)

    @property
    def mail_folder(self) -> Path:
        """The Maildir where the stack's mail server keeps every message."""
        return self.folder / "mail"

    def client_secret(self, client_id: str) -> str:
        return self.secrets.get(f"client:{client_id}", length=24)

    def user_password(self, username: str) -> str:
        return self.secrets.get(f"user:{username}", length=12)

    def redis_password(self, user: str) -> str:
        """The password of a service's Redis user (``devstack.redis_server.ACL_RULES``)."""
        return self.secrets.get(f"redis:{user}", length=24)

    def producer_key(self, producer: Producer) -> str:
        """A producer's audit-event key (base64 of 32 random bytes)."""
        return self.secrets.get(f"audit-key:{producer.value}", length=32)

    def trail_settings(self, producer: Producer, redis_url: str) -> TrailSettings:
        """How a producer of this stack records audit events: its Redis user and its key."""
        return TrailSettings(
            redis_url=redis_url,
            redis_username=producer.value,
            redis_password=SecretStr(self.redis_password(producer.value)),
            mac_key=SecretStr(self.producer_key(producer)),
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def running(self) -> bool:
        return all(p.running() for p in self.processes()) and self.info_path.exists()

    def up(self, progress: Progress = _quiet) -> StackInfo:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        self.cache.mkdir(parents=True, exist_ok=True)
        ports = self.ports

        # Before Keycloak: it trusts the test PKI's roots (the mail server's certificate).
        progress("PKI thử nghiệm / test PKI")
        self.pki.ensure()
        progress("Keycloak: khởi động / start")
        keycloak_ready = self._launch_keycloak(progress)

        progress("Redis")
        redis_url = self._start_redis()

        progress("SoftHSM2: token PKCS#11")
        conf = softhsm.configure(self.folder)
        os.environ["SOFTHSM2_CONF"] = str(conf)
        user_pin = self.secrets.get("hsm:user-pin", length=8, digits_only=True)
        softhsm.ensure_token(
            conf,
            label=TOKEN_LABEL,
            so_pin=self.secrets.get("hsm:so-pin", length=8, digits_only=True),
            user_pin=user_pin,
        )

        pki_url = self.pki.urls.base
        self._service(
            "pki",
            "devstack.pki_service:create_app",
            ports.pki,
            {
                "DEVSTACK_PKI_DIR": str(self.pki.folder),
                "DEVSTACK_PKI_URL": pki_url,
                "DEVSTACK_PKI_RA_TOKEN": self.secrets.get("pki:ra-token", length=24),
            },
        )

        progress("Khoá dấu cơ quan trong token / organisation seal key")
        seal_cert = self._enrol_seal(user_pin)
        log_vkey = self._enrol_checkpoint_key(user_pin).read_text().strip()
        self._enrol_signing_audit_key(user_pin)
        progress("Nhân chứng nhật ký / audit log witnesses")
        witnesses = self._start_witnesses(log_vkey)

        progress("Máy chủ thư / mail server")
        start_mail_server(
            self.folder,
            self.pki,
            port=ports.mail,
            user=MAIL_USER,
            password=self.mail_password,
        )

        progress("Keycloak: chờ sẵn sàng / wait until ready")
        kc = keycloak_ready()
        progress("Keycloak: realm education")
        admin = admin_client(kc.url, kc.admin_user, kc.admin_password)
        apply_realm(
            admin,
            self.realm_spec,
            client_secrets={
                c.client_id: self.client_secret(c.client_id) for c in self.realm_spec.clients
            },
            user_passwords={
                u.username: self.user_password(u.username) for u in self.realm_spec.users
            },
            provider_secrets={
                p.alias: self.provider_secret(p.alias) for p in self.realm_spec.identity_providers
            },
            smtp_password=self.mail_password,
        )
        progress("Keycloak: VNeID mô phỏng / national e-ID stand-in")
        national_id.stand_in(
            admin,
            keycloak_url=kc.url,
            broker_realm=REALM,
            providers={
                p.alias: self.provider_secret(p.alias) for p in self.realm_spec.identity_providers
            },
            citizen_password=self.user_password(national_id.DEMO_CITIZEN_USERNAME),
        )
        issuer = kc.issuer(REALM)

        progress("Dịch vụ kiểm toán / audit service")
        self._start_audit(
            audit_environment(
                self,
                issuer=issuer,
                redis_url=redis_url,
                softhsm_conf=conf,
                user_pin=user_pin,
                witnesses=witnesses,
            )
        )
        progress("Dịch vụ ký số / signing service")
        self._start_signing(
            signing_environment(
                self,
                issuer=issuer,
                redis_url=redis_url,
                softhsm_conf=conf,
                user_pin=user_pin,
                seal_certificate=seal_cert,
            )
        )
        self._after_services(progress)

        info = StackInfo(
            folder=str(self.folder),
            keycloak_url=kc.url,
            keycloak_admin_console=f"{kc.url}/admin/master/console/",
            keycloak_health=f"{kc.management_url}/health/ready",
            issuer=issuer,
            redis_url=redis_url,
            pki_url=pki_url,
            signing_url=f"http://127.0.0.1:{ports.signing}",
            audit_url=f"http://127.0.0.1:{ports.audit}",
            softhsm_conf=str(conf),
            seal_certificate=str(seal_cert),
            trust_store=str(self.pki.trust_store),
        )
        seed_documents(self.folder / "demo")
        info.save(self.info_path)
        write_connection_file(self, info)  # for idp-config and gateway-scan --stack
        return info

    # -- the parts the production topology (devstack/ha.py) starts its own way ------------------
    def _launch_keycloak(self, progress: Progress) -> Callable[[], keycloak.KeycloakEndpoint]:
        """Start Keycloak; return what waits until it is ready."""
        progress("Keycloak: cài đặt / install")
        home = keycloak.install(self.cache)
        process, endpoint = keycloak.launch(
            home,
            self.folder,
            port=self.ports.keycloak,
            management_port=self.ports.keycloak_management,
            admin_user="admin",
            admin_password=self.secrets.get("keycloak:admin", length=18),
            trust_store=self.pki.trust_store,
        )

        def ready() -> keycloak.KeycloakEndpoint:
            keycloak.wait_ready(process, endpoint)
            return endpoint

        return ready

    def _start_redis(self) -> str:
        return redis_server.start(
            self.folder,
            port=self.ports.redis,
            passwords={user: self.redis_password(user) for user in redis_server.ACL_RULES},
        )

    def audit_store_environment(self) -> dict[str, str]:
        """Where the audit service keeps its events: on one machine, an SQLite file."""
        return {"AUDIT_STORE_PATH": str(self.folder / "audit" / "events.sqlite3")}

    def _start_audit(self, env: dict[str, str]) -> None:
        self._service("audit", "audit.app:create_app", self.ports.audit, env)

    def _start_signing(self, env: dict[str, str]) -> None:
        # Signing is CPU-bound: one worker process per core (each has its own token session).
        self._service(
            "signing",
            "signing_service.app:create_app",
            self.ports.signing,
            env,
            workers=os.cpu_count() or 1,
        )

    def _after_services(self, progress: Progress) -> None:
        """What starts once the services run (the production topology's balancer)."""

    def _service(
        self, name: str, factory: str, port: int, env: dict[str, str], *, workers: int = 1
    ) -> None:
        start_service(self.folder, name, factory, port, env, workers=workers)

    def _enrol_seal(self, user_pin: str) -> Path:
        return enrol_seal(self.folder / "signing", self.pki, user_pin)

    @property
    def archive_dir(self) -> Path:
        """Where the audit service's retention puts expired events (archives that verify)."""
        return self.folder / "audit" / "archives"

    @property
    def checkpoint_public_key(self) -> Path:
        """The log's verifier key (``origin+keyid+base64``), what ``verify`` is given."""
        return self.folder / "audit" / "checkpoint-key.vkey"

    @property
    def legacy_checkpoint_public_key(self) -> Path:
        """The RSA public key of checkpoints signed before signed notes (older folders only)."""
        return self.folder / "audit" / "checkpoint-key.pem"

    def _enrol_checkpoint_key(self, user_pin: str) -> Path:
        return enrol_checkpoint_key(self.checkpoint_public_key, user_pin)

    def witness_folder(self, name: str) -> Path:
        return witness_folder(self.folder, name)

    def _start_witnesses(self, log_vkey: str) -> list[dict[str, str]]:
        ports = (self.ports.witness_so, self.ports.witness_phong)
        return start_witnesses(self.folder, ports, log_vkey)

    def _enrol_signing_audit_key(self, user_pin: str) -> None:
        enrol_signing_audit_key(user_pin, decode_key(self.producer_key(Producer.SIGNING)))

    def down(self) -> list[str]:
        """Stop every process of this stack (services first); return the names that were running.

        The stack's file goes first: a ``gateway run`` supervising this stack in another process
        takes that as "stopping" and restarts nothing while its components are stopped."""
        self.info_path.unlink(missing_ok=True)
        connection_path(self).unlink(missing_ok=True)
        stopped = []
        for process in reversed(self.processes()):
            if process.stop():
                stopped.append(process.name)
        return stopped
