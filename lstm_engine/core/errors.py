"""The engine's exceptions.

Every error a user can cause (a wrong shape, a bad file, an unsafe pickle)
is an `EngineError`, so a front end can print its message as one line and
exit non-zero, and anything else is a bug worth a traceback.
"""


class EngineError(Exception):
    """A problem with the user's model, input or files; the message is for the user."""


class SpecError(EngineError, ValueError):
    """Weights or options that do not describe a valid LSTM."""


class InputError(EngineError, ValueError):
    """An input sequence, initial state or text the model cannot take."""


class LoadError(EngineError):
    """A file that cannot be read as a model or a trace."""


class UnsafeFileError(LoadError):
    """A file that can only be opened by unpickling it, which may run code."""
