"""Two runs of one flow compared task by task, artifact by artifact (values read back through
the Client API): how the tests show a notebook's run and its exported flow's run are the same.
"""

from __future__ import annotations

from typing import Any


def normalize(value: Any) -> Any:
    """A comparable form of an artifact value (arrays as lists, plain objects as their type
    and attributes)."""
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return value
    if isinstance(value, dict):
        return {normalize(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [normalize(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return "set", sorted(repr(normalize(v)) for v in value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return "array", normalize(value.tolist())
    if hasattr(value, "__dict__") and type(value).__eq__ is object.__eq__:
        return type(value).__qualname__, normalize(vars(value))
    return value


def run_artifacts(run) -> dict[str, list[dict[str, Any]]]:
    """{step: [artifacts of each task]}; tasks ordered by their foreach path."""
    steps: dict[str, list[dict[str, Any]]] = {}
    for step in run:
        tasks = []
        for task in step:
            data = {a.id: normalize(a.data) for a in task if not a.id.startswith("_")}
            order = [(frame.step, frame.index) for frame in (task["_foreach_stack"].data or [])]
            tasks.append((order, data))
        steps[step.id] = [data for _, data in sorted(tasks, key=lambda t: repr(t[0]))]
    return steps


def assert_equal_artifacts(
    run_a, run_b, step_names: set[str], loose: dict[str, Any] | None = None
) -> None:
    """Both runs succeeded with the same steps, tasks and artifact values (``loose``: what to
    compare of a random artifact's normalized value)."""
    assert run_a.successful and run_b.successful
    ours, theirs = run_artifacts(run_a), run_artifacts(run_b)
    assert sorted(ours) == sorted(theirs)  # a switch leaves the same cases out of both
    assert set(ours) <= step_names and {"start", "end"} <= set(ours)
    for step in ours:
        assert len(ours[step]) == len(theirs[step]), step
        for i, (a, b) in enumerate(zip(ours[step], theirs[step])):
            assert sorted(a) == sorted(b), (step, i)
            for artifact in a:
                same = (loose or {}).get(artifact, lambda value: value)
                assert same(a[artifact]) == same(b[artifact]), (
                    f"{step} task {i}: artifact {artifact!r} differs"
                )
