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
    # a worker's costs not measured yet
    assert parallel.workers_pay(8, 1.0, 2, 0, None, 0.0, 0.01) is None
    assert parallel.workers_pay(8, 1.0, 2, 2, 0.5, 0.0, None) is None
    # one worker (or one task) never pays
    assert parallel.workers_pay(8, 1.0, 1, 1, 0.5, 0.0, 0.01) is False
    assert parallel.workers_pay(1, 9.0, 4, 4, 0.5, 0.0, 0.01) is False


def test_max_workers_from_metaflows_variable(monkeypatch, capsys):
    monkeypatch.setenv("METAFLOW_RUN_MAX_WORKERS", "3")
    assert parallel.configured_max_workers() == 3
    monkeypatch.setenv("METAFLOW_RUN_MAX_WORKERS", "lots")
    assert parallel.configured_max_workers() == parallel.default_max_workers()
    assert "METAFLOW_RUN_MAX_WORKERS='lots' is not a positive integer" in capsys.readouterr().err
    monkeypatch.delenv("METAFLOW_RUN_MAX_WORKERS")
    assert parallel.configured_max_workers() == parallel.default_max_workers()


def test_ordered_output_streams_the_head_and_holds_the_rest(capsys):
    import sys

    out = parallel._OrderedOutput(sys.stdout, sys.stderr)
    jobs = [parallel.Job((i, 0), f"── s · split {i + 1} of 3 ──", {}) for i in range(3)]
    for job in jobs:
        out.add(job)
    out.write((1, 0), "stdout", "b1\n")
    out.write((0, 0), "stdout", "a1\n")
    assert capsys.readouterr().out == "── s · split 1 of 3 ──\na1\n"  # the head, live
    out.finish((2, 0))
    out.write((0, 0), "stdout", "a2\n")
    out.finish((0, 0))
    out.write((1, 0), "stdout", "b2\n")
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
