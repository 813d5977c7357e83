"""Fidelity: every notebook in ``examples/`` executed headless (nbclient, the in-kernel
executor) and its export run with ``python exported.py run`` give runs with equal artifacts,
step by step, task by task (values read back through the Client API).

Both runs use the same temporary folder and datastore; the exported run gets the ``%%flow``
line's parameter values on its command line, as the contract says they mean.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import headless
import nbformat
import pytest
from run_compare import assert_equal_artifacts

from jupyter_metaflow.assembly import assemble
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.export import export_notebook


@pytest.mark.parametrize("name", headless.CI_EXAMPLES)
def test_notebook_and_exported_flow_give_equal_artifacts(name, workdir):
    from metaflow import Flow, namespace

    path = workdir / f"{name}.ipynb"
    shutil.copy(headless.EXAMPLES / path.name, path)
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
    result = headless.run_flow_file(exported, "run", *params, env=env)
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
    result = headless.run_flow_file(flow_file, "run", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    file_run = Flow(model.name).latest_run
    assert file_run.id != notebook_run.id
    assert_equal_artifacts(
        notebook_run, file_run, {s.name for s in model.steps}, RANDOM.get(tutorial, {})
    )
