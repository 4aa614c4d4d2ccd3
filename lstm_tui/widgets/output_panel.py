"""OutputPanel: what the model said at step t, drawn for the kind of output it is.

A distribution over classes (log-probs, probabilities, logits) shows its
top-k labels with the winner marked; independent probabilities (a sigmoid,
like silero-vad's speech probability) show each p on its own 0..1 bar, never
renormalised (a softmax over one column says 1.00 at every step); values (a
regression) show each value on a bar spanning that column's range over the
sequence; an embedding shows its length, its cosine to the previous step and
its largest dimensions. The kind comes from the model (or --output-kind when
its guess is wrong); a one-column output read as classes is re-read by the
one guess, lstm_engine.guess_output_kind.

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
from lstm_engine import output_kind_of

from ..source import Source, probabilities
from ..text import display, safe_line
from ._lines import StripLines
from ._styles import CachedStyles

_KIND = {
    "log_prob": "p = exp(log-prob)",
    "prob": "p",
    "logit": "p = softmax(logits)",
    None: "p = softmax(output)",
}


def shown_kind(source: Source) -> str | None:
    """The kind the panel and the strip draw: the source's, read by the engine's one rule (one
    column is never a softmax)."""
    return output_kind_of(source.trace, source.output_kind)


def _names(source: Source, columns) -> list[str]:
    labels = source.trace.labels
    return [display(labels[j]) if labels is not None and j < len(labels) else f"#{j}"
            for j in columns]  # fmt: skip


def render_output(source: Source, t: int, k: int, width: int, win: Style, dim: Style) -> Text:
    """The output at t as its kind reads (`▶ NN    0.93 ████████▋ ` for classes)."""
    tr = source.trace
    if tr.output is None and tr.output_not_recomputed:  # a branch: never a stale output
        return Text(safe_line(tr.output_not_recomputed), dim)
    if tr.preview_until is not None and t >= tr.preview_until:  # the parent's there
        return Text(f"output at t = {t + 1} pending: the branch is being re-run", dim)
    if tr.output is None or tr.output.ndim != 2:
        return Text("No model output: this trace has the LSTM only.", dim)
    kind = shown_kind(source)
    if kind == "sigmoid":
        return _render_independent(source, t, k, width, win, dim)
    if kind == "value":
        return _render_values(source, t, k, width, win, dim)
    if kind == "embedding":
        return _render_embedding(source, t, k, width, win, dim)
    p = probabilities(tr.output[t], kind)
    top = np.argsort(-p, kind="stable")[:k]
    header = f"output at t = {t + 1}   {_KIND.get(kind, 'p')}"
    return _rows(header, _names(source, top), [p[j] for j in top], 0.0, 1.0, width,
                 [row == 0 for row in range(len(top))], win, dim, "5.2f")  # fmt: skip


def _rows(header, names, values, lo, hi, width, marked, win, dim, fmt) -> Text:
    name_w = min(max([cell_len(n) for n in names] or [1]), 16)
    num = f"{0:{fmt}}"
    bar_w = max(width - name_w - len(num) - 5, 4)
    text = Text(no_wrap=True)
    text.append(header + "\n", dim)
    for row, (name, v, mark) in enumerate(zip(names, values, marked)):
        style = win if mark else Style()
        text.append("▶ " if mark else "  ", style)
        text.append(f"{set_cell_size(name, name_w)} {v:{fmt}} ", style)
        text.append(bar(float(v), lo, hi, bar_w), style if mark else dim)
        if row < len(names) - 1:
            text.append("\n")
    return text


def _render_independent(source, t, k, width, win, dim) -> Text:
    """Each column its own probability: the highest k, those of 0.5 or more marked."""
    p = np.asarray(source.trace.output[t], dtype=np.float64)
    top = np.argsort(-p, kind="stable")[:k]
    what = "p (sigmoid)" if p.size == 1 else f"independent p (sigmoid), {p.size} outputs"
    return _rows(f"output at t = {t + 1}   {what}", _names(source, top), [p[j] for j in top],
                 0.0, 1.0, width, [p[j] >= 0.5 for j in top], win, dim, "5.2f")  # fmt: skip


def _render_values(source, t, k, width, win, dim) -> Text:
    """The first k values in column order, each bar spanning its column's range over the trace."""
    out = np.asarray(source.trace.output, dtype=np.float64)
    cols = list(range(min(k, out.shape[1])))
    lo, hi = float(np.nanmin(out[:, cols])), float(np.nanmax(out[:, cols]))
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    more = f" (first {len(cols)} of {out.shape[1]})" if out.shape[1] > len(cols) else ""
    header = f"output at t = {t + 1}   value{'s' if out.shape[1] > 1 else ''}{more}, " \
             f"bar over {lo:.3g}..{hi:.3g}"  # fmt: skip
    return _rows(header, _names(source, cols), [out[t, j] for j in cols], lo, hi, width,
                 [False] * len(cols), win, dim, "+9.4g")  # fmt: skip


def _render_embedding(source, t, k, width, win, dim) -> Text:
    """Its length, its cosine to the previous step's, and its k largest dimensions by size."""
    out = np.asarray(source.trace.output, dtype=np.float64)
    e = out[t]
    norm = float(np.linalg.norm(e))
    header = f"output at t = {t + 1}   embedding, {e.size} dims, |e| = {norm:.3f}"
    if t > 0:
        prev = out[t - 1]
        denom = norm * float(np.linalg.norm(prev))
        header += f", cos to step {t} = {float(e @ prev) / denom:+.3f}" if denom > 0 else ""
    top = np.argsort(-np.abs(e), kind="stable")[:k]
    names = [f"d{j}" if source.trace.labels is None else name
             for j, name in zip(top, _names(source, top))]  # fmt: skip
    span = float(np.abs(e).max()) or 1.0
    return _rows(header, names, [e[j] for j in top], -span, span, width,
                 [False] * len(top), win, dim, "+6.3f")  # fmt: skip


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


class OutputPanel(StripLines, CachedStyles, Widget):
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
            self.component_style("output-panel--winner"),
            self.component_style("output-panel--dim"),
        )  # fmt: skip
        warnings = self.source.warnings
        if not warnings:
            return output
        style = self.component_style("output-panel--warning")
        return render_warnings(warnings, width, style) + output
