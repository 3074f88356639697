"""Polling with deadlines: the tests' only way to wait."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Return the first truthy value of ``predicate()``; fail after ``timeout`` seconds.

    Exceptions from the predicate count as "not yet" and the last one is reported.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    attempts = 0
    while True:
        attempts += 1
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - reported below
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"{what}: not within {timeout:g} s, {attempts} attempts{detail}")
        time.sleep(interval)
