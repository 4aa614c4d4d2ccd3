"""HelpScreen: the keys, and how to read what the debugger shows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..layout import BESIDE_FROM, PLOTS_ALWAYS_FROM
from ..source import Source

READING = """\
Notation: t is the step in view (1-based in the header, as the strip counts);
c_t the cell state after it, h_t the unit's output, x_t the token read.
c_t-1 and h_t-1 are what the step started from. Units are numbered from 0.

Input strip (top): the tokens, the one being read highlighted, and the
model's prediction under each step (a bidirectional model's predictions use
the whole sentence). Click a token to go there.

Unit table: one row per unit j of the layer and direction in view, at step t.
  f, i, o    forget, input and output gates (0 = closed, 1 = open)
  g          the candidate value, tanh of the cell input
  c_t-1      the memory before this step
  kept       f · c_t-1         what the forget gate let through
  forgt      (1 − f) · c_t-1   what it erased (forgotten)
  i·g        i · g             what the input gate wrote
  c_t        kept + i·g        the new memory;  Δc = c_t − c_t-1
  tanh, h_t  h_t = o · tanh(c_t), the unit's output
             (o·th = o·tanh c for projected LSTMs, whose h mixes all units)
  s picks the sort column (gates by value, the rest by size |x|), S flips it
  to smallest first (e.g. the units whose forget gate shut); the top unit of
  a new ranking is selected. ↑/↓, PgUp/PgDn and u move the selection.

Cell view: the selected unit's LSTM cell with this step's numbers on its
wires. The cell state runs along the top (c_t-1 → ×f → + i·g → c_t), the four
gates sit below, fed from [h_t-1, x_t]; tanh(c_t) × o is h_t. A saturated gate
says what it does ("keeps", "forgets", "writes", "blocks"). With peepholes,
dashed wires carry p·c into the gates (p_f·c_t-1, p_i·c_t-1, p_o·c_t), with the
weight p beside them, dimmer.

History: the selected unit over time (c_t, h_t and the gates), the cursor
marked ▼, the values at t at the right; each row states its scale (f 0–1,
c_t ±max|c| of the unit).

Heatmap: units (rows) × steps (columns), for the quantity v picks (c, h, f,
i, o, Δc); click a cell to go to that unit and step.

History and heatmap share one time axis: a window of steps around the
cursor, or with z the whole sequence. There a column stands for a bucket of
steps and shows the value furthest from the bucket's median, so one-step
dips stay visible; ┃ marks a bucket that swings across its range, ! one
holding nan or inf.

Output: what the model predicts at step t (its top classes and probabilities).

Small terminals (under {small}): history and heatmap are hidden when they do
not fit; p cycles the cell view, the history and the heatmap, and v shows
the heatmap. The footer lists the keys that fit; all are listed here.

The reverse direction of a bidirectional LSTM reads right to left, so its
previous step is t + 1: its columns and wires say c_t+1, h_t+1, and the
tokens it has read are at and right of t. Colours are fixed per layer and
direction over the whole sequence, so the same colour means the same size at
every step.""".format(small=f"{BESIDE_FROM}×{PLOTS_ALWAYS_FROM}")


class HelpScreen(ModalScreen[None]):
    """Every key of the debugger screen, from its own bindings, and how to read it."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, bindings: list[Binding], source: Source | None = None) -> None:
        super().__init__()
        self.bindings = bindings
        self.source = source

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        for b in self.bindings:
            shown = b.key_display or "/".join(_key_name(k) for k in b.key.split(","))
            keys.add_row(shown, b.tooltip or b.description)
        keys.add_row("ctrl+p", "Command palette (every action by name)")
        with VerticalScroll(id="help", classes="dialog"):
            yield Static(Text("lstm-tui — keys", style="bold"), classes="dialog-title")
            yield Static(keys)
            if self.source is not None and self.source.read_only_reason:
                reason = Text("e (edit): " + self.source.read_only_reason)
                yield Static(reason, classes="dialog-hint")
            yield Static(Text("\nReading the screen", style="bold"))
            yield Static(READING)
            yield Static("Esc or ? closes this help.", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


_NAMES = {
    "right": "→", "left": "←", "up": "↑", "down": "↓", "home": "Home", "end": "End",
    "pagedown": "PgDn", "pageup": "PgUp", "left_square_bracket": "[",
    "right_square_bracket": "]", "question_mark": "?",
}  # fmt: skip


def _key_name(key: str) -> str:
    return _NAMES.get(key, key)
