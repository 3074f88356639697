"""``# %%`` cells of a local Python file, as ``kerneldock run`` executes them."""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = re.compile(r"^\s*#\s*%%")


@dataclass
class Cell:
    number: int            # 1-based position in the file
    start_line: int        # the marker line (or 1 for code before the first marker)
    end_line: int          # last line that belongs to the cell
    first_code_line: int   # file line of the first line of ``code``
    code: str              # leading blank lines removed, so line numbers stay exact

    @property
    def line_offset(self) -> int:
        """File line = cell line + line_offset."""
        return self.first_code_line - 1


def parse_cells(text: str) -> list[Cell]:
    lines = text.splitlines()
    starts = [n for n, line in enumerate(lines, 1) if MARKER.match(line)]
    bounds = []
    if not starts or starts[0] > 1:
        bounds.append((1, (starts[0] - 1) if starts else len(lines), False))
    for i, start in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else len(lines)
        bounds.append((start, end, True))
    cells = []
    for start, end, has_marker in bounds:
        body_start = start + 1 if has_marker else start
        body = lines[body_start - 1:end]
        skipped = 0
        while skipped < len(body) and not body[skipped].strip():
            skipped += 1
        code_lines = body[skipped:]
        while code_lines and not code_lines[-1].strip():
            code_lines.pop()
        if not code_lines:
            continue
        cells.append(Cell(len(cells) + 1, start, end, body_start + skipped, "\n".join(code_lines) + "\n"))
    return cells


def cell_at(cells: list[Cell], line: int) -> Cell | None:
    for cell in cells:
        if cell.start_line <= line <= cell.end_line:
            return cell
    return None
