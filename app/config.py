"""Service settings: one pydantic-settings class, read from the environment and `.env`.

Every variable is documented in `.env.example`. The settings refuse combinations that would trade real money
unsafely (live/demo without OKX keys, live on SQLite) with one sentence that says what is missing.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "Environment",
    "Settings",
    "SettingsError",
    "get_settings",
    "load_settings",
    "normalize_database_url",
    "sqlite_file_path",
]

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./data/trading.db"

PositiveDecimal = Annotated[Decimal, Field(gt=0)]
Fraction = Annotated[Decimal, Field(gt=0, le=1)]


class Environment(StrEnum):
    SIM = "sim"
    DEMO = "demo"
    LIVE = "live"


class SettingsError(ValueError):
    """The configuration cannot be used; the message is one sentence for the operator."""


def normalize_database_url(url: str) -> str:
    """Accept the URLs people write (`postgresql://…`, `sqlite:///…`) and pick the async driver for them."""
    url = url.strip()
    for prefix, async_prefix in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(prefix):
            return async_prefix + url[len(prefix) :]
    return url


def sqlite_file_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    if not database_url.startswith("sqlite"):
        return None
    _, _, path = database_url.partition(":///")
    path = path.split("?", 1)[0]
    if not path or path.startswith(":memory:"):
        return None
    return Path(path)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Environment = Environment.SIM
    database_url: str = DEFAULT_SQLITE_URL
    # Connections per process (PostgreSQL), and how long a request waits for one before answering 503: the
    # sessions' pool holds up to twice this many, the order path's direct lane (`app.db_direct`) this many of its
    # own: up to 3x this many in all, each kept open once opened.
    database_pool_size: Annotated[int, Field(gt=0, le=1000)] = 10
    database_pool_timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0

    okx_api_key: SecretStr | None = None
    okx_secret_key: SecretStr | None = None
    okx_passphrase: SecretStr | None = None
    # Override the exchange's addresses (defaults: OKX's hosts in live/demo, the in-process simulator in sim).
    okx_rest_url: str | None = None
    okx_ws_public_url: str | None = None
    okx_ws_private_url: str | None = None
    # Place, cancel and amend over a private WebSocket of their own (OKX's trading ops) while it is connected, by
    # REST otherwise: no HTTP request or signature per order, the same rate limits and answers.
    okx_orders_over_websocket: bool = True
    # The part of OKX's rate limits this replica may use: OKX counts per account and instrument, not per
    # connection, so with N replicas placing orders on one account set 1/N (1.0: one replica, or one serving).
    okx_rate_limit_share: Annotated[float, Field(gt=0, le=1)] = 1.0

    # Risk limits of the spec (ExecutionRiskControl's config), in base units / quote units / fractions.
    risk_max_order_size: PositiveDecimal = Decimal("10")
    risk_min_order_size: PositiveDecimal = Decimal("0.001")
    risk_max_order_value: PositiveDecimal = Decimal("10000")
    risk_max_price_deviation: Fraction = Decimal("0.05")
    risk_max_daily_loss: Fraction = Decimal("0.1")
    risk_max_position_value_pct: Fraction = Decimal("0.5")
    risk_max_open_orders: Annotated[int, Field(gt=0)] = 200
    risk_max_orders_per_strategy: Annotated[int, Field(gt=0)] = 50  # per second

    # The leader compares open orders, positions and balances with the exchange this often, correcting differences.
    reconcile_interval_s: Annotated[float, Field(gt=0)] = 60.0

    # /ready answers 503 once the order tracker's WebSocket has been down this long (it polls by REST meanwhile).
    tracker_disconnect_grace_s: Annotated[float, Field(gt=0)] = 30.0
    # New orders (POST /orders, /signals) wait while a push the exchange sent has waited longer than this to be
    # applied, and get 503 `fills_behind` if it lasts as long again: the risk checks read positions and PnL as the
    # applied fills left them, and must not admit orders on a view that many seconds old
    # (`app.services.trading.admission`). 0 turns the check off.
    max_fill_lag_s: Annotated[float, Field(ge=0)] = 2.0

    # Equity the performance metrics start from (daily returns, drawdown), in quote currency.
    initial_capital: Annotated[Decimal, Field(gt=0)] = Decimal("100000")

    # OKX's cancel-all-after, re-armed while the service is healthy, so that its orders never outlive it.
    # Unset: on in live, off in sim and demo.
    dead_man_switch: bool | None = None
    dead_man_timeout_s: int = Field(default=60, ge=10, le=120)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    # JSON log lines also go to this rotating file (10 MB × 5), relative to the working directory; empty: none.
    log_file: str = "logs/trading.log"

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("okx_api_key", "okx_secret_key", "okx_passphrase", mode="before")
    @classmethod
    def _empty_secret_is_absent(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("okx_rest_url", "okx_ws_public_url", "okx_ws_private_url", "dead_man_switch", mode="before")
    @classmethod
    def _empty_url_is_absent(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("LOG_LEVEL must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.environment in (Environment.LIVE, Environment.DEMO):
            missing = [
                name
                for name, value in (
                    ("OKX_API_KEY", self.okx_api_key),
                    ("OKX_SECRET_KEY", self.okx_secret_key),
                    ("OKX_PASSPHRASE", self.okx_passphrase),
                )
                if value is None
            ]
            if missing:
                names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
                raise ValueError(
                    f"ENVIRONMENT={self.environment.value} needs OKX API credentials, "
                    f"but {names} {'is' if len(missing) == 1 else 'are'} not set."
                )
        if self.environment is Environment.LIVE and self.is_sqlite:
            raise ValueError("ENVIRONMENT=live needs a PostgreSQL DATABASE_URL; SQLite is only for sim and demo.")
        if self.risk_min_order_size > self.risk_max_order_size:
            raise ValueError("RISK_MIN_ORDER_SIZE must not exceed RISK_MAX_ORDER_SIZE.")
        return self

    @property
    def dead_man_enabled(self) -> bool:
        return self.environment is Environment.LIVE if self.dead_man_switch is None else self.dead_man_switch

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret_values(self) -> list[str]:
        """The credentials as plain text, for the log filter that makes sure none of them is ever written."""
        secrets = (self.okx_api_key, self.okx_secret_key, self.okx_passphrase)
        return [secret.get_secret_value() for secret in secrets if secret is not None]

    @property
    def risk_config(self) -> dict[str, Decimal | int]:
        """The risk limits under the spec's config keys (`max_order_size`, …)."""
        prefix = "risk_"
        return {name[len(prefix) :]: getattr(self, name) for name in type(self).model_fields if name.startswith(prefix)}


def _first_sentence(error: ValidationError) -> str:
    """Turn pydantic's report into the one sentence an operator needs."""
    first = error.errors()[0]
    message = str(first.get("msg", error))
    message = message.removeprefix("Value error, ")
    location = ".".join(str(part) for part in first.get("loc", ()))
    if location:
        message = f"{location.upper()}: {message}"
    return message


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, raising `SettingsError` with one readable sentence."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_first_sentence(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
