"""lstm_engine: record an LSTM one timestep at a time, exactly, without any UI.

The public API, re-exported here, is what the TUI and users build on:

    trace = trace_lstm(torch_lstm_or_spec, x)      # -> Trace, arrays [layer, dir, t, unit]
    session = Session(trace); session.step(); session.at().kept
    trace.save("run.npz"); Trace.load("run.npz")
    model = load("tagger.pt"); model.trace("The dog ate the apple")   # a whole model, by content
    save_checkpoint(torch_model, "mine.pt", vocab=..., labels=..., examples=[...])

Importing this package never imports torch or textual; torch is imported
only when a torch model is handed in.
"""

from .activations import Activation, CellActivations
from .checkpoint import save_checkpoint
from .errors import EngineError, InputError, LoadError, SpecError, UnsafeFileError
from .files import read_input_array, require_regular_file
from .load import load
from .model import Model
from .recorder import Recorder, record, trace_lstm
from .session import Session, StepView
from .spec import GATES, CellWeights, LSTMSpec
from .trace import QUANTITIES, VALUE_NAMES, Trace

__all__ = [
    "Activation",
    "CellActivations",
    "CellWeights",
    "EngineError",
    "GATES",
    "InputError",
    "LSTMSpec",
    "LoadError",
    "Model",
    "QUANTITIES",
    "Recorder",
    "Session",
    "SpecError",
    "StepView",
    "Trace",
    "UnsafeFileError",
    "VALUE_NAMES",
    "load",
    "record",
    "read_input_array",
    "require_regular_file",
    "save_checkpoint",
    "trace_lstm",
]
