"""A Model shows its parts: embedding, LSTMs in data-flow order, head; downstream(h) re-runs the rest.

Each part is checked against the torch module it came from (exact weights),
and downstream is checked the micrograd way: the same edited h through the
engine and through torch's own later modules must agree (float64 1e-10,
float32 1e-5), and an unedited h must give the trace's own output bit for bit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_engine import (
    EmbeddingPart, EngineError, HeadPart, InputError, LSTMPart, LSTMSpec, load, save_checkpoint,
)  # fmt: skip
from lstm_engine.model import PipelineModel

IDS = [4, 0, 8, 3, 1, 1, 7]
TEXT = " ".join(map(str, IDS))


class UniThenBi(nn.Module):
    """Embedding → a left-to-right LSTM → a bidirectional LSTM → Linear → log_softmax."""

    def __init__(self, second_bidirectional=True):
        super().__init__()
        self.emb = nn.Embedding(9, 5)
        self.a = nn.LSTM(5, 6)
        self.b = nn.LSTM(6, 4, bidirectional=second_bidirectional)
        self.out = nn.Linear(8 if second_bidirectional else 4, 3)

    def forward(self, ids):
        y, _ = self.a(self.emb(ids).view(len(ids), 1, -1))
        y, _ = self.b(y)
        return F.log_softmax(self.out(y.view(len(ids), -1)), dim=1)


class WithLayerNorm(UniThenBi):
    """The same, with a LayerNorm before the head: the head alone is not what follows."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(8)

    def forward(self, ids):
        y, _ = self.a(self.emb(ids).view(len(ids), 1, -1))
        y, _ = self.b(y)
        return F.log_softmax(self.out(self.norm(y.view(len(ids), -1))), dim=1)


def _net(dtype=torch.float64, cls=UniThenBi, **kw):
    torch.manual_seed(0)
    return cls(**kw).to(dtype).eval()


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-5


def _torch_after_a(net, h):
    """What torch computes from LSTM a's output h: net.b, then the head and log_softmax."""
    with torch.no_grad():
        y, _ = net.b(torch.from_numpy(h)[:, None])
        return F.log_softmax(net.out(y[:, 0]), dim=1).numpy()


def _h(trace):
    return np.concatenate(list(trace.h[-1]), axis=-1)  # (T, D*P)


@pytest.fixture(params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


def test_checkpoint_parts_are_the_modules_weights(tmp_path, dtype):
    net = _net(dtype)
    m = load(save_checkpoint(net, tmp_path / "m.pt", examples=[TEXT]))
    assert isinstance(m.embedding, EmbeddingPart) and m.embedding.name == "emb"
    np.testing.assert_array_equal(m.embedding.weight, net.emb.weight.detach().numpy())
    assert [p.name for p in m.lstms] == ["a", "b"] and all(isinstance(p, LSTMPart) for p in m.lstms)
    assert [p.spec.bidirectional for p in m.lstms] == [False, True]
    np.testing.assert_array_equal(m.lstms[1].spec.weights[0][1].W_hh, net.b.weight_hh_l0_reverse.detach().numpy())
    assert isinstance(m.head, HeadPart) and (m.head.name, m.head.output) == ("out", "log_softmax")
    np.testing.assert_array_equal(m.head.weight, net.out.weight.detach().numpy())
    np.testing.assert_array_equal(m.head.bias, net.out.bias.detach().numpy())
    assert m.warnings == ()


def test_parts_are_frozen_data_that_nobody_can_edit(tmp_path):
    m = load(save_checkpoint(_net(), tmp_path / "m.pt", examples=[TEXT]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.head.output = "softmax"
    for a in (m.embedding.weight, m.head.weight, m.head.bias):
        with pytest.raises(ValueError):
            a[0] = 1.0
    assert m.head != HeadPart("out", m.head.weight, m.head.bias, "log_softmax")  # eq=False: identity


def test_downstream_of_the_traced_h_is_the_trace_output_bit_for_bit(tmp_path, dtype):
    m = load(save_checkpoint(_net(dtype), tmp_path / "m.pt", examples=[TEXT]), lstm="a")
    tr = m.trace(TEXT)
    np.testing.assert_array_equal(m.downstream("a", _h(tr)), tr.output)
    tr_b = load(tmp_path / "m.pt", lstm="b").trace(TEXT)
    np.testing.assert_array_equal(m.downstream("b", _h(tr_b)), tr.output)


def test_downstream_of_an_edited_h_agrees_with_torch(tmp_path, dtype):
    net = _net(dtype)
    m = load(save_checkpoint(net, tmp_path / "m.pt", examples=[TEXT]), lstm="a")
    h = _h(m.trace(TEXT))
    h[3:, 2] = 0.9  # a unit held high from step 3 on: only the later steps' inputs change
    got = m.downstream("a", h)
    want = _torch_after_a(net, h)
    np.testing.assert_allclose(got, want, atol=_tol(dtype), rtol=0)
    assert got.dtype == h.dtype
    # the edit reaches every step through the reverse direction of b: the whole output moves
    assert (np.abs(got - m.trace(TEXT).output).max(axis=1) > 1e-6).all()


def test_downstream_from_the_last_lstm_is_the_head_alone(tmp_path, dtype):
    net = _net(dtype)
    m = load(save_checkpoint(net, tmp_path / "m.pt", examples=[TEXT]))
    h = np.random.default_rng(0).uniform(-1, 1, (5, 8)).astype(m.lstms[1].spec.dtype)
    with torch.no_grad():
        want = F.log_softmax(net.out(torch.from_numpy(h)), dim=1).numpy()
    np.testing.assert_allclose(m.downstream("b", h), want, atol=_tol(dtype), rtol=0)


def test_downstream_refuses_what_it_cannot_take(tmp_path):
    m = load(save_checkpoint(_net(), tmp_path / "m.pt", examples=[TEXT]))
    with pytest.raises(InputError, match=r"outputs \[T, 6\]"):
        m.downstream("a", np.zeros((4, 8)))
    with pytest.raises(InputError, match="no LSTM named 'c'.*'a', 'b'"):
        m.downstream("c", np.zeros((4, 6)))
    bare = load(save_checkpoint(nn.LSTM(3, 4), tmp_path / "lstm.pt"))
    with pytest.raises(EngineError, match="no head"):
        bare.downstream("", np.zeros((4, 4)))


def test_output_uses_future_reads_the_structure_not_the_traced_lstm(tmp_path):
    """Tracing the left-to-right LSTM a of a → bi b still shows a prediction that saw the future."""
    bi = load(save_checkpoint(_net(), tmp_path / "bi.pt", examples=[TEXT]), lstm="a")
    assert not bi.spec.bidirectional and bi.output_uses_future
    assert bi.trace(TEXT).meta["output_uses_future"] is True
    uni = load(save_checkpoint(_net(second_bidirectional=False), tmp_path / "uni.pt", examples=[TEXT]))
    assert not uni.output_uses_future and uni.trace(TEXT).meta["output_uses_future"] is False


def test_a_reverse_only_lstm_reads_the_future():
    spec = LSTMSpec.random(3, 4, 1, seed=0)
    rev = dataclasses.replace(spec, directions=("reverse",))
    head = ("out", np.ones((2, 4)), None)
    fwd = PipelineModel(path="f", format="test", embedding=None, lstms=[("l", spec)], head=head, output="logits")
    back = PipelineModel(path="r", format="test", embedding=None, lstms=[("l", rev)], head=head, output="logits")
    assert not fwd.output_uses_future and back.output_uses_future
    assert back.lstms[0].reads_right_to_left and not fwd.lstms[0].reads_right_to_left


def test_bare_state_dict_parts(tmp_path):
    net = _net()
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    m = load(tmp_path / "sd.pt")
    assert (m.embedding.name, [p.name for p in m.lstms], m.head.name) == ("emb", ["a", "b"], "out")
    assert m.head.output == "logits"  # a state_dict does not say what follows the head
    tr = m.trace(TEXT)
    np.testing.assert_array_equal(m.downstream("a", _h(tr)), tr.output)


# --- torch modules, run by torch
def test_pickled_module_downstream_reruns_its_later_modules(tmp_path, dtype):
    net = _net(dtype)
    torch.save(net, tmp_path / "net.pt")
    m = load(tmp_path / "net.pt", trust=True, lstm="a")
    assert m.embedding.name == "emb" and [p.name for p in m.lstms] == ["a", "b"]
    assert m.output_uses_future  # b is bidirectional, whichever LSTM is traced
    with pytest.raises(EngineError, match="trace an input first"):
        m.downstream("a", np.zeros((3, 6)))
    tr = m.trace(TEXT)
    assert (m.head.name, m.head.output) == ("out", "log_softmax")
    with torch.no_grad():
        h_torch, _ = net.a(net.emb(torch.tensor(IDS))[:, None])
    np.testing.assert_allclose(m.downstream("a", h_torch[:, 0].numpy()), tr.output, atol=1e-12, rtol=0)
    h = _h(tr)
    h[:2] = -0.5
    np.testing.assert_allclose(m.downstream("a", h), _torch_after_a(net, h), atol=_tol(dtype), rtol=0)


def test_pickled_module_with_more_than_a_head_refuses_downstream(tmp_path):
    torch.save(_net(cls=WithLayerNorm), tmp_path / "ln.pt")
    m = load(tmp_path / "ln.pt", trust=True, lstm="a")
    tr = m.trace(TEXT)
    assert tr.output is not None and m.head is None  # the output is the module's own
    with pytest.raises(EngineError, match="does more than embedding → LSTMs → head"):
        m.downstream("a", _h(tr))


def test_torchscript_downstream_after_a_checked_run(tmp_path):
    net = _net()
    torch.jit.save(torch.jit.script(net), tmp_path / "s.pt")
    m = load(tmp_path / "s.pt", trust=True, lstm="a")
    tr = m.trace(TEXT)
    assert m.head is not None and m.head.output == "log_softmax"
    h = _h(tr) * 0.5
    np.testing.assert_allclose(m.downstream("a", h), _torch_after_a(net, h), atol=1e-10, rtol=0)


def test_a_head_whose_output_the_file_leaves_open_is_applied_as_logits(tmp_path):
    net = _net()
    m = load(save_checkpoint(net, tmp_path / "m.pt", examples=[TEXT], output=None))
    assert m.head.output == "logits" and m.output_kind is None
    with torch.no_grad():
        y, _ = net.b(net.a(net.emb(torch.tensor(IDS))[:, None])[0])
        z = net.out(y[:, 0]).numpy()
    np.testing.assert_allclose(m.trace(TEXT).output, z, atol=1e-10, rtol=0)


class TanhBetween(nn.Module):
    """LSTM a → tanh → LSTM b → Linear → softmax, numeric input: b does not read a's output."""

    def __init__(self):
        super().__init__()
        self.a = nn.LSTM(3, 5)
        self.b = nn.LSTM(5, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        y, _ = self.a(x)
        y, _ = self.b(torch.tanh(y))
        return torch.softmax(self.head(y), dim=-1)


def test_a_hooked_module_runs_downstream_only_where_the_chain_was_seen(tmp_path):
    torch.manual_seed(0)
    torch.save(TanhBetween().eval(), tmp_path / "tanh.pt")
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    m = load(tmp_path / "tanh.pt", trust=True, lstm="b")
    tr = m.trace(x)
    assert m.head.output == "softmax"
    np.testing.assert_allclose(m.downstream("b", _h(tr)), tr.output, atol=1e-5, rtol=0)
    with pytest.raises(EngineError, match="LSTM 'b' did not read what the LSTM before it returned"):
        m.downstream("a", np.zeros((6, 5), np.float32))


class DeepProjected(nn.Module):
    """Embedding → 2-layer LSTM → bidirectional projected LSTM → Linear, output chosen at save."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(9, 4)
        self.a = nn.LSTM(4, 5, num_layers=2)
        self.b = nn.LSTM(5, 6, bidirectional=True, proj_size=3)
        self.out = nn.Linear(6, 4)


@pytest.mark.parametrize("output", ["log_softmax", "softmax", "logits"])
def test_downstream_through_a_projected_bidirectional_lstm_agrees_with_torch(tmp_path, output):
    torch.manual_seed(3)
    net = DeepProjected().double().eval()
    m = load(save_checkpoint(net, tmp_path / "m.pt", examples=[TEXT], output=output), lstm="a")
    assert [p.out_width for p in m.lstms] == [5, 6] and m.head.output == output
    h = np.random.default_rng(1).uniform(-1, 1, (7, 5))
    with torch.no_grad():
        y, _ = net.b(torch.from_numpy(h)[:, None])
        z = net.out(y[:, 0])
        want = {"log_softmax": lambda a: F.log_softmax(a, 1), "softmax": lambda a: F.softmax(a, 1),
                "logits": lambda a: a}[output](z).numpy()  # fmt: skip
    np.testing.assert_allclose(m.downstream("a", h), want, atol=1e-10, rtol=0)
