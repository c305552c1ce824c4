"""The README's "run" command, as a person would use it: start detached, open the printed URLs, run it
again (nothing breaks or doubles), stop it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devstack import Ports

pytestmark = [pytest.mark.keycloak, pytest.mark.redis, pytest.mark.softhsm, pytest.mark.pki]


def _gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )


def test_run_prints_urls_that_answer_and_stop_stops_everything(tmp_path: Path) -> None:
    folder = str(tmp_path / "run")
    base = Ports.free_block()
    try:
        first = _gateway("run", "--detach", "--folder", folder, "--base-port", str(base))
        assert first.returncode == 0, first.stdout + first.stderr
        urls = set(re.findall(r"https?://[\w.:-]+/[\w/.-]*", first.stdout))
        assert f"http://127.0.0.1:{base + 4}/docs" in urls
        for url in urls:
            response = httpx.get(url, timeout=10, follow_redirects=True)
            assert response.status_code == 200, url
        assert "demo.hieutruong" in first.stdout
        assert (tmp_path / "run" / "demo" / "hoc-ba-mau.pdf").read_bytes().startswith(b"%PDF-")

        again = _gateway("run", "--detach", "--folder", folder, "--base-port", str(base))
        assert again.returncode == 0
        assert "already running" in again.stdout
        status = _gateway("status", "--folder", folder)
        assert status.returncode == 0
    finally:
        stopped = _gateway("stop", "--folder", folder)
    assert stopped.returncode == 0
    assert "keycloak" in stopped.stdout
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{base + 4}/health", timeout=5)
    assert _gateway("status", "--folder", folder).returncode == 3
