"""The bad-input corpus: every kind of input from outside, fed broken, gives a clear error that
says where (cell, line, file, folder) and what to do, with no frames of this package, and leaves
the runs made before it readable.

Classes: magic lines, step and flow cells, notebook files (export), flow files (import), comm
messages (a real kernel), datastore states (missing, unwritable, full, damaged, written by
another kernel). MIME bundles of other versions are in src/__tests__/mime.spec.ts.
"""

from __future__ import annotations

import json
import os
import subprocess

import nbformat
import pytest
from inprocess import ok, set_notebook

from jupyter_metaflow import protocol
from jupyter_metaflow.cli import main
from jupyter_metaflow.errors import DatastoreError

GOOD = (
    "%%flow CorpusFlow\nSIZE = 3",
    "%%step start\nself.x = 1",
    "%%step middle\nself.y = self.x + 1",
    "%%step end\nprint(self.y)",
)


def good_run(ip) -> str:
    """Run the good flow's start and middle; the run id."""
    set_notebook(*GOOD, path="corpus.ipynb")
    for source in GOOD[:3]:
        ok(ip, source)
    from metaflow import Flow

    return Flow("CorpusFlow").latest_run.id


def still_readable(run_id: str) -> None:
    from metaflow import Run

    from jupyter_metaflow import _metaflow

    _metaflow.forget_datastore_root()
    run = Run(f"CorpusFlow/{run_id}")
    assert run["middle"].task.data.y == 2 and run["start"].task.data.x == 1


def shown(ip, source: str, capsys) -> str:
    """Run a cell that must fail; the text the user sees (error message or printed error)."""
    result = ip.run_cell(source)
    captured = capsys.readouterr()
    error = result.error_in_exec or result.error_before_exec
    text = (str(error) if error is not None else "") + captured.err + captured.out
    assert error is not None or "rror" in text, f"{source!r} did not fail: {text}"
    assert "jupyter_metaflow/" not in text and 'File "/' not in text, text
    return text


# ----------------------------------------------------------------------- magic lines and cells

CELLS = [
    # (source put in the notebook as the middle step's cell, expected words in the message)
    ("%%step\nself.y = 1", ["Usage: %%step NAME", "cell 3"]),
    ("%%step middle extra\nself.y = 1", ["Usage: %%step NAME", "cell 3"]),
    ("%%step Middle!\nself.y = 1", ["invalid name", "cell 3"]),
    ("%%step next\nself.y = 1", ["reserved word", "cell 3"]),
    ("%%step middle\nself.y = (", ["Syntax error", "cell 3, line 2"]),
    ("%%step middle\nself.next(self.nowhere)", ["nowhere", "cell 3"]),
    (
        "%%step middle\nif self.x:\n    self.next(self.end)\nself.y = 2",
        ["last statement", "cell 3, line 3"],
    ),
    (
        "%%step middle\nself.next(self.end, foreach=names)",
        ["not a transition Metaflow supports", "cell 3, line 2"],
    ),
    ("%%step middle\n@retry(times=3\nself.y = 1", ["decorator", "cell 3"]),
    ("%%step middle\n!ls\nself.y = 1", ["shell commands cannot run", "cell 3, line 2"]),
    ("%%step middle\nself.y = 1 / 0", ["Step 'middle' in cell 3", "ZeroDivisionError", "line 2"]),
    (
        "%%step middle\nself.y = undefined_thing",
        ["Step 'middle' in cell 3", "NameError", "undefined_thing"],
    ),
    (
        "%%step middle\nimport threading\nself.lock = threading.Lock()",
        ["self.lock cannot be pickled", "cell 3"],
    ),
    ("%%step middle\nreturn\nself.next(self.end)", ["cell 3"]),
    ("%%step start\nself.y = 2", ["start", "cell"]),  # two cells for one step
]

FLOW_CELLS = [
    ("%%flow 3bad", ["not a valid flow class name", "cell 1"]),
    ("%%flow CorpusFlow --unknown 1\nSIZE = 3", ["no such option: --unknown", "cell 1"]),
    ('%%flow CorpusFlow "unclosed\nSIZE = 3', ["Cannot read the %%flow line", "cell 1"]),
    ("%%flow CorpusFlow\nSIZE = 3 +", ["Syntax error", "cell 1"]),
    ("%%flow CorpusFlow\n@project(name=1 / 0)\nSIZE = 3", ["cell 1", "ZeroDivisionError"]),
]


@pytest.mark.parametrize("source, words", CELLS, ids=[f"cell-{i}" for i in range(len(CELLS))])
def test_bad_step_cells(ip, capsys, source, words):
    run_id = good_run(ip)
    capsys.readouterr()
    cells = (GOOD[0], GOOD[1], source, GOOD[3])
    set_notebook(*cells, path="corpus.ipynb")
    text = shown(ip, source, capsys)
    for word in words:
        assert word in text, text
    still_readable(run_id)


@pytest.mark.parametrize(
    "source, words", FLOW_CELLS, ids=[f"flow-{i}" for i in range(len(FLOW_CELLS))]
)
def test_bad_flow_cells(ip, capsys, source, words):
    run_id = good_run(ip)
    capsys.readouterr()
    set_notebook(source, *GOOD[1:], path="corpus.ipynb")
    text = shown(ip, source, capsys) if source.startswith("%%flow") else ""
    if "Syntax" in words[0] or "Cannot" in words[0] or "ZeroDivision" in words[-1]:
        text += shown(ip, GOOD[2], capsys)  # the step that uses the flow cell says it too
    for word in words:
        assert word in text, text
    still_readable(run_id)


MAGIC_LINES = [
    ("%mf_show nothing_here", ["nothing_here"]),
    ("%mf_show CorpusFlow/notarun/start", ["notarun"]),
    ("%mf_split", ["arguments are required: step, index", "Usage: %mf_split"]),
    ("%mf_run --no-such-option", ["--no-such-option"]),
    ("%mf_dag --wat", ["--wat"]),
]


@pytest.mark.parametrize(
    "line, words", MAGIC_LINES, ids=[f"magic-{i}" for i in range(len(MAGIC_LINES))]
)
def test_bad_magic_lines(ip, capsys, line, words):
    run_id = good_run(ip)
    capsys.readouterr()
    text = shown(ip, line, capsys)
    for word in words:
        assert word in text, text
    still_readable(run_id)


# ----------------------------------------------------------------------- files

NOTEBOOK_FILES = [
    ("notjson.ipynb", b"{not json", ["not valid JSON"]),
    ("list.ipynb", b"[1, 2]", ["has no 'nbformat' field"]),
    ("old.ipynb", json.dumps({"nbformat": 1, "cells": 3}).encode(), ["nbformat version 1"]),
    (
        "numbers.ipynb",
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {},
                "cells": [
                    {
                        "cell_type": "code",
                        "source": 7,
                        "metadata": {},
                        "outputs": [],
                        "execution_count": None,
                    }
                ],
            }
        ).encode(),
        ["not a valid notebook"],
    ),
    ("binary.ipynb", b"\xff\xfe\x00garbage", ["Cannot read the notebook"]),
    ("empty.ipynb", b"", ["not valid JSON"]),
    ("nosteps.ipynb", None, ["start"]),
]


@pytest.mark.parametrize("name, data, words", NOTEBOOK_FILES, ids=[n for n, _, _ in NOTEBOOK_FILES])
def test_bad_notebook_files(tmp_path, capsys, name, data, words):
    path = tmp_path / name
    if data is None:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("import os")]
        nbformat.write(nb, str(path))
    else:
        path.write_bytes(data)
    assert main(["export", str(path), "-o", str(tmp_path / "out.py")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert name in err or "cell" in err or "start" in err, err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "out.py").exists()


FLOW_FILES = [
    ("broken.py", "class F(FlowSpec:\n", ["line 1"]),
    ("noflow.py", "x = 1\n", ["FlowSpec"]),
    (
        "two.py",
        "from metaflow import FlowSpec, step\nclass A(FlowSpec):\n    @step\n    def start(self):\n"
        "        self.next(self.end)\n    @step\n    def end(self):\n        pass\nclass B(A):\n"
        "    pass\n",
        ["two"],
    ),
    ("binary.py", "\udcff", ["binary.py"]),
    (
        "badnext.py",
        "from metaflow import FlowSpec, step\nclass A(FlowSpec):\n    @step\n    def start(self):\n"
        "        self.next(self.nowhere)\n    @step\n    def end(self):\n        pass\n",
        ["nowhere"],
    ),
]


@pytest.mark.parametrize("name, text, words", FLOW_FILES, ids=[n for n, _, _ in FLOW_FILES])
def test_bad_flow_files_for_import(tmp_path, capsys, name, text, words):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert main(["import", str(path), "-o", str(tmp_path / "out.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word.lower() in err.lower(), err
    assert not (tmp_path / "out.ipynb").exists()


# ----------------------------------------------------------------------- comm messages

COMM_MESSAGES = [
    ("not an object", "malformed message"),
    ({"protocol": "9.0", "type": "flow", "payload": {}}, "protocol"),
    (
        {"protocol": protocol.PROTOCOL_VERSION, "type": "flow", "payload": {"path": "x.ipynb"}},
        "flow",
    ),
    (
        {
            "protocol": protocol.PROTOCOL_VERSION,
            "type": "flow",
            "payload": {
                "path": "x.ipynb",
                "cells": [
                    {"index": "0", "id": None, "cell_type": "code", "source": "", "tags": []}
                ],
            },
        },
        "flow",
    ),
    ({"protocol": protocol.PROTOCOL_VERSION, "type": "export", "payload": {"path": 3}}, "export"),
    (
        {
            "protocol": protocol.PROTOCOL_VERSION,
            "type": "artifact_page",
            "payload": {
                "request_id": "p",
                "pathspec": "../../etc/passwd",
                "artifact": "x",
                "offset": 0,
                "limit": 5,
            },
        },
        "p",
    ),
    (
        {
            "protocol": protocol.PROTOCOL_VERSION,
            "type": "artifact_page",
            "payload": {
                "request_id": "q",
                "pathspec": "NoFlow/1/start/1",
                "artifact": "df",
                "offset": -5,
                "limit": 10**9,
            },
        },
        "q",
    ),
]


def test_bad_comm_messages_get_an_error_and_the_kernel_keeps_serving(kernel):
    kernel.execute("%load_ext jupyter_metaflow")
    hello = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    comm_id = kernel.open_comm(protocol.COMM_TARGET, hello)
    kernel.wait_for(lambda m: m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id)
    for number, (data, word) in enumerate(COMM_MESSAGES):
        consumed = {id(m) for m in kernel.iopub}
        kernel.comm_send(comm_id, data)
        reply = kernel.wait_for(
            lambda m, consumed=consumed: (
                id(m) not in consumed
                and m["msg_type"] == "comm_msg"
                and m["content"]["comm_id"] == comm_id
                and m["content"]["data"]["type"] in ("error", "artifact_page_result")
            )
        )
        payload = reply["content"]["data"]["payload"]
        message = payload.get("message") or payload.get("error") or ""
        assert message and "Traceback" not in message, (number, payload)
        assert word in json.dumps(payload), (number, payload)
    reply = kernel.execute("print('still serving')")
    assert reply["content"]["status"] == "ok"


# ----------------------------------------------------------------------- datastore states


@pytest.fixture
def small_disk(ip, tmp_path):
    """``.metaflow`` on a 2 MB tmpfs (mounting needs root; the corpus says so when it cannot)."""
    mount = tmp_path / ".metaflow"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_datastore_missing_run(ip, capsys):
    set_notebook(*GOOD, path="corpus.ipynb")
    ok(ip, GOOD[0])
    text = shown(ip, GOOD[2], capsys)
    assert "needs a run of the flow first" in text and "cell 2" in text


def test_datastore_unwritable(ip, capsys, small_disk):
    run_id = good_run(ip)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        text = shown(ip, GOOD[2], capsys)  # re-running middle: a new run
        assert "Read-only file system" in text and "Make the folder writable" in text, text
        assert isinstance(ip.run_cell(GOOD[3]).error_in_exec, DatastoreError)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    still_readable(run_id)


def test_datastore_full_while_a_step_saves(ip, capsys, small_disk):
    run_id = good_run(ip)
    free = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 256 * 1024))
    big = "%%step end\nimport os\nself.blob = os.urandom(1024 * 1024)"
    set_notebook(*GOOD[:3], big, path="corpus.ipynb")
    text = shown(ip, big, capsys)
    assert "No space left on device" in text and "Free some space" in text, text
    (small_disk / "filler").unlink()
    still_readable(run_id)


def test_datastore_full_while_cloning_a_run(ip, capsys, small_disk):
    run_id = good_run(ip)
    free = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 4096))
    text = shown(ip, GOOD[2], capsys)  # re-running middle clones start into a new run
    assert "No space left on device" in text and "Free some space" in text, text
    (small_disk / "filler").unlink()
    still_readable(run_id)


def test_datastore_damaged_run(ip, capsys, tmp_path):
    from jupyter_metaflow import session as notebook_session

    run_id = good_run(ip)
    notebook_session._session = None  # a new kernel re-attaches from the datastore
    set_notebook(*GOOD, path="corpus.ipynb")
    middle = next(
        (tmp_path / ".metaflow" / "CorpusFlow" / run_id / "middle").glob("*/_meta/_self.json")
    )
    saved = middle.read_bytes()
    middle.write_text("{damaged")
    try:
        text = shown(ip, GOOD[3], capsys)
        assert "damaged" in text and "CorpusFlow" in text and ".metaflow" in text, text
    finally:
        middle.write_bytes(saved)
    still_readable(run_id)


def test_datastore_file_where_a_folder_belongs(ip, capsys, tmp_path):
    run_id = good_run(ip)
    (tmp_path / ".metaflow" / "CorpusFlow" / "_meta").rename(tmp_path / "meta-aside")
    (tmp_path / ".metaflow" / "CorpusFlow" / "_meta").write_text("a file")
    try:
        text = shown(ip, GOOD[2], capsys)
        assert "datastore" in text and ".metaflow" in text, text
    finally:
        (tmp_path / ".metaflow" / "CorpusFlow" / "_meta").unlink()
        (tmp_path / "meta-aside").rename(tmp_path / ".metaflow" / "CorpusFlow" / "_meta")
    still_readable(run_id)


def test_datastore_run_of_another_kernel_that_died(ip, capsys, tmp_path):
    """A run whose step another kernel never finished (its task has no attempt_ok): the next
    step after it says the step did not finish, in this kernel."""
    from jupyter_metaflow import session as notebook_session

    run_id = good_run(ip)
    ok_files = list(
        (tmp_path / ".metaflow" / "CorpusFlow" / run_id / "middle").glob("*/_meta/*attempt_ok*")
    )
    aside = [(p, p.read_bytes()) for p in ok_files]
    for p in ok_files:
        p.unlink()
    notebook_session._session = None  # a new kernel re-attaches from the datastore
    set_notebook(*GOOD, path="corpus.ipynb")
    try:
        text = shown(ip, GOOD[3], capsys)
        assert "middle" in text, text
    finally:
        for p, data in aside:
            p.write_bytes(data)
    still_readable(run_id)


def test_an_unreadable_notebook_file_is_named_not_taken_for_absent(
    ip, capsys, tmp_path, monkeypatch
):
    """Headless (no frontend), the kernel reads the notebook file jupyter-server names; a file
    that is not JSON is reported with its reason, not as 'cannot see the notebook'."""
    run_id = good_run(ip)
    from jupyter_metaflow import session as notebook_session

    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    notebook_session._session = None
    monkeypatch.setenv("JPY_SESSION_NAME", str(broken))
    text = shown(ip, GOOD[3], capsys)
    assert (
        "The notebook file cannot be read" in text and "broken.ipynb is not a notebook" in text
    ), text
    assert "cannot see the notebook" not in text
    still_readable(run_id)
