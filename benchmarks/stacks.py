"""The two setups measured side by side, each torn down whatever happens.

- kerneldock: the compose stack (gateway with kerneldock's personality, bastion), started
  by the test suite's :class:`support.stack.Stack` under a ``kdbench...`` project name.
- stock: a container of the same gateway image (same Python, same packages, same kernel
  code) running plain ``jupyter kernelgateway`` as shipped: ip 0.0.0.0, a token, and
  ipykernel's own kernelspec (``python -m ipykernel_launcher -f {connection_file}``,
  debugger metadata), on a network of its own that the benchmark creates.

Both are reached from this machine at the gateway container's address (no tunnel), so the
two are compared on the same path; the kerneldock stack is also reached through
``kerneldock connect``'s SSH tunnel.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from support.http import http
from support.stack import Stack
from support.wait import wait_until

from .docker import container_ip, docker

GATEWAY_PORT = 8888
STOCK_KERNELSPEC = {
    "argv": ["/opt/kerneldock/venv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "metadata": {"debugger": True},
}


@dataclass
class Target:
    """One gateway under test, as the metrics see it."""

    name: str                   # "kerneldock" or "stock"
    container: str              # the gateway container's id
    token: str
    stack: Stack | None = None  # the compose stack (kerneldock only)
    facts: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The gateway at its container address (re-read: a restart may change it)."""
        return f"http://{container_ip(self.container)}:{GATEWAY_PORT}"

    def answers(self, url: str | None = None, timeout: float = 2) -> bool:
        try:
            return http("GET", (url or self.url) + "/api/kernelspecs", token=self.token, timeout=timeout)[0] == 200
        except OSError:
            return False


class BenchStack(Stack):
    """A test-suite stack under a project name that says it belongs to the benchmark."""

    def __init__(self, images: dict[str, str], **kwargs):
        super().__init__(images, **kwargs)
        self.project = "kdbench" + uuid.uuid4().hex[:8]
        self.env["COMPOSE_PROJECT_NAME"] = self.project


@contextlib.contextmanager
def kerneldock(images: dict[str, str], *, pool_size: int | None = None) -> Iterator[Target]:
    """The kerneldock compose stack, healthy; ``pool_size`` sets KERNELDOCK_POOL_SIZE."""
    extra = {} if pool_size is None else {"KERNELDOCK_POOL_SIZE": str(pool_size)}
    stack = BenchStack(images, extra_env=extra)
    try:
        stack.up()
        target = Target("kerneldock", stack.container("gateway"), stack.token, stack=stack)
        wait_until(target.answers, 30, "kerneldock gateway answering at its container address")
        yield target
    finally:
        stack.close()


@contextlib.contextmanager
def stock(images: dict[str, str]) -> Iterator[Target]:
    """Stock Kernel Gateway 3.0.1 in a container of the gateway image, on its own network."""
    name = "kdbench" + uuid.uuid4().hex[:8] + "-stock"
    folder = Path(tempfile.mkdtemp(prefix=name + "-"))
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(STOCK_KERNELSPEC, indent=1))
    folder.chmod(0o755)
    token = secrets.token_urlsafe(24)
    network_made = False
    try:
        docker("network", "create", "--internal", name)
        network_made = True
        container = docker(
            "run", "-d", "--name", name, "--network", name,
            "-e", f"KG_AUTH_TOKEN={token}", "-e", "KG_IP=0.0.0.0",
            "-e", "JUPYTER_PATH=/opt/stock/share/jupyter",
            "-v", f"{folder}:/opt/stock/share/jupyter:ro",
            images["KERNELDOCK_GATEWAY_IMAGE"], "jupyter", "kernelgateway").strip()
        target = Target("stock", container, token)
        wait_until(target.answers, 90, "stock gateway answering")
        yield target
    finally:
        if network_made:  # by name: a failed `docker run` may still have made the container
            docker("rm", "-f", "-v", name, check=False, timeout=60)
            docker("network", "rm", name, check=False, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
