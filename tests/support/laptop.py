"""The ``kerneldock`` command as a user runs it, with its own state and project folders,
optionally inside a laptop network namespace."""

from __future__ import annotations

import contextlib
import json
import os
import signal
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


@contextlib.contextmanager
def connected(stack: Stack, name: str, ns: LaptopNamespace | None = None):
    """A user whose ``kerneldock connect --detach`` is up for the block."""
    user = Laptop(stack, name, ns)
    user.connect_detached()
    try:
        yield user
    finally:
        user.disconnect()


@contextlib.contextmanager
def jupyterlab(user: Laptop, token: str, ip: str = "127.0.0.1", *extra: str):
    """A real JupyterLab (pip) whose kernels are on the gateway behind the user's tunnel;
    yields its URL. Runs inside the user's namespace when the user has one."""
    from .http import http
    from .net import free_port
    from .wait import wait_until

    port = free_port()
    env = {**os.environ, "HOME": str(user.home), "JUPYTER_GATEWAY_AUTH_TOKEN": user.stack.token,
           "JUPYTER_CONFIG_DIR": str(user.home / "jupyter-config"),
           "JUPYTER_DATA_DIR": str(user.home / "jupyter-data"),
           "JUPYTER_RUNTIME_DIR": str(user.home / "jupyter-runtime")}
    log = open(user.home / "jupyterlab.log", "w")
    process = subprocess.Popen(user.command(
        str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--allow-root", f"--ip={ip}", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={user.cwd}",
        f"--gateway-url={user.facts['gateway_url']}", *extra),
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=user.cwd)
    url = f"http://{ip}:{port}"
    try:
        wait_until(lambda: http("GET", url + "/api/status", token=token, timeout=5)[0] == 200, 90,
                   "JupyterLab answering")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
