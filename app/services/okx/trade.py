"""`OKXTrade`: OKX's order endpoints (place, batch place, cancel, batch cancel, amend, query, history, fills).

Single-order calls raise on a refused item; batch calls return one result per item, in the order given: an
`OrderAck` when OKX accepted it, else the `OKXError` that says why (not raised, so accepted items are never lost
behind a refused one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from app.services.okx.client import OUTCOME_UNKNOWN_CODES, first, parse
from app.services.okx.constants import BATCH_MAX, Path
from app.services.okx.errors import OKXError, OKXOutcomeUnknown, OKXParameterError, OKXTransportError, error_for_code
from app.services.okx.models import CancelAllAfter, Fill, Order, OrderAck

if TYPE_CHECKING:
    from app.services.okx.client import OKXClient

__all__ = ["AmendRequest", "CancelRequest", "OKXTrade", "OrderRequest"]

T = TypeVar("T")
PAGE_LIMIT = 100
MAX_PAGES = 1000


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


_OKX_NAMES: dict[type, tuple[tuple[str, str], ...]] = {}


def _to_okx_fields(request: object) -> dict[str, Any]:
    """OKX's camelCase fields of a request dataclass, unset ones left out (no deep copy: this is the order path)."""
    names = _OKX_NAMES.get(type(request))
    if names is None:
        names = _OKX_NAMES[type(request)] = tuple((f.name, _camel(f.name)) for f in fields(request))  # type: ignore[arg-type]
    return {okx: value for name, okx in names if (value := getattr(request, name)) is not None}


@dataclass(frozen=True)
class OrderRequest:
    """The fields of OKX's place-order request, by OKX's names in snake_case."""

    inst_id: str
    td_mode: str
    side: str
    ord_type: str
    sz: Decimal
    px: Decimal | None = None
    cl_ord_id: str | None = None
    tag: str | None = None
    pos_side: str | None = None
    tgt_ccy: str | None = None
    reduce_only: bool | None = None
    ccy: str | None = None
    stp_mode: str | None = None

    def to_okx(self) -> dict[str, Any]:
        return _to_okx_fields(self)


@dataclass(frozen=True)
class CancelRequest:
    inst_id: str
    ord_id: str | None = None
    cl_ord_id: str | None = None

    def to_okx(self) -> dict[str, Any]:
        if not self.ord_id and not self.cl_ord_id:
            raise OKXParameterError("cancel needs ord_id or cl_ord_id", code="51003")
        return _to_okx_fields(self)


@dataclass(frozen=True)
class AmendRequest:
    inst_id: str
    ord_id: str | None = None
    cl_ord_id: str | None = None
    new_sz: Decimal | None = None
    new_px: Decimal | None = None
    cxl_on_fail: bool | None = None
    req_id: str | None = None

    def to_okx(self) -> dict[str, Any]:
        if not self.ord_id and not self.cl_ord_id:
            raise OKXParameterError("amend needs ord_id or cl_ord_id", code="51003")
        if self.new_sz is None and self.new_px is None:
            raise OKXParameterError("amend needs new_sz or new_px", code="51000")
        return _to_okx_fields(self)


def _chunks(items: Sequence[T], size: int = BATCH_MAX) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class OKXTrade:
    def __init__(self, client: OKXClient) -> None:
        self._client = client

    # --- place / amend: never re-sent after an ambiguous failure -------------------------------------------

    def _ack_or_error(self, item: Any, *, may_be_unknown: bool, exp_time_ms: int | None) -> OrderAck | OKXError:
        try:
            ack = OrderAck.model_validate(item)
        except ValidationError:
            detail = "OKX answered a malformed order item"
            if may_be_unknown:
                client_order_id = item.get("clOrdId") if isinstance(item, dict) else None
                return OKXOutcomeUnknown(detail, client_order_id=client_order_id, exp_time_ms=exp_time_ms)
            return OKXTransportError(detail)
        if ack.ok:
            return ack
        if may_be_unknown and ack.s_code in OUTCOME_UNKNOWN_CODES:
            return OKXOutcomeUnknown(
                ack.s_msg or "outcome unknown", code=ack.s_code, client_order_id=ack.cl_ord_id, exp_time_ms=exp_time_ms
            )
        return error_for_code(ack.s_code, ack.s_msg or "")

    async def _single(
        self, path: str, body: dict[str, Any], *, idempotent: bool, exp_time_ms: int | None = None
    ) -> OrderAck:
        data = await self._client.request(
            "POST",
            path,
            body=body,
            idempotent=idempotent,
            exp_time_ms=exp_time_ms,
            client_order_id=body.get("clOrdId"),
        )
        if not data:
            raise OKXOutcomeUnknown(
                f"POST {path}: empty answer", client_order_id=body.get("clOrdId"), exp_time_ms=exp_time_ms
            )
        result = self._ack_or_error(data[0], may_be_unknown=not idempotent, exp_time_ms=exp_time_ms)
        if isinstance(result, OKXError):
            raise result
        return result

    async def place_order(self, order: OrderRequest, *, exp_time_ms: int | None = None) -> OrderAck:
        """Place one order. `exp_time_ms` defaults to now + the client's window; store it to reconcile later."""
        if exp_time_ms is None:
            await self._client.ensure_time_synced()
            exp_time_ms = self._client.new_exp_time_ms()
        return await self._single(Path.ORDER, order.to_okx(), idempotent=False, exp_time_ms=exp_time_ms)

    async def amend_order(self, amend: AmendRequest, *, exp_time_ms: int | None = None) -> OrderAck:
        """Ask OKX to change size and/or price; the ack only means accepted (the push says what happened)."""
        if exp_time_ms is None:
            await self._client.ensure_time_synced()
            exp_time_ms = self._client.new_exp_time_ms()
        return await self._single(Path.AMEND_ORDER, amend.to_okx(), idempotent=False, exp_time_ms=exp_time_ms)

    async def _batch(
        self,
        path: str,
        single_path: str,
        bodies: list[dict[str, Any]],
        *,
        idempotent: bool,
        exp_time_ms: int | None,
    ) -> list[OrderAck | OKXError]:
        async def send(chunk: Sequence[dict[str, Any]]) -> list[OrderAck | OKXError]:
            # A one-order batch counts against the single-order limit at OKX: send it as a single order.
            target, body = (single_path, chunk[0]) if len(chunk) == 1 else (path, list(chunk))
            try:
                data = await self._client.request(
                    "POST", target, body=body, idempotent=idempotent, exp_time_ms=exp_time_ms
                )
            except OKXError as exc:
                if isinstance(exc, OKXOutcomeUnknown):
                    return [
                        OKXOutcomeUnknown(
                            exc.message,
                            code=exc.code,
                            http_status=exc.http_status,
                            client_order_id=item.get("clOrdId"),
                            exp_time_ms=exp_time_ms,
                        )
                        for item in chunk
                    ]
                return [exc] * len(chunk)
            by_position = [
                self._ack_or_error(item, may_be_unknown=not idempotent, exp_time_ms=exp_time_ms) for item in data
            ]
            if len(by_position) != len(chunk):
                detail = f"POST {target}: {len(data)} answers for {len(chunk)} orders"
                if idempotent:
                    return [OKXTransportError(detail)] * len(chunk)
                return [
                    OKXOutcomeUnknown(detail, client_order_id=item.get("clOrdId"), exp_time_ms=exp_time_ms)
                    for item in chunk
                ]
            return by_position

        chunks = _chunks(bodies)
        results = await asyncio.gather(*(send(chunk) for chunk in chunks), return_exceptions=True)
        merged: list[OrderAck | OKXError] = []
        for chunk, chunk_results in zip(chunks, results, strict=True):
            if isinstance(chunk_results, BaseException):  # unexpected: never lose the other chunks' acks over it
                detail = f"batch answer could not be read: {type(chunk_results).__name__}: {chunk_results}"
                merged += [
                    OKXOutcomeUnknown(detail, client_order_id=item.get("clOrdId"), exp_time_ms=exp_time_ms)
                    if not idempotent
                    else OKXTransportError(detail)
                    for item in chunk
                ]
            else:
                merged += chunk_results
        return merged

    async def place_orders(
        self, orders: Sequence[OrderRequest], *, exp_time_ms: int | None = None
    ) -> list[OrderAck | OKXError]:
        """Place many orders, 20 per request (OKX's maximum); one result per order, in order."""
        if exp_time_ms is None:
            await self._client.ensure_time_synced()
            exp_time_ms = self._client.new_exp_time_ms()
        bodies = [order.to_okx() for order in orders]
        return await self._batch(Path.BATCH_ORDERS, Path.ORDER, bodies, idempotent=False, exp_time_ms=exp_time_ms)

    # --- cancel: safe to repeat ---------------------------------------------------------------------------

    async def cancel_order(self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None) -> OrderAck:
        """Request a cancel; the ack only means accepted (the order may still fill first)."""
        body = CancelRequest(inst_id=inst_id, ord_id=ord_id, cl_ord_id=cl_ord_id).to_okx()
        return await self._single(Path.CANCEL_ORDER, body, idempotent=True)

    async def cancel_orders(self, cancels: Sequence[CancelRequest]) -> list[OrderAck | OKXError]:
        bodies = [cancel.to_okx() for cancel in cancels]
        return await self._batch(Path.CANCEL_BATCH_ORDERS, Path.CANCEL_ORDER, bodies, idempotent=True, exp_time_ms=None)

    async def cancel_all_after(self, timeout_s: int, *, tag: str | None = None) -> CancelAllAfter:
        """Dead-man switch: OKX cancels every pending order (with `tag`, those only) after `timeout_s` seconds
        unless called again. 0 disables it; OKX accepts 0 or 10–120."""
        if timeout_s != 0 and not 10 <= timeout_s <= 120:
            raise OKXParameterError(f"cancel-all-after timeOut must be 0 or 10-120 s, got {timeout_s}", code="51000")
        data = await self._client.request(
            "POST", Path.CANCEL_ALL_AFTER, body={"timeOut": str(timeout_s), "tag": tag}, idempotent=True
        )
        return parse(CancelAllAfter, first(data, what="cancel-all-after result"), what="cancel-all-after result")

    # --- queries ------------------------------------------------------------------------------------------

    async def get_order(self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None) -> Order:
        """One order by ordId or clOrdId; raises `OKXOrderNotFound` (51603) when OKX has no such order."""
        if not ord_id and not cl_ord_id:
            raise OKXParameterError("get_order needs ord_id or cl_ord_id", code="51003")
        params = {"instId": inst_id, "ordId": ord_id, "clOrdId": None if ord_id else cl_ord_id}
        data = await self._client.request("GET", Path.ORDER, params=params)
        return parse(Order, first(data, what="order"), what="order")

    async def get_pending_orders(
        self,
        *,
        inst_type: str | None = None,
        inst_id: str | None = None,
        ord_type: str | None = None,
        state: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[Order]:
        params = {
            "instType": inst_type,
            "instId": inst_id,
            "ordType": ord_type,
            "state": state,
            "after": after,
            "before": before,
            "limit": limit,
        }
        return [
            Order.model_validate(item) for item in await self._client.request("GET", Path.ORDERS_PENDING, params=params)
        ]

    async def get_order_history(
        self,
        inst_type: str,
        *,
        inst_id: str | None = None,
        ord_type: str | None = None,
        state: str | None = None,
        after: str | None = None,
        before: str | None = None,
        begin_ms: int | None = None,
        end_ms: int | None = None,
        limit: int | None = None,
    ) -> list[Order]:
        """Finished orders of the last 7 days (OKX keeps unfilled canceled ones only 2 h); instType required."""
        params = {
            "instType": inst_type,
            "instId": inst_id,
            "ordType": ord_type,
            "state": state,
            "after": after,
            "before": before,
            "begin": begin_ms,
            "end": end_ms,
            "limit": limit,
        }
        return [
            Order.model_validate(item) for item in await self._client.request("GET", Path.ORDERS_HISTORY, params=params)
        ]

    async def get_fills(
        self,
        *,
        inst_type: str | None = None,
        inst_id: str | None = None,
        ord_id: str | None = None,
        after: str | None = None,
        before: str | None = None,
        begin_ms: int | None = None,
        end_ms: int | None = None,
        limit: int | None = None,
        history: bool = False,
    ) -> list[Fill]:
        """Fills of the last 3 days, or with `history=True` of the last 3 months (instType then required)."""
        path = Path.FILLS_HISTORY if history else Path.FILLS
        if history and not inst_type:
            raise OKXParameterError("fills-history needs inst_type", code="51000")
        params = {
            "instType": inst_type,
            "instId": inst_id,
            "ordId": ord_id,
            "after": after,
            "before": before,
            "begin": begin_ms,
            "end": end_ms,
            "limit": limit,
        }
        return [parse(Fill, item, what="fill") for item in await self._client.request("GET", path, params=params)]

    # --- pagination ---------------------------------------------------------------------------------------

    @staticmethod
    async def _pages(
        fetch: Callable[[str | None], Awaitable[list[T]]],
        cursor_of: Callable[[T], str | None],
        page_size: int,
        max_pages: int = MAX_PAGES,
    ) -> AsyncGenerator[T, None]:
        """Walk OKX's newest-first pages with `after` = the last id seen, until a short page (or `max_pages`)."""
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(max_pages):
            page = await fetch(cursor)
            for item in page:
                yield item
            if len(page) < page_size:
                return
            cursor = cursor_of(page[-1])
            if cursor is None or cursor in seen:  # a cursor that does not move would loop forever
                return
            seen.add(cursor)

    def iter_fills(
        self, *, page_size: int = PAGE_LIMIT, max_pages: int = MAX_PAGES, **filters: Any
    ) -> AsyncGenerator[Fill, None]:
        """Every fill matching the filters, across pages (cursor: billId)."""

        async def fetch(after: str | None) -> list[Fill]:
            return await self.get_fills(after=after, limit=page_size, **filters)

        return self._pages(fetch, lambda fill: fill.bill_id, page_size, max_pages)

    def iter_order_history(
        self, inst_type: str, *, page_size: int = PAGE_LIMIT, max_pages: int = MAX_PAGES, **filters: Any
    ) -> AsyncGenerator[Order, None]:
        """Every finished order matching the filters, newest first (cursor: ordId). Not from a `begin`: given only
        `begin`, OKX answers the orders *closest to it* (the oldest), so paging older with `after` would miss every
        newer one (its pagination guide); bound the walk with `end` or `max_pages` instead."""
        if filters.get("begin_ms") is not None:
            raise ValueError("iter_order_history cannot start from begin_ms: OKX pages it from the oldest end")

        async def fetch(after: str | None) -> list[Order]:
            return await self.get_order_history(inst_type, after=after, limit=page_size, **filters)

        return self._pages(fetch, lambda order: order.ord_id, page_size, max_pages)

    def iter_pending_orders(self, *, page_size: int = PAGE_LIMIT, **filters: Any) -> AsyncGenerator[Order, None]:
        async def fetch(after: str | None) -> list[Order]:
            return await self.get_pending_orders(after=after, limit=page_size, **filters)

        return self._pages(fetch, lambda order: order.ord_id, page_size)
