"""While the screen is up, BLAS and torch run one thread each, and get their own back after.

A recording made beside the UI (an edit's branch, another example, a corpus) shares two
cores with the UI thread; a library's second thread then mostly spins (bench_ui, issue 16).
"""

from __future__ import annotations

import os

import pytest

from lstm_tui.app import LstmTuiApp, share_cores
from tui_helpers import synthetic_source


def blas_threads() -> int | None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    return info[0]["num_threads"] if info else None


async def test_one_thread_each_while_the_app_runs_and_theirs_after(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    blas_before = blas_threads()
    app = LstmTuiApp(synthetic_source())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert torch.get_num_threads() == 1
        if blas_before is not None:
            assert blas_threads() == 1
    assert torch.get_num_threads() == 2
    assert blas_threads() == blas_before


def test_a_users_setting_is_left_alone(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)
    back = share_cores()
    assert torch.get_num_threads() == 2 and os.environ["OMP_NUM_THREADS"] == "2"
    back()
    assert torch.get_num_threads() == 2
