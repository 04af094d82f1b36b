"""`python -m app [serve|migrate]`: what `make run` and the Docker image start.

`serve` (the default) applies the migrations, then runs uvicorn on HOST:PORT, so a fresh machine needs no
separate migration step. A bad configuration stops it with one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.config import Environment, Settings, SettingsError, load_settings
from app.heap import settle_heap
from app.log_config import configure_logging

__all__ = ["main"]


def _serve(settings: Settings) -> None:
    import uvicorn

    from app.main import create_app
    from app.migrations import upgrade_to_head

    upgrade_to_head(settings.database_url)
    if settings.environment is Environment.SIM:
        asyncio.run(_first_run_key(settings))
    app = create_app(settings)
    settle_heap()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours (JSON, redacted)
        # The service is the system of record for orders: finish in-flight requests before stopping.
        timeout_graceful_shutdown=10,
    )


async def _first_run_key(settings: Settings) -> None:
    """In sim, a first start with no API key creates one (admin) and prints it once, so a newcomer can call the
    API at once. Later keys: `python -m app.cli create-api-key`."""
    from app.db import create_engine, create_session_factory
    from app.services.auth import create_api_key, list_api_keys

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            if await list_api_keys(session):
                return
            key, _ = await create_api_key(session, name="first-run", scopes=["admin"])
            await session.commit()
        print(
            f"Created an admin API key (shown once): {key}\n  curl -H 'Authorization: Bearer {key}' "
            f"http://{settings.host}:{settings.port}/api/v1/trading/orders",
            flush=True,
        )
    finally:
        await engine.dispose()


def _migrate(settings: Settings) -> None:
    from app.migrations import upgrade_to_head

    upgrade_to_head(settings.database_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="Trading execution service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_file, settings.secret_values())
    {"serve": _serve, "migrate": _migrate}[args.command](settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
