"""An asyncio event loop on a background thread, for tests that keep a kernel websocket
open while they do other (synchronous) things: run a process, restart a container."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine


class BackgroundLoop:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine) -> concurrent.futures.Future:
        """Start ``coro`` on the loop; its result (or exception) comes through the future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine, timeout: float = 120) -> Any:
        """Run ``coro`` on the loop and return its result within ``timeout`` seconds."""
        return self.submit(coro).result(timeout)

    def close(self) -> None:
        """Cancel what still runs, then stop the loop and its thread."""
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(cancel_all(), 15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
