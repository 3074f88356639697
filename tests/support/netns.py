"""A network namespace that stands in for the user's laptop.

It has loopback and one veth link to the host (10.213.X.2 <-> 10.213.X.1), no default
route: from inside, the only thing on the network it can reach is what listens on the
host's end of the link, which in these tests is the bastion's SSH port alone.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid

from .stack import run


def can_make_namespaces() -> str | None:
    """None when namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 ('ip') is not installed"
    return None


class LaptopNamespace:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.name = f"kdl{tag}"
        self.host_if, self.ns_if = f"kdh{tag}", f"kdn{tag}"
        used = run(["ip", "-4", "-o", "addr"]).stdout
        octet = next(n for n in random.sample(range(1, 255), 254) if f"10.213.{n}." not in used)
        self.host_ip, self.ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
        self.created = False

    def create(self) -> "LaptopNamespace":
        self.created = True
        for command in (
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if],
            ["ip", "link", "set", self.ns_if, "netns", self.name],
            ["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if],
            ["ip", "link", "set", self.host_if, "up"],
            ["ip", "netns", "exec", self.name, "ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if],
            ["ip", "netns", "exec", self.name, "ip", "link", "set", self.ns_if, "up"],
            ["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"],
        ):
            run(command)
        return self

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return run(self.command(*args), **kwargs)

    def close(self) -> None:
        if self.created:
            for pid in run(["ip", "netns", "pids", self.name], check=False).stdout.split():
                run(["kill", "-9", pid], check=False)
            run(["ip", "link", "del", self.host_if], check=False)
            run(["ip", "netns", "del", self.name], check=False)
