"""Pieces shared by the kernel, gateway and laptop sides. Standard library only."""
