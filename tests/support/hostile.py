"""Hostile input for the gateway: raw HTTP requests and hypothesis strategies that build them.

The strategies are broad on purpose (any JSON shape, bytes that are not UTF-8, bodies of a
few megabytes, odd ids and query strings) but each request stays well-formed HTTP, so
every answer is the gateway's own and not the HTTP parser's.
"""

from __future__ import annotations

import http.client
import json
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")

# Every route the gateway serves; {id} is a kernel id (or garbage), {name} a kernelspec name.
ROUTES = (
    "/api", "/api/kernels", "/api/kernels/{id}", "/api/kernels/{id}/interrupt",
    "/api/kernels/{id}/restart", "/api/kernels/{id}/channels", "/api/kernelspecs",
    "/api/kernelspecs/{name}", "/api/sessions", "/api/sessions/{id}",
    "/api/kerneldock/kernels", "/api/kerneldock/pool", "/api/kerneldock/kernels/{id}/log",
    "/kernelspecs/{name}/{garbage}", "/{garbage}", "/api/{garbage}", "/api/kernels/{id}/{garbage}",
)

MEGABYTES = 3 * 1024 * 1024
# Prebuilt so hypothesis does not generate (and shrink) megabytes byte by byte.
OVERSIZED = (
    b"[" * 200_000 + b"]" * 200_000,                                    # nesting deeper than any parser's stack
    json.dumps({"name": "python3", "env": {"KERNEL_BIG": "x" * MEGABYTES}}).encode(),
    json.dumps({"env": {f"KERNEL_{i}": "v" for i in range(100_000)}}).encode(),
    b'{"name": "' + b"\xff" * MEGABYTES + b'"}',                        # not UTF-8, inside a string
    b"\x00" * MEGABYTES,
    json.dumps(["python3"] * 300_000).encode(),
)


def json_values(max_leaves: int = 10) -> st.SearchStrategy:
    scalars = (st.none() | st.booleans() | st.integers() | st.floats()
               | st.text(max_size=20) | st.sampled_from(["python3", "DEBUG", "..", "/etc/passwd", ""]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=max_leaves)


def _dumps(value) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity included: Python reads them back


# Bodies shaped like what each route expects, with wrong types and values in every field.
def schema_bodies() -> st.SearchStrategy:
    odd = json_values(4)
    text = st.text(max_size=30)
    ids = st.one_of(text, st.uuids().map(str), st.sampled_from(["../../../tmp/x", "a/b", "", "a-b-c-d-e"]))
    kernel_start = st.fixed_dictionaries({}, optional={
        "name": st.one_of(text, odd, st.sampled_from(["python3", "python3-kernel-dev", "slow"])),
        "env": st.one_of(st.dictionaries(text, text, max_size=3), odd,
                         st.dictionaries(st.sampled_from(["KERNEL_X", "LD_PRELOAD", "PATH"]), odd, max_size=2)),
        "path": st.one_of(text, odd, st.sampled_from(["../..", "/", "/etc", "\x00"])),
        "kernel_id": st.one_of(ids, odd),
    })
    session = st.fixed_dictionaries({}, optional={
        "path": st.one_of(text, odd), "type": st.one_of(text, odd), "name": st.one_of(text, odd),
        "kernel": st.one_of(odd, st.fixed_dictionaries({}, optional={
            "name": st.one_of(text, odd, st.just("no-such-kernelspec")), "id": st.one_of(ids, odd)})),
        "notebook": st.one_of(odd, st.fixed_dictionaries({}, optional={"name": odd, "path": odd})),
    })
    level = st.fixed_dictionaries({"level": st.one_of(text, odd, st.sampled_from(["info", "INFO", "verbose"]))})
    return st.one_of(kernel_start, session, level).map(_dumps)


def bodies() -> st.SearchStrategy:
    return st.one_of(
        st.just(b""),
        json_values().map(_dumps),
        schema_bodies(),
        st.binary(max_size=300),                                       # mostly not UTF-8
        st.text(max_size=100).map(lambda t: t.encode("utf-16")),      # text, but not UTF-8
        st.sampled_from(OVERSIZED),
    )


def segments() -> st.SearchStrategy:
    """One path segment, percent-encoded."""
    raw = st.one_of(
        st.uuids().map(str),
        st.just(str(uuid.UUID(int=0))),
        st.text(max_size=40),
        st.text("abcdef0123456789-", min_size=1, max_size=40),
        st.sampled_from(["..", ".", "a-b-c-d-e", "%00", "%2e%2e", "python3", "A" * 5000, "__init__", "🐍"]),
    )
    return raw.map(lambda s: quote(s, safe="-_.~%"))


def queries() -> st.SearchStrategy:
    keys = st.one_of(st.text(max_size=12).filter(lambda k: k.lower() not in ("token", "access_token")),
                     st.sampled_from(["offset", "session_id", "kernel_name", "name", "_xsrf"]))
    values = st.one_of(st.text(max_size=30),
                       st.sampled_from(["-1", "1e9999", "9" * 40, "NaN", "", "0x10", "\x00", "A" * 10_000]))
    return st.lists(st.tuples(keys, values), max_size=4).map(lambda pairs: urlencode(pairs))


CONTENT_TYPES = (None, "application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=xyz", "application/json; charset=latin-1", "garbage")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def raw_request(port: int, method: str, target: str, *, token: str | None, body: bytes = b"",
                content_type: str | None = None, timeout: float = 60) -> Answer:
    """One request on a fresh connection to 127.0.0.1:``port``; the body is sent as is."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Length": str(len(body))}
    if token:
        headers["Authorization"] = f"token {token}"
    if content_type:
        headers["Content-Type"] = content_type
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()
