"""How the services are served: uvicorn on uvloop, with httptools' HTTP/1.1 parser, Nagle's algorithm off.

uvloop (libuv) and httptools (llhttp, in C) take less CPU per request than asyncio's own loop and the
pure-Python h11 parser; measured in ``docs/benchmarks.md`` (the HTTP edge, 2026-12-04). Run the services
with ``--loop uvloop --http gateway_runtime.serving:NoDelayHttpToolsProtocol``.

Nagle's algorithm must be off (TCP_NODELAY) on every connection: uvicorn writes a response's head and
body separately, so with Nagle on, a small body waits for the client's delayed ACK, and every small JSON
answer took 44 ms instead of 1 ms (measured here, two workers). uvloop turns it off on every TCP
connection; asyncio's loop does too, except when the listening socket was handed over from another
process (uvicorn's ``--workers N``): Python rebuilds it without its protocol number, and asyncio's check
then skips the option. The protocols below set it themselves, whichever loop runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """The services' protocol: httptools' parser, Nagle off."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)
