"""The services' HTTP protocol turns Nagle off even on sockets rebuilt from a passed descriptor, on
asyncio's loop as on uvloop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest
import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway_runtime.serving import NoDelayHttpToolsProtocol


class _Transport(asyncio.Transport):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {
            "socket": self._sock,
            "peername": ("127.0.0.1", 1),
            "sockname": ("127.0.0.1", 2),
        }.get(name, default)

    def is_closing(self) -> bool:
        return False


async def _app(scope: Any, receive: Any, send: Any) -> None:
    pass


@pytest.mark.parametrize(
    "new_loop", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_accepted_connections_get_tcp_nodelay(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    # What uvicorn's worker processes see: a socket rebuilt from a descriptor, protocol number 0,
    # on which asyncio's own TCP_NODELAY step is skipped.
    rebuilt = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fileno=accepted.detach())
    try:
        assert rebuilt.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        loop = new_loop()
        try:
            protocol = NoDelayHttpToolsProtocol(
                Config(app=_app, log_config=None), ServerState(), {}, _loop=loop
            )
            protocol.connection_made(_Transport(rebuilt))
        finally:
            loop.close()
        assert rebuilt.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        rebuilt.close()
        client.close()
        listener.close()
