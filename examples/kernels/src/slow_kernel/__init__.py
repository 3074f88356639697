"""An example custom kernel for kerneldock (see examples/README.md)."""

from .kernel import SlowKernel

__all__ = ["SlowKernel"]
