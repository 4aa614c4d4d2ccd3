"""A corpus (lstm_engine/corpus.py): many inputs recorded into one trace, each input as if alone.

Every input of a corpus is compared with the same text traced alone by the model (the same
arithmetic, so exactly equal), an interrupted recording keeps whole inputs and says so,
each input's view shares the whole's memory, and the quantities that read the previous
step read the initial state at every input's first step (both reading orders).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import InputError, LoadError, Trace, load, match, select_units
from lstm_engine.corpus import (
    Corpus, is_corpus_file, open_corpus, read_text_inputs, record_corpus,
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
STORED = ("x", "i", "f", "g", "o", "c", "h", "output")
TEXTS = ["def f(x):", "    return x + 1", "print(f(2))", "s = 'a b'"]


@pytest.fixture(scope="module")
def charlm():
    return load(ROOT / "sample_models" / "charlm.pt")


@pytest.fixture(scope="module")
def corpus(charlm):
    return record_corpus(charlm, TEXTS)


def assert_same(a: Trace, b: Trace) -> None:
    for name in STORED:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.h0, b.h0) and np.array_equal(a.c0, b.c0)
    assert a.tokens == b.tokens and a.labels == b.labels


def test_each_input_equals_recording_it_alone(charlm, corpus):
    assert len(corpus) == 4 and corpus.complete and corpus.planned == 4
    assert corpus.lengths.tolist() == [len(t) for t in TEXTS]
    assert corpus.starts.tolist() == [0, 9, 25, 36]
    assert corpus.whole.T == sum(map(len, TEXTS))
    for k, text in enumerate(TEXTS):
        alone = charlm.trace(text)
        assert_same(alone, corpus.trace(k))
        assert corpus.tokens(k) == tuple(text)
    assert corpus.whole.z is None  # z is dropped


def test_an_input_is_a_view_of_the_whole(corpus):
    one = corpus.trace(2)
    for name in ("x", "i", "c", "h", "output"):
        assert np.shares_memory(getattr(one, name), getattr(corpus.whole, name)), name
    assert one.meta["input"] == {"index": 3, "of": 4, "start": 25}
    assert "corpus" not in one.meta
    assert corpus.bounds(2) == (25, 36)
    assert corpus.locate(25) == (2, 0) and corpus.locate(24) == (1, 15)
    with pytest.raises(IndexError):
        corpus.trace(4)
    with pytest.raises(IndexError):
        corpus.locate(corpus.whole.T)


@pytest.mark.parametrize("name", ["delta_c", "c_prev", "kept", "forgotten", "h_prev", "written"])
def test_window_reads_the_initial_state_at_each_input(name):
    """bitagger: 2 layers, both directions; each input's quantities equal its own trace's."""
    model = load(ROOT / "sample_models" / "bitagger.pt")
    texts = [model.examples[0], model.examples[1], model.examples[0]]
    corpus = record_corpus(model, texts)
    for layer in range(2):
        for d in range(2):
            whole = corpus.window(name, layer, d, 0, corpus.whole.T)
            for k, text in enumerate(texts):
                s, e = corpus.bounds(k)
                alone = model.trace(text).series(name, layer, d)
                np.testing.assert_array_equal(whole[s:e], alone)
                # a window that starts inside an input agrees with the whole one
                np.testing.assert_array_equal(corpus.window(name, layer, d, s + 1, e), alone[1:])
    # the whole's own window reads the previous input's last state at a boundary: not this
    s = corpus.bounds(1)[0]
    assert not np.array_equal(corpus.whole.window("c_prev", 0, 0, s, s + 1),
                              corpus.window("c_prev", 0, 0, s, s + 1))  # fmt: skip


def test_stop_keeps_the_inputs_recorded_so_far(charlm, tmp_path):
    stop = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done == 2:
            stop.set()

    out = tmp_path / "part.npz"
    got = record_corpus(charlm, TEXTS, progress=progress, stop=stop, path=out)
    assert seen == [(1, 4), (2, 4)]
    assert len(got) == 2 and not got.complete and got.planned == 4
    assert got.whole.T == len(TEXTS[0]) + len(TEXTS[1])
    back = open_corpus(out)
    assert len(back) == 2 and back.planned == 4 and not back.complete
    for k in range(2):
        assert_same(charlm.trace(TEXTS[k]), back.trace(k))


def test_ctrl_c_keeps_the_inputs_recorded_so_far(charlm):
    def progress(done, total):
        if done == 3:
            raise KeyboardInterrupt

    got = record_corpus(charlm, TEXTS, progress=progress)
    assert len(got) == 3 and got.planned == 4
    assert_same(charlm.trace(TEXTS[2]), got.trace(2))

    def at_once(done, total):
        raise KeyboardInterrupt

    stop = threading.Event()
    stop.set()
    with pytest.raises(InputError, match="before the first input"):
        record_corpus(charlm, TEXTS, stop=stop)
    assert len(record_corpus(charlm, TEXTS, progress=at_once)) == 1


def test_a_word_the_model_cannot_read_is_refused_before_recording():
    tagger = load(ROOT / "sample_models" / "tagger.pt")
    calls = []
    with pytest.raises(InputError, match="Narnia"):
        record_corpus(tagger, ["The dog ate the apple", "Narnia ate"],
                      progress=lambda d, t: calls.append(d))  # fmt: skip
    assert calls == []


def test_save_and_open(corpus, tmp_path):
    path = corpus.save(tmp_path / "c.npz")
    assert is_corpus_file(path)
    back = open_corpus(path)
    assert back.starts.tolist() == corpus.starts.tolist()
    for k in range(len(corpus)):
        assert_same(corpus.trace(k), back.trace(k))
    one = corpus.trace(0).save(tmp_path / "one.npz")
    assert not is_corpus_file(one)
    assert not is_corpus_file(tmp_path / "missing.npz")
    with pytest.raises(LoadError, match="not a corpus"):
        open_corpus(one)
    with pytest.raises(Exception, match="exists"):
        corpus.save(path)


def test_select_and_match_stay_inside_an_input():
    """Unit 1 is on at the end of input 1 and from the start of input 2: two spans, and the
    one at input 2's start is a switch-on (input 1's last step is not its padding)."""
    def trace(c):
        T, H = c.shape
        z = np.zeros((1, 1, T, H))
        return Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 1, H)), c0=np.zeros((1, 1, H)),
                     i=z, f=z, g=z, o=z, c=c[None, None], h=c[None, None])  # fmt: skip

    a, b = np.full((6, 3), 0.05), np.full((5, 3), 0.05)
    a[3:, 1] = 1.0
    b[:3, 1] = 1.0
    corpus = Corpus.from_traces([trace(a), trace(b)])
    assert select_units(corpus, 6, 9).units == (1,)
    with pytest.raises(InputError, match="crosses"):
        select_units(corpus, 4, 8)
    got = match(corpus, [1])
    assert [(m.input, m.start, m.stop) for m in got] == [(0, 3, 6), (1, 6, 9)]
    # as one trace, the two are one run of 6 steps
    assert [(m.start, m.stop) for m in match(corpus.whole, [1])] == [(3, 9)]


def test_from_traces_refuses_what_is_not_one_corpus():
    spec_trace = record_small(0)
    with pytest.raises(InputError, match="initial state"):
        Corpus.from_traces([spec_trace, record_small(0, h0=True)])
    with pytest.raises(InputError, match="one or more"):
        Corpus.from_traces([])
    with pytest.raises(InputError, match="starts"):
        Corpus(Trace(**{n: getattr(spec_trace, n) for n in ("x", "h0", "c0", "i", "f", "g", "o",
                                                             "c", "h")},
                     meta={"corpus": {"starts": [0, 4, 2]}}))  # fmt: skip
    with pytest.raises(InputError, match="not a corpus"):
        Corpus(spec_trace)


def record_small(seed, h0=False):
    from lstm_engine import LSTMSpec, record

    spec = LSTMSpec.random(2, 3, 1, seed=seed, dtype=np.float64)
    x = np.random.default_rng(seed).standard_normal((6, 2))
    return record(spec, x, h0=np.ones((1, 1, 3)) if h0 else None)


def test_read_text_inputs(tmp_path):
    f = tmp_path / "in.txt"
    f.write_bytes("\ufeffone line\r\n\n  \nsecond  line \nlast".encode())
    assert read_text_inputs(f) == ["one line", "second  line ", "last"]
    assert read_text_inputs(f, whole=True) == ["one line\r\n\n  \nsecond  line \nlast"]
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_text_inputs(tmp_path / "bad.txt")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(InputError, match="no line that is not blank"):
        read_text_inputs(tmp_path / "empty.txt")
    with pytest.raises(InputError, match="no such file"):
        read_text_inputs(tmp_path / "nope.txt")


def test_a_large_corpus_without_a_path_goes_to_an_unnamed_file(charlm, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    spilled = record_corpus(charlm, TEXTS, spill=0)
    assert list(tmp_path.iterdir()) == []  # nothing left behind by name
    kept = record_corpus(charlm, TEXTS, spill=None)
    for k in range(len(TEXTS)):
        assert_same(kept.trace(k), spilled.trace(k))
    # the spilled arrays are a file's pages (an mmap at the end of their bases), the kept
    # ones memory (an immutable bytes object)
    assert type(owner(spilled.whole.c)).__name__ == "mmap"
    assert isinstance(owner(kept.whole.c), bytes)


def owner(a):
    """The object at the end of an array's chain of bases (through memoryviews)."""
    while True:
        nxt = a.obj if isinstance(a, memoryview) else getattr(a, "base", None)
        if nxt is None:
            return a
        a = nxt


def test_float64_corpus_matches_torch_for_each_input_alone(tmp_path):
    """An independent reference: torch.nn.LSTM in float64 on each input by itself."""
    torch = pytest.importorskip("torch")
    from lstm_engine import save_checkpoint

    words = ["the", "dog", "ate", "a", "bone", "cat"]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(len(words), 3)
            self.lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
            self.head = torch.nn.Linear(8, 2)

        def forward(self, ids):
            out, _ = self.lstm(self.emb(ids)[:, None])
            return torch.log_softmax(self.head(out[:, 0]), -1)

    torch.manual_seed(0)
    net = Net().double().eval()
    path = save_checkpoint(net, tmp_path / "n.pt", vocab=words, labels=["A", "B"])
    texts = ["the dog ate a bone", "a cat", "the cat ate the dog a bone"]
    corpus = record_corpus(load(path), texts)
    assert corpus.whole.c.dtype == np.float64
    for k, text in enumerate(texts):
        ids = torch.tensor([words.index(w) for w in text.split()])
        with torch.no_grad():
            out, _ = net.lstm(net.emb(ids)[:, None])
            logp = net(ids)
        one = corpus.trace(k)
        top = np.concatenate([one.h[1, 0], one.h[1, 1]], axis=-1)  # layer 2, both directions
        np.testing.assert_allclose(top, out[:, 0].numpy(), atol=1e-10, rtol=0)
        np.testing.assert_allclose(one.output, logp.numpy(), atol=1e-10, rtol=0)
