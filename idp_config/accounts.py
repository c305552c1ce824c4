"""Issuing accounts from the sector's staff and student records, checked against the population
database: the run as a whole, and the public face of account issuing.

A run reads the records (:mod:`idp_config.records`: typed records, and the problems of the bad
rows, which are skipped), reads the live accounts (:mod:`idp_config.keycloak_accounts`), plans
(:mod:`idp_config.account_plan`: what to create, move, disable and enable, and the review queue),
then carries the plan out, calling ``on_change`` after each change (the audit event,
:mod:`idp_config.account_audit`; the progress bar). Because the plan is recomputed from the live
realm each time and user names are deterministic, a run that crashed half-way and is run again
ends in the same state, with no duplicate and nothing lost.
"""

from __future__ import annotations

from collections.abc import Callable

from keycloak import KeycloakAdmin

from idp_config import keycloak_accounts
from idp_config.account_audit import AccountAuditTrail
from idp_config.account_plan import (
    AccountAction,
    Change,
    FamilyPlan,
    IssuePlan,
    ParentLink,
    plan_changes,
    plan_parents,
)
from idp_config.errors import keycloak_errors
from idp_config.keycloak_accounts import IMPORT_BATCH, PAGE_SIZE
from idp_config.model import RealmSpec
from idp_config.population.registry import PopulationRegistry
from idp_config.records import (
    COLUMNS,
    MANAGED_ROLES,
    MAX_RECORDS_BYTES,
    STUDENT_COLUMNS,
    STUDENT_ROLES,
    ProblemCode,
    RowProblem,
    StaffRecord,
    parse_records,
    parse_student_records,
    read_records_file,
)

__all__ = [
    "COLUMNS",
    "IMPORT_BATCH",
    "MANAGED_ROLES",
    "MAX_RECORDS_BYTES",
    "PAGE_SIZE",
    "STUDENT_COLUMNS",
    "STUDENT_ROLES",
    "AccountAction",
    "AccountAuditTrail",
    "Change",
    "FamilyPlan",
    "IssuePlan",
    "ParentLink",
    "ProblemCode",
    "RowProblem",
    "StaffRecord",
    "execute",
    "execute_family",
    "parse_records",
    "parse_student_records",
    "plan_accounts",
    "plan_family_accounts",
    "read_records_file",
]

OnChange = Callable[[AccountAction], None]


def _nothing(action: AccountAction) -> None:
    """No audit trail, no progress bar: a test, a benchmark's reference run."""


async def plan_accounts(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    records: list[StaffRecord],
    registry: PopulationRegistry,
) -> IssuePlan:
    """What to change so that the realm's accounts match ``records`` (nothing is changed)."""
    return (await _plan(admin, spec, records, registry, parents=0))[0]


async def _plan(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    records: list[StaffRecord],
    registry: PopulationRegistry,
    *,
    parents: int,
) -> tuple[IssuePlan, keycloak_accounts.CitizenDirectory]:
    with keycloak_errors(f"reading the accounts of realm {spec.realm!r}"):
        live = keycloak_accounts.read_accounts(admin, spec)
        joiners = sum(1 for r in records if r.active and r.username not in live.users)
        citizens = keycloak_accounts.CitizenDirectory(admin, spec, live, joiners + parents)
        return await plan_changes(live, records, registry, citizens), citizens


async def plan_family_accounts(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    pairs: list[tuple[StaffRecord, StaffRecord]],
    registry: PopulationRegistry,
) -> FamilyPlan:
    """Students as :func:`plan_accounts` plans staff, and the parents confirmed by household."""
    parents = len({p.record_id for _, p in pairs})
    students, citizens = await _plan(admin, spec, [s for s, _ in pairs], registry, parents=parents)
    with keycloak_errors(f"reading the accounts of realm {spec.realm!r}"):
        return await plan_parents(students, pairs, registry, citizens)


def execute(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    plan: IssuePlan,
    *,
    on_change: OnChange = _nothing,
    batch_size: int = IMPORT_BATCH,
) -> None:
    """Carry out ``plan``; ``on_change`` is called after each change (audit, progress). New
    accounts are created ``batch_size`` at a time (partial import); the other changes one by one."""
    with keycloak_errors(f"issuing accounts in realm {spec.realm!r}"):
        admin.change_current_realm(spec.realm)
        creations = {a.record.username: a for a in plan.actions if a.change is Change.CREATE}
        keycloak_accounts.import_accounts(
            admin,
            spec,
            [a.record for a in creations.values()],
            on_added=lambda record: on_change(creations[record.username]),
            batch_size=batch_size,
        )
        for action in plan.actions:
            username = action.record.username
            if action.change is Change.CREATE:
                continue
            if action.change is Change.DISABLE:
                keycloak_accounts.disable(admin, username)
            elif action.change is Change.ENABLE:
                keycloak_accounts.enable(admin, username)
            elif action.change is Change.MOVE:
                keycloak_accounts.move(admin, spec, username, action.record.unit_code)
            elif action.change is Change.ROLE:
                keycloak_accounts.set_role(admin, username, action.record.role)
            on_change(action)


def execute_family(
    admin: KeycloakAdmin,
    spec: RealmSpec,
    plan: FamilyPlan,
    *,
    on_change: OnChange = _nothing,
) -> None:
    """The students' plan, then each parent: created with the ``parent`` role, or their
    ``children`` brought up to date."""
    execute(admin, spec, plan.students, on_change=on_change)
    with keycloak_errors(f"linking parents in realm {spec.realm!r}"):
        for link in plan.parents:
            record, children = link.parent, list(link.children)
            if not keycloak_accounts.user_exists(admin, record.username):
                keycloak_accounts.create_parent(admin, record, children)
                on_change(AccountAction(Change.CREATE, record, "parent"))
            elif keycloak_accounts.set_children(admin, record.username, children):
                on_change(AccountAction(Change.ROLE, record, "children"))
