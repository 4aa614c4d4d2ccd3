"""The headless analysis commands: `explain` (cell-state provenance), `stats` (which units
matter) and `doctor` (a health check).

    lstm-tui explain MODEL|TRACE [--text … | --input … | --example N] --unit U --step S
                     [--layer L] [--direction fwd|rev] [--json]
    lstm-tui stats MODEL|TRACE [--text … | --input … | --example N] [--top N] [--by KEY] [--json]
    lstm-tui doctor MODEL|TRACE [--text … | --input … | --example N] [--json]

Steps and layers are numbered as on screen (steps 1..T, layers from 1); the numbers are
the engine's (lstm_engine.provenance, unit_stats, doctor), so they agree with the
debugger's. `doctor` exits 0 when it finds nothing, 1 when it finds something and 2 on an
error, so it can gate a CI job.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .cli import PROG, UsageError, _add_model_args, _layer_number, _Parser, _whole_number
from .find import _direction_index
from .text import display, safe_line

EXIT_CLEAN, EXIT_FOUND = 0, 1


def _unit(s: str) -> int:
    return _whole_number(s, 0, "units are numbered from 0")


def _step(s: str) -> int:
    return _whole_number(s, 1, "steps are numbered from 1 (0 is the initial state)")


def _top(s: str) -> int:
    return _whole_number(s, 1, "--top takes 1 or more")


def _scope_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layer", type=_layer_number, default=1, metavar="L",
                   help="the layer, numbered from 1 as on screen (default 1)")
    p.add_argument("--direction", choices=("fwd", "rev"), default=None,
                   help="fwd (left to right) or rev (right to left); default the LSTM's first")


def explain_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{PROG} explain", description="Where unit U's cell state at step S came "
                "from: c_S = (Π f) · c_0 + Σ_s (Π f since s) · i_s g_s, one line per step read "
                "with what that step wrote that still survives, and the initial state's part. "
                "For the rev direction the steps run in its reading order, T down to S.")  # fmt: skip
    _add_model_args(p)
    p.add_argument("--unit", type=_unit, required=True, metavar="U", help="the unit (from 0)")
    p.add_argument("--step", type=_step, required=True, metavar="S",
                   help="the step (1..T, as on screen)")
    _scope_args(p)
    p.add_argument("--json", action="store_true",
                   help='one object {"c", "initial", "contributions" (one number per step read), '
                   '"steps", "tokens", "largest_step", "residual", …}')  # fmt: skip
    return p


def stats_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{PROG} stats", description="Per-unit statistics over the sequence: the "
                "fractions of steps each gate is below 0.1 (left) and above 0.9 (right), the "
                "variance of c and h, the mean |Δc|, the half-life of what a unit writes and "
                "the mean gate saturation; sorted and cut with --by and --top.")  # fmt: skip
    _add_model_args(p)
    p.add_argument("--top", type=_top, default=None, metavar="N", help="print the first N units")
    p.add_argument("--by", default=None, metavar="KEY",
                   help="sort by a statistic (var_c, var_h, mean_abs_delta, half_life, saturation, "
                   "i_left … o_right; largest first), by 'token:WORD' or 'label:NAME' (|point-"
                   "biserial r| of c with the token or the top prediction), or by 'output' (mean "
                   "|W·h| in the winning logit, linear heads)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object per unit, one a line")
    return p


def doctor_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{PROG} doctor", description="Check a trained LSTM for common faults on its "
                "examples (or the input given): forget-gate bias set in one bias only or in part "
                "of the network, forget gates stuck shut, saturated gates, dead units, cell states "
                "growing without bound, NaN/Inf, a head ignoring a direction. One finding a line; "
                "exit 0 when clean, 1 when something is found, 2 on an error.")  # fmt: skip
    _add_model_args(p)
    p.add_argument("--json", action="store_true",
                   help='one JSON object per finding: {"check", "where", "message", "evidence"}')
    return p


def _open(args):
    from lstm_engine import open_and_trace

    return open_and_trace(
        args.model, text=args.text, inputs=args.input, example=args.example,
        trust=args.trust, lstm=args.lstm, batch_index=args.batch_index,
    )  # fmt: skip


def _scope(trace, args) -> tuple[int, int]:
    if args.layer > trace.num_layers:
        have = "layer 1 only" if trace.num_layers == 1 else f"layers 1..{trace.num_layers}"
        raise UsageError(f"--layer {args.layer}: the LSTM has {have}")
    return args.layer - 1, _direction_index(trace, args.direction)


def _number(v):
    """A float for JSON: non-finite as the strings "nan", "inf", "-inf" (as `find` prints them)."""
    if v is None:
        return None
    v = float(v)
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else "inf" if v > 0 else "-inf"
    return v


def _write(lines) -> None:
    out = sys.stdout
    try:
        for line in lines:
            out.write(line + "\n")
        out.flush()
    except BrokenPipeError:  # `… | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


# --- explain
def cmd_explain(args) -> int:
    from lstm_engine import provenance

    trace = _open(args).trace
    layer, d = _scope(trace, args)
    if args.step > trace.T:
        raise UsageError(f"--step {args.step}: the trace has steps 1..{trace.T}")
    if args.unit >= trace.hidden_size:
        raise UsageError(f"--unit {args.unit}: the LSTM has units 0..{trace.hidden_size - 1}")
    p = provenance(trace, layer, d, args.step - 1, args.unit)
    steps = [int(s) for s in p.steps]
    tokens = None if trace.tokens is None else [trace.tokens[s - 1] for s in steps]
    largest = steps[int(p.largest)]
    direction = "rev" if trace.reads_reversed(d) else "fwd"
    if args.json:
        row = {"c": _number(p.c), "initial": _number(p.initial),
               "contributions": [_number(v) for v in p.contributions], "steps": steps,
               "tokens": tokens, "largest_step": largest, "residual": _number(p.residual),
               "layer": layer + 1, "direction": direction, "unit": args.unit, "step": args.step}  # fmt: skip
        _write([json.dumps(row, allow_nan=False)])
        return 0
    at = f" {display(trace.tokens[args.step - 1])}" if trace.tokens is not None else ""
    lines = [f"c[{args.unit}] at step {args.step}{at} (L{layer + 1} {direction}) = {p.c:.6g}"
             f" = initial {p.initial:.6g} + the {len(steps)} steps read:"]  # fmt: skip
    scale = max(abs(float(v)) for v in p.contributions) or 1.0
    for k, (s, v) in enumerate(zip(steps, p.contributions)):
        tok = f"{display(tokens[k]):<12}" if tokens is not None else ""
        bar = ("+" if v >= 0 else "-") * max(0, round(20 * abs(float(v)) / scale))
        mark = "  ← largest" if s == largest else ""
        lines.append(safe_line(f"  step {s:>5}  {tok}{float(v):+.6g}  {bar}{mark}"))
    lines.append(f"residual (c − initial − Σ steps): {p.residual:.3g}")
    _write(lines)
    return 0


def _shown_evidence(evidence: dict) -> dict:
    """A finding's evidence numbered as the screen and the message number it: a position t
    becomes "step" (1..T), a layer index a layer from 1."""
    out = {k: v for k, v in evidence.items() if k != "t"}
    if "t" in evidence:
        out["step"] = int(evidence["t"]) + 1
    if isinstance(evidence.get("layer"), int):
        out["layer"] = evidence["layer"] + 1
    return out


# --- stats
def stats_rows(trace, model, by: str | None) -> tuple[list[dict], str | None]:
    """The rows `stats` prints and the key they are sorted by (None: table order)."""
    import numpy as np

    from lstm_engine import (
        STAT_KEYS, label_event, output_contribution, point_biserial, token_event, unit_stats,
    )  # fmt: skip

    stats = unit_stats(trace)
    rows = stats.rows()
    if by is None:
        return rows, None
    if by in STAT_KEYS:
        return sorted(rows, key=lambda r: -_sort_value(r[by])), by
    kind, _, what = by.partition(":")
    L, D, H = stats.shape
    if kind in ("token", "label") and what:
        event = token_event(trace, what) if kind == "token" else label_event(trace, what)
        r = np.stack([np.stack([point_biserial(trace.series("c", layer, d), event)
                                for d in range(D)]) for layer in range(L)])  # fmt: skip
        key = f"r_{kind}"
        for row in rows:
            row[key] = float(r[row["layer"] - 1, _d(stats, row), row["unit"]])
        return sorted(rows, key=lambda row: -abs(_sort_value(row[key]))), key
    if by == "output":
        contrib = output_contribution(model, trace)  # (D, P): the top layer's h units
        if trace.out_size != H:
            raise UsageError("--by output: the LSTM projects h (proj_size), so the head reads "
                             "projected features, not units")  # fmt: skip
        for row in rows:
            top = row["layer"] == L
            row["output"] = float(contrib[_d(stats, row), row["unit"]]) if top else None
        return sorted(rows, key=lambda row: -_sort_value(row["output"])), "output"
    raise UsageError(f"--by {by!r}: expected one of {', '.join(STAT_KEYS)}, token:WORD, "
                     "label:NAME or output")  # fmt: skip


def _d(stats, row) -> int:
    return stats.reads_reversed.index(row["direction"] == "rev")


def _sort_value(v) -> float:
    return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def cmd_stats(args) -> int:
    opened = _open(args)
    rows, key = stats_rows(opened.trace, opened.model, args.by)
    if args.top is not None:
        rows = rows[: args.top]
    if args.json:
        _write(json.dumps({k: _number(v) if isinstance(v, float) else v for k, v in row.items()},
                          allow_nan=False) for row in rows)  # fmt: skip
        return 0
    cols = ("i_left", "i_right", "f_left", "f_right", "o_left", "o_right")
    extra = [key] if key is not None and key not in cols else []
    head = (f"{'unit':<14}" + "".join(f"{c:>8}" for c in cols)
            + "".join(f"{c:>11}" for c in ("var_c", "var_h", "mean|Δc|", "half_life"))
            + "".join(f"{c:>10}" for c in extra if c not in ("var_c", "var_h", "mean_abs_delta", "half_life")))  # fmt: skip
    lines = [head]
    for row in rows:
        name = f"L{row['layer']} {row['direction']} {row['unit']}"
        line = (f"{name:<14}" + "".join(f"{row[c]:>8.2f}" for c in cols)
                + "".join(f"{row[c]:>11.4g}" for c in ("var_c", "var_h", "mean_abs_delta", "half_life")))  # fmt: skip
        for c in extra:
            if c not in ("var_c", "var_h", "mean_abs_delta", "half_life"):
                line += f"{'—' if row[c] is None else format(row[c], '.4g'):>10}"
        lines.append(line)
    _write(lines)
    return 0


# --- doctor
def cmd_doctor(args) -> int:
    from lstm_engine import doctor, doctor_traces, is_trace_file

    gave = any(v is not None for v in (args.text, args.input, args.example))
    if is_trace_file(args.model) or gave:
        opened = _open(args)
        if opened.model is None:
            findings = doctor_traces([opened.trace])
        else:
            findings = doctor(opened.model, [opened.input])
    else:
        from lstm_engine import load

        findings = doctor(load(args.model, trust=args.trust, lstm=args.lstm))
    if args.json:
        _write(json.dumps({"check": f.check, "where": f.where, "message": f.message,
                           "evidence": _shown_evidence(f.evidence)}, default=str)
               for f in findings)  # fmt: skip
    else:
        _write([safe_line(f.line()) for f in findings]
               + [f"{len(findings)} finding{'s' if len(findings) != 1 else ''}" if findings
                  else "no findings"])  # fmt: skip
    return EXIT_FOUND if findings else EXIT_CLEAN
