"""Runs the whole gateway on one machine for demos, development and tests.

Installs what is missing (Keycloak via Maven), starts Keycloak, Redis, a SoftHSM2 token, the test PKI
and the services, applies the ``education`` realm and seeds demo data. Production does none of this:
``compose.yaml`` and ``docs/architecture.md`` describe that topology.
"""

from devstack.stack import Ports, Stack, StackInfo

__all__ = ["Ports", "Stack", "StackInfo"]
