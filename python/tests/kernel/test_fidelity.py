"""Fidelity: every notebook in ``examples/`` executed headless (nbclient, the in-kernel
executor) and its export run with ``python exported.py run`` give runs with equal artifacts,
step by step, task by task (values read back through the Client API).

Both runs use the same temporary folder and datastore; the exported run gets the ``%%flow``
line's parameter values on its command line, as the contract says they mean.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import headless
import nbformat
import pytest

from jupyter_metaflow.assembly import assemble
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.export import export_notebook

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FLOW_NOTEBOOKS = sorted(
    p.stem
    for p in EXAMPLES.glob("*.ipynb")
    if "%%step" in p.read_text()
    # documented but not run here (e.g. needs a Kubernetes deployment)
    and nbformat.read(p, as_version=4)
    .metadata.get("jupyter_metaflow", {})
    .get("execute_in_ci", True)
)


def normalize(value: Any) -> Any:
    """A comparable form of an artifact value (arrays as lists, plain objects as their type
    and attributes)."""
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return value
    if isinstance(value, dict):
        return {normalize(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [normalize(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return "set", sorted(repr(normalize(v)) for v in value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return "array", normalize(value.tolist())
    if hasattr(value, "__dict__") and type(value).__eq__ is object.__eq__:
        return type(value).__qualname__, normalize(vars(value))
    return value


def run_artifacts(run) -> dict[str, list[dict[str, Any]]]:
    """{step: [artifacts of each task]}; tasks ordered by their foreach path."""
    steps: dict[str, list[dict[str, Any]]] = {}
    for step in run:
        tasks = []
        for task in step:
            data = {a.id: normalize(a.data) for a in task if not a.id.startswith("_")}
            order = [(frame.step, frame.index) for frame in (task["_foreach_stack"].data or [])]
            tasks.append((order, data))
        steps[step.id] = [data for _, data in sorted(tasks, key=lambda t: repr(t[0]))]
    return steps


@pytest.mark.parametrize("name", FLOW_NOTEBOOKS)
def test_notebook_and_exported_flow_give_equal_artifacts(name, workdir):
    from metaflow import Flow, namespace

    path = workdir / f"{name}.ipynb"
    shutil.copy(EXAMPLES / path.name, path)
    env = headless.kernel_env(METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir))

    nb = headless.execute(
        nbformat.read(path, as_version=4),
        path,
        timeout=300,
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir),
    )
    model = assemble([CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], path.name)
    namespace(None)
    notebook_run = Flow(model.name).latest_run
    assert notebook_run.successful

    exported = workdir / "exported.py"
    exported.write_text(export_notebook(path))
    params = model.flow_cell.param_args if model.flow_cell else []
    result = subprocess.run(
        [sys.executable, str(exported), "--no-pylint", "run", *params],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    exported_run = Flow(model.name).latest_run
    assert exported_run.id != notebook_run.id and exported_run.successful

    assert_equal_artifacts(notebook_run, exported_run, {s.name for s in model.steps})


TUTORIALS = {"01-playlist": "playlist.py", "02-statistics": "stats.py"}
RANDOM = {  # artifacts the tutorial draws at random (random.choice, random.shuffle, unseeded)
    "01-playlist": {
        "movies": lambda v: sorted(v[1]),
        "playlist": lambda v: sorted(v[1]),
        "bonus": lambda pick: pick[0],
    },
}


@pytest.mark.parametrize("tutorial", sorted(TUTORIALS))
def test_metaflow_tutorial_imported_as_a_notebook_runs_like_the_flow_file(tutorial, workdir):
    """Metaflow's own tutorial flows (from the installed package), imported as notebooks and
    executed headless, give the runs ``python FLOW.py run`` gives; they read files beside
    themselves through ``os.path.dirname(__file__)``."""
    import metaflow
    from metaflow import Flow, namespace

    from jupyter_metaflow.importer import import_flow_file

    for file in (Path(metaflow.__file__).parent / "tutorials" / tutorial).glob("*"):
        if file.suffix in (".py", ".csv"):
            shutil.copy(file, workdir / file.name)
    flow_file = workdir / TUTORIALS[tutorial]
    path = flow_file.with_suffix(".ipynb")
    nbformat.write(nbformat.from_dict(import_flow_file(flow_file)), path)
    same_sets = {"PYTHONHASHSEED": "0"}  # stats.py splits over list(set(...)): one order for both
    nb = headless.execute(
        nbformat.read(path, as_version=4),
        path,
        timeout=300,
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir),
        **same_sets,
    )
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors  # was NameError: name '__file__' is not defined
    model = assemble([CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], path.name)
    namespace(None)
    notebook_run = Flow(model.name).latest_run

    env = headless.kernel_env(METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir), **same_sets)
    result = subprocess.run(
        [sys.executable, flow_file.name, "--no-pylint", "run"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    file_run = Flow(model.name).latest_run
    assert file_run.id != notebook_run.id
    assert_equal_artifacts(
        notebook_run, file_run, {s.name for s in model.steps}, RANDOM.get(tutorial, {})
    )


def assert_equal_artifacts(
    run_a, run_b, step_names: set[str], loose: dict[str, Any] | None = None
) -> None:
    """Both runs succeeded with the same steps, tasks and artifact values (``loose``: what to
    compare of a random artifact's normalized value)."""
    assert run_a.successful and run_b.successful
    ours, theirs = run_artifacts(run_a), run_artifacts(run_b)
    assert sorted(ours) == sorted(theirs)  # a switch leaves the same cases out of both
    assert set(ours) <= step_names and {"start", "end"} <= set(ours)
    for step in ours:
        assert len(ours[step]) == len(theirs[step]), step
        for i, (a, b) in enumerate(zip(ours[step], theirs[step])):
            assert sorted(a) == sorted(b), (step, i)
            for artifact in a:
                same = (loose or {}).get(artifact, lambda value: value)
                assert same(a[artifact]) == same(b[artifact]), (
                    f"{step} task {i}: artifact {artifact!r} differs"
                )
