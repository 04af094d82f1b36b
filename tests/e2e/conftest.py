"""A running service (`python -m app`: uvicorn, the in-process simulator, a SQLite file) with an admin key."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def simulator_process(*flags: str) -> Iterator[str]:
    """`python -m app.services.okx.simulator` on a free port, in its own process; yields its REST URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.services.okx.simulator", "--port", "0", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("OKX simulator on "), line
        yield line.split()[3]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    workdir = tmp_path_factory.mktemp("service")
    environment = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    key = subprocess.run(
        [sys.executable, "-m", "app.cli", "create-api-key", "--name", "e2e", "--scopes", "admin"],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    log = (workdir / "service.log").open("w")  # a file, not a pipe: a full pipe would stall the service
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=workdir,
        env={**environment, "PORT": str(port), "LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"the service did not get ready: {(workdir / 'service.log').read_text()[-2000:]}")
        yield base_url, key
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"the service did not stop within 30 s: {(workdir / 'service.log').read_text()[-2000:]}")
        finally:
            log.close()
