"""The kernel side: runs inside each kernel process (kernel image).

``python -m kerneldock.kernel -f CONNECTION_FILE`` is the kernelspec's command; it starts
ipykernel exactly as ``ipykernel_launcher`` would.
"""
