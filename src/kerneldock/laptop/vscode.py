"""VS Code attach entries in ``.vscode/launch.json``, merged, never clobbered.

``connect`` calls :func:`merge_launch_entries` with entries whose ``name`` starts with
``kerneldock:``; entries of that name are replaced, every other entry and key is kept.
launch.json is JSON with comments: comments and trailing commas are accepted; when the file
had comments they cannot survive a rewrite, so the original is kept as ``launch.json.bak``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ..common.errors import UsageError

_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)


def parse_jsonc(text: str) -> tuple[Any, bool]:
    """Parse JSON with comments and trailing commas; return (value, had_comments)."""
    had_comments = False

    def strip(match: re.Match) -> str:
        nonlocal had_comments
        token = match.group(0)
        if token.startswith('"'):
            return token
        had_comments = True
        return ""

    cleaned = _TOKENS.sub(strip, text)
    cleaned = re.sub(r",(\s*[}\]])", r"\1", cleaned)
    return json.loads(cleaned), had_comments


def attach_entry(name: str, port: int, mappings: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": port},
        "pathMappings": [{"localRoot": local, "remoteRoot": remote} for local, remote in mappings],
        "justMyCode": False,
    }


def merge_launch_entries(folder: Path, entries: list[dict[str, Any]]) -> Path:
    """Add or replace ``entries`` (by name) in ``folder/.vscode/launch.json``; return its path."""
    path = folder / ".vscode" / "launch.json"
    document: dict[str, Any] = {"version": "0.2.0", "configurations": []}
    had_comments = False
    if path.exists():
        try:
            document, had_comments = parse_jsonc(path.read_text())
        except ValueError as error:
            raise UsageError(f"{path} is not valid JSON ({error}); left it unchanged",
                             fix="fix or move it, then connect again") from None
        if not isinstance(document, dict) or not isinstance(document.get("configurations", []), list):
            raise UsageError(f"{path} has no 'configurations' list; left it unchanged")
    configurations = document.setdefault("configurations", [])
    names = {entry["name"] for entry in entries}
    kept = [c for c in configurations if not (isinstance(c, dict) and c.get("name") in names)]
    document["configurations"] = kept + entries
    document.setdefault("version", "0.2.0")
    path.parent.mkdir(parents=True, exist_ok=True)
    if had_comments:
        shutil.copyfile(path, path.with_name("launch.json.bak"))
    tmp = path.with_name("launch.json.tmp")
    tmp.write_text(json.dumps(document, indent=4) + "\n")
    tmp.replace(path)
    return path
