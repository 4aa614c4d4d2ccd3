"""The real `lstm-tui` command on hostile files: the cases that hold today, kept holding.

Each case runs `lstm-tui info|record|MODEL` in a subprocess with a timeout
and a 4 GiB address-space limit, from its own folder holding victim files,
and asserts the refusal (exit 2, one `lstm-tui: error:` line, no traceback,
nothing on stdout) with no ESC, C1 or bidi control in any output, no
payload marker and every victim unchanged. The cases run concurrently (one
module fixture starts them all), so the suite costs the slowest case, not
the sum. The cases that need wiring in the CLI and the loaders are in
wip_hostile_cli.py until that lands.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import hostile_cli as hc
import hostile_files as hf

ROOT = Path(__file__).resolve().parents[2]
TAGGER = ROOT / "sample_models" / "tagger.pt"

NOT_FILES = {
    "fifo": (hf.fifo, "is a FIFO (named pipe), not a model file"),
    "dev_zero": (hf.dev_zero, "is a character device, not a model file"),
    "symlink_loop": (hf.symlink_loop, "is a loop of symbolic links, not a model file"),
}


def _not_a_file(case: str, cmd: str):
    def setup(folder: Path):
        build, says = NOT_FILES[case]
        path = build(folder)
        args = {"info": ["info", path], "ui": [path],
                "record": ["record", path, "-o", folder / "out.npz"]}[cmd]  # fmt: skip
        return args, says

    return setup


def _layers0(cmd: str):
    def setup(folder: Path):
        path = hf.degenerate_state_dict(folder, "layers0")
        extra = ["--text", "1 2", "-o", folder / "out.npz"] if cmd == "record" else []
        return [cmd, path, *extra], "no LSTM in this state_dict"

    return setup


def _payload(cmd: str):
    def setup(folder: Path):
        path = hf.pickled_module_checkpoint(folder, folder / "PWNED")
        extra = ["-o", folder / "out.npz"] if cmd == "record" else []
        return [cmd, path, *extra], "--trust"

    return setup


def _unknown_words(text):
    def setup(folder: Path):
        return ["record", TAGGER, "--text", text, "-o", folder / "out.npz"], "not in the vocabulary"

    return setup


def _existing_output(folder: Path):
    (folder / "out.npz").write_bytes(b"old trace")
    return (["record", TAGGER, "--text", "the dog", "-o", folder / "out.npz"],
            "already exists; not overwriting it (pass --force")  # fmt: skip


def _symlink_output(folder: Path):
    (folder / "out.npz").symlink_to(folder / "victims" / "victim.txt")
    return ["record", TAGGER, "--text", "the dog", "-o", folder / "out.npz"], "already exists"


def _hostile_lstm_name(folder: Path):
    path = hf.hostile_strings_checkpoint(folder, folder / "victims")
    return ["info", path, "--lstm", "nope"], "no LSTM named 'nope'"


CASES = {
    **{f"{case}-{cmd}": _not_a_file(case, cmd)
       for case in NOT_FILES for cmd in ("info", "record", "ui")},  # fmt: skip
    "state_dict_without_lstm-info": _layers0("info"),
    "state_dict_without_lstm-record": _layers0("record"),
    "pickle_payload-info": _payload("info"),
    "pickle_payload-record": _payload("record"),
    "markup_word": _unknown_words("[/] the dog"),
    "invalid_utf8_and_escape_word": _unknown_words(b"the \xff\x1b[2J dog"),
    "existing_output": _existing_output,
    "symlink_output_to_victim": _symlink_output,
    "hostile_module_name_in_error": _hostile_lstm_name,
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case set up in its own folder, then all run at once.

    {case: (folder, victims, the words the error must contain, Ran)}
    """
    prepared = {}
    for case, setup in CASES.items():
        folder = tmp_path_factory.mktemp(case.replace("-", "_"))
        victims = hc.victims(folder / "victims")
        args, says = setup(folder)
        prepared[case] = (folder, victims, says, args)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {case: pool.submit(hc.run, args, folder, timeout=60)
                   for case, (folder, _, _, args) in prepared.items()}  # fmt: skip
        return {case: (*prepared[case][:3], futures[case].result()) for case in prepared}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_in_one_inert_line(outcomes, case):
    folder, victims, says, ran = outcomes[case]
    hc.refused(ran, says=says, markers=[folder / "PWNED"], victims=victims)
    if case not in ("existing_output", "symlink_output_to_victim"):
        assert not (folder / "out.npz").exists()


def test_the_existing_output_and_the_symlinked_one_are_untouched(outcomes):
    assert (outcomes["existing_output"][0] / "out.npz").read_bytes() == b"old trace"
    assert (outcomes["symlink_output_to_victim"][0] / "out.npz").is_symlink()


def test_unknown_words_are_quoted_with_their_escapes_visible(outcomes):
    assert hc.refused(outcomes["markup_word"][3]).endswith("'[/]'")
    assert hc.refused(outcomes["invalid_utf8_and_escape_word"][3]).endswith("'\\udcff\\x1b[2J'")
    assert "'lstm\\x1b]0;PWNED-title" in hc.refused(outcomes["hostile_module_name_in_error"][3])
