"""A debug session as JupyterLab drives it over a kernel's websocket (the Jupyter debug
protocol): start the debugger, break in a cell, run it to the stop, leave."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from kerneldock.laptop.kernel_channel import KernelChannel
from support.jupyter_debug import break_in_cell, next_debug_event
from support.marks import marked_line

from .cells import DEBUG_CELL


@dataclass
class Stop:
    thread: int
    execution: asyncio.Future
    configured: float   # seconds from initialize to configurationDone answered
    stopped: float      # seconds from initialize to the `stopped` event


async def first_stop(channel: KernelChannel, code: str = DEBUG_CELL) -> Stop:
    """initialize, attach, dumpCell + setBreakpoints, configurationDone, execute -> stopped."""
    events = channel.subscribe()
    try:
        started = time.perf_counter()
        await break_in_cell(channel, code, marked_line(code))
        configured = time.perf_counter() - started
        execution = asyncio.ensure_future(channel.execute(code, timeout=60))
        stopped = await next_debug_event(events, "stopped", 30)
        return Stop(stopped["body"]["threadId"], execution, configured, time.perf_counter() - started)
    finally:
        channel.unsubscribe(events)


async def leave(channel: KernelChannel, stop: Stop) -> None:
    """Continue the stopped cell, wait for it to finish, end the debug session."""
    assert (await channel.debug("continue", {"threadId": stop.thread}))["success"]
    result = await stop.execution
    assert result.status == "ok", result.stderr
    await channel.debug("disconnect", {"restart": False, "terminateDebuggee": False})
