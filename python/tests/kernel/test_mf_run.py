"""``%mf_run``, ``%mf_resume`` and ``%mf_split`` in a real kernel (nbclient, headless), with
Metaflow's runtime underneath; results read back through the Client."""

from __future__ import annotations

from pathlib import Path

import headless
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

CELLS = [
    "%load_ext jupyter_metaflow",
    "%%flow SquaresFlow --n 3\nn = Parameter('n', default=2, type=int)",
    "%%step start\nself.items = list(range(self.n))\nself.next(self.square, foreach='items')",
    "%%step square\nself.value = self.input ** 2\nprint('squared', self.input)",
    "%%step join\nself.total = sum(i.value for i in inputs)",
    "%%step end\nprint('total', self.total)",
]


def execute(path: Path, extra: list[str]) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_code_cell(s) for s in CELLS + extra])
    nbformat.write(nb, path)
    return headless.execute(nb, path, timeout=240, allow_errors=True)


def text_of(cell) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


def test_mf_run_split_resume_and_kubernetes_option(workdir):
    from metaflow import Flow, Run

    path = workdir / "squares.ipynb"
    nb = execute(
        path,
        [
            "run = %mf_run --n 4 --tag nightly --max-workers 2\nrun",
            "from jupyter_metaflow.session import get_session\nprint('current', "
            "get_session().current_run)",
            "%mf_split square --value 3",
            "resumed = %mf_resume join",
            "%mf_run --with kubernetes",
            "%mf_run --n notanumber",
        ],
    )
    cells = [c for c in nb.cells]
    run_cell, current_cell, split_cell, resume_cell, k8s_cell, bad_cell = cells[len(CELLS) :]

    # %mf_run: a real run of the exported flow through Metaflow's runtime
    out = text_of(run_cell)
    assert "Running `python squares.nbflow.py run --tag nightly --max-workers 2 --n 4`" in out
    assert "Task is starting." in out and "Foreach yields 4 child steps." in out
    assert "] total 14" in out
    # Metaflow's banner reads as in a terminal: output, before the run's log, not an error last
    streams = [(o.name, o.text) for o in run_cell.outputs if o.output_type == "stream"]
    log = "".join(text for _, text in streams)
    assert log.index("Metaflow ") < log.index("The graph looks good!") < log.index("Workflow")
    assert not [text for name, text in streams if name == "stderr"], streams
    progress = [o for o in run_cell.outputs if o.output_type == "display_data"]
    assert progress and progress[0].data["text/plain"].endswith(
        "start ✓  square ✓ 4  join ✓  end ✓"
    )
    assert progress[0].data["text/html"].startswith("<div class='jp-mf-RunProgress'>")
    result = next(o for o in run_cell.outputs if o.output_type == "execute_result")
    run_id = result.data["text/plain"].split("/")[1].rstrip("')")
    run = Run(f"SquaresFlow/{run_id}")
    assert run.successful and "nightly" in run.tags and "user:tester" in run.system_tags
    assert run["join"].task.data.total == 14 and len(list(run["square"])) == 4
    assert f"current SquaresFlow/{run_id}" in text_of(current_cell)

    # one split in the kernel, the join previewed; the current run stays
    out = text_of(split_cell)
    assert "── square · split 4 of 4 ──" in out and "squared 3" in out
    assert "Join 'join' would receive 4 inputs, one per split; inputs[3] would carry:" in out
    assert "  value = 9" in out and f"the notebook's current run stays SquaresFlow/{run_id}" in out

    # %mf_resume JOIN from the notebook's current run
    out = text_of(resume_cell)
    assert f"resume join --origin-run-id {run_id}" in out and "Cloning previously run task" in out
    resumed = Flow("SquaresFlow").latest_run
    assert resumed.id != run_id and resumed.successful
    assert resumed["square"].task.metadata_dict.get("origin-run-id") == run_id

    # --with kubernetes reaches Metaflow's own option handling; its error is in the cell
    out = text_of(k8s_cell)
    assert "Running `python squares.nbflow.py run --with kubernetes" in out
    assert "--with kubernetes run" in out  # the command Metaflow was given
    assert "The @kubernetes decorator requires --datastore=s3" in out
    errors = "".join(o.text for o in k8s_cell.outputs if o.get("name") == "stderr")
    assert "The @kubernetes decorator requires --datastore=s3" in errors  # no run: an error
    assert "RuntimeRunFailed: Metaflow's runtime stopped before the run started" in out

    # parameter values go through the flow's own click options
    out = text_of(bad_cell)
    assert "Bad parameter option" in out and "notanumber" in out


@pytest.fixture
def ip(workdir, monkeypatch):
    import IPython
    from IPython.testing.globalipapp import start_ipython

    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    monkeypatch.setenv("METAFLOW_USER", "tester")
    notebook_session._session = None
    start_ipython()
    shell = IPython.get_ipython()
    shell.run_line_magic("load_ext", "jupyter_metaflow")
    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(CELLS)],
        str(workdir / "squares.ipynb"),
    )
    yield shell
    notebook_session._session = None


def test_bad_magic_input_gets_clear_errors(ip):
    def error(line: str) -> str:
        result = ip.run_cell(line)
        assert not result.success, line
        return str(result.error_in_exec)

    assert "no current run of SquaresFlow yet" in error("%mf_resume join")
    assert "the notebook has no step 'nosuch'" in error("%mf_resume nosuch --origin-run-id 1")
    assert "%mf_split STEP INDEX...  or  %mf_split STEP --value V" in error("%mf_split square")
    assert "'end' is not the first step of a foreach body" in error("%mf_split end 0")
    assert "execute the steps up to 'start' first" in error("%mf_split square 0")
    for source in CELLS[1:3]:
        assert ip.run_cell(source).success
    assert "has splits 0 to 2 in the current run; 7 is not one of them" in error(
        "%mf_split square 7"
    )
    assert "no split of 'square' has the value '9'" in error("%mf_split square --value 9")
    message = error("%mf_run --max-workers lots")
    assert "invalid int value: 'lots'" in message and "Usage: %mf_run [--with DECO]" in message


def test_mf_split_counts_splits_as_the_step_cell_labels_them(ip, capsys):
    for source in CELLS[1:3]:
        assert ip.run_cell(source).success
    capsys.readouterr()
    assert ip.run_cell("%mf_split square 2").success
    out = capsys.readouterr().out
    assert "── square · split 3 of 3 ──" in out
    assert "split 3 of 3 of 'square' (index 2, input 2)" in out  # was "split 2 of 3"


NESTED = [
    "%%flow GridFlow",
    "%%step start\nself.rows = ['a', 'b']\nself.next(self.row, foreach='rows')",
    "%%step row\nself.cols = [self.input + str(i) for i in range(3)]\n"
    "self.next(self.cell, foreach='cols')",
    "%%step cell\nself.word = self.input.upper()",
    "%%step join_cols\nself.words = [i.word for i in inputs]",
    "%%step join_rows\nself.all = [w for i in inputs for w in i.words]",
    "%%step end\npass",
]


def test_mf_split_inside_nested_foreach_runs_the_split_named_by_its_indices(ip, capsys, workdir):
    from metaflow import Run
    from metaflow.exception import MetaflowNotFound

    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(NESTED)],
        str(workdir / "grid.ipynb"),
    )
    for source in NESTED[:3]:
        assert ip.run_cell(source).success

    def debug_word(line: str) -> tuple[str, tuple[int, ...]]:
        capsys.readouterr()
        result = ip.run_cell(line)
        assert result.success, result.error_in_exec
        run_id = capsys.readouterr().out.split("Debug run GridFlow/")[1].split(":")[0]
        # a debug run is not registered (the Client cannot see it): read the datastore
        with pytest.raises(MetaflowNotFound):
            Run(f"GridFlow/{run_id}")
        store = notebook_session.get_session().backend.flow_datastore
        (task,) = store.get_task_datastores(run_id=run_id, steps=["cell"])
        return task["word"], tuple(f.index for f in task["_foreach_stack"])

    assert debug_word("%mf_split cell 1 2") == (
        "B2",
        (1, 2),
    )  # ran the first row's split: ('A2', (0, 2))
    assert debug_word("%mf_split cell --value b0") == ("B0", (1, 0))
    capsys.readouterr()
    assert ip.run_cell("%mf_split cell 1 2").success
    assert "split 3 of 3 of 'cell' (split [1][2], index 2, input 'b2')" in capsys.readouterr().out

    def error(line: str) -> str:
        result = ip.run_cell(line)
        assert not result.success, line
        return str(result.error_in_exec)

    assert (
        "Step 'cell' is inside 2 nested foreach steps: give one index per foreach, outermost "
        "first (%mf_split cell 1 2 runs split [1][2])"
    ) in error("%mf_split cell 2")
    assert (
        "Step 'cell' has no split [2][0] in the current run; its splits: [0][0], [0][1]"
        in error("%mf_split cell 2 0")
    )
    assert "no split of 'cell' has the value 'z9'; values: 'a0', 'a1', 'a2', 'b0'" in error(
        "%mf_split cell --value z9"
    )


def test_mf_split_with_a_value_several_splits_share_runs_the_first_and_says_so(ip, capsys, workdir):
    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    cells = [NESTED[0], NESTED[1].replace("['a', 'b']", "['x', 'x']"), *NESTED[2:]]
    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(cells)], str(workdir / "grid.ipynb")
    )
    for source in cells[:3]:
        assert ip.run_cell(source).success
    capsys.readouterr()
    assert ip.run_cell("%mf_split cell --value x1").success
    out = capsys.readouterr().out
    assert (
        "'x1' is the value of splits [0][1], [1][1]; running [0][1] (name another by its indices: "
        "%mf_split cell 1 1)" in out
    )


def test_mf_run_leaves_the_sigint_handler_as_it_was(ip):
    """metaflow.Runner installs its own SIGINT handler; in a plain IPython shell (ipykernel
    re-installs its own around every execution) Ctrl-C would stop raising KeyboardInterrupt."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    result = ip.run_cell("%mf_run")
    assert result.success, result.error_in_exec
    assert signal.getsignal(signal.SIGINT) is before


def test_mf_run_reads_quoted_values_as_a_shell_does(ip, capsys, workdir):
    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(CELLS)],
        str(workdir / "my squares.ipynb"),
    )
    result = ip.run_cell(
        "made = %mf_run --tag 'two words' --n '2'"
    )  # quotes were kept: tag "'two words'"
    assert result.success, result.error_in_exec
    made = ip.user_ns["made"]
    assert "two words" in made.tags and made["start"].task.data.n == 2
    out = capsys.readouterr().out  # a command that can be pasted into a shell
    assert (
        "Running `python 'my squares.nbflow.py' run --tag 'two words' --n 2` with Metaflow's "
        "runtime" in out
    )


def test_interrupting_mf_run_stops_metaflows_processes(kernel, tmp_path):
    import subprocess
    import time

    (tmp_path / ".metaflow").mkdir(exist_ok=True)
    cells = ["%%step start\nimport time\ntime.sleep(60)", "%%step end\npass"]
    setup = (
        "from jupyter_metaflow import session as notebook_session\n"
        "from jupyter_metaflow.cells import CellInput\n"
        f"notebook_session.set_notebook_cells([CellInput(i, f'c{{i}}', 'code', s) for i, s in "
        f"enumerate({cells!r})],"
        f" {str(tmp_path / 'sleepy.ipynb')!r})\n"
    )
    for code in ("%load_ext jupyter_metaflow", setup):
        assert kernel.execute(code)["content"]["status"] == "ok"
    msg_id = kernel.kc.execute("%mf_run")
    deadline = time.monotonic() + 60

    def running() -> bool:  # any process whose command line names the generated flow file
        return (
            subprocess.run(
                ["pgrep", "-f", str(tmp_path / "sleepy.nbflow.py")], capture_output=True
            ).returncode
            == 0
        )

    while not running():
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.2)
    time.sleep(2.0)  # the start task is sleeping now
    kernel.km.interrupt_kernel()
    reply = kernel.kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.kc.get_shell_msg(timeout=60)
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    time.sleep(0.5)
    assert not running()
