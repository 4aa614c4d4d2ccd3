"""SequenceStrip: the input tokens, the cursor, and the predictions made so far.

Tokens already read by the direction in view show the model's prediction
under them; tokens not yet read are dim and have none. The reverse direction
reads right to left, so there the processed tokens are on the right and the
strip says so with its arrow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ..source import Source, probabilities


@dataclass(frozen=True)
class StripStyles:
    current: Style
    processed: Style
    future: Style
    pred: Style
    dim: Style


def token_labels(source: Source) -> list[str]:
    tr = source.trace
    if tr.tokens is not None:
        return [t if t.strip() else repr(t)[1:-1] or "·" for t in tr.tokens]
    return [str(k + 1) for k in range(tr.T)]


def predictions(source: Source) -> list[tuple[str, float]] | None:
    """(label, probability) of the winning class at every step, or None without an output."""
    tr = source.trace
    if tr.output is None or tr.output.ndim != 2:
        return None
    p = probabilities(tr.output, source.output_kind)  # (T, n), all steps at once
    best = np.argmax(p, axis=1)
    top = p[np.arange(len(p)), best]
    names = [tr.labels[k] if tr.labels is not None and k < len(tr.labels) else f"#{k}"
             for k in best.tolist()]  # fmt: skip
    return list(zip(names, top.tolist()))


def processed(t: int, k: int, direction: int) -> bool:
    """Has the direction in view read token k when its cursor is at t?"""
    return k <= t if direction == 0 else k >= t


def visible_range(widths: list[int], t: int, width: int) -> tuple[int, int]:
    """The slice of tokens [a, b) that fits in `width` columns, keeping t in view."""
    a = b = t
    used = widths[t] if widths else 0
    while True:
        grew = False
        if b + 1 < len(widths) and used + widths[b + 1] <= width:
            b += 1
            used += widths[b]
            grew = True
        if a - 1 >= 0 and used + widths[a - 1] <= width:
            a -= 1
            used += widths[a]
            grew = True
        if not grew:
            return a, b + 1


def _short(tok: str) -> str:
    return tok if len(tok) <= 14 else tok[:13] + "…"


def cell_widths(tokens: list[str], preds: list[tuple[str, float]] | None) -> list[int]:
    """Each token's column width: wide enough for the token and its predicted label."""
    widths = []
    for k, tok in enumerate(tokens):
        w = len(_short(tok))
        if preds is not None:
            w = max(w, len(_short(preds[k][0])), 4)
        widths.append(w + 2)
    return widths


def render_strip(
    tokens: list[str], preds: list[tuple[str, float]] | None, t: int, direction: int,
    width: int, styles: StripStyles, widths: list[int] | None = None,
) -> Text:  # fmt: skip
    """Three lines: tokens, predicted labels (under processed tokens only), their probabilities."""
    widths = cell_widths(tokens, preds) if widths is None else widths
    a, b = visible_range(widths, t, max(width - 2, 10))
    left = "‹ " if a > 0 else "  "
    right = " ›" if b < len(tokens) else ""
    lines = [Text(no_wrap=True) for _ in range(3)]
    for line in lines:
        line.append(left, styles.dim)
    for k in range(a, b):
        tok, w = _short(tokens[k]), widths[k]
        done = processed(t, k, direction)
        style = styles.current if k == t else styles.processed if done else styles.future
        lines[0].append(f" {tok.center(w - 2)} ", style)
        if preds is not None and done:
            label, p = preds[k]
            lines[1].append(_short(label).center(w), styles.pred)
            lines[2].append(f"{p:.2f}".center(w), styles.dim)
        else:
            lines[1].append(" " * w, styles.dim)
            lines[2].append(" " * w, styles.dim)
    lines[0].append(right, styles.dim)
    return Text("\n").join(lines)


def strip_title(n_tokens: int, t: int, direction: int, width: int, widths: list[int],
                has_preds: bool, numeric: bool) -> str:  # fmt: skip
    """The panel title: which way the direction in view reads, and which tokens are shown."""
    arrow = "→ reads left to right" if direction == 0 else "← reads right to left"
    title = ("input (numeric: step numbers)" if numeric else "input") + f" · {arrow}"
    a, b = visible_range(widths, t, max(width - 2, 10))
    if (a, b) != (0, n_tokens):
        title += f" · tokens {a + 1}–{b} of {n_tokens}"
    if not has_preds:
        title += " · no model output"
    return title


class SequenceStrip(Widget):
    """The tokens of the sequence with the cursor on one of them."""

    DEFAULT_CSS = """
    SequenceStrip { height: 3; }
    """
    COMPONENT_CLASSES = {
        "sequence-strip--current", "sequence-strip--processed", "sequence-strip--future",
        "sequence-strip--pred", "sequence-strip--dim",
    }  # fmt: skip

    source: reactive[Source | None] = reactive(None)
    t: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)

    @dataclass
    class StepClicked(Message):
        """The user clicked a token: move the cursor there."""

        t: int

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._tokens: list[str] = []
        self._preds: list[tuple[str, float]] | None = None
        self._widths: list[int] = []

    def watch_source(self, source: Source | None) -> None:
        self._tokens = token_labels(source) if source is not None else []
        self._preds = predictions(source) if source is not None else None
        self._widths = cell_widths(self._tokens, self._preds)
        self._update_title()

    def _update_title(self) -> None:
        if self.source is None:
            return
        self.border_title = strip_title(
            len(self._tokens), self.t, self.direction, self.content_size.width,
            self._widths, self._preds is not None,
            self.source.trace.tokens is None,
        )  # fmt: skip

    def watch_t(self) -> None:
        self._update_title()

    def watch_direction(self) -> None:
        self._update_title()

    def on_resize(self) -> None:
        self._update_title()

    def _styles(self) -> StripStyles:
        s = self.get_component_rich_style
        return StripStyles(
            s("sequence-strip--current"), s("sequence-strip--processed"),
            s("sequence-strip--future"), s("sequence-strip--pred"), s("sequence-strip--dim"),
        )  # fmt: skip

    def render(self) -> Text:
        if self.source is None:
            return Text("")
        return render_strip(
            self._tokens, self._preds, self.t, self.direction, self.content_size.width,
            self._styles(), self._widths,
        )  # fmt: skip

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if self.source is None or offset is None or offset.y != 0:
            return
        widths = self._widths
        a, b = visible_range(widths, self.t, max(self.content_size.width - 2, 10))
        x = 2
        for k in range(a, b):
            if x <= offset.x < x + widths[k]:
                self.post_message(self.StepClicked(k))
                return
            x += widths[k]
