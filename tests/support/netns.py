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


class DockerHostSshd:
    """A real OpenSSH server on the host's end of the laptop link, standing in for the user's
    SSH login to a remote Docker host (root, key only, its own host key)."""

    def __init__(self, ns: LaptopNamespace, folder, key, port: int):
        self.ns, self.folder, self.port = ns, folder, port
        folder.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")])
        (folder / "authorized_keys").write_text((key.parent / (key.name + ".pub")).read_text())
        (folder / "sshd_config").write_text(
            f"Port {port}\nListenAddress {ns.host_ip}\nHostKey {folder / 'host_key'}\nPidFile none\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "AllowTcpForwarding yes\n")
        host_key = (folder / "host_key.pub").read_text().split()
        (folder / "known_hosts").write_text(f"[{ns.host_ip}]:{port} {host_key[0]} {host_key[1]}\n")
        # The laptop's ssh config: the Docker host is "dockerhost" to the user.
        (folder / "laptop_ssh_config").write_text(
            f"Host dockerhost\n  HostName {ns.host_ip}\n  Port {port}\n  User root\n  IdentityFile {key}\n"
            f"  IdentitiesOnly yes\n  UserKnownHostsFile {folder / 'known_hosts'}\n  StrictHostKeyChecking yes\n")
        self.process: subprocess.Popen | None = None

    @property
    def ssh_config(self) -> str:
        return str(self.folder / "laptop_ssh_config")

    def start(self) -> "DockerHostSshd":
        os.makedirs("/run/sshd", exist_ok=True)
        self.process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.folder / "sshd_config")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return self

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
