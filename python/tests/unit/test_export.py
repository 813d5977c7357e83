"""Notebook -> flow.py (jupyter_metaflow.export): text, guard, validation, bad input, writes."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jupyter_metaflow.assembly import assemble
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.export import (
    ExportError,
    check_flow_file,
    export_cells,
    export_notebook,
    write_atomic,
)
from jupyter_metaflow.nameguard import find_undefined_names, imported_names, rebinding_names
from jupyter_metaflow.notebook_io import read_notebook
from jupyter_metaflow.pysource import indent_code

REPO = Path(__file__).resolve().parents[3]


def nb_cells(*sources, tags=None):
    """Cells from sources; a source starting with 'MD:' is a markdown cell."""
    cells = []
    for i, src in enumerate(sources):
        kind = "code"
        if src.startswith("MD:"):
            kind, src = "markdown", src[3:]
        cells.append(CellInput(i, f"c{i}", kind, src, tuple((tags or {}).get(i, ()))))
    return cells


def run_check(flow_file: Path) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, METAFLOW_USER="tester", METAFLOW_DATASTORE_SYSROOT_LOCAL=str(flow_file.parent)
    )
    return subprocess.run(
        [sys.executable, str(flow_file), "--no-pylint", "check"],
        cwd=flow_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


FOREACH_NB = nb_cells(
    "MD:# Squares\nSquares some numbers.",
    "%load_ext jupyter_metaflow",
    "import math\n\nOFFSET = 1\n\ndef square(x):\n    return x * x",
    "%%flow SquaresFlow --count 4\ncount = Parameter('count', default=3, type=int)",
    "print('scratch', OFFSET)",
    "MD:Make the items.",
    "%%step start\n@retry(times=2)\nself.items = list(range(self.count))\n"
    "self.next(self.square, foreach='items')",
    "%%step square\nself.value = square(self.input) + OFFSET",
    "%%step gather\nself.total = sum(i.value for i in inputs)",
    "%%step end\nprint(self.total, math.pi)",
)

FOREACH_EXPECTED = '''# Exported from squares.ipynb by jupyter-metaflow; edit the notebook and export again.
from metaflow import FlowSpec, Parameter, retry, step


import math

OFFSET = 1

def square(x):
    return x * x


# notebook parameters: --count 4
class SquaresFlow(FlowSpec):
    """# Squares
    Squares some numbers.
    """

    count = Parameter('count', default=3, type=int)

    @retry(times=2)
    @step
    def start(self):
        """Make the items."""
        self.items = list(range(self.count))
        self.next(self.square, foreach='items')

    @step
    def square(self):
        self.value = square(self.input) + OFFSET
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(self.total, math.pi)


if __name__ == "__main__":
    SquaresFlow()
'''  # noqa: E501 (the header line the exporter writes)


def test_export_text_is_exactly_the_documented_layout():
    text = export_cells(FOREACH_NB, "notebooks/squares.ipynb")
    assert text == FOREACH_EXPECTED
    assert export_cells(FOREACH_NB, "notebooks/squares.ipynb") == text  # deterministic


@pytest.mark.kernel
def test_exported_flow_passes_metaflow_check(tmp_path):
    flow = tmp_path / "squares.py"
    flow.write_text(export_cells(FOREACH_NB, "squares.ipynb"))
    result = run_check(flow)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The graph looks good!" in result.stdout + result.stderr


def test_cell_ids_mark_every_exported_cell():
    text = export_cells(FOREACH_NB, "squares.ipynb", cell_ids=True)
    lines = text.splitlines()
    for marker in (
        "# cell: c2",
        "# cell: c3",
        "    # cell: c6",
        "    # cell: c7",
        "    # cell: c8",
        "    # cell: c9",
    ):
        assert marker in lines, marker
    assert lines[lines.index("    # cell: c6") + 1] == "    @retry(times=2)"
    assert "# cell: c4" not in text  # scratch cells are never exported
    assert text.replace("\n    # cell: c6", "").count("# cell:") == 5


def test_implied_transitions_joins_and_docs():
    cells = nb_cells(
        "MD:Flow doc",
        "%%step start\nself.next(self.a, self.b)",
        "%%step a\nself.x = 1\nself.next(self.join)",
        "MD:Branch b.",
        "%%step b\nself.x = 2",
        "%%step join\nself.x = max(i.x for i in inputs)",
        "%%step end",
    )
    tree = ast.parse(export_cells(cells))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}
    assert [a.arg for a in methods["join"].args.args] == ["self", "inputs"]
    assert [a.arg for a in methods["b"].args.args] == ["self"]
    assert ast.unparse(methods["b"].body[-1]) == "self.next(self.join)"
    assert ast.get_docstring(methods["b"]) == "Branch b."
    assert ast.unparse(methods["end"].body[-1]) == "pass"
    assert ast.get_docstring(cls) == "Flow doc"


def test_magics_and_scratch_cells_are_never_exported():
    cells = nb_cells(
        "%matplotlib inline\nimport os",
        "!pip list\nx = 1",
        "%%step start\nself.cwd = os.getcwd()",
        "%%step end",
        tags={0: ("module",)},
    )
    text = export_cells(cells)
    assert "%matplotlib" not in text and "pip list" not in text and "x = 1" not in text
    assert "\nimport os\n" in text


def test_multiline_strings_keep_their_content(tmp_path):
    cells = nb_cells(
        "%%step start\nself.q = '''\nSELECT *\n  FROM t\n'''\nself.s = \"\"\"a\n\"\"\"",
        "%%step end",
    )
    text = export_cells(cells)
    tree = ast.parse(text)
    values = [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]
    assert "\nSELECT *\n  FROM t\n" in values and "a\n" in values


def test_metaflow_names_are_imported_only_when_used_and_not_defined():
    cells = nb_cells(
        "from metaflow import FlowSpec, step, current",
        "%%step start\n@card\nprint(current.run_id)",
        "%%step end",
    )
    text = export_cells(cells)
    assert "from metaflow import card\n" in text
    assert text.count("from metaflow import") == 2


def test_metaflow_names_used_by_module_cells_are_imported_before_them(tmp_path):
    cells = nb_cells(
        "def run_id():\n    return current.run_id",
        "%%step start\nself.r = run_id()",
        "%%step end",
    )
    text = export_cells(cells)
    assert text.index("from metaflow import FlowSpec, current, step") < text.index("def run_id():")


def test_guard_names_scratch_and_undefined_names_with_cells_and_lines():
    cells = nb_cells(
        "import pandas as pd",
        "df = pd.DataFrame({'a': [1]})",
        "%%step start\nrows = len(df)\nself.n = rows + missing_name",
        "%%step end",
    )
    with pytest.raises(ExportError) as info:
        export_cells(cells)
    errors = {e.message.split("'")[3]: e for e in info.value.errors}
    assert set(errors) == {"df", "missing_name"}
    assert (errors["df"].cell_index, errors["df"].line) == (2, 2)
    assert (
        "only scratch cell 2 defines" in errors["df"].message
        and "step 'start'" in errors["df"].message.lower()
    )
    assert (errors["missing_name"].line, errors["missing_name"].code) == (3, "undefined-name")
    assert "tag cell 2 'module'" in errors["df"].fix
    assert "cell 3, line 2" in str(info.value)


def test_guard_tells_a_step_reading_a_flow_constant_bare_to_write_self():
    cells = nb_cells(
        "%%flow F\nLABELS = {'a': 1}", "%%step start\nself.n = len(LABELS)", "%%step end"
    )
    with pytest.raises(ExportError) as info:
        export_cells(cells)
    (error,) = info.value.errors
    assert (error.cell_index, error.line) == (1, 2)
    assert (
        "which the flow cell defines as a class attribute" in error.message
    )  # was "which no cell defines"
    assert error.fix == "Write self.LABELS."


def test_guard_ignores_locals_comprehensions_inputs_and_metaflow_names():
    cells = nb_cells(
        "import os",
        "%%step start\nimport json\nfrom collections import Counter\n"
        "data = [x * 2 for x in range(3)]\n"
        "f = lambda y: y + len(data)\ndef helper(z):\n    return z + f(1)\nclass K:\n    pass\n"
        "for i, j in enumerate(data):\n    pass\ntry:\n    pass\nexcept ValueError as exc:\n"
        "    print(exc)\n"
        "def counter():\n    global COUNTER\n    COUNTER = 1\n    return COUNTER\nmatch data:\n"
        "    case [first, *rest]:\n        pass\n"
        "self.c = Counter(json.dumps(data)) + counter() + first\n"
        "print(current.run_id, os.sep, K, helper(1))\n"
        "self.next(self.a, self.b)",
        "%%step a\nself.next(self.join)",
        "%%step b\nself.next(self.join)",
        "%%step join\nself.n = len(inputs)",
        "%%step end",
    )
    model = assemble(cells)
    assert model.is_join("join")
    assert find_undefined_names(model, cells) == []


def test_guard_explains_inputs_outside_a_join():
    cells = nb_cells("%%step start\nself.n = len(inputs)", "%%step end")
    with pytest.raises(ExportError) as info:
        export_cells(cells)
    (err,) = info.value.errors
    assert "is not a join" in err.message and err.line == 2


def test_guard_checks_decorators_flow_cell_and_module_functions():
    cells = nb_cells(
        "N = compute_n()",
        "def helper():\n    return N + OTHER",
        "%%flow F\nalpha = Parameter('alpha', default=N)",
        "%%step start\n@retry(times=N)\nself.h = helper()",
        "%%step end",
    )
    model = assemble(cells)
    found = {(p.name, p.where, p.cell_index, p.line) for p in find_undefined_names(model, cells)}
    assert found == {
        ("N", "module cell 2", 1, 2),
        ("OTHER", "module cell 2", 1, 2),
        ("N", "the flow cell", 2, 2),
        ("N", "step 'start'", 3, 2),
    }


def test_decorator_may_use_flow_cell_constants():
    cells = nb_cells("%%flow F\nTIMES = 2", "%%step start\n@retry(times=TIMES)\npass", "%%step end")
    assert "@retry(times=TIMES)" in export_cells(cells)


def test_a_step_cell_repeating_step_gets_one():
    text = export_cells(nb_cells("%%step start\n@step\n@retry(times=1)\npass", "%%step end\n@step"))
    assert text.count("@step") == 2 and "@retry(times=1)\n    @step\n    def start(self):" in text


@pytest.mark.parametrize(
    "sources,code",
    [
        (("import os",), "no-steps"),
        (("%%step begin", "%%step end"), "missing-start"),
        (("%%step start",), "missing-end"),
        (("%%flow A", "%%flow B", "%%step start", "%%step end"), "two-flow-cells"),
        (("%%step start", "%%step start", "%%step end"), "duplicate-step"),
        (("%%step start\nself.next(self.nowhere)", "%%step end"), "unknown-target"),
        (("%%step start\nx = (", "%%step end"), "syntax-error"),
    ],
)
def test_cell_rule_errors_stop_the_export(sources, code):
    with pytest.raises(ExportError) as info:
        export_cells(nb_cells(*sources))
    assert code in {e.code for e in info.value.errors}
    assert all(e.fix for e in info.value.errors)


def test_a_magic_below_a_comment_is_named_with_its_cell_and_line():
    with pytest.raises(ExportError) as info:
        export_cells(
            nb_cells("%%step start", "x = 1", "# the last step\n%%step end\nprint('done')")
        )
    first = info.value.errors[0]
    assert (first.code, first.cell_index, first.line) == ("misplaced-magic", 2, 2)
    assert "Move the %%step line to the top of the cell" in first.fix
    with pytest.raises(ExportError) as info:
        export_cells(nb_cells("\n  %%step start", "%%step end"))
    first = info.value.errors[0]
    assert (first.code, first.line) == ("misplaced-magic", 2)
    assert (
        "%%step start is indented" in first.message
        and first.fix == "Remove the spaces before %%step."
    )


def test_metaflow_lint_errors_are_mapped_to_cells():
    # a foreach whose body runs straight into end is never joined
    cells = nb_cells(
        "%%step start\nself.items = [1]\nself.next(self.body, foreach='items')",
        "%%step body\nself.y = self.input",
        "%%step end",
    )
    with pytest.raises(ExportError) as info:
        export_cells(cells)
    (err,) = info.value.errors
    assert err.code == "lint" and "joined" in err.message
    assert err.cell_index == 2  # Metaflow reports it at the end step


def test_lint_line_points_at_the_cells_transition():
    cells = nb_cells(
        "%%step start\nself.x = 1\n\nself.next(self.start)",
        "%%step end",
    )
    with pytest.raises(ExportError) as info:
        export_cells(cells)
    err = info.value.errors[0]
    assert err.code in ("cycle", "lint") and err.cell_index == 0 and err.line == 4


@pytest.mark.parametrize(
    "body, line",
    [
        ("self.x = 1\nawait self.x", 3),
        ("nonlocal x\nself.next(self.end)", 2),
    ],
)
def test_code_only_the_compiler_rejects_in_a_step_is_located(body, line):
    cells = nb_cells("%%step start\n" + body, "%%step end")
    with pytest.raises(ExportError) as info:
        export_cells(cells)
    (err,) = info.value.errors
    assert (err.code, err.cell_index, err.line) == ("syntax-error", 0, line)


def test_module_cell_tagged_with_syntax_error_is_reported():
    cells = nb_cells("def broken(:", "%%step start", "%%step end", tags={0: ("module",)})
    with pytest.raises(ExportError, match="module cell"):
        export_cells(cells)


def test_crlf_markdown_gives_no_carriage_returns_and_check_stays_current(tmp_path):
    cells = nb_cells(
        "MD:# Title\r\nline two\r\n",
        "MD:Step doc\r\nsecond",
        "%%step start\r\nself.x = 1\r\n",
        "%%step end",
    )
    text = export_cells(cells, "crlf.ipynb")
    assert "\r" not in text and '    """# Title\n    line two\n    """' in text
    flow = tmp_path / "crlf.py"
    write_atomic(flow, text)
    assert check_flow_file(flow, export_cells(cells, "crlf.ipynb")) == ""


@pytest.mark.kernel
def test_future_imports_go_first_and_the_file_runs(tmp_path):
    cells = nb_cells(
        "import math",
        "from __future__ import annotations\n\ndef half(x: Undefined) -> float:\n    return x / 2",
        "%%step start\nself.run = current.run_id\nself.x = half(math.pi)",
        "%%step end",
    )
    text = export_cells(cells, "future.ipynb")
    assert text.splitlines()[1:3] == [
        "from __future__ import annotations",
        "from metaflow import FlowSpec, current, step",
    ]
    flow = tmp_path / "future.py"
    flow.write_text(text)
    result = run_check(flow)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "sources,tags,where,message",
    [
        (
            ("import os\nfrom __future__ import annotations",),
            {},
            (0, 2),
            "Syntax error in a module cell: from __future__",
        ),
        (("x = 1\nreturn x",), {0: ("module",)}, (0, 2), "'return' outside function"),
        (
            ("%%flow F\nx = 1\n\nyield x",),
            {},
            (0, 4),
            "Syntax error in the flow cell: 'yield' outside function",
        ),
    ],
)
def test_code_only_the_compiler_rejects_in_module_and_flow_cells(sources, tags, where, message):
    with pytest.raises(ExportError, match=message) as info:
        export_cells(nb_cells(*sources, "%%step start", "%%step end", tags=tags))
    (err,) = info.value.errors
    assert (err.cell_index, err.line, err.code) == (*where, "syntax-error")


def write_nb(path: Path, cells) -> Path:
    nb = nbformat.v4.new_notebook()
    for c in cells:
        if c.cell_type == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(c.source))
        else:
            cell = nbformat.v4.new_code_cell(c.source)
            if c.tags:
                cell.metadata["tags"] = list(c.tags)
            nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def test_read_notebook_bad_inputs(tmp_path):
    with pytest.raises(ExportError, match="Cannot read"):
        read_notebook(tmp_path / "missing.ipynb")
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(ExportError, match="not valid JSON"):
        read_notebook(tmp_path / "bad.ipynb")
    (tmp_path / "list.ipynb").write_text("[1, 2]")
    with pytest.raises(ExportError, match="no 'nbformat'"):
        read_notebook(tmp_path / "list.ipynb")
    (tmp_path / "future.ipynb").write_text(
        json.dumps({"nbformat": 99, "nbformat_minor": 0, "cells": [], "metadata": {}})
    )
    with pytest.raises(ExportError, match="version 99, which cannot be upgraded"):
        read_notebook(tmp_path / "future.ipynb")
    (tmp_path / "v1.ipynb").write_text(
        json.dumps({"nbformat": 1, "nbformat_minor": 0, "metadata": {}})
    )
    with pytest.raises(ExportError, match="version 1, which cannot be upgraded"):
        read_notebook(tmp_path / "v1.ipynb")
    (tmp_path / "ints.ipynb").write_text(
        json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": [1], "metadata": {}})
    )
    with pytest.raises(ExportError, match="is not a valid notebook"):
        read_notebook(tmp_path / "ints.ipynb")
    cell = {
        "cell_type": "code",
        "source": 5,
        "metadata": {},
        "outputs": [],
        "execution_count": None,
    }
    (tmp_path / "src.ipynb").write_text(
        json.dumps({"nbformat": 4, "nbformat_minor": 4, "cells": [cell], "metadata": {}})
    )
    with pytest.raises(ExportError, match="cell 1 has no text source"):
        read_notebook(tmp_path / "src.ipynb")


def test_read_notebook_accepts_a_utf8_bom(tmp_path):
    path = write_nb(tmp_path / "bom.ipynb", nb_cells("%%step start", "%%step end"))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert [c.source for c in read_notebook(path)] == ["%%step start", "%%step end"]


def test_read_notebook_upgrades_v3(tmp_path):
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "input": "%%step start\nself.x = 1",
                        "language": "python",
                        "outputs": [],
                        "metadata": {},
                    },
                    {
                        "cell_type": "code",
                        "input": "%%step end",
                        "language": "python",
                        "outputs": [],
                        "metadata": {},
                    },
                ],
                "metadata": {},
            }
        ],
    }
    path = tmp_path / "old_style.ipynb"
    path.write_text(json.dumps(v3))
    assert "class OldStyleFlow(FlowSpec):" in export_notebook(path)


def test_write_atomic_never_overwrites_without_force(tmp_path):
    target = tmp_path / "flow.py"
    assert write_atomic(target, "a = 1\n") is True
    assert write_atomic(target, "a = 1\n") is False  # identical: nothing to do
    with pytest.raises(ExportError, match="--force"):
        write_atomic(target, "a = 2\n")
    assert target.read_text() == "a = 1\n"
    os.chmod(target, 0o640)
    assert write_atomic(target, "a = 2\n", force=True) is True
    assert target.read_text() == "a = 2\n"
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.py"]  # no temp files left


def test_write_atomic_writes_through_a_symbolic_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "flow.py"
    target.write_text("old\n")
    link = tmp_path / "flow.py"
    link.symlink_to(target)
    assert write_atomic(link, "new\n", force=True)
    assert link.is_symlink() and target.read_text() == "new\n"  # the link was replaced by a file


def test_write_atomic_refuses_a_dangling_symbolic_link(tmp_path):
    """A notebook folder may ship flow.py -> a file that does not exist (anywhere): writing
    through it would create that file."""
    target = tmp_path / "elsewhere" / "created.txt"
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "flow.py"
    link.symlink_to(target)
    for force in (False, True):
        with pytest.raises(
            ExportError, match=r"symbolic link to .*created\.txt, which does not exist"
        ):
            write_atomic(link, "new\n", force=force)
    assert not target.exists() and link.is_symlink()


def test_the_runtime_flow_file_is_never_written_through_a_link(tmp_path):
    from jupyter_metaflow.native_runtime import RuntimeRunFailed, generated_flow_file

    target = tmp_path / "created.py"
    (tmp_path / "nb.nbflow.py").symlink_to(target)
    cells = nb_cells("%%step start\nself.next(self.end)", "%%step end")
    with pytest.raises(RuntimeRunFailed, match="is a symbolic link"):
        generated_flow_file(cells, str(tmp_path / "nb.ipynb"), "NbFlow", tmp_path)
    assert not target.exists()


def test_check_flow_file_diff(tmp_path):
    target = tmp_path / "flow.py"
    assert check_flow_file(target, "x\n").startswith("--- ")  # missing file differs
    target.write_text("x\n")
    assert check_flow_file(target, "x\n") == ""
    diff = check_flow_file(target, "y\n")
    assert "-x" in diff and "+y" in diff


def test_indent_code_keeps_string_lines():
    code = "a = '''\nraw\n'''\nif a:\n    b = 1"
    assert indent_code(code, "  ") == "  a = '''\nraw\n'''\n  if a:\n      b = 1"


EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.ipynb") if "%%step" in p.read_text())


@pytest.mark.parametrize("notebook", EXAMPLES, ids=[p.name for p in EXAMPLES])
@pytest.mark.kernel
def test_examples_export_and_pass_metaflow_check(notebook, tmp_path):
    flow = tmp_path / (notebook.stem + ".py")
    flow.write_text(export_notebook(notebook))
    for extra in notebook.parent.glob("*"):
        if extra.suffix not in (".ipynb", ".py") and extra.is_file():
            (tmp_path / extra.name).write_bytes(extra.read_bytes())
    result = run_check(flow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_guard_reads_a_star_imported_file_again_when_it_changes(tmp_path):
    """The checks remember what each cell's text binds, not what a star import brings: the
    module's file is read each time (an edited helper file is seen)."""
    module = f"star_helpers_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text("SCALE = 2\n")
    cells = nb_cells(
        f"from {module} import *", "%%step start\nself.x = SCALE * OFFSET", "%%step end"
    )
    model = assemble(cells)
    names = {p.name for p in find_undefined_names(model, cells, str(tmp_path))}
    assert names == {"OFFSET"}
    (tmp_path / f"{module}.py").write_text("SCALE = 2\nOFFSET = 1\n")
    assert find_undefined_names(model, cells, str(tmp_path)) == []


def test_what_a_cell_binds_by_import_and_otherwise():
    """What tells a scratch cell's new value for a module cell's name from the same import."""
    source = (
        "import os\nimport os.path as osp\nimport xml.dom\nfrom ..pkg import thing as t\n"
        "from operator import pos\nf = lambda x: x\ndef g():\n    pass\nfor i in []:\n    pass"
    )
    assert imported_names(source) == {
        "os": "os",
        "osp": "os.path",
        "xml": "xml",
        "t": "from ..pkg import thing",
        "pos": "from operator import pos",
    }
    assert rebinding_names(source) == {"f", "g", "i"}
    assert imported_names("x = (") == {} and rebinding_names("x = (") == set()
