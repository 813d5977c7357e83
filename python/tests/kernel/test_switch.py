"""Switch and recursion in the kernel executor, checked against Metaflow's own runtime.

In-process (IPython's test shell) like ``test_executor.py``: every test has its own working
directory and ``.metaflow`` datastore; results are read back through the Client.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from inprocess import ok, set_notebook

from jupyter_metaflow import session as notebook_session
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.export import export_notebook

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def notebook(*sources: str, path: str = "switch_nb.ipynb") -> list[str]:
    return set_notebook(*sources, path=path)


def shape(run) -> dict[str, int]:
    """Tasks per step: what a run looks like, independent of ids."""
    return {step.id: len(list(step)) for step in run}


def test_example_top_to_bottom_has_the_shape_of_flow_py_run(ip, tmp_path, capsys):
    """examples/switch.ipynb cell by cell, then its export run by `python flow.py run`."""
    from metaflow import Flow, Run

    nb_path = tmp_path / "switch.ipynb"
    nb_path.write_text((EXAMPLES / "switch.ipynb").read_text())
    sources = [
        c.source for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "code"
    ]
    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(sources)], str(nb_path)
    )
    for source in sources[1:]:
        ok(ip, source)
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if "not on this run's path" in line]
    assert notes == [
        "Step 'large' is not on this run's path: the switch in 'start' chose 'small' "
        "(mode == 'small'); nothing to run."
    ]
    assert "── grow · iteration 7 ──" in out and "iteration 8" not in out
    in_kernel = Flow("SwitchDemoFlow").latest_run
    assert in_kernel.successful

    flow_py = tmp_path / "switch_flow.py"
    flow_py.write_text(export_notebook(nb_path))
    env = {**os.environ, "METAFLOW_USER": "tester", "USER": "tester"}
    done = subprocess.run(
        [sys.executable, str(flow_py), "--quiet", "run", "--run-id-file", "rid"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runtime = Run(f"SwitchDemoFlow/{(tmp_path / 'rid').read_text().strip()}")

    assert (
        shape(in_kernel)
        == shape(runtime)
        == {
            "start": 1,
            "small": 1,
            "grow": 7,
            "fanout": 1,
            "classify": 5,
            "odd": 3,
            "even": 2,
            "tally": 5,
            "join": 1,
            "end": 1,
        }
    )
    for step in ("grow", "join", "end"):
        a, b = in_kernel[step].task.data, runtime[step].task.data
        assert a.total == b.total == 1920
    assert (
        in_kernel["join"].task.data.pairs
        == runtime["join"].task.data.pairs
        == [(1, "odd", 4), (2, "even", 1), (3, "odd", 10), (4, "even", 2), (5, "odd", 16)]
    )
    # each iteration is fed by the previous one, as the runtime chains them
    for run in (in_kernel, runtime):
        totals = [t.data.total for t in sorted(run["grow"], key=lambda t: int(t.id))]
        assert totals == [30 * 2**k for k in range(7)]


SKIP_CHAIN = (
    "%%step start\nself.mode = 'b'\nself.next({'a': self.a, 'b': self.b}, condition='mode')",
    "%%step a\nself.v = 'A'\nself.next(self.a2)",
    "%%step a2\nself.v += '2'\nself.next(self.merge)",
    "%%step b\nself.v = 'B'\nself.next(self.merge)",
    "%%step merge\nself.next(self.end)",
    "%%step end\nprint('got', self.v)",
)


def test_not_chosen_step_and_its_descendants_note_and_run_nothing(ip, capsys):
    from metaflow import Flow

    cells = notebook(*SKIP_CHAIN)
    ok(ip, cells[0])
    capsys.readouterr()
    for skipped in (cells[1], cells[2]):
        result = ok(ip, skipped)
        assert result.result is None
    notes = capsys.readouterr().out.strip().splitlines()
    assert notes == [
        "Step 'a' is not on this run's path: the switch in 'start' chose 'b' (mode == 'b'); "
        "nothing to run.",
        "Step 'a2' is not on this run's path: the switch in 'start' chose 'b' (mode == 'b'); "
        "nothing to run.",
    ]
    run = Flow("SwitchNbFlow").latest_run
    assert [s.id for s in run] == ["start"]
    for c in cells[3:]:
        ok(ip, c)
    assert "got B" in capsys.readouterr().out
    assert Flow("SwitchNbFlow").latest_run.id == run.id and run.successful


def test_parent_not_run_yet_is_still_an_error(ip):
    cells = notebook(*SKIP_CHAIN[:1], SKIP_CHAIN[1].replace("'b'", "'a'"), *SKIP_CHAIN[2:])
    ok(ip, cells[0].replace("self.mode = 'b'", "self.mode = 'a'"))
    result = ip.run_cell(cells[2])  # a2, whose parent a was chosen but has not run
    assert not result.success
    assert "execute cell 2 (%%step a) first" in str(result.error_in_exec)


def test_switch_inside_a_branch(ip):
    from metaflow import Flow

    cells = notebook(
        "%%step start\nself.next(self.left, self.right)",
        "%%step left\nself.pick = 'up'\nself.next({'up': self.up, 'down': self.down}, "
        "condition='pick')",
        "%%step up\nself.side = 'left-up'\nself.next(self.after)",
        "%%step down\nself.side = 'left-down'\nself.next(self.after)",
        "%%step after\nself.next(self.join)",
        "%%step right\nself.side = 'right'\nself.next(self.join)",
        "%%step join\nself.sides = sorted(i.side for i in inputs)\nself.next(self.end)",
        "%%step end",
    )
    for c in cells:
        ok(ip, c)
    run = Flow("SwitchNbFlow").latest_run
    assert run.successful and "down" not in [s.id for s in run]
    assert run["join"].task.data.sides == ["left-up", "right"]


def test_recursive_switch_inside_foreach_iterates_per_split(ip, capsys):
    from metaflow import Flow

    cells = notebook(
        "%%step start\nself.limits = [1, 3]\nself.next(self.count, foreach='limits')",
        "%%step count\nself.n = getattr(self, 'n', 0) + 1\n"
        "self.more = 'yes' if self.n < self.input else 'no'\n"
        "self.next({'yes': self.count, 'no': self.done}, condition='more')",
        "%%step done\nself.next(self.join)",
        "%%step join\nself.counts = [i.n for i in inputs]\nself.next(self.end)",
        "%%step end",
    )
    for c in cells:
        ok(ip, c)
    out = capsys.readouterr().out
    assert "── count · split 1 of 2 · iteration 1 ──" in out
    assert "── count · split 2 of 2 · iteration 3 ──" in out
    run = Flow("SwitchNbFlow").latest_run
    assert run.successful
    assert run["join"].task.data.counts == [1, 3]
    assert len(list(run["count"])) == 4 and len(list(run["done"])) == 2
    assert sorted(t.index for t in run["done"]) == [0, 1]


def test_show_recursive_step_final_iteration_and_labels(ip):
    from jupyter_metaflow.show.bundle import MIME_TYPE
    from jupyter_metaflow.show.magics import ShowMagics

    cells = notebook(
        "%%step start\nself.n = 0\nself.next(self.grow)",
        "%%step grow\nself.n += 1\nself.more = 'yes' if self.n < 3 else 'no'\n"
        "self.next({'yes': self.grow, 'no': self.end}, condition='more')",
        "%%step end",
        path="grow_nb.ipynb",
    )
    for c in cells[:2]:
        ok(ip, c)

    def show(address: str) -> dict:
        return ShowMagics.bundle(address, None, 100 * 1024)

    last = show("self.n")  # what the step left: its last iteration
    assert last[MIME_TYPE]["kind"] == "artifact" and last[MIME_TYPE]["view"]["text"] == "3"
    every = show("grow.n")
    assert [(s["label"], s["view"]["text"]) for s in every[MIME_TYPE]["splits"]] == [
        ("iteration 1", "1"),
        ("iteration 2", "2"),
        ("iteration 3", "3"),
    ]
    assert "iteration 3 · int: 3" in every["text/plain"]
    table = show("grow")[MIME_TYPE]
    assert [t["label"] for t in table["tasks"]] == ["iteration 1", "iteration 2", "iteration 3"]
    assert table["artifacts_of"] == table["tasks"][-1]["pathspec"]
    assert {a["name"]: a["preview"] for a in table["artifacts"]}["n"] == "3"


def test_show_labels_nested_foreach_positions(ip):
    from jupyter_metaflow.show.bundle import MIME_TYPE
    from jupyter_metaflow.show.magics import ShowMagics

    cells = notebook(
        "%%step start\nself.outer = [1, 2]\nself.next(self.mid, foreach='outer')",
        "%%step mid\nself.inner = [10, 20]\nself.next(self.leaf, foreach='inner')",
        "%%step leaf\nself.v = self.input\nself.next(self.join_in)",
        "%%step join_in\nself.next(self.join_out)",
        "%%step join_out\nself.next(self.end)",
        "%%step end",
        path="nested_nb.ipynb",
    )
    for c in cells[:3]:
        ok(ip, c)
    splits = ShowMagics.bundle("leaf.v", None, 100 * 1024)[MIME_TYPE]["splits"]
    assert [(s["label"], s["view"]["text"]) for s in splits] == [
        ("[0][0]", "10"),
        ("[0][1]", "20"),
        ("[1][0]", "10"),
        ("[1][1]", "20"),
    ]
