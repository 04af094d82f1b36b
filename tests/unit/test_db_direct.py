"""`app.db_direct.detached`: a row as a detached ORM object, loaded as if by a query."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import class_mapper
from sqlalchemy.orm.exc import DetachedInstanceError

from app.db_direct import detached
from app.models.trading import Order


def _every_column() -> dict[str, object]:
    values: dict[str, object] = {prop.key: None for prop in class_mapper(Order).column_attrs}
    values.update(id=7, size=Decimal("1.5"), client_order_id="c7")
    return values


def test_given_every_column_it_is_detached_with_its_identity_and_changes_are_tracked() -> None:
    order = detached(Order, _every_column())
    state = inspect(order)
    assert state.detached and state.key == (Order, (7,), None)
    assert not state.expired_attributes and not state.modified
    assert order.size == Decimal("1.5")
    order.size = Decimal("2")
    assert state.modified and state.attrs.size.history.deleted == [Decimal("1.5")]
    with pytest.raises(DetachedInstanceError):  # a relationship is never loaded
        _ = order.trades


def test_given_fewer_columns_the_others_raise_instead_of_reading_none() -> None:
    values = _every_column()
    del values["price"]
    order = detached(Order, values)
    assert inspect(order).detached and order.size == Decimal("1.5")
    with pytest.raises(DetachedInstanceError):
        _ = order.price
