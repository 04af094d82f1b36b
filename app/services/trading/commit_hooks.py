"""Run something once a session's transaction has committed, and never if it rolls back.

In-memory views that follow the database (Prometheus counters, the risk control's open-order count, the event
feed's wake-up) must move with what was committed, not with what was merely attempted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

__all__ = ["after_commit", "run_committed"]

log = logging.getLogger(__name__)

_PENDING = "after_commit_callbacks"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    session.sync_session.info.setdefault(_PENDING, []).append(callback)


def run_committed(callback: Callable[[], None]) -> None:
    """Run a callback for something already committed: at a session's commit, or at once for a statement that
    committed on its own (`app.db_direct`)."""
    try:
        callback()
    except Exception:  # a view that cannot follow must not undo or hide the commit
        log.exception("after-commit callback %r failed", callback)


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    for callback in session.info.pop(_PENDING, ()):
        run_committed(callback)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
