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

import nbformat
import pytest

import headless
from jupyter_metaflow.cells import CellInput, assemble
from jupyter_metaflow.export import export_notebook

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLOW_NOTEBOOKS = sorted(
    p.stem for p in EXAMPLES.glob("*.ipynb")
    if "%%step" in p.read_text()
    # documented but not run here (e.g. needs a Kubernetes deployment)
    and nbformat.read(p, as_version=4).metadata.get("jupyter_metaflow", {}).get("execute_in_ci", True)
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
    env = headless.kernel_env(path, METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir))

    nb = headless.execute(nbformat.read(path, as_version=4), path, timeout=300,
                          METAFLOW_DATASTORE_SYSROOT_LOCAL=str(workdir))
    model = assemble([CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], path.name)
    namespace(None)
    notebook_run = Flow(model.name).latest_run
    assert notebook_run.successful

    exported = workdir / "exported.py"
    exported.write_text(export_notebook(path))
    params = model.flow_cell.param_args if model.flow_cell else []
    result = subprocess.run(
        [sys.executable, str(exported), "--no-pylint", "run", *params],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    exported_run = Flow(model.name).latest_run
    assert exported_run.id != notebook_run.id and exported_run.successful

    ours, theirs = run_artifacts(notebook_run), run_artifacts(exported_run)
    assert sorted(ours) == sorted(theirs)  # a switch leaves the same cases out of both
    assert set(ours) <= {s.name for s in model.steps} and {"start", "end"} <= set(ours)
    for step in ours:
        assert len(ours[step]) == len(theirs[step]), step
        for i, (a, b) in enumerate(zip(ours[step], theirs[step])):
            assert sorted(a) == sorted(b), (step, i)
            for artifact in a:
                assert a[artifact] == b[artifact], "%s task %d: artifact %r differs" % (step, i, artifact)
