"""The LSTMVis project export (lstm_engine/formats/lstmvis.py), read back as LSTMVis reads it.

lstm.yml goes through yaml.load(FullLoader) as LSTMVis's server loads it; the .dict through a
copy of its LSTMDataHandler loop (below, not the module's own parser); the HDF5 files through
h5py. States must equal the trace (c as it is, h and the gates as atanh of the value, so that
the tanh LSTMVis applies shows the value). With LSTMVIS_SOURCE set to a checkout of
HendrikStrobelt/LSTMVis, one test also opens the export with LSTMVis's own LSTMDataHandler.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
yaml = pytest.importorskip("yaml")

from lstm_engine import (  # noqa: E402
    InputError, TargetExistsError, Trace, WriteError, export_lstmvis, load, record_corpus,
)  # fmt: skip
from lstm_engine.formats import lstmvis  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def lstmvis_dict(path) -> dict[int, str]:
    """id → word exactly as LSTMVis's LSTMDataHandler.__init__ reads a .dict file."""
    vk = {}
    with open(path) as f:
        for line in f:
            if len(line) > 0:
                if len(line.split()) == 2:
                    k, v = line.split()
                    vk[int(v)] = k
                elif line[0] == " ":
                    k = " "
                    v = line.strip()
                    vk[int(v)] = k
    return vk


def read(folder):
    cfg = yaml.load((folder / "lstm.yml").read_text(), Loader=yaml.FullLoader)
    files = cfg["files"]
    h5 = {k: h5py.File(folder / v, "r") for k, v in files.items() if v.endswith((".h5", ".hdf5"))}
    dicts = {k: lstmvis_dict(folder / v) for k, v in files.items() if v.endswith(".dict")}
    return cfg, h5, dicts


@pytest.fixture(scope="module")
def charlm():
    return load(ROOT / "sample_models" / "charlm.pt")


@pytest.fixture(scope="module")
def corpus(charlm):
    return record_corpus(charlm, ["a b\tc", " x", "y  \n z"])


def test_the_project_has_lstmvis_structure_and_the_trace_values(corpus, tmp_path):
    folder = export_lstmvis(corpus, tmp_path / "proj")
    cfg, h5, dicts = read(folder)
    assert set(cfg) == {"name", "description", "files", "word_sequence", "states", "meta"}
    assert cfg["name"] == "charlm"
    assert cfg["word_sequence"] == {"file": "train", "path": "word_ids", "dict_file": "words"}
    assert cfg["states"]["file"] == "states"
    types = {t["path"]: t for t in cfg["states"]["types"]}
    assert list(types) == ["states1", "output1", "input1", "forget1", "outgate1", "candidate1"]
    assert types["states1"]["type"] == "state" and types["output1"]["type"] == "output"
    assert all(t["layer"] == 1 for t in types.values())
    assert types["forget1"].get("unsigned") is True and "unsigned" not in types["states1"]
    whole, T, K = corpus.whole, corpus.whole.T, len(corpus)
    N = T + K - 1  # one separator between two inputs
    rows = np.concatenate([np.arange(s, s + n) + k for k, (s, n) in
                           enumerate(zip(corpus.starts, corpus.lengths))])  # fmt: skip
    sep_rows = np.setdiff1d(np.arange(N), rows)
    assert sep_rows.tolist() == [5, 8]
    states = h5["states"]
    for path, t in types.items():
        ds = states[path][()]
        assert ds.shape == (N, 256) and ds.dtype == np.float32
        assert not ds[sep_rows].any()  # separators: zero, off at any θ > 0
    c = whole.c[0, 0]
    assert np.array_equal(states["states1"][()][rows], c)  # c as it is
    for path, q in (("output1", "h"), ("input1", "i"), ("forget1", "f"), ("outgate1", "o"),
                    ("candidate1", "g")):  # fmt: skip
        v = getattr(whole, q)[0, 0]
        stored = states[path][()][rows]
        lim = np.float32(1 - 1e-6)
        assert np.array_equal(stored, np.arctanh(np.clip(v, -lim, lim)).astype(np.float32)), path
        assert np.abs(np.tanh(stored) - v).max() < 2e-6, path  # what LSTMVis shows: the value


def test_word_ids_and_dict_round_trip_through_lstmvis_parsing(corpus, tmp_path):
    folder = export_lstmvis(corpus, tmp_path / "proj")
    cfg, h5, dicts = read(folder)
    word_ids = h5["train"]["word_ids"][()]
    assert word_ids.ndim == 1 and word_ids.dtype.kind == "i"
    words = dicts["words"]
    assert set(word_ids.tolist()) <= set(words)  # every id in the sequence is in the dict
    shown = [words[i] for i in word_ids]
    assert shown == ["a", " ", "b", "⇥", "c", "<sep>", " ", "x", "<sep>", "y", " ", " ", "⏎",
                     " ", "z"]  # fmt: skip
    assert shown.count(" ") == 5  # the space token, read back as LSTMVis's space token


def test_tokens_with_whitespace_stay_one_word_each(tmp_path):
    tokens = ("New York", " ", "", "New␣York", "a", "\u00a0", "<sep>", "x\r\ny")
    T = len(tokens)
    z = np.zeros((1, 1, T, 2))
    tr = Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 1, 2)), c0=np.zeros((1, 1, 2)), i=z, f=z, g=z,
               o=z, c=z, h=z, tokens=tokens)  # fmt: skip
    folder = export_lstmvis(tr, tmp_path / "p")
    cfg, h5, dicts = read(folder)
    words = [dicts["words"][i] for i in h5["train"]["word_ids"][()]]
    assert len(words) == T  # one trace: no separator, even with a token named <sep>
    assert words[0] == "New␣York" and words[1] == " " and words[2] == "∅"
    assert words[3] == "New␣York#3"  # would read as token 0: made distinct
    assert words[4] == "a" and words[5] == "<U+00A0>" and words[6] == "<sep>"
    assert words[7] == "x␍⏎y"
    assert len(set(words)) == T


def test_meta_tracks_predicted_label_and_probability(charlm, corpus, tmp_path):
    cfg, h5, dicts = read(export_lstmvis(corpus, tmp_path / "proj"))
    assert cfg["meta"]["predicted"] == {"file": "meta", "path": "predicted", "dict": "labels",
                                        "vis": {"type": "discrete", "range": "dict"}}  # fmt: skip
    assert cfg["meta"]["probability"] == {"file": "meta", "path": "probability",
                                          "vis": {"type": "scalar", "range": [0, 1]}}  # fmt: skip
    labels = dicts["labels"]
    predicted, probability = h5["meta"]["predicted"][()], h5["meta"]["probability"][()]
    for k, text in enumerate(["a b\tc", " x", "y  \n z"]):
        alone = charlm.trace(text)
        p = np.exp(alone.output.astype(np.float64))  # charlm's output is log-probabilities
        start = int(corpus.starts[k]) + k
        rows = slice(start, start + alone.T)
        assert predicted[rows].tolist() == p.argmax(1).tolist()
        np.testing.assert_allclose(probability[rows], p.max(1), rtol=1e-6)
        named = [labels[i] for i in predicted[rows]]
        assert named == [lstmvis.dict_token(alone.labels[j]) for j in p.argmax(1)]
    assert labels[int(predicted[5])] == "<sep>" and probability[5] == 0


def test_a_bidirectional_model_has_both_directions_per_layer(tmp_path):
    model = load(ROOT / "sample_models" / "bitagger.pt")
    tr = model.trace(model.examples[0])
    cfg, h5, _ = read(export_lstmvis(tr, tmp_path / "bi"))
    paths = [t["path"] for t in cfg["states"]["types"]]
    assert paths[:2] == ["states1", "output1"] and "states1_rev" in paths and "output2_rev" in paths
    assert {t["layer"] for t in cfg["states"]["types"]} == {1, 2}
    assert np.array_equal(h5["states"]["states2_rev"][()], tr.c[1, 1])
    assert np.array_equal(h5["states"]["states1"][()], tr.c[0, 0])


def test_the_folder_is_made_exclusively(corpus, tmp_path, monkeypatch):
    target = tmp_path / "proj"
    export_lstmvis(corpus, target)
    with pytest.raises(TargetExistsError, match="already exists"):
        export_lstmvis(corpus, target)
    (target / "notes.txt").write_text("mine")
    before = (target / "states.h5").stat().st_ino
    export_lstmvis(corpus, target, overwrite=True)  # our files replaced, the user's kept
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "states.h5").stat().st_ino != before
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "link")
    with pytest.raises(WriteError, match="not a folder"):
        export_lstmvis(corpus, tmp_path / "link", overwrite=True)
    with pytest.raises(TargetExistsError):
        export_lstmvis(corpus, tmp_path / "link")
    assert list(elsewhere.iterdir()) == []

    def broken(values, quantity):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lstmvis, "_stored", broken)
    with pytest.raises(WriteError, match="No space left"):
        export_lstmvis(corpus, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_without_tokens_or_h5py_one_line(corpus, tmp_path, monkeypatch):
    z = np.zeros((1, 1, 3, 2))
    numeric = Trace(x=np.zeros((3, 1)), h0=np.zeros((1, 1, 2)), c0=np.zeros((1, 1, 2)), i=z,
                    f=z, g=z, o=z, c=z, h=z)  # fmt: skip
    with pytest.raises(InputError, match="no tokens"):
        export_lstmvis(numeric, tmp_path / "n")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(InputError, match=r"pip install 'lstm-tui\[lstmvis\]'"):
        export_lstmvis(corpus, tmp_path / "p")
    assert not (tmp_path / "p").exists()


@pytest.mark.skipif(not os.environ.get("LSTMVIS_SOURCE"),
                    reason="set LSTMVIS_SOURCE to a checkout of HendrikStrobelt/LSTMVis")  # fmt: skip
def test_lstmvis_own_data_handler_opens_it(corpus, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(os.environ["LSTMVIS_SOURCE"])
    from lstmdata.data_handler import LSTMDataHandler

    folder = export_lstmvis(corpus, tmp_path / "proj")
    cfg = yaml.load((folder / "lstm.yml").read_text(), Loader=yaml.FullLoader)
    dh = LSTMDataHandler(directory=str(folder), config=cfg)
    words = dh.get_words([0], left=0, right=14)[0]["words"]
    assert words[:6] == ["a", " ", "b", "⇥", "c", "<sep>"]
    states, _ = dh.get_states([2], "states::states1", left=0, right=0)
    np.testing.assert_allclose(states[0]["data"][0], np.tanh(corpus.whole.c[0, 0, 2]), atol=1e-5)
    assert dh.get_meta("predicted", [5], left=0, right=0) == [["<sep>"]]


def test_a_hostile_name_stays_one_yaml_string(tmp_path):
    T = 3
    z = np.zeros((1, 1, T, 2))
    name = 'evil"\n  files: {states: /etc/passwd}\x1b[31m\u202e😀\\'
    tr = Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 1, 2)), c0=np.zeros((1, 1, 2)), i=z, f=z, g=z,
               o=z, c=z, h=z, tokens=("a", "b", "c"), meta={"model": name})  # fmt: skip
    folder = export_lstmvis(tr, tmp_path / "p")
    cfg = yaml.load((folder / "lstm.yml").read_text(), Loader=yaml.FullLoader)
    assert cfg["name"] == name
    assert cfg["files"]["states"] == "states.h5"
    assert "\x1b" not in (folder / "lstm.yml").read_text()
