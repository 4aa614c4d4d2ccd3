"""Shared plumbing for the sample-model training scripts.

Every script trains from fixed seeds, prints its metrics, and saves the
model in the project checkpoint format. Training is the slow part, so the
trained torch state is also kept in a side file (`--state`): a later run with
`--from-state` re-evaluates and re-saves without training again, which is how
a checkpoint is regenerated after a change to the saving code.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def seed_everything(seed: int) -> None:
    """One seed for python, numpy and torch; one thread so float sums repeat."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)


def parse_args(name: str, doc: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--out", default=str(HERE / f"{name}.pt"), help="checkpoint to write")
    p.add_argument(
        "--state",
        default=f"/tmp/lstm_tui_{name}_state.pt",
        help="side file for the trained torch state (written after training)",
    )
    p.add_argument(
        "--from-state",
        action="store_true",
        help="skip training: load --state, evaluate and save the checkpoint",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return p.parse_args()


class Timer:
    def __init__(self) -> None:
        self.t0 = time.time()

    def __str__(self) -> str:
        return f"{time.time() - self.t0:.1f}s"


def log(*a) -> None:
    print(*a, flush=True)
