"""Code text shared by the kernel and the exporter: one indenting rule, multi-line strings and
(from Python 3.12, where an f-string is several tokens) multi-line f-strings kept as written."""

from __future__ import annotations

import sys

import pytest

from jupyter_metaflow.assembly import assemble
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.export import export_cells
from jupyter_metaflow.flowbuild import compile_step
from jupyter_metaflow.pysource import indent_code, metaflow_names, string_continuation_lines

FSTRING_STEP = (
    "%%step start\n"
    "n = 2\n"
    'self.msg = f"""first\n'
    "  {n} indented {f'''inner\n"
    "nested {n}'''}\n"
    'last {n!r:>{n}}"""\n'
    'self.plain = """a\n'
    '  b"""'
)


def test_multi_line_strings_and_f_strings_keep_their_lines():
    body = FSTRING_STEP.split("\n", 1)[1]
    assert string_continuation_lines(body) == {3, 4, 5, 7}
    assert indent_code(body, "    ").split("\n") == [
        "    n = 2",
        '    self.msg = f"""first',
        "  {n} indented {f'''inner",
        "nested {n}'''}",
        'last {n!r:>{n}}"""',
        '    self.plain = """a',
        '  b"""',
    ]


def test_only_code_lines_are_indented_and_blank_lines_are_empty():
    assert indent_code("a = 1\n   \nif a:\n    b = '''x\n y'''", "  ") == (
        "  a = 1\n\n  if a:\n      b = '''x\n y'''"
    )
    assert string_continuation_lines("x = 1\ny = 'a' \\\n  'b'") == set()
    assert string_continuation_lines("x = 'a\\\nb'") == {2}


def test_the_kernel_compiles_a_step_as_the_export_writes_it():
    cells = [CellInput(0, "c0", "code", FSTRING_STEP), CellInput(1, "c1", "code", "%%step end")]
    model = assemble(cells, "fstrings.ipynb")
    compiled = compile_step(model, model.step("start"))
    import linecache

    kernel = [line for line in linecache.getlines(compiled.filename) if line.strip()]
    exported = export_cells(cells, "fstrings.ipynb").splitlines(True)
    start = exported.index("    def start(self):\n")
    assert kernel[0] == "    def start(self):\n"
    assert kernel[1:] == exported[start + 1 : start + len(kernel)]


def test_metaflow_names_are_its_public_non_module_names():
    names = metaflow_names()
    assert {"FlowSpec", "step", "Parameter", "current", "card"} <= names
    assert "plugins" not in names and not any(n.startswith("_") for n in names)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="f-strings are single tokens before 3.12")
def test_on_312_the_f_string_is_tokenized_in_parts():
    import io
    import tokenize

    kinds = {
        tokenize.tok_name[t.type]
        for t in tokenize.generate_tokens(io.StringIO(FSTRING_STEP).readline)
    }
    assert {"FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END"} <= kinds
