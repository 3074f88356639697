"""The SSH hop, driven through the system OpenSSH client.

Using ``ssh`` itself (never a Python SSH library) means the user's ``~/.ssh/config``, agent,
keys, ProxyJump and known_hosts all apply to the Docker host. The bastion's host key is kept
in a per-connection known_hosts file under an alias, fetched once over a path the user
already trusts (``docker exec`` locally, or their SSH login to the Docker host), and checked
on every connection with ``StrictHostKeyChecking=yes``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import subprocess

from ..common.errors import GatewayError, HostKeyError, LocalError, SshError
from .state import Profile, socket_path, write_private

HOST_KEY_FILE = "/var/lib/kerneldock/hostkeys/ssh_host_ed25519_key.pub"
GATEWAY_TARGET = "gateway:8888"


def where(profile: Profile) -> str:
    return "this machine" if profile.host is None else profile.host


def user_config() -> list[str]:
    """``-F FILE`` when KERNELDOCK_SSH_CONFIG names an ssh config to use instead of ~/.ssh/config
    (passed on to ProxyJump's ssh too)."""
    path = os.environ.get("KERNELDOCK_SSH_CONFIG", "").strip()
    return ["-F", path] if path else []


def docker_command(profile: Profile, *args: str) -> list[str]:
    """``docker ARGS`` on the stack's Docker host (through the user's own SSH when remote)."""
    if profile.host is None:
        return ["docker", *args]
    return ["ssh", *user_config(), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", profile.host, "--",
            shlex.join(["docker", *args])]


def run_docker(profile: Profile, *args: str, what: str) -> str:
    """Run a docker command on the Docker host; translate failures into ssh/gateway errors."""
    command = docker_command(profile, *args)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise LocalError(f"'{command[0]}' is not installed", fix="install the OpenSSH client and Docker CLI") from None
    except subprocess.TimeoutExpired:
        raise SshError(f"{what}: no answer from {where(profile)} within 60 s") from None
    if result.returncode == 255 and profile.host is not None:
        raise translate_ssh_error(result.stderr, profile, hop_host=profile.host)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise GatewayError(f"{what} on {where(profile)}: {detail}",
                           fix="is Docker running there, and may this user use it?")
    return result.stdout


def find_container(profile: Profile, service: str) -> str:
    """ID of the running ``service`` container of the profile's compose project."""
    out = run_docker(profile, "ps", "-q",
                     "--filter", f"label=com.docker.compose.project={profile.project}",
                     "--filter", f"label=com.docker.compose.service={service}",
                     what=f"looking for the {service} container").split()
    if not out:
        raise GatewayError(f"no running {service} of stack {profile.project!r} on {where(profile)}",
                           fix="start it there with scripts/up")
    return out[0]


def fetch_host_key(profile: Profile) -> str:
    bastion = find_container(profile, "bastion")
    key = run_docker(profile, "exec", bastion, "cat", HOST_KEY_FILE, what="reading the bastion's host key").strip()
    if not re.match(r"^ssh-ed25519 [A-Za-z0-9+/=]+", key):
        raise HostKeyError(f"the bastion on {where(profile)} gave no usable host key")
    return " ".join(key.split()[:2])


def fetch_token(profile: Profile) -> str:
    gateway = find_container(profile, "gateway")
    token = run_docker(profile, "exec", gateway, "printenv", "KG_AUTH_TOKEN", what="reading the gateway token").strip()
    if not token:
        raise GatewayError(f"the gateway on {where(profile)} has no token")
    return token


def fingerprint(key: str) -> str:
    """``SHA256:...`` of a public key line, as ssh-keygen prints it."""
    blob = base64.b64decode(key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def pinned_key(profile: Profile) -> str | None:
    try:
        fields = profile.known_hosts.read_text().split()
    except FileNotFoundError:
        return None
    return " ".join(fields[1:3]) if len(fields) >= 3 else None


def pin_host_key(profile: Profile, key: str) -> None:
    write_private(profile.known_hosts, f"{profile.host_key_alias} {key}\n")


def control_path(profile: Profile) -> str:
    return socket_path(profile, "cm")


def bastion_options(profile: Profile) -> list[str]:
    """Options every ssh to the bastion uses: pinned key, keepalives, how to get there."""
    options = [
        *user_config(),
        "-p", str(profile.ssh_port),
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={profile.known_hosts}",
        "-o", f"HostKeyAlias={profile.host_key_alias}",
        "-o", "ConnectTimeout=10",
        "-o", "ServerAliveInterval=3",
        "-o", "ServerAliveCountMax=2",
        "-o", "ExitOnForwardFailure=yes",
    ]
    if profile.identity:
        options += ["-i", profile.identity]
    if profile.via == "docker-exec":
        bastion = find_container(profile, "bastion")
        proxy = shlex.join(docker_command(profile, "exec", "-i", bastion, "/usr/sbin/sshd", "-i"))
        options += ["-o", f"ProxyCommand={proxy}"]
    elif profile.host is not None:
        options += ["-J", profile.host]
    return options


def bastion_destination(profile: Profile) -> str:
    """user@address of the bastion as seen from the Docker host (the jump host), or from
    here for a local stack: its loopback unless the stack publishes it elsewhere."""
    return f"kerneldock@{profile.bastion_host or '127.0.0.1'}"


def master_command(profile: Profile) -> list[str]:
    """The one long-lived ssh: master connection + the gateway forward."""
    return ["ssh", "-N", "-M", "-S", control_path(profile), "-o", "ControlPersist=no",
            *bastion_options(profile),
            "-L", f"127.0.0.1:{profile.local_port}:{GATEWAY_TARGET}",
            bastion_destination(profile)]


_UNREACHABLE = re.compile(r"Could not resolve hostname|Connection refused|No route to host|"
                          r"Connection timed out|Network is unreachable|Connection closed by .* port \d+$|"
                          r"kex_exchange_identification|Connection reset", re.MULTILINE)


def translate_ssh_error(stderr: str, profile: Profile, *, hop_host: str | None = None) -> Exception:
    """Turn an ssh failure (its stderr) into the error that names the hop and the fix."""
    text = stderr.strip()
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "ssh failed")
    target = hop_host or (f"the bastion at {profile.bastion_host or where(profile)} port {profile.ssh_port}")
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key verification failed" in text:
        offered = re.search(r"(SHA256:[A-Za-z0-9+/]+)", text)
        pinned = pinned_key(profile)
        if hop_host:
            return HostKeyError(f"host key of {hop_host} is not trusted: {last}",
                                fix=f"check it and add it to ~/.ssh/known_hosts (ssh {hop_host})")
        return HostKeyError(
            f"the bastion's host key changed: pinned {fingerprint(pinned) if pinned else 'none'}, "
            f"offered {offered.group(1) if offered else 'a different key'}",
            fix=f"if the stack was recreated on purpose, accept the new key with "
                f"'{profile.connect_command} --repin'")
    if "Permission denied" in text:
        return SshError(f"{target} refused authentication ({last})",
                        fix="is your public key in the stack's KERNELDOCK_AUTHORIZED_KEYS? "
                            "is your agent loaded?")
    if re.search(r"bind.*Address already in use|cannot listen to port", text):
        return LocalError(f"local port 127.0.0.1:{profile.local_port} is busy",
                          fix="choose another with --port")
    if "administratively prohibited" in text or "open failed" in text:
        return SshError(f"the bastion refused the forward ({last})")
    if _UNREACHABLE.search(text):
        return SshError(f"cannot reach {target}: {last}",
                        fix="check the host name, that the stack is up (scripts/up) and the port")
    return SshError(f"ssh to {target} failed: {last}")


def control_check(profile: Profile) -> bool:
    """True when the master connection answers ``ssh -O check``."""
    result = subprocess.run(["ssh", "-S", control_path(profile), "-O", "check", "kerneldock@127.0.0.1"],
                            capture_output=True, text=True, timeout=10)
    return result.returncode == 0


def add_forward(profile: Profile, local_port: int, target: str) -> None:
    """Add ``127.0.0.1:local_port -> target`` to the running master connection."""
    result = subprocess.run(["ssh", "-S", control_path(profile), "-O", "forward",
                             "-L", f"127.0.0.1:{local_port}:{target}", "kerneldock@127.0.0.1"],
                            capture_output=True, text=True, timeout=15)
    if result.returncode != 0:
        raise translate_ssh_error(result.stderr, profile)
