"""`python -m app.cli`: create prints the key and nothing else; list and revoke; bad input is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.config import Settings


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_list_revoke(tmp_path: Path) -> None:
    created = _cli(tmp_path, "create-api-key", "--name", "bot", "--scopes", "read,trade")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n"  # the key, and nothing else
    assert key.startswith("tes_") and len(key) > 40

    listed = _cli(tmp_path, "list-api-keys")
    key_id, prefix, name, scopes, state = listed.stdout.strip().split("\t")
    assert (prefix, name, scopes, state) == (key[:12], "bot", "read,trade", "active")
    assert key not in listed.stdout  # only the prefix is ever shown again

    assert _cli(tmp_path, "revoke-api-key", "--prefix", prefix).returncode == 0
    assert _cli(tmp_path, "list-api-keys").stdout.strip().split("\t")[4].startswith("revoked")
    assert _cli(tmp_path, "revoke-api-key", "--id", key_id).returncode == 1  # nothing active left to revoke


def test_bad_scopes_are_refused(tmp_path: Path) -> None:
    result = _cli(tmp_path, "create-api-key", "--name", "x", "--scopes", "root")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "scopes must be some of read, trade, admin" in result.stderr
