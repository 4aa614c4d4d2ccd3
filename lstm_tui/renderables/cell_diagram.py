"""The LSTM cell of colah's "Understanding LSTMs" (and of the seed article),
drawn in box-drawing characters with the live numbers of one unit on its wires.

This is the panel where the seed's explanation happens: the cell state runs
along the top like a conveyor belt, the forget gate multiplies it
(``kept = f·c_{t-1}``), the input gate adds ``written = i·g``, and the output
gate lets ``tanh(c_t)`` out as ``h_t``. Every number comes from a
:class:`CellValues` the screen filled from the engine; nothing is computed here
except the peephole contributions ``p·c`` (which is what the gate actually saw).

Full layout (60×14; peephole wires and the projection fit in the same box)::

    c_t-1            kept                              c_t
    +1.23 ━━━━━━(×)━ +1.23 ━━━━━━(+)━━━━━━━━━━━━━━━┳━━ +1.59
                 ┃        written ┃                ┃
                 ┃          +0.36 ┃            ╭───┸───╮
                 ┃          ┏━━━━(×)━━━━┓      │ tanh  │ +0.92
                 ┃          ┃           ┃      ╰───┰───╯
                 ┃          ┃           ┃          ┃    h_t
                 ┃          ┃           ┃         (×)━━ +0.74
             ╭───┸───╮  ╭───┸───╮   ╭───┸───╮  ╭───┸───╮
             │  σ f  │  │  σ i  │   │tanh g │  │  σ o  │
             │  0.99 │  │  0.40 │   │ +0.90 │  │  0.81 │
             ╰───┰───╯  ╰───┰───╯   ╰───┰───╯  ╰───┰───╯
    h_t-1 ━━━━┳━━┻━━━━━━━━━━┻━━━━━━━━━━━┻━━━━━━━━━━┛
    x_t ━━━━━━┛ "ate"                                    unit 12

A gate at saturation gets a word beside its wire: f ≥ 0.98 "keeps", f ≤ 0.02
"forgets"; i "writes" / "blocks". That is the seed's France example, read off
the diagram.

Peepholes add dashed wires (╎ ╌) from the belt: c_t-1 into the sides of the f
and i boxes, the new c_t into o, each labelled with the term the gate receives
(p_f·c_t-1, p_i·c_t-1, p_o·c_t) and, dimmer, the unit's weight p.

The reverse direction of a bidirectional LSTM reads right to left: its
previous state is c_t+1 / h_t+1, and the labels say so (CellValues.c_prev_label,
h_prev_label). A
projection replaces the h_t number with ``h_cell → ×W_hr → h_t (proj)``.

Below ``COMPACT_BELOW`` columns the diagram switches to a compact form (the belt
and the three gate effects on it, no boxes) that fits in ≈36 columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from lstm_tui.renderables._canvas import Canvas
from lstm_tui.renderables.palette import fmt, gate_class, gate_style, is_finite, signed_style

__all__ = ["CellValues", "CellDiagram", "FULL_WIDTH", "COMPACT_WIDTH", "COMPACT_BELOW"]

#: Columns the full diagram needs.
FULL_WIDTH = 60
#: Columns the compact diagram needs.
COMPACT_WIDTH = 36
#: Below this many columns the compact form is drawn.
COMPACT_BELOW = FULL_WIDTH


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
        c_scale: |c| that gets full colour intensity on the cell-state numbers
            (c_{t-1}, kept, written, c_t). Pass the layer's max |c| so colours
            agree with the unit table; default: max(1, the largest of the four).
            Bounded quantities (g, tanh c, h, p) always use scale 1.
    """

    def __init__(
        self,
        values: CellValues,
        *,
        color: bool = True,
        dark: bool = True,
        digits: int = 2,
        c_scale: float | None = None,
    ):
        self.values = values
        self.color = color
        self.dark = dark
        self.digits = digits
        self.c_scale = c_scale

    # ------------------------------------------------------------ styles

    def _c_scale(self) -> float:
        if self.c_scale is not None and is_finite(self.c_scale) and self.c_scale > 0:
            return self.c_scale
        v = self.values
        mags = [abs(x) for x in (v.c_prev, v.c, v.kept, v.written) if is_finite(x)]
        return max([1.0, *mags])

    def _gate(self, x: float) -> tuple[str, Style]:
        st = gate_style(x, dark=self.dark)
        return fmt(x, signed=False, digits=self.digits), (st if self.color else _mono(st))

    def _signed(self, x: float | None, scale: float = 1.0) -> tuple[str, Style]:
        if x is None:
            return fmt(None), Style(dim=True)
        st = signed_style(x, scale, dark=self.dark)
        return fmt(x, signed=True, digits=self.digits), (st if self.color else _mono(st))

    def _caption(self, gate: float) -> Style:
        st = gate_style(gate, dark=self.dark)
        return Style(color=st.color if self.color else None, italic=True)

    # ------------------------------------------------------------ layouts

    def _full(self) -> Canvas:
        v = self.values
        ink = _ink(self.color, self.dark)
        peep = v.peephole is not None
        H = 14
        cv = Canvas(FULL_WIDTH, H, ink.base)
        cs = self._c_scale()

        # columns: gate centres, the two belt operations, side routes
        PF, F, PI, I, M, G, PO, O = 7, 13, 19, 24, 30, 36, 41, 47
        BT, BB = 8, 11  # gate box top / bottom rows
        BUS = BB + 1  # the [h_{t-1}, x_t] bus
        XIN = 10  # where x_t joins the bus

        # --- the conveyor belt (row 1) and its labels (row 0)
        cv.put(0, 0, v.c_prev_label, ink.label)
        s, st = self._signed(v.c_prev, cs)
        x = cv.put(0, 1, s, st) + 1
        cv.hline(x, F - 2, 1, "━", ink.belt)
        cv.put(F - 1, 1, "(×)", ink.op)
        cv.put(F + 2, 1, "━", ink.belt)
        s, st = self._signed(v.kept, cs)
        cv.put(F + 4, 0, "kept", ink.label)
        x = cv.put(F + 4, 1, s, st) + 1
        cv.hline(x, M - 2, 1, "━", ink.belt)
        cv.put(M - 1, 1, "(+)", ink.op)
        cv.hline(M + 2, O + 2, 1, "━", ink.belt)
        cv.put(O, 1, "┳", ink.belt)
        s, st = self._signed(v.c, cs)
        cv.put(O + 4, 0, "c_t", ink.label)
        cv.put(O + 4, 1, s, st)

        # --- forget gate: f box up into (×)
        cv.vline(F, 2, BT - 1, "┃", ink.wire)

        # --- input gate and candidate: i (×) g, then up into (+)
        cv.vline(M, 2, 3, "┃", ink.wire)
        cv.put(M - 8, 2, "written", ink.label)
        s, st = self._signed(v.written, cs)
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

        # --- output: c_t → tanh → (×) o → h_t
        cv.put(O, 2, "┃", ink.wire)
        cv.box(O - 4, 3, O + 4, 5, ink.gate)
        cv.put(O, 3, "┸", ink.gate)
        cv.put(O, 5, "┰", ink.gate)
        cv.put(O - 2, 4, "tanh", ink.gate)
        s, st = self._signed(v.tanh_c)
        cv.put(O + 6, 4, s, st)
        cv.put(O, 6, "┃", ink.wire)
        cv.put(O - 1, 7, "(×)", ink.op)
        if v.projected:
            self._projection(cv, ink, O)
        else:
            cv.hline(O + 2, O + 3, 7, "━", ink.wire)
            cv.put(O + 5, 6, "h_t", ink.label)
            s, st = self._signed(v.h)
            cv.put(O + 5, 7, s, st)

        # --- the four gates
        for cx, name, fn in ((F, "f", "σ"), (I, "i", "σ"), (G, "g", "tanh"), (O, "o", "σ")):
            cv.box(cx - 4, BT, cx + 4, BB, ink.gate)
            cv.put(cx, BT, "┸", ink.gate)
            cv.put(cx, BB, "┰", ink.gate)
            label = f"{fn} {name}"
            cv.put(cx - len(label) // 2, BT + 1, fn, ink.gate)
            cv.put(cx - len(label) // 2 + len(fn) + 1, BT + 1, name, ink.token)
            val = getattr(v, name)
            s, st = self._signed(val) if name == "g" else self._gate(val)
            cv.put(cx - (len(s) - 1) // 2, BT + 2, s, st)

        # --- peepholes: c_{t-1} into f and i, c_t into o (dashed), each labelled with
        # the term the gate receives (p·c) and, dimmer, the weight p
        if peep:
            p_i, p_f, p_o = v.peephole  # type: ignore[misc]
            dim = Style(dim=True) + ink.peep
            PR = BT + 1  # row where the peephole enters the box side
            cv.put(PF, 1, "┯", ink.belt)
            cv.vline(PF, 2, PR - 1, "╎", ink.peep)
            cv.put(PF, PR, "└", ink.peep)
            cv.put(PF + 1, PR, "╌", ink.peep)
            cv.put(F - 4, PR, "┤", ink.gate)
            cv.put(0, 4, "p_f·c", ink.peep)
            s, st = self._signed(p_f * v.c_prev)
            cv.put(0, 5, s, st)
            cv.put(0, 6, _weight(p_f, PF - 1), dim)
            # c_{t-1} also into i, crossing the f wire
            cv.put(PF, 6, "├", ink.peep)
            cv.hline(PF + 1, PI - 1, 6, "╌", ink.peep)
            cv.put(F, 6, "╂", ink.wire)
            cv.put(PI, 6, "┐", ink.peep)
            cv.vline(PI, 7, PR - 1, "╎", ink.peep)
            cv.put(PI, PR, "└", ink.peep)
            cv.put(I - 4, PR, "┤", ink.gate)
            cv.put(F + 2, 4, "p_i·c", ink.peep)
            s, st = self._signed(p_i * v.c_prev)
            cv.put(F + 2, 5, s, st)
            cv.put(F + 1, 7, _weight(p_i, PI - F - 1), dim)
            # the new c_t into o
            cv.put(PO, 1, "┯", ink.belt)
            cv.vline(PO, 2, PR - 1, "╎", ink.peep)
            cv.put(PO, PR, "└", ink.peep)
            cv.put(PO + 1, PR, "╌", ink.peep)
            cv.put(O - 4, PR, "┤", ink.gate)
            cv.put(PO - 6, 2, "p_o·c", ink.peep)
            s, st = self._signed(p_o * v.c)
            cv.put(PO - len(s), 3, s, st)
            cv.put(PO + 1, 2, _weight(p_o, O - PO - 1), dim)

        # --- the input bus [h_{t-1}, x_t]
        hl = v.h_prev_label
        cv.put(0, BUS, hl, ink.label)
        cv.hline(len(hl) + 1, O - 1, BUS, "━", ink.wire)
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
        cv.put(FULL_WIDTH - len(unit), BUS + 1, unit, ink.label)
        return cv

    def _projection(self, cv: Canvas, ink: _Ink, O: int) -> None:
        """h_cell → W_hr → h_t, down the right-hand side. h_t mixes every unit's
        h_cell, so it gets no per-unit number."""
        v = self.values
        R = O + 11  # the column the projection runs down
        s, st = self._signed(v.h_cell)
        cv.put(O + 2, 7, "━", ink.wire)
        x = cv.put(O + 4, 7, s, st) + 1
        cv.hline(x, R - 1, 7, "━", ink.wire)
        cv.put(R, 7, "┓", ink.wire)
        cv.put(O + 4, 6, "h_cell", ink.label)
        cv.put(R, 8, "┃", ink.wire)
        cv.put(R - 4, 9, "×W_hr", ink.op)
        cv.put(R, 10, "▼", ink.wire)
        cv.put(R - 2, 11, "h_t", ink.label)
        cv.put(R - 5, 12, "(proj)", ink.label)

    def _compact(self) -> Canvas:
        """≈36×8: the belt with its two operations, then the output as one wire::

            c_t-1       kept        c_t
            +1.23 ━(×)━ +1.23 ━(+)━ +1.59
                    ┃           ┃
                  f 0.99        ┃ +0.36
                         i 0.40 ━(×)━ g +0.90
            c_t ━ tanh +0.92 ━(×)━ +0.74 h_t
                             o 0.81
            [h_t-1, x_t "France"]      unit 12
        """
        v = self.values
        ink = _ink(self.color, self.dark)
        cs = self._c_scale()
        peep = v.peephole is not None
        cv = Canvas(COMPACT_WIDTH, 9 if peep else 8, ink.base)

        # row 1: the belt
        cv.put(0, 0, v.c_prev_label, ink.label)
        s, st = self._signed(v.c_prev, cs)
        x = cv.put(0, 1, s, st) + 1
        cv.put(x, 1, "━", ink.belt)
        F = x + 2
        cv.put(F - 1, 1, "(×)", ink.op)
        cv.put(F + 2, 1, "━", ink.belt)
        s, st = self._signed(v.kept, cs)
        cv.put(F + 4, 0, "kept", ink.label)
        x = cv.put(F + 4, 1, s, st) + 1
        cv.put(x, 1, "━", ink.belt)
        M = x + 2
        cv.put(M - 1, 1, "(+)", ink.op)
        cv.put(M + 2, 1, "━", ink.belt)
        s, st = self._signed(v.c, cs)
        cv.put(M + 4, 0, "c_t", ink.label)
        cv.put(M + 4, 1, s, st)

        # forget gate under its (×)
        cv.put(F, 2, "┃", ink.wire)
        s, st = self._gate(v.f)
        cv.put(F - 2, 3, "f", ink.token)
        cv.put(F, 3, s, st)
        # written = i·g rises into (+)
        cv.vline(M, 2, 3, "┃", ink.wire)
        cv.put(M - 4, 2, "i·g", ink.label)
        s, st = self._signed(v.written, cs)
        cv.put(M + 2, 3, s, st)
        cv.put(M - 1, 4, "(×)", ink.op)
        cv.put(M - 2, 4, "━", ink.wire)
        cv.put(M + 2, 4, "━", ink.wire)
        s, st = self._gate(v.i)
        cv.put(M - 3 - len(s), 4, s, st)
        cv.put(M - 5 - len(s), 4, "i", ink.token)
        cv.put(M + 4, 4, "g", ink.token)
        s, st = self._signed(v.g)
        cv.put(M + 6, 4, s, st)

        # output: c_t ━ tanh ━(×)━ h_t, with o under the (×)
        cv.put(0, 5, "c_t", ink.label)
        cv.put(4, 5, "━", ink.wire)
        cv.put(6, 5, "tanh", ink.gate)
        s, st = self._signed(v.tanh_c)
        x = cv.put(11, 5, s, st) + 1
        cv.put(x, 5, "━", ink.wire)
        OX = x + 2
        cv.put(OX - 1, 5, "(×)", ink.op)
        cv.put(OX + 2, 5, "━", ink.wire)
        s, st = self._gate(v.o)
        cv.put(OX - 2, 6, "o", ink.token)
        cv.put(OX, 6, s, st)
        if v.projected:
            s, st = self._signed(v.h_cell)
            x = cv.put(OX + 4, 5, s, st) + 1
            cv.put(x, 5, "h_cell", ink.label)
            cv.put(OX + 6, 6, "×W_hr ▶ h_t", ink.label)
        else:
            s, st = self._signed(v.h)
            x = cv.put(OX + 4, 5, s, st) + 1
            cv.put(x, 5, "h_t", ink.label)

        row = 7
        if peep:
            p_i, p_f, p_o = v.peephole  # type: ignore[misc]
            x = 0
            for name, term in (("pf·c", p_f * v.c_prev), ("pi·c", p_i * v.c_prev),
                               ("po·c", p_o * v.c)):  # fmt: skip
                x = cv.put(x, row, name, ink.peep) + 1
                s, st = self._signed(term)
                x = cv.put(x, row, s, st) + 1
            row += 1
        x = cv.put(0, row, f"[{v.h_prev_label}, x_t ", ink.label)
        unit = f"unit {v.unit}"
        tok = _quote(v.x_label, COMPACT_WIDTH - x - len(unit) - 2)
        x = cv.put(x, row, tok, ink.token)
        cv.put(x, row, "]", ink.label)
        cv.put(COMPACT_WIDTH - len(unit), row, unit, ink.label)
        return cv

    # ------------------------------------------------------------ Rich protocol

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        cv = self._full() if width >= COMPACT_BELOW else self._compact()
        lines = cv.lines(min(width, cv.width))
        # every line ends in a newline: Textual sizes `height: auto` by counting them
        for line in lines:
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = options.max_width
        return Measurement(min(COMPACT_WIDTH, width), min(FULL_WIDTH, width))


def _weight(p: float, room: int) -> str:
    """A peephole weight in at most `room` cells, as precise as fits ("" if nothing does)."""
    for text in (f"p={p:+.2f}", f"p{p:+.2f}", f"p{p:+.1f}", f"{p:+.1f}", f"{p:+.0f}"):
        if len(text) <= room:
            return text
    return ""


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
