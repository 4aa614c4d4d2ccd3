"""lstm_tui: the Textual debugger over lstm_engine traces."""
