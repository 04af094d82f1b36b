"""The service as `make run` starts it: `python -m app` migrates the embedded SQLite database and serves HTTP.

Run in an empty directory with no service variables, exactly the defaults a newcomer gets.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings

STARTUP_TIMEOUT_S = 30
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_environment(**extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    environment.update(extra)
    return environment


def _output_so_far(workdir: Path) -> str:
    return (workdir / "service.log").read_text()


@pytest.fixture
def running_service(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    log = (tmp_path / "service.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=tmp_path,
        env=_clean_environment(PORT=str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the service exited with {process.returncode}:\n{_output_so_far(tmp_path)}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not answer /health within {STARTUP_TIMEOUT_S} s")
            time.sleep(0.1)
        yield base_url, tmp_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_python_m_app_migrates_and_serves_on_the_defaults(running_service: tuple[str, Path]) -> None:
    base_url, workdir = running_service

    assert httpx.get(f"{base_url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{base_url}/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "exchange": "ok"}  # the in-process simulator answers
    assert httpx.get(f"{base_url}/openapi.json").status_code == 200

    # A first start in sim creates an admin key and prints it once: the API answers it at once.
    output = _output_so_far(workdir)
    key = next(word for word in output.split() if word.startswith("tes_"))
    listed = httpx.get(f"{base_url}/api/v1/trading/orders", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200 and listed.json()["items"] == []

    database = workdir / "data" / "trading.db"
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"orders", "trades", "positions", "execution_events", "executions", "api_keys", "alembic_version"} <= tables


@pytest.mark.parametrize(
    ("command", "expected_exit"),
    [
        ([sys.executable, "-m", "app"], 2),
        ([sys.executable, "-c", "import app.main"], 1),
        ([sys.executable, "-m", "alembic", "-c", str(PROJECT_ROOT / "alembic.ini"), "upgrade", "head"], 1),
    ],
    ids=["python-m-app", "uvicorn-import", "alembic"],
)
def test_live_without_keys_refuses_to_start_with_one_sentence(
    tmp_path: Path, command: list[str], expected_exit: int
) -> None:
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env=_clean_environment(ENVIRONMENT="live"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == expected_exit
    assert result.stderr.strip().splitlines()[-1] == (
        "Configuration error: ENVIRONMENT=live needs OKX API credentials, "
        "but OKX_API_KEY, OKX_SECRET_KEY and OKX_PASSPHRASE are not set."
    )
    assert "Traceback" not in result.stderr
