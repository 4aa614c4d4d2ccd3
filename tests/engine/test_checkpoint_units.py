"""Unit names in a checkpoint (`units`): saved, read back into the model and the trace, refused when malformed."""

from __future__ import annotations

import pytest
import torch

from lstm_engine import LoadError, load, save_checkpoint


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = torch.nn.Embedding(3, 4)
        self.lstm = torch.nn.LSTM(4, 5)
        self.head = torch.nn.Linear(5, 2)


def test_units_round_trip(tmp_path):
    path = save_checkpoint(Tiny(), tmp_path / "tiny.pt", vocab=["a", "b", "c"], labels=["x", "y"],
                           examples=["a b c"], units={3: "quote", 0: "depth"})  # fmt: skip
    model = load(str(path))
    assert model.units == {3: "quote", 0: "depth"}
    assert model.trace("a b").meta["units"] == {"3": "quote", "0": "depth"}
    plain = save_checkpoint(Tiny(), tmp_path / "plain.pt", vocab=["a", "b", "c"], examples=["a"])
    assert load(str(plain)).units is None and "units" not in load(str(plain)).trace("a").meta


@pytest.mark.parametrize("units", [{"3": "quote"}, {-1: "x"}, {1: 5}, ["quote"], {True: "x"}])
def test_malformed_units_are_refused(tmp_path, units):
    path = save_checkpoint(Tiny(), tmp_path / "tiny.pt", vocab=["a", "b", "c"], examples=["a"])
    ckpt = torch.load(path, weights_only=True)
    ckpt["units"] = units
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    with pytest.raises(LoadError, match="units must map unit numbers to names"):
        load(str(bad))
