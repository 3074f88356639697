"""Waiting for a started kernel to answer, from inside the gateway."""

from __future__ import annotations

from typing import Any

from jupyter_client.session import Session


async def answering_client(km: Any, timeout: float) -> Any:
    """A client on ``km``'s shell channel, returned once the kernel has answered a
    ``kernel_info_request``; raises when it dies or does not answer within ``timeout``.
    The caller stops its channels when done with it."""
    # A session of its own: one shared with the manager would share its digest history
    # and reject the replies as duplicates.
    client = km.client(session=Session(config=km.session.config, key=km.session.key))
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    try:
        await client.wait_for_ready(timeout=timeout)
    except BaseException:
        client.stop_channels()
        raise
    return client
