"""The services' HTTP protocol turns Nagle off even on sockets rebuilt from a passed descriptor."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway_runtime.serving import NoDelayH11Protocol


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


def test_accepted_connections_get_tcp_nodelay() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    # What uvicorn's worker processes see: a socket rebuilt from a descriptor, protocol number 0,
    # on which asyncio's own TCP_NODELAY step is skipped.
    rebuilt = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fileno=accepted.detach())
    try:
        assert rebuilt.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        loop = asyncio.new_event_loop()
        try:
            protocol = NoDelayH11Protocol(
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
