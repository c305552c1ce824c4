"""Issuing 25,000 staff accounts into the real Keycloak, then the daily delta (1 % changed).

Starts its own stack (real Keycloak with its embedded database, Redis, the audit service) in ``.work``,
then, with the library the ``idp-config issue-accounts`` command runs:

* reference, same run: the per-account path (create the user, add it to its unit's group, give it its
  role: one admin request each) for ``--reference`` accounts, as rate;
* the full run: 25,000 staff records of a synthetic province, every one verified against the
  population extract, planned against the live realm, created by partial import, every creation an
  audit event;
* the daily delta: 1 % of the records changed (transfers, leavers, joiners), planned and carried out;
* the account-hygiene scan of the realm those accounts are in (``gateway-scan``'s accounts step, with
  the records given, so orphans are judged), against the per-account path it replaced (two admin
  requests per account: its roles, its credentials) timed on ``--reference`` accounts, same run.

Goals: 25,000 accounts under 5 minutes; the daily delta under 1 minute (issue 3); the hygiene scan
of 25,000 accounts under 2 minutes (issue 18).

Run: ``.venv/bin/python -m bench.account_issuing [--accounts 25000] [--reference 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

from audit.producers import Producer
from bench import run_stopping_cleanly
from devstack import Ports, Stack, StackInfo
from idp_config import admin_client
from idp_config.accounts import (
    COLUMNS,
    AccountAuditTrail,
    execute,
    parse_records,
    plan_accounts,
)
from idp_config.population.registry import BulkExtract, Citizen
from idp_config.population.simulator import synthetic_province
from scanners import scan_accounts

ROOT = Path(__file__).resolve().parent.parent
#: One principal in 40 (a privileged role: the hygiene scan reads those accounts' credentials).
ROLES = (
    ["teacher"] * 28 + ["homeroom-teacher"] * 8 + ["staff"] * 2 + ["vice-principal", "principal"]
)


def _row(record_id: str, person: Citizen, unit: str, role: str, status: str = "active") -> str:
    return (
        f"{record_id},{person.citizen_id},{person.full_name},"
        f"{person.date_of_birth.isoformat()},{unit},{role},{status}"
    )


def _records(people: list[Citizen], units: list[str], rng: random.Random) -> list[str]:
    return [
        _row(f"GV{index:06d}", person, rng.choice(units), rng.choice(ROLES))
        for index, person in enumerate(people)
    ]


def _timed(label: str, run: object) -> float:
    started = time.perf_counter()
    assert callable(run)
    run()
    elapsed = time.perf_counter() - started
    print(f"  {label}: {elapsed:.1f} s", flush=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=25_000)
    parser.add_argument("--reference", type=int, default=500)
    args = parser.parse_args()

    rng = random.Random(2026)  # noqa: S311 - synthetic data, reproducible
    adults = [
        p
        for p in synthetic_province(args.accounts * 3, seed=7)
        if 1960 <= p.date_of_birth.year <= 2002
    ]
    needed = args.accounts + args.reference + args.accounts // 100
    if len(adults) < needed:
        raise SystemExit(f"only {len(adults)} adults generated; ask for fewer accounts")
    staff, reference_people, joiners = (
        adults[: args.accounts],
        adults[args.accounts : args.accounts + args.reference],
        adults[args.accounts + args.reference : needed],
    )

    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / ".work"))
    stack = Stack(folder, Ports.consecutive(Ports.free_block()))
    print("starting the stack…", flush=True)
    info: StackInfo = stack.up()
    try:
        spec = stack.realm_spec
        units = [u.code for u in spec.units]
        extract = folder / "population.csv"
        extract.write_text(
            "citizen_id,full_name,date_of_birth,household_id\n"
            + "".join(
                f"{p.citizen_id},{p.full_name},{p.date_of_birth.isoformat()},{p.household_id}\n"
                for p in adults[:needed]
            ),
            encoding="utf-8",
        )
        registry = BulkExtract.load(extract)
        admin = admin_client(info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
        admin.change_current_realm(spec.realm)
        header = ",".join(COLUMNS)

        # Reference: one account at a time, three admin requests each.
        groups = {u.code: u.address for u in spec.units}
        group_ids = {code: admin.get_group_by_path(path)["id"] for code, path in groups.items()}
        roles = {name: admin.get_realm_role(name) for name in set(ROLES)}
        reference_rows = _records(reference_people, units, rng)
        reference_records, _ = parse_records("\n".join([header, *reference_rows]) + "\n", spec)
        started = time.perf_counter()
        for record in reference_records:
            family, _, given = record.full_name.rpartition(" ")
            user_id = admin.create_user(
                {
                    "username": f"ref-{record.username}",
                    "firstName": given,
                    "lastName": family,
                    "enabled": True,
                    "attributes": {"citizen_id": [record.citizen_id]},
                }
            )
            admin.group_user_add(user_id, group_ids[record.unit_code])
            admin.assign_realm_roles(user_id, [roles[record.role]])
        reference_rate = len(reference_records) / (time.perf_counter() - started)
        print(
            f"reference, one account at a time: {reference_rate:.0f} accounts/s "
            f"({args.accounts / reference_rate / 60:.1f} min for {args.accounts:,})",
            flush=True,
        )

        audit = AccountAuditTrail(stack.trail_settings(Producer.ACCOUNTS, info.redis_url))
        rows = _records(staff, units, rng)
        text = "\n".join([header, *rows]) + "\n"

        def full_run() -> None:
            records, problems = parse_records(text, spec)
            assert not problems, problems[:3]
            planned = time.perf_counter()
            plan = asyncio.run(plan_accounts(admin, spec, records, registry))
            print(f"    plan {time.perf_counter() - planned:.1f} s", flush=True)
            assert plan.summary()["create"] == args.accounts, plan.summary()
            execute(admin, spec, plan, on_change=audit.record)

        print(f"full run, {args.accounts:,} staff records:", flush=True)
        full = _timed("parse, verify, plan, create, audit", full_run)

        # The daily delta: 1 % of the records change.
        changed = list(rows)
        delta_count = max(3, args.accounts // 100)
        picks = rng.sample(range(len(changed)), delta_count)
        transfers, leavers = (
            picks[: delta_count * 2 // 5],
            picks[delta_count * 2 // 5 : delta_count // 2],
        )
        for index in transfers:
            fields = changed[index].split(",")
            fields[4] = rng.choice([u for u in units if u != fields[4]])
            changed[index] = ",".join(fields)
        for index in leavers:
            changed[index] = changed[index].rsplit(",", 1)[0] + ",left"
        joining = delta_count - len(transfers) - len(leavers)
        changed += [
            _row(f"GV9{index:05d}", person, rng.choice(units), "teacher")
            for index, person in enumerate(joiners[:joining])
        ]
        delta_text = "\n".join([header, *changed]) + "\n"

        def delta_run() -> None:
            records, _ = parse_records(delta_text, spec)
            planned = time.perf_counter()
            plan = asyncio.run(plan_accounts(admin, spec, records, registry))
            print(f"    plan {time.perf_counter() - planned:.1f} s", flush=True)
            summary = plan.summary()
            assert summary["create"] == joining and summary["disable"] == len(leavers), summary
            execute(admin, spec, plan, on_change=audit.record)

        print(
            f"daily delta: {len(transfers)} transfers, {len(leavers)} leavers, {joining} joiners:",
            flush=True,
        )
        delta = _timed("parse, verify, plan, apply, audit", delta_run)
        audit.close()

        # The hygiene scan, then its reference: the per-account reads it replaced.
        held = {line.split(",", 1)[0].lower() for line in changed}
        declared = [u.username for u in spec.users]
        found: list[object] = []
        print(f"account-hygiene scan of the realm ({len(held):,} records given):", flush=True)
        hygiene = _timed(
            "events, users, roles, privileged credentials, rules",
            lambda: found.extend(scan_accounts(admin, spec.realm, records=held, declared=declared)),
        )
        accounts_in_realm = admin.users_count()
        sample = admin.get_users({"first": 0, "max": args.reference, "briefRepresentation": True})
        started = time.perf_counter()
        for user in sample:
            admin.get_realm_roles_of_user(user["id"])
            admin.get_credentials(user["id"])
        per_account = (time.perf_counter() - started) / len(sample)
        print(
            f"  {len(found)} findings; reference: {per_account * 1000:.1f} ms per account "
            f"for its roles and credentials ({accounts_in_realm:,} accounts in the realm)",
            flush=True,
        )
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"\n| what | seconds | goal |\n|---|---:|---:|\n"
        f"| issue {args.accounts:,} accounts (partial import) | {full:.1f} | 300 |\n"
        f"| daily delta (1 %) | {delta:.1f} | 60 |\n"
        f"| reference: one account at a time, extrapolated | "
        f"{args.accounts / reference_rate:.1f} | — |\n"
        f"| account-hygiene scan of {accounts_in_realm:,} accounts | {hygiene:.1f} | 120 |\n"
        f"| reference: roles and credentials one account at a time, extrapolated (reads only) | "
        f"{per_account * accounts_in_realm:.1f} | — |\n"
        f"\nfull run {args.accounts / reference_rate / full:.1f}x faster than the reference; "
        f"hygiene scan {per_account * accounts_in_realm / hygiene:.1f}x faster than its reference"
    )


if __name__ == "__main__":
    run_stopping_cleanly(main)
