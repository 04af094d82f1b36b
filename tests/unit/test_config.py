"""Settings: safe defaults, one-sentence refusals, secrets never shown, `.env.example` complete."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from app.config import Environment, Settings, SettingsError, load_settings, normalize_database_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KEYS = {"OKX_API_KEY": "key-AAAA", "OKX_SECRET_KEY": "secret-BBBB", "OKX_PASSPHRASE": "pass-CCCC"}
POSTGRES = "postgresql://trader:pw@db:5432/trading"


def test_defaults_are_the_embedded_sim_on_sqlite(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()

    assert settings.environment is Environment.SIM
    assert settings.database_url == "sqlite+aiosqlite:///./data/trading.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.okx_api_key is None
    assert settings.risk_config == {
        "max_order_size": Decimal("10"),
        "min_order_size": Decimal("0.001"),
        "max_order_value": Decimal("10000"),
        "max_price_deviation": Decimal("0.05"),
        "max_daily_loss": Decimal("0.1"),
        "max_position_value_pct": Decimal("0.5"),
        "max_open_orders": 200,
        "max_orders_per_strategy": 50,
    }


@pytest.mark.parametrize("environment", ["live", "demo"])
def test_exchange_modes_without_keys_refuse_with_one_sentence(clean_env: pytest.MonkeyPatch, environment: str) -> None:
    clean_env.setenv("ENVIRONMENT", environment)
    clean_env.setenv("DATABASE_URL", POSTGRES)
    clean_env.setenv("OKX_API_KEY", "only-the-key")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert message == (
        f"ENVIRONMENT={environment} needs OKX API credentials, but OKX_SECRET_KEY and OKX_PASSPHRASE are not set."
    )
    assert "\n" not in message


def test_live_on_sqlite_refuses(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENVIRONMENT", "live")
    for name, value in KEYS.items():
        clean_env.setenv(name, value)

    with pytest.raises(SettingsError, match=r"^ENVIRONMENT=live needs a PostgreSQL DATABASE_URL; SQLite is only"):
        load_settings()


def test_live_with_keys_and_postgres_starts(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENVIRONMENT", "live")
    clean_env.setenv("DATABASE_URL", POSTGRES)
    for name, value in KEYS.items():
        clean_env.setenv(name, value)

    settings = load_settings()

    assert settings.environment is Environment.LIVE
    assert settings.database_url == "postgresql+asyncpg://trader:pw@db:5432/trading"
    assert settings.okx_secret_key is not None and settings.okx_secret_key.get_secret_value() == "secret-BBBB"


def test_demo_on_sqlite_is_allowed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENVIRONMENT", "demo")
    for name, value in KEYS.items():
        clean_env.setenv(name, value)

    assert load_settings().is_sqlite


def test_secrets_never_appear_in_any_rendering(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        clean_env.setenv(name, value)
    settings = load_settings()

    renderings = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())]
    for rendering in renderings:
        for secret in KEYS.values():
            assert secret not in rendering


def test_empty_credentials_count_as_missing(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENVIRONMENT", "demo")
    for name in KEYS:
        clean_env.setenv(name, "  ")

    with pytest.raises(SettingsError, match="but OKX_API_KEY, OKX_SECRET_KEY and OKX_PASSPHRASE are not set.$"):
        load_settings()


def test_bad_values_name_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ENVIRONMENT", "paper")
    with pytest.raises(SettingsError, match=r"^ENVIRONMENT: "):
        load_settings()
    clean_env.setenv("ENVIRONMENT", "sim")
    clean_env.setenv("RISK_MAX_PRICE_DEVIATION", "1.5")
    with pytest.raises(SettingsError, match=r"^RISK_MAX_PRICE_DEVIATION: "):
        load_settings()
    clean_env.delenv("RISK_MAX_PRICE_DEVIATION")
    clean_env.setenv("OKX_RATE_LIMIT_SHARE", "0")
    with pytest.raises(SettingsError, match=r"^OKX_RATE_LIMIT_SHARE: "):
        load_settings()
    clean_env.setenv("OKX_RATE_LIMIT_SHARE", "0.5")
    assert load_settings().okx_rate_limit_share == 0.5


def test_dotenv_file_is_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=9123\nLOG_LEVEL=debug\n")

    settings = load_settings()

    assert (settings.port, settings.log_level) == (9123, "DEBUG")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite+aiosqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_database_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    variables = {}
    for index, line in enumerate(lines):
        if match := re.match(r"^([A-Z][A-Z0-9_]*)=", line):
            variables[match.group(1)] = index
            assert index > 0 and lines[index - 1].startswith("#"), f"{match.group(1)} has no comment above it"

    assert set(variables) == {name.upper() for name in Settings.model_fields}


def test_env_example_values_are_valid_settings(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((PROJECT_ROOT / ".env.example").read_text())

    settings = load_settings()

    assert settings.environment is Environment.SIM
    assert settings.okx_api_key is None
