"""The live flow over the comm, in a real ipykernel: flow -> flow_model, tagged cells run as
steps, step_status / run_state, stale steps, export requests; tags-as-steps headless too."""

from __future__ import annotations

import json
import os
import time

import headless
import nbformat
import pytest
from sync_helpers import Frontend, cell

from jupyter_metaflow import protocol

FOREACH_CELLS = [
    cell(0, "%load_ext jupyter_metaflow"),
    cell(1, "self.items = [1, 2, 3]\nself.next(self.square, foreach='items')", ("step:start",)),
    cell(2, "self.sq = self.input ** 2\nprint('square of', self.input)", ("step:square",)),
    cell(3, "self.total = sum(i.sq for i in inputs)", ("step:gather",)),
    cell(4, "print('total', self.total)", ("step:end",)),
]


@pytest.mark.unit
def test_protocol_messages_of_this_feature_are_in_the_schema():
    assert {
        "flow",
        "flow_model",
        "step_status",
        "run_state",
        "export",
        "export_result",
    } <= protocol.MESSAGE_TYPES
    with pytest.raises(protocol.ProtocolError, match="malformed 'step_status' payload"):
        protocol.envelope("step_status", {"run_id": "1", "step": "a", "state": "exploded"})
    with pytest.raises(protocol.ProtocolError, match="malformed 'flow' payload"):
        protocol.envelope("flow", {"path": "x.ipynb", "cells": [{"index": 0}]})


def test_flow_is_answered_with_the_model_cell_errors_and_metaflow_lint(kernel):
    fe = Frontend(kernel)
    assert fe.messages("run_state") == [{"flow": None, "run_id": None, "steps": {}}]

    fe.send(
        "flow",
        {
            "path": "work/My Flow.ipynb",
            "request_id": "r1",
            "cells": [
                cell(0, "# Title", cell_type="markdown"),
                cell(1, "self.next(self.nowhere)", ("step:start",)),
                cell(2, "%%step end\npass"),
            ],
        },
    )
    answer = fe.wait("flow_model", lambda p: p.get("request_id") == "r1")
    model = answer["model"]
    assert answer["path"] == "work/My Flow.ipynb" and answer["lint_errors"] == []
    assert model["name"] == "MyFlow" and model["doc"] == "# Title"
    assert [s["name"] for s in model["steps"]] == ["start", "end"]
    (error,) = model["errors"]
    assert error["cell_id"] == "c1" and error["line"] == 1 and "nowhere" in error["message"]

    # cells.py accepts this graph; Metaflow's own lint rejects it (the foreach is never joined)
    fe.send(
        "flow",
        {
            "path": "nb.ipynb",
            "request_id": "r2",
            "cells": [
                cell(0, "%%step start\nself.items = [1]\nself.next(self.body, foreach='items')"),
                cell(1, "%%step body\nself.y = self.input"),
                cell(2, "%%step end"),
            ],
        },
    )
    answer = fe.wait("flow_model", lambda p: p.get("request_id") == "r2")
    assert answer["model"]["errors"] == []
    (lint,) = answer["lint_errors"]
    assert lint["code"] == "lint" and lint["cell_id"] == "c2" and "joined" in lint["message"]

    # a body edit keeps the verdict; joining the foreach clears it
    fe.send(
        "flow",
        {
            "path": "nb.ipynb",
            "request_id": "r3",
            "cells": [
                cell(0, "%%step start\nself.items = [2]\nself.next(self.body, foreach='items')"),
                cell(1, "%%step body\nself.y = self.input"),
                cell(2, "%%step end"),
            ],
        },
    )
    assert fe.wait("flow_model", lambda p: p.get("request_id") == "r3")["lint_errors"] == [lint]
    fe.send(
        "flow",
        {
            "path": "nb.ipynb",
            "request_id": "r4",
            "cells": [
                cell(0, "%%step start\nself.items = [1]\nself.next(self.body, foreach='items')"),
                cell(1, "%%step body\nself.y = self.input"),
                cell(2, "%%step join\nself.ys = [i.y for i in inputs]"),
                cell(3, "%%step end"),
            ],
        },
    )
    assert fe.wait("flow_model", lambda p: p.get("request_id") == "r4")["lint_errors"] == []


def test_a_tagged_flow_cell_defines_the_flow_and_its_parameters(kernel):
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "greeting = Parameter('greeting', default='hi')", ("flow:HelloFlow",)),
        cell(2, "self.message = self.greeting.upper()", ("step:start",)),
        cell(3, "print(self.message)", ("step:end",)),
    ]
    fe.send("flow", {"path": "hello.ipynb", "cells": cells})
    fe.wait("flow_model")
    replies = [fe.run_cell(c["source"], c["id"]) for c in cells[1:]]
    assert [r["content"]["status"] for r in replies] == ["ok", "ok", "ok"]
    assert "Flow HelloFlow with parameters greeting='hi'" in fe.output_text(replies[0]["msg_id"])
    assert fe.output_text(replies[2]["msg_id"]).strip() == "HI"
    assert {s["flow"] for s in fe.statuses()} == {"HelloFlow"}


def test_tagged_cells_run_as_steps_and_report_status(kernel):
    fe = Frontend(kernel)
    fe.send("flow", {"path": "squares.ipynb", "cells": FOREACH_CELLS})
    fe.wait("flow_model")
    replies = {}
    for c in FOREACH_CELLS[1:]:
        reply = fe.run_cell(c["source"], c["id"])
        assert reply["content"]["status"] == "ok", fe.output_text(reply["msg_id"])
        replies[c["tags"][0][5:]] = reply["msg_id"]

    assert "square of 3" in fe.output_text(replies["square"])
    assert "total 14" in fe.output_text(replies["end"])

    square = fe.statuses("square", parent=replies["square"])
    states = [(s["state"], s.get("split_index")) for s in square]
    assert states == [
        ("queued", 0),
        ("queued", 1),
        ("queued", 2),
        ("running", 0),
        ("done", 0),
        ("running", 1),
        ("done", 1),
        ("running", 2),
        ("done", 2),
    ]
    done = [s for s in square if s["state"] == "done"]
    assert all(
        s["num_splits"] == 3 and s["duration_ms"] > 0 and s["artifact_count"] >= 1 for s in done
    )
    assert all(s["source"] == FOREACH_CELLS[2]["source"] and s["cell_id"] == "c2" for s in square)
    run_id = square[0]["run_id"]
    assert {s["run_id"] for s in fe.statuses()} == {run_id}
    assert {s["flow"] for s in fe.statuses()} == {"SquaresFlow"}

    # a second frontend gets the snapshot: every step done in this run
    snapshot = Frontend(kernel).snapshot
    assert snapshot["flow"] == "SquaresFlow" and snapshot["run_id"] == run_id
    assert {k: v["state"] for k, v in snapshot["steps"].items()} == dict.fromkeys(
        ["start", "square", "gather", "end"], "done"
    )
    whole = snapshot["steps"]["square"]  # the foreach step as a whole, not its last split
    assert (
        "split_index" not in whole
        and whole["done_splits"] == [0, 1, 2]
        and whole["num_splits"] == 3
    )
    # its time is the time waited: from the execution's start to its last split's end
    assert whole["duration_ms"] == done[-1]["elapsed_ms"]
    assert whole["duration_ms"] >= round(sum(s["duration_ms"] for s in done), 1)  # in the kernel
    assert "elapsed_ms" not in whole

    # the run is a real, successful Metaflow run
    reply = fe.run_cell(
        "from metaflow import Flow, namespace\nnamespace(None)\n"
        f"r = Flow('SquaresFlow')[{run_id!r}]\nprint(r.successful, r['gather'].task.data.total)"
    )
    assert "True 14" in fe.output_text(reply["msg_id"])


def test_edits_and_reruns_mark_steps_and_descendants_stale(kernel):
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "%%step start\nself.x = 1"),
        cell(2, "%%step middle\nself.y = self.x + 1"),
        cell(3, "%%step end\nprint(self.y)"),
    ]
    fe.send("flow", {"path": "chain.ipynb", "cells": cells})
    fe.wait("flow_model")
    for c in cells[1:]:
        assert fe.run_cell(c["source"], c["id"])["content"]["status"] == "ok"
    seen = len(fe.statuses())

    edited = [*cells[:2], cell(2, "%%step middle\nself.y = self.x + 2"), cells[3]]
    fe.send("flow", {"path": "chain.ipynb", "cells": edited})
    fe.barrier()
    changed = fe.statuses()[seen:]
    assert [(s["step"], s["state"]) for s in changed] == [("middle", "stale"), ("end", "stale")]
    assert changed[1]["source"] == cells[3]["source"]  # still the source its run used
    seen = len(fe.statuses())

    # undoing the edit makes them done again
    fe.send("flow", {"path": "chain.ipynb", "cells": cells})
    fe.barrier()
    assert [(s["step"], s["state"]) for s in fe.statuses()[seen:]] == [
        ("middle", "done"),
        ("end", "done"),
    ]
    seen = len(fe.statuses())

    # renaming middle: what follows it (end) is stale; the renamed step never ran
    renamed = [*cells[:2], cell(2, "%%step center\nself.y = self.x + 1"), cells[3]]
    fe.send("flow", {"path": "chain.ipynb", "cells": renamed})
    fe.barrier()
    assert {s["step"]: s["state"] for s in fe.statuses()[seen:]} == {
        "middle": "stale",
        "end": "stale",
    }
    fe.send("flow", {"path": "chain.ipynb", "cells": cells})
    fe.barrier()
    seen = len(fe.statuses())

    # running start again (a new run) leaves middle and end behind: stale until they run
    reply = fe.run_cell(cells[1]["source"], "c1")
    assert reply["content"]["status"] == "ok"
    after = {s["step"]: s["state"] for s in fe.statuses()[seen:]}
    assert after == {"start": "done", "middle": "stale", "end": "stale"}


def test_editing_the_flow_cell_marks_every_step_that_ran_stale(kernel):
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "%%flow ParamFlow --n 2\nn = Parameter('n', default=1)"),
        cell(2, "%%step start\nself.x = self.n"),
        cell(3, "%%step end\nprint(self.x)"),
    ]
    fe.send("flow", {"path": "param.ipynb", "cells": cells})
    fe.wait("flow_model")
    for c in cells[1:]:
        assert fe.run_cell(c["source"], c["id"])["content"]["status"] == "ok"
    seen = len(fe.statuses())

    # new parameter values (even a bad one): what ran used the old flow cell
    edited = [
        cells[0],
        cell(1, "%%flow ParamFlow --n many\nn = Parameter('n', default=1)"),
        *cells[2:],
    ]
    fe.send("flow", {"path": "param.ipynb", "cells": edited})
    fe.barrier()
    assert [(s["step"], s["state"]) for s in fe.statuses()[seen:]] == [
        ("start", "stale"),
        ("end", "stale"),
    ]
    seen = len(fe.statuses())

    fe.send("flow", {"path": "param.ipynb", "cells": cells})
    fe.barrier()
    assert [(s["step"], s["state"]) for s in fe.statuses()[seen:]] == [
        ("start", "done"),
        ("end", "done"),
    ]


def test_a_recursive_switch_and_foreach_splits_leave_no_step_stale(kernel):
    # One execution of a recursive step runs several tasks in the same run (as a foreach
    # body does): that is not a re-execution, so neither it nor what follows is stale.
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "%%step start\nself.n = 0\nself.next(self.grow)"),
        cell(
            2,
            "%%step grow\nself.n += 1\nself.status = 'again' if self.n < 3 else 'done'\n"
            "self.next({'again': self.grow, 'done': self.fan}, condition='status')",
        ),
        cell(3, "%%step fan\nself.items = [1, 2]\nself.next(self.body, foreach='items')"),
        cell(4, "%%step body\nself.sq = self.input ** 2"),
        cell(5, "%%step join\nself.total = sum(i.sq for i in inputs)"),
        cell(6, "%%step end\nprint(self.total)"),
    ]
    fe.send("flow", {"path": "loop.ipynb", "cells": cells})
    fe.wait("flow_model")
    for c in cells[1:]:
        assert fe.run_cell(c["source"], c["id"])["content"]["status"] == "ok"
    last = {s["step"]: s["state"] for s in fe.statuses()}
    assert last == dict.fromkeys(["start", "grow", "fan", "body", "join", "end"], "done")
    assert {s["step"] for s in fe.statuses() if s["state"] == "stale"} == set()

    # re-executing grow starts a new run: what follows it is stale again until it runs
    seen = len(fe.statuses())
    assert fe.run_cell(cells[2]["source"], "c2")["content"]["status"] == "ok"
    after = {s["step"]: s["state"] for s in fe.statuses()[seen:]}
    assert after == {
        "grow": "done",
        "fan": "stale",
        "body": "stale",
        "join": "stale",
        "end": "stale",
    }


def test_a_failing_tagged_step_reports_failed_with_the_error(kernel):
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "self.x = 1", ("step:start",)),
        cell(2, "raise ValueError('<b>no</b> good')", ("step:end",)),
    ]
    fe.send("flow", {"path": "bad.ipynb", "cells": cells})
    fe.wait("flow_model")
    assert fe.run_cell(cells[1]["source"], "c1")["content"]["status"] == "ok"
    reply = fe.run_cell(cells[2]["source"], "c2")
    assert reply["content"]["status"] == "error"
    assert "ValueError" in fe.output_text(reply["msg_id"])
    (failed,) = [s for s in fe.statuses("end") if s["state"] == "failed"]
    assert failed["error"] == "ValueError: <b>no</b> good" and failed["cell_id"] == "c2"
    # an exception without a message (as KeyboardInterrupt from an interrupt) is named alone
    fe.send(
        "flow",
        {"path": "bad.ipynb", "cells": [*cells[:2], cell(2, "raise KeyError()", ("step:end",))]},
    )
    fe.barrier()
    reply = fe.run_cell("raise KeyError()", "c2")
    assert [s["error"] for s in fe.statuses("end", reply["msg_id"]) if s["state"] == "failed"] == [
        "KeyError"
    ]


def test_a_failed_split_keeps_its_step_failed_with_its_error(kernel):
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "self.items = [0, 1, 2]\nself.next(self.work, foreach='items')", ("step:start",)),
        cell(2, "assert self.input != 0, 'split zero breaks'", ("step:work",)),
        cell(3, "pass", ("step:join",)),
        cell(4, "pass", ("step:end",)),
    ]
    fe.send("flow", {"path": "splits.ipynb", "cells": cells})
    fe.wait("flow_model")
    assert fe.run_cell(cells[1]["source"], "c1")["content"]["status"] == "ok"
    reply = fe.run_cell(cells[2]["source"], "c2")
    assert reply["content"]["status"] == "error"
    work = fe.statuses("work", reply["msg_id"])
    assert (
        work[-1]["state"] == "failed" and "split zero breaks" in work[-1]["error"]
    )  # was: skipped
    whole = Frontend(kernel).snapshot["steps"]["work"]
    assert (
        whole["state"] == "failed"
        and "split zero breaks" in whole["error"]
        and whole["done_splits"] == []
    )


def test_a_split_ending_after_the_failed_one_leaves_its_step_failed(kernel):
    """A fresh kernel's first foreach: the kernel times split 1 while a worker starts and runs
    split 2 beside it; split 1 fails, split 2 ends after it. A frontend connecting then (a
    reloaded page) sees the step failed with split 1's error, not running."""
    fe = Frontend(kernel)
    wait = (
        "import os, time\n"
        "if self.input == 1:\n"
        "    deadline = time.time() + 120\n"
        "    while not os.path.exists('second-began') and time.time() < deadline:\n"
        "        time.sleep(0.02)\n"
        "    raise ValueError('split one breaks')\n"
        "open('second-began', 'w').close()\n"
        "time.sleep(0.5)\n"
        "self.v = self.input"
    )
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "self.items = [1, 2, 3]\nself.next(self.work, foreach='items')", ("step:start",)),
        cell(2, wait, ("step:work",)),
        cell(3, "pass", ("step:join",)),
        cell(4, "pass", ("step:end",)),
    ]
    fe.send("flow", {"path": "splits.ipynb", "cells": cells})
    fe.wait("flow_model")
    assert fe.run_cell(cells[1]["source"], "c1")["content"]["status"] == "ok"
    reply = fe.run_cell(cells[2]["source"], "c2")
    assert reply["content"]["status"] == "error"
    done = [s["split_index"] for s in fe.statuses("work", reply["msg_id"]) if s["state"] == "done"]
    assert done == [1]  # split 2 ran beside the failing split 1, in a worker
    whole = Frontend(kernel).snapshot["steps"]["work"]
    assert (whole["state"], whole["done_splits"]) == ("failed", [1])
    assert "split one breaks" in whole["error"]


HEAD_START_WAIT = (
    "import os, time\n"
    "if self.index == 0:  # long enough for a worker to start and take split 2\n"
    "    deadline = time.time() + 6\n"
    "    while not os.path.exists('second-began') and time.time() < deadline:\n"
    "        time.sleep(0.02)\n"
    "else:\n"
    "    open('second-began', 'w').close()\n"
)
"""A fresh kernel's first foreach: the kernel's split 1 lasts until a worker began split 2
(at most 6 s, when no worker takes it)."""


def test_a_helper_edited_since_it_ran_is_the_same_helper_in_every_split(kernel):
    """A module cell edited but not run again: the kernel holds the helper as it ran, a worker
    would build the new text. One step must not mix the two (a fresh kernel's first split runs
    in the kernel while a worker starts and would take the next): the splits stay in the
    kernel, with a note saying which cell to run."""
    fe = Frontend(kernel)
    helper = "def f(x):\n    return x * 10"
    work = HEAD_START_WAIT + "self.v = f(self.input)"
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, helper),
        cell(2, "self.items = [1, 2, 3]\nself.next(self.work, foreach='items')", ("step:start",)),
        cell(3, work, ("step:work",)),
        cell(4, "self.values = [i.v for i in inputs]", ("step:join",)),
        cell(5, "print(self.values)", ("step:end",)),
    ]
    fe.send("flow", {"path": "helper.ipynb", "cells": cells})
    fe.wait("flow_model")
    for c in cells[1:3]:
        assert fe.run_cell(c["source"], c["id"])["content"]["status"] == "ok"
    edited = [cells[0], cell(1, helper.replace("* 10", "* 1000")), *cells[2:]]
    fe.send("flow", {"path": "helper.ipynb", "cells": edited})
    fe.barrier()
    for c in cells[3:5]:
        assert fe.run_cell(c["source"], c["id"])["content"]["status"] == "ok"
    reply = fe.run_cell(cells[5]["source"], "c5")
    assert fe.output_text(reply["msg_id"]) == "[10, 20, 30]\n"  # what the kernel ran, each


def test_a_helper_a_scratch_cell_set_again_is_the_kernels_in_every_split(kernel):
    """A scratch cell gives a module cell's helper another value (trying a variant): the
    kernel's first split uses it, a worker (module cells only) would not. One step, one
    helper: the kernel's."""
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "def f(x):\n    return x * 10"),
        cell(2, "f = lambda x: x * 5  # a variant"),
        cell(3, "self.items = [1, 2, 3]\nself.next(self.work, foreach='items')", ("step:start",)),
        cell(4, HEAD_START_WAIT + "self.v = f(self.input)", ("step:work",)),
        cell(5, "self.values = [i.v for i in inputs]", ("step:join",)),
        cell(6, "print(self.values)", ("step:end",)),
    ]
    fe.send("flow", {"path": "variant.ipynb", "cells": cells})
    fe.wait("flow_model")
    for c in cells[1:6]:
        assert fe.run_cell(c["source"], c["id"])["content"]["status"] == "ok"
    reply = fe.run_cell(cells[6]["source"], "c6")
    assert fe.output_text(reply["msg_id"]) == "[5, 10, 15]\n"


def test_a_name_a_scratch_cell_imports_from_elsewhere_is_the_kernels_in_every_split(kernel):
    """A scratch cell importing another object under a module cell's name (trying another
    model class); importing the same thing again, as notebooks often do, changes nothing."""
    fe = Frontend(kernel)
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "from operator import neg as f\nimport math"),
        cell(2, "from operator import pos as f  # a variant\nimport math\nprint(f(-1))"),
        cell(3, "self.items = [1, 2, 3]\nself.next(self.work, foreach='items')", ("step:start",)),
        cell(4, HEAD_START_WAIT + "self.v = f(self.input) + 0 * math.pi", ("step:work",)),
        cell(5, "self.values = [i.v for i in inputs]", ("step:join",)),
        cell(6, "print(self.values)", ("step:end",)),
    ]
    fe.send("flow", {"path": "imports.ipynb", "cells": cells})
    fe.wait("flow_model")
    for c in cells[1:6]:
        assert fe.run_cell(c["source"], c["id"])["content"]["status"] == "ok"
    reply = fe.run_cell(cells[6]["source"], "c6")
    assert fe.output_text(reply["msg_id"]) == "[1.0, 2.0, 3.0]\n"


def test_display_in_a_split_run_by_a_worker_shows_as_in_the_kernel(kernel):
    """``display()`` in a foreach body: the split the kernel runs shows the rich output; one a
    worker runs (the head start here) shows the same, in split order, not the object's repr;
    a matplotlib figure's ``plt.show()`` too (a PNG, as the kernel's inline backend shows it)."""
    fe = Frontend(kernel)
    work = (
        HEAD_START_WAIT
        + "from IPython.display import Markdown, display\n"
        + "print('before', self.index)\n"
        + "display(Markdown(f'**split {self.index}**'))\n"
        + "print('after', self.index)\n"
        + "import matplotlib.pyplot as plt\n"
        + "plt.figure(figsize=(1, 1))\n"
        + "plt.plot([0, self.input])\n"
        + "plt.show()"
    )
    cells = [
        cell(0, "%load_ext jupyter_metaflow"),
        cell(1, "self.items = [1, 2]\nself.next(self.work, foreach='items')", ("step:start",)),
        cell(2, work, ("step:work",)),
        cell(3, "pass", ("step:join",)),
        cell(4, "pass", ("step:end",)),
    ]
    fe.send("flow", {"path": "shown.ipynb", "cells": cells})
    fe.wait("flow_model")
    assert fe.run_cell(cells[1]["source"], "c1")["content"]["status"] == "ok"
    reply = fe.run_cell(cells[2]["source"], "c2")
    assert reply["content"]["status"] == "ok"
    shown = [
        (m["msg_type"], m["content"].get("text") or m["content"]["data"].get("text/markdown"))
        for m in fe.kernel.iopub
        if m["parent_header"].get("msg_id") == reply["msg_id"]
        and m["msg_type"] in ("stream", "display_data")
    ]
    printed = "".join(text for kind, text in shown if kind == "stream")
    assert "<IPython.core.display.Markdown object>" not in printed  # the repr a worker printed
    markdown = [text for kind, text in shown if kind == "display_data" and text]
    assert markdown == ["**split 0**", "**split 1**"]
    figures = [
        m
        for m in fe.kernel.iopub
        if m["parent_header"].get("msg_id") == reply["msg_id"]
        and m["msg_type"] == "display_data"
        and "image/png" in m["content"]["data"]
    ]
    assert len(figures) == 2
    text = "".join(t if kind == "stream" else f"[{t}]\n" for kind, t in shown)
    assert "before 1\n[**split 1**]\nafter 1\n" in text  # in order within the split's output


def test_untagged_cells_are_left_alone(kernel):
    fe = Frontend(kernel)
    fe.send("flow", {"path": "nb.ipynb", "cells": [cell(0, "x = 40 + 2", ("module",))]})
    fe.wait("flow_model")
    reply = fe.run_cell("x = 40 + 2\nprint(x)", "c0")
    assert reply["content"]["status"] == "ok" and fe.output_text(reply["msg_id"]) == "42\n"
    assert fe.statuses() == []


def test_export_request_writes_the_flow_file_and_never_overwrites(kernel, tmp_path):
    fe = Frontend(kernel)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(c["source"], metadata={"tags": c["tags"]}) for c in FOREACH_CELLS
    ]
    nbformat.write(nb, tmp_path / "squares.ipynb")

    fe.send("export", {"path": "sub/squares.ipynb", "request_id": "e1"})
    result = fe.wait("export_result", lambda p: p.get("request_id") == "e1")
    assert result == {
        "ok": True,
        "output_path": "sub/squares.py",
        "written": True,
        "exists": False,
        "request_id": "e1",
    }
    text = (tmp_path / "squares.py").read_text()
    assert "class SquaresFlow(FlowSpec):" in text and "def gather(self, inputs):" in text

    # the frontend's unsaved cells win over the file; an existing file needs force
    live = [*FOREACH_CELLS[:4], cell(4, "print('grand total', self.total)", ("step:end",))]
    fe.send("flow", {"path": "sub/squares.ipynb", "cells": live})
    fe.send("export", {"path": "sub/squares.ipynb", "request_id": "e2"})
    result = fe.wait("export_result", lambda p: p.get("request_id") == "e2")
    assert (
        result["ok"] is False and result["exists"] is True and "already exists" in result["error"]
    )
    assert result["output_path"] == "sub/squares.py"
    assert "grand total" not in (tmp_path / "squares.py").read_text()
    fe.send(
        "export",
        {"path": "sub/squares.ipynb", "force": True, "output": "out/flow.py", "request_id": "e3"},
    )
    result = fe.wait("export_result", lambda p: p.get("request_id") == "e3")
    assert result["ok"] is False and "out" in result["error"]  # no such directory: a clear error
    assert result["exists"] is False
    os.mkdir(tmp_path / "out")
    fe.send("export", {"path": "sub/squares.ipynb", "output": "out/flow.py", "request_id": "e4"})
    result = fe.wait("export_result", lambda p: p.get("request_id") == "e4")
    assert result == {
        "ok": True,
        "output_path": "sub/out/flow.py",
        "written": True,
        "exists": False,
        "request_id": "e4",
    }
    assert "grand total" in (tmp_path / "out" / "flow.py").read_text()
    # the same flow again: nothing to write, and the answer says so
    fe.send("export", {"path": "sub/squares.ipynb", "output": "out/flow.py", "request_id": "e4b"})
    result = fe.wait("export_result", lambda p: p.get("request_id") == "e4b")
    assert result == {
        "ok": True,
        "output_path": "sub/out/flow.py",
        "written": False,
        "exists": False,
        "request_id": "e4b",
    }

    # a broken flow is refused with the cell and the fix
    fe.send(
        "flow",
        {"path": "sub/squares.ipynb", "cells": [cell(0, "%%step start\nself.next(self.nope)")]},
    )
    fe.send("export", {"path": "sub/squares.ipynb", "force": True, "request_id": "e5"})
    result = fe.wait("export_result", lambda p: p.get("request_id") == "e5")
    assert result["ok"] is False and "cell 1" in result["error"] and "nope" in result["error"]
    assert result["exists"] is False


def test_tagged_cells_run_headless_from_the_notebook_file(tmp_path):
    """nbclient sends no cellId: the kernel finds the notebook file and its tags itself."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(c["source"], metadata={"tags": c["tags"]}) for c in FOREACH_CELLS
    ]
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "from metaflow import Flow\nr = Flow('SquaresFlow').latest_run\n"
            "print(r.successful, r['gather'].task.data.total, len(list(r['square'])))"
        )
    )
    path = tmp_path / "squares.ipynb"
    nbformat.write(nb, path)
    headless.execute(nb, path)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "square of 2" in text and "total 14" in text
    assert "True 14 3" in text


def test_a_restarted_kernel_reports_the_run_it_will_reattach_to(tmp_path):
    """Kernel 1 runs the flow; kernel 2 (same folder) sends the run's steps in run_state."""
    from conftest import KernelHarness
    from jupyter_client.manager import start_new_kernel

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(c["source"], metadata={"tags": c["tags"]}) for c in FOREACH_CELLS
    ]
    path = tmp_path / "squares.ipynb"
    nbformat.write(nb, path)
    env = headless.kernel_env(JPY_SESSION_NAME=str(path))  # JupyterLab's kernel: the server sets it
    snapshots = []
    for run_steps in (True, False):
        km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
        try:
            fe = Frontend(KernelHarness(km, kc))
            snapshots.append(fe.messages("run_state")[0])
            if run_steps:
                for c in FOREACH_CELLS[1:]:
                    assert fe.run_cell(c["source"])["content"]["status"] == "ok"
                run_id = fe.statuses()[-1]["run_id"]
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    assert snapshots[0] == {"flow": None, "run_id": None, "steps": {}}
    restored = snapshots[1]
    assert restored["flow"] == "SquaresFlow" and restored["run_id"] == run_id
    assert {k: v["state"] for k, v in restored["steps"].items()} == dict.fromkeys(
        ["start", "square", "gather", "end"], "done"
    )
    assert restored["steps"]["square"]["num_splits"] == 3
    assert all(v["duration_ms"] > 0 and "source" not in v for v in restored["steps"].values())

    # the widget of the restarted kernel counts the restored splits as done
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        fe = Frontend(KernelHarness(km, kc))
        reply = fe.run_cell(
            "from jupyter_metaflow.widget import dag_widget\n"
            "w = dag_widget()\nprint(len(w.status['square']['done_splits']), w.run_id)"
        )
        assert fe.output_text(reply["msg_id"]).split() == ["3", run_id]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_step_the_kernel_died_in_is_restored_failed_not_done(tmp_path):
    """Kernel 1 is shut down while a step runs; kernel 2 reports that step failed (the executor
    will not re-attach to its unfinished task either), the finished one done."""
    from conftest import KernelHarness
    from jupyter_client.manager import start_new_kernel

    sources = [
        ("self.x = 1", "step:start"),
        ("import time\ntime.sleep(120)", "step:slow"),
        ("pass", "step:end"),
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, metadata={"tags": [t]}) for s, t in sources]
    path = tmp_path / "killed.ipynb"
    nbformat.write(nb, path)
    env = headless.kernel_env(JPY_SESSION_NAME=str(path))  # JupyterLab's kernel: the server sets it
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        fe = Frontend(KernelHarness(km, kc))
        assert fe.run_cell(sources[0][0])["content"]["status"] == "ok"
        kc.execute(sources[1][0])
        fe.wait("step_status", lambda s: s["step"] == "slow" and s["state"] == "running")
        deadline = time.monotonic() + 60  # 'running' comes before the task is registered
        while not list(tmp_path.glob(".metaflow/*/*/slow/*/_meta")):
            assert time.monotonic() < deadline, "the slow task was never registered"
            time.sleep(0.1)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        restored = Frontend(KernelHarness(km, kc)).messages("run_state")[0]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert {k: v["state"] for k, v in restored["steps"].items()} == {
        "start": "done",
        "slow": "failed",
    }
    assert "did not finish" in restored["steps"]["slow"]["error"]


def test_cells_sent_ahead_of_the_first_step_cell_reach_the_kernel_before_it(kernel):
    """JupyterLab right after a kernel was chosen: no comm yet, no notebook file; the frontend
    sends the cells in a silent execute request just before the step cell's own request."""
    cells = [
        {
            "index": 0,
            "id": "s",
            "cell_type": "code",
            "source": "%%step start\nself.x = 41",
            "tags": [],
        },
        {
            "index": 1,
            "id": "e",
            "cell_type": "code",
            "source": "%%step end\nprint(self.x + 1)",
            "tags": [],
        },
    ]
    message = json.dumps(protocol.envelope("flow", {"path": "Untitled.ipynb", "cells": cells}))
    kernel.kc.execute(
        '__import__("jupyter_metaflow").receive_notebook(__import__("IPython").get_ipython(), '
        f"{json.dumps(message)})",
        silent=True,
        store_history=False,
    )
    reply = kernel.execute(cells[0]["source"], timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    reply = kernel.execute(cells[1]["source"], timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    printed = "".join(m["content"]["text"] for m in kernel.iopub if m["msg_type"] == "stream")
    assert "42" in printed and "cannot see the notebook" not in printed


def test_cells_sent_ahead_are_checked_like_comm_messages(kernel):
    bad = json.dumps({"protocol": "1.0", "type": "export", "payload": {"path": "x"}})
    reply = kernel.execute(
        '__import__("jupyter_metaflow").receive_notebook('
        f'__import__("IPython").get_ipython(), {json.dumps(bad)})'
    )
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "ProtocolError"


def test_without_a_user_name_the_step_fails_in_one_line_and_its_node_is_failed(tmp_path):
    """Root in a container: no $USER. Metaflow refuses an unknown user; the cell says so in
    one line (as `python flow.py run` does), with no frames, and the DAG node turns failed."""
    from conftest import KernelHarness
    from jupyter_client.manager import start_new_kernel

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("USER", "METAFLOW_USER", "USERNAME", "SUDO_USER", "LOGNAME")
    }
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        front = Frontend(KernelHarness(km, kc))
        start = "%%step start\nself.x = 1"
        front.send(
            "flow",
            {
                "path": "nouser.ipynb",
                "cells": [cell(0, start), cell(1, "%%step end\nprint(self.x)")],
            },
        )
        front.barrier()
        reply = front.run_cell(start, cell_id="c0")
        assert reply["content"]["status"] == "error"
        shown = "\n".join(reply["content"]["traceback"])
        assert (
            shown.startswith(
                "Step 'start' could not run: Unknown user: Metaflow could not "
                "determine your user name"
            )
            and "\n" not in shown.strip()
        )
        assert "Traceback" not in shown and ".py" not in shown
        status = front.wait(
            "step_status", lambda p: p["step"] == "start" and p["state"] == "failed"
        )
        assert status["error"].startswith("Unknown user:")
        assert front.run_cell("%env USER=analyst")["content"]["status"] == "ok"
        assert front.run_cell(start, cell_id="c0")["content"]["status"] == "ok"
        front.wait("step_status", lambda p: p["step"] == "start" and p["state"] == "done")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_switch_inside_a_foreach_reports_how_many_splits_chose_each_case(kernel):
    front = Frontend(kernel)
    cells = [
        cell(
            0,
            "%%step start\nself.items = [1, 2, 3, 4, 5]\nself.next(self.classify, foreach='items')",
        ),
        cell(
            1,
            "%%step classify\nself.kind = 'odd' if self.input % 2 else 'even'\n"
            "self.next({'odd': self.odd, 'even': self.even}, condition='kind')",
        ),
        cell(2, "%%step odd\nself.next(self.gather)"),
        cell(3, "%%step even\nself.next(self.gather)"),
        cell(4, "%%step gather\nself.n = len(inputs)\nself.next(self.end)"),
        cell(5, "%%step end"),
    ]
    front.send("flow", {"path": "sw.ipynb", "cells": cells})
    front.barrier()
    for c in cells[:2]:
        assert front.run_cell(c["source"], cell_id=c["id"])["content"]["status"] == "ok"
    done = [s for s in front.statuses("classify") if s["state"] == "done"]
    assert len(done) == 5
    assert done[-1]["switch_counts"] == {"odd": 3, "even": 2}
    assert done[0]["switch_counts"] == {"odd": 1}


def test_the_setting_maximum_workers_reaches_the_step_execution(kernel):
    fe = Frontend(kernel)
    fe.send("flow", {"path": "squares.ipynb", "cells": FOREACH_CELLS, "max_workers": 3})
    fe.wait("flow_model")
    check = (
        "from jupyter_metaflow import parallel, session\n"
        "print(parallel.max_workers_limit(None, session.get_session().max_workers_setting))"
    )
    reply = fe.run_cell(check, "check")
    assert "(3, 'the JupyterLab setting Maximum workers')" in fe.output_text(reply["msg_id"])
    # not set any more (shell messages run in order: the cell sees the new flow message)
    fe.send("flow", {"path": "squares.ipynb", "cells": FOREACH_CELLS, "max_workers": None})
    reply = fe.run_cell(check, "check")
    assert "the JupyterLab setting" not in fe.output_text(reply["msg_id"])
