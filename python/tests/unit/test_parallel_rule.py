"""The parallel-foreach rule, its measured inputs and the ordered output (no kernel)."""

from __future__ import annotations

from jupyter_metaflow import parallel


def test_makespan_fills_the_first_free_worker():
    assert parallel.makespan([0.0, 0.0], 4, 1.0) == 2.0
    assert parallel.makespan([0.0, 3.0], 4, 1.0) == 4.0  # the late one never gets a task
    assert parallel.makespan([0.0, 1.0], 5, 1.0) == 3.0


def test_workers_pay_by_measured_costs():
    # 8 tasks of 1 s on 2 ready workers: ~4 s against 8 s
    assert parallel.workers_pay(8, 1.0, 2, 2, 0.5, 0.0, 0.01) is True
    # trivial tasks: the per-task overhead and the build eat the gain
    assert parallel.workers_pay(8, 0.01, 2, 2, 0.5, 0.1, 0.005) is False
    # starting the workers first costs more than it saves
    assert parallel.workers_pay(4, 0.5, 2, 0, 2.0, 0.0, 0.01) is False
    # the kernel dispatches one task at a time: its own work per task bounds the gain
    assert parallel.workers_pay(8, 0.02, 2, 2, 0.5, 0.0, 0.001) is True
    assert parallel.workers_pay(8, 0.02, 2, 2, 0.5, 0.0, 0.001, 0.018) is False
    # a worker's own task time when measured: 32 tasks of 8 ms take 12 ms each in a worker
    assert parallel.workers_pay(32, 0.008, 2, 2, 0.5, 0.0, 0.002, 0.001) is True
    assert parallel.workers_pay(32, 0.008, 2, 2, 0.5, 0.0, 0.002, 0.001, 0.012) is False
    # a worker's costs not measured yet
    assert parallel.workers_pay(8, 1.0, 2, 0, None, 0.0, 0.01) is None
    assert parallel.workers_pay(8, 1.0, 2, 2, 0.5, 0.0, None) is None
    # one worker (or one task) never pays
    assert parallel.workers_pay(8, 1.0, 1, 1, 0.5, 0.0, 0.01) is False
    assert parallel.workers_pay(1, 9.0, 4, 4, 0.5, 0.0, 0.01) is False


def test_max_workers_precedence(monkeypatch, capsys):
    cores = parallel.default_max_workers()
    monkeypatch.delenv("METAFLOW_RUN_MAX_WORKERS", raising=False)
    assert parallel.max_workers_limit(None, None) == (cores, "the machine's cores")
    monkeypatch.setenv("METAFLOW_RUN_MAX_WORKERS", "3")
    assert parallel.max_workers_limit(None, None) == (3, "METAFLOW_RUN_MAX_WORKERS")
    # the JupyterLab setting over the variable, the %%flow line over both
    assert parallel.max_workers_limit(None, 5) == (5, "the JupyterLab setting Maximum workers")
    assert parallel.max_workers_limit(1, 5) == (1, "the %%flow line's --max-workers")
    monkeypatch.setenv("METAFLOW_RUN_MAX_WORKERS", "lots")
    assert parallel.max_workers_limit(None, None) == (cores, "the machine's cores")
    assert "METAFLOW_RUN_MAX_WORKERS='lots' is not a positive integer" in capsys.readouterr().err


def test_ordered_output_streams_the_head_and_holds_the_rest(capsys):
    import sys

    out = parallel._OrderedOutput(sys.stdout, sys.stderr)
    jobs = [parallel.Job((i, 0), f"── s · split {i + 1} of 3 ──", {}) for i in range(3)]
    for job in jobs:
        out.add(job)
    out.write((1, 0), "out", "stdout", "b1\n")
    out.write((0, 0), "out", "stdout", "a1\n")
    assert capsys.readouterr().out == "── s · split 1 of 3 ──\na1\n"  # the head, live
    out.finish((2, 0))
    out.write((0, 0), "out", "stdout", "a2\n")
    out.finish((0, 0))
    out.write((1, 0), "out", "stdout", "b2\n")
    out.finish((1, 0))
    out.close()
    assert capsys.readouterr().out == (
        "a2\n── s · split 2 of 3 ──\nb1\nb2\n── s · split 3 of 3 ──\n"
    )


def test_mf_run_takes_max_workers_from_the_flow_line():
    from argparse import Namespace
    from types import SimpleNamespace

    from jupyter_metaflow.run_magics import RunMagics

    built = SimpleNamespace(max_workers=3)
    assert RunMagics._options(Namespace(tags=[], max_workers=None, max_num_splits=None), built) == {
        "max_workers": 3
    }
    assert RunMagics._options(Namespace(tags=[], max_workers=5, max_num_splits=None), built) == {
        "max_workers": 5
    }
    built.max_workers = None
    assert (
        RunMagics._options(Namespace(tags=[], max_workers=None, max_num_splits=None), built) == {}
    )


def test_a_choice_made_on_a_ping_is_checked_against_measured_overheads(monkeypatch):
    measured = parallel.Measurements()
    monkeypatch.setattr(parallel, "_measurements", measured)

    def planner(task_seconds: float) -> parallel.Planner:
        chosen = parallel.Planner(("F", "body"), 32, 2, None, ("key", {}), 0.0)
        chosen._provisional = True  # workers chosen on a ping's round trip
        chosen.worker_task(task_seconds)
        return chosen

    # trivial tasks: 40 ms of measured overhead each against 10 ms of work: back to the kernel
    measured.overhead.append(0.04)
    assert planner(0.01).keep_going(30) is False
    # one-second tasks: the same overhead is nothing
    assert planner(1.0).keep_going(30) is True
    # not provisional (overheads were measured when workers were chosen): never re-checked
    assert parallel.Planner(("F", "b"), 32, 2, None, ("k", {}), 0.0).keep_going(30) is True


def test_each_side_of_the_rule_uses_its_own_measured_task_times(monkeypatch):
    measured = parallel.Measurements()
    monkeypatch.setattr(parallel, "_measurements", measured)
    key = ("F", "body")

    def execution(kernel: list[float], workers: list[float]) -> parallel.Planner:
        planner = parallel.Planner(key, 32, 2, None, ("key", {}), 0.0)
        for seconds in kernel:
            planner.kernel_task(seconds)
        for seconds in workers:
            planner.worker_task(seconds)
        planner.done()
        return planner

    assert parallel.Planner(key, 32, 2, None, ("k", {}), 0.0)._task_seconds() == (None, None)
    # the first split timed in the kernel, the rest in workers, slower there
    execution([0.008], [0.012, 0.013, 0.014])
    assert (measured.task_seconds[key], measured.worker_task_seconds[key]) == (0.008, 0.012)
    assert parallel.Planner(key, 32, 2, None, ("k", {}), 0.0)._task_seconds() == (0.008, 0.012)
    # an execution all in the kernel keeps what workers measured
    execution([0.009, 0.007, 0.008], [])
    assert parallel.Planner(key, 32, 2, None, ("k", {}), 0.0)._task_seconds() == (0.008, 0.012)
    # one all in workers: its times stand for both (the step's code may have changed), the
    # work by their median, a worker's task by the fastest
    execution([], [0.5, 0.6, 0.4])
    assert parallel.Planner(key, 32, 2, None, ("k", {}), 0.0)._task_seconds() == (0.5, 0.4)
    # this execution's own times before the previous one's
    current = parallel.Planner(key, 32, 2, None, ("k", {}), 0.0)
    current.kernel_task(0.2)
    assert current._task_seconds() == (0.2, 0.4)


def test_one_execution_on_a_busy_machine_does_not_keep_a_step_in_the_kernel(monkeypatch):
    """0.1 s splits whose first worker tasks met a busy core (0.17 s): the next execution
    still sends them to workers (a worker's task counts at its fastest)."""
    measured = parallel.Measurements()
    monkeypatch.setattr(parallel, "_measurements", measured)
    key = ("F", "body")
    measured.overhead.append(0.012)
    first = parallel.Planner(key, 8, 2, None, ("key", {}), 0.0)
    first.kernel_task(0.101)
    for seconds in (0.175, 0.170, 0.101):
        first.worker_task(seconds)
    first.done()
    d, d_w = parallel.Planner(key, 8, 2, None, ("k", {}), 0.0)._task_seconds()
    assert (d, d_w) == (0.101, 0.101)
    assert parallel.workers_pay(8, d, 2, 2, 0.5, 0.0, 0.012, 0.002, d_w) is True
    # what the median said: the kernel, for good (its worker tasks never timed again)
    assert parallel.workers_pay(8, d, 2, 2, 0.5, 0.0, 0.012, 0.002, 0.170) is False


def test_tasks_taken_back_from_workers_stay_in_the_kernel_for_the_execution(monkeypatch):
    """keep_going and hand_off weigh slightly different figures (the tasks left, the ready
    workers): once the first took the tasks back, the second does not hand them over again
    in the same execution (the cell would print a second worker note, as if it restarted)."""
    from types import SimpleNamespace

    measured = parallel.Measurements()
    monkeypatch.setattr(parallel, "_measurements", measured)
    ready = [SimpleNamespace(ready=True, busy=False, build_key="key") for _ in range(2)]
    pool = SimpleNamespace(
        startup_seconds=0.5,
        build_seconds=0.01,
        ping_seconds=0.001,
        check_environment=lambda: None,
        poll=lambda: None,
        live=lambda: ready,
        build=lambda *args: None,
        ensure=lambda count: [],
    )
    monkeypatch.setattr(parallel, "get_pool", lambda: pool)

    def execution() -> parallel.Planner:
        chosen = parallel.Planner(("F", "body"), 8, 2, None, ("key", {}), 0.0)
        chosen.kernel_task(3.4)
        return chosen

    measured.overhead.append(0.01)
    assert execution().hand_off(7) is True  # 3.4 s tasks: two ready workers pay
    withdrawn = execution()
    withdrawn._provisional = True
    withdrawn.worker_task(9.0)  # a worker met a busy machine: 9 s for the same task
    assert withdrawn.keep_going(4) is False
    withdrawn.worker_task(3.5)  # the other worker's task, in flight then, ends: fast again
    assert withdrawn.hand_off(4) is False
