"""Where the DAST engine may connect: registered origins only, at addresses pinned once per scan.

wapiti keeps to its scope by name, and each connection it makes resolves the name again. A scanned
system whose DNS answers a public address when the registry checks it, then ``127.0.0.1`` or
``169.254.169.254`` when wapiti connects (DNS rebinding), would turn wapiti's attacks (injections,
path traversal, XXE) on whatever listens on the scanner's own host or link. So wapiti runs behind
this gate: an HTTP proxy on loopback, for the engine alone (``wapiti --proxy``), that

* lets a request through only to a registered origin (``CONNECT host:port`` for ``https``, an
  absolute ``http://`` URL otherwise) and answers 403 to anything else, whatever wapiti's scope says;
* connects it to the addresses the name had the first time the gate was asked for it, each checked
  outside the scanner's own host and link (:meth:`scanners.targets.TargetRegistry.pin`), and never
  resolves that name again during the scan.

The bytes themselves go through untouched (a tunnel for TLS, which stays end to end); a plain HTTP
request has its target made relative and ``Connection: close`` added, one request per connection,
so a connection to one origin never carries a request for another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import structlog

from scanners.targets import PinnedTarget, TargetNotRegistered, TargetRegistry, origin_of

_log = structlog.get_logger(__name__)

#: The longest request head accepted, and how long a connection may stay silent either way.
_MAX_HEAD = 64 * 1024
_IDLE_SECONDS = 60.0
_HOP_BY_HOP = (b"proxy-", b"connection:", b"keep-alive:")


@dataclass
class EgressCounts:
    """What the gate did during one scan: connections let through and origins refused."""

    forwarded: int = 0
    refused: list[str] = field(default_factory=list)


class EgressGate:
    """An HTTP proxy on loopback that connects only to registered origins, at pinned addresses.

    ``async with EgressGate(registry, pinned) as gate``: give the engine ``gate.url`` as its proxy.
    ``pinned``: the targets already checked (their names are not resolved again); any other
    registered origin is pinned the first time it is asked for."""

    def __init__(self, registry: TargetRegistry, pinned: Iterable[PinnedTarget] = ()) -> None:
        self._registry = registry
        self._pinned: dict[str, tuple[str, ...]] = {}
        for target in pinned:
            origin = origin_of(target.url)
            if origin is not None and target.addresses:
                self._pinned.setdefault(origin, target.addresses)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.counts = EgressCounts()

    @property
    def port(self) -> int:
        assert self._server is not None  # noqa: S101 - only inside ``async with``
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def __aenter__(self) -> EgressGate:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_MAX_HEAD)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._server is not None  # noqa: S101 - set in __aenter__
        self._server.close()
        for writer in list(self._open):
            writer.close()
        await self._server.wait_closed()

    async def _addresses(self, origin: str) -> tuple[str, ...]:
        """The pinned addresses of a registered ``origin`` (``()``: refused)."""
        if origin not in self._pinned:
            try:
                pinned = await asyncio.to_thread(self._registry.pin, origin)
                self._pinned[origin] = pinned.addresses
            except TargetNotRegistered:
                self._pinned[origin] = ()
        return self._pinned[origin]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _IDLE_SECONDS)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            first, *headers = head[:-4].split(b"\r\n")
            request = _Request.parse(first)
            if request is None:
                await _answer(writer, b"400 Bad Request")
                return
            addresses = await self._addresses(request.origin)
            if not addresses:
                self.counts.refused.append(request.origin)
                _log.warning("scanner.egress_refused", origin=request.origin)
                await _answer(writer, b"403 Forbidden")
                return
            connected = await _connect(addresses, request.port)
            if connected is None:
                await _answer(writer, b"502 Bad Gateway")
                return
            up_reader, upstream = connected
            self.counts.forwarded += 1
            if request.tunnel:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                kept = [h for h in headers if not h.lower().startswith(_HOP_BY_HOP)]
                upstream.write(
                    b"\r\n".join([request.relative_line, *kept, b"Connection: close", b"", b""])
                )
            # Until either side ends (the system closes after its answer: ``Connection: close``).
            copies = {
                asyncio.create_task(_copy(reader, upstream)),
                asyncio.create_task(_copy(up_reader, writer)),
            }
            try:
                await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for copy in copies:
                    copy.cancel()
                await asyncio.gather(*copies, return_exceptions=True)
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(writer)
            for end in (upstream, writer):
                if end is not None:
                    end.close()


@dataclass(frozen=True)
class _Request:
    origin: str
    port: int
    tunnel: bool
    #: The request line with a relative target (plain HTTP).
    relative_line: bytes = b""

    @classmethod
    def parse(cls, line: bytes) -> _Request | None:
        """The request line of a proxy request: ``CONNECT host:port`` (https, tunnelled) or an
        absolute ``http://`` URL; anything else is None."""
        try:
            method, target, version = line.decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            return None
        tunnel = method == "CONNECT"
        url = f"https://{target}" if tunnel else target
        origin = origin_of(url)  # the registry's own reading of an origin
        if origin is None or urlsplit(url).scheme != ("https" if tunnel else "http"):
            return None  # https is tunnelled, never sent to the gate in the clear
        parts = urlsplit(url)
        if tunnel and (parts.port is None or parts.path or parts.query):
            return None
        port = int(origin.rsplit(":", 1)[1])
        if tunnel:
            return cls(origin, port, tunnel=True)
        relative = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        return cls(
            origin, port, tunnel=False, relative_line=f"{method} {relative} {version}".encode()
        )


async def _connect(
    addresses: tuple[str, ...], port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    for address in addresses:
        with contextlib.suppress(OSError, TimeoutError):
            return await asyncio.wait_for(asyncio.open_connection(address, port), 10)
    return None


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Bytes from ``source`` to ``sink`` until the end, or a minute of silence."""
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        while data := await asyncio.wait_for(source.read(64 * 1024), _IDLE_SECONDS):
            sink.write(data)
            await sink.drain()


async def _answer(writer: asyncio.StreamWriter, status: bytes) -> None:
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()
