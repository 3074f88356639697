"""``kerneldock attach KERNEL``: a DAP server on 127.0.0.1 for one remote kernel.

Each editor connection gets a :class:`~.dap.relay.RelaySession` over its own kernel
websocket; one editor at a time. A unix socket beside the connection profile lets
``kerneldock run`` ask the current session to prepare a ``# %%`` cell before running it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..common.errors import KernelError, UsageError
from .connect import choose_local_port
from .dap.cells import Cell
from .dap.framing import FramingError, encode_message, read_message
from .dap.relay import RelaySession
from .gateway_api import GatewayAPI
from .kernel_channel import KernelChannel
from . import ssh
from .state import Profile, socket_path, write_private
from .vscode import attach_entry, merge_launch_entries


async def resolve_kernel(api: GatewayAPI, wanted: str) -> dict[str, Any]:
    """The kernel whose id is ``wanted`` or starts with it (unique)."""
    kernels = await api.kernels()
    matches = [k for k in kernels if k["id"] == wanted] or [k for k in kernels if k["id"].startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(k["id"][:8] for k in kernels) or "none"
        raise KernelError(f"no kernel {wanted!r} on the gateway (running: {known})",
                          fix="list them with 'kerneldock kernels'")
    raise KernelError(f"{wanted!r} matches {len(matches)} kernels", fix="give more of the id")


DEFAULT_DAP_PORT = 5678  # debugpy's customary port, as in the seed guide


def control_socket(profile: Profile, kernel_id: str) -> str:
    return socket_path(profile, f"attach-{kernel_id[:8]}.sock")


class AttachServer:
    def __init__(self, profile: Profile, kernel: dict[str, Any], port: int):
        self.profile = profile
        self.kernel = kernel
        self.port = port
        self.api = GatewayAPI(profile.gateway_url, profile.token())
        self.session: RelaySession | None = None
        self.busy = False
        # Set once the editor's session has ended (its connection closed) while the relay
        # still lets go of the kernel's debugger; ``free`` once it has.
        self.ending: asyncio.Event | None = None
        self.free: asyncio.Event | None = None

    async def serve(self, announce) -> None:
        server = await asyncio.start_server(self._editor, "127.0.0.1", self.port)
        path = control_socket(self.profile, self.kernel["id"])
        Path(path).unlink(missing_ok=True)
        control = await asyncio.start_unix_server(self._control, path)
        os.chmod(path, 0o600)
        record = self.profile.folder / f"attach-{self.kernel['id'][:8]}.json"
        write_private(record, json.dumps({"pid": os.getpid(), "kernel": self.kernel["id"],
                                          "port": self.port, "socket": path}))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        announce()
        try:
            await stop.wait()
        finally:
            server.close()
            control.close()
            Path(path).unlink(missing_ok=True)
            record.unlink(missing_ok=True)

    async def _editor(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Nothing is set up before the first DAP message: a bare connect (a port probe, an
        # editor's retry) must not take the slot of the editor that really attaches.
        try:
            first = await read_message(reader)
        except (FramingError, ConnectionError):
            first = None
        if first is None:
            writer.close()
            return
        if self.busy and self.ending is not None and self.ending.is_set():
            # The previous editor's session has ended (an editor restarting its session
            # reconnects at once): wait for the relay to let go rather than refuse.
            try:
                await asyncio.wait_for(self.free.wait(), 10)
            except asyncio.TimeoutError:
                pass
        if self.busy:
            writer.write(encode_message({
                "seq": 1, "type": "response", "request_seq": first.get("seq", 0),
                "command": first.get("command", "initialize"), "success": False,
                "message": "another editor is attached through this kerneldock attach; "
                           "start a second 'kerneldock attach' on another port"}))
            await writer.drain()
            writer.close()
            return
        self.busy = True
        self.ending, self.free = asyncio.Event(), asyncio.Event()
        try:
            try:
                channel = await KernelChannel(self.api, self.kernel["id"]).open()
            except KernelError as error:
                print(f"kerneldock: {error}", file=sys.stderr, flush=True)
                writer.close()
                return
            self.session = RelaySession(channel, reader, writer)
            print(f"kerneldock: editor attached to kernel {self.kernel['id'][:8]}", file=sys.stderr, flush=True)
            try:
                ended = await self.session.run(first)
                print(f"kerneldock: editor session ended ({ended})", file=sys.stderr, flush=True)
            finally:
                self.ending.set()
                await channel.close()
        finally:
            self.session = None
            self.busy = False
            self.free.set()

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One JSON request line from ``kerneldock run``, one JSON answer line."""
        try:
            request = json.loads(await reader.readline())
            session = self.session
            if session is None or not session.initialized or session.disconnected:
                answer = {"debugging": False, "why": "no editor is attached to 'kerneldock attach'"}
            else:
                cell = Cell(**request["cell"])
                remote = await session.prepare_cell(request["file"], cell, request.get("stop_on_entry", False))
                answer = {"debugging": True, "remote": remote}
        except Exception as error:  # noqa: BLE001 - reported to the run command
            answer = {"error": str(error)}
        writer.write((json.dumps(answer) + "\n").encode())
        await writer.drain()
        writer.close()


def attach_records(profile: Profile) -> list[dict]:
    """The running ``kerneldock attach`` servers of a connection (records they write)."""
    records = []
    for path in profile.folder.glob("attach-*.json"):
        try:
            record = json.loads(path.read_text())
            os.kill(record["pid"], 0)
        except (ValueError, KeyError, OSError):
            continue
        records.append(record)
    return records


async def attach(profile: Profile, kernel_ref: str, port: int | None) -> int:
    api = GatewayAPI(profile.gateway_url, profile.token())
    kernel = await resolve_kernel(api, kernel_ref)
    port = choose_local_port(port or profile.attach_port, DEFAULT_DAP_PORT)
    server = AttachServer(profile, kernel, port)

    def announce() -> None:
        print(f"kerneldock: serving DAP for kernel {kernel['id']} ({kernel['name']}) on 127.0.0.1:{port}\n"
              f"  attach with VS Code's \"kerneldock: attach ({profile.name})\" entry or any DAP client; "
              "Ctrl-C stops", flush=True)

    await server.serve(announce)
    return 0


async def kernel_dev_endpoint(api: GatewayAPI, kernel_id: str, timeout: float = 5.0) -> str:
    """``gateway:PORT`` of a kernel-dev kernel's debugpy, once the kernel has announced it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        modes = await api.kernel_modes()
        entry = next((m for m in modes if m["id"] == kernel_id), None)
        if entry and entry.get("debug_endpoint"):
            return entry["debug_endpoint"]
        if asyncio.get_running_loop().time() >= deadline:
            raise UsageError(f"kernel {kernel_id[:8]} is not in kernel-dev mode",
                             fix="start it with the python3-kernel-dev kernelspec, or with "
                                 "KERNEL_KERNELDOCK_DEBUG=wait in its env; notebook debugging: "
                                 "'kerneldock attach KERNEL'")
        await asyncio.sleep(0.25)


async def attach_kernel_dev(profile: Profile, kernel_ref: str, port: int | None,
                            sources: list[tuple[str, str]], write_launch: bool) -> int:
    """Forward a kernel-dev kernel's debugpy over the existing SSH connection."""
    api = GatewayAPI(profile.gateway_url, profile.token())
    kernel = await resolve_kernel(api, kernel_ref)
    endpoint = await kernel_dev_endpoint(api, kernel["id"])
    port = choose_local_port(port, DEFAULT_DAP_PORT)
    await asyncio.to_thread(ssh.add_forward, profile, port, endpoint)
    launch = None
    if write_launch:
        launch = merge_launch_entries(Path.cwd(), [attach_entry(
            f"kerneldock: kernel-dev ({profile.name})", port, sources)])
    print(f"kerneldock: debugpy of kernel {kernel['id']} ({endpoint}) forwarded to 127.0.0.1:{port}"
          + (f"\n  VS Code      {launch}: \"kerneldock: kernel-dev ({profile.name})\"" if launch else "")
          + "\n  attach any DAP client there (justMyCode false); the forward lasts as long as "
            "'kerneldock connect'", flush=True)
    return 0
