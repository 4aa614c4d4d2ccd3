"""The project checkpoint: save_checkpoint → load → a trace that matches torch, and the tagger sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_engine import (
    EngineError,
    InputError,
    LoadError,
    LSTMSpec,
    SpecError,
    load,
    record,
    save_checkpoint,
    trace_lstm,
)
from lstm_engine.formats.checkpoint import FORMAT, VERSION

ROOT = Path(__file__).resolve().parents[2]
TAGGER = ROOT / "sample_models" / "tagger.pt"
WORDS = "The dog ate the apple Everybody read that book".split()


class Tagger(nn.Module):
    """The seed's LSTMTagger shape, with options to exercise stacked and bidirectional LSTMs."""

    def __init__(self, vocab=9, emb=6, hidden=6, tags=3, layers=1, bidirectional=False, second=None):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, num_layers=layers, bidirectional=bidirectional)
        width = hidden * (2 if bidirectional else 1)
        self.lstm2 = nn.LSTM(width, second) if second else None
        self.hidden2tag = nn.Linear(second or width, tags)

    def forward(self, sentence):
        out, _ = self.lstm(self.word_embeddings(sentence).view(len(sentence), 1, -1))
        if self.lstm2 is not None:
            out, _ = self.lstm2(out)
        return F.log_softmax(self.hidden2tag(out.view(len(sentence), -1)), dim=1)


def _ids(words):
    return torch.tensor([WORDS.index(w) for w in words])


def assert_same_trace(a, b, atol=0.0):
    """Bit-identical when both recordings start from the same input; else to float32 tolerance."""
    for name in ("x", "i", "f", "g", "o", "c", "h"):
        if atol:
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


# --- the seed's tagger sample
def test_tagger_sample_reproduces_the_tutorial_predictions():
    model = load(TAGGER)
    expect = {
        "The dog ate the apple": ["DET", "NN", "V", "DET", "NN"],
        "Everybody read that book": ["NN", "V", "DET", "NN"],
    }
    for text, tags in expect.items():
        trace = model.trace(text)
        assert [trace.labels[k] for k in trace.output.argmax(axis=1)] == tags
        assert trace.tokens == tuple(text.split())
        np.testing.assert_allclose(np.exp(trace.output).sum(axis=1), 1.0, rtol=1e-5)


def test_tagger_sample_is_the_seeds_architecture_and_opens_safely():
    ckpt = torch.load(TAGGER, weights_only=True)
    assert ckpt["format"] == FORMAT and ckpt["version"] == VERSION
    assert set(ckpt["state_dict"]) == {
        "word_embeddings.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
        "lstm.bias_hh_l0", "hidden2tag.weight", "hidden2tag.bias",
    }  # fmt: skip
    arch = ckpt["architecture"]
    assert (arch["embedding"], arch["lstms"], arch["head"], arch["output"]) == (
        "word_embeddings", ["lstm"], "hidden2tag", "log_softmax",
    )  # fmt: skip
    assert ckpt["vocab"] == WORDS and ckpt["labels"] == ["DET", "NN", "V"]
    assert ckpt["examples"] == ["The dog ate the apple", "Everybody read that book"]
    assert ckpt["tokenizer"] == "words" and ckpt["unk"] is None
    model = load(TAGGER)
    assert model.format == "checkpoint" and model.lstm_names == ("lstm",)
    assert model.spec.summary() == "LSTM 6→6 ×1 layer, uni"
    assert model.info()["parameters"] == 9 * 6 + 4 * 6 * 6 * 2 + 4 * 6 * 2 + 3 * 6 + 3


def test_tagger_sample_equals_torch_forward_and_trace_lstm():
    ckpt = torch.load(TAGGER, weights_only=True)
    torch_model = Tagger()
    torch_model.load_state_dict(ckpt["state_dict"])
    torch_model.eval()
    words = "the dog read the book".split()
    trace = load(TAGGER).trace(" ".join(words))
    with torch.no_grad():
        expect = torch_model(_ids(words)).numpy()
        emb = torch_model.word_embeddings(_ids(words))
    np.testing.assert_allclose(trace.output, expect, atol=1e-5)
    assert_same_trace(trace, trace_lstm(torch_model.lstm, emb))


# --- save_checkpoint round trips
@pytest.mark.parametrize("layers,bidirectional,second", [(1, False, None), (2, True, None), (2, True, 5)])
def test_round_trip_module(tmp_path, layers, bidirectional, second):
    torch.manual_seed(3)
    m = Tagger(layers=layers, bidirectional=bidirectional, second=second, hidden=4).eval()
    path = save_checkpoint(m, tmp_path / "m.pt", vocab=WORDS, labels=["A", "B", "C"],
                           examples=["The dog ate"])  # fmt: skip
    words = "Everybody read that apple".split()
    with torch.no_grad():
        expect = m(_ids(words)).numpy()
        lstm1_out, _ = m.lstm(m.word_embeddings(_ids(words))[:, None])
    for name in ("lstm", "lstm2") if second else ("lstm",):
        model = load(path, lstm=name)
        assert model.lstm_names == (("lstm", "lstm2") if second else ("lstm",))
        trace = model.trace(words)
        np.testing.assert_allclose(trace.output, expect, atol=1e-5)
        assert trace.meta["lstm"] == name and trace.meta["model_format"] == "checkpoint"
        if name == "lstm":
            assert_same_trace(trace, trace_lstm(m.lstm, m.word_embeddings(_ids(words))))
        else:  # fed by the engine's lstm, not torch's: equal to float32 rounding
            assert_same_trace(trace, trace_lstm(m.lstm2, lstm1_out), atol=1e-5)


def test_peephole_spec_round_trip(tmp_path):
    spec = LSTMSpec.random(3, 5, peephole=True, seed=7)
    x = np.random.default_rng(0).normal(size=(11, 3))
    path = save_checkpoint(spec, tmp_path / "peep.pt", examples=[x], tokenizer=None,
                           description="a counter")  # fmt: skip
    sd = torch.load(path, weights_only=True)["state_dict"]
    assert {"lstm.peephole_i_l0", "lstm.peephole_f_l0", "lstm.peephole_o_l0"} <= set(sd)
    model = load(path)
    assert model.input_kind == "numeric" and model.spec.peephole and model.output_kind is None
    np.testing.assert_array_equal(model.examples[0], x)
    trace = model.trace(model.examples[0])
    assert trace.output is None
    assert_same_trace(trace, record(spec, x))


def test_peephole_state_dict_with_embedding_and_head(tmp_path):
    from lstm_engine.formats.state_dict import state_dict_from_spec

    rng = np.random.default_rng(1)
    spec = LSTMSpec.random(4, 3, peephole=True, num_layers=2, seed=2)
    E = rng.normal(size=(5, 4)).astype(np.float32)
    W, b = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    sd = {"embedding.weight": E, **state_dict_from_spec(spec, "cell"), "head.weight": W, "head.bias": b}
    path = save_checkpoint(sd, tmp_path / "p.pt", vocab=list("abcde"), tokenizer="chars",
                           labels=["even", "odd"], output="softmax",
                           lstm_config={"cell": {"peephole": True}}, examples=["abba"])  # fmt: skip
    model = load(path)
    assert model.lstm_names == ("cell",) and model.tokenizer == "chars"
    trace = model.trace("cadde")
    ref = record(spec, E[[2, 0, 3, 3, 4]])
    assert_same_trace(trace, ref)
    z = ref.h[-1, 0] @ W.T + b
    np.testing.assert_allclose(trace.output, np.exp(z) / np.exp(z).sum(1, keepdims=True), rtol=1e-5)
    assert trace.tokens == tuple("cadde")


def test_peephole_lstms_replace_a_custom_module(tmp_path):
    class Cell(nn.Module):  # a home-made peephole cell torch cannot describe
        def __init__(self):
            super().__init__()
            self.mystery = nn.Parameter(torch.zeros(3))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(4, 2)
            self.cell = Cell()
            self.out = nn.Linear(3, 2)

    spec = LSTMSpec.random(2, 3, peephole=True, seed=4)
    path = save_checkpoint(Net(), tmp_path / "n.pt", vocab=["a", "b", "c", "d"],
                           peephole_lstms={"cell": spec}, examples=["a b"])  # fmt: skip
    ckpt = torch.load(path, weights_only=True)
    assert "cell.mystery" not in ckpt["state_dict"]
    assert ckpt["architecture"]["embedding"] == "emb" and ckpt["architecture"]["head"] == "out"
    assert ckpt["architecture"]["lstm_config"]["cell"]["peephole"] is True
    assert load(path).trace("a b c").output.shape == (3, 2)


def test_unknown_token(tmp_path):
    m = Tagger(vocab=4).eval()
    path = save_checkpoint(m, tmp_path / "u.pt", vocab=["<unk>", "a", "b", "c"], unk="<unk>",
                           lowercase=True, examples=["A b zebra"])  # fmt: skip
    model = load(path)
    trace = model.trace("A zebra C")
    assert trace.tokens == ("a", "zebra", "c")
    with torch.no_grad():
        expect = m(torch.tensor([1, 0, 3])).numpy()
    np.testing.assert_allclose(trace.output, expect, atol=1e-5)


def test_focus_unit_travels_from_checkpoint_to_trace(tmp_path):
    """The author's pointer to the interesting unit reaches every trace (the UI opens there)."""
    m = Tagger(vocab=4).eval()
    path = save_checkpoint(m, tmp_path / "f.pt", vocab=["a", "b", "c", "d"], examples=["a b"],
                           focus={"unit": 2})  # fmt: skip
    model = load(path)
    assert model.focus == {"unit": 2} and model.trace("a b c").meta["focus"] == {"unit": 2}
    assert "focus" not in load(TAGGER).trace("The dog").meta
    ckpt = torch.load(path, weights_only=True)
    for bad in ({"unit": -1}, {"unit": "2"}, {"unit": 2.0}, {"layer": 1}, [2]):
        torch.save({**ckpt, "focus": bad}, tmp_path / "bad.pt")
        with pytest.raises(LoadError, match="focus"):
            load(tmp_path / "bad.pt")


# --- what save_checkpoint refuses
def test_refuses_to_overwrite(tmp_path):
    path = save_checkpoint(Tagger(), tmp_path / "m.pt", vocab=WORDS)
    before = path.read_bytes()
    with pytest.raises(EngineError, match="already exists"):
        save_checkpoint(Tagger(), path, vocab=WORDS)
    assert path.read_bytes() == before
    save_checkpoint(Tagger(), path, vocab=WORDS, overwrite=True)
    assert path.read_bytes() != before


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"vocab": WORDS[:5]}, SpecError, "vocabulary has 5 words but the embedding"),
        ({"vocab": WORDS, "labels": ["A", "B"]}, SpecError, "2 labels but the head"),
        ({"vocab": WORDS, "examples": ["The cat sat"]}, InputError, "'cat', 'sat'"),
        ({"vocab": WORDS, "output": "sigmoid"}, SpecError, "output must be"),
    ],
)
def test_refuses_inconsistent_checkpoints(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        save_checkpoint(Tagger(), tmp_path / "bad.pt", **kwargs)
    assert not (tmp_path / "bad.pt").exists()


def test_refuses_a_model_without_lstm(tmp_path):
    with pytest.raises(SpecError, match="no LSTM"):
        save_checkpoint(nn.Sequential(nn.Linear(3, 3)), tmp_path / "x.pt")


def test_broken_checkpoints_fail_to_load(tmp_path):
    good = torch.load(TAGGER, weights_only=True)
    cases = {
        "no_lstm": {**good, "architecture": {**good["architecture"], "lstms": []}},
        "bad_shape": {**good, "state_dict": {**good["state_dict"], "hidden2tag.weight": torch.zeros(3, 7)}},
        "config_lies": {**good, "architecture": {**good["architecture"],
                        "lstm_config": {"lstm": {**good["architecture"]["lstm_config"]["lstm"], "num_layers": 2}}}},
        "missing_weight": {**good, "state_dict": {k: v for k, v in good["state_dict"].items() if k != "lstm.weight_hh_l0"}},
        "newer": {**good, "version": VERSION + 1},
    }  # fmt: skip
    messages = {}
    for name, ckpt in cases.items():
        torch.save(ckpt, tmp_path / f"{name}.pt")
        with pytest.raises(LoadError) as err:
            load(tmp_path / f"{name}.pt")
        messages[name] = str(err.value)
    assert "has no LSTM" in messages["no_lstm"]
    assert "inconsistent shapes" in messages["bad_shape"] and "(3, 7)" in messages["bad_shape"]
    assert "num_layers=2" in messages["config_lies"]
    assert "lstm.weight_hh_l0" in messages["missing_weight"]
    assert "upgrade" in messages["newer"]


def test_any_malformed_field_is_a_load_error(tmp_path):
    """Each field replaced by a value of the wrong type: always a LoadError/EngineError, never a crash."""
    import copy

    good = torch.load(TAGGER, weights_only=True)
    fields = [
        ("format",), ("version",), ("name",), ("state_dict",), ("architecture",),
        ("architecture", "embedding"), ("architecture", "lstms"), ("architecture", "head"),
        ("architecture", "output"), ("architecture", "lstm_config"),
        ("architecture", "lstm_config", "lstm"), ("architecture", "lstm_config", "lstm", "activations"),
        ("architecture", "lstm_config", "lstm", "hidden_size"), ("tokenizer",), ("lowercase",),
        ("vocab",), ("unk",), ("labels",), ("examples",), ("state_dict", "lstm.weight_ih_l0"),
        ("state_dict", "word_embeddings.weight"),
    ]  # fmt: skip
    path, opened = tmp_path / "f.pt", 0
    for field in fields:
        for value in (None, "x", [1], {"a": 1}, torch.zeros(2)):
            ckpt = copy.deepcopy(good)
            holder = ckpt
            for key in field[:-1]:
                holder = holder[key]
            holder[field[-1]] = value
            torch.save(ckpt, path)
            try:
                model = load(path)
                opened += 1
                model.trace(model.examples[0] if model.examples else "The dog")
            except EngineError as e:
                assert "\n" not in str(e)
    assert 0 < opened < len(fields) * 5  # some harmless changes open, most are refused


def test_checkpoint_fields_are_not_coerced(tmp_path):
    """Values of the wrong type are refused by name, not silently converted (finding 15)."""
    good = torch.load(TAGGER, weights_only=True)
    cfg = good["architecture"]["lstm_config"]["lstm"]

    def with_config(**changes):
        arch = {**good["architecture"], "lstm_config": {"lstm": {**cfg, **changes}}}
        return {**good, "architecture": arch}

    cases = {
        "batch_first must be true/false, got 'no'": with_config(batch_first="no"),
        "clip must be a number or null, got True": with_config(clip=True),
        "hidden_size must be an integer, got '6'": with_config(hidden_size=str(cfg["hidden_size"])),
        "bidirectional must be true/false, got 0": with_config(bidirectional=0),
        "vocab lists 'The' twice": {**good, "vocab": ["The", *good["vocab"][1:], "The"]},
    }
    for message, ckpt in cases.items():
        torch.save(ckpt, tmp_path / "c.pt")
        with pytest.raises(LoadError, match=message):
            load(tmp_path / "c.pt")
