"""OKX v5 request signing, with the clock injected so it can be tested against a fixed vector.

REST: OK-ACCESS-SIGN = Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)), where requestPath
includes `?query` exactly as sent and the timestamp is ISO-8601 UTC with milliseconds. WebSocket login signs
timestamp (Unix seconds) + "GET" + "/users/self/verify".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import SecretStr

__all__ = ["OKXCredentials", "iso_timestamp", "sign"]

WS_LOGIN_PATH = "/users/self/verify"


def sign(secret: str, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    message = f"{timestamp}{method.upper()}{request_path}{body}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def iso_timestamp(epoch_seconds: float) -> str:
    """`2020-12-08T09:08:57.715Z`: what OKX expects in OK-ACCESS-TIMESTAMP."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class OKXCredentials:
    """An API key with its secret and passphrase; the secrets never appear in a repr."""

    api_key: str
    secret_key: SecretStr = field(repr=False)
    passphrase: SecretStr = field(repr=False)

    @classmethod
    def of(cls, api_key: str, secret_key: str | SecretStr, passphrase: str | SecretStr) -> OKXCredentials:
        return cls(
            api_key=api_key,
            secret_key=secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key),
            passphrase=passphrase if isinstance(passphrase, SecretStr) else SecretStr(passphrase),
        )

    def __repr__(self) -> str:
        visible = self.api_key[:4] + "…" if len(self.api_key) > 4 else "…"
        return f"OKXCredentials(api_key='{visible}')"

    def rest_headers(self, timestamp: str, method: str, request_path: str, body: str) -> dict[str, str]:
        return {
            "OK-ACCESS-KEY": self.api_key,
            "OK-ACCESS-SIGN": sign(self.secret_key.get_secret_value(), timestamp, method, request_path, body),
            "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-PASSPHRASE": self.passphrase.get_secret_value(),
        }

    def ws_login_args(self, epoch_seconds: int) -> dict[str, str]:
        timestamp = str(epoch_seconds)
        return {
            "apiKey": self.api_key,
            "passphrase": self.passphrase.get_secret_value(),
            "timestamp": timestamp,
            "sign": sign(self.secret_key.get_secret_value(), timestamp, "GET", WS_LOGIN_PATH),
        }
