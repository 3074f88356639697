"""The laptop's Debug Adapter Protocol relay (``kerneldock attach``).

An editor speaks plain DAP to a local TCP port; the relay carries it as Jupyter
``debug_request``/``debug_reply``/``debug_event`` messages to the kernel's own debugger
(ipykernel's, which drives debugpy) over the gateway websocket and the SSH tunnel. So
JupyterLab's visual debugger and the editor share one debugpy session instead of fighting
over its single listener.
"""
