"""--vocab FILE and --labels FILE: word_language_model's dictionary or an OCR charset turns the
ids of a state_dict, an ONNX graph or a Keras file into words, and the outputs into names.

Each case traces text through the user's vocabulary and checks it against
the same model fed the ids directly (torch or onnxruntime computing the
output), so a vocabulary that shifted ids by one would fail.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lstm_engine import EngineError, InputError, apply_names, load, open_and_trace  # noqa: E402

TOL = 1e-5
WORDS = ["<eos>", "the", "dog", "ate", "an", "apple", "\x1b[31mred\x1b[0m"]


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(7, 3)
        self.lstm = torch.nn.LSTM(3, 4)
        self.out = torch.nn.Linear(4, 3)


@pytest.fixture()
def tagger(tmp_path):
    torch.manual_seed(1)
    net = Tagger().eval()
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    (tmp_path / "vocab.txt").write_text("".join(w + "\n" for w in WORDS))
    (tmp_path / "labels.txt").write_text("DET\nNOUN\nVERB\n")
    return net, tmp_path


def test_a_state_dict_reads_words_through_the_vocab_file(tagger):
    net, d = tagger
    opened = open_and_trace(d / "sd.pt", text="the dog ate an apple", vocab=d / "vocab.txt",
                            labels=d / "labels.txt")  # fmt: skip
    tr = opened.trace
    assert tr.tokens == ("the", "dog", "ate", "an", "apple")
    assert tr.labels == ("DET", "NOUN", "VERB")
    with torch.no_grad():
        y, _ = net.lstm(net.emb(torch.tensor([1, 2, 3, 4, 5]))[:, None])
        logits = net.out(y[:, 0]).numpy()
    np.testing.assert_allclose(tr.output, logits, atol=TOL, rtol=0)
    info = opened.model.info()
    assert info["vocab_size"] == 7 and info["vocab_first"][:3] == ["<eos>", "the", "dog"]
    assert not info["vocab_is_ids"]


def test_json_vocab_by_id_and_the_cli_info_lines(tagger, capsys):
    from lstm_tui import cli

    net, d = tagger
    (d / "vocab.json").write_text(json.dumps({w: k for k, w in enumerate(WORDS)}))
    assert cli.main(["info", str(d / "sd.pt"), "--vocab", str(d / "vocab.json"),
                     "--labels", str(d / "labels.txt")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "vocabulary 7 words, no unknown token" in out
    assert "vocabulary    <eos> the dog ate an apple \\x1b[31mred\\x1b[0m" in out
    assert "\x1b" not in out  # the escape is shown as text
    assert "labels        3: DET, NOUN, VERB" in out


@pytest.mark.parametrize("content,says", [
    ("a\nb\na\n", "the token 'a' is on line 1 and line 3"),
    (json.dumps({"a": 0, "b": 2}), "the ids must be 0..1, each once"),
    (json.dumps({"a": 0, "b": 0}), "both have id 0"),
    (json.dumps({"a": "0"}), "list of strings or {token: id}"),
    ("", "is empty"),
    ("[" * 10_000 + "]" * 10_000, "nested"),
], ids=["twice", "gap", "same-id", "string-id", "empty", "deep"])  # fmt: skip
def test_bad_vocab_files_are_one_line(tagger, content, says):
    _, d = tagger
    (d / "bad.txt").write_text(content)
    model = load(d / "sd.pt")
    with pytest.raises(EngineError) as e:  # InputError, or TooLargeError for the deep one
        apply_names(model, vocab=d / "bad.txt")
    assert says in str(e.value) and "\n" not in str(e.value)


def test_sizes_that_do_not_fit_are_refused(tagger):
    _, d = tagger
    (d / "short.txt").write_text("a\nb\n")
    model = load(d / "sd.pt")
    with pytest.raises(InputError, match=r"2 tokens, but sd reads ids 0..6 \(7 tokens\)"):
        apply_names(model, vocab=d / "short.txt")
    with pytest.raises(InputError, match=r"2 labels, but sd's head 'out' has 3 outputs"):
        apply_names(model, labels=d / "short.txt")
    (d / "huge.txt").write_bytes(b"x\n" * (9 * 2**20))  # 18 MB: more than a names file may be
    with pytest.raises(EngineError, match="more than"):
        apply_names(model, vocab=d / "huge.txt")


def test_an_onnx_graph_of_token_ids_takes_text_through_a_vocab(tmp_path):
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort

    torch.manual_seed(2)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(7, 3)
            self.lstm = torch.nn.LSTM(3, 4)

        def forward(self, ids):
            return self.lstm(self.emb(ids))[0]

    net = Net().eval()
    path = tmp_path / "ids.onnx"
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.tensor([[1], [2]]),), str(path), input_names=["ids"],
                              output_names=["y"], dynamic_axes={"ids": {0: "T"}},
                              opset_version=14, dynamo=False)  # fmt: skip
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"torch.onnx.export unavailable: {e}")
    assert onnx.load(str(path))
    (tmp_path / "charset.txt").write_text("".join(c + "\n" for c in " abcdef"))
    model = load(path)
    assert model.input_kind == "numeric"
    apply_names(model, vocab=tmp_path / "charset.txt")
    assert model.input_kind == "text" and model.tokenizer == "chars"
    tr = model.trace("bad cab")
    ids = np.array([[2], [1], [4], [0], [3], [1], [2]], np.int64)
    y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})
    np.testing.assert_allclose(tr.h[0, 0], y[0][:, 0], atol=TOL, rtol=0)
    assert tr.tokens == tuple("bad cab")


class Scripted(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(5, 3)
        self.lstm = torch.nn.LSTM(3, 4)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, x):
        y, _ = self.lstm(self.emb(x))
        return self.out(y)


def test_torchscript_with_a_charset_and_labels(tmp_path):
    torch.manual_seed(3)
    net = Scripted().eval()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "ts.pt"))
    (tmp_path / "charset.txt").write_text("a\nb\nc\nd\ne\n")
    (tmp_path / "labels.json").write_text(json.dumps(["NO", "YES"]))
    opened = open_and_trace(tmp_path / "ts.pt", text="aceb", trust=True,
                            vocab=tmp_path / "charset.txt", labels=tmp_path / "labels.json")  # fmt: skip
    tr = opened.trace
    assert tr.tokens == ("a", "c", "e", "b") and tr.labels == ("NO", "YES")
    with torch.no_grad():
        expected = net(torch.tensor([[0], [2], [4], [1]]))[:, 0].numpy()
    np.testing.assert_allclose(tr.output, expected, atol=TOL, rtol=0)
