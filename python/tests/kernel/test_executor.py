"""The kernel executor in-process (IPython's test shell), read back through Metaflow's Client.

Each test gets a fresh temporary working directory holding its own ``.metaflow`` datastore,
a fresh notebook session, and the notebook's cells given as the frontend would give them.
"""

from __future__ import annotations

import os

import pytest
from inprocess import ok, set_notebook

from jupyter_metaflow import _metaflow, errors
from jupyter_metaflow import session as notebook_session


def notebook(*sources: str, path: str = "demo_nb.ipynb") -> list[str]:
    return set_notebook(*sources, path=path)


def run(shell, source: str):
    result = shell.run_cell(source)
    return result


def latest(flow: str):
    from metaflow import Flow

    return Flow(flow).latest_run


LINEAR = (
    "%%flow LinearFlow\nK = 7",
    "%%step start\nprint('hello from', current.pathspec)\nself.ids = (current.run_id, "
    "current.step_name, current.task_id)\nself.x = 1\nlocal_only = 'leak?'",
    "%%step middle\nself.x += 1",
    "%%step end\nprint('x is', self.x)",
)


def test_linear_flow_is_a_real_run(ip, capsys):
    cells = notebook(*LINEAR)
    for c in cells:
        ok(ip, c)
    out = capsys.readouterr().out
    assert "hello from LinearFlow/" in out and "x is 2" in out
    run = latest("LinearFlow")
    assert run.successful and run.finished
    assert run["end"].task.data.x == 2
    assert run["start"].task.data.K == 7 and run["end"].task.data.K == 7
    run_id, step_name, task_id = run["start"].task.data.ids
    assert (run_id, step_name, task_id) == (run.id, "start", run["start"].task.id)
    assert f"hello from LinearFlow/{run.id}/start/" in run["start"].task.stdout
    assert "user:tester" in run.system_tags and "jupyter-metaflow:notebook" in run.system_tags
    assert [t.id for t in run["middle"].task.parent_tasks] == [run["start"].task.id]
    assert "local_only" not in ip.user_ns
    session = notebook_session.get_session()
    assert session.current_run == f"LinearFlow/{run.id}" and session.last_step == "end"
    assert session.client_run().id == run.id


def test_global_state_is_reset_after_each_task(ip):
    from metaflow import current
    from metaflow.plugins.datastores.local_storage import LocalStorage

    cells = notebook(*LINEAR)
    before = LocalStorage.datastore_root
    ok(ip, cells[0])
    ok(ip, cells[1])
    assert not current.is_running_flow
    assert current.run_id is None and current.step_name is None
    assert LocalStorage.datastore_root == before
    assert "parameter_names" not in type(current).__dict__
    from metaflow.system_context import system_context

    assert system_context.inputs is None and system_context.task_datastore is None


def test_rerun_clones_upstream_into_a_new_run(ip):
    cells = notebook(*LINEAR)
    for c in cells:
        ok(ip, c)
    first = latest("LinearFlow")
    ok(ip, cells[2].replace("+= 1", "+= 10"))
    second = latest("LinearFlow")
    assert second.id != first.id
    start = second["start"].task
    assert start.data.x == 1
    assert start.metadata_dict.get("origin-run-id") == first.id
    assert second["middle"].task.data.x == 11
    assert "end" not in [s.id for s in second]
    assert first["middle"].task.data.x == 2 and first["end"].task.data.x == 2
    ok(ip, cells[3])
    assert latest("LinearFlow").successful and latest("LinearFlow")["end"].task.data.x == 11


def test_parent_not_run_names_the_cell(ip):
    cells = notebook(*LINEAR)
    result = run(ip, cells[2])
    assert not result.success
    assert "execute the start step (cell 2, %%step start) first" in str(result.error_in_exec)
    ok(ip, cells[1])
    result = run(ip, cells[3])
    assert "execute cell 3 (%%step middle) first" in str(result.error_in_exec)


def test_branch_and_join_with_merge_artifacts(ip):
    cells = notebook(
        "%%flow BranchFlow",
        "%%step start\nself.common = 'c'\nself.next(self.a, self.b)",
        "%%step a\nself.v = 'from a'\nself.next(self.join)",
        "%%step b\nself.v = 'from b'\nself.next(self.join)",
        "%%step join\nself.vs = sorted(i.v for i in inputs)\nself.merge_artifacts(inputs, "
        "exclude=['v'])",
        "%%step end\npass",
    )
    for c in cells:
        ok(ip, c)
    run = latest("BranchFlow")
    assert run.successful
    assert run["join"].task.data.vs == ["from a", "from b"]
    assert run["end"].task.data.common == "c"


FOREACH = (
    "%%flow FanFlow --scale 3",
    "scale = Parameter('scale', default=1, type=int)",
)


def test_foreach_runs_every_split_and_joins(ip, capsys):
    cells = notebook(
        "%%flow FanFlow --scale 3\nscale = Parameter('scale', default=1)",
        "%%step start\nself.items = ['a', 'b', 'c']\nself.next(self.body, foreach='items')",
        "%%step body\nself.out = self.input * self.scale\nprint('split', self.index, self.out)",
        "%%step join\nself.outs = [i.out for i in inputs]",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    ok(ip, cells[1])
    events = []
    notebook_session.get_session().add_listener(events.append)
    ok(ip, cells[2])
    out = capsys.readouterr().out
    assert out.index("split 1 of 3") < out.index("split 0 aaa") < out.index("split 2 of 3")
    assert [(e.status, e.split_index) for e in events if e.status != "queued"] == [
        ("running", 0),
        ("done", 0),
        ("running", 1),
        ("done", 1),
        ("running", 2),
        ("done", 2),
    ]
    done = [e for e in events if e.status == "done"]
    assert all(e.duration > 0 and e.artifact_count >= 1 and e.num_splits == 3 for e in done)
    from jupyter_metaflow import protocol

    payload = protocol.envelope("step_status", done[0].to_json())["payload"]
    assert (
        payload["state"] == "done" and payload["source"] == cells[2] and payload["split_index"] == 0
    )
    ok(ip, cells[3])
    ok(ip, cells[4])
    run = latest("FanFlow")
    assert run.successful
    assert run["join"].task.data.outs == ["aaa", "bbb", "ccc"]
    assert sorted(t.index for t in run["body"]) == [0, 1, 2]
    assert run["end"].task.data.scale == 3


def test_nested_foreach(ip, capsys):
    cells = notebook(
        "%%flow NestFlow",
        "%%step start\nself.rows = [1, 2]\nself.next(self.row, foreach='rows')",
        "%%step row\nself.r = self.input\nself.cols = [10, 20, 30]\n"
        "self.next(self.cell, foreach='cols')",
        "%%step cell\nself.v = self.r * self.input",
        "%%step join_cols\nself.row_total = sum(i.v for i in inputs)\nself.r = inputs[0].r",
        "%%step join_rows\nself.totals = [(i.r, i.row_total) for i in inputs]",
        "%%step end\npass",
    )
    events = []
    notebook_session.get_session().add_listener(events.append)
    for c in cells:
        ok(ip, c)
    # the inner body's one execution runs 6 tasks: progress counts all 6, each task is told apart
    done = [
        (e.split_index, e.num_splits) for e in events if e.step == "cell" and e.status == "done"
    ]
    assert done == [(i, 6) for i in range(6)]
    out = capsys.readouterr().out
    assert "── cell · split 1 of 3 · task 4 of 6 ──" in out
    run = latest("NestFlow")
    assert run.successful
    assert len(list(run["cell"])) == 6 and len(list(run["join_cols"])) == 2
    assert run["join_rows"].task.data.totals == [(1, 60), (2, 120)]


def test_parameters_defaults_and_magic_line_conversion(ip):
    body = (
        "\nalpha = Parameter('alpha', default=0.5)\ncount = Parameter('count', default=2)"
        "\nconf = Parameter('conf', type=JSONType, default='{\"k\": 1}')\nLABEL = 'v1'"
    )
    steps = (
        "%%step start\nself.seen = (self.alpha, self.count, self.conf, self.LABEL)",
        "%%step end\npass",
    )
    cells = notebook("%%flow ParamFlow" + body, *steps)
    ok(ip, cells[0])
    ok(ip, cells[1])
    assert latest("ParamFlow")["start"].task.data.seen == (0.5, 2, {"k": 1}, "v1")
    cells = notebook("%%flow ParamFlow --alpha 2 --count=5 --conf '{\"k\": [1, 2]}'" + body, *steps)
    ok(ip, cells[1])
    task = latest("ParamFlow")["start"].task
    assert task.data.seen == (2.0, 5, {"k": [1, 2]}, "v1")
    assert isinstance(task.data.alpha, float) and task.data.count == 5


def test_bad_parameter_value_shows_usage(ip):
    cells = notebook(
        "%%flow ParamFlow --count many\ncount = Parameter('count', default=2)",
        "%%step start\npass",
        "%%step end\npass",
    )
    result = run(ip, cells[0])
    message = str(result.error_in_exec)
    assert "Invalid value for '--count': many is not a valid integer" in message
    assert "--count INTEGER" in message
    result = run(ip, cells[1])
    assert "not a valid integer" in str(result.error_in_exec)
    cells = notebook(
        "%%flow ParamFlow --colour red\ncount = Parameter('count', default=2)",
        "%%step start\npass",
        "%%step end\npass",
    )
    assert "no such option: --colour" in str(run(ip, cells[0]).error_in_exec)


def test_bad_magic_arguments_give_usage_with_cell_and_fix(ip):
    for source in ("%%step\nx = 1", "%%step a b\nx = 1"):  # was IPython's bare argparse text
        notebook("%%step start\npass", source, "%%step end\npass")
        message = str(run(ip, source).error_in_exec)
        assert f"cell 2, line 1: Usage: %%step NAME (got '{source.splitlines()[0]}')" in message
        assert "Write the step name, and only it, after %%step" in message
    source = "%%flow F --n '3\nn = Parameter('n', default=1)"
    notebook(source, "%%step start\npass", "%%step end\npass")
    message = str(run(ip, source).error_in_exec)
    assert (
        "cell 1, line 1: Cannot read the %%flow line: No closing quotation. Write %%flow NAME"
        in message
    )


def test_a_failing_split_shows_its_error_without_metaflows_failed_line(ip, capfd):
    cells = notebook(
        "%%step start\nself.items = ['a', 'b', 'c']\nself.next(self.body, foreach='items')",
        "%%step body\nif self.input == 'b':\n    raise ValueError('bad item')\n"
        "self.next(self.join)",
        "%%step join\nself.next(self.end)",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    capfd.readouterr()
    error = run(ip, cells[1]).error_in_exec
    assert isinstance(error, errors.StepFailed)
    # Metaflow's "<flow F step body[1] (input: b)> failed:" stays in the task's log
    assert "failed:" not in capfd.readouterr().err
    assert "ValueError: bad item" in error.user_traceback


def test_a_name_only_an_unrun_module_cell_defines_names_that_cell(ip):
    """After a kernel restart, Shift+Enter on a step whose import sits in a module cell the
    kernel has not run yet: the error says which cell defines the name and what to do."""
    cells = notebook(
        "import fractions\n\nHALF = 0.5",
        "%%step start\nself.x = fractions.Fraction(1, 3)",
        "%%step end\npass",
    )
    error = run(ip, cells[1]).error_in_exec
    assert isinstance(error, errors.StepFailed)
    assert "NameError: name 'fractions' is not defined" in error.user_traceback
    assert (
        "'fractions' is defined by cell 1 (a module cell), which has not run in this kernel: "
        "run it (Run Step and Run to Here run the module cells first), then execute this "
        "step again." in str(error)
    )
    ok(ip, cells[0])
    ok(ip, cells[1])


def test_failed_step_keeps_last_good_run(ip, capfd):
    cells = notebook(*LINEAR)
    for c in cells[:3]:
        ok(ip, c)
    good = latest("LinearFlow")
    broken = cells[2].replace(
        "self.x += 1", "self.x += 1\nself.y = [1]\n\nraise ValueError('boom')"
    )
    capfd.readouterr()
    result = run(ip, broken)
    error = result.error_in_exec
    assert isinstance(error, errors.StepFailed)
    # Metaflow's "<flow LinearFlow step middle> failed:" stays in the task's log, not the cell
    assert "step middle> failed:" not in capfd.readouterr().err
    assert "Cell 3 (%%step middle), line 5, in middle" in error.user_traceback
    assert "ValueError: boom" in error.user_traceback
    assert "task.py" not in error.user_traceback
    import sys

    assert isinstance(sys.last_value, ValueError)  # what %debug opens: the step's frames
    frames = []
    tb = sys.last_traceback
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    assert frames[-1] == "<mfcell-3-middle>"
    from metaflow import Run

    assert Run(f"LinearFlow/{good.id}")["middle"].task.data.x == 2
    failed_run = notebook_session.get_session().current_run
    assert failed_run != f"LinearFlow/{good.id}"
    assert not Run(failed_run)["middle"].task.successful
    error = run(ip, cells[3]).error_in_exec
    message = str(error)
    # a run-order problem, not a flaw in the flow's definition
    assert isinstance(error, errors.RunOrderError) and not isinstance(
        error, errors.FlowDefinitionError
    )
    assert "'middle', which failed in the current run" in message
    assert "execute cell 3 (%%step middle) again first" in message
    ok(ip, cells[2])
    ok(ip, cells[3])
    assert latest("LinearFlow").successful


def test_unpicklable_artifact_is_named(ip):
    cells = notebook(
        "%%step start\nimport threading\nself.lock = threading.Lock()\nself.next(self.end)",
        "%%step end\npass",
    )
    error = run(ip, cells[0]).error_in_exec
    assert isinstance(error, errors.StepFailed)
    assert "artifact self.lock cannot be pickled" in str(error)


def test_artifact_name_colliding_with_flowspec(ip):
    cells = notebook(
        "%%step start\nself.x = 1\nself.index = 3\nself.end = 4\nself.next(self.end)",
        "%%step end\npass",
    )
    error = str(run(ip, cells[0]).error_in_exec)
    assert "cell 1 (%%step start), line 3: self.index is FlowSpec's own attribute" in error
    assert "cell 1 (%%step start), line 4: self.end is the name of step 'end'" in error


def test_structural_errors_name_cell_and_line(ip):
    cases = [
        (
            ("%%step start\nx = = 1\nself.next(self.end)", "%%step end\npass"),
            "cell 1, line 2: Syntax error",
        ),
        (
            ("%%step start\nself.next(self.nowhere)", "%%step end\npass"),
            "'nowhere', which no step cell",
        ),
        (
            ("%%step start\npass", "%%step start\npass", "%%step end\npass"),
            "already defined in cell 1",
        ),
        (
            (
                "%%step start\nself.next(self.a)",
                "%%step a\nself.next(self.start)",
                "%%step end\npass",
            ),
            "loop",
        ),
        (("%%step start\npass",), "no 'end' step"),
        (("%%step begin\npass", "%%step end\npass"), "no 'start' step"),
        (
            (
                "%%step start\nself.x = [1]\nself.next(self.a, foreach='x')",
                "%%step a\nself.next(self.end)",
                "%%step end\npass",
            ),
            "cell 3 (%%step end), line 1:\nThe terminal step *end*",
        ),
    ]
    for sources, expected in cases:
        cells = notebook(*sources)
        result = run(ip, cells[0])
        assert not result.success
        assert expected in str(result.error_in_exec), (sources, str(result.error_in_exec))


def test_scratch_only_names_warn_once(ip, capsys):
    cells = notebook(
        "df = [1, 2]\nprint(df)",
        "scale = 3\nrows = df * scale\nprint(rows)",
        "%%step start\nself.n = len(df) * scale + len(rows)\nself.next(self.end)",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    ok(ip, cells[1])
    ok(ip, cells[2])
    warnings = [line for line in capsys.readouterr().err.splitlines() if "Warning" in line]
    assert warnings == [
        "Warning: step 'start' uses names only scratch cells define: df (cell 1), rows (cell 2), "
        "scale (cell 2); the exported flow would fail with NameError. Move them into a module cell "
        "(imports, def/class, literal constants) or tag cells 1, 2 'module'."
    ]
    assert latest("DemoNbFlow")["start"].task.data.n == 2 * 3 + 6


def test_restart_reattaches_to_latest_notebook_run(ip):
    cells = notebook(*LINEAR)
    ok(ip, cells[1])
    ok(ip, cells[2])
    first = latest("LinearFlow")
    notebook_session._session = None  # what a kernel restart leaves: no session state
    _metaflow.forget_datastore_root()
    notebook(*LINEAR)
    ok(ip, cells[3])
    run = latest("LinearFlow")
    assert run.id == first.id and run.successful
    assert {t.id for s in run for t in s} == {"1", "2", "3"}
    assert run["end"].task.data.x == 2


def test_restart_after_mf_split_reattaches_to_the_current_run_not_the_debug_run(ip):
    cells = notebook(
        "%%step start\nself.items = [1, 2, 3]\nself.next(self.body, foreach='items')",
        "%%step body\nself.sq = self.input ** 2",
        "%%step join\nself.total = sum(i.sq for i in inputs)",
        "%%step end\npass",
    )
    for c in cells[:3]:
        ok(ip, c)
    current = notebook_session.get_session().current_run
    ok(ip, "%mf_split body 1")  # a newer run holding only start and one split
    notebook_session._session = None
    _metaflow.forget_datastore_root()
    notebook(*cells)
    ok(ip, cells[3])
    assert notebook_session.get_session().current_run == current
    from metaflow import Run

    assert Run(current)["end"].task.data.total == 14


def test_mf_split_previews_do_not_load_large_artifacts(ip, capsys):
    """The preview is one line per artifact: a large one is named with its type and size,
    not unpickled (it was loaded whole only to be cut to 60 characters)."""
    cells = notebook(
        "%%step start\nself.items = [1, 2]\nself.next(self.body, foreach='items')",
        "%%step body\nself.small = self.input * 10\nself.big = b'x' * (2 * 1024 * 1024)",
        "%%step join\nself.total = sum(i.small for i in inputs)",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    capsys.readouterr()
    ok(ip, "%mf_split body 1")
    out = capsys.readouterr().out
    assert "small = 20" in out
    assert "big = <bytes, 2.0 MB pickled: not loaded for this preview>" in out, out


def test_a_debug_split_run_is_invisible_to_the_client(ip, capsys):
    """Metaflow's Client, a script or `resume` after %mf_split: the notebook's real run stays
    latest_run (the debug run is not registered, as Metaflow's spin records no metadata)."""
    from metaflow import Flow, Run
    from metaflow.exception import MetaflowNotFound

    cells = notebook(
        "%%step start\nself.items = [1, 2, 3]\nself.next(self.body, foreach='items')",
        "%%step body\nself.sq = self.input ** 2",
        "%%step join\nself.total = sum(i.sq for i in inputs)",
        "%%step end\npass",
    )
    for c in cells:
        ok(ip, c)
    real = notebook_session.get_session().current_run
    capsys.readouterr()
    ok(ip, "%mf_split body 2")
    printed = capsys.readouterr().out
    assert "sq = 9" in printed  # the preview reads the debug task from the datastore
    debug_id = printed.split("Debug run ", 1)[1].split(":", 1)[0]
    assert debug_id != real
    assert Flow(real.split("/")[0]).latest_run.pathspec == real
    assert Flow(real.split("/")[0]).latest_run["end"].task.data.total == 14
    assert debug_id not in {r.pathspec for r in Flow(real.split("/")[0])}
    with pytest.raises(MetaflowNotFound):
        Run(debug_id)
    assert notebook_session.get_session().current_run == real


def test_restart_after_mf_run_reattaches_to_the_mf_run_run(ip, capsys):
    cells = notebook(
        "%%flow RunFlow\nn = Parameter('n', default=1)",
        "%%step start\nself.v = self.n * 10",
        "%%step end\nself.seen = self.v",
    )
    for c in cells:
        ok(ip, c)
    ok(ip, "mf = %mf_run --n 7")  # Metaflow's runtime makes this run, from demo_nb.nbflow.py
    made = ip.user_ns["mf"]
    notebook_session._session = None
    _metaflow.forget_datastore_root()
    notebook(*cells)
    capsys.readouterr()
    ok(ip, "%mf_show start.v")  # was: "this notebook has no run yet"
    assert f"RunFlow/{made.id}/start/" in capsys.readouterr().out
    assert (
        notebook_session.get_session().restorable_run() == f"RunFlow/{made.id}"
    )  # %mf_resume's origin
    ok(ip, cells[2])
    session = notebook_session.get_session()
    assert session.current_run != f"RunFlow/{made.id}"  # re-executing end made a new run...
    assert session.client_run()["end"].task.data.seen == 70  # ...from the %mf_run run


def test_project_flow_runs_carry_the_project_system_tags(ip):
    from metaflow import Flow

    cells = notebook(
        "%%flow ProjFlow\n@project(name='demo_proj')",
        "%%step start\npass",
        "%%step end\nself.branch = current.branch_name",
    )
    for c in cells:
        ok(ip, c)
    ok(ip, cells[2])  # a re-execution: a new run cloning start
    runs = list(Flow("ProjFlow"))
    assert len(runs) == 2
    for made in runs:  # as `python flow.py run` tags them (the first run had neither)
        assert {"project:demo_proj", "project_branch:user.tester"} <= made.system_tags
    assert len(list(Flow("ProjFlow").runs("project:demo_proj"))) == 2
    cells = notebook("%%flow ProjFlow\n@project(name='Bad Name')", *cells[1:])
    error = run(ip, cells[1]).error_in_exec  # was Metaflow's internal traceback
    assert isinstance(error, errors.FlowDefinitionError)
    assert (
        "A flow decorator in cell 1 (%%flow) failed: MetaflowException: The @project name"
        in str(error)
    )
    assert len(list(Flow("ProjFlow"))) == 2  # no run registered
    cells = notebook("%%flow ProjFlow\n@project(name='other_proj')", *cells[1:])
    for c in cells:
        ok(ip, c)
    made = Flow("ProjFlow").latest_run  # only the new project's tags (had both projects')
    for obj in (made, made["start"].task, made["end"].task):
        assert {t for t in obj.system_tags if t.startswith("project:")} == {"project:other_proj"}


def test_step_reading_a_flow_constant_bare_is_told_to_write_self(ip, capsys):
    cells = notebook(
        "%%flow ConstFlow\nLABELS = {'a': 1}", "%%step start\nself.n = len(LABELS)", "%%step end"
    )
    ok(ip, cells[0])
    assert isinstance(
        run(ip, cells[1]).error_in_exec, errors.StepFailed
    )  # NameError, as in flow.py
    assert (
        "Step 'start' uses 'LABELS', which the flow cell defines as a class attribute"
        in capsys.readouterr().err
    )


def test_without_the_notebook_steps_wait_for_the_flow_then_keep_their_place(ip, capsys):
    """No frontend, no notebook file: a step waits until the executed cells complete the flow
    (here: end's cell), then runs before it; re-executing start keeps its place."""
    start, end = "%%step start\nself.a = 1", "%%step end\nprint(self.a)"
    ok(ip, start)
    assert "Step 'start' waits until the flow is complete" in capsys.readouterr().out
    ok(ip, end)
    assert latest("NotebookFlow")["end"].task.data.a == 1
    ok(ip, start)  # was: start now came after end ("no step cell follows it"), for ever
    ok(ip, end)
    assert latest("NotebookFlow")["end"].task.data.a == 1


def test_syntax_only_the_compiler_rejects_names_the_cell_and_line(ip):
    cells = notebook("%%step start\nimport asyncio\nawait asyncio.sleep(0)", "%%step end")
    error = run(ip, cells[0]).error_in_exec  # was a traceback through the executor's internals
    assert isinstance(error, errors.FlowDefinitionError)
    assert "Syntax error in cell 1 (%%step start), line 3: 'await' outside" in str(error)


def test_a_step_that_never_reaches_self_next_fails(ip):
    for body in (
        "self.a = 1\nif self.a:\n    return\nself.next(self.end)",
        "self.a = 1\nyield 5\nself.next(self.end)",
    ):
        cells = notebook("%%step start\n" + body, "%%step end\nprint(self.a)")
        error = run(
            ip, cells[0]
        ).error_in_exec  # was 'done', then end: "start went to [], not 'end'"
        assert isinstance(error, errors.StepFailed)
        assert "it ended without calling self.next(...)" in str(error)
        assert "which failed in the current run: fix and execute cell 1" in str(
            run(ip, cells[1]).error_in_exec
        )


def test_module_cell_names_are_visible_in_steps(ip):
    cells = notebook(
        "import math\ndef double(v):\n    return 2 * v",
        "%%step start\nself.v = double(math.pi)\nself.next(self.end)",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    ok(ip, cells[1])
    assert latest("DemoNbFlow")["start"].task.data.v == pytest.approx(2 * 3.141592653589793)


def test_implied_transitions_and_flow_name_from_notebook(ip):
    cells = notebook(
        "%%step start\nself.a = 1",
        "%%step end\nprint(self.a)",
        path=os.path.join("x", "my model.ipynb"),
    )
    ok(ip, cells[0])
    ok(ip, cells[1])
    assert latest("MyModelFlow").successful


def test_large_artifact_is_stored_uncompressed_and_reads_back(ip, tmp_path):
    import json

    payload = os.urandom(_metaflow.datastore.RAW_BLOB_BYTES + 1)
    ip.user_ns["PAYLOAD"] = payload
    cells = notebook(
        "%%step start\nself.big = PAYLOAD\nself.small = 'x' * 100\nself.next(self.end)",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    task = latest("DemoNbFlow")["start"].task
    assert task.data.big == payload and task.data.small == "x" * 100
    data_dir = tmp_path / ".metaflow" / "DemoNbFlow" / "data"
    big_sha, small_sha = task["big"].sha, task["small"].sha
    assert json.loads((data_dir / big_sha[:2] / f"{big_sha}_meta").read_text())["cas_raw"] is True
    assert (
        json.loads((data_dir / small_sha[:2] / f"{small_sha}_meta").read_text())["cas_raw"] is False
    )


def test_switch_runs_the_chosen_branch_and_skips_the_other(ip, capsys):
    cells = notebook(
        "%%flow SwitchFlow",
        "%%step start\nself.choice = 'b'\nself.next({'a': self.a, 'b': self.b}, "
        "condition='choice')",
        "%%step a\nself.r = 'A'\nself.next(self.end)",
        "%%step b\nself.r = 'B'\nself.next(self.end)",
        "%%step end\nprint('got', self.r)",
    )
    ok(ip, cells[1])
    events = []
    notebook_session.get_session().add_listener(events.append)
    ok(ip, cells[2])
    assert [e.status for e in events] == ["skipped"] and "chose" in capsys.readouterr().out
    ok(ip, cells[3])
    ok(ip, cells[4])
    run = latest("SwitchFlow")
    assert run.successful and run["end"].task.data.r == "B"
    assert "a" not in [s.id for s in run]


def test_include_file_is_read_like_the_cli(ip, tmp_path):
    (tmp_path / "notes.txt").write_text("some text\n")
    cells = notebook(
        "%%flow IncludeFlow\nnotes = IncludeFile('notes', default='notes.txt')",
        "%%step start\nself.length = len(self.notes)\nself.next(self.end)",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    ok(ip, cells[1])
    task = latest("IncludeFlow")["start"].task
    assert task.data.notes == "some text\n" and task.data.length == 10


def test_config_default_is_an_artifact_like_in_a_run(ip):
    cells = notebook(
        "%%flow ConfigFlow\ncfg = Config('cfg', default_value={'lr': 0.1, 'layers': [8, 4]})",
        "%%step start\nself.lr_seen = self.cfg.lr\nself.next(self.end)",
        "%%step end\npass",
    )
    for source in cells:
        ok(ip, source)
    run = latest("ConfigFlow")
    assert run["start"].task.data.lr_seen == 0.1
    assert run["end"].task.data.cfg == {"lr": 0.1, "layers": [8, 4]}


def test_config_options_on_the_flow_line_like_on_the_command_line(ip, tmp_path):
    (tmp_path / "settings.json").write_text('{"lr": 0.5, "layers": [16]}')
    flow_cell = (
        '%%flow ConfigFlow --config cfg settings.json --config-value extra \'{"tag": "x"}\'\n'
        "cfg = Config('cfg', default_value={'lr': 0.1})\n"
        "extra = Config('extra', default_value={'tag': 'default'})"
    )
    cells = notebook(
        flow_cell,
        "%%step start\nself.lr_seen = self.cfg.lr\nself.tag = self.extra.tag\nself.next(self.end)",
        "%%step end\npass",
    )
    for source in cells:
        ok(ip, source)
    run = latest("ConfigFlow")
    assert run["start"].task.data.lr_seen == 0.5 and run["start"].task.data.tag == "x"
    assert run["end"].task.data.cfg == {"lr": 0.5, "layers": [16]}

    # a file that does not exist: Metaflow's own error, on the flow cell
    cells = notebook(flow_cell.replace("settings.json", "missing.json"), *cells[1:])
    result = ip.run_cell(cells[0])
    assert not result.success and "missing.json" in str(result.error_in_exec), result.error_in_exec


def test_decorator_arguments_from_config_expr_resolve_in_the_kernel(ip, capsys):
    from metaflow import Flow

    flow_cell = (
        "%%flow CfgDecoFlow\n@project(name=config_expr('cfg.project'))\n"
        "cfg = Config('cfg', default_value={'project': 'cfg_proj', 'retries': 0, 'cpu': 2, 'lr': "
        "0.3})\n"
        "lr = Parameter('lr', default=config_expr('cfg.lr'))\n"
        "rate = Parameter('rate', default=config_expr('cfg.lr'))"
    )
    cells = notebook(
        flow_cell.replace("%%flow CfgDecoFlow", "%%flow CfgDecoFlow --rate 0.9"),
        "%%step start\n@resources(cpu=config_expr('cfg.cpu'))\n"
        "@retry(times=config_expr('cfg.retries'))\n"
        "self.project = current.project_name\nself.next(self.end)",
        "%%step end\npass",
    )
    for (
        source
    ) in cells:  # was 'Config object can only be used directly in the FlowSpec defining them'
        ok(ip, source)
    made = latest("CfgDecoFlow")
    assert made["start"].task.data.project == "cfg_proj" and "project:cfg_proj" in made.system_tags
    assert (made["start"].task.data.lr, made["start"].task.data.rate) == (0.3, 0.9)
    # the routing reads the resolved value: @retry(times=2) from the Config sends start to the
    # runtime
    cells = notebook(flow_cell.replace("'retries': 0", "'retries': 2"), *cells[1:])
    ok(ip, cells[0])
    capsys.readouterr()
    ok(ip, cells[1])  # was TypeError: int() argument must be ... not 'DelayEvaluator'
    assert (
        "Step 'start' runs under Metaflow's runtime, not in the kernel: "
        "@retry(times=2) relaunches a failed task."
    ) in capsys.readouterr().out
    assert Flow("CfgDecoFlow").latest_run.successful


def test_flow_mutator_and_user_step_decorator_from_a_module_cell(ip):
    module_cell = (
        "from metaflow import FlowMutator, user_step_decorator\n"
        "class catch_all(FlowMutator):\n"
        "    def pre_mutate(self, mutable_flow):\n"
        "        for name, s in mutable_flow.steps:\n"
        "            s.add_decorator('catch', deco_kwargs={'var': 'problem'})\n"
        "@user_step_decorator\n"
        "def stamped(step_name, flow, inputs=None, attributes=None):\n"
        "    flow.stamp = 'around ' + step_name\n"
        "    yield\n"
    )
    ok(ip, module_cell)
    cells = notebook(
        "%%flow MutantFlow\n@catch_all",
        "%%step start\n@stamped\nself.v = 1 / 0",
        "%%step end\npass",
    )
    for (
        source
    ) in cells:  # a bare @catch_all left the mutator object as the flow class: AttributeError
        ok(ip, source)
    task = latest("MutantFlow")["start"].task
    assert "ZeroDivisionError" in str(task.data.problem) and task.data.stamp == "around start"


def test_file_names_the_notebook_for_code_written_for_a_flow_file(ip, tmp_path):
    (tmp_path / "rows.txt").write_text("a\nb\n")
    helper = (
        "import os\ndef beside(name):\n    return os.path.join(os.path.dirname(__file__), name)"
    )
    cells = notebook(
        helper,
        "%%step start\nself.rows = open(beside('rows.txt')).read().split()",
        "%%step end",
        path=str(tmp_path / "first.ipynb"),
    )
    ok(ip, cells[0])
    ok(ip, cells[1])  # was NameError: name '__file__' is not defined
    assert latest("FirstFlow")["start"].task.data.rows == ["a", "b"]
    assert ip.user_ns["__file__"] == str(tmp_path / "first.ipynb")
    notebook(*cells, path=str(tmp_path / "renamed.ipynb"))
    ok(ip, cells[1])
    assert ip.user_ns["__file__"] == str(tmp_path / "renamed.ipynb")
    ip.user_ns["__file__"] = "/my/own/value.py"  # the user's own value is kept
    ok(ip, cells[2])
    assert ip.user_ns["__file__"] == "/my/own/value.py"


def test_catch_works_and_runtime_only_decorators_are_noted(ip, capsys):
    # @retry(times=0) stays in the kernel; with retries the step goes to Metaflow's runtime
    # (test_native_runtime.py)
    cells = notebook(
        "%%step start\n@catch(var='problem')\n@retry(times=0)\nself.v = 1 / 0\nself.next(self.end)",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    assert "@retry on step 'start' takes effect under Metaflow's runtime" in capsys.readouterr().err
    task = latest("DemoNbFlow")["start"].task
    assert "ZeroDivisionError: division by zero" in str(task.data.problem)


def test_interrupted_step_is_recorded_failed_and_reraised(ip):
    cells = notebook(*LINEAR)
    ok(ip, cells[1])
    first = notebook_session.get_session().current_run
    result = run(ip, cells[2].replace("self.x += 1", "self.x += 1\nraise KeyboardInterrupt"))
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    # shown with the step's own frames and line numbers, not the executor's
    assert "Step 'middle' in cell 3 (%%step middle) was interrupted in run" in str(
        result.error_in_exec
    )
    assert "Cell 3 (%%step middle), line 3, in middle" in result.error_in_exec.user_traceback
    assert "jupyter_metaflow" not in result.error_in_exec.user_traceback
    session = notebook_session.get_session()
    assert session.current_run == first and "middle" in session.run.failed
    ok(ip, cells[2])
    assert (
        notebook_session.get_session().current_run != first
    )  # a re-run: a new run, never the same one
    assert latest("LinearFlow")["middle"].task.data.x == 2


def test_an_interrupt_while_a_finished_tasks_logs_are_saved_keeps_the_task(ip, monkeypatch):
    """Interrupt Kernel right after a task finished (its logs being saved): the task is kept in
    the run record, so the next step runs in the same run and the step is not run twice."""
    import signal

    from jupyter_metaflow._metaflow import tasks

    save_logs = tasks._save_logs

    def interrupted_while_saving(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # what Interrupt Kernel sends, at that moment
        return save_logs(*args, **kwargs)

    cells = notebook(*LINEAR)
    ok(ip, cells[1])
    monkeypatch.setattr(tasks, "_save_logs", interrupted_while_saving)
    result = run(ip, cells[2])
    monkeypatch.setattr(tasks, "_save_logs", save_logs)
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert "the task is kept" in str(result.error_in_exec)
    first = notebook_session.get_session().current_run
    ok(ip, cells[3])
    assert notebook_session.get_session().current_run == first
    run_ = latest("LinearFlow")
    assert len(list(run_["middle"])) == 1 and run_["end"].task.data.x == 2


def test_rerunning_a_join_reuses_cloned_foreach_splits(ip):
    cells = notebook(
        "%%step start\nself.items = [3, 1, 2]\nself.next(self.body, foreach='items')",
        "%%step body\nself.out = self.input * 10",
        "%%step join\nself.outs = [i.out for i in inputs]",
        "%%step end\npass",
    )
    for c in cells[:3]:
        ok(ip, c)
    first = latest("DemoNbFlow")
    ok(ip, cells[2].replace("[i.out for i in inputs]", "sorted(i.out for i in inputs)"))
    second = latest("DemoNbFlow")
    assert second.id != first.id
    assert first["join"].task.data.outs == [30, 10, 20]
    assert second["join"].task.data.outs == [10, 20, 30]
    clones = list(second["body"])
    assert len(clones) == 3 and {t.metadata_dict.get("origin-run-id") for t in clones} == {first.id}
    ok(ip, cells[3])
    assert latest("DemoNbFlow").successful


def test_card_renders_from_the_generated_flow_file(ip, tmp_path):
    from metaflow.cards import get_cards

    cells = notebook("%%step start\n@card\nself.v = 41\nself.next(self.end)", "%%step end\npass")
    ok(ip, cells[0])
    task = latest("DemoNbFlow")["start"].task
    cards = list(get_cards(task))
    assert len(cards) == 1
    assert "v" in cards[0].get() and (tmp_path / "demo_nb.nbflow.py").is_file()


def test_without_a_notebook_the_executed_cells_make_the_flow(ip, capsys):
    notebook_session.get_session()  # fresh session: no live cells, no notebook file
    ok(ip, "%%step start\nself.v = 5\nself.next(self.end)")
    assert "Step 'start' waits" in capsys.readouterr().out
    ok(ip, "%%step end\nprint(self.v)")
    assert latest("NotebookFlow")["end"].task.data.v == 5
    ok(ip, "%%step start\nself.v = 6\nself.next(self.later)")  # a step not executed yet
    assert "Step 'start' waits" in capsys.readouterr().out
    ok(ip, "%%step later\nself.v += 1\nself.next(self.end)")
    assert latest("NotebookFlow")["later"].task.data.v == 7  # start ran first, in a new run
    error = run(ip, "%%step later\nself.v = (").error_in_exec  # not a missing cell: an error now
    assert isinstance(error, errors.FlowDefinitionError) and "Syntax error" in str(error)


def test_static_branches_inside_a_foreach(ip):
    cells = notebook(
        "%%step start\nself.items = [1, 2]\nself.next(self.fan, foreach='items')",
        "%%step fan\nself.n = self.input\nself.next(self.double, self.square)",
        "%%step double\nself.r = self.n * 2\nself.next(self.pair)",
        "%%step square\nself.r = self.n ** 2\nself.next(self.pair)",
        "%%step pair\nself.both = (inputs.double.r, inputs.square.r)",
        "%%step collect\nself.pairs = [i.both for i in inputs]",
        "%%step end\npass",
    )
    for c in cells:
        ok(ip, c)
    run = latest("DemoNbFlow")
    assert run.successful
    assert len(list(run["pair"])) == 2
    assert run["collect"].task.data.pairs == [(2, 1), (4, 4)]


def test_branch_arm_falling_through_is_a_clear_error(ip):
    # Arm 'a' has no self.next, so it falls through to 'b' (the next step cell): an invalid
    # graph on which Metaflow's own lint raises IndexError instead of a LintWarn.
    cells = notebook(
        "%%step start\nself.next(self.a, self.b)",
        "%%step a\nself.x = 1",
        "%%step b\nself.next(self.join)",
        "%%step join\nself.next(self.end)",
        "%%step end\npass",
    )
    result = run(ip, cells[0])
    assert not result.success
    error = result.error_in_exec
    assert isinstance(error, errors.FlowDefinitionError), repr(error)
    assert "self.next" in str(error)


def test_multi_line_f_string_keeps_its_text_as_in_the_exported_flow(ip):
    # from Python 3.12 an f-string is several tokens: its lines must still not be re-indented
    cells = notebook(
        "%%flow FStringFlow",
        '%%step start\nn = 2\nself.msg = f"""first\n  {n} second\nlast {n!r:>{n}}"""',
        "%%step end",
    )
    for c in cells:
        ok(ip, c)
    assert latest("FStringFlow")["start"].task.data.msg == "first\n  2 second\nlast  2"


def test_a_notebook_file_with_a_utf8_bom_is_read_as_the_exporter_reads_it(
    ip, tmp_path, monkeypatch
):
    import nbformat

    sources = ("%%flow FromFileFlow", "%%step start\nself.x = 1", "%%step end\nprint(self.x)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    path = tmp_path / "bom.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + nbformat.writes(nb).encode("utf-8"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))  # as jupyter_server tells the kernel
    ok(ip, sources[1])  # the whole flow comes from the file: start runs on its own
    ok(ip, sources[2])
    assert latest("FromFileFlow")["end"].task.data.x == 1
