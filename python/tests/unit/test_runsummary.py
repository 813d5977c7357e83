"""Stale steps, switch choices and foreach progress (jupyter_metaflow.runsummary).

The shared vectors in ``vectors/runsummary.json`` are the contract ``src/runsummary.ts`` and
``src/model.ts`` also follow (their format is in the file's ``description`` key).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_metaflow.assembly import assemble
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.runsummary import (
    ForeachProgress,
    RanStep,
    downstream,
    stale_steps,
    switch_choice,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "runsummary.json").read_text("utf-8"))


def model_of(cells):
    model = assemble(
        [CellInput(i, c.get("id"), c["cell_type"], c["source"]) for i, c in enumerate(cells)]
    ).to_json()
    assert model["errors"] == []
    return model


@pytest.mark.parametrize("case", VECTORS["switch_choice"], ids=lambda c: c["name"])
def test_switch_choice(case):
    model = model_of(case["cells"])
    steps = {s["name"]: s for s in model["steps"]}
    for name, expected in case["expected"].items():
        cases = (steps[name]["transition"] or {}).get("cases")
        assert (name, switch_choice(name, cases, case["runs"])) == (name, expected)


@pytest.mark.parametrize("case", VECTORS["stale"], ids=lambda c: c["name"])
def test_stale_steps(case):
    model = model_of(case["cells"])
    ran = {
        name: RanStep(r["source"], r["cell_id"], r.get("stale", False))
        for name, r in case["ran"].items()
    }
    stale = stale_steps(model, ran, lambda index: case["cells"][index]["source"])
    assert sorted(stale) == case["expected"]


@pytest.mark.parametrize("case", VECTORS["foreach_progress"], ids=lambda c: c["name"])
def test_foreach_progress(case):
    progress = ForeachProgress()
    last = {}
    for event in case["events"]:
        progress.apply(event)
        last[event["step"]] = event
    for step, expected in case["expected"].items():
        whole = progress.whole(last[step])
        splits = None
        if "num_splits" in whole:
            splits = {"done": len(whole["done_splits"]), "total": whole["num_splits"]}
        summary = {
            "state": whole["state"],
            "splits": splits,
            "duration_ms": whole.get("duration_ms"),
        }
        if "error" in expected:
            summary["error"] = whole.get("error")
        assert summary == expected


def test_vectors_cover_each_rule():
    assert {len(VECTORS[k]) >= 5 for k in ("switch_choice", "stale", "foreach_progress")} == {True}


def test_downstream_follows_transitions_and_stops_at_unknown_steps():
    model = {
        "steps": [
            {"name": "start", "transition": {"targets": ["a", "b"]}},
            {"name": "a", "transition": {"targets": ["join"]}},
            {"name": "b", "transition": {"targets": ["gone"]}},
            {"name": "join", "transition": None},
        ]
    }
    assert downstream(model, {"a"}) == {"join"}
    assert downstream(model, {"start"}) == {"a", "b", "join"}
