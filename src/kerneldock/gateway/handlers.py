"""Request handlers kerneldock puts in front of Kernel Gateway's own.

Kernel Gateway answers a client error (unknown kernel name, a body that is not a JSON
object) with a 500 and a Python traceback, and hands the gateway's whole environment to a
kernel when ``POST /api/kernels`` carries no ``env`` key. These classes fix both without
forking the gateway: the personality swaps them in for the stock ones.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import signal
import time
from http.client import responses
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_escape, url_path_join
from kernel_gateway.mixins import CORSMixin, JSONErrorsMixin, TokenAuthorizationMixin
from kernel_gateway.services.kernels import handlers as kg_kernel_handlers
from tornado import web

from ..common.kerneldev import LOG_SUFFIX, LOGLEVEL_SUFFIX, SIDECAR_SUFFIX
from .hardening import optional_string, parse_json_body

log = logging.getLogger("KernelGatewayApp")
GATEWAY_STARTED = f"{time.time():.6f}"
_KERNEL_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class OneLineErrorsMixin:
    """``write_error`` that answers ``{"reason", "message"}`` and never a traceback.

    Tornado calls ``write_error`` when a handler raises; an unexpected exception is logged
    here with its traceback (server side only) and the client gets a one-line message.
    """

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = responses.get(status_code, "Unknown HTTP Error")
        message = ""
        exc_info = kwargs.get("exc_info")
        if exc_info:
            exception = exc_info[1]
            if isinstance(exception, web.HTTPError):
                message = exception.log_message or ""
                if exception.args and message:
                    try:
                        message = message % exception.args
                    except (TypeError, ValueError):
                        pass
                reason = exception.reason or reason
            else:
                log.error("unexpected error serving %s %s", self.request.method,
                          self.request.path, exc_info=exc_info)
                message = f"internal gateway error ({type(exception).__name__}); see the gateway log"
        if status_code == 401 and not message:
            message = "missing or wrong token (send the header 'Authorization: token ...')"
        self.set_header("Content-Type", "application/json")
        self.set_status(status_code, reason=reason)
        self.finish(json.dumps({"reason": reason, "message": " ".join(message.split())}))


class ConstantTimeTokenMixin:
    """Token check of every route, in constant time (Kernel Gateway compares with ``!=``).

    Tornado calls ``prepare`` before each request's method; a missing or wrong token
    (``Authorization: token T`` or ``?token=T``) ends the request with 401.
    """

    def prepare(self):
        server_token = self.settings.get("kg_auth_token")
        if server_token and self.request.method != "OPTIONS":
            client_token = self.get_argument("token", None)
            if client_token is None:
                header = self.request.headers.get("Authorization", "")
                client_token = header[len("token "):] if header.startswith("token ") else ""
            if not hmac.compare_digest(client_token.encode(), server_token.encode()):
                return self.send_error(401)
        # Lets `kerneldock connect` tell a restarted gateway from one that was out of reach.
        self.set_header("X-Kerneldock-Gateway-Started", GATEWAY_STARTED)
        # Skip Kernel Gateway's own (timing-leaky) comparison; run what comes after it.
        return super(TokenAuthorizationMixin, self).prepare()


class MainKernelHandler(OneLineErrorsMixin, kg_kernel_handlers.MainKernelHandler):
    """``/api/kernels``: a start request checked field by field, then started with the
    filtered environment whether or not the body had an ``env`` (Kernel Gateway filtered
    only when it had one)."""

    _model: dict[str, Any] | None = None

    def get_json_body(self) -> dict[str, Any] | None:
        """Called by :meth:`post`; parsed once per request."""
        if self._model is None:
            self._model = self._parse_start_request()
        return self._model

    def _parse_start_request(self) -> dict[str, Any]:
        model = parse_json_body(self.request.body)
        if model is None:
            model = {}
        if not isinstance(model, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        name = model.get("name")
        if name is not None and not isinstance(name, str):
            raise web.HTTPError(400, "'name' must be a string")
        env = model.setdefault("env", {})
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise web.HTTPError(400, "'env' must be an object of string values")
        for key in ("path", "kernel_id"):
            optional_string(model, key)
        if model.get("kernel_id") is not None and not _KERNEL_ID.fullmatch(model["kernel_id"]):
            raise web.HTTPError(400, "'kernel_id' must be a UUID")  # it names files and sockets
        return model

    async def post(self):
        """Starts a kernel (fresh or from the pool); an unknown kernelspec name is a 404
        naming the ones there are; over the kernel limit a 403 (from the kernel manager).

        Replaces Kernel Gateway's ``post``, which passes the environment by swapping the
        manager's ``start_kernel`` for a partial while it awaits: concurrent requests could
        end up with each other's environment.
        """
        km = self.kernel_manager
        model = self.get_json_body()
        name = model.get("name") or km.default_kernel_name
        specs = self.kernel_spec_manager.find_kernel_specs()
        if name not in specs:
            raise web.HTTPError(
                404, "no kernelspec named %r; available: %s", name, ", ".join(sorted(specs)) or "none"
            )
        kernel_id = await km.start_kernel(kernel_name=name, path=model.get("path"),
                                          kernel_id=model.get("kernel_id"), env=km.kernel_env(model["env"]))
        body = km.kernel_model(kernel_id)
        self.set_header("Location", url_path_join(self.base_url, "api", "kernels", url_escape(kernel_id)))
        self.set_header("Content-Type", "application/json")
        self.set_status(201)
        self.finish(json.dumps(body, default=json_default))


class KernelModesHandler(OneLineErrorsMixin, TokenAuthorizationMixin, CORSMixin, JSONErrorsMixin, APIHandler):
    """``GET /api/kerneldock/kernels``: each kernel's debug mode and kernel-dev endpoint.

    A kernel in kernel-dev mode writes its debugpy port beside its connection file
    (``kerneldock.kernel.devmode``); the endpoint is ``gateway:PORT`` as the bastion sees it.
    """

    async def get(self):
        km = self.settings["kernel_manager"]
        pool = getattr(km, "pool", None)
        kernels = []
        for kernel_id in km.list_kernel_ids():
            entry = {"id": kernel_id, "mode": "notebook", "debug_endpoint": None,
                     "pooled": pool is not None and kernel_id in pool.handed_out}
            try:
                path = km.get_kernel(kernel_id).connection_file + SIDECAR_SUFFIX
                with open(path) as f:
                    sidecar = json.load(f)
                entry.update(mode=f"kernel-dev ({sidecar['mode']})",
                             debug_endpoint=f"gateway:{int(sidecar['port'])}")
            except (OSError, ValueError, KeyError, TypeError):
                pass
            kernels.append(entry)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(kernels))


class KernelPoolHandler(OneLineErrorsMixin, TokenAuthorizationMixin, CORSMixin, JSONErrorsMixin, APIHandler):
    """``GET /api/kerneldock/pool``: the kernel pool's kernelspec, size, and how many of
    its kernels are ready or starting."""

    async def get(self):
        pool = getattr(self.settings["kernel_manager"], "pool", None)
        status = pool.status() if pool is not None else {"kernel_name": None, "size": 0, "ready": 0,
                                                          "starting": 0, "handed_out": 0}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(status))


class KernelLogHandler(OneLineErrorsMixin, TokenAuthorizationMixin, CORSMixin, JSONErrorsMixin, APIHandler):
    """``/api/kerneldock/kernels/ID/log``: the kernel's log file (GET, from ``?offset=N``),
    and its log level with the gateway's (POST ``{"level": "DEBUG"}``)."""

    MAX_CHUNK = 256 * 1024

    def _connection_file(self, kernel_id: str) -> str:
        km = self.settings["kernel_manager"]
        if kernel_id not in km:
            raise web.HTTPError(404, "no kernel %s", kernel_id)
        return km.get_kernel(kernel_id).connection_file

    async def get(self, kernel_id: str):
        path = self._connection_file(kernel_id) + LOG_SUFFIX
        try:
            offset = min(max(0, int(self.get_argument("offset", "0"))), 2**62)
        except ValueError:
            raise web.HTTPError(400, "offset must be a whole number") from None
        text, end = "", offset
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(self.MAX_CHUNK)
            text, end = data.decode("utf-8", "replace"), offset + len(data)
        except FileNotFoundError:
            pass
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"text": text, "offset": end}))

    async def post(self, kernel_id: str):
        path = self._connection_file(kernel_id)
        try:
            level = str(json.loads(self.request.body or b"{}").get("level", "")).upper()
        except (ValueError, AttributeError, RecursionError):
            raise web.HTTPError(400, "body must be a JSON object with a 'level'") from None
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise web.HTTPError(400, "level must be DEBUG, INFO, WARNING or ERROR")
        for name in ("", "KernelGatewayApp", "tornado.access"):
            logger = logging.getLogger(name)
            logger.setLevel(level)
            for handler in logger.handlers:  # traitlets filters at its handler too
                handler.setLevel(level)
        log.warning("gateway log level set to %s (kerneldock logs --level)", level)
        with open(path + LOGLEVEL_SUFFIX, "w") as f:
            f.write(level)
        process = getattr(self.settings["kernel_manager"].get_kernel(kernel_id).provisioner, "process", None)
        if process is not None:
            os.kill(process.pid, signal.SIGUSR1)  # the kernel alone, not its process group
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"level": level}))


def wrap_handler(cls: type) -> type:
    """Return ``cls`` with kerneldock's error shape and, where Kernel Gateway checks the
    token, the constant-time check, first in its method order."""
    bases = [OneLineErrorsMixin] if not issubclass(cls, OneLineErrorsMixin) else []
    if issubclass(cls, TokenAuthorizationMixin):
        bases.append(ConstantTimeTokenMixin)
    if not bases:
        return cls
    return type(cls.__name__, (*bases, cls), {"__module__": __name__})
