"""One front door: the CLI and the UI open files, choose inputs and read outputs through the engine.

Trace-file detection, input choice, path checks, output-kind guessing,
text → ids and softmax were each written two to four times with different
rules. Each now lives once in lstm_engine; these tests pin its rules, and the
last ones check that lstm_tui defines none of them again.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_engine import (
    InputError, LoadError, LSTMSpec, Model, Trace, UnsafeFileError, Vocabulary, choose_input,
    guess_output_kind, is_trace_file, load, log_softmax, open_and_trace, open_file, output_kind,
    output_uses_future, probabilities, record, softmax, split_text,
)  # fmt: skip
from lstm_tui.cli import main
from lstm_tui.opening import open_path

ROOT = Path(__file__).resolve().parents[1]
TAGGER = ROOT / "sample_models" / "tagger.pt"
CHARLM = ROOT / "sample_models" / "charlm.pt"
PEEPHOLE = ROOT / "sample_models" / "peephole.pt"


@pytest.fixture
def trace_file(tmp_path):
    return load(TAGGER).trace("The dog ate the apple").save(tmp_path / "run.npz")


# --- anything, by content
def test_a_trace_is_recognised_by_content_not_by_name(tmp_path, trace_file):
    renamed = shutil.copy(trace_file, tmp_path / "run.pt")
    fake = tmp_path / "fake.npz"
    fake.write_text("not a zip")
    assert is_trace_file(trace_file) and is_trace_file(renamed)
    assert not is_trace_file(fake) and not is_trace_file(TAGGER) and not is_trace_file(tmp_path)
    assert not is_trace_file(tmp_path / "missing.npz")
    assert isinstance(open_file(renamed), Trace) and isinstance(open_file(TAGGER), Model)
    with pytest.raises(LoadError, match="fake.npz: not a model file"):
        open_file(fake)


def test_a_fifo_is_never_opened(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    assert not is_trace_file(fifo)  # would block forever if it were read
    with pytest.raises(LoadError, match="FIFO"):
        open_file(fifo)


def test_paths_are_checked_before_anything_slow(tmp_path):
    """An --input FIFO is refused before the model is even read (here: a pickle needing --trust)."""
    torch.save(torch.nn.LSTM(3, 4), tmp_path / "module.pt")
    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO"):
        open_and_trace(tmp_path / "module.pt", input_path=fifo)
    with pytest.raises(UnsafeFileError):
        open_and_trace(tmp_path / "module.pt")


def test_a_recorded_trace_takes_no_new_input(trace_file):
    opened = open_and_trace(trace_file)
    assert opened.model is None and opened.input is None and opened.trace.T == 5
    with pytest.raises(InputError, match="recorded trace: it is opened read-only"):
        open_and_trace(trace_file, text="The dog")


# --- the input
def test_choose_input_rules(tmp_path):
    tagger, peephole = load(TAGGER), load(PEEPHOLE)
    assert choose_input(tagger) == (tagger.examples[0], 1)
    assert choose_input(tagger, text="The dog") == ("The dog", None)
    inp, n = choose_input(tagger, example=2)
    assert (inp, n) == (tagger.examples[1], 2)
    np.save(tmp_path / "ids.npy", np.array([0, 1, 2]))
    ids, n = choose_input(tagger, input_path=tmp_path / "ids.npy")
    assert ids.tolist() == [0, 1, 2] and n is None
    np.save(tmp_path / "x.npy", np.zeros((4, peephole.input_width)))
    with pytest.raises(InputError, match="reads text: give --text"):
        choose_input(tagger, input_path=tmp_path / "x.npy")
    assert choose_input(peephole, input_path=tmp_path / "x.npy")[0].shape == (4, peephole.input_width)
    with pytest.raises(InputError, match="only one of --text, --input and --example"):
        choose_input(tagger, text="a", example=1)
    with pytest.raises(InputError, match=r"no example 9: tagger has 2 examples \(give 1–2\)"):
        choose_input(tagger, example=9)
    torch.save(torch.nn.LSTM(3, 4).state_dict(), tmp_path / "lstm.pt")
    with pytest.raises(InputError, match="has no example inputs; give --input X.npy"):
        choose_input(load(tmp_path / "lstm.pt"))


def test_cli_and_ui_trace_the_same_thing(tmp_path):
    out = tmp_path / "t.npz"
    assert main(["record", str(CHARLM), "--example", "2", "-o", str(out)]) == 0
    recorded, shown = Trace.load(out), open_path(str(CHARLM), example=2)
    np.testing.assert_array_equal(recorded.h, shown.trace.h)
    np.testing.assert_array_equal(recorded.output, shown.trace.output)
    assert recorded.meta["output_uses_future"] == shown.trace.meta["output_uses_future"] is False
    assert shown.example == 2 and shown.warnings == ()


# --- what the output means
def test_guess_output_kind_is_one_rule():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4))
    assert guess_output_kind(log_softmax(z)) == "log_prob"
    assert guess_output_kind(softmax(z)) == "prob"
    assert guess_output_kind(z) == "logit"
    # rows summing to one with a negative entry are scores, not probabilities
    assert guess_output_kind(np.array([[1.5, -0.5], [0.25, 0.75]])) == "logit"
    assert guess_output_kind(np.array([[1.0, 0.0], [0.25, 0.75]])) == "prob"
    assert guess_output_kind(np.log([[1.0, 1e-300], [0.25, 0.75]])) == "log_prob"
    assert guess_output_kind(None) is None and guess_output_kind(np.zeros(3)) is None
    assert guess_output_kind(np.zeros((3, 0))) is None


def test_softmax_and_probabilities_agree_with_torch():
    z = np.random.default_rng(1).normal(size=(5, 7)) * 30
    t = torch.from_numpy(z)
    np.testing.assert_allclose(softmax(z), torch.softmax(t, -1).numpy(), atol=1e-12, rtol=0)
    np.testing.assert_allclose(log_softmax(z), torch.log_softmax(t, -1).numpy(), atol=1e-10, rtol=0)
    p = torch.softmax(t, -1).numpy()
    np.testing.assert_allclose(probabilities(z, "logit"), p, atol=1e-12, rtol=0)
    np.testing.assert_allclose(probabilities(np.log(p), "log_prob"), p, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(probabilities(p, "prob"), p)
    np.testing.assert_allclose(probabilities(z[0], None), p[0], atol=1e-12, rtol=0)  # one step


def test_output_kind_and_future_are_decided_in_order():
    spec = LSTMSpec.random(3, 4, seed=0)
    out = log_softmax(np.random.default_rng(0).normal(size=(5, 2)))
    tr = record(spec, np.ones((5, 3), np.float32), output=out)
    assert output_kind(tr) == "log_prob" and output_kind(record(spec, np.ones((5, 3)))) is None
    assert not output_uses_future(tr)
    rev = LSTMSpec(weights=spec.weights, directions=("reverse",))
    assert output_uses_future(record(rev, np.ones((5, 3), np.float32), output=out))
    assert not output_uses_future(record(rev, np.ones((5, 3), np.float32)))  # no output: nothing to see
    bi = load(ROOT / "sample_models" / "bitagger.pt")
    assert bi.output_uses_future and open_path(str(ROOT / "sample_models" / "bitagger.pt")).output_uses_future


# --- text → ids
def test_vocabulary_and_split_text():
    assert split_text("a b  c") == ["a", "b", "c"] and split_text("ab c", "chars") == ["a", "b", " ", "c"]
    assert split_text("The Dog", lowercase=True) == ["the", "dog"]
    with pytest.raises(InputError, match="empty text"):
        split_text("   ")
    v = Vocabulary(["the", "dog", "<unk>"])
    assert v.ids(["dog", "the"]).tolist() == [1, 0]
    with pytest.raises(InputError, match=r"not in the vocabulary \(3 words, no unknown token\): 'cat', 'sat'"):
        v.ids(["the", "cat", "sat", "cat"])
    u = Vocabulary({"the": 2, "dog": 0, "<unk>": 1}, unk="<unk>")
    assert u.ids(["the", "cat", "dog"]).tolist() == [2, 1, 0]
    assert u.unk_meta(["the", "cat", "dog", "owl"]) == {"unk": "<unk>", "unk_positions": [1, 3]}
    assert u.unk_meta(["the"]) == {}


def test_a_model_and_a_live_vocabulary_read_text_alike():
    """The tagger's own vocabulary and the same words handed to debug() give the same ids."""
    from lstm_tui.opening import _text_to_ids

    m = load(TAGGER)
    words, ids, meta = _text_to_ids("The dog ate the apple", list(m.vocab), "words", None)
    assert list(words) == m.tokenize("The dog ate the apple") and ids.tolist() == m.ids(words).tolist()
    with pytest.raises(InputError, match=r"not in the vocabulary \(9 words, no unknown token\): 'cat'"):
        _text_to_ids("The cat", list(m.vocab), "words", None)


# --- defined once: lstm_tui does not write them again
ONCE = {"is_trace_file", "_is_trace_file", "guess_output_kind", "probabilities", "softmax",
        "log_softmax", "example_index", "output_uses_future", "_check_model_path", "_model_input"}  # fmt: skip


def test_the_ui_defines_none_of_the_front_door_again():
    defined = []
    for path in sorted((ROOT / "lstm_tui").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module-level functions
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in ONCE:
                defined.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert defined == []


def test_no_ui_module_looks_inside_a_zip_for_itself():
    """Trace detection (a zip holding meta.npy) is the engine's: no UI module opens zips."""
    found = [
        str(p.relative_to(ROOT)) for p in (ROOT / "lstm_tui").rglob("*.py")
        if "meta.npy" in p.read_text(encoding="utf-8") or "zipfile" in p.read_text(encoding="utf-8")
    ]  # fmt: skip
    assert found == []
