"""A branch's model output: recomputed where the rest of the model can run, announced where not.

The recomputed output is checked against torch running the same intervention on its
own (nn.LSTM stepped one input at a time, the unit's c and h zeroed after each step in
the range, then the checkpoint's head), and a replaced token against tracing the edited
text from scratch. Where the reader cannot run what follows the LSTM (ONNX), or there is
no model (a recorded trace file), the branch has no output and says why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import lstm_engine
from lstm_engine import (
    Ablate, InputError, Opened, ReplaceInput, SetState, TokenReplacement, Trace, open_and_trace,
    parse_edit,
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
FRANCE = ROOT / "sample_models" / "france.pt"
TOL = 1e-5


def _torch_france(tokens, ablate_unit=None, from_t=0):
    """france.pt run by torch alone, with the unit's c and h zeroed after every step from
    `from_t` on: the model's output (T, n_out), float32."""
    ck = torch.load(FRANCE, weights_only=True)
    sd, cfg = ck["state_dict"], ck["architecture"]["lstm_config"]["lstm"]
    assert cfg["num_layers"] == 1 and not cfg["bidirectional"]
    lstm = torch.nn.LSTM(cfg["input_size"], cfg["hidden_size"])
    lstm.load_state_dict({k[len("lstm."):]: v for k, v in sd.items() if k.startswith("lstm.")})
    vocab = {w: k for k, w in enumerate(ck["vocab"])}
    x = sd["embedding.weight"][[vocab[w] for w in tokens]]
    h = c = torch.zeros(1, 1, cfg["hidden_size"])
    hs = []
    with torch.no_grad():
        for s in range(len(tokens)):
            _, (h, c) = lstm(x[s : s + 1, None], (h, c))
            if ablate_unit is not None and s >= from_t:
                h, c = h.clone(), c.clone()
                h[..., ablate_unit] = 0.0
                c[..., ablate_unit] = 0.0
            hs.append(h[0, 0])
        logits = torch.stack(hs) @ sd["head.weight"].T + sd["head.bias"]
        return torch.log_softmax(logits, -1).numpy()


@pytest.fixture(scope="module")
def france() -> Opened:
    return open_and_trace(FRANCE)


def test_an_ablations_output_is_the_models_own_on_the_edited_h(france):
    trace = france.trace
    t = trace.tokens.index("France")
    unit = france.model.focus["unit"]
    child = france.branch([Ablate(unit=unit, from_t=t)])
    assert child.output is not None and child.output_not_recomputed is None
    np.testing.assert_allclose(child.output, _torch_france(trace.tokens, unit, t), atol=TOL, rtol=0)
    np.testing.assert_allclose(trace.output, _torch_france(trace.tokens), atol=TOL, rtol=0)
    assert not np.array_equal(child.output[t:], trace.output[t:])
    np.testing.assert_array_equal(child.output[:t], trace.output[:t])  # before it: the parent's
    # the engine alone cannot know the head: the plain branch drops the output and says why
    bare = lstm_engine.branch(trace, [Ablate(unit=unit, from_t=t)])
    assert bare.output is None
    assert bare.output_not_recomputed.startswith("output not recomputed for this branch")


def test_an_edit_after_the_last_step_it_reaches_keeps_the_parents_output(france):
    trace = france.trace
    last = trace.T - 1
    child = france.branch([SetState(name="h", t=last, unit=0, value=trace.h[0, 0, last, 0])])
    assert child.output is trace.output or np.array_equal(child.output, trace.output)


def test_a_replaced_token_is_its_embedding_row_and_the_branch_is_the_edited_text(france):
    trace, model = france.trace, france.model
    t = trace.tokens.index("France")
    child = france.branch([parse_edit(f"token {t + 1} = Spain", trace)])  # steps as on screen
    assert child.tokens[t] == "Spain" and child.tokens[:t] == trace.tokens[:t]
    assert isinstance(child.edits[-1], ReplaceInput) and child.edits[-1].t == t
    fresh = model.trace(list(child.tokens))
    for name in ("x", "i", "f", "g", "o", "c", "h", "output"):
        np.testing.assert_allclose(getattr(child, name), getattr(fresh, name), atol=TOL, rtol=0,
                                   err_msg=name)  # fmt: skip
    edit = model.replace_token(trace, t, "Spain")
    np.testing.assert_array_equal(np.asarray(edit.x, np.float32),
                                  model.embedding.weight[model.vocab.index("Spain")])  # fmt: skip


def test_a_bad_token_edit_is_one_clear_error(france):
    trace, model = france.trace, france.model
    with pytest.raises(InputError, match=r"token 'Narnia' at step 3: 'Narnia' is not in"):
        france.branch([TokenReplacement(2, "Narnia")])
    with pytest.raises(InputError, match="outside the trace"):
        france.branch([TokenReplacement(trace.T, "Spain")])
    assert model.unk is None or "Narnia" not in model.vocab


def test_a_numeric_model_takes_no_token(tmp_path):
    from lstm_engine import LSTMSpec, save_checkpoint

    net = torch.nn.Sequential()
    net.lstm = torch.nn.LSTM(2, 3)
    path = tmp_path / "numeric.pt"
    save_checkpoint(net, path, examples=[np.zeros((4, 2), np.float32)])
    opened = open_and_trace(path)
    with pytest.raises(InputError, match="numeric input, not tokens"):
        opened.branch([TokenReplacement(1, "a")])
    assert isinstance(opened.model.spec, LSTMSpec)


def test_a_recorded_trace_branches_without_its_model(france, tmp_path):
    path = tmp_path / "france.npz"
    france.trace.save(path)
    opened = open_and_trace(path)
    assert opened.model is None
    child = opened.branch([Ablate(unit=3)])
    assert child.output is None and "output not recomputed" in child.output_not_recomputed
    with pytest.raises(InputError, match="open the model"):
        opened.branch([TokenReplacement(1, "Spain")])
    # the note travels with the file, and a further branch keeps it
    child.save(tmp_path / "child.npz")
    again = Trace.load(tmp_path / "child.npz")
    assert again.output_not_recomputed == child.output_not_recomputed
    assert lstm_engine.branch(again, [Ablate(unit=2)]).output_not_recomputed == \
        child.output_not_recomputed  # fmt: skip


def test_an_onnx_models_branch_says_its_output_was_not_recomputed(tmp_path):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from lstm_engine.formats.onnx_write import checkpoint_to_onnx

    checkpoint_to_onnx(FRANCE, tmp_path / "france.onnx")
    opened = open_and_trace(tmp_path / "france.onnx")
    assert opened.trace.output is not None
    child = opened.branch([Ablate(unit=1, from_t=2)])
    assert child.output is None
    note = child.output_not_recomputed
    assert note.startswith("output not recomputed for this branch: ") and "onnx" in note.lower()


def test_a_pickled_modules_branch_runs_its_later_modules_with_torch(tmp_path):
    """--trust: LSTM a ablated, then torch's own LSTM b and head on the edited output."""
    from test_model_parts import TEXT, _net, _torch_after_a

    net = _net(torch.float64)
    torch.save(net, tmp_path / "net.pt")
    opened = open_and_trace(tmp_path / "net.pt", text=TEXT, trust=True, lstm="a")
    unit, from_t = 2, 3
    child = opened.branch([Ablate(unit=unit, from_t=from_t)])
    ids = torch.tensor([int(w) for w in TEXT.split()])
    h = c = torch.zeros(1, 1, net.a.hidden_size, dtype=torch.float64)
    hs = []
    with torch.no_grad():
        x = net.emb(ids)
        for s in range(len(ids)):  # torch's LSTM a, stepped, the unit zeroed from from_t on
            _, (h, c) = net.a(x[s : s + 1, None], (h, c))
            if s >= from_t:
                h, c = h.clone(), c.clone()
                h[..., unit] = c[..., unit] = 0.0
            hs.append(h[0, 0])
    want = _torch_after_a(net, torch.stack(hs).numpy())
    np.testing.assert_allclose(child.output, want, atol=1e-10, rtol=0)
    assert child.output_not_recomputed is None
    assert not np.allclose(child.output, opened.trace.output)
