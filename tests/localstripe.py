"""Start scripts/run_localstripe.py for the tests: in memory, on loopback, stopped afterwards."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run_localstripe.py"


def listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_localstripe(port: int, *options: str, timeout: float = 30) -> Iterator[str]:
    """Run localstripe on 127.0.0.1:port until the block ends; yields its base URL. If it does
    not start, the error carries what it printed."""
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(port), *options],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while not listening("127.0.0.1", port):
                if time.monotonic() > deadline or process.poll() is not None:
                    output.seek(0)
                    printed = output.read().decode(errors="replace")[-3000:]
                    raise RuntimeError(
                        f"localstripe did not start on port {port} "
                        f"(exit code {process.poll()}):\n{printed}"
                    )
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)
