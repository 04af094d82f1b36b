"""Rate limits keyed the way OKX keys them, so the client waits instead of earning 50011
(`acquire`) and the simulator refuses like OKX (`try_acquire`).

One `aiolimiter.AsyncLimiter` (a leaky bucket) per (endpoint, key value): order placement per instrument, instruments
per instType, everything else per endpoint, plus the account-wide cap on new and amended orders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from aiolimiter import AsyncLimiter

from app.services.okx.constants import ENDPOINT_LIMITS, ORDER_RATE_CAP, ORDER_RATE_CAPPED_PATHS, LimitKey, RateLimit

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self, *, enabled: bool = True, limits: dict[tuple[str, str], RateLimit] | None = None, share: float = 1.0
    ) -> None:
        """`share`: the part of each of OKX's limits this process may use. OKX counts per account (and per
        instrument), not per connection, so N replicas placing orders on one account each take 1/N (the setting
        `OKX_RATE_LIMIT_SHARE`); at least one request per period is always allowed."""
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], not {share}")
        self.enabled = enabled
        self.share = share
        self._limits = ENDPOINT_LIMITS if limits is None else limits
        self._buckets: dict[tuple[str, str, str], AsyncLimiter] = {}

    def _bucket(self, name: tuple[str, str, str], limit: RateLimit) -> AsyncLimiter:
        bucket = self._buckets.get(name)
        if bucket is None:
            requests = max(1, int(limit.requests * self.share))
            bucket = self._buckets[name] = AsyncLimiter(requests, limit.period_s)
        return bucket

    @staticmethod
    def _key_values(limit: RateLimit, items: list[dict[str, str]]) -> Counter[str]:
        """How much each key value (e.g. each instId) uses: one per request, or one per item for batches."""
        if limit.key is LimitKey.ENDPOINT:
            return Counter({"": len(items) if limit.per_item else 1})
        values = [str(item.get(limit.key.value, "")) for item in items]
        return Counter(values) if limit.per_item else Counter({values[0] if values else "": 1})

    def _needs(self, method: str, path: str, item_list: list[dict[str, str]]) -> list[tuple[AsyncLimiter, int]]:
        needs = []
        limit = self._limits.get((method, path))
        if limit is not None:
            for value, amount in self._key_values(limit, item_list).items():
                needs.append((self._bucket((method, path, value), limit), amount))
        if method == "POST" and path in ORDER_RATE_CAPPED_PATHS:
            needs.append((self._bucket(("POST", "order-rate-cap", ""), ORDER_RATE_CAP), len(item_list)))
        return needs

    async def try_acquire(self, method: str, path: str, items: Iterable[dict[str, str]]) -> bool:
        """Take the capacity now if every bucket has it, else take nothing and return False (an exchange's 50011)."""
        if not self.enabled:
            return True
        needs = self._needs(method, path, list(items) or [{}])
        if not all(bucket.has_capacity(amount) for bucket, amount in needs):
            return False
        for bucket, amount in needs:
            await bucket.acquire(amount)  # has capacity: returns at once
        return True

    async def acquire(self, method: str, path: str, items: Iterable[dict[str, str]]) -> None:
        """Wait until the request described by (method, path, its params or body items) may be sent."""
        if not self.enabled:
            return
        for bucket, amount in self._needs(method, path, list(items) or [{}]):
            await bucket.acquire(amount)
