"""A bench stopped with SIGTERM (a cancelled CI job, ``timeout``) stops what it started."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

BENCH = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from bench import run_stopping_cleanly

    def main() -> None:
        try:
            print("running", flush=True)
            time.sleep(60)
        finally:
            Path(sys.argv[1]).write_text("services stopped")

    run_stopping_cleanly(main)
    """
)


def test_sigterm_runs_the_benchs_cleanup_and_exits_143(tmp_path: Path) -> None:
    marker = tmp_path / "cleanup"
    with subprocess.Popen(
        [sys.executable, "-c", BENCH, str(marker)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    ) as bench:
        assert bench.stdout is not None
        assert bench.stdout.readline().strip() == "running"
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=20) == 128 + signal.SIGTERM
    assert marker.read_text() == "services stopped"
