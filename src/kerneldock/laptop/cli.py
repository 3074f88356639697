"""The ``kerneldock`` command. ``main()`` is the only place that catches KerneldockError."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..common.errors import KerneldockError
from . import commands


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", default="kerneldock", help="compose project of the stack (kerneldock)")
    parser.add_argument("--ssh-port", type=int, default=None,
                        help="the bastion's port on the Docker host's loopback (2222)")
    parser.add_argument("--identity", "-i", default=None, help="private key for the bastion")
    parser.add_argument("--bastion-host", default=None, metavar="ADDRESS",
                        help="the address the bastion is published on (KERNELDOCK_SSH_BIND on the "
                             "stack), as the Docker host sees it; default: its loopback")
    parser.add_argument("--via", choices=("port", "docker-exec"), default=None,
                        help="reach the bastion through its published port (default) or "
                             "through 'docker exec' with no published port at all")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerneldock",
        description="Debug Jupyter kernels that run in containers on another machine.",
    )
    parser.add_argument("--version", action="version", version=f"kerneldock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("connect", help="open the SSH tunnel to a stack and keep it up")
    p.add_argument("target", nargs="?", metavar="[USER@]HOST",
                   help="the Docker host (omit for the stack on this machine)")
    add_target_options(p)
    p.add_argument("--port", type=int, default=None, help="local gateway port (kept across reconnects)")
    p.add_argument("--repin", action="store_true",
                   help="fetch and pin the bastion's host key again (after recreating the stack)")
    p.add_argument("--json", action="store_true", help="print the facts as one JSON object")
    p.add_argument("--no-launch-json", action="store_true", help="do not touch .vscode/launch.json")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for the gateway to answer through the tunnel (60)")
    p.add_argument("--detach", "-d", action="store_true", help="keep the tunnel up in the background")
    p.set_defaults(run=commands.run_connect)

    p = sub.add_parser("status", help="show connections and what they forward")
    p.add_argument("--to", default=None, metavar="NAME", help="one connection")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=commands.run_status)

    p = sub.add_parser("disconnect", help="close a connection started with --detach")
    p.add_argument("--to", default=None, metavar="NAME")
    p.set_defaults(run=commands.run_disconnect)

    p = sub.add_parser("kernels", help="list the gateway's kernels through the tunnel")
    p.add_argument("--to", default=None, metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=commands.run_kernels)

    p = sub.add_parser("attach", help="serve the Debug Adapter Protocol for a kernel on 127.0.0.1")
    p.add_argument("kernel", metavar="KERNEL", help="kernel id (or a unique prefix)")
    p.add_argument("--port", type=int, default=None, help="local DAP port (the one connect wrote to launch.json)")
    p.add_argument("--kernel-dev", action="store_true",
                   help="forward the debugpy of a kernel in kernel-dev mode (debug the kernel's own code)")
    p.add_argument("--source", action="append", default=[], metavar="LOCAL=REMOTE",
                   help="with --kernel-dev: map a local source folder to its path in the kernel (repeatable)")
    p.add_argument("--no-launch-json", action="store_true", help="do not touch .vscode/launch.json")
    p.add_argument("--to", default=None, metavar="NAME")
    p.set_defaults(run=commands.run_attach)

    p = sub.add_parser("run", help="run '# %%%%' cells of a local file on a kernel, breakpoints included")
    p.add_argument("target", metavar="FILE.py[:LINE]", help="the file, and a line inside the cell to run (default: every cell)")
    p.add_argument("--kernel", default=None, help="kernel id (default: the one 'kerneldock attach' serves)")
    p.add_argument("--stop-on-entry", action="store_true", help="stop at the cell's first line")
    p.add_argument("--to", default=None, metavar="NAME")
    p.set_defaults(run=commands.run_run)

    p = sub.add_parser("logs", help="a kernel's log, through the tunnel")
    p.add_argument("kernel", metavar="KERNEL", help="kernel id (or a unique prefix)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    p.add_argument("--level", choices=("debug", "info", "warning", "error"), default=None,
                   help="first set the kernel's and the gateway's log level (at run time)")
    p.add_argument("--to", default=None, metavar="NAME")
    p.set_defaults(run=commands.run_logs)

    p = sub.add_parser("monitor", help="live view of a kernel's Jupyter messages")
    p.add_argument("kernel", metavar="KERNEL", help="kernel id (or a unique prefix)")
    p.add_argument("--channel", action="append", default=[], help="only these channels (iopub, shell, control)")
    p.add_argument("--type", action="append", default=[], help="only these msg_types (e.g. stream,debug_event)")
    p.add_argument("--count", type=int, default=None, help="stop after this many messages")
    p.add_argument("--to", default=None, metavar="NAME")
    p.set_defaults(run=commands.run_monitor)

    p = sub.add_parser("doctor", help="check each hop (ssh, host key, bastion, gateway, token, kernel, debugger)")
    p.add_argument("kernel", metavar="KERNEL", nargs="?", help="also check this kernel")
    p.add_argument("--to", default=None, metavar="NAME")
    p.set_defaults(run=commands.run_doctor)

    p = sub.add_parser("exec", help="run code on a kernel and print its output")
    p.add_argument("kernel", metavar="KERNEL", help="kernel id (or a unique prefix)")
    p.add_argument("code", metavar="CODE", help="the code, or - to read it from standard input")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the cell (600)")
    p.add_argument("--to", default=None, metavar="NAME")
    p.set_defaults(run=commands.run_exec)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except KerneldockError as error:
        print(f"kerneldock: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
