"""What each ``kerneldock`` subcommand does; ``cli.py`` only parses arguments and calls these."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..common.errors import GatewayError, KernelError, KerneldockError, LocalError, UsageError
from . import connect as connecting
from .gateway_api import GatewayAPI
from .gateway_watch import clock, lost_kernels_text
from .kernel_channel import KernelChannel
from .state import Profile, state_dir


def profile_for(host: str | None, args) -> Profile:
    """The saved profile for host+project, updated with what the command line says."""
    name = Profile.name_for(host, args.project)
    try:
        profile = Profile.load(name)
    except UsageError:
        profile = Profile(name=name, host=host, project=args.project)
    if args.ssh_port is not None:
        profile.ssh_port = args.ssh_port
    if args.via is not None:
        profile.via = args.via
    if args.bastion_host is not None:
        profile.bastion_host = args.bastion_host or None
    if args.identity is not None:
        profile.identity = str(Path(args.identity).expanduser().resolve())
    elif profile.identity is None and host is None and (state_dir() / "id_ed25519").exists():
        profile.identity = str(state_dir() / "id_ed25519")
    if not 0 < profile.ssh_port < 65536:
        raise UsageError(f"--ssh-port {profile.ssh_port} is not a port number")
    return profile


def run_connect(args) -> int:
    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g} must be more than 0 seconds")
    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a port number")
    if args.target is not None and (args.target.startswith("-") or not args.target.strip()):
        raise UsageError(f"{args.target!r} is not a host name")
    profile = profile_for(args.target, args)
    if args.detach:
        return detach(args, profile)
    return asyncio.run(connecting.connect(
        profile, repin=args.repin, port=args.port, as_json=args.json,
        write_launch=not args.no_launch_json, workspace=Path.cwd(), ready_timeout=args.timeout))


def detach(args, profile: Profile) -> int:
    """Run ``connect`` in the background; return once it is ready (or has failed)."""
    argv = [a for a in sys.argv[1:] if a not in ("--detach", "-d")]
    if "--json" not in argv:
        argv.append("--json")
    log = profile.folder / "connect.log"
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log, "w") as err:
        child = subprocess.Popen([sys.executable, "-m", "kerneldock.laptop.cli", *argv],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                 start_new_session=True, text=True)
    line = child.stdout.readline()  # the facts, once ready; EOF if it failed
    child.stdout.close()
    if not line:
        child.wait(10)
        lines = [l for l in log.read_text().splitlines() if l.strip()]
        message = lines[-1] if lines else f"exited with status {child.returncode}"
        print(message, file=sys.stderr)
        return 1
    info = json.loads(line)
    connecting.print_facts(info, args.json, detached=True)
    if not args.json:
        print(f"  running in the background (pid {child.pid}); 'kerneldock disconnect' stops it")
    return 0


def connected_profile(name: str | None) -> tuple[Profile, dict[str, Any]]:
    """The profile to talk through: the named one, or the only one that is connected."""
    if name is not None:
        profile = Profile.load(name)
        status = connecting.supervisor_alive(profile)
        if not status:
            raise UsageError(f"{name!r} is not connected", fix=f"run '{profile.connect_command}'")
        return profile, status
    live = [(p, s) for p in Profile.all() if (s := connecting.supervisor_alive(p))]
    if not live:
        raise UsageError("not connected to any stack", fix="run 'kerneldock connect [USER@]HOST' first")
    if len(live) > 1:
        raise UsageError("connected to several stacks: " + ", ".join(p.name for p, _ in live),
                         fix="choose one with --to NAME")
    return live[0]


def run_status(args) -> int:
    profiles = [Profile.load(args.to)] if args.to else Profile.all()
    rows = []
    for profile in profiles:
        status = connecting.supervisor_alive(profile)
        rows.append({
            "name": profile.name, "host": profile.host or "localhost",
            "state": status["state"] if status else "down",
            "gateway_url": profile.gateway_url if profile.local_port else None,
            "attach_port": profile.attach_port,
            "forwards": [f"127.0.0.1:{profile.local_port} -> gateway:8888"] if status else [],
            "pid": status["pid"] if status else None,
            "reconnects": status.get("reconnects", 0) if status else 0,
            "gateway": status.get("gateway") if status else None,
        })
    if args.json:
        print(json.dumps(rows))
    elif not rows:
        print("kerneldock: no connections yet ('kerneldock connect [USER@]HOST')")
    else:
        for row in rows:
            forwards = ", ".join(row["forwards"]) or "-"
            print(f"{row['name']}: {row['state']}  {forwards}"
                  + (f"  (pid {row['pid']}, {row['reconnects']} reconnects)" if row["pid"] else ""))
            if note := gateway_note(row["gateway"]):
                print(f"  {note}")
    return 0


def gateway_note(gateway: dict[str, Any] | None) -> str:
    """What ``kerneldock connect`` saw of the gateway behind the tunnel, one line ("" if
    nothing worth saying)."""
    if not gateway:
        return ""
    if gateway.get("state") == "down":
        return (f"gateway: not answering through the tunnel since {clock(gateway['down_since'])} "
                "(restarting or stopped? kernels of a restarted gateway are gone)")
    if gateway.get("restarted_at"):
        return (f"gateway: restarted at {clock(gateway['restarted_at'])}; "
                f"{lost_kernels_text(gateway.get('lost_kernels') or [])}")
    return ""


def explain_lost_kernel(status: dict[str, Any], wanted: str, error: KernelError) -> KerneldockError:
    """``error`` (no such kernel) made into one naming the gateway restart, when the gateway
    restarted since the tunnel was opened: the likely reason the kernel is gone."""
    gateway = status.get("gateway") or {}
    if not (error.message.startswith("no kernel") and gateway.get("restarted_at")):
        return error
    lost = [k for k in gateway.get("lost_kernels") or [] if k.startswith(wanted)]
    when = clock(gateway["restarted_at"])
    if lost:
        return GatewayError(f"the gateway restarted at {when}; kernel {lost[0][:8]} was running on it and is "
                            "gone with its state",
                            fix="start a new kernel (JupyterLab: Kernel > Change Kernel); 'kerneldock kernels' "
                                "lists the running ones")
    return GatewayError(f"{error.message}; the gateway restarted at {when} and kernels started before then are gone",
                        fix="start a new kernel; 'kerneldock kernels' lists the running ones")


def on_kernel(status: dict[str, Any], wanted: str, run):
    """``run()`` with a missing kernel explained by a gateway restart, when there was one."""
    try:
        return run()
    except KernelError as error:
        raise explain_lost_kernel(status, wanted, error) from None


def run_disconnect(args) -> int:
    profile, status = connected_profile(args.to)
    os.kill(status["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and connecting.supervisor_alive(profile):
        time.sleep(0.05)
    if connecting.supervisor_alive(profile):
        raise LocalError(f"the connection process {status['pid']} did not stop")
    print(f"kerneldock: disconnected from {profile.name}")
    return 0


async def debugger_state(api: GatewayAPI, kernel_id: str) -> str:
    try:
        async with KernelChannel(api, kernel_id) as channel:
            reply = await channel.debug("debugInfo", {}, timeout=5)
        return "started" if reply.get("body", {}).get("isStarted") else "off"
    except KerneldockError:
        return "unknown"


def run_kernels(args) -> int:
    profile, status = connected_profile(args.to)
    api = GatewayAPI(profile.gateway_url, profile.token())

    async def gather() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        kernels, modes, pool = await asyncio.gather(api.kernels(), api.kernel_modes(), api.pool())
        pooled = {m["id"]: m.get("pooled", False) for m in modes}
        states = await asyncio.gather(*(debugger_state(api, k["id"]) for k in kernels))
        for kernel, state in zip(kernels, states):
            kernel["debugger"] = state
            kernel["pooled"] = pooled.get(kernel["id"], False)
        return kernels, pool

    kernels, pool = asyncio.run(gather())
    if args.json:
        print(json.dumps(kernels))
        return 0
    if not kernels:
        print("no kernels running")
    else:
        print(f"{'ID':<36}  {'KERNELSPEC':<12}  {'STATE':<8}  {'CONN':>4}  {'DEBUGGER':<8}  FROM")
        for k in kernels:
            print(f"{k['id']:<36}  {k['name']:<12}  {k['execution_state']:<8}  {k['connections']:>4}  "
                  f"{k['debugger']:<8}  {'pool' if k['pooled'] else 'fresh'}")
    if pool.get("size"):
        print(f"kernel pool: {pool['ready']} of {pool['size']} {pool['kernel_name']} kernels ready"
              + (f", {pool['starting']} starting" if pool["starting"] else ""))
    else:
        print("kernel pool: off (KERNELDOCK_POOL_SIZE=0)")
    if note := gateway_note(status.get("gateway")):
        print(note)
    return 0


def run_attach(args) -> int:
    profile, status = connected_profile(args.to)
    return on_kernel(status, args.kernel, lambda: _attach(args, profile))


def _attach(args, profile: Profile) -> int:
    from .attach import attach, attach_kernel_dev

    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a port number")
    if args.kernel_dev:
        sources = []
        for item in args.source:
            local, sep, remote = item.partition("=")
            if not sep or not local or not remote.startswith("/"):
                raise UsageError(f"--source {item!r} is not LOCAL=/REMOTE/PATH")
            sources.append((str(Path(local).expanduser().resolve()), remote))
        return asyncio.run(attach_kernel_dev(profile, args.kernel, args.port, sources,
                                             not args.no_launch_json))
    return asyncio.run(attach(profile, args.kernel, args.port))


def run_run(args) -> int:
    from .run_cells import run_cells

    profile, _ = connected_profile(args.to)
    return asyncio.run(run_cells(profile, args.target, args.kernel, args.stop_on_entry))


def run_exec(args) -> int:
    """Run code on a kernel and print what it printed (the seed's "connect manually")."""
    from .attach import resolve_kernel

    profile, status = connected_profile(args.to)
    api = GatewayAPI(profile.gateway_url, profile.token())
    code = sys.stdin.read() if args.code == "-" else args.code

    async def execute():
        kernel = await resolve_kernel(api, args.kernel)
        async with KernelChannel(api, kernel["id"]) as channel:
            return await channel.execute(code, timeout=args.timeout)

    result = on_kernel(status, args.kernel, lambda: asyncio.run(execute()))
    sys.stdout.write(result.text)
    sys.stderr.write(result.stderr)
    return 0 if result.status == "ok" else 1


def run_monitor(args) -> int:
    from .monitor import monitor

    profile, status = connected_profile(args.to)
    api = GatewayAPI(profile.gateway_url, profile.token())
    split = lambda values: {v for item in values for v in item.split(",") if v}  # noqa: E731
    return on_kernel(status, args.kernel, lambda: asyncio.run(
        monitor(api, args.kernel, split(args.channel), split(args.type), args.count)))


def run_logs(args) -> int:
    """Print a kernel's log; --follow keeps printing; --level switches kernel and gateway."""
    from .attach import resolve_kernel

    profile, status = connected_profile(args.to)
    api = GatewayAPI(profile.gateway_url, profile.token())

    async def logs() -> int:
        kernel = await resolve_kernel(api, args.kernel)
        path = f"/api/kerneldock/kernels/{kernel['id']}/log"
        if args.level:
            await api.request("POST", path, {"level": args.level})
            print(f"kerneldock: log level of kernel {kernel['id'][:8]} and of the gateway set to "
                  f"{args.level.upper()}", file=sys.stderr, flush=True)
        offset = 0
        deadline = None if args.follow else 0
        while True:
            chunk = await api.request("GET", f"{path}?offset={offset}")
            sys.stdout.write(chunk["text"])
            sys.stdout.flush()
            offset = chunk["offset"]
            if deadline is not None and not chunk["text"]:
                return 0
            if not chunk["text"]:
                await asyncio.sleep(0.5)

    try:
        return on_kernel(status, args.kernel, lambda: asyncio.run(logs()))
    except KeyboardInterrupt:
        return 0


def run_doctor(args) -> int:
    from .doctor import Finding, doctor

    if args.to:
        profile = Profile.load(args.to)
    else:
        profiles = Profile.all()
        live = [p for p in profiles if connecting.supervisor_alive(p)]
        if len(live) == 1 or (not live and len(profiles) == 1):
            profile = (live or profiles)[0]
        elif not profiles:
            print(Finding("ssh", False, "no connection yet", "run 'kerneldock connect [USER@]HOST'").line())
            return 1
        else:
            raise UsageError("several connections: " + ", ".join(p.name for p in profiles),
                             fix="choose one with --to NAME")
    return doctor(profile, args.kernel)
