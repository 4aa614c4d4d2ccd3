"""Pure Rich renderables for lstm-tui: no textual imports, testable as plain text.

Widgets in ``lstm_tui.widgets`` stay thin and hand their drawing to these
(the way Textual's Sparkline widget hands off to its Sparkline renderable).
"""

from lstm_tui.renderables.cell_diagram import CellDiagram, CellValues
from lstm_tui.renderables.heatmap import Heatmap
from lstm_tui.renderables.history import UnitHistory, resample
from lstm_tui.renderables.palette import (
    NEG_RAMP,
    OPEN,
    RAMP,
    SHUT,
    Palette,
    bar,
    fmt,
    gate_class,
    gate_color,
    gate_glyph,
    gate_style,
    is_finite,
    legend,
    nonfinite_style,
    ramp_glyph,
    ramps,
    signed_color,
    signed_glyph,
    signed_style,
)

__all__ = [
    "CellDiagram",
    "CellValues",
    "Heatmap",
    "UnitHistory",
    "resample",
    "NEG_RAMP",
    "OPEN",
    "RAMP",
    "SHUT",
    "Palette",
    "bar",
    "fmt",
    "gate_class",
    "gate_color",
    "gate_glyph",
    "gate_style",
    "is_finite",
    "legend",
    "nonfinite_style",
    "ramp_glyph",
    "ramps",
    "signed_color",
    "signed_glyph",
    "signed_style",
]
