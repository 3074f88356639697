"""``kerneldock doctor [KERNEL]``: check each hop in order and say what is wrong and the fix.

ssh (a running ``kerneldock connect`` and its master connection) -> host key (pinned) ->
bastion (the forward listens) -> gateway (answers through the tunnel) -> token -> kernel
(alive, debugpy present, debugger state) -> forwarded ports (``kerneldock attach``).
The first failing hop stops the walk: what lies behind it cannot be checked.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from ..common.errors import KerneldockError, TokenError
from . import ssh
from .connect import port_is_free, supervisor_alive
from .attach import attach_records, resolve_kernel
from .gateway_api import GatewayAPI
from .gateway_watch import clock, lost_kernels_text
from .kernel_channel import KernelChannel
from .state import Profile


@dataclass
class Finding:
    hop: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        text = f"{mark} {self.hop:<10} {self.detail}"
        return text + (f"\n     {'':<10} fix: {self.fix}" if self.fix else "")


async def check(profile: Profile, kernel_ref: str | None) -> list[Finding]:
    found: list[Finding] = []
    status = supervisor_alive(profile)
    if not status:
        return [Finding("ssh", False, f"no 'kerneldock connect' is running for {profile.name!r}",
                        f"run '{profile.connect_command}'")]
    if not await asyncio.to_thread(ssh.control_check, profile):
        return [Finding("ssh", False, "the SSH master connection does not answer (reconnecting?)",
                        "wait a few seconds; see 'kerneldock status'")]
    found.append(Finding("ssh", True, f"master connection up (connect pid {status['pid']}, "
                                      f"{status.get('reconnects', 0)} reconnects)"))
    pinned = ssh.pinned_key(profile)
    if not pinned:
        return found + [Finding("host key", False, "no pinned bastion host key", "kerneldock connect --repin")]
    found.append(Finding("host key", True, f"bastion key {ssh.fingerprint(pinned)} pinned and verified"))
    if port_is_free(profile.local_port):
        return found + [Finding("bastion", False, f"nothing listens on 127.0.0.1:{profile.local_port}",
                                "restart 'kerneldock connect'")]
    found.append(Finding("bastion", True, f"127.0.0.1:{profile.local_port} -> {ssh.GATEWAY_TARGET}"))
    try:
        await GatewayAPI(profile.gateway_url, "", timeout=10).kernelspecs()
    except TokenError:
        found.append(Finding("gateway", True, "answers through the tunnel and requires a token"))
    except KerneldockError as error:
        watched = status.get("gateway") or {}
        since = (f"; not answering since {clock(watched['down_since'])}, restarting or stopped? kernels of a "
                 "restarted gateway are gone" if watched.get("state") == "down" else "")
        return found + [Finding("gateway", False, f"does not answer through the tunnel ({error.message}){since}",
                                "is the gateway container running and healthy? scripts/up on the Docker host")]
    else:
        return found + [Finding("gateway", False, "answered WITHOUT a token: it is open to anyone who reaches it",
                                "set KERNELDOCK_TOKEN and restart the stack")]
    api = GatewayAPI(profile.gateway_url, profile.token(), timeout=10)
    try:
        specs = await api.kernelspecs()
    except TokenError:
        return found + [Finding("token", False, "the gateway refused the stored token",
                                "the stack's token changed? run 'kerneldock connect' again")]
    found.append(Finding("token", True, f"accepted ({len(specs.get('kernelspecs', {}))} kernelspecs)"))
    watched = status.get("gateway") or {}
    if watched.get("restarted_at"):
        found.append(Finding("restart", True, f"the gateway restarted at {clock(watched['restarted_at'])} "
                                              f"({watched.get('restarts', 1)} restart(s) seen by this connection); "
                                              f"{lost_kernels_text(watched.get('lost_kernels') or [])}"))
    if kernel_ref is not None:
        found += await check_kernel(api, kernel_ref, watched)
    for record in attach_records(profile):
        listening = not port_is_free(record["port"])
        found.append(Finding("forward", listening,
                             f"kerneldock attach (pid {record['pid']}) for kernel {record['kernel'][:8]} "
                             f"on 127.0.0.1:{record['port']}" + ("" if listening else " is not listening"),
                             "" if listening else "restart 'kerneldock attach'"))
    return found


async def check_kernel(api: GatewayAPI, kernel_ref: str, watched: dict | None = None) -> list[Finding]:
    try:
        kernel = await resolve_kernel(api, kernel_ref)
    except KerneldockError as error:
        lost = [k for k in (watched or {}).get("lost_kernels") or [] if k.startswith(kernel_ref)]
        if lost:
            return [Finding("kernel", False, f"{lost[0][:8]} was on the gateway when it restarted at "
                                             f"{clock(watched['restarted_at'])}; it is gone with its state",
                            "start a new kernel; 'kerneldock kernels' lists the running ones")]
        if (watched or {}).get("restarted_at") and error.message.startswith("no kernel"):
            return [Finding("kernel", False, f"{error.message}; the gateway restarted at "
                                             f"{clock(watched['restarted_at'])} and kernels started before then are gone",
                            "start a new kernel; 'kerneldock kernels' lists the running ones")]
        return [Finding("kernel", False, error.message, error.fix or "")]
    found = []
    try:
        async with KernelChannel(api, kernel["id"]) as channel:
            info = await channel.kernel_info(timeout=10)
            found.append(Finding("kernel", True, f"{kernel['id'][:8]} alive: {info.get('implementation')} "
                                                 f"{info.get('implementation_version', '')}, {kernel['execution_state']}"))
            modes = await api.kernel_modes()
            mode = next((m for m in modes if m["id"] == kernel["id"]), {})
            if mode.get("debug_endpoint"):
                found.append(Finding("debugpy", True, f"{mode['mode']}: listening on {mode['debug_endpoint']} "
                                                      "(kerneldock attach --kernel-dev)"))
            elif "debugger" in info.get("supported_features", []):
                found.append(Finding("debugpy", True, "importable; the kernel offers its debugger"))
                debug = await channel.debug("debugInfo", {}, timeout=10)
                body = debug.get("body", {})
                state = "started" if body.get("isStarted") else "not started"
                found.append(Finding("debugger", True, f"{state}, {len(body.get('breakpoints', []))} file(s) with "
                                                       f"breakpoints, stopped threads: {body.get('stoppedThreads') or 'none'}"))
            else:
                found.append(Finding("debugpy", False, "the kernel offers no debugger (debugpy missing?)",
                                     "install debugpy in the kernel's environment (kerneldock's images have it)"))
    except KerneldockError as error:
        found.append(Finding("kernel", False, f"{kernel['id'][:8]} does not answer ({error.message})",
                             "busy or stopped at a breakpoint? interrupt or restart it"))
    return found


def doctor(profile: Profile, kernel_ref: str | None) -> int:
    findings = asyncio.run(check(profile, kernel_ref))
    for finding in findings:
        print(finding.line(), flush=True)
    failed = [f for f in findings if not f.ok]
    print(f"kerneldock: {'all hops healthy' if not failed else 'the ' + failed[0].hop + ' hop fails'}",
          file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0
