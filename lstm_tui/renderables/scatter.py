"""A braille scatter plot of points in the unit square, as Karpathy et al. (2015) plot gate saturation.

Each cell holds 2×4 braille dots, so a `width` × `height` plot has 2·width ×
4·height dot positions: x = the fraction of steps a gate is left-saturated
(< 0.1), y = the fraction right-saturated (> 0.9). Every point lies on or below
the diagonal x + y = 1 (left a blank: a drawn rule reads as points); a gate unit in the top-left
corner is a switch held open, in the bottom-right one held shut, near the
origin a gate that is never saturated. One unit (the selected one) can be
marked: its cell is drawn in the marked style, so it shows without colour as
bold. Plain Rich Text, tested as text.
"""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text

#: Dot bits of a braille cell, by (column, row) within the cell.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_BRAILLE = 0x2800


def scatter_cells(xs: np.ndarray, ys: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width) braille bit masks of points (xs, ys) in [0, 1]², y up. NaNs are left out."""
    bits = np.zeros((height, width), np.int64)
    ok = np.isfinite(xs) & np.isfinite(ys)
    px = np.clip(np.round(np.asarray(xs)[ok] * (2 * width - 1)).astype(int), 0, 2 * width - 1)
    py = np.clip(np.round((1 - np.asarray(ys)[ok]) * (4 * height - 1)).astype(int), 0, 4 * height - 1)
    for x, y in zip(px.tolist(), py.tolist()):
        bits[y // 4, x // 2] |= _DOTS[x % 2][y % 4]
    return bits


def cell_of(x: float, y: float, width: int, height: int) -> tuple[int, int] | None:
    """(row, column) of the cell that holds the point (x, y), None for a NaN."""
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    px = min(max(int(round(x * (2 * width - 1))), 0), 2 * width - 1)
    py = min(max(int(round((1 - y) * (4 * height - 1))), 0), 4 * height - 1)
    return py // 4, px // 2


def scatter(xs: np.ndarray, ys: np.ndarray, width: int, height: int, *, title: str = "",
            mark: int | None = None, dot: Style = Style(), marked: Style = Style(bold=True),
            axis: Style = Style(dim=True)) -> list[Text]:  # fmt: skip
    """The plot as `height + 2` lines of `width + 2` cells: a title, the plot with a y axis
    (right-saturated ↑), an x axis (left-saturated →). `mark` is the index of the point to mark."""
    bits = scatter_cells(xs, ys, width, height)
    at = cell_of(float(xs[mark]), float(ys[mark]), width, height) if mark is not None else None
    lines = [Text(title[: width + 2].ljust(width + 2), axis)]
    for r in range(height):
        line = Text("1" if r == 0 else "│", axis)
        for c in range(width):
            b = int(bits[r, c])
            if b:
                line.append(chr(_BRAILLE + b), marked if (r, c) == at else dot)
            else:
                line.append(" ", axis)
        lines.append(line)
    lines.append(Text("0" + "└" + "─" * (width - 2) + "1", axis))
    return lines
