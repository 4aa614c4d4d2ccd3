"""HelpScreen: the model's warnings, the keys, how to read the screen, and what the model is.

What the model is (its name, format, description, LSTMs, vocabulary, unknown
token, labels, examples) comes from the file: every such string is shown as
plain Text through safe_line (display for tokens and labels), never as
markup, so a file cannot style the help or put a click action in it.
"""

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
from ..text import display, safe_line

#: How many vocabulary entries, labels and examples the help lists (then "… and N more").
SHOW_ITEMS = 12
#: How much of one example, name or label list is shown, in characters.
LINE_LIMIT = 200
#: How much of the description is shown (it wraps), in characters.
DESCRIPTION_LIMIT = 1000

READING = """\
Notation: t is the step in view (1-based in the header, as the strip counts);
c_t the cell state after it, h_t the unit's output, x_t the token read.
c_t-1 and h_t-1 are what the step started from. Units are numbered from 0.

Input strip (top): the tokens, the one being read highlighted, and the
model's prediction under each step (a bidirectional model's predictions use
the whole sentence). Click a token to go there.

Unit table: one row per unit j of the layer and direction in view, at step t.
  h_t-1      what the step read besides x_t (shown where it fits)
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
wires. The cell state runs along the top (c_t-1 → ×f → + written (i·g) → c_t),
the four gates sit below, fed from the bus [h_t-1, x_t] (h_t-1 with its value);
tanh(c_t) × o is h_t, which goes two ways: to the output (or the layer above)
and to the next step, as its h_t-1. A saturated gate says what it does
("keeps", "forgets", "writes", "blocks"). With peepholes, dashed wires carry
p·c into the gates (p_f·c_t-1, p_i·c_t-1, p_o·c_t), and the unit's weights p
are listed below the cell. From 184 columns the cell is drawn larger, each
gate named in its box.

History: the selected unit over time (c_t, h_t and the gates), the cursor
marked ▼, the values at t at the right; each row states its scale (f 0–1,
c_t ±max|c| of the unit).

Heatmap: units (rows) × steps (columns), for the quantity v picks (c, h, f,
i, o, Δc); click a cell to go to that unit and step. When not all units fit,
the title says which are in view ("units 0–47 of 256"), and J and K (or the
mouse wheel over the map) scroll them; selecting a unit brings it back into
view. A few units in a tall panel get several rows each.

History and heatmap share one time axis: a window of steps around the
cursor, or with z the whole sequence. There a column stands for a bucket of
steps and shows the value furthest from the bucket's median, so one-step
dips stay visible; ┃ marks a bucket that swings across its range, ! one
holding nan or inf.

Output: what the model predicts at step t (its top classes and probabilities).

Asking "when?": w adds a watch, an expression over one step's state read at
the layer and direction in view (f[3] < 0.1, abs(delta[12]) > 0.5,
token == "France", pred != pred_prev, any(isnan(c)), L1.rev.o[0] > 0.9,
p["French"] > 0.5; t counts from 1 as the header does). The watch panel lists
each with its value at t, whether it holds and on how many steps; W selects
in it (space: on/off, Delete: remove, Esc: back). c runs forward to the next
step where a watch that is on holds, C back; the header says which stopped it.
/ finds a token (a substring, or "exact" in double quotes), n and N walk the
matches, marked › in the strip. Quick jumps for the selected unit, each a
watch expression the note quotes: }} and {{: |Δc| at least half the unit's
largest; ": its largest |Δc|; F and ctrl+f: its forget gate below 0.1; > and
<: the prediction changes; !: the first NaN or Inf. m bookmarks the step (•
in the strip), ' lists the bookmarks; ctrl+s saves the trace with them and
the watches, which come back when the file is opened.

Small terminals (under {small}): history and heatmap are hidden when they do
not fit; p cycles the cell view, the history and the heatmap (and the
watches, where they do not fit beside the plots), and v shows the heatmap. The footer lists the keys that fit; all are listed here.

The reverse direction of a bidirectional LSTM reads right to left, so its
previous step is t + 1: its columns and wires say c_t+1, h_t+1, and the
tokens it has read are at and right of t. Colours are fixed per layer and
direction over the whole sequence, in the table, the cell view and the
heatmap alike, so the same colour means the same size at every step and for
every unit.""".format(small=f"{BESIDE_FROM}×{PLOTS_ALWAYS_FROM}")


WHAT_IF = """\
An edit asks "what if it hadn't?". It never changes the trace in view: it
makes a new branch (a recorded trace opened read-only branches too), re-run
from the edit on (only what the edit can reach), shown at the same step.
  =       type an edit; it is checked as you type (a caret marks a mistake):
          c[11] = 0 at 6     set c of unit 11 at step 6, then recompute
                             h_6 = o·tanh(c_6) and run on from step 7
          h[11] = 0.5 at 6   set h_6 only (what step 7 and the layer above see)
          c[:] = 0 at 6      every unit
          f[3] = 1 at 6      clamp a gate (i, f, g, o) at step 6: c_6 and h_6
          f[3] = 1 from 6    follow from it; "from": to the end of the input
          ablate 11          zero unit 11's c and h after every step
          ablate 11 from 6   … from step 6 on
          token 6 = Spain    replace the token (input 6 = 0.5, … for numbers)
          L2.rev.c[3] = 0 at 4   on another layer or direction than in view
          it opens on c[unit] = 0 at t, for the unit and step in view.
  a, A    ablate the selected unit from t on, or over the whole sequence
  T       replace the token at t
  U, R    undo, redo one edit at a time (also ctrl+z, ctrl+y)
  b       switch between the branch and its parent, at the same step
  D       table and heatmap: the values, or branch − parent, on one
          symmetric colour scale (s then sorts by the size of the difference)
The header says which branch is in view (⎇ branch 2, ⎇ parent of branch 2);
the bar under it lists the edits, where the branch first diverges (step,
layer, the quantities), the units that differ most over the sequence in the
heatmap's quantity, and where the top prediction changed. In the strip, ≠
marks a step whose top prediction changed and ◆ the first divergent step.
The output panel shows the branch's own prediction, re-run through the rest
of the model; where the model's format cannot run it from the LSTM (ONNX, a
recorded trace), it says "output not recomputed for this branch" instead.

Comparing: B asks for a second input and shows it against the one in view,
aligned by position (B again ends it); `lstm-tui MODEL --text A --compare B`
opens on it, and `lstm-tui MODEL --compare-model OTHER` compares two models
on one input (a .pt and its ONNX export: the first step, layer and gates
where they diverge, where a gate-order mistake shows). From 161 columns both
sides are shown; below, one at a time: | switches, D shows the difference.

Walk-through, france.pt: its first example is "I grew up in France … I
speak fluent", predicting French at the end. Press B and type the same
sentence with Spain: the bar says the two runs diverge at step 5 (the
country), the strip marks ≠ where the prediction changed (Spanish at the
end), and with D the heatmap (v: c) shows which units carry the country
from step 5 to the end; the units that differ most are listed in the bar.
Then end the comparison (B), go to step 5 (g 5) and press a: the debugger
opened on the model's focus unit (1), and the branch forgets it from
"France" on. At "fluent" (End) the output says Italian, not French, and ≠
marks every step whose prediction changed: that unit carries the country."""


CORPUS = """\
Many inputs: `lstm-tui MODEL --text-file FILE` records one input per line
(--whole: the whole file as one, for a character model), with a progress
bar; ctrl+c while it records keeps the inputs recorded so far and says how
many. `lstm-tui corpus.npz` opens a recorded corpus. The header says which
input is in view (input 3 of 120); x and X go to the next and previous one,
i lists them (Enter opens one). Without a corpus, x, X and i walk the
model's example inputs.

Select, as LSTMVis does it: shift+→ and shift+← grow and shrink a token span
from the cursor (or drag the mouse over the strip); its tokens are marked ▏.
The selected units are those "on" (tanh of the heatmap's quantity ≥ θ: v
picks c, h, a gate or Δc) on every step of the span and off on the step
read just before it (for the reverse direction, the step after it). The
unit table marks them ◆ and its title lists them; t sets θ (0.3, LSTMVis's
default); Esc drops the span.

Match: M lists the other places (in a corpus, in every input) where the
selected units switch on together, ranked as LSTMVis ranks them: most
selected units on, then fewest other units on, then the longest span; each
with its context, the place in ⟦ ⟧. Enter goes there (to that input and
step); its steps are marked ≈ and the selected units stay marked. "No
other place" when there is none.

Export: ctrl+e writes the unit table at t, or one quantity over the whole
trace, as CSV, or the screen as an SVG screenshot: to the current folder
under the name offered, or to the file or folder typed. A file that exists
is never replaced; the note says where the file went."""


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
        listed: set[str] = set()
        for b in self.bindings:
            shown = b.key_display or "/".join(_key_name(k) for k in b.key.split(","))
            if shown in listed:  # described with another key already ("[ ]": ] and [)
                continue
            listed.update(shown.split())
            keys.add_row(Text(shown), Text(b.tooltip or b.description))
        keys.add_row(Text("ctrl+p"), Text("Command palette (every action by name)"))
        warnings = self.source.warnings if self.source is not None else ()
        with VerticalScroll(id="help", classes="dialog"):
            if warnings:
                yield Static(Text("This model opened with warnings", style="bold"),
                             classes="dialog-title")  # fmt: skip
                for warning in warnings:
                    yield Static(Text("⚠ " + safe_line(warning)), classes="help-warning")
                yield Static(Text(""))
            yield Static(Text("lstm-tui — keys", style="bold"), classes="dialog-title")
            yield Static(keys)
            if self.source is not None and self.source.read_only_reason:
                reason = Text("e (edit): " + self.source.read_only_reason)
                yield Static(reason, classes="dialog-hint")
            yield Static(Text("\nReading the screen", style="bold"))
            yield Static(Text(READING))
            yield Static(Text("\nWhat if: edits, branches and comparisons", style="bold"))
            yield Static(Text(WHAT_IF))
            yield Static(Text("\nMany inputs: select, match and export", style="bold"))
            yield Static(Text(CORPUS))
            if self.source is not None:
                yield Static(Text("\nThis model", style="bold"))
                yield Static(model_table(self.source))
            yield Static(Text("Esc or ? closes this help."), classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


def _listed(items, show=display) -> str:
    items = list(items)
    shown = ", ".join(show(x) for x in items[:SHOW_ITEMS])
    more = len(items) - SHOW_ITEMS
    return shown + (f" … and {more} more" if more > 0 else "")


def model_rows(source: Source) -> list[tuple[str, str]]:
    """(what, value) rows about the model, every value already safe to show as plain Text."""
    model, tr = source.model, source.trace
    rows = [("name", safe_line(source.name, LINE_LIMIT)),
            ("format", safe_line(source.format or source.origin, LINE_LIMIT)),
            ("LSTM", source.summary())]  # fmt: skip
    description = getattr(model, "description", "") if model is not None else ""
    if description:
        rows.append(("description", safe_line(description, DESCRIPTION_LIMIT)))
    if model is not None:
        names = tuple(getattr(model, "lstm_names", ()) or ())
        if names:
            traced = getattr(model, "lstm_name", None)
            rows.append(("LSTMs", _listed(names, lambda n: safe_line(n, 60) + (
                " (in view)" if n == traced and len(names) > 1 else ""))))  # fmt: skip
        parts = [getattr(getattr(model, p, None), "name", None) for p in ("embedding", "head")]
        for what, name in zip(("embedding", "head"), parts):
            if isinstance(name, str):
                rows.append((what, safe_line(name, 60)))
    vocab = source.vocab  # a model's, or the vocab= given to debug()
    if vocab:
        rows.append(("vocabulary", f"{len(vocab)}: " + _listed(vocab)))
    if source.unk is not None:
        rows.append(("unknown token", display(source.unk)))
    elif model is None and tr.meta.get("unk") is not None:
        rows.append(("unknown token", display(tr.meta.get("unk"))))
    if tr.labels is not None:
        rows.append(("labels", f"{len(tr.labels)}: " + _listed(tr.labels)))
    examples = tuple(getattr(model, "examples", ()) or ()) if model is not None else ()
    for n, example in enumerate(examples[:SHOW_ITEMS], 1):
        shown = example if isinstance(example, str) else "(numeric input)"
        rows.append((f"example {n}", safe_line(shown, LINE_LIMIT)))
    if len(examples) > SHOW_ITEMS:
        rows.append(("", f"… and {len(examples) - SHOW_ITEMS} more examples"))
    return rows


def model_table(source: Source) -> Table:
    """The model's rows as a two-column grid of plain Text cells."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for what, value in model_rows(source):
        table.add_row(Text(what), Text(value))
    return table


_NAMES = {
    "right": "→", "left": "←", "up": "↑", "down": "↓", "home": "Home", "end": "End",
    "pagedown": "PgDn", "pageup": "PgUp", "left_square_bracket": "[",
    "right_square_bracket": "]", "question_mark": "?",
}  # fmt: skip


def _key_name(key: str) -> str:
    return _NAMES.get(key, key)
