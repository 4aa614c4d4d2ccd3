"""Helpers for the TUI tests: seeded synthetic traces, the sample models, and screen readers.

Everything the tests read off the screen goes through `widget_text`, which
renders a widget's lines the way the compositor does, so assertions are on
what a user sees, not on internal state alone.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from textual.geometry import Region

from lstm_engine import LSTMSpec, record
from lstm_tui.app import LstmTuiApp
from lstm_tui.source import Source

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_models"

WORDS = ("the", "cat", "sat", "on", "a", "warm", "mat", "today")
LABELS = ("DET", "NN", "V", "P")


def synthetic_source(
    *, layers: int = 1, bidirectional: bool = False, hidden: int = 6, T: int = 8,
    peephole: bool = False, proj: int = 0, seed: int = 0, name: str = "synthetic",
) -> Source:  # fmt: skip
    """A seeded random LSTM traced on random input, with tokens and a log-softmax head."""
    rng = np.random.default_rng(seed)
    spec = LSTMSpec.random(
        5, hidden, layers, bidirectional=bidirectional, peephole=peephole, proj_size=proj,
        seed=seed,
    )  # fmt: skip
    x = rng.standard_normal((T, 5))
    logits = rng.standard_normal((T, len(LABELS))) * 2
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    tokens = tuple(WORDS[k % len(WORDS)] for k in range(T))
    trace = record(spec, x, tokens=tokens, labels=LABELS, output=log_probs,
                   meta={"output_kind": "log_prob"})  # fmt: skip
    return Source(trace=trace, name=name, origin="live", output_kind="log_prob")


def widget_text(widget) -> str:
    """The widget as drawn, border included, one string per screen line."""
    w, h = widget.outer_size
    return "\n".join(strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, w, h)))


def table_rows(table, h_prev: bool = False) -> list[tuple[int, list[float]]]:
    """The unit table's visible rows as (unit, [the 12 quantities]) read back from the text
    (a name after the unit, the h_t-1 column before the quantities and the retention column
    after them are skipped; `h_prev`: keep h_t-1, first, where the table shows it)."""
    header = table.render_line(0).text
    shows_h_prev = "h_t-1" in header or "h_t+1" in header  # dropped where it does not fit
    skip = 1 if shows_h_prev and not h_prev else 0
    count = 12 + (1 if shows_h_prev else 0)
    rows = []
    for y in range(1, table.size.height):
        text = table.render_line(y).text.replace("▶", " ").split()
        numbers = [v for v in text[1:] if _is_number(v)]  # a unit's name is not one
        if text and text[0].isdigit() and len(numbers) >= count:
            rows.append((int(text[0]), [float(v) for v in numbers[skip:count]]))
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "∞"
    return True


class RecordingApp(LstmTuiApp):
    """The app, keeping every notification it shows (through the public App.notify),
    so tests read what the user was told without Textual's private notification store."""

    CSS_PATH = ROOT / "lstm_tui" / LstmTuiApp.CSS_PATH  # relative, it would be read beside this file

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[SimpleNamespace] = []

    def notify(self, message, *, title: str = "", **kwargs):
        self.notes.append(SimpleNamespace(message=str(message), title=str(title)))
        return super().notify(message, title=title, **kwargs)


def layernorm_state_dict(folder: Path) -> Path:
    """Embedding → LSTM → LayerNorm → Linear saved as a bare state_dict (seeded): it opens
    with a warning, since no part of the pipeline explains the LayerNorm (issue 8)."""
    import torch
    import torch.nn as nn

    class NormTagger(nn.Module):  # as tests/engine/test_every_parameter.py builds it
        def __init__(self):
            super().__init__()
            self.word_embeddings = nn.Embedding(9, 6)
            self.lstm = nn.LSTM(6, 6)
            self.norm = nn.LayerNorm(6)
            self.hidden2tag = nn.Linear(6, 3)
            with torch.no_grad():  # a trained LayerNorm is not the identity
                self.norm.weight.uniform_(0.5, 3.0)
                self.norm.bias.uniform_(-1.0, 1.0)

    torch.manual_seed(0)
    path = Path(folder) / "norm_tagger.pt"
    torch.save(NormTagger().eval().state_dict(), path)
    return path


#: The input the LayerNorm model is traced on (it carries no examples).
NORM_TEXT = "4 0 8 3 1 1"
