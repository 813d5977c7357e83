"""Hostile notebooks: linting and exporting never run a notebook's code.

Each notebook of ``vectors/hostile_notebooks.json`` writes a marker file when any of its code
runs (a form feed that would end a method's indentation, a ``from helpers import *`` with a
``helpers.py`` beside the notebook, decorator, parameter and class-body expressions). Every
entry point that reads a notebook without the user running it is fed each one: the exporter,
``jupyter metaflow export`` (to a file, ``-o -``, ``--check``), ``jupyter nbconvert --to
metaflow``, and the kernel's comm (``flow`` lint, ``export``) in a real kernel.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jupyter_metaflow import protocol
from jupyter_metaflow.export import ExportError, export_notebook

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "hostile_notebooks.json").read_text())
NOTEBOOKS = {nb["name"]: nb for nb in VECTORS["notebooks"]}
BIN = Path(sys.executable).parent


def write_hostile(folder: Path, name: str) -> tuple[Path, Path]:
    """The notebook ``name`` (and the files beside it) in ``folder``; its marker path."""
    spec = NOTEBOOKS[name]
    marker = folder / (f"{name}.marker")
    for filename, text in spec["files"].items():
        (folder / filename).write_text(text.replace("{marker}", repr(str(marker))))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(c["source"].replace("{marker}", repr(str(marker))))
        for c in spec["cells"]
    ]
    path = folder / (f"{name}.ipynb")
    nbformat.write(nb, str(path))
    return path, marker


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), "METAFLOW_USER": "tester"},
    )


def payload_calls(text: str) -> list[tuple[str, ...]]:
    """For each payload call in a flow file: the chain of class/def names around it."""
    found = []

    def walk(node: ast.AST, scope: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "write_text"
            ):
                found.append(scope)
            inner = (
                (*scope, child.name)
                if isinstance(child, (ast.ClassDef, ast.FunctionDef))
                else scope
            )
            walk(child, inner)

    walk(ast.parse(text), ())
    return found


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_the_exporter_runs_no_notebook_code(name, tmp_path):
    notebook, marker = write_hostile(tmp_path, name)
    text = export_notebook(notebook)
    assert not marker.exists(), marker.read_text()
    if not NOTEBOOKS[name]["files"]:  # a star import keeps its module out of the flow file
        assert "write_text" in text


@pytest.mark.parametrize("name", ["form_feed", "form_feed_flow_cell"])
def test_a_form_feed_stays_in_its_method_or_class(name, tmp_path):
    """A form feed resets Python's indentation count: the export drops it, so the line stays
    in the block the notebook put it in."""
    notebook, _ = write_hostile(tmp_path, name)
    scopes = payload_calls(export_notebook(notebook))
    expected = [("FormFeedFlow",)] if name == "form_feed_flow_cell" else [("FormFeedFlow", "end")]
    assert scopes == expected


def test_star_import_names_are_read_without_importing(tmp_path):
    notebook, marker = write_hostile(tmp_path, "star_import")
    export_notebook(notebook)  # VALUE comes from helpers.py: no undefined-name error
    assert not marker.exists()
    assert "helpers" not in sys.modules
    (tmp_path / "helpers.py").write_text("OTHER = 1\n")
    with pytest.raises(ExportError, match="'VALUE', which no cell defines"):
        export_notebook(notebook)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
@pytest.mark.kernel
def test_cli_export_paths_run_no_notebook_code(name, tmp_path):
    notebook, marker = write_hostile(tmp_path, name)
    for args in (
        ["-o", "-"],
        ["--check", "-o", "flow.py"],
        ["-o", "flow.py"],
        ["--check", "-o", "flow.py"],
    ):
        result = run("jupyter", "metaflow", "export", notebook.name, *args, cwd=tmp_path)
        assert result.returncode in (0, 1), result.stderr
        assert not marker.exists(), (args, marker.read_text())
    result = run(
        "jupyter",
        "nbconvert",
        "--to",
        "metaflow",
        notebook.name,
        "--output",
        "via_nbconvert",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), marker.read_text()
    assert (tmp_path / "via_nbconvert.py").read_text() == (tmp_path / "flow.py").read_text()


@pytest.mark.kernel
def test_kernel_lint_and_export_run_no_notebook_code(kernel, tmp_path):
    """The frontend sends the cells of an open notebook; the kernel lints and exports them."""
    kernel.execute("%load_ext jupyter_metaflow")
    hello = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    comm_id = kernel.open_comm(protocol.COMM_TARGET, hello)
    for number, name in enumerate(sorted(NOTEBOOKS)):
        notebook, marker = write_hostile(tmp_path, name)
        cells = [
            {"index": i, "id": c.get("id"), "cell_type": "code", "source": c["source"], "tags": []}
            for i, c in enumerate(nbformat.read(str(notebook), as_version=4).cells)
        ]
        kernel.comm_send(
            comm_id,
            protocol.envelope(
                "flow", {"path": notebook.name, "cells": cells, "request_id": f"lint-{number}"}
            ),
        )
        answer = kernel.wait_for(
            lambda m, number=number: (
                m["msg_type"] == "comm_msg"
                and m["content"]["data"].get("type") == "flow_model"
                and m["content"]["data"]["payload"].get("request_id") == f"lint-{number}"
            )
        )
        assert answer["content"]["data"]["payload"]["lint_errors"] == []
        kernel.comm_send(
            comm_id,
            protocol.envelope(
                "export",
                {"path": notebook.name, "output": f"{name}_flow.py", "request_id": f"x-{number}"},
            ),
        )
        result = kernel.wait_for(
            lambda m, number=number: (
                m["msg_type"] == "comm_msg"
                and m["content"]["data"].get("type") == "export_result"
                and m["content"]["data"]["payload"].get("request_id") == f"x-{number}"
            )
        )
        assert result["content"]["data"]["payload"]["ok"], result["content"]["data"]["payload"]
        assert not marker.exists(), (name, marker.read_text())


def poison_datastore(root: Path, marker: Path) -> int:
    """Replace every artifact blob under ``root`` with a pickle that writes ``marker`` when it
    is loaded (kept in the blob's stored format); the number of blobs replaced."""
    import gzip
    import pickle

    class Payload:
        def __reduce__(self):
            return (
                exec,
                (f"import pathlib; pathlib.Path({str(marker)!r}).write_text('unpickled')",),
            )

    blob = pickle.dumps(Payload(), protocol=4)
    count = 0
    for path in root.glob("*/data/*/*"):
        if path.name.endswith("_meta"):
            continue
        meta = json.loads(Path(str(path) + "_meta").read_text())
        path.write_bytes(blob if meta.get("cas_raw") else gzip.compress(blob))
        count += 1
    return count


@pytest.mark.kernel
def test_a_connecting_frontend_gets_run_state_without_unpickling(tmp_path):
    """The datastore beside a notebook is untrusted until the user runs something: the run
    state a frontend gets on connecting comes from Metaflow's metadata, never from loading an
    artifact (``_success``, ``_task_ok``), so a crafted ``.metaflow`` cannot run code."""
    import headless
    from conftest import KernelHarness
    from jupyter_client.manager import start_new_kernel
    from sync_helpers import Frontend

    sources = [("self.x = 1", "step:start"), ("self.y = 2", "step:middle"), ("pass", "step:end")]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, metadata={"tags": [t]}) for s, t in sources]
    path = tmp_path / "shipped.ipynb"
    nbformat.write(nb, path)
    env = headless.kernel_env(JPY_SESSION_NAME=str(path))  # JupyterLab's kernel: the server sets it
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        fe = Frontend(KernelHarness(km, kc))
        for source, _ in sources:
            assert fe.run_cell(source)["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    marker = tmp_path / "unpickled.marker"
    assert poison_datastore(tmp_path / ".metaflow", marker) > 3
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        restored = Frontend(KernelHarness(km, kc)).snapshot
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert not marker.exists()
    assert {k: v["state"] for k, v in restored["steps"].items()} == dict.fromkeys(
        ["start", "middle", "end"], "done"
    )
