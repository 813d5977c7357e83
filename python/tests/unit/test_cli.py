"""``jupyter metaflow export|import`` and ``jupyter nbconvert --to metaflow``, run as commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jupyter_metaflow.cli import main

BIN = Path(sys.executable).parent
FLOWS = Path(__file__).parents[1] / "flows"


def jupyter(*args, cwd):
    return subprocess.run(
        [str(BIN / "jupyter"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), "METAFLOW_USER": "tester"},
    )


def make_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


def good_notebook(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "train_model.ipynb",
        "%load_ext jupyter_metaflow",
        "%%step start\nself.x = 1",
        "%%step end\nprint(self.x)",
    )


@pytest.mark.kernel
def test_export_import_and_check_through_the_jupyter_command(tmp_path):
    nb = good_notebook(tmp_path)
    result = jupyter("metaflow", "export", nb.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    flow = tmp_path / "train_model.py"
    assert "class TrainModelFlow(FlowSpec):" in flow.read_text()

    result = jupyter("metaflow", "export", nb.name, "--check", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
    assert "up to date" in result.stderr

    make_notebook(nb, "%%step start\nself.x = 2", "%%step end\nprint(self.x)")
    result = jupyter("metaflow", "export", nb.name, "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert "-        self.x = 1" in result.stdout and "+        self.x = 2" in result.stdout
    assert "--force" in result.stderr

    result = jupyter("metaflow", "export", nb.name, cwd=tmp_path)
    assert result.returncode == 2 and "already exists; pass --force" in result.stderr
    assert "self.x = 1" in flow.read_text()  # untouched
    assert jupyter("metaflow", "export", nb.name, "--force", cwd=tmp_path).returncode == 0
    assert "self.x = 2" in flow.read_text()

    result = jupyter("metaflow", "import", "train_model.py", "-o", "back.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    back = nbformat.read(str(tmp_path / "back.ipynb"), as_version=4)
    assert [c.source.splitlines()[0] for c in back.cells if c.source.startswith("%%")] == [
        "%%flow TrainModelFlow",
        "%%step start",
        "%%step end",
    ]
    result = jupyter("metaflow", "import", "train_model.py", "-o", "back.ipynb", cwd=tmp_path)
    assert result.returncode == 0 and "already up to date" in result.stderr


@pytest.mark.kernel
def test_nbconvert_to_metaflow(tmp_path):
    nb = good_notebook(tmp_path)
    result = jupyter(
        "nbconvert", "--to", "metaflow", nb.name, "--output", "via_nbconvert", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    main(["export", str(nb), "-o", str(tmp_path / "via_cli.py")])
    assert (tmp_path / "via_nbconvert.py").read_text() == (tmp_path / "via_cli.py").read_text()
    result = jupyter(
        "nbconvert",
        "--to",
        "metaflow",
        "--MetaflowExporter.cell_ids=True",
        nb.name,
        "--output",
        "ids",
        cwd=tmp_path,
    )
    assert result.returncode == 0 and "# cell: " in (tmp_path / "ids.py").read_text()


@pytest.mark.kernel
def test_nbconvert_keeps_a_different_existing_file_unless_forced(tmp_path):
    nb = good_notebook(tmp_path)
    mine = tmp_path / f"{nb.stem}.py"
    mine.write_text("# my hand-written flow\n")
    result = jupyter(
        "nbconvert", "--to", "metaflow", nb.name, cwd=tmp_path
    )  # nbconvert's writer replaced it
    assert result.returncode == 1 and "already exists and differs from the export" in result.stderr
    assert mine.read_text() == "# my hand-written flow\n"
    result = jupyter("nbconvert", "--to", "metaflow", nb.name, "--stdout", cwd=tmp_path)
    assert result.returncode == 0 and "class " in result.stdout  # no file written: nothing to keep
    result = jupyter("nbconvert", "--to", "metaflow", nb.name, "--output-dir", "out", cwd=tmp_path)
    assert result.returncode == 0 and (tmp_path / "out" / mine.name).read_text().startswith(
        "# Exported from"
    )
    for _ in range(2):  # then an unchanged export over its own output is fine
        result = jupyter(
            "nbconvert", "--to", "metaflow", nb.name, "--MetaflowExporter.force=True", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        result = jupyter("nbconvert", "--to", "metaflow", nb.name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert mine.read_text().startswith("# Exported from")


BAD_NOTEBOOKS = {
    "not-json": "{oops",
    "future-version": json.dumps(
        {"nbformat": 99, "nbformat_minor": 0, "metadata": {}, "cells": []}
    ),
}


@pytest.mark.parametrize(
    "case,expected",
    [
        ("not-json", "not valid JSON"),
        ("future-version", "cannot be upgraded"),
        ("missing-file", "Cannot read"),
        ("no-steps", "no step cells"),
        ("missing-start", "no 'start' step"),
        ("missing-end", "no 'end' step"),
        ("two-flow-cells", "second flow cell"),
        ("scratch-name", "only scratch cell 1 defines"),
        (
            "compile-error",
            "cell 2, line 2: Syntax error: 'await' outside async function.",
        ),  # was a traceback
    ],
)
def test_export_bad_input_exits_2_and_writes_nothing(case, expected, tmp_path, capsys):
    path = tmp_path / "nb.ipynb"
    if case in BAD_NOTEBOOKS:
        path.write_text(BAD_NOTEBOOKS[case])
    elif case == "no-steps":
        make_notebook(path, "import os", "print(1)")
    elif case == "missing-start":
        make_notebook(path, "%%step begin", "%%step end")
    elif case == "missing-end":
        make_notebook(path, "%%step start")
    elif case == "two-flow-cells":
        make_notebook(path, "%%flow A", "%%flow B", "%%step start", "%%step end")
    elif case == "scratch-name":
        make_notebook(path, "x = compute()", "%%step start\nprint(x)", "%%step end")
    elif case == "compile-error":
        make_notebook(path, "import asyncio", "%%step start\nawait asyncio.sleep(0)", "%%step end")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["export", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "source,expected",
    [
        ("import os\n", "defines no FlowSpec class"),
        (
            "from metaflow import FlowSpec\nclass A(FlowSpec):\n    pass\nclass B(FlowSpec):\n"
            "    pass\n",
            "defines 2 FlowSpec classes",
        ),
    ],
)
def test_import_bad_input_exits_2_and_writes_nothing(source, expected, tmp_path, capsys):
    flow = tmp_path / "flow.py"
    flow.write_text(source)
    assert main(["import", str(flow)]) == 2
    assert expected in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.py"]


def test_files_given_to_the_wrong_command_say_which_command_to_use(tmp_path, capsys):
    nb = good_notebook(tmp_path)
    flow = tmp_path / "helloworld.py"
    flow.write_text((FLOWS / "helloworld.py").read_text())
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["export", str(flow)]) == 2  # said 'the output is the notebook itself'
    assert f"jupyter metaflow import {flow}" in capsys.readouterr().err
    assert main(["import", str(nb)]) == 2  # said 'defines no FlowSpec class'
    assert f"jupyter metaflow export {nb}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_check_advice_is_a_command_that_can_be_pasted(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    good_notebook(tmp_path).rename(tmp_path / "my model.ipynb")
    assert main(["export", "my model.ipynb", "-o", "my flow.py", "--check"]) == 1
    assert (
        "\n  jupyter metaflow export 'my model.ipynb' -o 'my flow.py' --force\n"
        in capsys.readouterr().err
    )
    assert main(["export", "my model.ipynb", "--check"]) == 1  # no 'my model.py' yet
    assert "my model.py does not exist; to write it, run:" in capsys.readouterr().err


def test_export_refuses_to_write_over_the_notebook(tmp_path, capsys):
    nb = good_notebook(tmp_path)
    original = nb.read_text()
    assert main(["export", str(nb), "-o", str(nb)]) == 2
    assert "the notebook itself" in capsys.readouterr().err
    assert nb.read_text() == original


def test_import_refuses_to_write_over_the_flow_file(tmp_path, capsys):
    flow = tmp_path / "helloworld.py"
    flow.write_text((FLOWS / "helloworld.py").read_text())
    assert (
        main(["import", str(flow), "-o", str(flow), "--force"]) == 2
    )  # replaced the code with JSON
    assert "the flow file itself" in capsys.readouterr().err
    assert flow.read_text() == (FLOWS / "helloworld.py").read_text()
    other = tmp_path / "other.py"
    other.write_text("keep = 1\n")
    assert main(["import", str(flow), "-o", str(other), "--force"]) == 2
    assert "pass -o FILE.ipynb" in capsys.readouterr().err and other.read_text() == "keep = 1\n"
    nb = good_notebook(tmp_path)
    before = nb.read_text()
    assert (
        main(
            [
                "export",
                str(make_notebook(tmp_path / "a.ipynb", "%%step start", "%%step end")),
                "-o",
                str(nb),
                "--force",
            ]
        )
        == 2
    )  # wrote Python into the other notebook
    assert "pass -o FILE.py" in capsys.readouterr().err and nb.read_text() == before


def test_import_refuses_to_overwrite_without_force(tmp_path, capsys):
    target = tmp_path / "helloworld.ipynb"
    target.write_text("keep me")
    assert main(["import", str(FLOWS / "helloworld.py"), "-o", str(target)]) == 2
    assert "--force" in capsys.readouterr().err and target.read_text() == "keep me"
    assert main(["import", str(FLOWS / "helloworld.py"), "-o", str(target), "--force"]) == 0
    assert nbformat.read(str(target), as_version=4).cells


def test_dash_output_writes_to_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    nb = good_notebook(tmp_path)
    assert main(["export", nb.name, "-o", "-"]) == 0
    assert "class TrainModelFlow(FlowSpec):" in capsys.readouterr().out
    assert main(["export", nb.name, "-o", "-", "--check"]) == 2
    assert "pass -o FILE.py" in capsys.readouterr().err
    assert main(["import", str(FLOWS / "helloworld.py"), "-o", "-"]) == 0
    assert nbformat.reads(capsys.readouterr().out, as_version=4).cells
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_model.ipynb"]  # no file named '-'


@pytest.mark.parametrize("output", ["no/such/folder/flow.py", "a_folder"])
def test_export_to_an_unwritable_output_exits_2(output, tmp_path, capsys):
    nb = good_notebook(tmp_path)
    (tmp_path / "a_folder").mkdir()
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    assert (
        main(["export", str(nb), "-o", str(tmp_path / output), "--force"]) == 2
    )  # was a traceback
    assert capsys.readouterr().err.startswith("error: Cannot write ")
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["export"])
    assert info.value.code == 2
