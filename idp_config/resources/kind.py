"""The contract of a kind of Keycloak object the realm files manage, and what its steps share.

A :class:`ResourceKind` says, for one kind (roles, clients, identity providers...):

- ``desired``: the objects the files declare, each at its address (``role/teacher``) with the fields
  the files manage, in Keycloak's own representation;
- ``live``: the same read from the live realm, at the same addresses;
- ``create`` and ``update``: how ``apply`` makes the live objects match, given those of this kind
  that ``plan`` found missing or different (``apply`` never deletes);
- ``settle`` (optional): what ``apply`` does after the kind's creations and updates, given the
  objects it touched: links between objects of the kind (role composites), or what the files imply
  but ``plan`` does not compare (the realm's authentication flows).

``plan``/``drift`` loop over the table of kinds for both states; ``apply`` loops over it in order
(a kind may rely on those before it). Adding a kind is one entry in the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, NamedTuple, TypeVar

from keycloak import KeycloakAdmin

from idp_config.errors import IdpConfigError
from idp_config.model import AccessType, RealmSpec
from idp_config.representation import BUILTIN_REALM_ROLES

#: The fields of one object as the files manage them.
Fields = dict[str, Any]
#: Objects by address (``realm/education``, ``client/demo-eoffice``, ``group/so-gddt/phong-760``).
State = dict[str, Fields]

Item = TypeVar("Item")


class Desired(NamedTuple, Generic[Item]):
    """One object the files declare: its address, its managed fields, and its declaration."""

    address: str
    fields: Fields
    item: Item


@dataclass
class ApplyReport:
    """The addresses ``apply`` created and updated, in the order it did so."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    def changed(self) -> bool:
        return bool(self.created or self.updated)


@dataclass(frozen=True)
class Secrets:
    """What ``apply`` sets but never reads back, diffs or shows: client secrets by client id,
    first passwords by user name, the realm's client secret at each external provider, and its
    password at the mail relay."""

    clients: Mapping[str, str] = field(default_factory=dict)
    users: Mapping[str, str] = field(default_factory=dict)
    providers: Mapping[str, str] = field(default_factory=dict)
    #: The password of the realm's account at its mail relay (``smtp.user``).
    smtp_password: str | None = None


class LiveRead:
    """The live realm as the kinds read it: lists that several kinds need are fetched once."""

    def __init__(self, admin: KeycloakAdmin, spec: RealmSpec) -> None:
        self.admin = admin
        self.spec = spec

    @cached_property
    def clients(self) -> list[dict[str, Any]]:
        return list(self.admin.get_clients())

    @cached_property
    def identity_providers(self) -> list[dict[str, Any]]:
        return list(self.admin.get_idps())

    @cached_property
    def default_roles(self) -> frozenset[str]:
        """Realm roles Keycloak gives every realm (never managed, never reported)."""
        return frozenset({f"default-roles-{self.spec.realm}", *BUILTIN_REALM_ROLES})

    @cached_property
    def declared_scopes(self) -> frozenset[str]:
        return frozenset(s.name for s in self.spec.client_scopes)


class Session:
    """One ``apply``: the admin client (working in the realm once it exists), the secrets, the
    report, and the internal ids of what was read or created so far."""

    def __init__(
        self, admin: KeycloakAdmin, spec: RealmSpec, secrets: Secrets, report: ApplyReport
    ) -> None:
        self.admin = admin
        self.spec = spec
        self.secrets = secrets
        self.report = report
        self._client_ids: dict[str, str] = {}

    def client_uuid(self, client_id: str) -> str:
        """Keycloak's internal id of a client of the realm (declared, or built in)."""
        if client_id not in self._client_ids:
            found = self.admin.get_client_id(client_id)
            if not found:
                raise IdpConfigError(f"client {client_id!r} not found in realm {self.spec.realm!r}")
            self._client_ids[client_id] = str(found)
        return self._client_ids[client_id]

    def remember_client(self, client_id: str, internal_id: str) -> None:
        self._client_ids[client_id] = internal_id

    def service_clients(self) -> list[str]:
        return [c.client_id for c in self.spec.clients if c.access_type is AccessType.SERVICE]


def _nothing(session: Session, touched: list[Any]) -> None:
    """No step after the kind's creations and updates."""


@dataclass(frozen=True)
class ResourceKind(Generic[Item]):
    """One kind of object the realm files manage (see the module's docstring)."""

    name: str
    desired: Callable[[RealmSpec], Iterable[Desired[Item]]]
    live: Callable[[LiveRead], Iterable[tuple[str, Fields]]]
    create: Callable[[Session, list[Item]], None]
    update: Callable[[Session, list[Item]], None]
    settle: Callable[[Session, list[Item]], None] = _nothing


def group_tree(admin: KeycloakAdmin) -> dict[str, dict[str, Any]]:
    """Every group of the realm by path, with its attributes: one call per group that has children
    (about 30 for a province of 600 schools), not one per group."""
    tree: dict[str, dict[str, Any]] = {}
    brief = {"briefRepresentation": "false"}

    def walk(groups: list[dict[str, Any]], parent: str) -> None:
        for group in groups:
            path = f"{parent}/{group['name']}"
            tree[path] = group
            children = group.get("subGroups")
            # Keycloak 23+ sends children only one level down, and an empty list below that.
            if not children and group.get("subGroupCount"):
                children = admin.get_group_children(group["id"], query=brief)
            walk(children or [], path)

    walk(admin.get_groups(brief), "")
    return tree
