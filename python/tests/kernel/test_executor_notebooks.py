"""Real notebooks executed headless (nbclient, ipykernel), results read back with the Client.

Every notebook in ``examples/`` runs top to bottom in a fresh kernel whose working directory
is a temporary copy (``JPY_SESSION_NAME`` points at the copy, as jupyter_server sets it).
The restart test runs part of a notebook in one kernel and the rest in a second one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import headless
import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FLOW_NOTEBOOKS = ["linear", "branch_join", "foreach", "parameters", "sklearn_hyperparams"]


def execute_notebook(path: Path) -> nbformat.NotebookNode:
    return headless.execute(nbformat.read(path, as_version=4), path)


def stream_text(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


@pytest.mark.parametrize("name", FLOW_NOTEBOOKS)
@pytest.mark.unit
def test_example_is_committed_without_outputs(name):
    nb = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert any(c.source.strip() == "%load_ext jupyter_metaflow" for c in nb.cells)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name", FLOW_NOTEBOOKS)
def test_example_runs_headless_as_a_real_run(name, workdir):
    from metaflow import Flow

    path = workdir / f"{name}.ipynb"
    shutil.copy(EXAMPLES / path.name, path)
    nb = execute_notebook(path)
    printed = stream_text(nb)
    if name == "linear":
        run = Flow("LinearFlow").latest_run
        assert run["end"].task.data.total == 285
        assert f"10 numbers in LinearFlow/{run.id}/start/" in run["start"].task.stdout
    elif name == "branch_join":
        run = Flow("BranchJoinFlow").latest_run
        assert run["join"].task.data.results == {"METAFLOW IN A NOTEBOOK", "metaflow in a notebook"}
        assert run["end"].task.data.text == "Metaflow in a notebook"
    elif name == "foreach":
        run = Flow("ForeachFlow").latest_run
        assert run["join_letters"].task.data.all_words == {
            "a": ["a", "aa", "aaa"],
            "b": ["b", "bb", "bbb"],
        }
        assert len(list(run["repeat"])) == 6
        assert "repeat · split 3 of 3" in printed
    elif name == "parameters":
        run = Flow("GreetingFlow").latest_run
        end = run["end"].task.data
        assert end.message == "Hi Hi Hi!" and end.repeat == 3 and end.VERSION == "1.0"
    else:
        run = Flow("DigitsFlow").latest_run
        choose = run["choose"].task.data
        assert set(choose.scores) == {0.001, 0.01, 0.1, 1.0}
        assert choose.best_accuracy == max(choose.scores.values()) > 0.9
        assert choose.best_model.max_iter == 500
        assert len(list(run["train"])) == 4
    assert run.successful
    assert "jupyter-metaflow:notebook" in run.system_tags and "user:tester" in run.system_tags


def test_restart_reattaches_to_the_latest_notebook_run(workdir):
    """Kernel 1 runs start and square; after a restart, kernel 2 runs only end."""
    from metaflow import Flow

    path = workdir / "linear.ipynb"
    shutil.copy(EXAMPLES / path.name, path)
    sources = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    load, start, square, end = sources[:4]

    def run_in_fresh_kernel(*cells: str) -> None:
        km, kc = start_new_kernel(
            kernel_name="python3", cwd=str(workdir), env=headless.kernel_env()
        )
        try:
            for source in cells:
                reply = kc.execute_interactive(source, timeout=120)
                assert reply["content"]["status"] == "ok", (source, reply["content"])
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    run_in_fresh_kernel(load, start, square)
    first = Flow("LinearFlow").latest_run
    run_in_fresh_kernel(load, end)
    run = Flow("LinearFlow").latest_run
    assert run.id == first.id and run.successful
    assert run["end"].task.data.total == 285
    assert len({t.id for s in run for t in s}) == 3


def test_failing_step_shows_the_cells_traceback_in_a_kernel(workdir):
    """The error output a frontend gets: the cell's line numbers, not the magic's frames."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(s)
        for s in (
            "%load_ext jupyter_metaflow",
            "%%step start\nvalue = 1\nraise RuntimeError('bad value %d' % value)\n"
            "self.next(self.end)",
            "%%step end\npass",
        )
    ]
    path = workdir / "failing.ipynb"
    nbformat.write(nb, path)
    headless.execute(nb, path, timeout=120, allow_errors=True)
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert len(errors) == 1
    text = "\n".join(errors[0].traceback)
    assert "Cell 2 (%%step start), line 3, in start" in text
    assert "RuntimeError: bad value 1" in text
    assert "magics.py" not in text and "task.py" not in text
    assert "needs a run of the flow first" not in text
