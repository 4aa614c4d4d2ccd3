"""SequenceStrip: the input tokens, the cursor, and the predictions made so far.

Tokens already read by the direction in view show the model's prediction
under them; tokens not yet read are dim and have none. The reverse direction
reads right to left, so there the processed tokens are on the right and the
strip says so with its arrow. When the output depends on the future (a
bidirectional LSTM anywhere before it), every prediction is made from the
whole sequence, so all of them are shown.

Token and label text goes through lstm_tui.text.display, so a character
model's newline is one ⏎ cell, not a broken row; words the model read as its
unknown token are marked `word→<unk>`. A numeric input shows each step's value
(one feature) or a summary of the vector, so a cue like x = 1 is visible.

Per-step markers: `markers` maps a position (0..T-1) to a marker kind, one of
MARKERS (`"match"`: a search match, `"mark"`: a bookmark; against a parent
or another input, `"changed"`: the top prediction differs, `"diverge"`: the
first divergent step; `"span"`: a step of the token span selected for
LSTMVis's select, shift+arrows or a mouse drag; `"found"`: a step of the
match in view). A marked token gets
the kind's glyph just left of it, in its cell's margin, and the kind's component class
(`sequence-strip--<kind>`) on its cell, so a marker shows without colour too
(NO_COLOR). A new kind (say "prediction changed here") is one entry in
MARKERS and one rule in the tcss; the owner of the strip decides which kind
wins where two fall on one step, since a position has one marker.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from lstm_engine import previous_step

from ..source import Source, probabilities
from .output_panel import shown_kind
from ..text import display
from ._lines import StripLines
from ._styles import CachedStyles

#: widest a token or label is drawn, in cells, before it is cut with …
MAX_CELL = 14
#: the "‹ " on the left (always reserved) and the " ›" on the right
MARK = 2
#: marker kind → the one-cell glyph drawn in a marked token's left margin
MARKERS: Mapping[str, str] = {"match": "›", "mark": "•", "changed": "≠", "diverge": "◆",
                              "span": "▏", "found": "≈"}


@dataclass(frozen=True)
class StripStyles:
    current: Style
    processed: Style
    future: Style
    pred: Style
    dim: Style
    unk: Style = Style()
    markers: Mapping[str, Style] = field(default_factory=dict)
    """marker kind → its style (a kind without one is drawn unstyled, glyph only)."""


def _num(v: float) -> str:
    return f"{v:.2f}" if abs(v) < 99.995 else f"{v:.3g}"


def numeric_kind(x: np.ndarray) -> str:
    """How a numeric input's steps are summarised: "value", "one-hot" or "norm"."""
    if x.shape[1] == 1:
        return "value"
    nonzero = np.count_nonzero(x, axis=1)
    if np.all(nonzero == 1) and np.all(x.max(axis=1) == 1):
        return "one-hot"
    return "norm"


def token_labels(source: Source) -> list[str]:
    """What the token row shows for each step: the displayed token, or step:value."""
    tr = source.trace
    if tr.tokens is not None:
        shown: dict[str, str] = {}  # a text repeats its words: each is displayed once
        labels = [shown[t] if t in shown else shown.setdefault(t, display(t)) for t in tr.tokens]
        unk = tr.meta.get("unk")
        if unk is not None:
            mark = "→" + display(unk)
            for k in unk_positions(source):
                word = _fit(labels[k], max(MAX_CELL - cell_len(mark), 3))
                labels[k] = word + mark
        return labels
    x = np.asarray(tr.x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != tr.T or x.shape[1] == 0:
        return [str(k + 1) for k in range(tr.T)]
    kind = numeric_kind(x)
    if kind == "value":
        return [f"{k + 1}:{_num(v)}" for k, v in enumerate(x[:, 0].tolist())]
    if kind == "one-hot":
        return [f"{k + 1}:#{j}" for k, j in enumerate(np.argmax(x, axis=1).tolist())]
    norms = np.sqrt(np.sum(x * x, axis=1))
    return [f"{k + 1}:{_num(v)}" for k, v in enumerate(norms.tolist())]


def unk_positions(source: Source) -> set[int]:
    """Steps where the model read its unknown token in place of the user's word."""
    tr = source.trace
    if tr.tokens is None or tr.meta.get("unk") is None:
        return set()
    positions = tr.meta.get("unk_positions")
    if not isinstance(positions, (list, tuple)):  # the file's meta: anything at all
        return set()
    return {int(k) for k in positions
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 0 <= k < tr.T}


def predictions(source: Source) -> list[tuple[str, float]] | None:
    """(label, probability) of the winning class at every step, or None without an output."""
    tr = source.trace
    if tr.output is None or tr.output.ndim != 2:
        return None
    p = probabilities(tr.output, shown_kind(source))  # (T, n), all steps at once; the panel's kind
    best = np.argmax(p, axis=1)
    top = p[np.arange(len(p)), best]
    shown = [display(label) for label in tr.labels or ()]  # once per label, not per step
    names = [shown[k] if k < len(shown) else f"#{k}" for k in best.tolist()]
    return list(zip(names, top.tolist()))


def processed(t: int, k: int, reverse: bool) -> bool:
    """Has the direction in view read token k when its cursor is at t?

    `reverse` is the direction's reading order (`Trace.reads_reversed`): it has
    read every position from its first one to t, and the engine's
    `previous_step` says which way that is.
    """
    return (t - k) * (t - previous_step(t, reverse)) >= 0


def visible_range(widths: Sequence[int], t: int, width: int,
                  cum: Sequence[int] | None = None) -> tuple[int, int]:  # fmt: skip
    """The slice of tokens [a, b) whose widths sum to at most `width`, keeping t in view.

    The window grows from t one token at a time, right then left, while the
    next token fits; once a side does not fit it never will (the sum only
    grows), so the growth is two runs: both sides together, then the one side
    still growing. Each run is a bisection over the running sums `cum`
    (cum[k] = widths[0] + … + widths[k-1]), so a step costs O(log T) whatever
    the sequence's length.
    """
    n = len(widths)
    if n == 0:
        return t, t + 1
    if cum is None:
        cum = [0, *accumulate(widths)]
    # rounds in which both sides grew: the largest k with tokens t-k .. t+k inside `width`
    top = min(t, n - 1 - t)
    k = bisect_right(range(top + 1), width, key=lambda j: cum[t + j + 1] - cum[t - j]) - 1
    a, b = t - max(k, 0), t + max(k, 0) + 1
    if b < n and cum[b + 1] - cum[a] <= width:  # the right grew once more, the left did not:
        b = max(bisect_right(cum, cum[a] + width) - 1, b)  # from here only the right grows
    else:  # the right is done: only the left grows
        a = min(bisect_left(cum, cum[b] - width), a)
    return a, b


class CellWidths(tuple):
    """Every token's cell width (a tuple of ints), and what the strip's window is found from.

    For each strip width, the widths as drawn (none wider than the strip) and
    their running sums are made once (on a resize, not at a step), so the
    window at a step is a bisection (`visible_range`), never a pass over every
    token. A few strip widths are kept: the widget's own, and a snapshot's.
    """

    #: Strip widths whose drawn widths and running sums are kept.
    KEEP = 4

    def __new__(cls, widths=()):
        out = super().__new__(cls, widths)
        out._drawn = {}
        return out

    def drawn(self, budget: int) -> tuple[list[int], list[int]]:
        """The drawn widths in a window `budget` cells wide, and their running sums."""
        got = self._drawn.get(budget)
        if got is None:
            drawn = np.minimum(np.fromiter(self, np.int64, len(self)), budget)
            got = (drawn.tolist(), [0, *np.cumsum(drawn).tolist()])
            if len(self._drawn) >= self.KEEP:
                self._drawn.pop(next(iter(self._drawn)))
            self._drawn[budget] = got
        return got


def window(widths: Sequence[int], t: int, width: int) -> tuple[int, int, Sequence[int]]:
    """The tokens [a, b) drawn in a strip `width` cells wide, and their drawn widths.

    Both markers are reserved ("‹ " and " ›"), and a cell wider than what is
    left is narrowed to fit, so the rows never exceed `width` and never wrap.
    Give `widths` as CellWidths (what `cell_widths` returns) so that repeated
    calls reuse its running sums.
    """
    budget = max(width - 2 * MARK, 1)
    if not isinstance(widths, CellWidths):
        widths = CellWidths(widths)
    drawn, cum = widths.drawn(budget)
    if not drawn:
        return 0, 0, drawn
    a, b = visible_range(drawn, t, budget, cum)
    return a, b, drawn


def _fit(s: str, n: int) -> str:
    """`s` cut to at most n cells, ending in … when cut."""
    if cell_len(s) <= n:
        return s
    out, used = [], 0
    for c in s:
        w = cell_len(c)
        if used + w > n - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + "…" if n >= 1 else ""


def _center(s: str, w: int) -> str:
    s = _fit(s, w)
    pad = w - cell_len(s)
    return " " * (pad // 2) + s + " " * (pad - pad // 2)


def cell_widths(tokens: list[str], preds: list[tuple[str, float]] | None) -> CellWidths:
    """Each token's column width: wide enough for the token and its predicted label."""
    cells: dict[str, int] = {}  # tokens and labels repeat: each is measured once

    def cells_of(s: str) -> int:
        got = cells.get(s)
        if got is None:
            got = cells[s] = min(cell_len(s), MAX_CELL)
        return got

    widths = []
    for k, tok in enumerate(tokens):
        w = cells_of(tok)
        if preds is not None:
            w = max(w, cells_of(preds[k][0]), 4)
        widths.append(w + 2)
    return CellWidths(widths)


def render_strip(
    tokens: list[str], preds: list[tuple[str, float]] | None, t: int, reverse: bool,
    width: int, styles: StripStyles, widths: list[int] | None = None,
    all_preds: bool = False, unk: set[int] | frozenset[int] = frozenset(),
    markers: Mapping[int, str] | None = None,
) -> Text:  # fmt: skip
    """Three lines: tokens, predicted labels, their probabilities.

    Predictions show under processed tokens only, unless `all_preds` (the
    output reads the whole sequence). `markers` (position → kind) put the
    kind's glyph in the token's left margin. No row is ever wider than `width`.
    """
    markers = markers or {}
    widths = cell_widths(tokens, preds) if widths is None else widths
    a, b, drawn = window(widths, t, width)
    left = "‹ " if a > 0 else "  "
    right = " ›" if b < len(tokens) else ""
    lines = [Text(no_wrap=True, overflow="crop") for _ in range(3)]
    lines[0].append(left, styles.dim)
    for line in lines[1:]:
        line.append(" " * MARK, styles.dim)
    for k in range(a, b):
        w = drawn[k]
        done = processed(t, k, reverse)
        style = styles.current if k == t else styles.processed if done else styles.future
        if k in unk and k != t:
            style = style + styles.unk
        kind = markers.get(k)
        if kind is None:
            lines[0].append(_center(tokens[k], w), style)
        else:
            style = style + styles.markers.get(kind, Style())
            cell = _center(tokens[k], w)
            at = max(len(cell) - len(cell.lstrip(" ")) - 1, 0)  # the margin cell before the token
            lines[0].append(cell[:at] + MARKERS.get(kind, "•") + cell[at + 1:], style)
        if preds is not None and (done or all_preds):
            label, p = preds[k]
            lines[1].append(_center(label, w), styles.pred)
            lines[2].append(_center(f"{p:.2f}", w), styles.dim)
        else:
            lines[1].append(" " * w, styles.dim)
            lines[2].append(" " * w, styles.dim)
    lines[0].append(right, styles.dim)
    text = Text("\n", no_wrap=True, overflow="crop", end="").join(lines)
    text.no_wrap, text.overflow = True, "crop"
    return text


def strip_title(n_tokens: int, t: int, reverse: bool, width: int, widths: list[int],
                has_preds: bool, numeric: str | None, *, all_preds: bool = False,
                n_unk: int = 0, unk: str | None = None,
                example: str | None = None) -> str:  # fmt: skip
    """The panel title: which way the direction in view reads, and which tokens are shown.

    `numeric` is None for text, else how the steps are labelled (numeric_kind).
    """
    arrow = "← reads right to left" if reverse else "→ reads left to right"
    what = {
        None: "input",
        "value": "input (numeric: step:x)",
        "one-hot": "input (numeric: step:#hot feature)",
        "norm": "input (numeric: step:‖x‖)",
    }.get(numeric, "input (numeric: step numbers)")
    title = f"{what} · {arrow}"
    if example:
        title = f"{what} · {example} · {arrow}"
    a, b, _ = window(widths, t, width)
    if (a, b) != (0, n_tokens):
        title += f" · tokens {a + 1}–{b} of {n_tokens}"
    if not has_preds:
        title += " · no model output"
    elif all_preds:
        title += " · outputs use both directions"
    if n_unk:
        title += f" · {n_unk} read as {display(unk or '<unk>')}"
    return title


class SequenceStrip(StripLines, CachedStyles, Widget):
    """The tokens of the sequence with the cursor on one of them."""

    DEFAULT_CSS = """
    SequenceStrip { height: 3; }
    SequenceStrip > .sequence-strip--unk { color: $warning; text-style: italic; }
    SequenceStrip > .sequence-strip--match { text-style: bold underline; }
    SequenceStrip > .sequence-strip--mark { text-style: bold; }
    SequenceStrip > .sequence-strip--changed { color: $warning; text-style: bold; }
    SequenceStrip > .sequence-strip--diverge { color: $warning; text-style: bold reverse; }
    SequenceStrip > .sequence-strip--span { text-style: bold underline; background: $secondary 40%; }
    SequenceStrip > .sequence-strip--found { text-style: italic underline; }
    """
    COMPONENT_CLASSES = {
        "sequence-strip--current", "sequence-strip--processed", "sequence-strip--future",
        "sequence-strip--pred", "sequence-strip--dim", "sequence-strip--unk",
        *(f"sequence-strip--{kind}" for kind in MARKERS),
    }  # fmt: skip

    source: reactive[Source | None] = reactive(None)
    t: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    markers: reactive[Mapping[int, str]] = reactive(dict)
    """Position → marker kind (one of MARKERS) for the steps to mark; see the module docstring."""
    marker_note: reactive[str] = reactive("")
    """What the what-if markers mean, for the title (e.g. "◆ diverges at 5 · ≠ prediction changed")."""

    @dataclass
    class StepClicked(Message):
        """The user clicked a token: move the cursor there."""

        t: int

    @dataclass
    class SpanDragged(Message):
        """The mouse was dragged over the tokens from `start` to `end` (positions, in the order
        dragged, `end` where the pointer is now): select that span. `done`: the button is up
        (the cursor may move to `end` now; while dragging it stays, or the tokens would
        scroll under the pointer)."""

        start: int
        end: int
        done: bool = False

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SequenceStrip.SpanDragged) and not message.done

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._tokens: list[str] = []
        self._preds: list[tuple[str, float]] | None = None
        self._widths = CellWidths()
        self._unk: set[int] = set()
        self._all_preds = False
        self._numeric: str | None = None
        self._drag_from: int | None = None
        """The token a mouse drag started on (None when no button is held over the strip)."""
        self._dragged: int | None = None
        """The token the drag last reached."""

    def watch_source(self, source: Source | None) -> None:
        self._tokens = token_labels(source) if source is not None else []
        self._preds = predictions(source) if source is not None else None
        self._widths = cell_widths(self._tokens, self._preds)
        self._unk = unk_positions(source) if source is not None else set()
        self._all_preds = source is not None and source.output_uses_future
        self._numeric = None
        if source is not None and source.trace.tokens is None:
            x = np.asarray(source.trace.x)
            self._numeric = numeric_kind(x) if x.ndim == 2 and x.shape[1] else "steps"
        self._update_title()

    def _update_title(self) -> None:
        if self.source is None:
            return
        # a Text, never a str: Textual reads a str title as markup, and the unk token is the file's
        self.border_title = Text(strip_title(
            len(self._tokens), self.t, self._reverse(), self.content_size.width,
            self._widths, self._preds is not None, self._numeric,
            all_preds=self._all_preds, n_unk=len(self._unk),
            unk=self.source.trace.meta.get("unk"), example=self._example_label(),
        ) + (f" · {self.marker_note}" if self.marker_note else ""))  # fmt: skip

    def _reverse(self) -> bool:
        """Does the direction in view read right to left (the trace knows; not only direction 1)?"""
        return self.source is not None and self.source.trace.reads_reversed(self.direction)

    def _example_label(self) -> str | None:
        src = self.source
        if src is None or src.example is None or src.example_count < 2:
            return None
        return f"example {src.example} of {src.example_count}"

    def watch_t(self) -> None:
        self._update_title()

    def watch_marker_note(self) -> None:
        self._update_title()

    def watch_direction(self) -> None:
        self._update_title()

    def on_resize(self) -> None:
        self._update_title()

    def _styles(self) -> StripStyles:
        got = self._style_memo().get("strip")
        if got is None:
            got = self._style_memo()["strip"] = self._make_styles()
        return got

    def _make_styles(self) -> StripStyles:
        s = self.component_style
        return StripStyles(
            s("sequence-strip--current"), s("sequence-strip--processed"),
            s("sequence-strip--future"), s("sequence-strip--pred"), s("sequence-strip--dim"),
            s("sequence-strip--unk"), {kind: s(f"sequence-strip--{kind}") for kind in MARKERS},
        )  # fmt: skip

    def render(self) -> Text:
        if self.source is None:
            return Text("")
        return render_strip(
            self._tokens, self._preds, self.t, self._reverse(), self.content_size.width,
            self._styles(), self._widths, all_preds=self._all_preds, unk=self._unk,
            markers=self.markers,
        )  # fmt: skip

    def token_at(self, x: int) -> int | None:
        """The position of the token drawn at content column x, or None (a margin, a gap)."""
        if self.source is None:
            return None
        a, b, drawn = window(self._widths, self.t, self.content_size.width)
        edge = MARK
        for k in range(a, b):
            if edge <= x < edge + drawn[k]:
                return k
            edge += drawn[k]
        return None

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y != 0:
            return
        k = self.token_at(offset.x)
        if k is not None:
            self.post_message(self.StepClicked(k))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        k = self._token_under(event)
        if event.button == 1 and k is not None:
            self._drag_from = k
            self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag_from is None:  # the button went down on a token, and is not up yet
            return
        k = self._token_under(event)
        if k is not None and k != self._drag_from:
            self._dragged = k
            self.post_message(self.SpanDragged(self._drag_from, k))

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag_from is None:
            return
        start, end = self._drag_from, self._token_under(event)
        end = self._dragged if end is None else end
        self._drag_from = self._dragged = None
        self.release_mouse()
        if end is not None and end != start:
            self.post_message(self.SpanDragged(start, end, done=True))

    def _token_under(self, event: events.MouseEvent) -> int | None:
        offset = event.get_content_offset(self)
        return self.token_at(offset.x) if offset is not None else None
