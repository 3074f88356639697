"""Client of the gateway's REST API (kernels, kernelspecs), as seen through the tunnel.

Every failure is translated here into the error vocabulary: a refused token is a
:class:`TokenError`, an unreachable gateway a :class:`GatewayError` naming the URL.
"""

from __future__ import annotations

import json
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..common.errors import GatewayError, KernelError, TokenError


class GatewayAPI:
    """The REST half of a gateway at ``base_url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return the decoded JSON answer (None for an empty one)."""
        request = HTTPRequest(
            self.base_url + path, method=method, headers=self.auth_headers,
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            connect_timeout=self.timeout, request_timeout=self.timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as error:
            raise self.translate_error(error, method, path) from None
        except OSError as error:
            raise GatewayError(f"cannot reach {self.base_url} ({error.strerror or error})",
                               fix="is the tunnel up? run 'kerneldock status'") from None
        return json.loads(response.body) if response.body else None

    def translate_error(self, error: HTTPClientError, method: str, path: str) -> Exception:
        message = ""
        if error.response is not None and error.response.body:
            try:
                message = json.loads(error.response.body).get("message", "")
            except (ValueError, AttributeError):
                message = error.response.body[:200].decode(errors="replace")
        if error.code == 401:
            return TokenError("the gateway refused the token",
                              fix="check KERNELDOCK_TOKEN or the token file of the stack")
        if error.code == 599:
            return GatewayError(f"no answer from {self.base_url} ({error.message})",
                                fix="is the stack running? scripts/up on the Docker host")
        if error.code == 404 and path.startswith("/api/kernels/"):
            return KernelError(f"no kernel {path.split('/')[3]!r} on the gateway",
                               fix="list them with 'kerneldock kernels'")
        return GatewayError(f"{method} {path} answered {error.code}: {message or error.message}")

    async def kernelspecs(self) -> dict[str, Any]:
        return await self.request("GET", "/api/kernelspecs")

    async def kernels(self) -> list[dict[str, Any]]:
        return await self.request("GET", "/api/kernels")

    async def kernel_modes(self) -> list[dict[str, Any]]:
        """Each kernel's debug mode, kernel-dev endpoint and whether it came from the pool."""
        return await self.request("GET", "/api/kerneldock/kernels")

    async def pool(self) -> dict[str, Any]:
        """The gateway's kernel pool: kernelspec, size, ready and starting kernels."""
        return await self.request("GET", "/api/kerneldock/pool")

    async def start_kernel(self, name: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if name:
            body["name"] = name
        if env is not None:
            body["env"] = env
        return await self.request("POST", "/api/kernels", body)

    async def shutdown_kernel(self, kernel_id: str) -> None:
        await self.request("DELETE", f"/api/kernels/{kernel_id}")

    def websocket_url(self, kernel_id: str, session: str) -> str:
        ws = "ws" + self.base_url[len("http"):]
        return f"{ws}/api/kernels/{kernel_id}/channels?session_id={session}"
