"""External identity providers people may log in with (the national e-ID), and the mapper that
copies the citizen ID they assert into the brokered identity.

The realm's client secret at each provider is sent when the provider is created or changed, never
compared or shown. The providers' first-login flow is the realm's (``realm.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from keycloak.exceptions import KeycloakPutError, raise_error_from_response

from idp_config.model import IdentityProviderSpec, RealmSpec
from idp_config.representation import (
    identity_provider_mapper_representation,
    identity_provider_representation,
)
from idp_config.resources.kind import Desired, Fields, LiveRead, ResourceKind, Session


def _provider_address(alias: str) -> str:
    return f"identity-provider/{alias}"


def _providers_desired(spec: RealmSpec) -> Iterator[Desired[IdentityProviderSpec]]:
    for provider in spec.identity_providers:
        yield Desired(
            _provider_address(provider.alias),
            identity_provider_representation(provider, None),
            provider,
        )


def _providers_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    for provider in read.identity_providers:
        yield _provider_address(provider["alias"]), provider


def _create_providers(session: Session, providers: list[IdentityProviderSpec]) -> None:
    for provider in providers:
        secret = session.secrets.providers.get(provider.alias)
        session.admin.create_idp(identity_provider_representation(provider, secret))
        session.report.created.append(_provider_address(provider.alias))


def _update_providers(session: Session, providers: list[IdentityProviderSpec]) -> None:
    for provider in providers:
        secret = session.secrets.providers.get(provider.alias)
        session.admin.update_idp(provider.alias, identity_provider_representation(provider, secret))
        session.report.updated.append(_provider_address(provider.alias))


IDENTITY_PROVIDERS = ResourceKind[IdentityProviderSpec](
    "identity-provider",
    _providers_desired,
    _providers_live,
    _create_providers,
    _update_providers,
)


def _mapper_address(provider: IdentityProviderSpec) -> str:
    mapper = identity_provider_mapper_representation(provider)
    return f"{_provider_address(provider.alias)}:mapper/{mapper['name']}"


def _mappers_desired(spec: RealmSpec) -> Iterator[Desired[IdentityProviderSpec]]:
    for provider in spec.identity_providers:
        mapper = identity_provider_mapper_representation(provider)
        yield Desired(
            _mapper_address(provider),
            {
                "identityProviderMapper": mapper["identityProviderMapper"],
                "config": mapper["config"],
            },
            provider,
        )


def _mappers_live(read: LiveRead) -> Iterator[tuple[str, Fields]]:
    for provider in read.identity_providers:
        for mapper in read.admin.get_idp_mappers(provider["alias"]):
            yield f"{_provider_address(provider['alias'])}:mapper/{mapper['name']}", mapper


def _create_mappers(session: Session, providers: list[IdentityProviderSpec]) -> None:
    for provider in providers:
        session.admin.add_mapper_to_idp(
            provider.alias, identity_provider_mapper_representation(provider)
        )
        session.report.created.append(_mapper_address(provider))


def _update_mappers(session: Session, providers: list[IdentityProviderSpec]) -> None:
    admin = session.admin
    for provider in providers:
        mapper = identity_provider_mapper_representation(provider)
        have = {m["name"]: m for m in admin.get_idp_mappers(provider.alias)}
        mapper_id = have[mapper["name"]]["id"]
        # python-keycloak's update_mapper_in_idp expects a body in Keycloak's 204 answer.
        response = admin.connection.raw_put(
            f"admin/realms/{session.spec.realm}/identity-provider/instances/{provider.alias}"
            f"/mappers/{mapper_id}",
            data=json.dumps({**mapper, "id": mapper_id}),
        )
        raise_error_from_response(response, KeycloakPutError, expected_codes=[204])
        session.report.updated.append(_mapper_address(provider))


PROVIDER_MAPPERS = ResourceKind[IdentityProviderSpec](
    "identity-provider-mapper",
    _mappers_desired,
    _mappers_live,
    _create_mappers,
    _update_mappers,
)
