"""Where the laptop side keeps what it knows: connection profiles, tokens, pinned host keys.

The state folder is ``$KERNELDOCK_STATE`` or ``~/.config/kerneldock`` (the same folder
``scripts/up`` uses on a Docker host). Files holding secrets are written mode 600.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..common.errors import UsageError


def state_dir() -> Path:
    base = os.environ.get("KERNELDOCK_STATE") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "kerneldock")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the user only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


@dataclass
class Profile:
    """One stack the laptop connects to: how to reach it and the local ports it keeps."""

    name: str
    host: str | None          # None: the stack on this machine
    ssh_port: int = 2222      # the bastion's published port on the Docker host's loopback
    project: str = "kerneldock"
    via: str = "port"         # "port" (published bastion port) or "docker-exec" (none)
    identity: str | None = None
    bastion_host: str | None = None  # a bastion published on a reachable address: no jump
    local_port: int | None = None
    attach_port: int | None = None

    @staticmethod
    def name_for(host: str | None, project: str) -> str:
        base = "local" if host is None else host
        if project != "kerneldock":
            base += "-" + project
        return re.sub(r"[^A-Za-z0-9_.@-]", "_", base)

    @property
    def folder(self) -> Path:
        return state_dir() / "connections" / self.name

    @property
    def token_file(self) -> Path:
        return self.folder / "token"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    @property
    def host_key_alias(self) -> str:
        return f"kerneldock-bastion.{self.name}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    @property
    def connect_command(self) -> str:
        return "kerneldock connect" + (f" {self.host}" if self.host else "")

    def token(self) -> str:
        try:
            return self.token_file.read_text().strip()
        except FileNotFoundError:
            raise UsageError(f"no token stored for {self.name!r}",
                             fix=f"run '{self.connect_command}'") from None

    def save(self) -> None:
        write_private(self.folder / "profile.json", json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, name: str) -> "Profile":
        path = state_dir() / "connections" / name / "profile.json"
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise UsageError(f"no connection named {name!r}",
                             fix="run 'kerneldock connect [USER@]HOST' first") from None

    @classmethod
    def all(cls) -> list["Profile"]:
        root = state_dir() / "connections"
        return [cls.load(p.parent.name) for p in sorted(root.glob("*/profile.json"))]


def socket_path(profile: Profile, name: str) -> str:
    """A unix socket path in the profile's folder, or in /tmp when that would be too long."""
    import hashlib
    import tempfile

    path = str(profile.folder / name)
    if len(path) > 90:  # unix socket paths are limited to about 104 bytes
        digest = hashlib.sha256(path.encode()).hexdigest()[:16]
        path = os.path.join(tempfile.gettempdir(), f"kerneldock-{os.getuid()}-{digest}")
    return path


def status_file(profile: Profile) -> Path:
    return profile.folder / "status.json"


def read_status(profile: Profile) -> dict[str, Any] | None:
    try:
        return json.loads(status_file(profile).read_text())
    except (FileNotFoundError, ValueError):
        return None


def write_status(profile: Profile, status: dict[str, Any]) -> None:
    write_private(status_file(profile), json.dumps(status, indent=2) + "\n")
