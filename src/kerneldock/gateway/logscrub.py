"""Keep gateway tokens out of the logs.

Tornado's access log writes each request's URI verbatim, so a client that passes the token
as ``?token=...`` (the websocket form most front-ends use) would have it written to the
container log. :func:`install` is called once by the personality when the gateway starts; it
adds a filter to the handlers of the loggers that can carry request URIs.
"""

from __future__ import annotations

import logging
import re

_TOKEN_IN_QUERY = re.compile(r"([?&](?:token|access_token)=)[^&\s\"']*", re.IGNORECASE)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Return ``text`` with token query values and any known secret replaced by ``[secret]``."""
    text = _TOKEN_IN_QUERY.sub(r"\1[secret]", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return text


class TokenScrubFilter(logging.Filter):
    """Rewrites each record's message with :func:`scrub` before any handler formats it."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install(secrets: tuple[str, ...] = ()) -> TokenScrubFilter:
    """Attach one scrub filter to every handler of the root logger and the app loggers."""
    scrubber = TokenScrubFilter(secrets)
    names = ("", "tornado.access", "tornado.application", "tornado.general",
             "KernelGatewayApp", "ServerApp")
    for name in names:
        logger = logging.getLogger(name)
        logger.addFilter(scrubber)
        for handler in logger.handlers:
            handler.addFilter(scrubber)
    return scrubber
