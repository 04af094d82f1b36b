"""No Docker engine runs here, so the Dockerfile and compose file are checked for what can be checked:
they agree with the settings, run the same entry point as `make run`, and copy files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from app.config import Settings, normalize_database_url

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_compose_app_talks_to_its_postgres_with_matching_credentials() -> None:
    services = _compose()["services"]
    db_env = services["db"]["environment"]
    app_env = services["app"]["environment"]

    url = make_url(normalize_database_url(app_env["DATABASE_URL"]))

    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port) == ("db", 5432)
    assert (url.username, url.password, url.database) == (
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        db_env["POSTGRES_DB"],
    )


def test_compose_postgres_keeps_its_wal_segments_for_reuse() -> None:
    command = _compose()["services"]["db"]["command"]

    assert command[0] == "postgres" and "min_wal_size=1GB" in command


def test_compose_has_healthchecks_and_waits_for_a_healthy_database() -> None:
    services = _compose()["services"]

    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert "/health" in " ".join(services["app"]["healthcheck"]["test"])
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_compose_sets_only_real_settings_and_publishes_the_port() -> None:
    app = _compose()["services"]["app"]
    known = {name.upper() for name in Settings.model_fields}

    assert set(app["environment"]) <= known
    assert app["environment"]["HOST"] == "0.0.0.0"  # inside a container, loopback would be unreachable
    container_port = app["environment"]["PORT"]
    assert any(str(mapping).endswith(f":{container_port}") for mapping in app["ports"])


def test_dockerfile_is_slim_non_root_and_runs_migrations_then_the_service() -> None:
    instructions = _dockerfile_instructions()
    by_keyword: dict[str, list[str]] = {}
    for keyword, rest in instructions:
        by_keyword.setdefault(keyword, []).append(rest)

    assert re.fullmatch(r"python:3\.1[1-9]-slim", by_keyword["FROM"][0])
    user = by_keyword["USER"][-1]
    assert user not in {"root", "0"}
    assert [keyword for keyword, _ in instructions].index("USER") < [k for k, _ in instructions].index("CMD")
    # `python -m app serve` = migrate to head, then uvicorn: the same path as `make run`.
    assert by_keyword["CMD"][-1] == '["python", "-m", "app", "serve"]'
    assert any("HOST=0.0.0.0" in env for env in by_keyword["ENV"])
    assert by_keyword["HEALTHCHECK"]


def test_dockerfile_copies_files_that_exist() -> None:
    for keyword, rest in _dockerfile_instructions():
        if keyword == "COPY":
            *sources, _destination = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
