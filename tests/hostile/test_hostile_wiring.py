"""The real `lstm-tui` on hostile files, for what the loaders and the CLI were wired to refuse.

Moved from wip_hostile_cli.py as each case's wiring landed: tensors and
examples checked against the limits before they are built (formats/
state_dict.py, formats/checkpoint.py), every string from a file through
text.safe_line (cli.py), `record -o` written through files.write_file, and
`--trust` no longer putting the current folder at the front of sys.path;
and the trace cases (Trace.load through read_npz/read_json, its validation);
plus the cases of the same issue with no builder before: ONNX control flow
upstream of the weights or the input, `--batch-index` on a model without a
batch, `--input` an .npz, a symlink loop given as the input or the output.

Like test_hostile_cli.py, every case is set up in its own folder and all of
them run at once (a module fixture), each under a timeout and a 4 GiB
address-space limit; each test then judges one outcome.
"""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import hostile_cli as hc
import hostile_files as hf

ROOT = Path(__file__).resolve().parents[2]
TAGGER = ROOT / "sample_models" / "tagger.pt"


def _record(folder: Path, out, *extra):
    return ["record", TAGGER, "--text", "the dog", "-o", out, *extra]


# --- each setup(folder) returns the command line; the tests below judge the outcome
def _bomb(build, cmd: str):
    def setup(folder: Path):
        path = build(folder)
        if cmd == "info":
            return ["info", path]
        if cmd == "ui":
            return [path]
        text = ["--text", "1 2"] if path.name != "shared_sublists.pt" else []
        return ["record", path, *text, "-o", folder / "out.npz"]

    return setup


def _old_tmp_name_mine(folder: Path):
    (folder / ".out.npz.tmp").write_bytes(b"mine")
    return _record(folder, folder / "out.npz")


def _old_tmp_name_symlink(folder: Path):
    (folder / ".out.npz.tmp").symlink_to(folder / "victims" / "victim.txt")
    return _record(folder, folder / "out.npz")


def _force_onto_symlink(folder: Path):
    (folder / "out.npz").symlink_to(folder / "victims" / "victim.txt")
    return _record(folder, folder / "out.npz", "--force")


def _dangling_symlink(folder: Path):
    (folder / "out.npz").symlink_to(folder / "elsewhere.npz")
    return _record(folder, folder / "out.npz")


def _force_onto_fifo(folder: Path):
    os.mkfifo(folder / "out.npz")
    return _record(folder, folder / "out.npz", "--force")


def _force_onto_device(folder: Path):
    try:
        os.mknod(folder / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError:
        return None
    return _record(folder, folder / "null", "--force")


def _long_name(folder: Path):
    return _record(folder, folder / ("t" * 248 + ".npz"))


def _trust_with_planted_modules(model):
    def setup(folder: Path):
        for name in ("torch", "onnx", "onnxruntime", "numpy"):
            (folder / f"{name}.py").write_text(
                f"open({str(folder / 'PWNED')!r}, 'w')\nraise SystemExit(7)\n"
            )
        return ["info", model(folder), "--trust"]

    return setup


def _onnx_model(folder: Path) -> Path:
    from lstm_engine.formats.onnx_write import spec_to_onnx
    from lstm_engine import LSTMSpec

    return spec_to_onnx(LSTMSpec.random(3, 2, 1, seed=0), folder / "m.onnx")


def _hostile_checkpoint_record(folder: Path):
    path = hf.hostile_strings_checkpoint(folder, folder / "victims")
    return ["record", path, "--text", b"[/] \xff\x1b[2J zzz", "-o", folder / "out.npz"]


def _batch_index_on_pt(folder: Path):
    return _record(folder, folder / "out.npz", "--batch-index", "1")


def _npz_as_input(folder: Path):
    np.savez(folder / "x.npz", x=np.arange(3))
    return ["record", TAGGER, "--input", folder / "x.npz", "-o", folder / "out.npz"]


def _loop_as_input(folder: Path):
    (folder / "a.npy").symlink_to(folder / "b.npy")
    (folder / "b.npy").symlink_to(folder / "a.npy")
    return ["record", TAGGER, "--input", folder / "a.npy", "-o", folder / "out.npz"]


def _loop_as_output(folder: Path):
    (folder / "a.npz").symlink_to(folder / "b.npz")
    (folder / "b.npz").symlink_to(folder / "a.npz")
    return _record(folder, folder / "a.npz", "--force")


def _onnx_loop(into: str, cmd: str):
    def setup(folder: Path):
        path = hf.onnx_endless_loop(folder, into=into)
        if cmd == "info":
            return ["info", path]
        return ["record", path, "--input", _save(folder, np.zeros((4, 1, 3), np.float32)),
                "-o", folder / "out.npz"]  # fmt: skip

    return setup


def _save(folder: Path, a) -> Path:
    np.save(folder / "x.npy", a)
    return folder / "x.npy"


#: case -> (setup, "refused" with these words, or "shown")
CASES = {
    "stride0-info": (_bomb(hf.stride0_state_dict, "info"), "would need"),
    "stride0-record": (_bomb(hf.stride0_state_dict, "record"), "would need"),
    "stride0-ui": (_bomb(hf.stride0_state_dict, "ui"), "would need"),
    "shared_sublists-info": (_bomb(hf.shared_sublists_checkpoint, "info"),
                             "values in one nested list"),  # fmt: skip
    "shared_sublists-record": (_bomb(hf.shared_sublists_checkpoint, "record"),
                               "values in one nested list"),  # fmt: skip
    "sd_hidden0-info": (_bomb(lambda d: hf.degenerate_state_dict(d, "hidden0"), "info"),
                        "hidden size 0"),  # fmt: skip
    "sd_hidden0-record": (_bomb(lambda d: hf.degenerate_state_dict(d, "hidden0"), "record"),
                          "hidden size 0"),  # fmt: skip
    "old_tmp_name_mine": (_old_tmp_name_mine, None),
    "old_tmp_name_symlink": (_old_tmp_name_symlink, None),
    "force_onto_symlink": (_force_onto_symlink, "symbolic link"),
    "dangling_symlink": (_dangling_symlink, "already exists"),
    "force_onto_fifo": (_force_onto_fifo, "FIFO"),
    "force_onto_device": (_force_onto_device, "character device"),
    "long_name": (_long_name, None),
    "trust_pt": (_trust_with_planted_modules(lambda d: TAGGER), None),
    "trust_onnx": (_trust_with_planted_modules(_onnx_model), None),
    "ui_no_terminal": (lambda folder: [TAGGER], "needs a terminal"),
    "hostile_checkpoint_info": (lambda folder: ["info", hf.hostile_strings_checkpoint(
        folder, folder / "victims")], None),  # fmt: skip
    "hostile_checkpoint_record": (_hostile_checkpoint_record, None),
    "hostile_trace_info": (lambda folder: ["info", hf.hostile_strings_trace(folder, folder / "victims")],
                           None),  # fmt: skip
    "batch_index_on_pt": (_batch_index_on_pt, "reads one sequence, not a batch"),
    "npz_as_input": (_npz_as_input, "not one array"),
    "symlink_loop_as_input": (_loop_as_input, "loop of symbolic links"),
    "symlink_loop_as_output": (_loop_as_output, "symbolic link"),
    "onnx_loop_W-info": (_onnx_loop("W", "info"), "computed through a Loop node"),
    "onnx_loop_W-record": (_onnx_loop("W", "record"), "computed through a Loop node"),
    "onnx_loop_X-record": (_onnx_loop("X", "record"), "computed through a Loop node"),
    # traces (core/trace.py's Trace.load through files.read_npz/read_json, and its validation);
    # "" = refused, whatever the words
    "trace_header_bomb-info": (lambda f: ["info", hf.npz_with_header_bomb(f)], "truncated"),
    "trace_huge_meta-info": (lambda f: ["info", hf.npz_with_huge_meta(f)], "allowed"),
    "trace_deep_json-info": (lambda f: ["info", hf.deep_json_trace(f)], "nested"),
    "trace_deep_json-ui": (lambda f: [hf.deep_json_trace(f)], ""),
    **{f"trace_{k}-info": ((lambda f, k=k: ["info", hf.degenerate_trace(f, k)]), "")
       for k in ("hidden0", "layers0", "directions0", "directions3")},  # fmt: skip
    "trace_unk_junk-info": (lambda f: ["info", hf.degenerate_trace(f, "unk_junk")], "unk_positions"),
    "trace_unused_3gib_member-info": (lambda f: ["info", hf.npz_with_unused_huge_member(f)], None),
}
#: environment for a case's run: a 1 GiB read limit proves the 3 GiB member is never read
ENV = {"trace_unused_3gib_member-info": {"LSTM_TUI_MAX_BYTES": "1G"}}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """{case: (folder, victims, Ran or None when the case cannot be set up here)}, run at once."""
    prepared = {}
    for case, (setup, _) in CASES.items():
        folder = tmp_path_factory.mktemp(case.replace("-", "_"))
        prepared[case] = (folder, hc.victims(folder / "victims"), setup(folder))
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {case: pool.submit(_run, args, folder, ENV.get(case))
                   for case, (folder, _, args) in prepared.items() if args is not None}  # fmt: skip
        return {case: (folder, victims, futures[case].result() if case in futures else None)
                for case, (folder, victims, _) in prepared.items()}  # fmt: skip


def _run(args, folder, env=None):
    """hc.run, with a timeout kept as this case's failure (not the whole fixture's)."""
    try:
        return hc.run(args, folder, timeout=60, env=env)
    except BaseException as e:  # noqa: BLE001 - pytest.fail's Failed is a BaseException
        return e


def _outcome(outcomes, case):
    folder, victims, ran = outcomes[case]
    if ran is None:
        pytest.skip("cannot set this case up here (e.g. no mknod)")
    if isinstance(ran, BaseException):
        pytest.fail(str(ran))
    return folder, victims, ran


REFUSED = sorted(c for c, (_, says) in CASES.items() if says is not None)  # "" is refused too
SHOWN = sorted(c for c, (_, says) in CASES.items() if says is None)


@pytest.mark.parametrize("case", REFUSED)
def test_refused_in_one_inert_line(outcomes, case):
    folder, victims, ran = _outcome(outcomes, case)
    hc.refused(ran, says=CASES[case][1], markers=[folder / "PWNED"], victims=victims)
    out = folder / "out.npz"  # written nowhere: absent, or the link or FIFO that was there
    assert not out.exists() or out.is_symlink() or case == "force_onto_fifo"


@pytest.mark.parametrize("case", SHOWN)
def test_shown_with_no_control_reaching_the_terminal(outcomes, case):
    folder, victims, ran = _outcome(outcomes, case)
    hc.shown(ran, markers=[folder / "PWNED"], victims=victims)


def test_a_users_file_at_the_old_temporary_name_is_untouched(outcomes):
    folder, _, _ = _outcome(outcomes, "old_tmp_name_mine")
    assert (folder / ".out.npz.tmp").read_bytes() == b"mine"
    assert (folder / "out.npz").stat().st_size > 0
    assert sorted(os.listdir(folder)) == [".out.npz.tmp", "out.npz", "victims"]  # no temporary left


def test_a_planted_symlink_at_the_old_temporary_name_is_not_followed(outcomes):
    folder, _, _ = _outcome(outcomes, "old_tmp_name_symlink")
    assert (folder / ".out.npz.tmp").is_symlink() and (folder / "out.npz").is_file()


def test_what_was_at_the_output_name_is_left_as_it_was(outcomes):
    assert (_outcome(outcomes, "force_onto_symlink")[0] / "out.npz").is_symlink()
    folder = _outcome(outcomes, "dangling_symlink")[0]
    assert (folder / "out.npz").is_symlink() and not (folder / "elsewhere.npz").exists()
    assert stat.S_ISFIFO(os.lstat(_outcome(outcomes, "force_onto_fifo")[0] / "out.npz").st_mode)
    if outcomes["force_onto_device"][2] is not None:
        assert stat.S_ISCHR(os.lstat(outcomes["force_onto_device"][0] / "null").st_mode)


def test_an_unused_3gib_member_is_never_read(outcomes):
    assert "steps" in hc.shown(_outcome(outcomes, "trace_unused_3gib_member-info")[2])


def test_a_248_character_output_name_is_written_and_nothing_else(outcomes):
    folder, _, _ = _outcome(outcomes, "long_name")
    assert sorted(os.listdir(folder)) == sorted(["victims", "t" * 248 + ".npz"])


def test_trust_never_imports_from_the_current_folder(outcomes):
    """./torch.py, ./onnx.py, ./numpy.py would each write PWNED and exit 7 if imported."""
    for case in ("trust_pt", "trust_onnx"):
        folder, _, ran = _outcome(outcomes, case)
        assert ran.returncode == 0 and not (folder / "PWNED").exists(), str(ran)


def test_markup_in_the_checkpoint_shows_as_text(outcomes):
    ran = _outcome(outcomes, "hostile_checkpoint_info")[2]
    out = hc.shown(ran)
    assert "see-docs[/]" in out and "\\x1b]0;PWNED-title" in out
    model = next(line for line in out.splitlines() if line.startswith("model"))
    assert "[@click=app.screenshot(" in model and "\\u202eevil" in model


def test_a_trace_recorded_from_hostile_strings_shows_them_inert(outcomes):
    folder, victims, _ = _outcome(outcomes, "hostile_checkpoint_record")
    out = hc.shown(hc.run(["info", folder / "out.npz"], folder), victims=victims)
    assert "\\x1b" in out and "[@click=app.screenshot(" in out


def test_two_records_to_one_new_file_exactly_one_wins(tmp_path):
    out = tmp_path / "out.npz"
    results = []
    ts = [threading.Thread(target=lambda: results.append(hc.run(_record(tmp_path, out), tmp_path)))
          for _ in range(4)]  # fmt: skip
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert sum(r.returncode == 0 for r in results) == 1, "\n".join(map(str, results))
    for r in results:
        if r.returncode != 0:
            hc.refused(r, says="already exists")
    assert sorted(os.listdir(tmp_path)) == ["out.npz"]
