"""The balancer of the production topology: HAProxy from Debian's packages, on loopback.

One front per service. Keycloak's nodes get browsers stuck to one node by HAProxy's own cookie
(``EDU_KC_NODE``), as Keycloak's reverse-proxy guide recommends, with Keycloak told not to add a route
to its own cookie; a node that fails its health check (it must serve a realm's discovery document:
``devstack.ha.KEYCLOAK_CHECK``) is taken out, and a browser stuck to it goes to the other (``option redispatch``), where the
distributed caches and the database hold its sessions. The signing replicas share every request
(their state is in Redis and the batch folder); the audit service has one instance (one ingestor).

A request whose connection to a server fails is sent to another (``retries``, ``redispatch``): it
never reached the dead server, so nothing is done twice. A request that was under way on a server
when it died fails (502) and is counted by the failure tests, except a page request (a GET) to
Keycloak, which is asked of the other node (``retry-on``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import InstallFailed
from devstack.process import ManagedProcess, http_ready

#: The path each front answers itself (HAProxy's ``monitor-uri``): the balancer is up.
MONITOR_PATH = "/lb-health"
STICKY_COOKIE = "EDU_KC_NODE"
#: ``option httplog``'s line (HAProxy 2.6) with ``%{+Q}r`` replaced by method, path and version.
LOG_FORMAT = (
    '"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc '
    '%sq/%bq %hr %hs \\"%HM %[var(txn.logged_path)] %HV\\""'
)
#: The path as logged: decoded as the services read it (``%2F`` is a slash to them), with the
#: segment that is a capability (a phone's pairing code, ``/approve/pair/<code>``; an approval's id,
#: ``/approve/<id>``, which denies the approval) shown as ``*``, and every byte a log line must not
#: hold (a line break that forges the next line, a quote, a space, anything but printable ASCII) as
#: ``?``. A request refused before its path was read logs ``-``.
LOGGED_PATH = "path,url_dec,regsub('^(/approve/(pair/)?)[^/]+','\\\\1*'),regsub('[^!#-~]','?','g')"


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class Front:
    name: str
    port: int
    servers: Sequence[Server]
    #: What the balancer asks each server (every second) to know it may send it requests.
    check_path: str
    #: Keep a browser on one server (a cookie of HAProxy's).
    sticky: bool = False
    #: Ask another server again when one dies during a GET (never a POST).
    retry_reads: bool = False
    #: An API: when no server can answer, say so in the gateway's error envelope (JSON).
    api: bool = False
    #: Where it listens (all addresses in a container).
    bind: str = "127.0.0.1"
    #: The scheme it tells the servers the browser used; None: what the proxy in front said
    #: (production: TLS ends at the proxy before this balancer).
    forwarded_proto: str | None = "http"
    #: The sticky cookie only over HTTPS (production).
    secure_cookie: bool = False


def config(fronts: Sequence[Front], *, dns_server: str | None = None) -> str:
    """HAProxy's configuration for ``fronts``. With ``dns_server`` (containers: their network's
    resolver), servers are names asked again as they change, and one that does not resolve yet
    starts down instead of failing the configuration."""
    lines = [
        "global",
        "  log stderr format raw local0 notice",
        "  maxconn 4096",
        "",
        "defaults",
        "  mode http",
        "  log global",
        # HAProxy's HTTP log line with the path but never the query string: it carries what no
        # log may hold (``q=citizen_id:…`` in Keycloak's admin API, ``id_token_hint`` of a logout,
        # ``login_hint``). Only what went wrong is logged, at ``err``: the global ``notice`` level
        # drops HAProxy's ``info`` traffic lines, errors included, without ``log-separate-errors``.
        f"  log-format {LOG_FORMAT}",
        "  option dontlog-normal",
        "  option log-separate-errors",
        "  option forwardfor",
        "  option redispatch",
        "  retries 2",
        "  timeout connect 2s",
        "  timeout client 120s",
        "  timeout server 120s",
        "  timeout check 2s",
        *(("  default-server resolvers dns init-addr last,libc,none", "") if dns_server else ("",)),
        *(
            ("resolvers dns", f"  nameserver dns {dns_server}", "  hold valid 10s", "")
            if dns_server
            else ()
        ),
    ]
    for front in fronts:
        lines += [
            f"frontend {front.name}",
            f"  bind {front.bind}:{front.port}",
            f"  monitor-uri {MONITOR_PATH}",
            f'  http-request set-var(txn.logged_path) "{LOGGED_PATH}"',
            *(
                (f"  http-request set-header X-Forwarded-Proto {front.forwarded_proto}",)
                if front.forwarded_proto
                else ()
            ),
            "  http-request set-header X-Forwarded-Host %[req.hdr(host)]",
            f"  default_backend {front.name}",
            "",
            f"backend {front.name}",
            "  balance roundrobin",
        ]
        if front.sticky:
            secure = " secure" if front.secure_cookie else ""
            lines.append(f"  cookie {STICKY_COOKIE} insert indirect nocache httponly{secure}")
        if front.retry_reads:
            # A page request that was under way on a server that died is asked of another (a
            # GET changes nothing); a POST is never sent twice.
            lines += [
                "  retry-on conn-failure empty-response response-timeout",
                "  http-request disable-l7-retry unless METH_GET || METH_HEAD",
            ]
        if front.api:
            for status, code in ((502, "upstream-failed"), (503, "service-unavailable")):
                lines.append(
                    f"  http-error status {status} content-type application/json"
                    f" string '{_envelope(code)}' hdr Retry-After 5"
                )
        lines.append(f"  option httpchk GET {front.check_path}")
        for server in front.servers:
            cookie = f" cookie {server.name}" if front.sticky else ""
            lines.append(
                f"  server {server.name} {server.host}:{server.port} check inter 1s fall 2 rise 2{cookie}"
            )
        lines.append("")
    return "\n".join(lines)


def _envelope(code: str) -> str:
    """The gateway's error envelope (``gateway_runtime.errors``) for a failure of the balancer."""
    return json.dumps(
        {
            "code": code,
            "message": "Dịch vụ tạm thời không sẵn sàng, vui lòng thử lại sau ít giây.",
            "message_en": "The service is briefly unavailable; try again in a few seconds.",
        },
        ensure_ascii=True,
    )


def start(stack_dir: Path, fronts: Sequence[Front], *, timeout: float = 30.0) -> ManagedProcess:
    binary = shutil.which("haproxy")
    if binary is None:
        raise InstallFailed("haproxy is not installed; the setup script installs it")
    folder = stack_dir / "haproxy"
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "haproxy.cfg"
    conf.write_text(config(fronts))
    process = ManagedProcess("haproxy", stack_dir)
    process.start(
        [binary, "-db", "-f", str(conf)],
        ready=http_ready(f"http://127.0.0.1:{fronts[0].port}{MONITOR_PATH}"),
        timeout=timeout,
    )
    return process
