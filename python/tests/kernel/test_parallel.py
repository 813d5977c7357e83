"""Foreach splits in worker processes: the rule, the output order, and the tasks they run
(in-process IPython shell; workers are real processes of the same interpreter)."""

from __future__ import annotations

import os
import time

import pytest
from inprocess import ok, set_notebook

from jupyter_metaflow import parallel, workers
from jupyter_metaflow.errors import StepFailed

MODULE = "import os\nimport signal\nimport threading\n\n\ndef square(x):\n    return x * x"


def notebook(
    body: str, *, items: str = "[1, 2, 3, 4]", flow: str = "%%flow SweepFlow"
) -> list[str]:
    return set_notebook(
        MODULE,
        flow,
        f"%%step start\nself.items = {items}\nself.next(self.body, foreach='items')",
        "%%step body\n" + body + "\nself.next(self.join)",
        "%%step join\nself.values = [getattr(i, 'sq', None) for i in inputs]\nself.next(self.end)",
        "%%step end\npass",
        path="sweep.ipynb",
    )


def long_tasks_history(flow: str, *steps: str) -> None:
    """A history saying the steps' tasks take 5 s each and worker tasks were measured cheap:
    the rule then sends them to workers and does not re-check its choice as they end (the
    workers' start and ping are measured for real)."""
    measured = parallel.measurements()
    for step in steps:
        measured.task_seconds[(flow, step)] = 5.0
    if not measured.overhead:
        measured.overhead.append(0.001)


def forget_history() -> None:
    measured = parallel.measurements()
    measured.task_seconds.clear()
    measured.worker_task_seconds.clear()
    measured.overhead.clear()
    measured.dispatch.clear()


@pytest.fixture
def warm_pool():
    """Two ready workers, and a history of long body tasks (:func:`long_tasks_history`)."""
    pool = workers.get_pool()
    pool.ensure(2)
    deadline = time.time() + 120
    while pool.ready_count() < 2 or pool.ping_seconds is None:
        assert time.time() < deadline, "workers did not start"
        pool.poll()
        time.sleep(0.05)
    long_tasks_history("SweepFlow", "body")
    yield pool
    forget_history()
    pool.shutdown()


def latest():
    from metaflow import Flow

    return Flow("SweepFlow").latest_run


# -- splits in workers ------------------------------------------------------------------------
def test_splits_run_in_workers_as_real_tasks_of_the_run(ip, warm_pool, capsys):
    cells = notebook(
        "print('split', self.input)\nself.sq = square(self.input)\nself.pid = os.getpid()"
    )
    events = []
    from jupyter_metaflow import session

    session.get_session().add_listener(events.append)
    for cell in cells:
        ok(ip, cell)
    out = capsys.readouterr().out
    blocks = [f"── body · split {i + 1} of 4 ──\nsplit {i + 1}\n" for i in range(4)]
    assert "".join(blocks) in out  # in split order, each under its header
    run = latest()
    assert run.successful
    tasks = sorted(run["body"], key=lambda t: t.index)
    assert [t.index for t in tasks] == [0, 1, 2, 3]
    assert {t.data.pid for t in tasks}.isdisjoint({os.getpid()})
    assert [t.data.sq for t in tasks] == [1, 4, 9, 16]
    assert run["join"].task.data.values == [1, 4, 9, 16]
    assert "split 3" in tasks[2].stdout
    body = [(e.status, e.split_index) for e in events if e.step == "body"]
    assert [s for s, _ in body].count("running") == 4 and [s for s, _ in body].count("done") == 4
    assert sorted(i for s, i in body if s == "done") == [0, 1, 2, 3]
    # what the kernel would have stored: the same artifact names as an in-kernel split
    names = {a.id for a in tasks[0]}
    set_notebook(*cells[:1], "%%flow SweepFlow --max-workers 1", *cells[2:], path="sweep.ipynb")
    ok(ip, "%%flow SweepFlow --max-workers 1")
    ok(ip, cells[3])
    in_kernel = sorted(latest()["body"], key=lambda t: t.index)
    assert {a.id for a in in_kernel[0]} == names
    # and the same metadata (Metaflow caches git info per process: this one's is pytest's)
    kernel_meta, worker_meta = in_kernel[0].metadata_dict, tasks[0].metadata_dict
    assert set(kernel_meta) - {"git-info"} == set(worker_meta) - {"git-info"}
    assert kernel_meta["script-name"] == worker_meta["script-name"] == "sweep.py"
    assert {t.data.pid for t in in_kernel} == {os.getpid()}


def test_the_jupyterlab_setting_limits_workers_and_the_flow_line_overrides_it(
    ip, warm_pool, capsys
):
    from jupyter_metaflow import protocol, sync

    def send(sources: list[str], max_workers: int | None) -> None:
        """What the frontend sends: the cells and its setting Maximum workers."""
        cells = [
            {"index": i, "id": f"cell{i}", "cell_type": "code", "source": s, "tags": []}
            for i, s in enumerate(sources)
        ]
        message = {"path": "sweep.ipynb", "cells": cells, "max_workers": max_workers}
        sync.get_sync().on_flow(protocol.envelope("flow", message)["payload"])

    cells = notebook("self.sq = square(self.input)\nself.pid = os.getpid()")
    send(cells, 1)  # one worker: every split in the kernel
    for cell in cells:
        ok(ip, cell)
    assert {t.data.pid for t in latest()["body"]} == {os.getpid()}
    assert "worker processes" not in capsys.readouterr().out
    send(cells, 3)
    ok(ip, cells[3])
    out = capsys.readouterr().out
    note = "[4 splits of 'body' in 3 worker processes; at most 3: the JupyterLab setting Maximum"
    assert note in out
    assert os.getpid() not in {t.data.pid for t in latest()["body"]}
    assert len(warm_pool.live()) == 3
    # the %%flow line's --max-workers wins over the setting
    long_tasks_history("SweepFlow", "body")
    cells = notebook("self.sq = self.input", flow="%%flow SweepFlow --max-workers 2")
    send(cells, 3)
    ok(ip, cells[1])
    ok(ip, cells[2])
    ok(ip, cells[3])
    out = capsys.readouterr().out
    assert "in 2 worker processes; at most 2: the %%flow line's --max-workers]" in out
    with pytest.raises(protocol.ProtocolError, match="malformed 'flow' payload"):
        protocol.envelope("flow", {"path": "x.ipynb", "cells": [], "max_workers": 0})


def test_failing_split_fails_the_step_with_its_cells_traceback(ip, warm_pool):
    cells = notebook(
        "self.sq = square(self.input)\nif self.input == 3:\n    raise ValueError('bad split')"
    )
    for cell in cells[:3]:
        ok(ip, cell)
    result = ip.run_cell(cells[3])
    error = result.error_in_exec
    assert isinstance(error, StepFailed)
    assert "Step 'body' in cell 4 (%%step body) failed in run SweepFlow/" in str(error)
    assert "%mf_split body 2 (its index [2]; the output's labels count from 1)" in str(error)
    assert "Cell 4 (%%step body), line 4" in error.user_traceback
    assert "ValueError: bad split" in error.user_traceback
    # no split starts after the failure; those that ran (at least split 1) stay readable
    finished = sorted(t.data.sq for t in latest()["body"] if t.successful)
    assert finished and set(finished) <= {1, 4, 16} and 1 in finished


def test_splits_sent_ahead_do_not_begin_after_a_failure(ip, warm_pool):
    """Each worker is sent its next split while it runs one; after a split fails, those not
    begun are skipped and leave no task in the run."""
    events = []
    from jupyter_metaflow import session

    session.get_session().add_listener(events.append)
    cells = notebook(
        "if self.input == 1:\n    raise ValueError('the first split fails')\n"
        "threading.Event().wait(1.0)\nself.sq = square(self.input)",
        items="list(range(1, 9))",
    )
    for cell in cells[:3]:
        ok(ip, cell)
    error = ip.run_cell(cells[3]).error_in_exec
    assert isinstance(error, StepFailed) and "the first split fails" in error.user_traceback
    body = [(e.status, e.split_index, e.task_id) for e in events if e.step == "body"]
    ran = {i for s, i, _ in body if s == "running"}
    skipped = {i for s, i, _ in body if s == "skipped"}
    assert 0 in ran and len(ran) <= 2 and ran | skipped == set(range(8)) and not ran & skipped
    # the run holds the tasks that began, nothing for those sent ahead and skipped
    tasks = {t.index: t for t in latest()["body"]}
    assert set(tasks) == ran
    assert not tasks[0].successful and all(tasks[i].successful for i in ran - {0})


def test_a_worker_grown_past_the_memory_limit_is_replaced_and_its_memory_returned(ip, warm_pool):
    """A split leaves its worker holding more than the recycling limit: the worker reports the
    split and exits (its memory goes back to the machine); the split sent to it next runs in
    another worker, and the step completes."""
    grow = workers.RECYCLE_RSS_BYTES + (64 << 20)
    cells = notebook(
        f"if self.input == 1:\n    import builtins\n    builtins.kept = bytearray({grow})\n"
        "threading.Event().wait(0.3)\nself.pid = os.getpid()\nself.sq = square(self.input)",
        items="list(range(1, 7))",
    )
    for cell in cells:
        ok(ip, cell)
    tasks = sorted(latest()["body"], key=lambda t: t.index)
    assert [t.data.sq for t in tasks] == [1, 4, 9, 16, 25, 36]
    grown = tasks[0].data.pid
    assert grown != os.getpid()
    assert grown not in [w.pid for w in warm_pool.live()]
    with pytest.raises(ProcessLookupError):  # exited and reaped: its memory is the machine's
        os.kill(grown, 0)
    assert grown not in [t.data.pid for t in tasks[1:]]  # what it was sent next ran elsewhere
    ok(ip, cells[3])  # the pool starts another worker when needed


def test_unpicklable_artifact_in_a_worker(ip, warm_pool):
    cells = notebook("self.sq = square(self.input)\nself.lock = threading.Lock()")
    for cell in cells[:3]:
        ok(ip, cell)
    error = ip.run_cell(cells[3]).error_in_exec
    assert isinstance(error, StepFailed)
    assert "artifact self.lock cannot be pickled" in str(error)
    ok(ip, "1 + 1")


def test_split_killed_by_the_os(ip, warm_pool):
    for cell in notebook("self.sq = self.input"):  # an earlier run, complete
        ok(ip, cell)
    earlier = latest()
    long_tasks_history("SweepFlow", "body")
    cells = notebook(
        "if self.input == 2:\n    os.kill(os.getpid(), signal.SIGKILL)\nself.sq = self.input"
    )
    for cell in cells[:3]:
        ok(ip, cell)
    error = ip.run_cell(cells[3]).error_in_exec
    assert isinstance(error, StepFailed)
    assert "split 2 of 4" in str(error) and "was killed by SIGKILL" in str(error)
    ok(ip, "1 + 1")  # the kernel is alive
    assert earlier.successful and earlier["join"].task.data.values == [1, 2, 3, 4]  # untouched
    cells = notebook("self.sq = self.input")
    ok(ip, cells[3])  # a new worker replaces the killed one
    ok(ip, cells[4])
    assert latest()["join"].task.data.values == [1, 2, 3, 4]


def test_megabytes_of_output_are_capped_in_the_cell_not_in_the_log(ip, warm_pool, capsys):
    cells = notebook("self.sq = self.input\nprint('x' * 3_000_000)")
    for cell in cells[:4]:
        ok(ip, cell)
    out, err = capsys.readouterr()
    assert len(out) < 4 * (workers.OUTPUT_LIMIT + 1000)
    assert "more characters of stdout than the cell shows" in err
    assert len(sorted(latest()["body"], key=lambda t: t.index)[0].stdout) >= 3_000_000


def test_a_step_reading_scratch_names_stays_in_the_kernel(ip, warm_pool, capsys):
    cells = notebook("self.sq = self.input * factor")
    ok(ip, "factor = 2")  # a scratch cell: the exported flow has no `factor`
    for cell in cells[:4]:
        ok(ip, cell)
    err = capsys.readouterr().err
    assert "the tasks of 'body' run in the kernel" in err and "factor" in err
    assert sorted(t.data.sq for t in latest()["body"]) == [2, 4, 6, 8]


def test_nested_foreach_and_switch_inside_splits(ip, capsys):
    cells = set_notebook(
        "import os",
        "%%flow NestSwitchFlow",
        "%%step start\nself.rows = [1, 2]\nself.next(self.row, foreach='rows')",
        "%%step row\nself.r = self.input\nself.cols = [1, 2, 3]\n"
        "self.next(self.cell, foreach='cols')",
        "%%step cell\nself.pid = os.getpid()\nself.v = self.r * self.input\n"
        "self.kind = 'even' if self.v % 2 == 0 else 'odd'\n"
        "self.next({'even': self.even, 'odd': self.odd}, condition='kind')",
        "%%step even\nself.tag = 'E'\nself.next(self.after)",
        "%%step odd\nself.tag = 'O'\nself.next(self.after)",
        "%%step after\nself.next(self.join_cols)",
        "%%step join_cols\nself.tags = [i.tag for i in inputs]\nself.r = inputs[0].r\n"
        "self.next(self.join_rows)",
        "%%step join_rows\nself.all = [(i.r, i.tags) for i in inputs]\nself.next(self.end)",
        "%%step end\npass",
        path="nest.ipynb",
    )
    pool = workers.get_pool()
    pool.ensure(2)
    while pool.ready_count() < 2 or pool.ping_seconds is None:
        pool.poll()
        time.sleep(0.05)
    long_tasks_history("NestSwitchFlow", "cell", "even", "odd", "after")
    try:
        for cell in cells:
            ok(ip, cell)
    finally:
        forget_history()
        pool.shutdown()
    out = capsys.readouterr().out
    assert "── cell · split 3 of 3 · task 6 of 6 ──" in out
    from metaflow import Flow

    run = Flow("NestSwitchFlow").latest_run
    assert run.successful
    assert run["join_rows"].task.data.all == [(1, ["O", "E", "O"]), (2, ["E", "E", "E"])]
    assert os.getpid() not in {t.data.pid for t in run["cell"]}


def test_a_parallel_step_reports_the_time_waited_not_its_splits_total(ip, warm_pool):
    """Four splits of 0.5 s on two workers: the DAG shows about 1 s (live and read back from
    the run after a restart), not the 2 s their durations add up to."""
    from jupyter_metaflow import browse, session
    from jupyter_metaflow.runstatus import run_statuses

    cells = notebook("import time\ntime.sleep(0.5)\nself.sq = square(self.input)")
    events = []
    session.get_session().add_listener(events.append)
    for cell in cells:
        ok(ip, cell)
    done = [e for e in events if e.step == "body" and e.status == "done"]
    assert len(done) == 4 and all(e.elapsed is not None for e in done)
    total = sum(e.duration for e in done)
    assert total >= 2.0
    waited = max(e.elapsed for e in done)
    assert waited < total
    assert [e.elapsed for e in done] == sorted(e.elapsed for e in done)
    read_back = run_statuses(latest())["body"]["duration_ms"] / 1000
    assert read_back < total
    assert browse.run_details({"run": latest().pathspec})["steps"]["body"]["duration_ms"] < (
        total * 1000
    )


# -- a head start: the next split in the worker started as the kernel times the first ----------
@pytest.fixture
def cold_pool():
    """No worker and nothing measured, as in a fresh kernel's first foreach."""
    pool = workers.get_pool()
    pool.shutdown()
    forget_history()
    pool.startup_seconds = pool.ping_seconds = pool.build_seconds = None
    yield pool
    forget_history()
    pool.shutdown()


WAIT_FOR_THE_WORKER = (
    # split 1 (in the kernel, timed) lasts until split 2 began in the worker started meanwhile
    "if self.input == 1:\n"
    "    deadline = time.time() + 120\n"
    "    while not os.path.exists('second-began') and time.time() < deadline:\n"
    "        time.sleep(0.02)\n"
    "    assert os.path.exists('second-began'), 'split 2 never began'\n"
    "if self.input == 2:\n"
    "    open('second-began', 'w').close()\n"
    "    time.sleep(0.3)\n"
)


def test_a_worker_started_during_the_first_split_runs_the_next_beside_it(ip, cold_pool, capsys):
    cells = notebook(
        WAIT_FOR_THE_WORKER + "print('split', self.input)\nself.sq = square(self.input)\n"
        "self.pid = os.getpid()"
    )
    cells[0] = "import time\n" + cells[0]
    set_notebook(*cells, path="sweep.ipynb")
    events = []
    from jupyter_metaflow import session

    session.get_session().add_listener(events.append)
    for cell in cells:
        ok(ip, cell)
    out = capsys.readouterr().out
    blocks = [f"── body · split {i + 1} of 4 ──\nsplit {i + 1}\n" for i in range(4)]
    cores = parallel.default_max_workers()
    note = (
        f"[3 splits of 'body' in {min(cores, 3)} worker processes; at most {cores}: the "
        "machine's cores]\n"
    )
    assert blocks[0] + note + "".join(blocks[1:]) in out  # in split order, once each
    run = latest()
    assert run.successful
    tasks = sorted(run["body"], key=lambda t: t.index)
    assert [t.index for t in tasks] == [0, 1, 2, 3]  # four tasks: none ran twice
    assert tasks[0].data.pid == os.getpid()
    assert tasks[1].data.pid != os.getpid()  # began while the kernel's split ran
    ids = [int(t.id) for t in tasks]
    assert ids == sorted(ids)  # task ids follow the splits, as Metaflow's runtime gives them
    assert run["join"].task.data.values == [1, 4, 9, 16]
    done = sorted(e.split_index for e in events if e.step == "body" and e.status == "done")
    assert done == [0, 1, 2, 3]


def test_short_splits_take_their_head_start_back(ip, cold_pool):
    """Splits far shorter than a worker's start: the kernel runs them all (the head start's
    worker never ran one), each once."""
    cells = notebook("self.sq = square(self.input)\nself.pid = os.getpid()")
    for cell in cells:
        ok(ip, cell)
    run = latest()
    assert run.successful
    tasks = list(run["body"])
    assert sorted(t.index for t in tasks) == [0, 1, 2, 3]
    assert {t.data.pid for t in tasks} == {os.getpid()}
    assert run["join"].task.data.values == [1, 4, 9, 16]


def test_the_kernels_failing_split_lets_the_head_start_finish(ip, cold_pool, capsys):
    cells = notebook(
        WAIT_FOR_THE_WORKER + "if self.input == 1:\n    raise ValueError('first split broke')\n"
        "self.sq = square(self.input)"
    )
    cells[0] = "import time\n" + cells[0]
    set_notebook(*cells, path="sweep.ipynb")
    for cell in cells[:3]:
        ok(ip, cell)
    capsys.readouterr()
    result = ip.run_cell(cells[3])
    assert isinstance(result.error_in_exec, StepFailed)
    assert "first split broke" in result.error_in_exec.user_traceback
    cores = parallel.default_max_workers()
    note = f"[1 split of 'body' in 1 worker process; at most {cores}: the machine's cores]\n"
    assert (
        "── body · split 1 of 4 ──\n" + note + "── body · split 2 of 4 ──\n"
        in capsys.readouterr().out
    )
    run = latest()
    tasks = {t.index: t for t in run["body"]}
    assert set(tasks) == {0, 1}  # the kernel's split and the head start; no other began
    assert not tasks[0].successful
    assert tasks[1].successful and tasks[1].data.sq == 4
    # the step runs again as a whole once fixed
    fixed = notebook("self.sq = square(self.input)")
    ok(ip, fixed[3])
    ok(ip, fixed[4])
    assert latest()["join"].task.data.values == [1, 4, 9, 16]


def test_editing_a_scratch_cell_does_not_rebuild_the_flow_in_workers(ip, warm_pool):
    """Workers run the module cells once per version of the cells they use: a scratch cell
    edited between two executions leaves their module state (here a list) as it was."""
    cells = [
        MODULE + "\n\nHITS = []",
        "%%flow SweepFlow",
        "%%step start\nself.items = [1, 2, 3, 4]\nself.next(self.body, foreach='items')",
        "%%step body\nHITS.append(self.input)\nself.hits = len(HITS)\nself.pid = os.getpid()"
        "\nself.next(self.join)",
        "%%step join\nself.next(self.end)",
        "%%step end\npass",
        "print('a scratch cell')",
    ]
    set_notebook(*cells, path="sweep.ipynb")
    for cell in cells[:6]:
        ok(ip, cell)
    first = {t.index: (t.data.pid, t.data.hits) for t in latest()["body"]}
    assert os.getpid() not in {pid for pid, _ in first.values()}
    set_notebook(*cells[:6], "print('the scratch cell, edited')", path="sweep.ipynb")
    ok(ip, "print('the scratch cell, edited')")
    ok(ip, cells[3])
    again = [(t.data.pid, t.data.hits) for t in latest()["body"]]
    before = {}
    for pid, hits in first.values():
        before[pid] = max(before.get(pid, 0), hits)
    assert all(pid in before for pid, _ in again)  # the same workers
    for pid, hits in again:  # each worker's list kept what the first execution appended
        assert hits > before[pid], (first, again)


@pytest.fixture
def ready_workers(warm_pool):
    """Two ready workers, measured, and no history for the body step: its next execution
    times its first split in the kernel."""
    parallel.measurements().task_seconds.clear()
    parallel.measurements().worker_task_seconds.clear()
    return warm_pool


def test_idle_workers_run_the_next_splits_beside_the_first_one_timed(ip, ready_workers):
    cells = notebook(
        WAIT_FOR_THE_WORKER + "self.sq = square(self.input)\nself.pid = os.getpid()",
        flow="%%flow SweepFlow --max-workers 2",
    )
    cells[0] = "import time\n" + cells[0]
    set_notebook(*cells, path="sweep.ipynb")
    for cell in cells:
        ok(ip, cell)
    run = latest()
    assert run.successful
    tasks = sorted(run["body"], key=lambda t: t.index)
    assert [t.index for t in tasks] == [0, 1, 2, 3]
    assert tasks[0].data.pid == os.getpid()
    assert tasks[1].data.pid in {w.pid for w in ready_workers.workers}
    assert run["join"].task.data.values == [1, 4, 9, 16]


def test_idle_workers_wait_a_workers_start_before_taking_a_split(ip, ready_workers):
    """Splits far shorter than a worker's start, on workers that built the flow already: the
    idle workers' head starts wait that long and the kernel takes them back first; every split
    runs once, in the kernel."""
    cells = notebook("self.sq = square(self.input)\nself.pid = os.getpid()")
    long_tasks_history("SweepFlow", "body")
    for cell in cells:
        ok(ip, cell)
    assert os.getpid() not in {t.data.pid for t in latest()["body"]}  # both workers built it
    measured = parallel.measurements()
    measured.task_seconds.clear()
    measured.worker_task_seconds.clear()
    measured.overhead.clear()  # a worker task's overhead as measured here under load
    measured.overhead.append(0.05)
    for cell in cells[2:]:
        ok(ip, cell)
    run = latest()
    assert run.successful
    tasks = list(run["body"])
    assert sorted(t.index for t in tasks) == [0, 1, 2, 3]
    assert {t.data.pid for t in tasks} == {os.getpid()}
