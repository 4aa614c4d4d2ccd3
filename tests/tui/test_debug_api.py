"""lstm_tui.debug(): a live torch model opens in the same UI, with the LSTM's real numbers."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from lstm_engine import LSTMSpec, trace_lstm
from lstm_tui.app import LstmTuiApp
from lstm_tui.opening import from_live
from lstm_tui.screens.debugger import DebuggerScreen

from tui_helpers import widget_text

torch = pytest.importorskip("torch")


class Tagger(torch.nn.Module):
    """The seed's LSTMTagger shape: embedding → LSTM → linear → log_softmax."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(10, 4)
        self.lstm = torch.nn.LSTM(4, 5)
        self.head = torch.nn.Linear(5, 3)

    def forward(self, ids):
        x = self.emb(ids).view(len(ids), 1, -1)
        out, _ = self.lstm(x)
        return torch.log_softmax(self.head(out.view(len(ids), -1)), dim=1)


def test_a_whole_model_is_traced_through_a_hook_on_its_lstm():
    model = Tagger().double()
    ids = torch.tensor([1, 4, 2, 7])
    src = from_live(model, ids, tokens=["a", "b", "c", "d"], labels=["X", "Y", "Z"])
    with torch.no_grad():
        x = model.emb(ids).view(4, 1, -1)
        want = trace_lstm(model.lstm, x)
        out = model(ids).numpy()
    np.testing.assert_allclose(src.trace.c, want.c, atol=1e-12)
    np.testing.assert_allclose(src.trace.h[0, 0], model.lstm(x)[0][:, 0].detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(src.trace.output, out)
    assert src.output_kind == "log_prob"
    assert src.trace.tokens == ("a", "b", "c", "d")
    assert src.read_only_reason is not None


def test_an_lstm_spec_and_an_nn_lstm():
    spec = LSTMSpec.random(3, 4, seed=1)
    x = np.random.default_rng(0).standard_normal((5, 3))
    src = from_live(spec, x)
    assert src.trace.T == 5 and src.trace.output is None
    lstm = torch.nn.LSTM(3, 4)
    src = from_live(lstm, torch.randn(5, 1, 3))
    assert src.trace.hidden_size == 4


def test_errors_are_engine_errors():
    from lstm_engine import EngineError

    with pytest.raises(EngineError, match="no nn.LSTM"):
        from_live(torch.nn.Linear(2, 2), torch.randn(3, 2))
    with pytest.raises(EngineError, match="needs the inputs"):
        from_live(LSTMSpec.random(3, 4), None)


async def test_debug_opens_the_debugger_on_a_live_model():
    model = Tagger().double()
    ids = torch.tensor([1, 4, 2, 7, 3])
    app = LstmTuiApp(loader=partial(from_live, model, ids, name="Tagger"), what="Tagger")
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DebuggerScreen)
        await pilot.press("right")
        header = widget_text(app.screen.query_one("#header"))
        assert "Tagger" in header and "t = 2 / 5" in header


def test_debug_raises_a_script_error_to_the_caller_before_any_screen(monkeypatch):
    """Text without vocab= is the script's mistake: debug() raises it, no dialog, no silent 2."""
    import lstm_tui
    from lstm_engine import InputError

    ran = []
    monkeypatch.setattr(LstmTuiApp, "run", lambda self, *a, **k: ran.append(self))
    with pytest.raises(InputError, match="vocab="):
        lstm_tui.debug(Tagger(), "The dog ate the apple")
    assert ran == []  # the UI never started
    # a correct call opens the app on the model's source (run is stubbed: no terminal here)
    assert lstm_tui.debug(Tagger().double(), torch.tensor([1, 4, 2])) == 0
    assert len(ran) == 1 and ran[0]._source.trace.T == 3
