"""Finding the notebook a headless kernel runs, and papermill's injected parameters (pure
functions; the runners themselves are in ``test_headless_runners.py``)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from jupyter_metaflow import injected_parameters as injected
from jupyter_metaflow import notebook_search as search

CELLS = ["%load_ext jupyter_metaflow", "%%step start\nself.next(self.end)", "%%step end\npass"]


def write(path: Path, *sources: str) -> Path:
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path
    )
    return path


def sources(path: str) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_the_notebook_holding_every_executed_cell_is_found(tmp_path):
    found = write(tmp_path / "flow.ipynb", *CELLS)
    write(tmp_path / "other.ipynb", CELLS[0], "%%step start\nprint(1)")
    groups = [[], [str(tmp_path / "other.ipynb"), str(found)]]
    assert search.find_notebook(CELLS[:2], sources, groups) == str(found)
    assert search.find_notebook(["%%step start\nprint(2)"], sources, groups) is None


def test_the_command_lines_notebook_wins_over_copies_in_the_folder(tmp_path):
    named = write(tmp_path / "flow.ipynb", *CELLS)
    copy = write(tmp_path / "flow.nbconvert.ipynb", *CELLS)
    assert search.find_notebook(CELLS, sources, [[str(named)], [str(named), str(copy)]]) == str(
        named
    )


def test_two_equal_notebooks_are_an_error_naming_both(tmp_path):
    a, b = write(tmp_path / "a.ipynb", *CELLS), write(tmp_path / "b.ipynb", *CELLS)
    with pytest.raises(search.AmbiguousNotebook) as info:
        search.find_notebook(CELLS, sources, [[], [str(a), str(b)]])
    assert str(a) in str(info.value) and str(b) in str(info.value)
    assert "move or rename the copies" in str(info.value)


def test_papermills_input_is_the_notebook_not_its_output(tmp_path):
    cell = '# Parameters\ngenre = "Comedy"\n'
    source = write(tmp_path / "in.ipynb", *CELLS)
    output = write(tmp_path / "out.ipynb", CELLS[0], cell, *CELLS[1:])
    nb = nbformat.read(output, as_version=4)
    nb.metadata["papermill"] = {"input_path": "in.ipynb", "output_path": "out.ipynb"}
    nbformat.write(nb, output)
    for executed in ([CELLS[0], cell, CELLS[1]], CELLS):  # with -p, and without
        assert search.find_notebook(executed, sources, [[str(source), str(output)]]) == str(source)
    assert search.find_notebook(CELLS, sources, [[str(output)]]) == str(output)  # input elsewhere


def test_notebook_paths_on_a_command_line():
    words = [
        "--to",
        "notebook",
        "--execute",
        "nb/a.ipynb",
        "--output=b.ipynb",
        "my nb.ipynb",
        "-c",
        "import x\nx.run('c d.ipynb')",
    ]
    assert search._notebook_args(words, "/w") == [
        "/w/nb/a.ipynb",
        "/w/b.ipynb",
        "/w/my nb.ipynb",
        "/w/c d.ipynb",
    ]


def test_papermills_injected_cell_becomes_command_line_options():
    values = injected.parse_injected_cell(
        '# Parameters\ngenre = "Comedy"\nrecommendations = 3\n'
        "flag = True\nnums = [1, 2]\nskip = None\n"
    )
    assert values == {
        "genre": "Comedy",
        "recommendations": 3,
        "flag": True,
        "nums": [1, 2],
        "skip": None,
    }
    declared = {
        "genre": "genre",
        "recommendations": "recommendations",
        "flag": "flag",
        "nums": "num-list",
    }
    assert injected.parameter_options(values, declared) == [
        "--genre=Comedy",
        "--recommendations=3",
        "--flag=true",
        "--num-list=[1, 2]",
    ]
    assert injected.unknown_names(["genre", "genr"], declared) == ["genr"]


@pytest.mark.parametrize(
    "source",
    [
        "genre = 'Comedy'",  # no papermill header
        "# Parameters\ngenre = compute()",  # not a literal
        "# Parameters\nprint(1)",
    ],
)
def test_other_cells_are_not_injected_parameters(source):
    assert injected.parse_injected_cell(source) is None
