"""The kernel's own log file, and switching its level at run time.

Called by the launcher before the kernel starts: log records of the kernel process (root
logger and ipykernel's application logger) also go to ``<connection file>.log``, which the
gateway serves at ``/api/kerneldock/kernels/ID/log`` (``kerneldock logs``). On SIGUSR1 the
kernel reads the wanted level from ``<connection file>.loglevel`` (written by the gateway).
"""

from __future__ import annotations

import logging
import signal

from ..common.kerneldev import LOG_SUFFIX, LOGLEVEL_SUFFIX

LOGGERS = ("", "IPKernelApp", "ipykernel")


def install(connection_file: str) -> None:
    """Called by the launcher after ipykernel's app has configured its logging (which
    replaces the handlers of its logger), before the kernel starts serving."""
    handler = logging.FileHandler(connection_file + LOG_SUFFIX)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(levelname)s[%(asctime)s] %(name)s: %(message)s",
                                           "%Y-%m-%dT%H:%M:%S"))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)

    def switch_level(signum, frame):
        try:
            with open(connection_file + LOGLEVEL_SUFFIX) as f:
                level = f.read().strip().upper()
        except OSError:
            return
        if level in ("DEBUG", "INFO", "WARNING", "ERROR"):
            handler.setLevel(level)
            for name in LOGGERS:
                logger = logging.getLogger(name)
                if logger.getEffectiveLevel() > handler.level:
                    logger.setLevel(level)
            logging.getLogger("kerneldock").warning("kernel log level set to %s", level)

    signal.signal(signal.SIGUSR1, switch_level)
