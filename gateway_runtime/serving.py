"""How the services are served: uvicorn's HTTP/1.1 protocol with Nagle's algorithm turned off.

asyncio turns Nagle off (TCP_NODELAY) on the connections it accepts, except when the listening socket
was handed over from another process: Python rebuilds it without its protocol number, and asyncio's
check then skips the option. That is exactly uvicorn's ``--workers N`` mode. uvicorn writes a response's
head and body separately, so with Nagle on, a small body waits for the client's delayed ACK: every
small JSON answer took 44 ms instead of 1 ms (measured here, two workers). Run the services with
``--http gateway_runtime.serving:NoDelayH11Protocol``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
