"""Breakpoint lines are marked in test sources with ``# @bp`` (or another tag)."""

from __future__ import annotations


def marked_line(source: str, tag: str = "@bp") -> int:
    """1-based number of the only line of ``source`` that carries ``# <tag>``."""
    lines = [n for n, text in enumerate(source.splitlines(), 1) if text.rstrip().endswith(f"# {tag}")]
    assert len(lines) == 1, f"expected one line marked {tag}, found {lines}"
    return lines[0]
