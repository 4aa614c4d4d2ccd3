"""`python -m lstm_tui`: the same command as the `lstm-tui` script."""

from .cli import main

raise SystemExit(main())
