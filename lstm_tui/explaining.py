"""The debugger's "why?" data: unit names, the provenance bar, retention, and the analysis panel.

Pure functions over a Trace (no Textual), each asking the engine for its
numbers (`lstm_engine.provenance`, `half_life`, `unit_stats`,
`output_attribution`, `output_contribution`, `saliency`, `point_biserial`):
what this module adds is the screen's choices (which ranking, which label,
what a bar shows) and the validation of unit names, which come from a file
or from the user and are hostile data either way.

Unit names live in `trace.meta["units"]`, `{"12": "France"}` (string keys: the
meta is saved as JSON). A checkpoint's `units` put them there; the user's
names (`r`) are saved the same way with a recorded trace (ctrl+s), so reading
them back is the same validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from lstm_engine import (
    EngineError, Trace, half_life, label_event, output_attribution, output_contribution,
    point_biserial, provenance, rank, saliency, token_event, unit_stats,
)  # fmt: skip

from .text import safe_line

#: The trace meta key that holds unit names.
SAVED_NAMES = "units"
#: Longest unit name kept, in characters (longer ones are cut, never refused).
MAX_NAME = 24
#: What a name may not be: a number would be read as a unit by `u`.
NAME_HINT = "a name of letters, digits, spaces and -_./ that is not a number"


def _whole(k: object) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, bool)


def clean_name(text: object) -> str | None:
    """`text` as a unit name (one safe line, at most MAX_NAME characters), or None if it
    cannot be one (empty, a number, not a string)."""
    if not isinstance(text, str):
        return None
    name = " ".join(safe_line(text, 200).split())[:MAX_NAME].strip()
    if not name or name.lstrip("#").isdigit():
        return None
    return name


def read_names(trace: Trace) -> tuple[Mapping[int, str], int]:
    """(unit → name, dropped) from `trace.meta["units"]`: keys are unit numbers in range (ints
    or digit strings), names pass `clean_name`; at most one name per unit, at most
    hidden_size names; `dropped` counts what was refused (a value that is not a mapping: 1)."""
    raw = trace.meta.get(SAVED_NAMES)
    if raw is None:
        return MappingProxyType({}), 0
    if not isinstance(raw, Mapping):
        return MappingProxyType({}), 1
    names: dict[int, str] = {}
    dropped = 0
    H = trace.hidden_size
    for k, v in list(raw.items())[: 4 * H + 16]:
        if isinstance(k, str) and k.isascii() and k.isdigit() and len(k) < 10:
            k = int(k)
        name = clean_name(v)
        if _whole(k) and 0 <= k < H and name is not None and len(names) < H:
            names[int(k)] = name
        else:
            dropped += 1
    dropped += max(len(raw) - (4 * H + 16), 0)
    return MappingProxyType(dict(sorted(names.items()))), dropped


def with_names(trace: Trace, names: Mapping[int, str]) -> Trace:
    """A new Trace whose meta holds `names` (replacing any it had); the trace is not changed."""
    meta = {k: v for k, v in trace.meta.items() if k != SAVED_NAMES}
    if names:
        meta[SAVED_NAMES] = {str(int(k)): str(v) for k, v in sorted(names.items())}
    return replace(trace, meta=meta)


def named(names: Mapping[int, str], unit: int, name: str | None) -> Mapping[int, str]:
    """`names` with `unit` named `name` (None or "" removes its name)."""
    out = {k: v for k, v in names.items() if k != unit}
    if name:
        out[unit] = name
    return MappingProxyType(dict(sorted(out.items())))


def find_unit(text: str, names: Mapping[int, str], hidden_size: int) -> int | str:
    """The unit `u` asks for: a number (0-based), or a name (case-insensitive, whole or its
    unique start). An error sentence when nothing, or more than one unit, matches."""
    text = " ".join(text.split())
    if text.isascii() and text.isdigit():
        unit = int(text)
        if unit < hidden_size:
            return unit
        return f"Enter a unit between 0 and {hidden_size - 1}" + (", or a unit's name." if names else ".")
    want = text.casefold()
    if not want:
        return "type a unit number or a unit's name"
    exact = [u for u, n in names.items() if n.casefold() == want]
    if len(exact) == 1:
        return exact[0]
    starts = [u for u, n in names.items() if n.casefold().startswith(want)]
    if len(starts) == 1:
        return starts[0]
    shown = safe_line(text, 40)
    if not starts:
        known = ", ".join(f"{u} {n}" for u, n in names.items()) or "none yet (r names one)"
        return f"no unit is named {shown}; the names are {safe_line(known, 200)}"
    return f"{shown} could be " + ", ".join(f"{u} {names[u]}" for u in starts[:6])


def unit_label(unit: int, names: Mapping[int, str]) -> str:
    """'unit 12 France', or 'unit 12' for a unit without a name."""
    name = names.get(unit)
    return f"unit {unit} {name}" if name else f"unit {unit}"


# --- the provenance bar


@dataclass(frozen=True, eq=False)
class Bar:
    """What the bar over the strip shows for one (layer, direction, unit, t).

    `values` is (T,), NaN at the positions the direction has not read; `largest` the
    position of the largest |value|; `note` the strip title's addition, one safe line.
    """

    kind: str
    values: np.ndarray
    largest: int
    note: str


def provenance_bar(trace: Trace, layer: int, direction: int, unit: int, t: int,
                   names: Mapping[int, str] | None = None) -> Bar:  # fmt: skip
    """Each read step's surviving share of c_t[unit] (the engine's provenance), by position."""
    p = provenance(trace, layer, direction, t, unit)
    values = np.full(trace.T, np.nan)
    values[p.positions] = p.contributions
    largest = int(p.positions[p.largest]) if len(p.positions) else t
    where = ""
    if trace.tokens is not None:
        where = f" {safe_line(trace.tokens[largest], 20)}"
    label = unit_label(unit, names or {})
    note = (f"c of {label} at step {t + 1} = {p.c:+.2f}, c₀ term {p.initial:+.2f}, most from "
            f"step {largest + 1}{where} ({values[largest]:+.2f})")  # fmt: skip
    return Bar("provenance", values, largest, note)


def saliency_bar(source, t: int) -> Bar:
    """|d logit / d x_s| per position for the winning label at t (the engine's saliency,
    torch autograd for torch models): how much each input moves the output at t."""
    s = saliency(source.model, source.trace, t)
    values = np.asarray(s.x_norm, np.float64)  # every position: the gradient is 0 after t
    largest = int(np.nanargmax(np.abs(values)))
    tr = source.trace
    label = tr.labels[s.label] if tr.labels is not None and s.label < len(tr.labels) else f"#{s.label}"
    where = f" {safe_line(tr.tokens[largest], 20)}" if tr.tokens is not None else ""
    note = (f"|d logit {safe_line(label, 20)} / d x| at step {t + 1} ({s.method}): "
            f"most from step {largest + 1}{where}")  # fmt: skip
    return Bar("saliency", values, largest, note)


#: Glyphs of a bar's size, an eighth at a time.
_BLOCKS = " ▁▂▃▄▅▆▇█"


def bar_cells(v: float, scale: float, width: int) -> str:
    """A value's bar in a token's cell: a block of its size (largest = full), centred."""
    if v != v:
        return " " * width
    k = 0 if scale <= 0 else min(int(round(abs(v) / scale * 8)), 8)
    k = max(k, 1) if v != 0 else 0
    glyph = _BLOCKS[k] * max(min(width - 2, 3), 1)
    pad = width - len(glyph)
    return " " * (pad // 2) + glyph + " " * (pad - pad // 2)


def bar_value(v: float, width: int, largest: bool) -> str:
    """A value under its bar, signed, with ◆ at the largest."""
    if v != v:
        return " " * width
    text = f"{v:+.2f}" if abs(v) < 100 else f"{v:+.0f}"
    if largest:
        text = "◆" + text
    if len(text) > width:
        text = text[:width]
    pad = width - len(text)
    return " " * (pad // 2) + text + " " * (pad - pad // 2)


# --- retention in the unit table


def half_lives(trace: Trace, layer: int, direction: int) -> np.ndarray:
    """The unit table's retention column: each unit's half-life in steps (H,), inf for f = 1."""
    return half_life(trace, layer, direction)


# --- the analysis panel

#: What the ranking can be by: key → (label, larger ranks first).
RANKINGS = {
    "var_c": ("variance of c", True),
    "var_h": ("variance of h", True),
    "mean_abs_delta": ("mean |Δc|", True),
    "saturation": ("saturation", True),
    "half_life": ("retention (half-life)", True),
    "output": ("contribution to the output", True),
    "token": ("correlation with the token at t", True),
    "label": ("correlation with the picked label", True),
}


class Analysis:
    """What the analysis panel shows that does not depend on the cursor: the engine's per-unit
    statistics (`stats`, computed at once) and the output contributions (`output()`, computed
    the first time the ranking asks, since they read every step of the head)."""

    def __init__(self, source, stats) -> None:
        self.source = source
        self.stats = stats  # lstm_engine.UnitStats
        self._output: tuple[np.ndarray | None, str | None] | None = None

    def output(self) -> tuple[np.ndarray | None, str | None]:
        """((D, P) mean |W·h| per top-layer unit, None) or (None, why there is none)."""
        if self._output is None:
            try:
                self._output = output_contribution(self.source.model, self.source.trace), None
            except EngineError as e:
                self._output = None, str(e)
        return self._output


def analyse(source) -> Analysis:
    """The per-unit statistics of the whole trace (one pass of the engine's unit_stats)."""
    return Analysis(source, unit_stats(source.trace))


def ranking(analysis: Analysis, trace: Trace, key: str, layer: int, direction: int,
            t: int, label: str | None) -> tuple[np.ndarray, np.ndarray] | str:  # fmt: skip
    """(units best first, their values) for the layer and direction in view, or why not."""
    if key == "output":
        if layer != trace.num_layers - 1:
            return "the head reads the top layer only: go to the last layer ([ ])"
        output, reason = analysis.output()
        if output is None:
            return reason or "no linear head"
        values = output[direction]
    elif key in ("token", "label"):
        try:
            if key == "token":  # no tokens: token_event says so
                event = token_event(trace, trace.tokens[t] if trace.tokens is not None else "")
            else:
                event = label_event(trace, label or "")
            values = point_biserial(trace.series("c", layer, direction), event)
        except EngineError as e:
            return str(e)
    else:
        values = analysis.stats.values[key][layer, direction]
    if key in ("token", "label"):  # a correlation ranks by its size, either sign
        order = rank(np.abs(values)[None, None])[:, 2]
    else:
        order = rank(values[None, None])[:, 2]
    return order, values[order]


def attribution(source, t: int, label: str | None):
    """The engine's logit attribution at t for `label` (None: the winner), or why there is none."""
    try:
        return output_attribution(source.model, source.trace, t, label)
    except EngineError as e:
        return str(e)


__all__ = [
    "Analysis", "Bar", "MAX_NAME", "NAME_HINT", "RANKINGS", "SAVED_NAMES", "analyse",
    "attribution", "bar_cells", "bar_value", "clean_name", "find_unit", "half_lives",
    "named", "provenance_bar", "ranking", "read_names", "saliency_bar", "unit_label",
    "with_names",
]  # fmt: skip
