"""DAP wire framing: ``Content-Length: N\\r\\n\\r\\n`` + N bytes of JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

MAX_MESSAGE = 64 * 1024 * 1024


class FramingError(Exception):
    """The peer sent something that is not a DAP message."""


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at end of stream."""
    length = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode("ascii", "replace").partition(":")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise FramingError(f"bad Content-Length {value.strip()!r}") from None
    if length is None or not 0 <= length <= MAX_MESSAGE:
        raise FramingError("missing or oversized Content-Length")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise FramingError(f"body is not JSON ({str(error)[:100]})") from None
    if not isinstance(message, dict):
        raise FramingError("body is not a JSON object")
    return message


def encode_message(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body
