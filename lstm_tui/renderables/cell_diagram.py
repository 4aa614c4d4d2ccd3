"""The LSTM cell of colah's "Understanding LSTMs" (and of the seed article),
drawn in box-drawing characters with the live numbers of one unit on its wires.

This is the panel where the seed's explanation happens: the cell state runs
along the top like a conveyor belt, the forget gate multiplies it
(``kept = f·c_{t-1}``), the input gate adds ``written = i·g``, and the output
gate lets ``tanh(c_t)`` out as ``h_t``. Every number comes from a
:class:`CellValues` the screen filled from the engine; nothing is computed here
except the peephole contributions ``p·c`` (which is what the gate actually saw).

Full layout (65×14; peephole wires and the projection fit in the same box)::

    c_t-1            kept                              c_t
    +1.73 ━━━━━━(×)━ +1.72 ━━━━━━(+)━━━━━━━━━━━━━━━┳━━ +1.46
                 ┃        written ┃                ┃
                 ┃ keeps    -0.26 ┃            ╭───┸───╮
                 ┃          ┏━━━━(×)━━━━┓      │ tanh  │ +0.90
                 ┃          ┃           ┃      ╰───┰───╯
                 ┃          ┃           ┃          ┃ h_t +0.73
                 ┃          ┃           ┃         (×)━━━━┳▶ output
             ╭───┸───╮  ╭───┸───╮   ╭───┸───╮  ╭───┸───╮ ┗▶ next step
             │  σ f  │  │  σ i  │   │tanh g │  │  σ o  │
             │  0.99 │  │  0.41 │   │ -0.63 │  │  0.81 │
    h_t-1    ╰───┰───╯  ╰───┰───╯   ╰───┰───╯  ╰───┰───╯
    -0.42 ━━━━┳━━┻━━━━━━━━━━┻━━━━━━━━━━━┻━━━━━━━━━━┛
    x_t ━━━━━━┛ "fluent"                                       unit 7

The cell's three inputs (c_t-1, h_t-1 and x_t) carry their values, and its
output h_t is drawn going to both of its destinations: the model's output (or
the layer above, `CellValues.h_to`) and the next step, which reads it as its
h_t-1.

A gate at saturation gets a word beside its wire: f ≥ 0.98 "keeps", f ≤ 0.02
"forgets"; i "writes" / "blocks". That is the seed's France example, read off
the diagram.

Peepholes add dashed wires (╎ ╌) from the belt: c_t-1 into the sides of the f
and i boxes, the new c_t into o, each labelled with the term the gate receives
(p_f·c_t-1, p_i·c_t-1, p_o·c_t); the unit's weights p are listed, uncut and
at one precision, on a row below.

The reverse direction of a bidirectional LSTM reads right to left: its
previous state is c_t+1 / h_t+1, and the labels say so (CellValues.c_prev_label,
h_prev_label). A projection replaces the h_t number with h_cell and says that
h_t (proj) = W_hr·h_cell is what both destinations get.

Colours: every number is coloured on the scale `scales` gives it, the unit
table's, fixed over the whole sequence of the layer and direction.

From ``LARGE_WIDTH`` columns the same drawing is larger (gates further apart,
taller wires, each box naming its gate: forget, input, candidate, output).
Below ``COMPACT_BELOW`` columns the diagram switches to a compact form (the
same wires and names, without the boxes) that fits in 38 columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from lstm_tui.renderables._canvas import Canvas
from lstm_tui.renderables.palette import fmt, gate_class, gate_style, is_finite, signed_style

__all__ = ["CellValues", "CellDiagram", "FULL_WIDTH", "LARGE_WIDTH", "COMPACT_WIDTH",
           "COMPACT_BELOW", "geometry_rows"]


@dataclass(frozen=True)
class _Geometry:
    """Where the full diagram's parts go: gate centres F, I, G, O (M: the i·g product),
    the gate boxes' half width and rows, and the columns the drawing takes."""

    F: int
    I: int  # noqa: E741 - the input gate, as in the equations
    M: int
    G: int
    O: int  # noqa: E741
    half: int
    box_top: int
    box_bottom: int

    @property
    def width(self) -> int:
        return self.dest + 12  # "┗▶ next step" after the output gate

    @property
    def dest(self) -> int:
        """The column where h_t forks to its two destinations, clear of the o box."""
        return self.O + self.half + 2

    @property
    def rows(self) -> int:
        return self.box_bottom + 3


def _geometry(large: bool) -> _Geometry:
    """The wide diagram (gates 11–12 columns apart, 4-row boxes) or the large one, whose
    gates are further apart, whose boxes name the gate ("forget", "candidate", ...) and
    whose wires are taller."""
    if not large:
        return _Geometry(F=13, I=24, M=30, G=36, O=47, half=4, box_top=8, box_bottom=11)
    return _Geometry(F=14, I=29, M=36, G=44, O=59, half=5, box_top=10, box_bottom=14)


#: Columns the full diagram needs.
FULL_WIDTH = _geometry(False).width
#: Columns the large diagram needs (from there on it is drawn).
LARGE_WIDTH = _geometry(True).width
#: Columns the compact diagram needs.
COMPACT_WIDTH = 38
#: Below this many columns the compact form is drawn.
COMPACT_BELOW = FULL_WIDTH


def geometry_rows(width: int, peephole: bool = False, projected: bool = False) -> int:
    """Rows the diagram takes in `width` columns (what the layout plans around)."""
    if width >= COMPACT_BELOW:
        return _geometry(width >= LARGE_WIDTH).rows + (1 if peephole else 0)
    return 9 + (1 if peephole else 0) + (1 if projected else 0)


@dataclass(frozen=True)
class CellValues:
    """One unit's numbers at one timestep: everything the diagram writes on its wires.

    ``h`` is None when the LSTM has a projection (``proj_size > 0``): then h_t =
    W_hr·h_cell mixes all units and has no per-unit value; the diagram shows
    ``h_cell`` (= o·tanh c_t) and the projection step instead.
    """

    unit: int
    c_prev: float
    f: float
    i: float
    g: float
    o: float
    kept: float
    written: float
    c: float
    tanh_c: float
    h_cell: float
    h: float | None
    x_label: str = "x_t"
    #: h_{t-1} of this unit (None for a projected LSTM, whose h_{t-1} mixes every unit).
    h_prev: float | None = None
    #: Where h_t goes besides the next step: the model's "output" (its head), or the
    #: layer above ("layer 2").
    h_to: str = "output"
    h_prev_label: str = "h_t-1"
    #: "c_t+1" / "h_t+1" in the reverse direction, whose previous step is t + 1.
    c_prev_label: str = "c_t-1"
    peephole: tuple[float, float, float] | None = None  # this unit's (p_i, p_f, p_o)
    projected: bool = False


@dataclass(frozen=True)
class _Ink:
    """The non-value styles of the drawing for one theme / colour mode."""

    belt: Style
    wire: Style
    peep: Style
    op: Style
    gate: Style
    label: Style
    token: Style
    base: Style


def _ink(color: bool, dark: bool) -> _Ink:
    if not color:
        return _Ink(
            belt=Style(bold=True),
            # explicit False attributes keep wires in their own segments (distinct
            # from blank cells), which keeps SVG exports of the plain drawing aligned
            wire=Style(bold=False),
            peep=Style(dim=True),
            op=Style(bold=True),
            gate=Style(italic=False),
            label=Style(italic=True),
            token=Style(bold=True),
            base=Style(),
        )
    if dark:
        return _Ink(
            belt=Style(color="#d0d0d0", bold=True),
            wire=Style(color="#8a8a8a"),
            peep=Style(color="#af87d7"),
            op=Style(color="#ff87af", bold=True),
            gate=Style(color="#d7af5f"),
            label=Style(color="#a8a8a8", italic=True),
            token=Style(color="#ffffff", bold=True),
            base=Style(),
        )
    return _Ink(
        belt=Style(color="#262626", bold=True),
        wire=Style(color="#6c6c6c"),
        peep=Style(color="#8700af"),
        op=Style(color="#d7005f", bold=True),
        gate=Style(color="#af8700"),
        label=Style(color="#585858", italic=True),
        token=Style(color="#000000", bold=True),
        base=Style(),
    )


class CellDiagram:
    """A Rich renderable: the LSTM cell for one unit with its live values.

    Args:
        values: the numbers to draw.
        color: False draws without colour (bold/italic only; the numbers and the
            glyphs carry everything). A console without colour drops colour anyway.
        dark: the terminal background is dark (True) or light.
        digits: decimals for every number.
        scales: |value| that gets full colour intensity, per quantity (the unit
            table's, `stepdata.scales`: fixed over the whole sequence of the layer
            and direction), so a colour on a wire means the size it means in the
            table at every step and for every unit. A peephole term p·c is coloured
            on c's scale times |p|. Missing quantities: `c_scale` for the cell-state
            numbers (c_{t-1}, kept, c_t), 1 for the rest.
        c_scale: the cell-state numbers' scale when `scales` does not give one;
            default: max(1, the largest of them at this step).
    """

    def __init__(
        self,
        values: CellValues,
        *,
        color: bool = True,
        dark: bool = True,
        digits: int = 2,
        scales: Mapping[str, float] | None = None,
        c_scale: float | None = None,
    ):
        self.values = values
        self.color = color
        self.dark = dark
        self.digits = digits
        self.scales = dict(scales or {})
        self.c_scale = c_scale

    # ------------------------------------------------------------ styles

    def _c_scale(self) -> float:
        if self.c_scale is not None and is_finite(self.c_scale) and self.c_scale > 0:
            return self.c_scale
        v = self.values
        mags = [abs(x) for x in (v.c_prev, v.c, v.kept) if is_finite(x)]
        return max([1.0, *mags])

    def _scale(self, quantity: str) -> float:
        """The colour scale of one quantity on the wires (see `scales`)."""
        given = self.scales.get(quantity)
        if given is not None and is_finite(given) and given > 0:
            return given
        return self._c_scale() if quantity in ("c_prev", "kept", "c") else 1.0

    def _gate(self, x: float) -> tuple[str, Style]:
        st = gate_style(x, dark=self.dark)
        return fmt(x, signed=False, digits=self.digits), (st if self.color else _mono(st))

    def _signed(self, x: float | None, quantity: str, factor: float = 1.0) -> tuple[str, Style]:
        """A signed number on a wire, coloured on `quantity`'s scale (times `factor`: a
        peephole term p·c is |p| times c's scale)."""
        if x is None:
            return fmt(None), Style(dim=True)
        scale = self._scale(quantity) * factor if factor > 0 else self._scale(quantity)
        st = signed_style(x, scale, dark=self.dark)
        return fmt(x, signed=True, digits=self.digits), (st if self.color else _mono(st))

    def _caption(self, gate: float) -> Style:
        st = gate_style(gate, dark=self.dark)
        return Style(color=st.color if self.color else None, italic=True)

    # ------------------------------------------------------------ layouts

    def _full(self, large: bool = False) -> Canvas:
        v = self.values
        ink = _ink(self.color, self.dark)
        peep = v.peephole is not None
        g = _geometry(large)
        bw = g.half  # a gate box spans cx - bw .. cx + bw
        F, I, M, G, O = g.F, g.I, g.M, g.G, g.O
        PF, PI, PO = F - bw - 2, I - bw - 1, O - bw - 2  # where the peepholes run down
        BT, BB = g.box_top, g.box_bottom
        HX = BT - 1  # the row of the output gate's (×) and of h_t leaving it
        BUS = BB + 1  # the [h_{t-1}, x_t] bus
        XIN = F - 3  # where x_t joins the bus
        DEST = g.dest  # where h_t forks to its two destinations
        cv = Canvas(g.width, BUS + 2 + (1 if peep else 0), ink.base)

        # --- the conveyor belt (row 1) and its labels (row 0)
        cv.put(0, 0, v.c_prev_label, ink.label)
        s, st = self._signed(v.c_prev, "c_prev")
        x = cv.put(0, 1, s, st) + 1
        cv.hline(x, F - 2, 1, "━", ink.belt)
        cv.put(F - 1, 1, "(×)", ink.op)
        cv.put(F + 2, 1, "━", ink.belt)
        s, st = self._signed(v.kept, "kept")
        cv.put(F + 4, 0, "kept", ink.label)
        x = cv.put(F + 4, 1, s, st) + 1
        cv.hline(x, M - 2, 1, "━", ink.belt)
        cv.put(M - 1, 1, "(+)", ink.op)
        cv.hline(M + 2, O + 2, 1, "━", ink.belt)
        cv.put(O, 1, "┳", ink.belt)
        s, st = self._signed(v.c, "c")
        cv.put(O + 4, 0, "c_t", ink.label)
        cv.put(O + 4, 1, s, st)

        # --- forget gate: f box up into (×)
        cv.vline(F, 2, BT - 1, "┃", ink.wire)

        # --- input gate and candidate: i (×) g, then up into (+)
        cv.vline(M, 2, 3, "┃", ink.wire)
        cv.put(M - 8, 2, "written", ink.label)
        s, st = self._signed(v.written, "written")
        cv.put(M - 1 - len(s), 3, s, st)
        cv.put(I, 4, "┏", ink.wire)
        cv.hline(I + 1, M - 2, 4, "━", ink.wire)
        cv.put(M - 1, 4, "(×)", ink.op)
        cv.hline(M + 2, G - 1, 4, "━", ink.wire)
        cv.put(G, 4, "┓", ink.wire)
        cv.vline(I, 5, BT - 1, "┃", ink.wire)
        cv.vline(G, 5, BT - 1, "┃", ink.wire)

        # --- saturated gates say what they are doing, in words (the seed's story)
        verdict = _verdict(v.f, "keeps", "forgets")
        if verdict:
            cv.put(F + 2, 3, verdict, self._caption(v.f))
        verdict = _verdict(v.i, "writes", "blocks")
        if verdict:
            cv.put(I + 2, 6, verdict, self._caption(v.i))

        # --- output: c_t → tanh → (×) o → h_t, which goes to two places
        cv.put(O, 2, "┃", ink.wire)
        cv.box(O - 4, 3, O + 4, 5, ink.gate)
        cv.put(O, 3, "┸", ink.gate)
        cv.put(O, 5, "┰", ink.gate)
        cv.put(O - 2, 4, "tanh", ink.gate)
        s, st = self._signed(v.tanh_c, "tanh_c")
        cv.put(O + 6, 4, s, st)
        cv.vline(O, 6, HX - 1, "┃", ink.wire)
        cv.put(O - 1, HX, "(×)", ink.op)
        if v.projected:
            # h_t = W_hr·h_cell mixes every unit's h_cell: no per-unit h_t to show
            cv.put(O + 2, HX - 1, "h_cell", ink.label)
            s, st = self._signed(v.h_cell, "h")
            cv.put(O + 9, HX - 1, s, st)
            cv.put(DEST - 1, BT + 1, "h_t (proj)", ink.label)
            cv.put(DEST - 1, BT + 2, "= W_hr·h_cell", ink.op)
        else:
            cv.put(O + 2, HX - 1, "h_t", ink.label)
            s, st = self._signed(v.h, "h")
            cv.put(O + 6, HX - 1, s, st)
        cv.hline(O + 2, DEST - 1, HX, "━", ink.wire)
        cv.put(DEST, HX, "┳", ink.wire)
        cv.put(DEST + 1, HX, "▶", ink.wire)
        cv.put(DEST + 3, HX, v.h_to, ink.label)
        cv.put(DEST, BT, "┗", ink.wire)
        cv.put(DEST + 1, BT, "▶", ink.wire)
        cv.put(DEST + 3, BT, "next step", ink.label)

        # --- the four gates
        for cx, name, fn, word in ((F, "f", "σ", "forget"), (I, "i", "σ", "input"),
                                   (G, "g", "tanh", "candidate"), (O, "o", "σ", "output")):
            cv.box(cx - bw, BT, cx + bw, BB, ink.gate)
            cv.put(cx, BT, "┸", ink.gate)
            cv.put(cx, BB, "┰", ink.gate)
            label = f"{fn} {name}"
            cv.put(cx - len(label) // 2, BT + 1, fn, ink.gate)
            cv.put(cx - len(label) // 2 + len(fn) + 1, BT + 1, name, ink.token)
            if large:  # room to say what the gate is
                cv.put(cx - len(word) // 2, BT + 2, word, ink.label)
            val = getattr(v, name)
            s, st = self._signed(val, "g") if name == "g" else self._gate(val)
            cv.put(cx - (len(s) - 1) // 2, BB - 1, s, st)

        # --- peepholes: c_{t-1} into f and i, c_t into o (dashed), each labelled with
        # the term the gate receives (p·c); the weights p on a row of their own below
        if peep:
            p_i, p_f, p_o = v.peephole  # type: ignore[misc]
            PR = BT + 1  # row where the peephole enters the box side
            cv.put(PF, 1, "┯", ink.belt)
            cv.vline(PF, 2, PR - 1, "╎", ink.peep)
            cv.put(PF, PR, "└", ink.peep)
            cv.hline(PF + 1, F - bw - 1, PR, "╌", ink.peep)
            cv.put(F - bw, PR, "┤", ink.gate)
            cv.put(0, 4, "p_f·c", ink.peep)
            s, st = self._signed(p_f * v.c_prev, "c_prev", abs(p_f))
            cv.put(0, 5, s, st)
            # c_{t-1} also into i, crossing the f wire
            cv.put(PF, 6, "├", ink.peep)
            cv.hline(PF + 1, PI - 1, 6, "╌", ink.peep)
            cv.put(F, 6, "╂", ink.wire)
            cv.put(PI, 6, "┐", ink.peep)
            cv.vline(PI, 7, PR - 1, "╎", ink.peep)
            cv.put(PI, PR, "└", ink.peep)
            if PI + 1 <= I - bw - 1:
                cv.hline(PI + 1, I - bw - 1, PR, "╌", ink.peep)
            cv.put(I - bw, PR, "┤", ink.gate)
            cv.put(F + 2, 4, "p_i·c", ink.peep)
            s, st = self._signed(p_i * v.c_prev, "c_prev", abs(p_i))
            cv.put(F + 2, 5, s, st)
            # the new c_t into o
            cv.put(PO, 1, "┯", ink.belt)
            cv.vline(PO, 2, PR - 1, "╎", ink.peep)
            cv.put(PO, PR, "└", ink.peep)
            cv.hline(PO + 1, O - bw - 1, PR, "╌", ink.peep)
            cv.put(O - bw, PR, "┤", ink.gate)
            cv.put(PO - 6, 2, "p_o·c", ink.peep)
            s, st = self._signed(p_o * v.c, "c", abs(p_o))
            cv.put(PO - len(s), 3, s, st)
            # the unit's weights, one precision, uncut
            x = cv.put(0, BUS + 2, "peephole weights", ink.label) + 2
            for name, p in (("p_f", p_f), ("p_i", p_i), ("p_o", p_o)):
                x = cv.put(x, BUS + 2, name, ink.peep) + 1
                s, st = self._signed(p, "peephole")
                x = cv.put(x, BUS + 2, s, st) + 2

        # --- the input bus [h_{t-1}, x_t]: h_{t-1} with its value, as c_{t-1} has it
        hl = v.h_prev_label
        if v.h_prev is not None:
            cv.put(0, BUS - 1, hl, ink.label)
            s, st = self._signed(v.h_prev, "h_prev")
            start = cv.put(0, BUS, s, st) + 1
        else:
            start = cv.put(0, BUS, hl, ink.label) + 1
        cv.hline(start, O - 1, BUS, "━", ink.wire)
        for cx in (F, I, G):
            cv.put(cx, BUS, "┻", ink.wire)
        cv.put(O, BUS, "┛", ink.wire)
        cv.put(XIN, BUS, "┳", ink.wire)
        cv.put(0, BUS + 1, "x_t", ink.label)
        cv.hline(4, XIN - 1, BUS + 1, "━", ink.wire)
        cv.put(XIN, BUS + 1, "┛", ink.wire)
        tok = _quote(v.x_label, O - XIN - 3)
        cv.put(XIN + 2, BUS + 1, tok, ink.token)
        unit = f"unit {v.unit}"
        cv.put(g.width - len(unit), BUS + 1, unit, ink.label)
        return cv

    def _compact(self) -> Canvas:
        """≈38×9: the wide diagram's wires and names, without the boxes::

            c_t-1       kept        c_t
            +1.23 ━(×)━ +1.23 ━(+)━ +1.59
                    ┃    written ┃
               σ f 0.99    +0.36 ┃
                    σ i 0.40 ━━(×)━━ tanh g +0.90
            c_t ━ tanh +0.92 ━(×)━ +0.74 h_t
                               ┃      ┣▶ output
                          σ o 0.81    ┗▶ next step
            gates read h_t-1 +0.12, x_t "France"
        """
        v = self.values
        ink = _ink(self.color, self.dark)
        peep = v.peephole is not None
        rows = 9 + (1 if peep else 0) + (1 if v.projected else 0)
        cv = Canvas(COMPACT_WIDTH, rows, ink.base)

        # rows 0-1: the belt, labelled as in the wide diagram
        cv.put(0, 0, v.c_prev_label, ink.label)
        s, st = self._signed(v.c_prev, "c_prev")
        x = cv.put(0, 1, s, st) + 1
        cv.put(x, 1, "━", ink.belt)
        F = x + 2
        cv.put(F - 1, 1, "(×)", ink.op)
        cv.put(F + 2, 1, "━", ink.belt)
        s, st = self._signed(v.kept, "kept")
        cv.put(F + 4, 0, "kept", ink.label)
        x = cv.put(F + 4, 1, s, st) + 1
        cv.put(x, 1, "━", ink.belt)
        M = x + 2
        cv.put(M - 1, 1, "(+)", ink.op)
        cv.put(M + 2, 1, "━", ink.belt)
        s, st = self._signed(v.c, "c")
        cv.put(M + 4, 0, "c_t", ink.label)
        cv.put(M + 4, 1, s, st)

        # the forget gate under its (×), with the wide diagram's word when it saturates
        cv.put(F, 2, "┃", ink.wire)
        s, st = self._gate(v.f)
        cv.put(F - 3, 3, "σ", ink.gate)
        cv.put(F - 1, 3, "f", ink.token)
        x = cv.put(F + 1, 3, s, st) + 1
        verdict = _verdict(v.f, "keeps", "forgets")
        if verdict and x + len(verdict) < M:
            cv.put(x, 3, verdict, self._caption(v.f))
        # written = i·g rises into (+)
        cv.vline(M, 2, 3, "┃", ink.wire)
        x = cv.put(M + 2, 2, "written", ink.label) + 1
        s, st = self._signed(v.written, "written")
        cv.put(x, 2, s, st)
        cv.put(M - 1, 4, "(×)", ink.op)
        cv.put(M - 2, 4, "━", ink.wire)
        cv.put(M + 2, 4, "━", ink.wire)
        s, st = self._gate(v.i)
        cv.put(M - 3 - len(s), 4, s, st)
        cv.put(M - 5 - len(s), 4, "i", ink.token)
        cv.put(M - 7 - len(s), 4, "σ", ink.gate)
        cv.put(M + 4, 4, "tanh", ink.gate)
        cv.put(M + 9, 4, "g", ink.token)
        s, st = self._signed(v.g, "g")
        cv.put(M + 11, 4, s, st)

        # output: c_t ━ tanh ━(×)━ h_t, with o under the (×); h_t forks to two places
        cv.put(0, 5, "c_t", ink.label)
        cv.put(4, 5, "━", ink.wire)
        cv.put(6, 5, "tanh", ink.gate)
        s, st = self._signed(v.tanh_c, "tanh_c")
        x = cv.put(11, 5, s, st) + 1
        cv.put(x, 5, "━", ink.wire)
        OX = x + 2
        cv.put(OX - 1, 5, "(×)", ink.op)
        cv.put(OX + 2, 5, "━", ink.wire)
        cv.put(OX, 6, "┃", ink.wire)
        s, st = self._gate(v.o)
        cv.put(OX - 3, 7, "σ", ink.gate)
        cv.put(OX - 1, 7, "o", ink.token)
        cv.put(OX + 1, 7, s, st)
        name, value = ("h_cell", v.h_cell) if v.projected else ("h_t", v.h)
        s, st = self._signed(value, "h")
        x = cv.put(OX + 4, 5, s, st) + 1
        cv.put(x, 5, name, ink.label)
        D = OX + 6  # under h_t's number
        cv.put(D, 6, "┣", ink.wire)
        cv.put(D + 1, 6, "▶", ink.wire)
        cv.put(D + 3, 6, v.h_to, ink.label)
        cv.put(D, 7, "┗", ink.wire)
        cv.put(D + 1, 7, "▶", ink.wire)
        cv.put(D + 3, 7, "next step", ink.label)

        row = 8
        if v.projected:
            cv.put(0, row, "each gets h_t = W_hr·h_cell (proj)", ink.label)
            row += 1
        if peep:
            p_i, p_f, p_o = v.peephole  # type: ignore[misc]
            x = 0
            for name, term, scale in (("pf·c", p_f * v.c_prev, ("c_prev", abs(p_f))),
                                      ("pi·c", p_i * v.c_prev, ("c_prev", abs(p_i))),
                                      ("po·c", p_o * v.c, ("c", abs(p_o)))):  # fmt: skip
                x = cv.put(x, row, name, ink.peep) + 1
                s, st = self._signed(term, *scale)
                x = cv.put(x, row, s, st) + 1
            row += 1
        # the bus: what every gate reads
        x = cv.put(0, row, "gates read ", ink.label)
        x = cv.put(x, row, v.h_prev_label, ink.label)
        if v.h_prev is not None:
            s, st = self._signed(v.h_prev, "h_prev")
            x = cv.put(x + 1, row, s, st)
        x = cv.put(x, row, ", x_t ", ink.label)
        cv.put(x, row, _quote(v.x_label, COMPACT_WIDTH - x), ink.token)
        return cv

    # ------------------------------------------------------------ Rich protocol

    def lines(self, width: int) -> list[list[Segment]]:
        """The drawing for `width` cells (its layout chosen by the width), one list of
        Segments per line, none wider than `width`."""
        if width >= LARGE_WIDTH:
            cv = self._full(large=True)
        elif width >= COMPACT_BELOW:
            cv = self._full()
        else:
            cv = self._compact()
        return cv.lines(min(width, cv.width))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # every line ends in a newline: Textual sizes `height: auto` by counting them
        for line in self.lines(options.max_width):
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = options.max_width
        return Measurement(min(COMPACT_WIDTH, width), min(LARGE_WIDTH, width))


def _verdict(gate: float, open_word: str, shut_word: str) -> str:
    """A word for a saturated gate ("keeps" for f ≈ 1), nothing for a mid value."""
    cls = gate_class(gate)
    return open_word if cls == "open" else shut_word if cls == "shut" else ""


def _mono(st: Style) -> Style:
    """Keep the attributes of a palette style but none of its colours."""
    return Style(
        bold=st.bold, italic=st.italic, underline=st.underline, reverse=bool(st.bgcolor) or None
    )


def _quote(token: str, room: int) -> str:
    """The token in quotes, cut with an ellipsis to fit ``room`` cells."""
    q = f'"{token}"'
    if room <= 2:
        return ""
    if len(q) <= room:
        return q
    return q[: room - 2] + '…"'
