"""What account issuing will do: the records against the live accounts and the population database.

- **joiner**: a verified record without an account is created (user name = the sector's record
  id, never the citizen ID), with its role, its unit's group and its profile attributes;
- **mover**: a new unit moves the group; a new role replaces the managed role;
- **leaver** (``status=left``): the account is disabled (never deleted) and its sessions ended;
- **returning**: a disabled account with an active record is enabled again.

Every active person without an account is verified with the population registry first:
mismatches, one citizen on two records and IDs not found go to the review queue with the reason,
never to an account. One real person has one account: a person whose citizen ID an account already
carries (under another record id: a teacher listed again by a new school's software, a teacher who
is also a parent) goes to review, not to a second account; an account whose citizen ID is not the
record's (a record id given to someone else) is neither changed nor linked to a child. A parent is
linked to a child only when the population database puts both in one household. Planning reads
nothing from Keycloak itself (it is given :class:`~idp_config.keycloak_accounts.LiveAccounts` and a
:class:`Citizens` directory) and changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from idp_config.keycloak_accounts import LiveAccounts
from idp_config.population.registry import Decision, PopulationRegistry, Reason, decide
from idp_config.records import StaffRecord


class Citizens(Protocol):
    """Which accounts carry a citizen ID, and whose an account is
    (:class:`~idp_config.keycloak_accounts.CitizenDirectory`)."""

    def holders(self, citizen_id: str) -> set[str]: ...

    def citizen_of(self, username: str) -> str | None: ...


ONE_CITIZEN_ON_TWO_RECORDS = Reason("một công dân trên hai hồ sơ", "one citizen on two records")


def someone_elses(
    citizens: Citizens, record: StaffRecord, *, has_account: bool | None = None
) -> Reason | None:
    """Why the record's user name or citizen ID is another account's, or None if it is not
    (``has_account``: whether an account of the record's user name exists, if known)."""
    held = None if has_account is False else citizens.citizen_of(record.username)
    if held is None:  # no account of that name: does the person have one under another?
        others = sorted(citizens.holders(record.citizen_id))
        if not others:
            return None
        held_by = ", ".join(others)
        return Reason(
            f"người này đã có tài khoản {held_by}",
            f"the person already has the account {held_by}",
        )
    if held != record.citizen_id:
        return Reason(
            f"tài khoản {record.username} thuộc về người khác",
            f"the account {record.username} belongs to another person",
        )
    return None


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
    review: list[tuple[str, Reason]] = field(default_factory=list)  # (record_id, reason)

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
    review: list[tuple[str, Reason]] = field(default_factory=list)


async def plan_changes(
    live: LiveAccounts,
    records: list[StaffRecord],
    registry: PopulationRegistry,
    citizens: Citizens,
) -> IssuePlan:
    """The changes that make the live accounts match ``records``, and the review queue."""
    plan = IssuePlan()
    on_records = Counter(r.citizen_id for r in records if r.active)
    for record in records:
        user = live.users.get(record.username)
        if not record.active:
            if user is not None and user.get("enabled", True):
                plan.actions.append(AccountAction(Change.DISABLE, record, "left"))
            continue
        if on_records[record.citizen_id] > 1:
            plan.review.append((record.record_id, ONE_CITIZEN_ON_TWO_RECORDS))
            continue
        if user is None:
            verdict = await decide(
                registry, record.citizen_id, record.full_name, record.date_of_birth
            )
            if verdict.decision is not Decision.LINK:
                plan.review.append((record.record_id, verdict.reason))
            elif conflict := someone_elses(citizens, record, has_account=False):
                plan.review.append((record.record_id, conflict))
            else:
                plan.actions.append(AccountAction(Change.CREATE, record))
            continue
        changes: list[AccountAction] = []
        if not user.get("enabled", True):
            changes.append(AccountAction(Change.ENABLE, record, "returning"))
        if live.units_held.get(user["id"], set()) != {record.unit_code}:
            changes.append(AccountAction(Change.MOVE, record, f"-> {record.unit_code}"))
        if live.roles_held.get(user["id"], set()) != {record.role}:
            changes.append(AccountAction(Change.ROLE, record, f"-> {record.role}"))
        if changes and (conflict := someone_elses(citizens, record)):
            plan.review.append((record.record_id, conflict))
            continue
        plan.actions.extend(changes)
    return plan


async def plan_parents(
    students: IssuePlan,
    pairs: list[tuple[StaffRecord, StaffRecord]],
    registry: PopulationRegistry,
    citizens: Citizens,
) -> FamilyPlan:
    """Students get accounts as staff do (``students``); a parent is linked to a child only
    when the population database puts both in the same household; otherwise the link goes to
    review."""
    plan = FamilyPlan(students)
    reviewed = {record_id for record_id, _ in students.review}
    children: dict[str, list[str]] = {}
    parents: dict[str, StaffRecord] = {}
    conflicts: dict[str, Reason | None] = {}
    for student, parent in pairs:
        if student.record_id in reviewed:
            continue
        if parent.record_id not in conflicts:
            conflicts[parent.record_id] = someone_elses(citizens, parent)
        if conflict := conflicts[parent.record_id]:
            # Never a child linked to a stranger's account (whose parents' app would then show
            # the child), never a second account for a parent who has one.
            plan.review.append((parent.record_id, conflict))
            continue
        child = await decide(registry, student.citizen_id, student.full_name, student.date_of_birth)
        adult = await decide(registry, parent.citizen_id, parent.full_name, parent.date_of_birth)
        if adult.decision is not Decision.LINK:
            plan.review.append((parent.record_id, adult.reason))
        elif not child.household_id or child.household_id != adult.household_id:
            plan.review.append(
                (
                    parent.record_id,
                    Reason(
                        f"quan hệ với {student.record_id} chưa được dữ liệu hộ gia đình xác nhận",
                        f"relationship to {student.record_id} not confirmed by household data",
                    ),
                )
            )
        else:
            parents[parent.record_id] = parent
            children.setdefault(parent.record_id, []).append(student.username)
    plan.parents = [ParentLink(parents[k], tuple(sorted(v))) for k, v in sorted(children.items())]
    return plan
