"""lstm_engine: record an LSTM one timestep at a time, exactly, without any UI.

The public API, re-exported here, is what the TUI and users build on:

    trace = trace_lstm(torch_lstm_or_spec, x)      # -> Trace, arrays [layer, dir, t, unit]
    trace = trace_module(model, (input, hidden))   # the LSTM/LSTMCell inside a live model's call
    session = Session(trace); session.step(); session.at().kept
    trace.save("run.npz"); Trace.load("run.npz")
    what_if = branch(trace, [Ablate(unit=11, from_t=6)])   # a new Trace; .parent, .edits
    trace.diff(what_if).first_divergence         # TraceDiff: per step, unit and quantity
    model = load("tagger.pt"); model.trace("The dog ate the apple")   # a whole model, by content
    model.embedding, model.lstms, model.head, model.warnings          # its parts, as data
    model.downstream("lstm", h)                  # the rest of the network from an LSTM's output
    opened = open_and_trace(path, text=...)      # the front door the CLI and the UI share
    inputs_for(model, read_named_inputs(["src=s.npy", "tgt=t.npy"]))   # --input NAME=FILE, .npz
    save_checkpoint(torch_model, "mine.pt", vocab=..., labels=..., examples=[...])
    p = provenance(trace, layer, d, t, unit)     # c_t = p.initial + Σ p.contributions (+ p.residual)
    unit_stats(trace).rows()                     # saturation, var, |Δc|, half-life per unit
    output_attribution(model, trace, t); saliency(model, trace, t)   # what the output owes each unit
    doctor(model)                                # Findings: a health check on the examples

Importing this package never imports torch or textual; torch is imported
only when a torch model is handed in.
"""

from .core.activations import Activation, CellActivations
from .formats.checkpoint import save_checkpoint
from .core.errors import EngineError, InputError, LoadError, SpecError, UnsafeFileError
from .core.files import (
    TargetExistsError, WriteError, read_input_array, remove_stale_partials, require_regular_file,
    write_file,
)  # fmt: skip
from .open import (
    Opened, choose_input, example_index, inputs_for, is_trace_file, load, open_and_trace, open_file,
    open_pair, output_kind, output_uses_future, read_named_inputs,
)  # fmt: skip
from .model import (
    EmbeddingPart, HeadPart, LSTMPart, Model, PipelineModel, guess_output_kind, log_softmax,
    probabilities, softmax,
)  # fmt: skip
from .vocab import Vocabulary, apply_names, split_text
from .core.recorder import EDITED_TOKEN, OUTPUT_NOT_RECOMPUTED, Recorder, branch, record
from .core.edits import Ablate, ClampGate, Edit, ReplaceInput, SetState, edit_from_json, reach
from .live import trace_lstm, trace_module
from .core.session import Session, StepView
from .core.spec import GATES, CellWeights, LSTMSpec
from .core.quantities import (
    ALIASES, QUANTITIES, REGISTRY, VALUE_NAMES, Quantity, prev_subscript, previous_step,
)
from .core.trace import Trace, stack_layers
from .core.watch import Watch, WatchError, compile_watch, next_hit
from .core.edit_syntax import EditSyntaxError, TokenReplacement, format_edit, parse_edit
from .core.diff import Divergence, QuantityDelta, TraceDiff, UnitDelta
from .core.provenance import (
    Provenance, half_life, provenance, read_positions, retention, steps_to_half,
)  # fmt: skip
from .core.unit_stats import (
    STAT_KEYS, UnitStats, label_event, point_biserial, rank, saturation_fractions, token_event,
    unit_stats,
)  # fmt: skip
from .core.backward import Gradients, backward
from .core.output import output_kind_of
from .attribution import (
    Attribution, Saliency, linear_head, output_attribution, output_contribution, saliency,
    torch_backward,
)  # fmt: skip
from .doctor import CHECKS, Finding, doctor, doctor_traces
from .select import Match, Selection, match, select_units, span_context, unit_on_mask
from .corpus import Corpus, is_corpus_file, open_corpus, read_text_inputs, record_corpus
from .export import export_csv, export_json

__all__ = [
    "ALIASES",
    "Ablate",
    "Match",
    "Selection",
    "Divergence",
    "Activation",
    "Attribution",
    "CHECKS",
    "CellActivations",
    "CellWeights",
    "Corpus",
    "ClampGate",
    "Edit",
    "EDITED_TOKEN",
    "EditSyntaxError",
    "EmbeddingPart",
    "EngineError",
    "Finding",
    "GATES",
    "Gradients",
    "HeadPart",
    "InputError",
    "LSTMPart",
    "LSTMSpec",
    "LoadError",
    "Model",
    "OUTPUT_NOT_RECOMPUTED",
    "Opened",
    "PipelineModel",
    "Provenance",
    "QUANTITIES",
    "Quantity",
    "QuantityDelta",
    "REGISTRY",
    "Recorder",
    "ReplaceInput",
    "STAT_KEYS",
    "Saliency",
    "Session",
    "SetState",
    "SpecError",
    "StepView",
    "TargetExistsError",
    "TokenReplacement",
    "Trace",
    "TraceDiff",
    "UnitDelta",
    "UnitStats",
    "UnsafeFileError",
    "VALUE_NAMES",
    "Vocabulary",
    "Watch",
    "WatchError",
    "WriteError",
    "apply_names",
    "backward",
    "branch",
    "choose_input",
    "compile_watch",
    "doctor",
    "doctor_traces",
    "edit_from_json",
    "example_index",
    "export_csv",
    "export_json",
    "format_edit",
    "guess_output_kind",
    "inputs_for",
    "half_life",
    "is_corpus_file",
    "is_trace_file",
    "label_event",
    "linear_head",
    "match",
    "load",
    "log_softmax",
    "next_hit",
    "open_and_trace",
    "open_corpus",
    "open_file",
    "open_pair",
    "output_attribution",
    "output_contribution",
    "output_kind",
    "output_kind_of",
    "output_uses_future",
    "parse_edit",
    "point_biserial",
    "prev_subscript",
    "previous_step",
    "probabilities",
    "provenance",
    "rank",
    "reach",
    "read_input_array",
    "read_named_inputs",
    "read_positions",
    "read_text_inputs",
    "record",
    "record_corpus",
    "remove_stale_partials",
    "require_regular_file",
    "retention",
    "saliency",
    "saturation_fractions",
    "select_units",
    "save_checkpoint",
    "softmax",
    "span_context",
    "split_text",
    "stack_layers",
    "steps_to_half",
    "token_event",
    "torch_backward",
    "trace_lstm",
    "trace_module",
    "unit_stats",
    "unit_on_mask",
    "write_file",
]
