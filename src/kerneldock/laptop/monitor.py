"""``kerneldock monitor KERNEL``: a live view of a kernel's Jupyter messages.

The gateway sends every iopub message to every websocket of a kernel, so a monitor sees
all output, status and debug events of every front-end; shell and control replies reach
only the front-end that asked, so for those it sees its own requests only (none).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

from .attach import resolve_kernel
from .gateway_api import GatewayAPI
from .kernel_channel import KernelChannel
from .messages import parent_id


def summary(message: dict[str, Any], width: int = 80) -> str:
    header = message.get("header") or {}
    content = json.dumps(message.get("content") or {}, separators=(",", ":"))
    if len(content) > width:
        content = content[:width - 1] + "…"
    return (f"{message.get('channel', '?'):<7} {header.get('msg_type', '?'):<20} "
            f"{header.get('msg_id', '')[:8]:<8} parent={str(parent_id(message) or '-')[:8]:<8} {content}")


async def monitor(api: GatewayAPI, kernel_ref: str, channels: set[str], types: set[str],
                  count: int | None) -> int:
    kernel = await resolve_kernel(api, kernel_ref)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with KernelChannel(api, kernel["id"]) as channel:
        queue = channel.subscribe()
        print(f"kerneldock: monitoring kernel {kernel['id']} ({kernel['name']}); Ctrl-C stops",
              file=sys.stderr, flush=True)
        seen = 0
        while not stop.is_set() and (count is None or seen < count):
            getter = asyncio.ensure_future(queue.get())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not getter.done():
                getter.cancel()
                break
            message = getter.result()
            if message is None:
                print("kerneldock: the kernel websocket closed", file=sys.stderr)
                return 1
            if channels and message.get("channel") not in channels:
                continue
            if types and (message.get("header") or {}).get("msg_type") not in types:
                continue
            print(summary(message), flush=True)
            seen += 1
    return 0
