"""``gateway run`` keeps the single-machine stack running: each component is killed in turn (SIGKILL,
as a crash or the kernel's out-of-memory killer would) and comes back on its own while the others
keep serving; ``gateway status`` shows the restarts; Ctrl-C (SIGTERM) still stops everything.

Its own stack (not the session's): the test kills every part of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from devstack import Stack, StackInfo
from devstack.process import ManagedProcess, http_ready
from tests.conftest import free_ports

pytestmark = [pytest.mark.keycloak, pytest.mark.redis]


def _gateway(*args: str) -> list[str]:
    return [sys.executable, "-m", "devstack.cli", *args]


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, subprocess.Popen[str]]]:
    folder = tmp_path_factory.mktemp("supervised")
    ports = free_ports()
    info_path = Stack(folder, ports).info_path
    console = (folder / "gateway-run.out").open("w")  # a file: a pipe could fill and block
    run = subprocess.Popen(
        _gateway("run", "--folder", str(folder), "--base-port", str(ports.keycloak)),
        stdout=console,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 400
        while not info_path.exists():
            assert run.poll() is None, (folder / "gateway-run.out").read_text()
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(1)
        # Made once the run has written its secrets (a Stack reads them when it is made).
        stack = Stack(folder, ports)
        yield stack, run
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=120)
            except subprocess.TimeoutExpired:
                run.kill()
        console.close()
        Stack(folder, ports).down()


def _until(check: Callable[[], bool], what: str, timeout: float = 120) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.25)
    return time.monotonic() - started


def _restarted(process: ManagedProcess, pid: int) -> Callable[[], bool]:
    return lambda: process.pid() not in (None, pid)


def _ready_checks(info: StackInfo, stack: Stack) -> dict[str, Callable[[], bool]]:
    def redis_ready() -> bool:
        try:
            client = redis.Redis.from_url(
                info.redis_url, username="audit", password=stack.redis_password("audit")
            )
            return bool(client.ping())
        except redis.RedisError:
            return False

    return {
        "keycloak": http_ready(info.keycloak_health),
        "redis": redis_ready,
        "mail": lambda: _listening(stack.ports.mail),
        "pki": http_ready(f"{info.pki_url}/health"),
        "audit": http_ready(f"{info.audit_url}/health"),
        "signing": http_ready(f"{info.signing_url}/health"),
        "witness-so": http_ready(f"http://127.0.0.1:{stack.ports.witness_so}/"),
        "witness-phong": http_ready(f"http://127.0.0.1:{stack.ports.witness_phong}/"),
    }


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_each_component_killed_comes_back_while_the_others_serve(
    running: tuple[Stack, subprocess.Popen[str]],
) -> None:
    stack, run = running
    info = StackInfo.load(stack.info_path)
    checks = _ready_checks(info, stack)
    assert set(checks) == {p.name for p in stack.processes()}, "a component is not checked"
    recovered: dict[str, float] = {}
    for process in stack.processes():
        pid = process.pid()
        assert pid is not None, process.name
        others = {p.name: p.pid() for p in stack.processes() if p.name != process.name}
        os.killpg(pid, signal.SIGKILL)
        _until(_restarted(process, pid), f"{process.name} restarted")
        recovered[process.name] = _until(checks[process.name], f"{process.name} ready")
        # Nothing else was stopped or restarted meanwhile.
        assert {p.name: p.pid() for p in stack.processes() if p.name != process.name} == others
        assert run.poll() is None, "gateway run stopped"

    # Redis came back with everything it had acknowledged (its append-only file replayed whole).
    assert "NOPERM" not in (stack.folder / "logs" / "redis.log").read_text()
    # The gateway works after all of it: a document is signed and the signature is audited.
    token = httpx.post(
        f"{info.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "demo-eoffice",
            "client_secret": stack.client_secret("demo-eoffice"),
        },
        timeout=30,
    ).json()["access_token"]
    signed = httpx.post(
        f"{info.signing_url}/v1/documents:sign",
        content=(stack.folder / "demo" / "hoc-ba-mau.pdf").read_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        timeout=60,
    )
    assert signed.status_code == 200, signed.text

    status = subprocess.run(
        _gateway("status", "--folder", str(stack.folder)),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert status.returncode == 0, status.stdout
    for process in stack.processes():
        line = next(x for x in status.stdout.splitlines() if x.startswith(process.name + " "))
        assert "restarts 1" in line and "(UTC+07:00)" in line, line
    print("recovered in (s):", {k: round(v, 1) for k, v in recovered.items()})


def test_gateway_stop_from_another_terminal_is_not_fought(
    running: tuple[Stack, subprocess.Popen[str]],
) -> None:
    """`gateway stop` stops the components while `gateway run` supervises them: the run takes it as
    a stop (nothing is restarted) and ends by itself."""
    stack, run = running
    stopped = subprocess.run(
        _gateway("stop", "--folder", str(stack.folder)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stopped.returncode == 0, stopped.stdout
    run.wait(timeout=60)
    output = (stack.folder / "gateway-run.out").read_text()
    assert run.returncode == 0, output
    assert "restarted" in output  # the first test's restarts were said on the console
    time.sleep(2)  # a supervisor that fought would have started something again by now
    assert not any(ManagedProcess(p.name, stack.folder).running() for p in stack.processes())
