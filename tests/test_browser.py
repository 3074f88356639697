"""JupyterLab's visual debugger in a real browser, through the tunnel.

The compose stack, ``kerneldock connect``, a real JupyterLab (pip) started with
``--gateway-url`` pointing at the tunnel, and Debian's Chromium driven by Playwright: open a
notebook on the remote kernel, turn the debugger on, click the gutter to set a breakpoint,
run the cell, and check what the user sees: the call stack, the highlighted line, the
variable's value, and the output after continuing. A screenshot of the stopped state is
saved in artifacts/.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from support.laptop import connected, jupyterlab
from support.marks import marked_line
from support.stack import ROOT, running_stack
from support.wait import wait_until

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("BROWSER TEST SKIPPED: Debian's chromium is not installed (scripts/host-deps "
                "installs it as root with apt)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="BROWSER TEST SKIPPED: playwright is not installed")

CELL = 'x = 40 + 2\ny = x * 2  # @bp\nprint("y is", y)\n'
ARTIFACTS = ROOT / "artifacts"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def stack(images):
    # JupyterLab re-opens its session's kernel websocket while the kernel starts; the
    # gateway notes the replaced connection.
    with running_stack(images, allowed_log_problems=(r"Replacing stale connection",)) as stack:
        yield stack


@pytest.fixture(scope="module")
def lab(stack):
    """JupyterLab on 127.0.0.1, its kernels on the gateway behind ``kerneldock connect``."""
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "debug-me", "metadata": {},
                   "outputs": [], "source": CELL}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (kerneldock)", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    token = "browser-test-token"
    with connected(stack, "browser") as user:
        (user.cwd / "debug-me.ipynb").write_text(json.dumps(notebook))
        with jupyterlab(user, token, "127.0.0.1", "--LabApp.news_url=",
                        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate") as url:
            yield url, token, user


def test_visual_debugger_stops_at_the_gutter_breakpoint(lab, stack):
    url, token, user = lab
    line = marked_line(CELL)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 850})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{url}/lab/tree/debug-me.ipynb?token={token}")
            # The kernel runs on the gateway: its status reaches idle through the tunnel.
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            bug = page.locator(".jp-DebuggerBugButton").first
            wait_until(lambda: bug.is_enabled(), 60, "debugger button enabled (kernelspec debugger: true)")
            def kernel_idle():
                kernels = json.loads(user.kerneldock("kernels", "--json", check=True).stdout)
                return len(kernels) == 1 and kernels[0]["execution_state"] == "idle" and kernels[0]
            kernel = wait_until(kernel_idle, 60, "the notebook's kernel idle on the gateway")
            assert kernel["name"] == "python3" and kernel["connections"] >= 1

            cell = page.locator(".jp-Notebook .jp-Cell").first
            gutter_element = cell.locator(".cm-breakpoint-gutter").first

            pressed = page.locator(".jp-DebuggerBugButton[aria-pressed='true'], "
                                   ".jp-DebuggerBugButton [aria-pressed='true']")
            clicks = []

            def debugger_on():
                if gutter_element.is_visible():
                    return True
                if pressed.count() == 0:
                    bug.click()
                    clicks.append(time.monotonic())
                elif time.monotonic() - clicks[-1] > 15:
                    bug.click()  # on, but no breakpoint gutter after 15 s: off, and on again
                return False
            try:
                wait_until(debugger_on, 90, "debugger on for the notebook", interval=1.0)
            except TimeoutError:
                page.screenshot(path=str(ARTIFACTS / "jupyterlab-debugger-not-on.png"))
                raise
            sidebar = page.locator(".jp-DebuggerSidebar").first
            if not sidebar.is_visible():
                page.locator("li[data-id='jp-debugger-sidebar']").first.click()
            sidebar.wait_for()

            # Click the breakpoint gutter beside the marked line.
            target = cell.locator(".cm-line").nth(line - 1).bounding_box()
            gutter = gutter_element.bounding_box()
            page.mouse.click(gutter["x"] + gutter["width"] / 2, target["y"] + target["height"] / 2)
            page.locator(".jp-DebuggerBreakpoint").first.wait_for()
            assert page.locator(".jp-DebuggerBreakpoint-line").first.inner_text().strip() == str(line)

            cell.locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")

            frame = page.locator(".jp-DebuggerCallstackFrame").first
            frame.wait_for()
            # The call stack shows the cell, stopped at the marked line ("Cell [*]:2").
            location = frame.locator(".jp-DebuggerCallstackFrame-location").inner_text()
            assert location.startswith("Cell [") and location.endswith(f":{line}"), location
            highlighted = cell.locator(".jp-DebuggerEditor-highlight")
            highlighted.first.wait_for()
            assert "# @bp" in highlighted.first.inner_text()
            variables = page.locator(".jp-DebuggerVariables-body").first
            x_row = variables.locator(".jp-DebuggerVariables-name", has_text="x").first
            x_row.wait_for()
            wait_until(lambda: "42" in variables.inner_text(), 20, "x = 42 in the Variables panel")
            news = page.get_by_role("button", name="No", exact=True)
            if news.count():  # JupyterLab's "get notified about news?" toast
                news.first.click()
                news.first.wait_for(state="hidden")
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-debugger-stopped.png"))

            page.locator(".jp-DebuggerCallstack button[title^='Continue'], "
                         "jp-button[title^='Continue']").first.click()
            output = cell.locator(".jp-OutputArea-output")
            output.first.wait_for()
            wait_until(lambda: "y is 84" in output.first.inner_text(), 30, "cell output after continue")
        finally:
            browser.close()
