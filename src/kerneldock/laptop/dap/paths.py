"""Path mapping between the editor's files and the kernel's, done in the relay.

The relay, not debugpy, translates paths: a relay that joins a debug session another
front-end started cannot give debugpy its ``pathMappings``, and mappings given to debugpy
would outlive the session. Windows-style editor paths (``C:\\proj\\mod.py``) map to POSIX
paths in the kernel. A kernel file with no local counterpart (installed packages, cells
run elsewhere) gets a ``sourceReference`` so the editor fetches its text with ``source``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any, Iterator

SOURCE_REFERENCE_BASE = 1_000_000
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def is_windows_path(path: str) -> bool:
    return bool(_DRIVE.match(path)) or path.startswith("\\\\")


@dataclass
class Mapping:
    local_root: str
    remote_root: str

    @property
    def windows(self) -> bool:
        return is_windows_path(self.local_root)

    def local_parts(self, path: str) -> list[str] | None:
        """Path components of ``path`` below local_root, or None when it is not below it."""
        root, candidate = self.local_root, path
        if self.windows:
            root, candidate = root.replace("\\", "/").lower(), candidate.replace("\\", "/")
            if not candidate.lower().startswith(root.rstrip("/") + "/") and candidate.lower() != root.rstrip("/"):
                return None
            rest = candidate[len(root.rstrip("/")):]
        else:
            root = root.rstrip("/")
            if not (candidate == root or candidate.startswith(root + "/")):
                return None
            rest = candidate[len(root):]
        return [p for p in rest.split("/") if p]

    def to_remote(self, path: str) -> str | None:
        parts = self.local_parts(path)
        return None if parts is None else posixpath.join(self.remote_root, *parts)

    def to_local(self, path: str) -> str | None:
        root = self.remote_root.rstrip("/")
        if not (path == root or path.startswith(root + "/")):
            return None
        parts = [p for p in path[len(root):].split("/") if p]
        if self.windows:
            return "\\".join([self.local_root.rstrip("\\/")] + parts)
        return posixpath.join(self.local_root, *parts)


@dataclass
class CellSource:
    """A ``# %%`` cell of a local file that runs under a kernel-side file name."""

    local_path: str
    line_offset: int  # local line = cell line + line_offset


class PathMapper:
    """Translates every ``source`` object in DAP messages, both ways."""

    def __init__(self, mappings: list[Mapping] | None = None):
        self.mappings = mappings or []
        self.cells: dict[str, CellSource] = {}
        self._refs: dict[int, str] = {}
        self._ref_of: dict[str, int] = {}

    def add_cell(self, remote_path: str, cell: CellSource) -> None:
        self.cells[remote_path] = cell

    def remote_for_reference(self, reference: int) -> str | None:
        return self._refs.get(reference)

    def to_remote(self, path: str) -> str:
        for mapping in self.mappings:
            remote = mapping.to_remote(path)
            if remote is not None:
                return remote
        if is_windows_path(path):
            return path.replace("\\", "/")
        return path

    def to_local(self, path: str) -> str | None:
        for mapping in self.mappings:
            local = mapping.to_local(path)
            if local is not None:
                return local
        return None

    def reference_for(self, remote_path: str) -> int:
        if remote_path not in self._ref_of:
            reference = SOURCE_REFERENCE_BASE + len(self._refs) + 1
            self._refs[reference] = remote_path
            self._ref_of[remote_path] = reference
        return self._ref_of[remote_path]

    # -- whole messages -------------------------------------------------------------
    def request_to_remote(self, arguments: Any) -> None:
        """Rewrite the editor's paths in a request's arguments, in place."""
        for holder in _holders(arguments):
            source = holder["source"]
            reference = source.get("sourceReference") or 0
            if reference >= SOURCE_REFERENCE_BASE and self.remote_for_reference(reference):
                source["path"] = self.remote_for_reference(reference)
                source.pop("sourceReference", None)
            elif isinstance(source.get("path"), str):
                source["path"] = self.to_remote(source["path"])

    def reply_to_local(self, body: Any) -> None:
        """Rewrite the kernel's paths in a response or event body, in place."""
        for holder in _holders(body):
            source = holder["source"]
            path = source.get("path")
            if not isinstance(path, str) or source.get("sourceReference"):
                continue
            cell = self.cells.get(path)
            if cell is not None:
                source["path"], source["name"] = cell.local_path, _basename(cell.local_path)
                for key in ("line", "endLine"):
                    if isinstance(holder.get(key), int):
                        holder[key] += cell.line_offset
                continue
            local = self.to_local(path)
            if local is not None:
                source["path"] = local
            else:
                source["sourceReference"] = self.reference_for(path)
                source.setdefault("name", posixpath.basename(path))
                source.setdefault("presentationHint", "deemphasize")


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path)[-1]


def _holders(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict below ``value`` that has a ``source`` dict."""
    if isinstance(value, dict):
        if isinstance(value.get("source"), dict):
            yield value
        for item in value.values():
            yield from _holders(item)
    elif isinstance(value, list):
        for item in value:
            yield from _holders(item)
