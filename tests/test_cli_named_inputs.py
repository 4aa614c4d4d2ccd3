"""--input for models with several inputs: NAME=X.npy, one .npz of named arrays, a bare X.npy.

Each run goes through the CLI's `record` and `info` end to end, on models
built here as real code builds them and saved whole with torch.save; the
recorded trace is compared with the model's own output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_engine import Trace, read_named_inputs
from lstm_tui.cli import main


class Translator(nn.Module):
    """forward(src, tgt): an LSTM encoder whose final state starts an LSTMCell decoder."""

    def __init__(self, vocab=10, emb=4, hidden=5):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.encoder = nn.LSTM(emb, hidden, batch_first=True)
        self.decoder = nn.LSTMCell(emb, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, src, tgt):  # (1, S), (1, T)
        _, (h, c) = self.encoder(self.embed(src))
        h, c = h[0], c[0]
        logits = []
        for t in range(tgt.shape[1]):
            h, c = self.decoder(self.embed(tgt[:, t]), (h, c))
            logits.append(F.log_softmax(self.out(h), dim=-1))
        return torch.stack(logits, dim=1)


class Projected(nn.Module):
    """A projected LSTM: torch warns on every forward (no oneDNN kernel for proj_size)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 6, proj_size=2)
        self.head = nn.Linear(2, 2)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


SRC, TGT = np.array([1, 5, 2, 7, 3]), np.array([4, 4, 9])


@pytest.fixture
def translator(tmp_path):
    torch.manual_seed(0)
    m = Translator().eval()
    torch.save(m, tmp_path / "translator.pt")
    np.save(tmp_path / "src.npy", SRC)
    np.save(tmp_path / "tgt.npy", TGT)
    with torch.no_grad():
        expect = m(torch.from_numpy(SRC)[None], torch.from_numpy(TGT)[None])[0].numpy()
    return m, tmp_path, expect


def _decoder_steps(m):
    with torch.no_grad():
        _, (h, c) = m.encoder(m.embed(torch.from_numpy(SRC)[None]))
        h, c, hs, cs = h[0], c[0], [], []
        for t in TGT:
            h, c = m.decoder(m.embed(torch.tensor([t])), (h, c))
            hs.append(h[0].numpy())
            cs.append(c[0].numpy())
    return np.stack(hs), np.stack(cs)


def test_named_inputs_record_the_decoder_of_forward_src_tgt(translator, capsys):
    m, tmp, expect = translator
    out = tmp / "dec.npz"
    assert main(["record", str(tmp / "translator.pt"), "--trust", "--lstm", "decoder",
                 "--input", f"src={tmp / 'src.npy'}", "--input", f"tgt={tmp / 'tgt.npy'}",
                 "-o", str(out)]) == 0  # fmt: skip
    said = capsys.readouterr()
    assert said.err == "" and "recorded 3 steps (4 4 9) of decoder" in said.out
    tr = Trace.load(out)
    h, c = _decoder_steps(m)
    np.testing.assert_allclose(tr.h[0, 0], h, atol=1e-5, rtol=0)
    np.testing.assert_allclose(tr.c[0, 0], c, atol=1e-5, rtol=0)
    np.testing.assert_allclose(tr.output, expect, atol=1e-6, rtol=0)
    # the same from one .npz of named arrays, and from --text for the sequence
    np.savez(tmp / "both.npz", src=SRC, tgt=TGT)
    assert main(["record", str(tmp / "translator.pt"), "--trust", "--lstm", "decoder",
                 "--input", str(tmp / "both.npz"), "-o", str(tmp / "dec2.npz")]) == 0  # fmt: skip
    assert main(["record", str(tmp / "translator.pt"), "--trust", "--lstm", "decoder", "--text",
                 "1 5 2 7 3", "--input", f"tgt={tmp / 'tgt.npy'}", "-o", str(tmp / "dec3.npz")]) == 0  # fmt: skip
    for name in ("dec2.npz", "dec3.npz"):
        np.testing.assert_array_equal(Trace.load(tmp / name).h, tr.h)
        np.testing.assert_array_equal(Trace.load(tmp / name).output, tr.output)


def test_info_lists_the_forward_arguments_and_both_lstms(translator, capsys):
    _, tmp, _ = translator
    assert main(["info", str(tmp / "translator.pt"), "--trust"]) == 0
    out = capsys.readouterr().out
    assert "forward       src (the sequence), tgt (required)\n" in out
    assert "give each by name (--input NAME=FILE.npy), or all in one FILE.npz" in out
    assert "LSTMs         encoder, decoder" in out
    assert any(l.split()[:2] == ["decoder", "LSTMCell(4,"] and "as LSTM 4→5" in l for l in out.splitlines())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "src={tmp}/src.npy"], "takes 'tgt', which was not given: give it (--input tgt=FILE.npy"),
        (["--input", "src={tmp}/src.npy", "--input", "tgt={tmp}/tgt.npy", "--input", "tgx={tmp}/tgt.npy"],
         "has no input named 'tgx'; its inputs are src, tgt"),
        (["--input", "{tmp}/src.npy", "--input", "src={tmp}/src.npy"], "the sequence is given twice"),
        (["--input", "9x={tmp}/src.npy"], "must be an argument name"),
        (["--input", "tgt={tmp}/tgt.npy"], "no value for translator's sequence input 'src'"),
    ],
)  # fmt: skip
def test_named_input_mistakes_are_one_line_and_exit_2(translator, capsys, args, message):
    _, tmp, _ = translator
    args = [a.format(tmp=tmp) for a in args]
    assert main(["record", str(tmp / "translator.pt"), "--trust", *args, "-o", str(tmp / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_one_input_model_refuses_names_and_keeps_a_bare_input(tmp_path, capsys):
    torch.manual_seed(1)
    torch.save(Projected().eval(), tmp_path / "proj.pt")
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["record", str(tmp_path / "proj.pt"), "--trust", "--input", f"lengths={tmp_path / 'x.npy'}",
                 "-o", str(tmp_path / "t.npz")]) == 2  # fmt: skip
    assert "named inputs 'lengths', not one array: proj takes one input" in capsys.readouterr().err
    # a bare --input X.npy as before; torch's warning on a projected LSTM stays off the output
    assert main(["record", str(tmp_path / "proj.pt"), "--trust", "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "t.npz")]) == 0  # fmt: skip
    said = capsys.readouterr()
    assert said.err == "" and "warning" not in said.out.lower() and "oneDNN" not in said.out


def test_read_named_inputs_reads_names_npz_and_paths_with_equals(tmp_path):
    odd = tmp_path / "a=b.npy"  # an existing file is a path, even with '=' in its name
    np.save(odd, np.ones(3))
    np.savez(tmp_path / "n.npz", x=np.zeros((2, 3)), lengths=np.array([2]))
    got = read_named_inputs([str(odd), str(tmp_path / "n.npz")])
    assert set(got) == {"", "x", "lengths"} and got["lengths"].tolist() == [2]


def test_the_ui_opens_a_trusted_pickle_from_its_own_folder_as_info_does(tmp_path):
    """The model's class lives beside the pickle (the user's project), run from that folder."""
    (tmp_path / "mynet.py").write_text(textwrap.dedent('''
        import torch
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = torch.nn.LSTM(3, 4)
            def forward(self, x):
                return self.lstm(x)[0]
    '''))
    code = "import torch, mynet; torch.manual_seed(0); torch.save(mynet.Net(), 'net.pt')"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    np.save(tmp_path / "x.npy", np.zeros((5, 3), np.float32))
    # the UI's loader, in a fresh interpreter whose sys.path does not hold the folder (as the
    # lstm-tui script's does not), like `info`
    probe = textwrap.dedent('''
        import sys, os
        sys.path = [p for p in sys.path if p not in ("", os.getcwd())]
        from lstm_tui.opening import open_path, source_or_error
        src, err, status = source_or_error(open_path, "net.pt", input_path="x.npy", trust=True)
        print(status, err, src.trace.T if src else None)
    ''')
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.stdout.strip() == "0 None 5", done.stdout + done.stderr


def test_an_edited_text_is_traced_again_with_the_other_named_inputs(translator):
    from lstm_tui.opening import open_path

    m, tmp, _ = translator
    src = open_path(str(tmp / "translator.pt"), text="1 5 2 7 3", inputs=[f"tgt={tmp / 'tgt.npy'}"],
                    trust=True, lstm="decoder")  # fmt: skip
    assert src.text == "1 5 2 7 3" and set(src.other_inputs) == {"tgt"}
    edited = src.retrace("6 6 1")
    with torch.no_grad():
        expect = m(torch.tensor([[6, 6, 1]]), torch.from_numpy(TGT)[None])[0].numpy()
    assert edited.trace.T == len(TGT)
    np.testing.assert_allclose(edited.trace.output, expect, atol=1e-6, rtol=0)
