"""The notebook contract (jupyter_metaflow.cells).

The shared vectors in ``vectors/assembly.json`` are the contract the TypeScript frontend
mirrors; their format is documented in that file's ``description`` key: each case's
``expected`` is a subset of ``FlowModel.to_json()`` (objects: listed keys must match; lists:
same length, element-wise subset match; scalars: ==).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_metaflow.assembly import assemble, flow_name_from_path
from jupyter_metaflow.cells import (
    CellInput,
    CellKind,
    CellRulesError,
    classify,
    parse_flow_cell,
    parse_step_cell,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "assembly.json").read_text("utf-8"))


def cells_from(case_cells):
    return [
        CellInput(i, c.get("id"), c["cell_type"], c["source"], tuple(c.get("tags", ())))
        for i, c in enumerate(case_cells)
    ]


def assert_subset(expected, actual, path="$"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}: missing key {key!r}"
            assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(expected) == len(actual), (
            f"{path}: expected {len(expected)} items, got {actual!r}"
        )
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_subset(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def test_vectors_cover_every_error_code():
    codes = {err["code"] for case in VECTORS["cases"] for err in case["expected"].get("errors", [])}
    assert codes >= {
        "duplicate-step",
        "unknown-target",
        "missing-start",
        "missing-end",
        "no-steps",
        "two-flow-cells",
        "flow-after-step",
        "bad-magic",
        "syntax-error",
        "cycle",
        "bad-step-name",
        "bad-transition",
        "end-has-next",
        "no-next",
    }
    assert len(VECTORS["cases"]) >= 25


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_vector(case):
    model = assemble(cells_from(case["cells"]), case.get("notebook_name"))
    actual = model.to_json()
    json.dumps(actual)  # plain JSON
    assert_subset(case["expected"], actual)
    for err in actual["errors"]:
        assert err["message"] and err["fix"], err


def test_from_nbformat_reads_list_sources_tags_and_id():
    cell = {
        "cell_type": "code",
        "id": "abc",
        "metadata": {"tags": ["module"]},
        "source": ["x = 1\n", "y = 2"],
    }
    ci = CellInput.from_nbformat(3, cell)
    assert ci == CellInput(3, "abc", "code", "x = 1\ny = 2", ("module",))
    assert (
        CellInput.from_nbformat(0, {"cell_type": "markdown", "metadata": {}, "source": "# x"}).tags
        == ()
    )


@pytest.mark.parametrize(
    "source,tags,kind",
    [
        ("%%flow X", (), CellKind.FLOW),
        ("\n\n%%step start\n", (), CellKind.STEP),
        ("%%stepper x", (), CellKind.SCRATCH),
        ("x = 1", ("flow:F",), CellKind.FLOW),
        ("x = 1", ("step:a",), CellKind.STEP),
        ("print(1)", ("module",), CellKind.MODULE),
        ("import os", ("skip",), CellKind.SCRATCH),
        ("", (), CellKind.SCRATCH),
        ("X = (1, -2.0, 'a', b'b', None, True, ...)", (), CellKind.MODULE),
        ("X = -True", (), CellKind.SCRATCH),
        ("X = [i for i in range(3)]", (), CellKind.SCRATCH),
        ("X = {**{}}", (), CellKind.SCRATCH),
        ("obj[0] = 1", (), CellKind.SCRATCH),
        ("  %time x = 1", (), CellKind.SCRATCH),
    ],
)
def test_classify(source, tags, kind):
    assert classify(CellInput(0, None, "code", source, tags)) is kind


def test_classify_non_code():
    assert classify(CellInput(0, None, "markdown", "%%step x", ())) is CellKind.MARKDOWN
    assert classify(CellInput(0, None, "raw", "x = 1", ())) is CellKind.OTHER


def test_step_body_line_mapping_is_exact():
    src = (
        "%%step train\n@retry(times=2)\n@resources(\n    cpu=2,\n)\nimport os\n\n"
        "self.a = 1\nself.next(self.end)\n"
    )
    step = parse_step_cell(CellInput(0, "x", "code", src, ()))
    cell_lines = src.splitlines()
    for k, line in enumerate(step.body.splitlines(), 1):
        assert cell_lines[step.body_line + k - 2].strip() == line.strip()
    assert step.body_line == 6
    assert step.decorator_lines == [2, 3]
    assert step.transition.line == 9
    assert not step.is_end


def test_step_body_is_dedented():
    step = parse_step_cell(
        CellInput(0, None, "code", "%%step start\n    x = 1\n    if x:\n        y = 2\n", ())
    )
    assert step.body == "x = 1\nif x:\n    y = 2\n"


def test_transition_to_source_round_trips():
    for src in [
        "self.next(self.a)",
        "self.next(self.a, self.b)",
        "self.next(self.a, foreach='items')",
        "self.next(self.a, num_parallel=3)",
        "self.next({'x': self.a, 2: self.b}, condition='c')",
    ]:
        t = parse_step_cell(CellInput(0, None, "code", "%%step s\n" + src, ())).transition
        again = parse_step_cell(
            CellInput(0, None, "code", "%%step s\n" + t.to_source(), ())
        ).transition
        assert again.to_json() == t.to_json()


def test_syntax_error_line_is_in_cell_coordinates():
    with pytest.raises(CellRulesError) as info:
        parse_step_cell(CellInput(2, "c", "code", "%%step a\n\nx = 1\nx = = 2\n", ()))
    err = info.value.error
    assert (err.code, err.cell_index, err.line) == ("syntax-error", 2, 4)


def test_flow_cell_param_args():
    fc = parse_flow_cell(
        CellInput(
            0,
            None,
            "code",
            "%%flow PlayListFlow --genre 'Sci Fi' --recommendations=3 --verbose --no-dry-run\n"
            "genre = Parameter('genre')\nrecommendations = Parameter('recommendations')\n"
            "verbose = Parameter('verbose', type=bool)\ndry_run = Parameter('dry-run', type=bool)\n"
            "",
            (),
        )
    )
    assert fc.param_args == [
        "--genre",
        "Sci Fi",
        "--recommendations=3",
        "--verbose",
        "--no-dry-run",
    ]


@pytest.mark.parametrize(
    "path,name",
    [
        ("train_model.ipynb", "TrainModelFlow"),
        ("/a/b/hello.ipynb", "HelloFlow"),
        ("C:\\x\\my-etl job.ipynb", "MyEtlJobFlow"),
        ("1st.ipynb", "Notebook1stFlow"),
        ("___.ipynb", "NotebookFlow"),
        ("MyFlow.ipynb", "MyFlow"),
        (None, "NotebookFlow"),
    ],
)
def test_flow_name_from_path(path, name):
    assert flow_name_from_path(path) == name
    assert name.isidentifier()


def test_model_helpers():
    cells = cells_from(VECTORS["cases"][3]["cells"])  # branch and join
    model = assemble(cells)
    assert model.is_join("join") and not model.is_join("a")
    assert model.parents("join") == ["a", "b"]
    assert model.next_of("b").targets == ["join"] and model.is_implied("b")
    assert model.next_of("end") is None
    assert model.step("a").cell_index == 1


def test_assemble_1000_cells():
    """A large notebook assembles without errors (timing lives in bench/export_bench.py)."""
    cells = [CellInput(0, "m", "code", "import os\nX = 1\n", ())]
    cells.append(CellInput(1, "s", "code", "%%step start\nself.x = 0\n", ()))
    for i in range(2, 999):
        if i % 3 == 0:
            cells.append(CellInput(i, None, "markdown", f"doc {i}", ()))
        elif i % 3 == 1:
            cells.append(
                CellInput(
                    i,
                    None,
                    "code",
                    f"%%step s{i}\n@retry(times=2)\nself.x += 1\ny = [k for k in range(3)]\n",
                    (),
                )
            )
        else:
            cells.append(CellInput(i, None, "code", f"print({i})\n", ()))
    cells.append(CellInput(999, None, "code", "%%step end\nprint(self.x)\n", ()))
    model = assemble(cells)
    assert not model.errors
    assert len(model.steps) == 334
    assert model.next_of("s997").targets == ["end"]
