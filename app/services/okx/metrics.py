"""The OKX client's own Prometheus instruments: request latency and errors per endpoint, WebSocket reconnects.

They live on prometheus-client's default registry, which `GET /metrics` renders. The endpoint label is the request
path without its query (a bounded set: the client only calls the endpoints it knows); the error label is OKX's code,
or `transport` for a request that got no answer, or `http_<status>` for an answer without an OKX envelope.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["REQUEST_ERRORS", "REQUEST_SECONDS", "WEBSOCKET_RECONNECTS"]

REQUEST_SECONDS = Histogram(
    "okx_request_seconds",
    "OKX REST request latency, from sending to the answer read (each attempt)",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REQUEST_ERRORS = Counter(
    "okx_request_errors",
    "OKX REST requests that failed, by endpoint and OKX error code",
    ["endpoint", "code"],
)
WEBSOCKET_RECONNECTS = Counter(
    "okx_websocket_reconnects",
    "OKX WebSocket connections re-established after a drop",
    ["channel"],
)
