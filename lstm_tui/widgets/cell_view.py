"""CellView: the LSTM cell of the selected unit, with this step's values on its wires.

c_t-1 → ×f → + i·g → c_t → tanh → ×o → h_t, gates fed from [h_t-1, x_t];
in the reverse direction the previous step is t+1, and the labels say c_t+1, h_t+1;
peephole wires and the projection appear when the model has them. The
drawing is the pure CellDiagram renderable; this widget only gathers the
unit's numbers from the trace.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.segment import Segment
from rich.text import Text
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from lstm_engine import REGISTRY

from ..renderables.cell_diagram import CellDiagram, CellValues
from ..source import Source
from ..stepdata import TraceData, scales
from ..text import display
from ._lines import StripLines

#: The registry quantities on the diagram's wires.
WIRES = ("c_prev", "f", "i", "g", "o", "kept", "written", "c", "tanh_c", "h_cell")


def cell_values(source: Source, layer: int, direction: int, t: int, unit: int) -> CellValues:
    """Everything the diagram shows for one unit at one step, from the engine's values."""
    tr = source.trace
    if not 0 <= t < tr.T:
        raise IndexError(f"step {t} is outside the trace (0..{tr.T - 1})")
    v = {q: float(a[0, unit]) for q, a in tr.windows(WIRES, layer, direction, t, t + 1).items()}
    projected = source.projected
    h = None if projected else float(tr.value("h", layer, direction, t)[unit])
    # a projected LSTM's h_{t-1} is proj_size wide and mixes every unit: no per-unit value
    h_prev = None if projected else float(tr.value("h_prev", layer, direction, t)[unit])
    peephole = None
    spec = tr.spec
    if spec is not None and spec.peephole:
        w = spec.weights[layer][direction]
        peephole = (float(w.p_i[unit]), float(w.p_f[unit]), float(w.p_o[unit]))
    if layer > 0:
        x_label = f"h of layer {layer}"  # layer k+1 reads layer k's h (1-based, as in the header)
    elif tr.tokens is not None:
        x_label = display(tr.tokens[t])  # the file's token: visible stand-ins, no control
    elif tr.x.shape[1] == 1:
        x_label = f"{float(tr.x[t, 0]):+.2f}"  # a one-feature input: show the number itself
    else:
        x_label = f"x{t + 1}"
    return CellValues(
        unit=unit, c_prev=v["c_prev"], f=v["f"], i=v["i"], g=v["g"], o=v["o"],
        kept=v["kept"], written=v["written"], c=v["c"], tanh_c=v["tanh_c"],
        h_cell=v["h_cell"], h=h, x_label=x_label, peephole=peephole, projected=projected,
        h_prev=h_prev, h_to=f"layer {layer + 2}" if layer + 1 < tr.num_layers else "output",
        h_prev_label=REGISTRY["h_prev"].label_for(tr.reads_reversed(direction)),
        c_prev_label=REGISTRY["c_prev"].label_for(tr.reads_reversed(direction)),
    )  # fmt: skip


class CellView(StripLines, Widget):
    """The cell diagram for the selected unit."""

    DEFAULT_CSS = """
    CellView { height: auto; }
    """

    source: reactive[Source | None] = reactive(None)
    t: reactive[int] = reactive(0)
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    unit: reactive[int] = reactive(0)
    data: reactive[TraceData | None] = reactive(None)
    """The view's numbers for this trace: their scales are measured once per trace (and a
    preview's are its parent's), where measuring here would scan the sequence again."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._scale_key: tuple | None = None
        self._scale: dict[str, float] = {}

    def render(self) -> RenderableType:
        if self.source is None:
            return Text("")
        values = cell_values(self.source, self.lstm_layer, self.direction, self.t, self.unit)
        return CellDiagram(values, color=not self.app.no_color, dark=self.app.current_theme.dark,
                           scales=self._scales())  # fmt: skip

    def content_strips(self, width: int, height: int) -> list[Strip] | None:
        diagram = self.render()
        if not isinstance(diagram, CellDiagram):
            return super().content_strips(width, height)
        base = self.rich_style
        # the canvas's glyphs are one cell each: a line's length is its characters
        return [Strip(list(Segment.apply_style(line, base)), sum(len(seg.text) for seg in line))
                .crop_extend(0, width, base) for line in diagram.lines(width)]  # fmt: skip

    def _scales(self) -> dict[str, float]:
        """The unit table's colour scales for the layer and direction, fixed over the whole
        sequence, so a colour on a wire means the same size at every step, for every unit
        and in the table, as the help says."""
        key = (self.source, self.lstm_layer, self.direction)
        if self._scale_key is None or any(a is not b for a, b in zip(key, self._scale_key)):
            data = self.data
            if data is not None and data.difference:
                data = data.plain  # the diagram shows the trace's own values
            if data is not None and data.trace is self.source.trace:
                self._scale = data.scales(self.lstm_layer, self.direction)
            else:
                self._scale = scales(self.source.trace, self.lstm_layer, self.direction)
            self._scale_key = key
        return self._scale
