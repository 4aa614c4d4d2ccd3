"""The old name of the torch readers, kept so that existing imports keep working.

The readers are split by job now: formats.state_dict (names and shapes →
specs and the numpy pipeline), formats.checkpoint (the project checkpoint,
read and write), formats.pickled (torch.load, with trust for full unpickling),
formats.torchscript, and formats.torch_module (a module run by torch). New
code imports from those; nothing is defined here.
"""

from .checkpoint import model_from_checkpoint
from .pickled import model_from_object, read_torch_file
from .state_dict import (
    find_lstm_prefixes,
    infer_roles,
    lstm_config_from_state_dict,
    lstm_config_of,
    model_from_state_dict,
    spec_from_state_dict,
    state_dict_from_spec,
    state_dict_to_arrays,
    weights_from_state_dict,
)
from .torch_module import TorchModuleModel, is_torch_lstm, spec_from_module
from .torchscript import load_torchscript

__all__ = [
    "TorchModuleModel",
    "find_lstm_prefixes",
    "infer_roles",
    "is_torch_lstm",
    "load_torchscript",
    "lstm_config_from_state_dict",
    "lstm_config_of",
    "model_from_checkpoint",
    "model_from_object",
    "model_from_state_dict",
    "read_torch_file",
    "spec_from_module",
    "spec_from_state_dict",
    "state_dict_from_spec",
    "state_dict_to_arrays",
    "weights_from_state_dict",
]
