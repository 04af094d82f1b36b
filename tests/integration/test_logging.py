"""Structured logs: JSON lines in a rotating file; an order's lines carry its ids; the request id round-trips;
no secret (API keys, OKX credentials, signatures) is ever written, even at DEBUG."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.log_config import configure_logging
from app.services.okx.simulator.config import SANDBOX_API_KEY, SANDBOX_PASSPHRASE, SANDBOX_SECRET_KEY
from tests.integration.api.conftest import Api, api  # noqa: F401  (fixture)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_log_file_is_json_and_rotates(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "logs" / "trading.log"
    configure_logging("INFO", str(log_file), [], max_bytes=2_000)

    for n in range(200):
        logging.getLogger("app.test").info("line %d of a log that must rotate", n)

    assert log_file.exists() and (tmp_path / "logs" / "trading.log.1").exists()
    last = _lines(log_file)[-1]
    assert last["message"] == "line 199 of a log that must rotate"
    assert (last["level"], last["logger"]) == ("INFO", "app.test") and last["time"].endswith("+00:00")


async def test_order_lines_carry_ids_the_request_id_round_trips_and_no_secret_is_logged(
    api: Api,  # noqa: F811
    tmp_path: Path,
    restore_logging: None,
) -> None:
    log_file = tmp_path / "trading.log"
    secrets = [SANDBOX_API_KEY, SANDBOX_SECRET_KEY, SANDBOX_PASSPHRASE]
    configure_logging("DEBUG", str(log_file), secrets)
    order = {"instrument_id": "BTC-USDT", "side": "buy", "order_type": "limit", "size": "0.01", "price": "49000"}

    placed = await api.client.post(
        "/api/v1/trading/orders", json=order, headers={**api.as_("trade"), "X-Request-ID": "req-abc.1"}
    )
    generated = await api.client.get("/api/v1/trading/orders", headers=api.as_("read"))
    refused = await api.client.get("/api/v1/trading/orders", headers={"Authorization": "Bearer tes_" + "x" * 43})
    signal = {"strategy_id": "logs", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.01"}
    filled = await api.client.post("/api/v1/trading/signals", json=signal, headers=api.as_("admin"))
    await api.app.state.trading.tracker.reconcile(filled.json()["id"])
    await api.client.get("/metrics", headers=api.as_("read"))
    for handler in logging.getLogger().handlers:
        handler.flush()

    assert placed.headers["x-request-id"] == "req-abc.1"
    assert len(generated.headers["x-request-id"]) == 32 and refused.status_code == 401
    lines = _lines(log_file)
    sent = [line for line in lines if line["message"].startswith("order sent")]
    mine = [line for line in sent if line.get("request_id") == "req-abc.1"]
    assert len(mine) == 1
    assert mine[0]["order_id"] == placed.json()["id"]
    assert mine[0]["client_order_id"] == placed.json()["client_order_id"]
    assert (mine[0]["instrument_id"], mine[0]["strategy_id"]) == ("BTC-USDT", "api")
    acknowledged = [line for line in lines if line["message"].startswith("order acknowledged")]
    assert any(line.get("exchange_order_id") == placed.json()["exchange_order_id"] for line in acknowledged)
    fills = [line for line in lines if line["message"].startswith("fill stored")]
    assert fills and all({"order_id", "client_order_id", "exchange_order_id", "strategy_id"} <= set(f) for f in fills)

    text = log_file.read_text()
    for secret in [*api.keys.values(), "tes_" + "x" * 43, *secrets]:
        assert secret not in text
    assert "OK-ACCESS-SIGN" not in text and "OK-ACCESS-KEY" not in text.upper()
