"""Every flow model the kernel sends follows ``schema.json``'s ``flowModel`` definition.

The TypeScript types are generated from the same schema (``src/_schema.ts``), so a model that
validates here is one the frontend's types describe. The models checked: every case of the shared
assembly vectors (good and broken notebooks) and every example notebook.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO_ROOT

from jupyter_metaflow.assembly import assemble
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.notebook_io import read_notebook
from jupyter_metaflow.protocol import SCHEMA

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "assembly.json").read_text("utf-8"))
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.ipynb"))
assert len(EXAMPLES) > 5, "the example notebooks are found"


def _validator(definition: str) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(SCHEMA)
    return cls({**SCHEMA, "$ref": f"#/definitions/{definition}"})


FLOW_MODEL = _validator("flowModel")


def _errors(model: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in FLOW_MODEL.iter_errors(model)
    ]


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_vector_models_follow_the_schema(case):
    cells = [
        CellInput(i, c.get("id"), c["cell_type"], c["source"], tuple(c.get("tags", ())))
        for i, c in enumerate(case["cells"])
    ]
    model = assemble(cells, case.get("notebook_name")).to_json()
    assert _errors(model) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_models_follow_the_schema(path):
    model = assemble(read_notebook(path), str(path)).to_json()
    assert _errors(model) == []


def test_the_schema_rejects_a_model_with_a_malformed_step():
    cells = [
        CellInput(0, "a", "code", "%%step start\nself.next(self.end)"),
        CellInput(1, "b", "code", "%%step end\npass"),
    ]
    model = assemble(cells).to_json()
    assert _errors(model) == []
    model["steps"][0]["transition"]["kind"] = "loop"
    del model["steps"][1]["is_join"]
    assert _errors(model) == [
        "steps/0/transition: {'kind': 'loop', 'targets': ['end'], 'foreach': None, "
        "'condition': None, 'cases': None, 'num_parallel': None, 'line': 2} "
        "is not valid under any of the given schemas",
        "steps/1: 'is_join' is a required property",
    ]


def test_flow_model_messages_carry_a_typed_model():
    payload = _validator("flow_model")
    model = assemble([CellInput(0, None, "code", "%%step start\npass")]).to_json()
    message = {"path": "a.ipynb", "model": model, "lint_errors": []}
    assert list(payload.iter_errors(message)) == []
    message["model"] = {**model, "steps": [{"name": "start"}]}
    assert list(payload.iter_errors(message)) != []
