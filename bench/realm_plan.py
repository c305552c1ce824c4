"""`plan` and `apply` on a province-sized realm: 600 schools in 25 districts, 12 clients.

Starts its own stack (real Keycloak) in ``.work/``, writes a schools list of 600 schools and a realm file
with 12 clients, applies it once (creating the tree), then times a second apply (which must change
nothing) and `plan` (three runs). Goal (issue 3): `plan` under 10 s.

Run: ``.venv/bin/python -m bench.realm_plan``
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import yaml

from bench import run_stopping_cleanly
from devstack import Ports, Stack, StackInfo
from idp_config import DEFAULT_REALM_FILE, admin_client, apply_realm, load_realm
from idp_config.plan import Action, plan
from organisation import COLUMNS

ROOT = Path(__file__).resolve().parent.parent


def write_province(folder: Path, districts: int = 25, schools_per_district: int = 24) -> Path:
    levels = ["mam-non", "tieu-hoc", "thcs", "thpt"]
    lines = [",".join(COLUMNS)]
    for d in range(districts):
        code = f"{760 + d}"
        for s in range(schools_per_district):
            lines.append(
                f"{code},Phòng GD&ĐT Quận {d + 1},79{code}{s:03d},"
                f"Trường số {s + 1} Quận {d + 1},{levels[s % 4]}"
            )
    (folder / "schools.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    realm = yaml.safe_load(DEFAULT_REALM_FILE.read_text(encoding="utf-8"))
    realm["organisation_file"] = "schools.csv"
    while len(realm["clients"]) < 12:
        n = len(realm["clients"])
        realm["clients"].append(
            {
                "client_id": f"school-app-{n}",
                "name": f"Hệ thống trường học {n}",
                "access_type": "web",
                "redirect_uris": [f"https://app{n}.edu.example.vn/callback"],
            }
        )
    path = folder / "education.yaml"
    path.write_text(yaml.safe_dump(realm, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-realm-", dir=ROOT / ".work"))
    stack = Stack(folder / "stack", Ports.consecutive(Ports.free_block()))
    print("starting the stack…", flush=True)
    info: StackInfo = stack.up()
    try:
        spec = load_realm(
            write_province(folder), {"AUDIT_PUBLIC_URL": f"http://localhost:{stack.ports.audit}"}
        )
        admin = admin_client(info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
        secrets = {c.client_id: stack.client_secret(c.client_id) for c in spec.clients}
        started = time.perf_counter()
        first = apply_realm(
            admin,
            spec,
            client_secrets=secrets,
            user_passwords={},
            smtp_password=stack.mail_password,
        )
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = apply_realm(
            admin,
            spec,
            client_secrets=secrets,
            user_passwords={},
            smtp_password=stack.mail_password,
        )
        second_s = time.perf_counter() - started
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            changes = plan(admin, spec)
            timings.append(time.perf_counter() - started)
        pending = [c for c in changes if c.action is not Action.UNMANAGED]
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)
    groups = len(spec.units)
    print(f"\nrealm: {groups} groups ({groups - 26} schools), {len(spec.clients)} clients\n")
    print("| what | seconds |")
    print("|---|---:|")
    print(f"| first apply ({len(first.created)} created) | {first_s:.1f} |")
    print(
        f"| second apply ({len(second.created) + len(second.updated)} changes) | {second_s:.1f} |"
    )
    print(
        f"| plan (best / worst of 3; {len(pending)} pending) | {min(timings):.2f} / {max(timings):.2f} |"
    )


if __name__ == "__main__":
    run_stopping_cleanly(main)
