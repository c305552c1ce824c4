"""The production topology (:class:`devstack.ha.HaStack`), started once for the failure tests.

These tests run in a pytest session of their own (``make test`` runs them after the others, with
``-m ha``): the topology's two Keycloak nodes, three Redis servers and three sentinels are started
on the same two cores only once the single-machine stack of the other tests has stopped.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from devstack.ha import HaPorts, HaStack
from devstack.layout import StackInfo
from devstack.process import ManagedProcess
from tests.conftest import TokenFactory, client_tokens, free_ports


@pytest.fixture(scope="session")
def ha_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HaStack]:
    stack = HaStack(
        tmp_path_factory.mktemp("ha-stack"), free_ports(), HaPorts.free(), checkpoint_interval=1.0
    )
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def ha_info(ha_stack: HaStack) -> StackInfo:
    return StackInfo.load(ha_stack.info_path)


@pytest.fixture(scope="session")
def ha_token(ha_stack: HaStack, ha_info: StackInfo) -> TokenFactory:
    """An access token of a service client (client-credentials grant), through the balancer."""
    return client_tokens(ha_stack, ha_info.issuer, timeout=30)


def kill(process: ManagedProcess) -> None:
    """A crash (SIGKILL to its whole process group): no shutdown, no cleanup."""
    pid = process.pid()
    assert pid is not None, f"{process.name} is not running"
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.running()
