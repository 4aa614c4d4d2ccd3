"""StatusHeader: the one line that says what you are looking at and where the cursor is.

`tagger · LSTM 6→6 ×1 layer, uni   t = 3 / 5   layer 1/1  → forward`

The model's name comes from the file: it is shown through safe_line as plain
Text (never markup, never a terminal escape). A model that opened with
warnings says so right after its name (`⚠ 1 warning (?)`), before anything
that a narrow terminal would cut off.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..source import Source
from ..text import safe_line
from ._lines import StripLines
from ._styles import CachedStyles

#: Longest model name the header shows, in characters (the rest is cut with …).
NAME_LIMIT = 40
#: Longest stop label (the watch expressions that stopped a continue) the header shows.
STOP_LIMIT = 60


class StatusHeader(StripLines, CachedStyles, Widget):
    """Model name, architecture, the step counter and the layer/direction in view."""

    DEFAULT_CSS = """
    StatusHeader { height: 1; }
    """
    COMPONENT_CLASSES = {
        "status-header--name", "status-header--step", "status-header--dim",
        "status-header--warning", "status-header--branch", "status-header--stop",
    }  # fmt: skip

    source: reactive[Source | None] = reactive(None)
    """What is loaded; None while loading."""
    t: reactive[int] = reactive(0)
    """The cursor, 0-based; shown 1-based as `t = 3 / 5`."""
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    branch_label: reactive[str] = reactive("")
    """Which branch or side is in view and how it was made ("⎇ branch 2: ablate 11 from 5"),
    built by the screen from edits it formatted; "" for the trace as opened."""
    stop_label: reactive[str] = reactive("")
    """The watch that stopped the last continue ("▶ stopped: f[1] > 0.6"), from the user's
    text; "" once the cursor moves on."""

    def render(self) -> Text:
        src = self.source
        if src is None:
            return Text("lstm-tui")
        tr = src.trace
        name = self.component_style("status-header--name")
        step = self.component_style("status-header--step")
        dim = self.component_style("status-header--dim")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {safe_line(src.name, NAME_LIMIT)} ", name)
        text.append(" ")
        warnings = src.warnings
        if warnings:
            n = len(warnings)
            warn = self.component_style("status-header--warning")
            text.append(f" ⚠ {n} warning{'s' if n > 1 else ''} (?) ", warn)
            text.append(" ")
        if src.corpus is not None:  # one input of a corpus: which (an edited text is none)
            which = f"input {src.input + 1} of {len(src.corpus)}" if src.input is not None \
                else f"edited input (corpus of {len(src.corpus)})"  # fmt: skip
            text.append(f" {which} ", self.component_style("status-header--step"))
            text.append(" ")
        if self.branch_label:
            text.append(f" {self.branch_label} ", self.component_style(
                "status-header--branch"))
            text.append(" ")
        text.append(src.summary(), dim)
        if src.origin == "trace":
            text.append("  [trace, read-only]", dim)
        text.append("   ")
        text.append(f"t = {self.t + 1} / {tr.T}", step)
        if self.stop_label:  # beside the step it explains
            text.append("  ")
            text.append(f" {safe_line(self.stop_label, STOP_LIMIT)} ",
                        self.component_style("status-header--stop"))
        text.append(f"   layer {self.lstm_layer + 1}/{tr.num_layers}")
        if tr.num_directions == 2:
            text.append("  ← reverse" if tr.reads_reversed(self.direction) else "  → forward")
        return text
