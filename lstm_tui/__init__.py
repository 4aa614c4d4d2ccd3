"""lstm_tui: the Textual debugger over lstm_engine traces.

`lstm_tui.debug(model, inputs)` opens the debugger on a live model from
Python; the `lstm-tui` command opens model and trace files.
"""

from typing import Any


def debug(model_or_lstm: Any, inputs: Any = None, **kwargs: Any) -> int:
    """Open the debugger on a live model, LSTM, LSTMSpec or Trace (see lstm_tui.app.debug)."""
    from .app import debug as _debug  # textual is imported only when the UI opens

    return _debug(model_or_lstm, inputs, **kwargs)


__all__ = ["debug"]
