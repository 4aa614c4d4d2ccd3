"""How many threads the numeric libraries use while lstm-tui runs (no textual here: the
headless commands use it too)."""

from __future__ import annotations

import os
import sys
from typing import Callable


def share_cores() -> Callable[[], None]:
    """One BLAS thread and one torch thread while the screen is up or a command records;
    returns what puts them back.

    What records while the UI runs (the loading worker, an edit's branch, another example,
    a corpus) shares the machine with the UI thread, and a library's second thread on a busy
    two-core machine mostly spins: a 600-step H=1024 record() under a load of 12 took 5–6 s
    with one OpenBLAS thread and 19–21 s with two (4 s of its CPU spent spinning). OpenBLAS is
    limited at run time through threadpoolctl when it is installed (numpy reads
    OPENBLAS_NUM_THREADS only when it loads); torch with set_num_threads, or through
    OMP_NUM_THREADS if it is imported later (a model file the loading worker opens).
    A variable the user set is left alone. The headless commands (record, find, ...) run one
    sequence at a time too: `lstm-tui record` of charlm over 100,000 characters took 8.8 s
    with torch's two threads and 6.1 s with one, and over a 175-line file 5.7 and 2.2 s.
    """
    undo: list[Callable[[], None]] = []
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        if "OPENBLAS_NUM_THREADS" not in os.environ:
            undo.append(threadpool_limits(1, user_api="blas").restore_original_limits)
    torch = sys.modules.get("torch")
    if torch is not None and "OMP_NUM_THREADS" not in os.environ:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        undo.append(lambda: torch.set_num_threads(before))
    elif "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = "1"
        undo.append(lambda: os.environ.pop("OMP_NUM_THREADS", None))

    def back() -> None:
        for step in reversed(undo):
            step()
        undo.clear()

    return back
