"""Jupyter messages as the gateway's kernel websocket carries them (JSON, protocol 5.3)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

PROTOCOL_VERSION = "5.3"


def new_message(msg_type: str, content: dict[str, Any], *, session: str, channel: str,
                username: str = "kerneldock", metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a message ready to send as one websocket text frame."""
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": username,
            "session": session,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "version": PROTOCOL_VERSION,
        },
        "parent_header": {},
        "metadata": metadata or {},
        "content": content,
        "channel": channel,
        "buffers": [],
    }


def parent_id(message: dict[str, Any]) -> str | None:
    """The msg_id this message answers, if any."""
    return (message.get("parent_header") or {}).get("msg_id")
