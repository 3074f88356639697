"""The ``kerneldock`` command as a user runs it, with its own state and project folders,
optionally inside a laptop network namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .netns import LaptopNamespace
from .stack import Stack

VENV_BIN = Path(sys.executable).parent
KERNELDOCK = str(VENV_BIN / "kerneldock")


class Laptop:
    def __init__(self, stack: Stack, name: str, ns: LaptopNamespace | None = None):
        self.stack, self.ns = stack, ns
        self.home = stack.dir / name
        self.cwd = self.home / "project"
        self.cwd.mkdir(parents=True)
        self.env = {**os.environ, "KERNELDOCK_STATE": str(self.home / "state"), "HOME": str(self.home)}
        self.env.pop("KERNELDOCK_TOKEN", None)
        self.facts: dict = {}

    def command(self, *args: str) -> list[str]:
        return self.ns.command(*args) if self.ns else list(args)

    def target_args(self) -> list[str]:
        args = ["--project", self.stack.project, "--ssh-port", str(self.stack.ssh_port),
                "--identity", str(self.stack.key)]
        if self.ns:
            args += ["--bastion-host", self.ns.host_ip]
        return args

    def kerneldock(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
                   check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(KERNELDOCK, *args), cwd=self.cwd, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout, check=check)

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(KERNELDOCK, *args), cwd=self.cwd, env=self.env,
                                stdin=subprocess.DEVNULL, text=True, **kwargs)

    def connect(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return self.kerneldock("connect", *self.target_args(), *extra, env=env)

    def connect_detached(self) -> dict:
        result = self.connect("--detach", "--json")
        assert result.returncode == 0, result.stderr
        self.facts = json.loads(result.stdout)
        return self.facts

    def status(self) -> list[dict]:
        return json.loads(self.kerneldock("status", "--json", check=True).stdout)

    def disconnect(self) -> None:
        self.kerneldock("disconnect")
