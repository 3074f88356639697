"""Helpers the tests share: stacks, SSH tunnels, waiting with deadlines."""
