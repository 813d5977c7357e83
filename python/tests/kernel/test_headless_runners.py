"""Notebooks run top to bottom by every headless runner, as their users run them: no
JupyterLab, no environment variable, no extra cell.

Runners: ``jupyter nbconvert --to notebook --execute``, ``jupyter execute``, ``papermill``,
nbclient on a notebook file and nbclient on a notebook object never saved; each from the
notebook's folder and from another working directory. Every run must equal the exported
flow's ``python flow.py run`` task by task, with each step's output in its own cell. Then
papermill's ``-p`` parameters, and the errors: an unknown or badly typed parameter, an
invalid flow, two notebooks holding the executed cells.

Each runner gets its own folder tree and datastore (``job/.metaflow``, which Metaflow finds
from the kernel's working directory below it: ``job/notebooks`` or ``job/elsewhere``); the
runners run three at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import headless
import nbformat
import pytest
from run_compare import run_artifacts

from jupyter_metaflow.export import export_notebook

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BIN = Path(sys.executable).parent
NOTEBOOK = "branch_join.ipynb"
FLOW = "BranchJoinFlow"
STEPS = {"start", "upper", "lower", "join", "end"}

NBCLIENT_FILE = textwrap.dedent("""
    import sys, nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(sys.argv[1], as_version=4)
    NotebookClient(nb, kernel_name="python3", allow_errors=True).execute()
    nbformat.write(nb, sys.argv[2])
""")
NBCLIENT_MEMORY = textwrap.dedent("""
    import json, sys, nbformat
    from nbclient import NotebookClient
    cells = json.load(open(sys.argv[1]))  # cell texts only: the notebook exists only here
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(c["source"]) if c["cell_type"] == "markdown"
        else nbformat.v4.new_code_cell(c["source"]) for c in cells])
    NotebookClient(nb, kernel_name="python3", allow_errors=True).execute()
    nbformat.write(nb, sys.argv[2])
""")


def runner_command(runner: str, notebook: Path, out: Path) -> list[str]:
    if runner == "nbconvert":
        return [
            str(BIN / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--allow-errors",
            str(notebook),
            "--output",
            str(out),
        ]
    if runner == "execute":  # `jupyter execute` writes no copy: --inplace into a copy of its own
        return [str(BIN / "jupyter"), "execute", "--inplace", "--allow-errors", str(out)]
    if runner == "papermill":
        return [str(BIN / "papermill"), str(notebook), str(out)]
    if runner == "nbclient-file":
        return [sys.executable, "-c", NBCLIENT_FILE, str(notebook), str(out)]
    return [
        sys.executable,
        "-c",
        NBCLIENT_MEMORY,
        str(notebook.with_suffix(".cells.json")),
        str(out),
    ]


RUNNERS = ["nbconvert", "execute", "papermill", "nbclient-file", "nbclient-memory"]
CWDS = ["notebook-folder", "other-folder"]


def user_env() -> dict[str, str]:
    """What a user's shell has: the venv first on PATH, a user name; nothing of ours."""
    env = {k: v for k, v in headless.kernel_env().items() if not k.startswith("JPY_")}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    return env


def job_tree(root: Path, name: str, notebook: Path) -> Path:
    """``root/name`` with ``.metaflow``, ``notebooks/<notebook>`` and ``elsewhere``."""
    job = root / name
    for folder in (".metaflow", "notebooks", "elsewhere"):
        (job / folder).mkdir(parents=True)
    shutil.copy(notebook, job / "notebooks" / notebook.name)
    return job


def run_runner(
    job: Path, runner: str, cwd: str, notebook: str
) -> tuple[subprocess.CompletedProcess, Path]:
    source = job / "notebooks" / notebook
    out = job / f"executed-{notebook}"
    if runner == "execute":
        out = source.parent / f"executed-{notebook}"  # --inplace: the copy sits beside it
        shutil.copy(source, out)
    where = source.parent if cwd == "notebook-folder" else job / "elsewhere"
    done = subprocess.run(
        runner_command(runner, source, out),
        cwd=where,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, out


def errors_of(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"cell {i + 1}: {o.ename}: {o.evalue}"
        for i, c in enumerate(nb.cells)
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]


def text_of(cell: Any) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o:
            parts.append(o.data.get("text/plain", ""))
    return "".join(parts)


def run_artifacts_in(job: Path, monkeypatch: pytest.MonkeyPatch, flow: str = FLOW) -> dict:
    """The artifacts of the flow's latest run in ``job``'s datastore."""
    from metaflow import Flow, namespace

    from jupyter_metaflow import _metaflow

    monkeypatch.chdir(job)  # the Client finds job/.metaflow from there
    _metaflow.forget_datastore_root()
    namespace(None)
    run = Flow(flow).latest_run
    assert run.successful
    return run_artifacts(run)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Every runner from both folders, three at a time: ``{(runner, cwd): (process, job, out)}``."""
    root = tmp_path_factory.mktemp("runners")
    jobs = {}
    for runner in RUNNERS:
        for cwd in CWDS:
            job = job_tree(root, f"{runner}-{cwd}", EXAMPLES / NOTEBOOK)
            cells = nbformat.read(job / "notebooks" / NOTEBOOK, as_version=4).cells
            (job / "notebooks" / "branch_join.cells.json").write_text(
                json.dumps([{"cell_type": c.cell_type, "source": c.source} for c in cells])
            )
            jobs[(runner, cwd)] = job
    with ThreadPoolExecutor(3) as pool:
        results = pool.map(lambda key: run_runner(jobs[key], key[0], key[1], NOTEBOOK), jobs)
        return {key: (*result, jobs[key]) for key, result in zip(jobs, results, strict=True)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job whose datastore holds ``python branch_join.py run`` of the exported notebook."""
    job = job_tree(tmp_path_factory.mktemp("exported"), "flow", EXAMPLES / NOTEBOOK)
    folder = job / "notebooks"
    (folder / "branch_join.py").write_text(export_notebook(folder / NOTEBOOK))
    done = subprocess.run(
        [sys.executable, "branch_join.py", "--no-pylint", "run"],
        cwd=folder,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return job


@pytest.mark.parametrize("cwd", CWDS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_runner_gives_the_exported_flows_run(runner, cwd, matrix, exported, monkeypatch):
    done, out, job = matrix[(runner, cwd)]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "No handler found for comm target" not in done.stdout + done.stderr  # no frontend
    nb = nbformat.read(out, as_version=4)
    assert not errors_of(nb), errors_of(nb)
    steps = {c.source.split()[1]: c for c in nb.cells if c.source.startswith("%%step")}
    assert text_of(steps["end"]).startswith("hello ["), text_of(steps["end"])  # end's own print
    assert text_of(nb.cells[-1]).startswith("True"), text_of(nb.cells[-1])  # the notebook's check
    ours = run_artifacts_in(job, monkeypatch)
    theirs = run_artifacts_in(exported, monkeypatch)
    assert sorted(ours) == sorted(theirs) and set(ours) == STEPS
    assert ours == theirs


def papermill(
    job: Path, *options: str, notebook: str = "parameters.ipynb"
) -> tuple[subprocess.CompletedProcess, nbformat.NotebookNode]:
    """``papermill NOTEBOOK out.ipynb OPTIONS`` from another folder, as a pipeline runs it."""
    out = job / "out.ipynb"
    done = subprocess.run(
        [str(BIN / "papermill"), str(job / "notebooks" / notebook), str(out), *options],
        cwd=job / "elsewhere",
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, nbformat.read(out, as_version=4)


def step_cell(nb: nbformat.NotebookNode, name: str) -> Any:
    return next(c for c in nb.cells if c.source.startswith(f"%%step {name}\n"))


def test_papermill_parameters_set_the_flows_parameters_like_the_command_line(tmp_path, monkeypatch):
    """``-p`` values become the run's Parameters, converted by their types as ``python
    flow.py run --greeting Bonjour --repeat 2`` converts them (they win over the %%flow line)."""
    job = job_tree(tmp_path, "papermill", EXAMPLES / "parameters.ipynb")
    done, nb = papermill(job, "-p", "greeting", "Bonjour", "-p", "repeat", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not errors_of(nb), errors_of(nb)
    assert text_of(step_cell(nb, "start")).startswith("Bonjour Bonjour!")
    assert text_of(step_cell(nb, "end")).strip() == "int 2"
    flow_cell = next(c for c in nb.cells if c.source.startswith("%%flow"))
    assert "with parameters greeting='Bonjour', repeat=2," in text_of(flow_cell)  # not Hi, 3
    ours = run_artifacts_in(job, monkeypatch, "GreetingFlow")

    flow = job_tree(tmp_path, "flow", EXAMPLES / "parameters.ipynb")
    folder = flow / "notebooks"
    (folder / "parameters.py").write_text(export_notebook(folder / "parameters.ipynb"))
    exported = subprocess.run(
        [
            sys.executable,
            "parameters.py",
            "--no-pylint",
            "run",
            "--greeting",
            "Bonjour",
            "--repeat",
            "2",
        ],
        cwd=folder,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert run_artifacts_in(flow, monkeypatch, "GreetingFlow") == ours


def test_papermill_parameters_apply_when_no_cell_is_tagged_parameters(tmp_path):
    """Without a ``parameters`` tag papermill injects its cell at the top of the notebook,
    before ``%load_ext``: its values still set the flow's Parameters (never silently the
    ``%%flow`` line's)."""
    job = job_tree(tmp_path, "untagged", EXAMPLES / "parameters.ipynb")
    path = job / "notebooks" / "parameters.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    nbformat.write(nb, path)
    done, nb = papermill(job, "-p", "greeting", "Bonjour", "-p", "repeat", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert nb.cells[0].metadata.get("tags") == ["injected-parameters"]  # papermill's top cell
    assert not errors_of(nb), errors_of(nb)
    assert text_of(step_cell(nb, "start")).startswith("Bonjour Bonjour!"), errors_of(nb)
    assert text_of(step_cell(nb, "end")).strip() == "int 2"


@pytest.mark.parametrize(
    "option, expected",
    [
        (
            ("-p", "greetng", "Hi"),
            [
                "'greetng' is not a Parameter of the flow",
                "its Parameters: greeting, repeat, settings",
            ],
        ),
        (
            ("-p", "repeat", "many"),
            ["papermill's parameters", "'--repeat': many is not a valid integer"],
        ),
    ],
)
def test_a_bad_papermill_parameter_stops_before_the_first_step(
    option, expected, tmp_path, monkeypatch
):
    job = job_tree(tmp_path, "papermill", EXAMPLES / "parameters.ipynb")
    done, nb = papermill(job, *option)
    assert done.returncode != 0
    errors = [o for o in step_cell(nb, "start").get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].ename == "FlowDefinitionError", errors_of(nb)
    for text in expected:
        assert text in errors[0].evalue
    assert "Traceback" not in errors[0].evalue and "jupyter_metaflow" not in "".join(
        errors[0].traceback
    )
    assert not list((job / ".metaflow").glob("GreetingFlow/*/start"))  # nothing ran


def test_two_notebooks_holding_the_executed_cells_are_an_error_in_the_first_flow_cell(tmp_path):
    job = job_tree(tmp_path, "twins", EXAMPLES / NOTEBOOK)
    shutil.copy(job / "notebooks" / NOTEBOOK, job / "notebooks" / "copy_of_branch_join.ipynb")
    cells = nbformat.read(job / "notebooks" / NOTEBOOK, as_version=4).cells
    (job / "notebooks" / "branch_join.cells.json").write_text(
        json.dumps([{"cell_type": c.cell_type, "source": c.source} for c in cells])
    )
    done, out = run_runner(job, "nbclient-memory", "notebook-folder", NOTEBOOK)
    assert done.returncode == 0, done.stderr[-2000:]
    nb = nbformat.read(out, as_version=4)
    errors = errors_of(nb)
    assert errors and errors[0].startswith("cell 3: FlowDefinitionError"), errors
    assert "branch_join.ipynb" in errors[0] and "copy_of_branch_join.ipynb" in errors[0]
    assert not list((job / ".metaflow").glob("BranchJoinFlow/*/start"))


def test_an_invalid_flow_stops_headless_at_its_cell_before_any_step_runs(tmp_path):
    """The same cell-located error as in JupyterLab: the notebook file is found."""
    nb = nbformat.read(EXAMPLES / NOTEBOOK, as_version=4)
    lower = next(c for c in nb.cells if c.source.startswith("%%step lower"))
    lower.source = lower.source.replace("self.next(self.join)", "self.next(self.jion)")
    job = tmp_path / "invalid"
    for folder in (".metaflow", "notebooks", "elsewhere"):
        (job / folder).mkdir(parents=True)
    nbformat.write(nb, job / "notebooks" / NOTEBOOK)
    done, out = run_runner(job, "nbconvert", "other-folder", NOTEBOOK)
    assert done.returncode == 0, done.stderr[-2000:]
    errors = errors_of(nbformat.read(out, as_version=4))
    assert errors[0].startswith("cell 4: FlowDefinitionError"), errors  # start's cell
    assert "cell 6, line 3: self.next(...) goes to 'jion', which no step cell defines" in errors[0]
    assert not list((job / ".metaflow").glob("BranchJoinFlow/*/start"))


def test_without_a_user_name_steps_and_mf_run_say_the_fix_in_one_line(tmp_path):
    """Root in a container, a notebook written by a tool that leaves cells without ids:
    each step cell and ``%mf_run`` fail in one line that says what to do, and nothing of
    nbformat's complaints about the file reaches a cell."""
    cells = [
        "%load_ext jupyter_metaflow",
        "%%flow NoUserFlow",
        "%%step start\nself.x = 1\nself.next(self.end)",
        "%%step end\nprint(self.x)",
        "%mf_run",
    ]
    notebook = {  # nbformat 4.5 without cell ids: what older writers leave
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": c, "outputs": []}
            | {"execution_count": None}
            for c in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    job = tmp_path / "nouser"
    (job / "notebooks").mkdir(parents=True)
    (job / "notebooks" / "nouser.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    env = {
        k: v
        for k, v in user_env().items()
        if k not in ("USER", "METAFLOW_USER", "USERNAME", "SUDO_USER", "LOGNAME")
    }
    out = job / "executed.ipynb"
    done = subprocess.run(
        runner_command("nbconvert", job / "notebooks" / "nouser.ipynb", out),
        cwd=job / "notebooks",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    executed = nbformat.read(out, as_version=4)
    errors = errors_of(executed)
    fix = "Run %env USER=<your name> in the notebook, or set METAFLOW_USER"
    assert [e.split(":")[0] for e in errors] == ["cell 3", "cell 4", "cell 5"], errors
    for error in errors[:2]:
        assert "could not run: Unknown user" in error and fix in error, error
    assert "RuntimeRunFailed: Metaflow's runtime could not start the run: Unknown user" in errors[2]
    assert fix in errors[2] and "run it again" in errors[2], errors[2]
    shown = "".join(text_of(c) for c in executed.cells)
    assert "Warning" not in shown and "validator.py" not in shown, shown
