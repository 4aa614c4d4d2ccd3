"""A bare state_dict whose head is Linear(H, 1) says "logit", but one column is no class
distribution: the engine's one rule (output_kind_of) re-reads it, and the strip, the output
panel and the watch language's prob all use that rule, so none shows softmax's 1.00."""

from __future__ import annotations

import numpy as np
import torch

from lstm_engine import compile_watch, output_kind_of, probabilities
from lstm_tui.opening import open_path
from lstm_tui.widgets.output_panel import shown_kind
from lstm_tui.widgets.sequence_strip import predictions


class _OneOutput(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(10, 4)
        self.lstm = torch.nn.LSTM(4, 6)
        self.head = torch.nn.Linear(6, 1)


def test_a_one_column_head_is_not_a_softmax_in_the_strip_panel_or_watches(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "one.pt"
    torch.save(_OneOutput().state_dict(), path)
    ids = tmp_path / "ids.npy"
    np.save(ids, np.array([1, 2, 3, 4, 5, 6]))
    source = open_path(str(path), input_path=str(ids))
    tr = source.trace
    assert source.output_kind == "logit" and tr.output.shape[1] == 1  # what the reader says
    kind = output_kind_of(tr, source.output_kind)
    assert kind in ("sigmoid", "value") and shown_kind(source) == kind
    strip = [p for _, p in predictions(source)]
    np.testing.assert_allclose(strip, tr.output[:, 0].astype(np.float64))
    assert not np.allclose(strip, 1.0)
    np.testing.assert_allclose(probabilities(tr.output, kind)[:, 0], strip)
    # the watch language reads prob by the same rule
    w = compile_watch("prob", tr, 0, 0, output_kind=kind)
    assert [w.value_at(t) for t in range(tr.T)] == strip
