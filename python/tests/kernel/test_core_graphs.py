"""Every graph shape of Metaflow's core tests as a notebook: executed top to bottom headless
(nbclient, as ``jupyter nbconvert --execute`` runs it: no JupyterLab, no set-up), exported,
and the exported flow run with ``python F.py run``; both runs must hold the same tasks with the
same artifacts, step by step (read back through the Client API).

All notebooks share one folder and datastore. The notebooks run three at a time, each in its
own kernel, then the exported flows; the per-shape tests compare the finished runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import headless
import nbformat
import pytest
from core_graphs import GraphNotebook, graph_notebooks
from run_compare import assert_equal_artifacts

from jupyter_metaflow.export import export_notebook

NOTEBOOKS = graph_notebooks()


def _stem(g: GraphNotebook) -> str:
    return "_".join(filter(None, (g.shape, g.scenario)))


@pytest.fixture(scope="module")
def graph_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``{stem: (executed notebook, exported run's process)}`` for every shape."""
    folder = tmp_path_factory.mktemp("core_graphs")
    (folder / ".metaflow").mkdir()
    # the venv first on PATH, as an activated venv has it (@parallel starts `python` workers)
    env = headless.kernel_env(
        PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])
    )

    def execute(g: GraphNotebook) -> nbformat.NotebookNode:
        path = folder / f"{_stem(g)}.ipynb"
        nbformat.write(g.notebook, path)
        nb = nbformat.read(path, as_version=4)
        return headless.execute(nb, path, timeout=300, allow_errors=True, PATH=env["PATH"])

    with ThreadPoolExecutor(3) as pool:
        executed = dict(zip(map(_stem, NOTEBOOKS), pool.map(execute, NOTEBOOKS), strict=True))

    def run_exported(g: GraphNotebook) -> subprocess.CompletedProcess:
        flow_file = folder / f"{_stem(g)}_flow.py"
        flow_file.write_text(export_notebook(folder / f"{_stem(g)}.ipynb"))
        return headless.run_flow_file(flow_file, "run", env=env)

    with ThreadPoolExecutor(3) as pool:
        exported = dict(zip(map(_stem, NOTEBOOKS), pool.map(run_exported, NOTEBOOKS), strict=True))
    return {"folder": folder, "executed": executed, "exported": exported}


@pytest.mark.parametrize("graph", NOTEBOOKS, ids=_stem)
def test_core_graph_notebook_runs_like_its_exported_flow(graph, graph_runs, monkeypatch):
    from metaflow import Flow, namespace

    from jupyter_metaflow import _metaflow

    nb = graph_runs["executed"][_stem(graph)]
    errors = [
        f"cell {i + 1}: {o.ename}: {o.evalue}"
        for i, c in enumerate(nb.cells)
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors, "\n".join(errors)
    result = graph_runs["exported"][_stem(graph)]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    monkeypatch.chdir(graph_runs["folder"])  # the Client finds its .metaflow from there
    _metaflow.forget_datastore_root()
    namespace(None)
    runs = list(Flow(graph.flow_name))
    assert len(runs) >= 2
    exported_run, notebook_run = runs[0], runs[1]  # newest first: the export ran last
    steps = {
        line.split()[1]
        for c in graph.notebook.cells
        if c.source.startswith("%%step")
        for line in c.source.splitlines()[:1]
    }
    assert_equal_artifacts(notebook_run, exported_run, steps)
