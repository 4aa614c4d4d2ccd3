"""OutputPanel: what the model said at step t — the top-k labels and which one won.

Labels are shown through lstm_tui.text.display: a character model's "\\n" label
is one ⏎ cell, so a row never breaks. A model that opened with warnings (say,
a LayerNorm no part of the pipeline explains, so the numbers here are not the
model's own output) has them on the panel itself, above the numbers, each
sentence through safe_line and wrapped to the panel. A branch whose output
could not be recomputed (a TorchScript or ONNX model) says so here.
"""

from __future__ import annotations

import numpy as np
from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..renderables.palette import bar
from ..source import Source, probabilities
from ..text import display, safe_line

_KIND = {
    "log_prob": "p = exp(log-prob)",
    "prob": "p",
    "logit": "p = softmax(logits)",
    None: "p = softmax(output)",
}


def render_output(source: Source, t: int, k: int, width: int, win: Style, dim: Style) -> Text:
    """The top-k rows at t: `▶ NN    0.93 ████████▋ ` with the winner marked."""
    tr = source.trace
    if tr.output is None and tr.output_not_recomputed:  # a branch: never a stale output
        return Text(safe_line(tr.output_not_recomputed), dim)
    if tr.preview_until is not None and t >= tr.preview_until:  # the parent's there
        return Text(f"output at t = {t + 1} pending: the branch is being re-run", dim)
    if tr.output is None or tr.output.ndim != 2:
        return Text("No model output: this trace has the LSTM only.", dim)
    p = probabilities(tr.output[t], source.output_kind)
    top = np.argsort(-p, kind="stable")[:k]
    names = [
        display(tr.labels[j]) if tr.labels is not None and j < len(tr.labels) else f"#{j}"
        for j in top
    ]
    name_w = min(max(cell_len(n) for n in names), 16)
    bar_w = max(width - name_w - 10, 4)
    text = Text(no_wrap=True)
    text.append(f"output at t = {t + 1}   {_KIND.get(source.output_kind, 'p')}\n", dim)
    for row, (j, name) in enumerate(zip(top, names)):
        style = win if row == 0 else Style()
        text.append("▶ " if row == 0 else "  ", style)
        text.append(f"{set_cell_size(name, name_w)} {p[j]:5.2f} ", style)
        text.append(bar(float(p[j]), 0.0, 1.0, bar_w), style if row == 0 else dim)
        if row < len(top) - 1:
            text.append("\n")
    return text


def render_warnings(warnings: tuple[str, ...], width: int, style: Style) -> Text:
    """Each warning as `⚠ sentence`, wrapped to `width` cells (plain Text, never markup)."""
    lines = Text(no_wrap=True)
    wrap = max(width - 2, 8)
    for warning in warnings:
        words = safe_line(warning).split(" ")
        row, first = "", True
        for word in words:
            if row and cell_len(row) + 1 + cell_len(word) > wrap:
                lines.append(("⚠ " if first else "  ") + row + "\n", style)
                row, first = "", False
            row = f"{row} {word}" if row else word
        lines.append(("⚠ " if first else "  ") + row + "\n", style)
    return lines


class OutputPanel(Widget):
    """The top-k outputs at the cursor."""

    DEFAULT_CSS = """
    OutputPanel { height: auto; }
    """
    COMPONENT_CLASSES = {"output-panel--winner", "output-panel--dim", "output-panel--warning"}

    source: reactive[Source | None] = reactive(None)
    t: reactive[int] = reactive(0)
    top_k: reactive[int] = reactive(5)
    """How many labels to list."""

    def render(self) -> Text:
        if self.source is None:
            return Text("")
        width = self.size.width
        output = render_output(
            self.source, self.t, self.top_k, width,
            self.get_component_rich_style("output-panel--winner"),
            self.get_component_rich_style("output-panel--dim"),
        )  # fmt: skip
        warnings = self.source.warnings
        if not warnings:
            return output
        style = self.get_component_rich_style("output-panel--warning")
        return render_warnings(warnings, width, style) + output
