"""lstm_engine: record an LSTM one timestep at a time, exactly, without any UI.

The public API, re-exported here, is what the TUI and users build on:

    trace = trace_lstm(torch_lstm_or_spec, x)      # -> Trace, arrays [layer, dir, t, unit]
    session = Session(trace); session.step(); session.at().kept
    trace.save("run.npz"); Trace.load("run.npz")
    what_if = branch(trace, [Ablate(unit=11, from_t=6)])   # a new Trace; .parent, .edits
    trace.diff(what_if).first_divergence         # TraceDiff: per step, unit and quantity
    model = load("tagger.pt"); model.trace("The dog ate the apple")   # a whole model, by content
    model.embedding, model.lstms, model.head, model.warnings          # its parts, as data
    model.downstream("lstm", h)                  # the rest of the network from an LSTM's output
    opened = open_and_trace(path, text=...)      # the front door the CLI and the UI share
    save_checkpoint(torch_model, "mine.pt", vocab=..., labels=..., examples=[...])

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
    Opened, choose_input, example_index, is_trace_file, load, open_and_trace, open_file, open_pair,
    output_kind, output_uses_future,
)  # fmt: skip
from .model import (
    EmbeddingPart, HeadPart, LSTMPart, Model, PipelineModel, guess_output_kind, log_softmax,
    probabilities, softmax,
)  # fmt: skip
from .vocab import Vocabulary, split_text
from .core.recorder import Recorder, branch, record
from .core.edits import Ablate, ClampGate, Edit, ReplaceInput, SetState, edit_from_json, reach
from .live import trace_lstm
from .core.session import Session, StepView
from .core.spec import GATES, CellWeights, LSTMSpec
from .core.quantities import (
    ALIASES, QUANTITIES, REGISTRY, VALUE_NAMES, Quantity, prev_subscript, previous_step,
)
from .core.trace import Trace, stack_layers
from .core.watch import Watch, WatchError, compile_watch, next_hit
from .core.edit_syntax import EditSyntaxError, TokenReplacement, format_edit, parse_edit
from .core.diff import Divergence, QuantityDelta, TraceDiff, UnitDelta

__all__ = [
    "ALIASES",
    "Ablate",
    "Divergence",
    "Activation",
    "CellActivations",
    "CellWeights",
    "ClampGate",
    "Edit",
    "EditSyntaxError",
    "EmbeddingPart",
    "EngineError",
    "GATES",
    "HeadPart",
    "InputError",
    "LSTMPart",
    "LSTMSpec",
    "LoadError",
    "Model",
    "Opened",
    "PipelineModel",
    "QUANTITIES",
    "Quantity",
    "QuantityDelta",
    "REGISTRY",
    "Recorder",
    "ReplaceInput",
    "Session",
    "SetState",
    "SpecError",
    "StepView",
    "TargetExistsError",
    "TokenReplacement",
    "Trace",
    "TraceDiff",
    "UnitDelta",
    "UnsafeFileError",
    "VALUE_NAMES",
    "Vocabulary",
    "Watch",
    "WatchError",
    "WriteError",
    "branch",
    "choose_input",
    "compile_watch",
    "edit_from_json",
    "example_index",
    "format_edit",
    "guess_output_kind",
    "is_trace_file",
    "load",
    "log_softmax",
    "next_hit",
    "open_and_trace",
    "open_file",
    "open_pair",
    "output_kind",
    "output_uses_future",
    "parse_edit",
    "prev_subscript",
    "previous_step",
    "probabilities",
    "reach",
    "read_input_array",
    "record",
    "remove_stale_partials",
    "require_regular_file",
    "save_checkpoint",
    "softmax",
    "split_text",
    "stack_layers",
    "trace_lstm",
    "write_file",
]
