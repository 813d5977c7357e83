"""flow.py -> notebook (jupyter_metaflow.importer) and export(import(f)) fidelity.

Inputs: Metaflow's own tutorial flows, read from the installed package (hello world,
playlists, statistics, hello-cloud), and our flows in ``tests/flows/`` written in the same
style (IncludeFile/Parameters and a branch, a decorated foreach, nested foreach with helper
code and a join argument not named ``inputs``, a switch). For each, export(import(f)) must
have the same Metaflow ``FlowGraph`` (node types, transitions, joins), the same decorators
and the same step code as ``f``.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import io
import operator
import re
import shutil
import tokenize
from pathlib import Path

import nbformat
import pytest

from jupyter_metaflow.cells import CellInput, CellKind, classify
from jupyter_metaflow.export import export_cells
from jupyter_metaflow.importer import FlowImportError, import_flow, import_flow_file

FLOWS = Path(__file__).parents[1] / "flows"
FLOW_FILES = sorted(FLOWS.glob("*.py"))


def _tutorial_files() -> list[Path]:
    """Metaflow's own tutorial flows, as installed with the package (not copied here)."""
    import metaflow

    return sorted((Path(metaflow.__file__).parent / "tutorials").glob("*/*.py"))


TUTORIALS = _tutorial_files()


def load_flow_class(path: Path):
    """Load a flow file as Metaflow does (module from file, FlowSpec subclass)."""
    from metaflow import FlowSpec

    spec = importlib.util.spec_from_file_location(f"jmf_test_{path.stem}_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, FlowSpec) and v is not FlowSpec
    ]
    assert len(classes) == 1
    return classes[0]


def graph_summary(cls):
    graph = cls._graph
    return {
        node.name: {
            "type": node.type,
            "out_funcs": list(node.out_funcs),
            "in_funcs": sorted(node.in_funcs),
            "num_args": node.num_args,
            "foreach_param": node.foreach_param,
            "condition": node.condition,
            "switch_cases": dict(node.switch_cases),
            "matching_join": node.matching_join,
            "decorators": [(d.name, dict(d.attributes)) for d in node.decorators],
            "doc": node.doc,
        }
        for node in graph
    }


def step_code(path: Path) -> dict[str, tuple[list[str], str]]:
    """{step: (decorator sources, body AST dump without docstring)}; a renamed join argument
    (``results`` -> ``inputs`` plus ``results = inputs``) counts as the same code."""
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    out = {}
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef) or not any(
            ast.unparse(d) == "step" for d in fn.decorator_list
        ):
            continue
        body = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
        if len(fn.args.args) == 2 and fn.args.args[1].arg != "inputs":
            alias = ast.parse(f"{fn.args.args[1].arg} = inputs").body
            body = alias + body
        decorators = [ast.unparse(d) for d in fn.decorator_list if ast.unparse(d) != "step"]
        out[fn.name] = (decorators, ast.dump(ast.Module(body=body, type_ignores=[])))
    return out


@pytest.mark.parametrize(
    "flow_file",
    FLOW_FILES + TUTORIALS,
    ids=[p.stem for p in FLOW_FILES] + ["tutorial-" + p.parent.name for p in TUTORIALS],
)
def test_export_of_import_keeps_graph_decorators_and_code(flow_file, tmp_path):
    for f in flow_file.parent.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    original = tmp_path / flow_file.name
    nb = import_flow_file(original)
    nbformat.validate(nb)
    cells = [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)]
    exported = tmp_path / ("rt_" + flow_file.name)
    exported.write_text(export_cells(cells, flow_file.stem + ".ipynb"))

    a, b = load_flow_class(original), load_flow_class(exported)
    assert a.__name__ == b.__name__
    assert graph_summary(a) == graph_summary(b)
    code_a, code_b = step_code(original), step_code(exported)
    assert code_a == code_b
    # parameters and class-level code survive (same values as attributes of the class)
    for attr in ("genre", "recommendations", "movie_data", "max_depth", "SEED", "mode"):
        if hasattr(a, attr):
            assert type(getattr(a, attr)) is type(getattr(b, attr)), attr


def _comments(text: str) -> list[str]:
    return [
        t.string
        for t in tokenize.generate_tokens(io.StringIO(text).readline)
        if t.type == tokenize.COMMENT
    ]


@pytest.mark.parametrize(
    "flow_file",
    FLOW_FILES + TUTORIALS,
    ids=[p.stem for p in FLOW_FILES] + ["tutorial-" + p.parent.name for p in TUTORIALS],
)
def test_every_comment_survives_import_and_export(flow_file):
    """Each comment of the file is in the notebook (a raw cell keeps a __main__ block with
    comments), and each comment of a code cell is in the export."""
    nb = import_flow_file(flow_file)
    code = [c for c in nb.cells if c.cell_type == "code"]
    raw = [c for c in nb.cells if c.cell_type == "raw"]
    in_cells = sorted(
        functools.reduce(operator.iadd, (_comments(c.source) for c in code + raw), [])
    )
    assert in_cells == sorted(_comments(flow_file.read_text()))
    text = export_cells(
        [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], flow_file.stem + ".ipynb"
    )
    exported = _comments(text)
    for comment in functools.reduce(operator.iadd, (_comments(c.source) for c in code), []):
        assert comment in exported, comment
        exported.remove(comment)


@pytest.mark.parametrize("flow_file", FLOW_FILES, ids=[p.stem for p in FLOW_FILES])
def test_import_cells_follow_the_contract(flow_file):
    nb = import_flow_file(flow_file)
    kinds = [classify(CellInput.from_nbformat(i, c)) for i, c in enumerate(nb.cells)]
    assert kinds.count(CellKind.FLOW) == 1
    assert kinds[kinds.index(CellKind.FLOW) :].count(CellKind.MODULE) == 0  # module code first
    assert nb.cells[kinds.index(CellKind.FLOW) - 1].cell_type in ("code", "markdown")
    assert any(c.source == "%load_ext jupyter_metaflow" for c in nb.cells)
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def test_import_puts_docstrings_in_markdown_and_decorators_under_magic():
    nb = import_flow_file(FLOWS / "statistics.py")
    sources = [c.source for c in nb.cells]
    assert sources[0].startswith("A flow to generate some statistics about the movie genres.")
    step = next(s for s in sources if s.startswith("%%step compute_statistics"))
    assert step.splitlines()[1:4] == [
        '@catch(var="compute_failed")',
        "@retry(times=1)",
        "@resources(memory=1024, cpu=1)",
    ]
    index = sources.index(step)
    assert nb.cells[index - 1].cell_type == "markdown"
    assert nb.cells[index - 1].source == "Compute statistics for a single genre."
    # comments inside the step survive
    assert "# The genre currently being processed is a class property called" in step
    flow_cell = next(s for s in sources if s.startswith("%%flow"))
    assert flow_cell.startswith("%%flow MovieStatsFlow\nmovie_data = IncludeFile(")


def test_nested_flow_helpers_and_renamed_join_argument():
    nb = import_flow_file(FLOWS / "nested_foreach.py")
    sources = [c.source for c in nb.cells]
    flow_cell = next(s for s in sources if s.startswith("%%flow"))
    assert "def depths(self):" in flow_cell and "SEED = 7" in flow_cell
    join = next(s for s in sources if s.startswith("%%step best_depth"))
    assert join.splitlines()[1] == "results = inputs"
    assert any(s.startswith("def score(rate, depth):") for s in sources)


def test_own_export_round_trips_byte_for_byte(tmp_path):
    source = (FLOWS / "playlist.py").read_text()
    cells = [
        CellInput.from_nbformat(i, c)
        for i, c in enumerate(import_flow(source, "playlist.py").cells)
    ]
    first = export_cells(cells, "playlist.ipynb", cell_ids=True)
    cells2 = [
        CellInput.from_nbformat(i, c) for i, c in enumerate(import_flow(first, "playlist.py").cells)
    ]
    assert export_cells(cells2, "playlist.ipynb", cell_ids=True) == first
    assert [c.id for c in cells2] == [c.id for c in cells]


def test_future_imports_round_trip_byte_for_byte():
    cells = [
        CellInput(0, "m", "code", "from __future__ import annotations\nimport math", ()),
        CellInput(1, "s", "code", "%%step start\nself.run = current.run_id\nself.pi = math.pi", ()),
        CellInput(2, "e", "code", "%%step end", ()),
    ]
    first = export_cells(cells, "future.ipynb")
    nb = import_flow(first, "future.py")
    assert [c.source for c in nb.cells[1:3]] == [
        "from __future__ import annotations",
        "import math",
    ]
    assert (
        export_cells(
            [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], "future.ipynb"
        )
        == first
    )


def test_form_feeds_and_line_separators_do_not_shift_lines():
    src = (
        "from metaflow import FlowSpec, step\n\x0c\n\ndef helper():\n    return 'a\u2028b'\n\n\n"
        "class PagedFlow(FlowSpec):\n    @step\n    def start(self):\n"
        "        self.s = helper() + 'c\x0cd'\n"
        "        self.next(self.end)\n\x0c\n    @step\n    def end(self):\n        pass\n"
    )
    nb = import_flow(src, "paged.py")
    sources = [c.source for c in nb.cells]
    assert "def helper():\n    return 'a\u2028b'" in sources
    assert "%%step start\nself.s = helper() + 'c\x0cd'\nself.next(self.end)" in sources
    text = export_cells(
        [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], "paged.ipynb"
    )
    assert "        self.s = helper() + 'c\x0cd'\n" in text


@pytest.mark.parametrize(
    "main,kept",
    [
        ("if __name__ == '__main__':\n    MainFlow()\n", False),
        (
            "if __name__ == '__main__':\n    logging.basicConfig(level=logging.INFO)\n"
            "    MainFlow()\n",
            True,
        ),
    ],
)
def test_a_main_block_doing_more_than_running_the_flow_is_kept_as_a_raw_cell(main, kept):
    src = (
        "import logging\nfrom metaflow import FlowSpec, step\n\n\nclass MainFlow(FlowSpec):\n"
        "    @step\n"
        "    def start(self):\n        self.next(self.end)\n\n    @step\n    def end(self):\n"
        "        pass\n\n\n" + main
    )
    nb = import_flow(src, "main.py")
    raw = [c.source for c in nb.cells if c.cell_type == "raw"]
    assert raw == ([main.rstrip("\n")] if kept else [])
    text = export_cells(
        [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], "main.ipynb"
    )
    assert text.endswith('if __name__ == "__main__":\n    MainFlow()\n')


def test_cell_markers_keep_module_cells_with_blank_lines_whole():
    cells = [
        CellInput(0, "imports", "code", "import os\n\n\nLIMIT = 3", ()),
        CellInput(1, None, "code", "def half(x):\n    return x / 2\n\n\nTWO = 2", ()),
        CellInput(2, "s", "code", "%%step start\nself.x = half(LIMIT) + TWO", ()),
        CellInput(3, "e", "code", "%%step end", ()),
    ]
    nb = import_flow(export_cells(cells, "blank.ipynb", cell_ids=True), "blank.py")
    module = [(c.id, c.source) for c in nb.cells if c.source in (cells[0].source, cells[1].source)]
    assert [source for _, source in module] == [cells[0].source, cells[1].source]  # not four cells
    assert module[0][0] == "imports"


def test_non_module_statements_get_the_module_tag():
    src = (
        "import os\nfrom metaflow import FlowSpec, step\n\n\nDATA_DIR = os.environ.get('X', '.')\n"
        "\n\n"
        "class F(FlowSpec):\n    @step\n    def start(self):\n        self.d = DATA_DIR\n"
        "        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n"
    )
    nb = import_flow(src, "f.py")
    cell = next(c for c in nb.cells if c.source.startswith("DATA_DIR"))
    assert cell.metadata["tags"] == ["module"]
    cells = [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)]
    assert "DATA_DIR = os.environ.get('X', '.')" in export_cells(cells)


@pytest.mark.parametrize(
    "source,message",
    [
        ("import os\n", "defines no FlowSpec class"),
        (
            "from metaflow import FlowSpec, step\nclass A(FlowSpec):\n    @step\n"
            "    def start(self):\n        self.next(self.end)\n"
            "    @step\n    def end(self):\n        pass\nclass B(FlowSpec):\n    pass\n",
            "defines 2 FlowSpec classes (A, B)",
        ),
        (
            "import metaflow\nfrom metaflow import step\nclass Base(metaflow.FlowSpec):\n    pass\n"
            "class Child(Base):\n"
            "    @step\n    def start(self):\n        self.next(self.end)\n    @step\n"
            "    def end(self):\n        pass\n",
            "Child must derive from FlowSpec directly (bases: Base)",
        ),
        (
            "from metaflow import FlowSpec, step\nclass A(FlowSpec):\n    @step\n"
            "    def start(self):\n        self.next(self.Up)\n"
            "    @step\n    def Up(self):\n        self.next(self.end)\n    @step\n"
            "    def end(self):\n        pass\n",
            "bad.py does not follow Metaflow's rules: line 7: The step has the invalid name 'Up'.",
        ),
        ("def broken(:\n", "syntax error"),
        ("from metaflow import FlowSpec\nclass A(FlowSpec):\n    x = 1\n", "no @step methods"),
        (
            "from metaflow import FlowSpec, step\nclass A(FlowSpec):\n    @step\n"
            "    def start(self):\n        self.next(self.nowhere)\n"
            "    @step\n    def end(self):\n        pass\n",
            "nowhere",
        ),
    ],
)
def test_import_bad_flow_files(source, message):
    with pytest.raises(FlowImportError, match=re.escape(message)):
        import_flow(source, "bad.py")


def test_a_file_with_a_utf8_bom_imports_as_python_runs_it(tmp_path):
    flow = tmp_path / "helloworld.py"
    flow.write_bytes(b"\xef\xbb\xbf" + (FLOWS / "helloworld.py").read_bytes())
    nb = import_flow_file(flow)  # was 'syntax error (invalid non-printable character U+FEFF)'
    assert not any("\ufeff" in c.source for c in nb.cells)


def test_import_unreadable_file(tmp_path):
    with pytest.raises(FlowImportError, match="Cannot read"):
        import_flow_file(tmp_path / "nope.py")


def test_flow_line_parameter_values_survive_export_and_import():
    cells = [
        CellInput(
            0,
            "f",
            "code",
            "%%flow GreetFlow --greeting 'Hi there' --repeat 3\n"
            "greeting = Parameter('greeting', default='Hello')\nrepeat = Parameter('repeat', "
            "default=1)",
            (),
        ),
        CellInput(1, "s", "code", "%%step start\nself.m = self.greeting * self.repeat", ()),
        CellInput(2, "e", "code", "%%step end", ()),
    ]
    text = export_cells(cells, "greet.ipynb")
    assert (
        "\n# notebook parameters: --greeting 'Hi there' --repeat 3\nclass GreetFlow(FlowSpec):\n"
        in text
    )
    nb = import_flow(text, "greet.py")
    flow_line = next(c.source.splitlines()[0] for c in nb.cells if c.source.startswith("%%flow"))
    assert flow_line == "%%flow GreetFlow --greeting 'Hi there' --repeat 3"
    again = export_cells(
        [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], "greet.ipynb"
    )
    assert again == text


def test_multiline_class_decorators_comments_and_step_docs_without_a_flow_doc():
    src = (
        "from metaflow import FlowSpec, step, project, resources\n\n\n"
        '@project(\n    name="multi_deco",\n)\nclass MultiDecoFlow(FlowSpec):\n'
        "    # a comment in the class body\n    LIMIT = 3\n\n"
        "    @resources(\n        cpu=1,\n        memory=512,\n    )\n    @step\n"
        "    def start(self):\n"
        "        # first comment\n        self.x = 1\n        self.next(self.end)\n\n"
        '    @step\n    def end(self):\n        """Only a docstring."""\n'
    )
    nb = import_flow(src, "multi_deco.py")
    sources = [c.source for c in nb.cells]
    assert sources[0] == "# MultiDecoFlow"
    assert (
        '%%flow MultiDecoFlow\n@project(\n    name="multi_deco",\n)\n'
        "# a comment in the class body\nLIMIT = 3" in sources
    )
    assert (
        "%%step start\n@resources(\n    cpu=1,\n    memory=512,\n)\n# first comment\nself.x = 1\n"
        "self.next(self.end)" in sources
    )
    text = export_cells(
        [CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], "multi_deco.ipynb"
    )
    tree = ast.parse(text)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    end = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "end")
    assert ast.get_docstring(end) == "Only a docstring."
    assert "    @resources(\n        cpu=1,\n        memory=512,\n    )\n    @step\n" in text
