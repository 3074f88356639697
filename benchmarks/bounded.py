"""Sample loops bounded in count and in time."""

from __future__ import annotations

import time
from collections.abc import Iterator


def bounded(count: int, seconds: float, what: str) -> Iterator[int]:
    """Yield 0..count-1, stopping early (with a message) once ``seconds`` have passed; at
    least one round always runs."""
    deadline = time.monotonic() + seconds
    for index in range(count):
        if index and time.monotonic() >= deadline:
            print(f"  {what}: time budget of {seconds:g} s used up after {index} of {count} rounds",
                  flush=True)
            return
        yield index
