"""Stock handlers made safe against hostile requests (found by ``tests/test_hostile_input.py``).

The personality passes every stock handler class through :func:`harden` before wrapping it
(one-line errors, constant-time token). What the stock classes do with a bad request, and
what these do instead:

- ``/api/sessions`` and ``/api/sessions/ID`` (jupyter_server's handlers on Kernel Gateway's
  session manager): a body that is not JSON, or JSON nested too deep, was logged at ERROR
  with a traceback, a body that is not UTF-8 or of the wrong shape was a 500, an unknown
  kernelspec a 501, and a session's kernel was started with the gateway's whole environment
  (secrets included). Now: a 400/404 with a one-line message, and the session's kernel is
  started like ``POST /api/kernels`` starts one (the same environment rule, the pool).
- ``/api/kernels/ID/channels`` without a websocket upgrade answered a plain-text 400 and
  logged a warning about the missing session id; now a one-line JSON 400.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_server.utils import url_escape, url_path_join
from tornado import web


def parse_json_body(body: bytes) -> Any:
    """The request body as JSON (None when empty); a one-line 400 for anything else."""
    body = body.strip()
    if not body:
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise web.HTTPError(400, "request body is not valid JSON: %s", str(error)[:200]) from None


def optional_string(model: dict[str, Any], key: str, where: str = "") -> None:
    value = model.get(key)
    if value is not None and (not isinstance(value, str) or "\x00" in value):
        raise web.HTTPError(400, "'%s%s' must be a string", where, key)


def session_model(body: bytes, *, partial: bool) -> dict[str, Any]:
    """A session request body checked field by field: a create (``partial=False``) needs
    ``path`` and ``type``; an update may carry any of them."""
    model = parse_json_body(body)
    if model is None:
        raise web.HTTPError(400, "request body must be a JSON object (a session model)")
    if not isinstance(model, dict):
        raise web.HTTPError(400, "request body must be a JSON object")
    notebook = model.pop("notebook", None)  # the sessions API before jupyter_server 1
    if notebook is not None:
        if not isinstance(notebook, dict):
            raise web.HTTPError(400, "'notebook' must be an object")
        model.setdefault("path", notebook.get("path", notebook.get("name")))
        model.setdefault("type", "notebook")
    for key in ("path", "type", "name"):
        optional_string(model, key)
    if not partial:
        for key in ("path", "type"):
            if model.get(key) is None:
                raise web.HTTPError(400, "missing field in the session model: %s", key)
    kernel = model.get("kernel")
    if kernel is not None:
        if not isinstance(kernel, dict):
            raise web.HTTPError(400, "'kernel' must be an object")
        for key in ("name", "id"):
            optional_string(kernel, key, "kernel.")
    return model


def _sessions(sm) -> list[dict[str, Any]]:
    """Every session whose kernel still runs; Kernel Gateway's ``list_sessions`` raises
    KeyError (after forgetting it) for a session whose kernel was shut down."""
    for _ in range(len(getattr(sm, "_sessions", ())) + 1):  # each KeyError forgets one
        try:
            return sm.list_sessions()
        except KeyError:
            continue
    return sm.list_sessions()


def _finish_json(handler, model: Any, status: int = 200) -> None:
    handler.set_header("Content-Type", "application/json")
    handler.set_status(status)
    handler.finish(json.dumps(model, default=json_default))


class SessionRootMixin:
    """``/api/sessions``: ``GET`` lists, ``POST`` creates a session (or returns the one of
    that path). Kernel Gateway's session manager is synchronous, which jupyter_server's
    handlers (awaiting it) do not expect."""

    def get_json_body(self) -> Any:
        return parse_json_body(self.request.body)

    async def get(self):
        if self.settings.get("kg_list_kernels") is not True:
            raise web.HTTPError(403, "listing sessions is off on this gateway")
        _finish_json(self, _sessions(self.session_manager))

    async def post(self):
        model = session_model(self.request.body, partial=False)
        sm, km = self.session_manager, self.kernel_manager
        _sessions(sm)  # forget sessions of kernels that are gone
        if sm.session_exists(path=model["path"]):
            session = sm.get_session(path=model["path"])
        else:
            name = (model.get("kernel") or {}).get("name") or km.default_kernel_name
            specs = self.kernel_spec_manager.find_kernel_specs()
            if name not in specs:
                raise web.HTTPError(404, "no kernelspec named %r; available: %s", name,
                                    ", ".join(sorted(specs)) or "none")
            kernel_id = await km.start_kernel(kernel_name=name, path=None, env=km.kernel_env({}))
            session = sm.save_session(sm.new_session_id(), path=model["path"], kernel_id=kernel_id)
        self.set_header("Location", url_path_join(self.base_url, "api", "sessions", url_escape(session["id"])))
        _finish_json(self, session, 201)


class SessionMixin:
    """``/api/sessions/ID``: ``GET``; ``PATCH`` may change a session's path or move it to
    another running kernel (a new kernelspec would need a kernel Kernel Gateway's session
    manager cannot start; the stock handler answered 501); ``DELETE`` as stock."""

    def get_json_body(self) -> Any:
        return parse_json_body(self.request.body)

    def _session(self, session_id: str) -> dict[str, Any]:
        try:
            return self.session_manager.get_session(session_id=session_id)
        except KeyError:  # its kernel is gone; the session manager has just forgotten it
            raise web.HTTPError(404, "no session %s", session_id) from None

    async def get(self, session_id: str):
        _finish_json(self, self._session(session_id))

    async def patch(self, session_id: str):
        model = session_model(self.request.body, partial=True)
        self._session(session_id)
        kernel = model.get("kernel") or {}
        changes = {}
        if kernel.get("id") is not None:
            if kernel["id"] not in self.kernel_manager:
                raise web.HTTPError(404, "no kernel %s", kernel["id"])
            changes["kernel_id"] = kernel["id"]
        elif kernel.get("name") is not None:
            raise web.HTTPError(400, "a session cannot change its kernelspec here; "
                                "start a new session (POST /api/sessions)")
        if model.get("path") is not None:
            changes["path"] = model["path"]
        self.session_manager.update_session(session_id, **changes)
        _finish_json(self, self._session(session_id))

    async def delete(self, session_id: str):
        self._session(session_id)
        await self.session_manager.delete_session(session_id)
        self.set_status(204)
        self.finish()


class UpgradeFirstMixin:
    """``/api/kernels/ID/channels``: refuses a plain HTTP request before anything else."""

    async def get(self, *args: Any, **kwargs: Any):
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPError(400, "this is a kernel's websocket: connect with a websocket "
                                "client (Upgrade: websocket)")
        return await super().get(*args, **kwargs)


class KernelActionMixin:
    """``/api/kernels/ID/restart|interrupt``: an unknown kernel is a 404 (stock: a 500
    "Exception restarting kernel")."""

    async def post(self, kernel_id: str, action: str):
        if kernel_id not in self.kernel_manager:
            raise web.HTTPError(404, "no kernel %s", kernel_id)
        return await super().post(kernel_id, action)


_MIXINS = {
    "KernelActionHandler": KernelActionMixin,
    "SessionRootHandler": SessionRootMixin,
    "SessionHandler": SessionMixin,
    "KernelWebsocketHandler": UpgradeFirstMixin,
}


def harden(cls: type) -> type:
    """Called by the personality for each stock handler class: ``cls``, or ``cls`` with the
    mixin above that replaces its unsafe methods."""
    mixin = _MIXINS.get(cls.__name__)
    if mixin is None:
        return cls
    return type(cls.__name__, (mixin, cls), {"__module__": __name__})
