"""``kerneldock connect``: one supervised SSH master connection to a stack's bastion.

Steps, each reported as it happens: pin the bastion's host key (once, over a trusted path),
get the gateway token, start the ssh master with the gateway forward on a local port that is
kept across reconnects, and wait until the gateway answers through it with the token. Then
the facts are printed (or one JSON object with ``--json``), VS Code attach entries are
merged into ``.vscode/launch.json``, and the tunnel is supervised: keepalives notice a dead
link, ssh is restarted with backoff on the same port, Ctrl-C closes everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ..common.errors import GatewayError, HostKeyError, KerneldockError, LocalError, SshError, TokenError
from . import ssh
from .gateway_api import GatewayAPI
from .gateway_watch import GatewayWatch
from .state import Profile, read_status, write_private, write_status
from .vscode import attach_entry, merge_launch_entries

DEFAULT_LOCAL_PORT = 18888
READY_TIMEOUT = 60.0
REMOTE_WORKSPACE = "/workspace"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def next_free_port(start: int, avoid: set[int] = frozenset()) -> int:
    for port in range(start, min(start + 200, 65536)):
        if port not in avoid and port_is_free(port):
            return port
    raise LocalError(f"no free local port in {start}-{start + 199}", fix="choose one with --port")


def choose_local_port(requested: int | None, default_start: int) -> int:
    """``requested`` if it is free (else an error naming a free one), or the first free
    port from ``default_start``."""
    if requested is None:
        return next_free_port(default_start)
    if not port_is_free(requested):
        raise LocalError(f"local port 127.0.0.1:{requested} is busy",
                         fix=f"choose another with --port, e.g. --port {next_free_port(requested + 1)}")
    return requested


def supervisor_alive(profile: Profile) -> dict[str, Any] | None:
    status = read_status(profile)
    if not status:
        return None
    try:
        os.kill(status["pid"], 0)
    except (OSError, KeyError):
        return None
    return status


def choose_ports(profile: Profile, requested: int | None) -> None:
    """Give the profile its gateway and attach ports; a busy one is an error naming another."""
    running = supervisor_alive(profile)
    if running:
        raise LocalError(f"already connected to {profile.name!r} (pid {running['pid']}, "
                         f"{running.get('gateway_url')})", fix="use it, or stop it with 'kerneldock disconnect'")
    port = choose_local_port(requested or profile.local_port, DEFAULT_LOCAL_PORT)
    profile.local_port = port
    if profile.attach_port is None or profile.attach_port == port:
        profile.attach_port = next_free_port(port + 1, avoid={port})


class Reporter:
    """Progress lines on stderr (silent with --json)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def step(self, number: int, hop: str, text: str) -> None:
        if not self.quiet:
            print(f"kerneldock: [{number}/3] {hop}: {text}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        print(f"kerneldock: {text}", file=sys.stderr, flush=True)


async def wait_for_gateway(profile: Profile, token: str, deadline: float) -> dict[str, Any]:
    """Poll the gateway through the tunnel until it answers with the token."""
    api = GatewayAPI(profile.gateway_url, token, timeout=10)
    last: KerneldockError | None = None
    while time.monotonic() < deadline:
        try:
            return await api.kernelspecs()
        except TokenError:
            raise TokenError("the gateway refused the token",
                             fix="the stack's token changed? connect again, or set KERNELDOCK_TOKEN") from None
        except GatewayError as error:
            last = error
        await asyncio.sleep(0.25)
    raise GatewayError("the gateway does not answer through the tunnel"
                       + (f" ({last.message})" if last else ""),
                       fix="is the gateway container running and healthy? run scripts/up on the Docker host")


class Tunnel:
    """The supervised ssh master process of one profile."""

    def __init__(self, profile: Profile, reporter: Reporter):
        self.profile = profile
        self.reporter = reporter
        self.process: asyncio.subprocess.Process | None = None
        self.stderr = b""
        self.reconnects = 0
        self.up = False  # ssh runs and its forward listens
        self.stopping = asyncio.Event()

    async def start(self, timeout: float = 30.0) -> None:
        """Start ssh; return once the forward listens, or raise what ssh said."""
        command = await asyncio.to_thread(ssh.master_command, self.profile)
        # A master killed hard leaves its socket behind; ssh would then run without one.
        Path(ssh.control_path(self.profile)).unlink(missing_ok=True)
        self.stderr = b""
        self.process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        self._drain = asyncio.create_task(self._read_stderr(self.process))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                await self._drain
                raise ssh.translate_ssh_error(self.stderr.decode(errors="replace"), self.profile)
            if not port_is_free(self.profile.local_port) and await asyncio.to_thread(ssh.control_check, self.profile):
                self.up = True
                return
            await asyncio.sleep(0.05)
        await self.stop_process()
        raise SshError(f"no connection to the bastion on {ssh.where(self.profile)} within {timeout:g} s")

    async def _read_stderr(self, process) -> None:
        while chunk := await process.stderr.read(4096):
            self.stderr = (self.stderr + chunk)[-8192:]

    async def stop_process(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    async def wait_lost(self) -> str:
        """Wait until ssh exits (link lost) or stop is asked; return why."""
        stop = asyncio.create_task(self.stopping.wait())
        lost = asyncio.create_task(self.process.wait())
        await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        self.up = False
        if self.stopping.is_set():
            lost.cancel()
            return "stopped"
        await self._drain
        lines = self.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"ssh exited with status {self.process.returncode}"

    async def reconnect(self, why: str, on_up: Callable[[], None]) -> bool:
        """Restart ssh with backoff until it is up again or stop is asked."""
        self.reporter.note(f"tunnel lost ({why}); reconnecting on 127.0.0.1:{self.profile.local_port}")
        delay = 0.0
        while not self.stopping.is_set():
            if delay:
                try:
                    await asyncio.wait_for(self.stopping.wait(), delay)
                    return False
                except asyncio.TimeoutError:
                    pass
            try:
                await self.start()
            except HostKeyError as error:
                self.reporter.note(str(error))
                raise
            except KerneldockError as error:
                delay = min(max(delay * 2, 0.25), 2.0)
                self.reporter.note(f"still down ({error}); retrying in {delay:g} s")
                continue
            self.reconnects += 1
            self.reporter.note(f"tunnel back on 127.0.0.1:{self.profile.local_port}")
            on_up()
            return True
        return False


def facts(profile: Profile, fingerprint: str, launch_json: Path | None, tunnel: Tunnel) -> dict[str, Any]:
    return {
        "name": profile.name,
        "host": profile.host or "localhost",
        "project": profile.project,
        "gateway_url": profile.gateway_url,
        "token_file": str(profile.token_file),
        "jupyterlab": (f'JUPYTER_GATEWAY_AUTH_TOKEN="$(cat {profile.token_file})" '
                       f"jupyter lab --gateway-url={profile.gateway_url}"),
        "attach_port": profile.attach_port,
        "launch_json": str(launch_json) if launch_json else None,
        "bastion_host_key": fingerprint,
        "pid": os.getpid(),
        "ssh_pid": tunnel.process.pid if tunnel.process else None,
    }


def print_facts(info: dict[str, Any], as_json: bool, detached: bool = False) -> None:
    if as_json:
        print(json.dumps(info), flush=True)
        return
    lines = [
        f"kerneldock: connected to {info['host']} (stack {info['project']!r})",
        f"  gateway URL  {info['gateway_url']}",
        f"  JupyterLab   {info['jupyterlab']}",
        f"  host key     {info['bastion_host_key']} (pinned)",
    ]
    if info["launch_json"]:
        lines.append(f"  VS Code      {info['launch_json']}: \"kerneldock: attach ({info['name']})\" "
                     f"-> 127.0.0.1:{info['attach_port']} (run 'kerneldock attach KERNEL' first)")
    if not detached:
        lines.append("  Ctrl-C closes the tunnel; 'kerneldock status' shows it")
    print("\n".join(lines), flush=True)


async def connect(profile: Profile, *, repin: bool, port: int | None, as_json: bool,
                  write_launch: bool, workspace: Path, ready_timeout: float = READY_TIMEOUT) -> int:
    reporter = Reporter(quiet=as_json)
    choose_ports(profile, port)

    reporter.step(1, "ssh", f"preparing the connection to {ssh.where(profile)}")
    if repin or ssh.pinned_key(profile) is None:
        key = await asyncio.to_thread(ssh.fetch_host_key, profile)
        old = ssh.pinned_key(profile)
        ssh.pin_host_key(profile, key)
        if not as_json:
            action = "re-pinned" if old and old != key else "pinned"
            reporter.note(f"{action} the bastion's host key {ssh.fingerprint(key)}")
    token = os.environ.get("KERNELDOCK_TOKEN") or await asyncio.to_thread(ssh.fetch_token, profile)
    write_private(profile.token_file, token + "\n")
    profile.save()

    tunnel = Tunnel(profile, reporter)
    watching: asyncio.Task | None = None
    reporter.step(2, "bastion", f"forwarding 127.0.0.1:{profile.local_port} -> {ssh.GATEWAY_TARGET}")
    await tunnel.start()
    stop = tunnel.stopping
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        reporter.step(3, "gateway", f"waiting for {profile.gateway_url} to answer with the token")
        specs = await wait_for_gateway(profile, token, time.monotonic() + ready_timeout)
        if not as_json:
            reporter.note(f"gateway ready ({len(specs.get('kernelspecs', {}))} kernelspec(s))")
        launch = None
        if write_launch:
            launch = merge_launch_entries(workspace, [attach_entry(
                f"kerneldock: attach ({profile.name})", profile.attach_port,
                [("${workspaceFolder}", REMOTE_WORKSPACE)])])

        current = {"state": "up", "since": time.time()}

        def publish(state: str | None = None) -> None:
            if state is not None and state != current["state"]:
                current.update(state=state, since=time.time())
            write_status(profile, {"pid": os.getpid(), "state": current["state"], "name": profile.name,
                                   "gateway_url": profile.gateway_url, "attach_port": profile.attach_port,
                                   "ssh_pid": tunnel.process.pid if tunnel.process else None,
                                   "reconnects": tunnel.reconnects, "since": current["since"],
                                   "gateway": watch.facts()})

        def back_up() -> None:
            publish("up")
            watch.tunnel_changed()

        # Tells the user (and status.json) when the gateway behind the tunnel restarts.
        watch = GatewayWatch(profile.local_port, token, tunnel_up=lambda: tunnel.up,
                             on_change=publish, note=reporter.note)
        watching = asyncio.create_task(watch.run())
        publish("up")
        print_facts(facts(profile, ssh.fingerprint(ssh.pinned_key(profile)), launch, tunnel), as_json)
        while not stop.is_set():
            why = await tunnel.wait_lost()
            if why == "stopped":
                break
            publish("reconnecting")
            if not await tunnel.reconnect(why, back_up):
                break
        return 0
    finally:
        if watching is not None:
            watching.cancel()
        await tunnel.stop_process()
        try:
            (profile.folder / "status.json").unlink()
        except FileNotFoundError:
            pass
