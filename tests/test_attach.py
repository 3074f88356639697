"""kerneldock attach for real: a DAP client sending VS Code's payloads, through the relay, the
SSH tunnel and the gateway, to the kernel's own debugger. Breakpoint lines are marked in
the sources (``# @bp...``) and every stop is asserted by file and line.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from kerneldock.laptop.gateway_api import GatewayAPI
from kerneldock.laptop.kernel_channel import KernelChannel
from support.dap_client import DapClient
from support.laptop import connected
from support.marks import marked_line
from support.net import free_port, port_open
from support.stack import Stack, run, running_stack
from support.wait import wait_until

MATHLIB = '''\
import colorsys


def triple(n):
    result = n * 3  # @bp-triple
    return result


def compute(values):
    total = 0
    for v in values:
        total += triple(v)  # @bp-compute
    return total


def hue(r, g, b):
    return colorsys.rgb_to_hsv(r, g, b)[0]  # @bp-hue
'''

ANALYSIS = '''\
# %% first cell
import math

a = 6
b = a * 7  # @bp-cell1
print("b", b)

# %% second cell


def area(r):
    return math.pi * r * r  # @bp-cell2


print(round(area(2), 2))
'''


@pytest.fixture(scope="module")
def stack(images):
    with running_stack(images) as stack:
        (stack.workspace / "mathlib.py").write_text(MATHLIB)
        yield stack


@pytest.fixture(scope="module")
def user(stack):
    with connected(stack, "user") as user:
        (user.cwd / "analysis.py").write_text(ANALYSIS)
        yield user


@pytest.fixture
def api(user, stack):
    return GatewayAPI(user.facts["gateway_url"], stack.token)


class Notebook:
    """A kernel and a websocket to it, on a background event loop: the "notebook" side."""

    def __init__(self, api: GatewayAPI):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.api = api
        self.kernel = self.call(api.start_kernel())
        self.channel = self.call(KernelChannel(api, self.kernel["id"]).open())

    def call(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def execute(self, code: str, timeout: float = 120):
        return self.call(self.channel.execute(code, timeout=timeout), timeout + 5)

    def close(self) -> None:
        try:
            self.call(self.channel.close(), 10)
            self.call(self.api.shutdown_kernel(self.kernel["id"]), 30)
        except Exception:  # noqa: BLE001 - the kernel may be gone already
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def notebook(api):
    notebook = Notebook(api)
    try:
        yield notebook
    finally:
        notebook.close()


@pytest.fixture
def relay(user, notebook):
    """``kerneldock attach KERNEL`` on a free port; yields the port."""
    port = free_port()
    process = user.popen("attach", notebook.kernel["id"][:8], "--port", str(port),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: process.poll() is not None or port_open(port), 30, "attach listening")
        assert process.poll() is None, process.stderr.read()
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def editor(relay, user, stack):
    client = DapClient(relay)
    try:
        yield client
    finally:
        client.close()


def local(stack: Stack, name: str) -> str:
    return str(stack.workspace / name)


def mapping(stack: Stack) -> list[dict[str, str]]:
    return [{"localRoot": str(stack.workspace), "remoteRoot": "/workspace"}]


def test_module_breakpoint_step_evaluate_variables_continue_disconnect(editor, relay, notebook, stack):
    path = local(stack, "mathlib.py")
    bp_compute, bp_triple = marked_line(MATHLIB, "@bp-compute"), marked_line(MATHLIB, "@bp-triple")
    capabilities = editor.vscode_attach(relay, mapping(stack), {path: [bp_compute]})
    assert capabilities.get("supportsTerminateRequest") is False

    running = notebook.submit(notebook.channel.execute("import mathlib\nprint(mathlib.compute([1, 2]))"))
    thread, frames = editor.stopped_frames()
    assert (frames[0]["source"]["path"], frames[0]["line"], frames[0]["name"]) == (path, bp_compute, "compute")

    editor.ok("stepIn", {"threadId": thread})
    thread, frames = editor.stopped_frames()
    assert (frames[0]["source"]["path"], frames[0]["line"], frames[0]["name"]) == (path, bp_triple, "triple")
    editor.ok("next", {"threadId": thread})
    thread, frames = editor.stopped_frames()
    assert frames[0]["line"] == bp_triple + 1
    assert editor.locals_of(frames[0]["id"]) == {"n": "1", "result": "3"}
    evaluated = editor.ok("evaluate", {"expression": "n * 100", "frameId": frames[0]["id"], "context": "repl"})
    assert evaluated["result"] == "100"

    editor.ok("stepOut", {"threadId": thread})
    thread, frames = editor.stopped_frames()
    assert (frames[0]["name"], frames[0]["source"]["path"], frames[0]["line"]) == ("compute", path, bp_compute)

    editor.ok("continue", {"threadId": thread})  # next loop round: the breakpoint again
    thread, frames = editor.stopped_frames()
    assert frames[0]["line"] == bp_compute and editor.locals_of(frames[0]["id"])["v"] == "2"
    editor.set_breakpoints(path, [])
    editor.ok("continue", {"threadId": thread})
    result = running.result(30)
    assert result.status == "ok" and result.stdout == "9\n"

    assert editor.request("disconnect", {"restart": False, "terminateDebuggee": True})["success"]
    # The kernel survived the editor's "terminateDebuggee" and still runs code.
    assert notebook.execute("40 + 2").text.strip() == "42"


def test_windows_paths_and_sources_of_installed_modules(editor, relay, notebook, stack):
    root = "C:\\Users\\me\\proj"
    path = root + "\\mathlib.py"
    line = marked_line(MATHLIB, "@bp-hue")
    editor.vscode_attach(relay, [{"localRoot": root, "remoteRoot": "/workspace"}], {path: [line]})
    running = notebook.submit(notebook.channel.execute("import mathlib\nprint(mathlib.hue(1.0, 0.0, 0.0))"))
    thread, frames = editor.stopped_frames()
    assert (frames[0]["source"]["path"], frames[0]["line"]) == (path, line)

    editor.ok("stepIn", {"threadId": thread})
    thread, frames = editor.stopped_frames()
    source = frames[0]["source"]
    assert frames[0]["name"] == "rgb_to_hsv" and source["name"] == "colorsys.py"
    assert source.get("sourceReference", 0) > 0  # no such file on the laptop: fetched through DAP
    text = editor.ok("source", {"source": source, "sourceReference": source["sourceReference"]})["content"]
    assert "def rgb_to_hsv(" in text
    editor.set_breakpoints(path, [])
    editor.ok("continue", {"threadId": thread})
    assert running.result(30).stdout == "0.0\n"
    editor.ok("disconnect", {"restart": False})


def test_cells_of_a_local_file_stop_at_their_marked_lines(editor, relay, notebook, user):
    path = str(user.cwd / "analysis.py")
    cell1, cell2 = marked_line(ANALYSIS, "@bp-cell1"), marked_line(ANALYSIS, "@bp-cell2")
    editor.vscode_attach(relay, [{"localRoot": str(user.cwd), "remoteRoot": "/workspace"}],
                         {path: [cell1, cell2]})

    first = user.popen("run", f"analysis.py:{cell1}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        thread, frames = editor.stopped_frames()
    except TimeoutError:
        first.kill()
        raise AssertionError(f"no stop; kerneldock run said: {first.communicate()}") from None
    assert (frames[0]["source"]["path"], frames[0]["line"]) == (path, cell1)
    assert editor.locals_of(frames[0]["id"])["a"] == "6"
    editor.ok("continue", {"threadId": thread})
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert out == "b 42\n" and "with the debugger" in err

    second = user.popen("run", f"analysis.py:{cell2}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    thread, frames = editor.stopped_frames()
    assert (frames[0]["source"]["path"], frames[0]["line"], frames[0]["name"]) == (path, cell2, "area")
    assert frames[1]["source"]["path"] == path and frames[1]["line"] == marked_line(
        ANALYSIS.replace("print(round(area(2), 2))", "print(round(area(2), 2))  # @call"), "@call")
    editor.ok("continue", {"threadId": thread})
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert out == "12.57\n"

    entry = user.popen("run", "analysis.py:1", "--stop-on-entry", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    thread, frames = editor.stopped_frames()
    assert (frames[0]["source"]["path"], frames[0]["line"]) == (path, 2)  # "import math", below the marker
    editor.set_breakpoints(path, [])
    editor.ok("continue", {"threadId": thread})
    assert entry.communicate(timeout=60)[0] == "b 42\n"
    editor.ok("disconnect", {"restart": False})


def test_joins_a_session_jupyterlab_started_and_both_see_the_stop(relay, notebook, stack):
    cell = "x = 5\ny = x + 1  # @bp\nprint(y)\n"
    line = marked_line(cell)
    lab = notebook.channel
    lab_events = lab.subscribe()

    async def lab_starts_debugging():
        assert (await lab.debug("initialize", {"clientID": "jupyterlab", "adapterID": "python",
                                               "pathFormat": "path", "linesStartAt1": True,
                                               "columnsStartAt1": True}))["success"]
        assert (await lab.debug("attach", {}))["success"]
        cell_path = (await lab.debug("dumpCell", {"code": cell}))["body"]["sourcePath"]
        await lab.debug("setBreakpoints", {"source": {"path": cell_path}, "breakpoints": [{"line": line}]})
        await lab.debug("configurationDone", {})
        return cell_path

    cell_path = notebook.call(lab_starts_debugging())
    editor = DapClient(relay)
    try:
        editor.vscode_attach(relay, mapping(stack), {})
        running = notebook.submit(lab.execute(cell))
        thread, frames = editor.stopped_frames()
        assert frames[0]["line"] == line and frames[0]["source"].get("sourceReference", 0) > 0

        async def lab_sees_stop():
            while True:
                message = await lab_events.get()
                if message["header"]["msg_type"] == "debug_event" and message["content"]["event"] == "stopped":
                    return message["content"]["body"]["threadId"]
        assert notebook.call(asyncio.wait_for(lab_sees_stop(), 10)) == thread
        editor.ok("continue", {"threadId": thread})
        assert running.result(30).stdout == "6\n"
        editor.ok("disconnect", {"restart": False})
        # The editor left; JupyterLab's session goes on.
        info = notebook.call(lab.debug("debugInfo", {}))
        assert info["body"]["isStarted"] is True
        assert {"source": cell_path, "breakpoints": [{"line": line}]} in info["body"]["breakpoints"]
    finally:
        editor.close()


def test_kernel_killed_while_stopped_ends_the_session(editor, relay, notebook, stack, user):
    pid = notebook.execute("import os; print(os.getpid())").stdout.strip()
    path = local(stack, "mathlib.py")
    editor.vscode_attach(relay, mapping(stack), {path: [marked_line(MATHLIB, "@bp-triple")]})
    notebook.submit(notebook.channel.execute("import mathlib\nmathlib.triple(1)"))
    editor.stopped_frames()
    run(["docker", "exec", stack.container("gateway"), "kill", "-9", pid])
    started = time.monotonic()
    editor.event("terminated", timeout=5)
    assert time.monotonic() - started < 5
    assert stack.health(stack.container("gateway")) == "healthy"
    stack.allowed_log_problems.append(rf"kernel {notebook.kernel['id']} restarted")


def test_unanswerable_request_gets_an_error_response(editor, relay, stack):
    editor.vscode_attach(relay, mapping(stack), {})
    response = editor.request("noSuchCommand", {"x": 1})
    assert response["success"] is False and response.get("message")
    editor.ok("disconnect", {"restart": False})


GARBAGE = [
    b"Content-Length: abc\r\n\r\n{}",
    b"Content-Length: 99999999999\r\n\r\n",
    b"Content-Length: 5\r\n\r\nhello",
    b"Content-Length: 7\r\n\r\n[1,2,3]",
    b"\x00\xff" * 64 + b"\r\n\r\n",
]


def test_garbage_on_the_dap_port_is_dropped_and_the_relay_keeps_serving(relay, stack):
    import socket

    for garbage in GARBAGE:
        with socket.create_connection(("127.0.0.1", relay), timeout=10) as conn:
            conn.sendall(garbage)
            conn.shutdown(socket.SHUT_WR)
            assert conn.recv(4096) == b"", garbage  # closed without an answer
    # Mid-session garbage ends that editor's session only.
    client = DapClient(relay)
    try:
        client.vscode_attach(relay, mapping(stack), {})
        client.sock.sendall(b"Content-Length: 3\r\n\r\n{{{")
        assert client.closed.wait(15), "the relay kept a connection that sent garbage"
    finally:
        client.close()
    editor = DapClient(relay)
    try:
        editor.vscode_attach(relay, mapping(stack), {})
        threads = editor.ok("threads", {})
        assert threads["threads"], threads
        editor.ok("disconnect", {"restart": False})
    finally:
        editor.close()


def test_unknown_kernel_is_named(user):
    result = user.kerneldock("attach", "no-such-kernel", "--port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("kerneldock: kernel: no kernel 'no-such-kernel' on the gateway")


CPU_BOUND = """\
import time
def work(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total
def timed():
    started = time.perf_counter()
    work(1_500_000)
    return time.perf_counter() - started
print(min(timed() for _ in range(9)))
"""


def test_cpu_bound_cell_runs_at_full_speed_after_the_debugger_left(editor, relay, notebook, api, stack):
    fresh = Notebook(api)
    try:
        never = float(fresh.execute(CPU_BOUND).stdout)
        editor.vscode_attach(relay, mapping(stack), {local(stack, "mathlib.py"): [marked_line(MATHLIB, "@bp-triple")]})
        notebook.submit(notebook.channel.execute("import mathlib\nmathlib.triple(1)"))
        thread, _ = editor.stopped_frames()
        editor.ok("continue", {"threadId": thread})
        editor.ok("disconnect", {"restart": False})
        # Steady state: the best of 9 runs, twice (debugpy winds down for a moment after the
        # disconnect, on a 2-core machine that shares with the test itself).
        debugged = min(float(notebook.execute(CPU_BOUND).stdout) for _ in range(2))
        never = min(never, float(fresh.execute(CPU_BOUND).stdout))
    finally:
        fresh.close()
    ratio = debugged / never
    print(f"\nCPU-bound cell after a debug session: {debugged * 1e3:.1f} ms vs {never * 1e3:.1f} ms "
          f"on a kernel never debugged (x{ratio:.3f})")
    # The real failure this guards against is tracing left on after the session (Python
    # 3.11 settrace: 1.7x and worse). On 3.13 the ratio measured here is 1.00-1.18 from run
    # to run (see the README); timing targets belong to benchmarks, so the bound is loose.
    assert ratio < 1.5


def test_subprocess_of_a_debugged_cell_runs(editor, relay, notebook, stack):
    editor.vscode_attach(relay, mapping(stack), {})
    result = notebook.execute(
        "import subprocess, sys\n"
        "print(subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True, timeout=60).stdout)",
        timeout=90)
    assert result.status == "ok" and result.stdout.strip() == "42"
    editor.ok("disconnect", {"restart": False})


def test_tunnel_lost_mid_session_ends_cleanly(editor, relay, user, stack):
    editor.vscode_attach(relay, mapping(stack), {})
    status_file = user.home / "state" / "connections" / f"local-{stack.project}" / "status.json"
    before = json.loads(status_file.read_text())
    os.kill(before["ssh_pid"], signal.SIGKILL)
    editor.event("terminated", timeout=10)
    # kerneldock connect brings the tunnel back on the same port.
    wait_until(lambda: (s := json.loads(status_file.read_text()))["state"] == "up" and s["reconnects"] > before["reconnects"],
               10, "tunnel back")
