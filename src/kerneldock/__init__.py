"""kerneldock: step-debug Jupyter kernels that run in containers on another machine.

Code is split by where it runs:

- ``kerneldock.kernel``: inside the kernel process (in the kernel image).
- ``kerneldock.gateway``: inside the Kernel Gateway process (in the gateway image).
- ``kerneldock.laptop``: on the user's machine (the ``kerneldock`` command).
- ``kerneldock.common``: what all three share; imports nothing heavy.
"""

__version__ = "0.1.0"
