"""A kerneldock compose stack started for a test, and SSH tunnels into it.

Each :class:`Stack` runs under its own compose project name, SSH port, token, workspace and
authorized key, and is always torn down (volumes included). Its containers' logs are
checked for WARNING/ERROR lines at teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from .net import free_port, port_open
from .wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = str(ROOT / "scripts" / "compose")

# Log lines that are warnings or errors: "WARNING[...", "ERROR[...", tornado's "[W ...",
# traitlets' "[App] WARNING | ...".
PROBLEM = re.compile(r"^(?:WARNING|ERROR|CRITICAL)\[|^\[[WEC] |\] (?:WARNING|ERROR|CRITICAL) \||\berror:|Traceback")
# Known noise of the stock stack, not faults: jupyter_server's kernel websocket closes its
# probing ZMQ streams while pyzmq still holds an event for them; and tornado, reading
# jupyter_server's ping settings (milliseconds) as its own (seconds), warns once that the
# pong timeout (3 pings, which jupyter_server needs) exceeds the interval.
UPSTREAM_NOISE = [r"zmqstream:\d+\] Got events for closed stream",
                  r"websocket:\d+\] The websocket_ping_timeout \(90000\) cannot be longer"]


def gateway_env_override(**env: str) -> str:
    """A compose override file's text that adds ``env`` to the gateway's environment."""
    lines = "".join(f'      {name}: "{value}"\n' for name, value in env.items())
    return f"services:\n  gateway:\n    environment:\n{lines}"


def run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 120,
        check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, timeout=timeout, check=check, text=True,
                          capture_output=True, input=input)


class Stack:
    """``scripts/compose up`` for one test module; ``close()`` always runs ``down -v``."""

    def __init__(self, images: dict[str, str], *, extra_env: dict[str, str] | None = None,
                 override: str | None = None):
        self.project = "kdtest" + uuid.uuid4().hex[:8]
        self.dir = Path(tempfile.mkdtemp(prefix=self.project + "-"))
        self.ssh_port = free_port()
        self.token = secrets.token_urlsafe(24)
        self.workspace = self.dir / "workspace"
        self.workspace.mkdir()
        os.chown(self.workspace, 1000, 1000) if os.geteuid() == 0 else None
        self.key = self.dir / "id_ed25519"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kerneldock-test", "-f", str(self.key)])
        self.authorized_keys = self.dir / "authorized_keys"
        shutil.copy(str(self.key) + ".pub", self.authorized_keys)
        self.known_hosts = self.dir / "known_hosts"
        self.allowed_log_problems: list[str] = []
        self.env = {
            **os.environ,
            **images,
            "COMPOSE_PROJECT_NAME": self.project,
            "KERNELDOCK_TOKEN": self.token,
            "KERNELDOCK_SSH_PORT": str(self.ssh_port),
            "KERNELDOCK_WORKSPACE": str(self.workspace),
            "KERNELDOCK_AUTHORIZED_KEYS": str(self.authorized_keys),
            **(extra_env or {}),
        }
        self.ssh_host = self.env.get("KERNELDOCK_SSH_BIND", "127.0.0.1")
        self.compose_files: list[str] = []
        if override:
            path = self.dir / "override.yaml"
            path.write_text(override)
            self.compose_files = ["-f", str(ROOT / "compose.yaml"), "-f", str(path)]
        self.started = False

    def compose(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
        return run([COMPOSE, *self.compose_files, *args], env=self.env, timeout=timeout, check=check)

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    def up(self) -> "Stack":
        self.started = True
        self.compose("up", "-d", "--no-build")
        gateway = self.container("gateway")
        wait_until(lambda: self.health(gateway) == "healthy", 90, "gateway healthy")
        bastion = self.container("bastion")
        hostkey = wait_until(lambda: self.exec(bastion, "cat", "/var/lib/kerneldock/hostkeys/ssh_host_ed25519_key.pub").strip(),
                             30, "bastion host key")
        self.host_key = hostkey
        self.known_hosts.write_text(f"[{self.ssh_host}]:{self.ssh_port} {hostkey}\n")
        wait_until(lambda: port_open(self.ssh_port, self.ssh_host), 30, "bastion port open")
        return self

    @staticmethod
    def health(container: str) -> str:
        return run(["docker", "inspect", "-f", "{{.State.Health.Status}}", container], check=False).stdout.strip()

    @staticmethod
    def exec(container: str, *args: str) -> str:
        return run(["docker", "exec", container, *args], timeout=30).stdout

    def logs(self, service: str) -> str:
        result = run(["docker", "logs", self.container(service)], check=False)
        return result.stdout + result.stderr

    def problems(self) -> list[str]:
        """Unexpected WARNING/ERROR lines in the containers' logs."""
        found = []
        allowed = UPSTREAM_NOISE + self.allowed_log_problems
        for service in ("gateway", "bastion"):
            lines = self.logs(service).splitlines()
            for number, line in enumerate(lines):
                if PROBLEM.search(line) and not any(re.search(p, line) for p in allowed):
                    context = lines[number + 1:number + 40] if "Traceback" in line else []
                    found.append("\n".join([f"{service}: {line}", *context]))
        return found

    def ssh_options(self) -> list[str]:
        """OpenSSH options that reach the bastion with the test key and a pinned host key."""
        return [
            "-p", str(self.ssh_port), "-i", str(self.key),
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", "-F", "/dev/null",
        ]

    def close(self) -> None:
        if self.started:
            # Kept for the post-mortem of a failed run (CI prints only the assertion).
            artifacts = ROOT / "artifacts" / "logs"
            artifacts.mkdir(parents=True, exist_ok=True)
            for service in ("gateway", "bastion"):
                (artifacts / f"{self.project}-{service}.log").write_text(self.logs(service))
            self.compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class Tunnel:
    """``ssh -N -L 127.0.0.1:PORT:gateway:8888`` to a stack's bastion, with a pinned host key."""

    def __init__(self, stack: Stack, target: str = "gateway:8888"):
        self.stack = stack
        self.port = free_port()
        self.target = target
        self.process: subprocess.Popen | None = None

    def open(self) -> "Tunnel":
        self.process = subprocess.Popen(
            ["ssh", *self.stack.ssh_options(), "-N", "-o", "ExitOnForwardFailure=yes",
             "-L", f"127.0.0.1:{self.port}:{self.target}", "kerneldock@127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: self.process.poll() is not None or port_open(self.port), 20,
                   "tunnel listening")
        if self.process.poll() is not None:
            raise RuntimeError(f"ssh exited {self.process.returncode}: {self.process.stderr.read()}")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> "Tunnel":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def running_stack(images: dict[str, str], *, allowed_log_problems: tuple[str, ...] = (), **kwargs):
    """A started stack for a test module; its logs must hold no unexpected WARNING/ERROR."""
    stack = Stack(images, **kwargs)
    stack.allowed_log_problems += list(allowed_log_problems)
    try:
        yield stack.up()
        problems = stack.problems()
        assert not problems, "unexpected WARNING/ERROR lines in container logs:\n" + "\n".join(problems)
    finally:
        stack.close()
