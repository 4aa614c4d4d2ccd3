"""Re-save the sample checkpoints with the unit names their README gives, without retraining.

The training scripts pass the same names to `save_checkpoint(units=...)` (from their
own measurements), so a retrain writes them too; this script adds them to the
checkpoints as they are, changing nothing else, and reads each one back through
`lstm_engine.load` to check that it still opens and carries the names.

    python sample_models/name_units.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from lstm_engine import load, write_file

HERE = Path(__file__).resolve().parent

#: checkpoint -> {unit: name}, as sample_models/README.md reports them
NAMES = {
    "france.pt": {1: "France"},
    "charlm.pt": {164: "string", 177: "bracket depth", 128: "comment", 214: "column", 75: "indent"},
    "peephole.pt": {0: "clock", 1: "spike"},
}


def main() -> None:
    for name, units in NAMES.items():
        path = HERE / name
        ckpt = torch.load(path, weights_only=True)
        ckpt["units"] = dict(units)
        write_file(path, lambda fh: torch.save(ckpt, fh), overwrite=True)
        model = load(str(path))
        assert model.units == units, (name, model.units)
        print(f"{name}: {', '.join(f'{u} {n}' for u, n in units.items())}")


if __name__ == "__main__":
    main()
