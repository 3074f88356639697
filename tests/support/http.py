"""Plain HTTP requests for asserting on raw status codes and bodies."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def http(method: str, url: str, *, token: str | None = None, body: bytes | None = None,
         timeout: float = 30) -> tuple[int, dict | list | str]:
    headers = {"Authorization": f"token {token}"} if token else {}
    request = urllib.request.Request(url, method=method, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")
