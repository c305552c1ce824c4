"""What account issuing will do: the records against the live accounts and the population database.

- **joiner**: a verified record without an account is created (user name = the sector's record
  id, never the citizen ID), with its role, its unit's group and its profile attributes;
- **mover**: a new unit moves the group; a new role replaces the managed role;
- **leaver** (``status=left``): the account is disabled (never deleted) and its sessions ended;
- **returning**: a disabled account with an active record is enabled again.

Every active person without an account is verified with the population registry first:
mismatches, one citizen on two records and IDs not found go to the review queue with the reason,
never to an account. A parent is linked to a child only when the population database puts both in
one household. Planning reads nothing from Keycloak itself (it is given
:class:`~idp_config.keycloak_accounts.LiveAccounts`) and changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from idp_config.keycloak_accounts import LiveAccounts
from idp_config.population.registry import Decision, PopulationRegistry, decide
from idp_config.records import StaffRecord


class Change(StrEnum):
    CREATE = "create"
    MOVE = "move"
    ROLE = "role"
    DISABLE = "disable"
    ENABLE = "enable"


@dataclass(frozen=True)
class AccountAction:
    change: Change
    record: StaffRecord
    detail: str = ""


@dataclass
class IssuePlan:
    actions: list[AccountAction] = field(default_factory=list)
    review: list[tuple[str, str]] = field(default_factory=list)  # (record_id, reason)

    def summary(self) -> Counter[str]:
        counts = Counter(a.change.value for a in self.actions)
        counts["review"] = len(self.review)
        return counts


@dataclass(frozen=True)
class ParentLink:
    parent: StaffRecord
    children: tuple[str, ...]  # the children's user names


@dataclass
class FamilyPlan:
    students: IssuePlan
    parents: list[ParentLink] = field(default_factory=list)
    review: list[tuple[str, str]] = field(default_factory=list)


async def plan_changes(
    live: LiveAccounts, records: list[StaffRecord], registry: PopulationRegistry
) -> IssuePlan:
    """The changes that make the live accounts match ``records``, and the review queue."""
    plan = IssuePlan()
    citizens = Counter(r.citizen_id for r in records if r.active)
    for record in records:
        user = live.users.get(record.username)
        if not record.active:
            if user is not None and user.get("enabled", True):
                plan.actions.append(AccountAction(Change.DISABLE, record, "left"))
            continue
        if citizens[record.citizen_id] > 1:
            plan.review.append((record.record_id, "one citizen on two records"))
            continue
        if user is None:
            verdict = await decide(
                registry, record.citizen_id, record.full_name, record.date_of_birth
            )
            if verdict.decision is Decision.LINK:
                plan.actions.append(AccountAction(Change.CREATE, record))
            else:
                plan.review.append((record.record_id, verdict.reason))
            continue
        if not user.get("enabled", True):
            plan.actions.append(AccountAction(Change.ENABLE, record, "returning"))
        if live.units_held.get(user["id"], set()) != {record.unit_code}:
            plan.actions.append(AccountAction(Change.MOVE, record, f"-> {record.unit_code}"))
        if live.roles_held.get(user["id"], set()) != {record.role}:
            plan.actions.append(AccountAction(Change.ROLE, record, f"-> {record.role}"))
    return plan


async def plan_parents(
    students: IssuePlan,
    pairs: list[tuple[StaffRecord, StaffRecord]],
    registry: PopulationRegistry,
) -> FamilyPlan:
    """Students get accounts as staff do (``students``); a parent is linked to a child only
    when the population database puts both in the same household; otherwise the link goes to
    review."""
    plan = FamilyPlan(students)
    reviewed = {record_id for record_id, _ in students.review}
    children: dict[str, list[str]] = {}
    parents: dict[str, StaffRecord] = {}
    for student, parent in pairs:
        if student.record_id in reviewed:
            continue
        child = await decide(registry, student.citizen_id, student.full_name, student.date_of_birth)
        adult = await decide(registry, parent.citizen_id, parent.full_name, parent.date_of_birth)
        if adult.decision is not Decision.LINK:
            plan.review.append((parent.record_id, adult.reason))
        elif not child.household_id or child.household_id != adult.household_id:
            plan.review.append(
                (
                    parent.record_id,
                    f"relationship to {student.record_id} not confirmed by household data",
                )
            )
        else:
            parents[parent.record_id] = parent
            children.setdefault(parent.record_id, []).append(student.username)
    plan.parents = [ParentLink(parents[k], tuple(sorted(v))) for k, v in sorted(children.items())]
    return plan
