"""The one error vocabulary of kerneldock.

Every failure a user can see is a :class:`KerneldockError` that names the *hop* that
failed and, where there is one, the fix. Foreign exceptions (OSError, HTTP errors,
subprocess failures) are translated to these at the boundary where they happen; the CLI's
``main()`` is the only place that catches them, and prints ``str(error)``: one line.

    KerneldockError
    ├── UsageError        bad input from the user; nothing was changed
    ├── LocalError        something on this machine (a busy port, a missing program)
    ├── SshError          the SSH hop: host unreachable, authentication refused
    │   └── HostKeyError  the bastion's host key is unknown or changed
    ├── GatewayError      the Kernel Gateway: not running, bad answer
    │   └── TokenError    the gateway refused the token
    ├── KernelError       a kernel: unknown, dead, unanswered request
    │   └── KernelLostError  a kernel's connection went away, naming the hop that went
    └── DebuggerError     the kernel's debugger refused or failed a request
"""

from __future__ import annotations


class KerneldockError(Exception):
    """Base of every error kerneldock shows to a user."""

    hop = "kerneldock"

    def __init__(self, message: str, *, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        text = f"{self.hop}: {self.message}"
        if self.fix:
            text += f" ({self.fix})"
        # One line, whatever the message carried in.
        return " ".join(text.split())


class UsageError(KerneldockError):
    hop = "usage"


class LocalError(KerneldockError):
    hop = "local"


class SshError(KerneldockError):
    hop = "ssh"


class HostKeyError(SshError):
    hop = "host key"


class GatewayError(KerneldockError):
    hop = "gateway"


class TokenError(GatewayError):
    hop = "gateway token"


class KernelError(KerneldockError):
    hop = "kernel"


class KernelLostError(KernelError):
    """Raised by the kernel websocket client when the connection ends under a waiting
    request; ``hop`` says what went away (``ssh``, ``gateway`` or ``kernel``), and callers
    that handle any kernel failure still catch it as a :class:`KernelError`."""

    def __init__(self, hop: str, message: str, fix: str | None = None):
        super().__init__(message, fix=fix)
        self.hop = hop


class DebuggerError(KerneldockError):
    hop = "debugger"
