"""Request deadlines that travel with the work.

The edge opens a `deadline_scope`; every gRPC call made inside it gets the time that is
left, and a gRPC server re-opens the scope from the caller's deadline, so a budget set at
the storefront bounds every hop below it.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("folio_deadline", default=None)


@contextmanager
def deadline_scope(seconds: float | None) -> Iterator[None]:
    """Bound the work inside to `seconds` from now (never extends an outer deadline)."""
    if seconds is None:
        yield
        return
    new = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(new if outer is None else min(outer, new))
    try:
        yield
    finally:
        _deadline.reset(token)


def time_remaining() -> float | None:
    """Seconds left in the current scope (may be <= 0), or None when unbounded."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
